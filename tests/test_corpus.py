"""The synthetic taqsim corpus: splits, reproducibility, labels that match the audio."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from maqamgen import audio, config, corpus as C, maqam as mq
from maqamgen.config import CORE_MAQAMAT, CorpusConfig
from maqamgen.errors import ConfigError
from maqamgen.notes import read_notes_corrected

TINY = CorpusConfig(n_per_maqam=3, seconds_min=2.5, seconds_max=3.0, snr_db_min=25.0, snr_db_max=40.0,
                    seed=7)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return C.build(TINY, workers=2, progress=False, root=tmp_path_factory.mktemp("corpus"))


def test_layout_and_index_written_last(tiny):
    assert tiny.root.name == C.config_hash(TINY)
    assert len(tiny.clips) == 3 * len(CORE_MAQAMAT)
    for c in tiny.clips:
        assert c.audio_path.is_file() and c.notes_path.is_file()
    t = tiny.table()
    assert list(t.columns[:8]) == ["id", "split", "maqam", "tonic_hz", "seconds", "audio_path", "notes_path", "seed"]
    assert tiny.total_seconds == pytest.approx(t["seconds"].sum())
    assert 2.5 <= t["seconds"].min() and t["seconds"].max() <= 3.0 + 0.5  # + the release and body ring


def test_splits_are_disjoint_and_stratified(tiny):
    ids = {s: {c.id for c in tiny.split(s)} for s in C.SPLIT_NAMES}
    assert not (ids["train"] & ids["validation"]) and not (ids["train"] & ids["test"])
    assert not (ids["validation"] & ids["test"])
    assert set().union(*ids.values()) == {c.id for c in tiny.clips}
    for name in CORE_MAQAMAT:  # every maqam in every split
        assert sorted(c.split for c in tiny.clips if c.maqam == name) == ["test", "train", "validation"]
    with pytest.raises(ConfigError, match="unknown split"):
        tiny.split("dev")


def test_split_counts():
    assert C.split_counts(16, (0.7, 0.15, 0.15)) == [11, 3, 2]  # largest remainder
    assert C.split_counts(3, (0.7, 0.15, 0.15)) == [1, 1, 1]
    assert C.split_counts(2, (0.7, 0.15, 0.15)) == [2, 0, 0]
    assert sum(C.split_counts(120, (0.7, 0.15, 0.15))) == 120


def test_reproducible_and_independent_of_workers(tiny, tmp_path):
    again = C.build(TINY, workers=1, progress=False, root=tmp_path)
    assert (again.root / "index.json").read_bytes() == (tiny.root / "index.json").read_bytes()
    for a, b in zip(tiny.clips, again.clips):
        assert a.audio_path.read_bytes() == b.audio_path.read_bytes(), a.id
        assert a.notes_path.read_bytes() == b.notes_path.read_bytes(), a.id
    other = C.build(dataclasses.replace(TINY, seed=8, maqamat=("rast",), n_per_maqam=1), workers=1,
                    progress=False, root=tmp_path)
    assert other.root != again.root
    assert other.clips[0].audio_path.read_bytes() != again.clips[0].audio_path.read_bytes()


def _circular_distance(c, classes):
    d = np.abs(np.mod(c[:, None] - classes[None, :] + 600.0, 1200.0) - 600.0)
    return d.min(axis=1)


def test_labels_match_the_scale_of_the_labelled_maqam(tiny):
    max_dev = 4.5 * TINY.jitter_cents
    for clip in tiny.clips:
        notes, meta = tiny.notes(clip)
        assert meta["maqam"] == clip.maqam and meta["tonic_hz"] == clip.tonic_hz
        assert meta["split"] == clip.split and meta["seed"] == clip.seed
        c = mq.cents(np.array([n.freq_hz for n in notes]), clip.tonic_hz)
        assert np.all(_circular_distance(c, mq.pitch_classes_cents(clip.maqam)) <= max_dev), clip.id
        # each pitch is exactly its labelled degree plus its labelled jitter
        m = mq.get_maqam(clip.maqam)
        expect = [C.degree_cents(m, d, desc) + j for d, desc, j in
                  zip(meta["degree"], meta["descending"], meta["jitter"])]
        np.testing.assert_allclose(c, expect, atol=0.05)
        assert meta["degree"][-1] == 0 and notes[-1].offset == max(n.offset for n in notes)  # qafla on the tonic
        corrected, _ = read_notes_corrected(clip.notes_path)
        cc = mq.cents(np.array([n.freq_hz for n in corrected]), clip.tonic_hz)
        assert np.all(_circular_distance(cc, mq.pitch_classes_cents(clip.maqam, practice=False)) < 0.05)
        assert meta["freqs"] == sorted({n.freq_hz for n in corrected})


def test_tonic_near_the_usual_oud_tonics(tiny):
    for clip in tiny.clips:
        m = mq.get_maqam(clip.maqam)
        usual = [mq.note_hz(n) for n in (m.tonic_name, *m.alt_tonic_names)]
        semis = np.abs(12 * np.log2(clip.tonic_hz / np.array(usual)) - m.intonation_cents[0] / 100)
        assert semis.min() <= C.TRANSPOSE_SEMITONES + 0.01


def test_ornaments_in_the_labels_are_the_ones_rendered(tiny, tmp_path):
    kinds = set()
    for clip in tiny.clips[:6]:
        notes, meta = tiny.notes(clip)
        kinds |= {n.ornament["type"] for n in notes if n.ornament}
        raw = json.loads(clip.notes_path.read_text())
        assert raw.get("ornaments", [None] * len(notes)) == [n.ornament for n in notes]
        y = C.render_clip(notes, TINY.sr, clip.seed, meta["snr_db"])  # from the labels alone
        audio.save_audio(tmp_path / "re.wav", y, TINY.sr)
        assert (tmp_path / "re.wav").read_bytes() == clip.audio_path.read_bytes(), clip.id
        without = [dataclasses.replace(n, ornament=None) for n in notes]
        if any(n.ornament for n in notes):
            assert not np.array_equal(C.render_clip(without, TINY.sr, clip.seed, meta["snr_db"]), y)
    all_kinds = {n.ornament["type"] for c in tiny.clips for n in tiny.notes(c)[0] if n.ornament}
    assert all_kinds == {"vibrato", "trill", "tremolo", "slide"}


def test_noise_at_the_requested_snr():
    rng = np.random.default_rng(0)
    y = np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
    noisy = C.add_noise(y, 20.0, rng, 22050)
    snr = 10 * np.log10(np.mean(y ** 2) / np.mean((noisy - y) ** 2))
    assert snr == pytest.approx(20.0, abs=1e-6)


def test_incomplete_corpus_is_rebuilt(tmp_path):
    cfg = CorpusConfig(n_per_maqam=1, seconds_min=2.0, seconds_max=2.5, maqamat=("hijaz",))
    c = C.build(cfg, workers=1, progress=False, root=tmp_path)
    first = c.clips[0].audio_path.read_bytes()
    c.clips[0].audio_path.unlink()  # a half-written corpus ...
    assert not C._complete(c.root)
    c2 = C.build(cfg, workers=1, progress=False, root=tmp_path)  # ... is never taken as complete
    assert c2.clips[0].audio_path.read_bytes() == first
    (c.root / "index.json").unlink()
    assert not C._complete(c.root)
    y, sr = C.build(cfg, workers=1, progress=False, root=tmp_path).audio(c.clips[0])
    assert sr == cfg.sr and y.ndim == 1


@pytest.mark.parametrize("bad, match", [
    (dict(n_per_maqam=0), "n_per_maqam"),
    (dict(maqamat=("hijaz", "nope")), "unknown maqam 'nope'"),
    (dict(seconds_min=5.0, seconds_max=4.0), "seconds_min"),
    (dict(snr_db_max=None), "snr_db"),
    (dict(snr_db_min=50.0), "snr_db_min"),
    (dict(splits=(0.5, 0.5, 0.5)), "splits"),
])
def test_bad_config(bad, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        C.build(dataclasses.replace(TINY, **bad), root=tmp_path)


def test_profiles_have_corpora():
    book = config.profile("book").corpus
    minutes = book.n_per_maqam * len(book.maqamat) * (book.seconds_min + book.seconds_max) / 2 / 60
    assert minutes >= 30
    assert config.profile("smoke").corpus.n_per_maqam < book.n_per_maqam < config.profile("full").corpus.n_per_maqam
    assert len({config.profile(p).digest() for p in config.PROFILES}) == 3


def test_cli_corpus(tmp_path, monkeypatch, capsys):
    from maqamgen import cli

    tiny_profile = dataclasses.replace(config.PROFILES["smoke"], corpus=CorpusConfig(
        n_per_maqam=1, seconds_min=2.0, seconds_max=2.5, maqamat=("rast", "saba")))
    monkeypatch.setitem(config.PROFILES, "tiny", tiny_profile)
    monkeypatch.setattr(C, "cache_dir", lambda *parts: tmp_path.joinpath("cache", *parts))
    assert cli.main(["corpus", "--profile", "tiny", "-o", str(tmp_path / "out"), "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 clips" in out and "rast" in out and "saba" in out and "min" in out
    copied = C.Corpus(tmp_path / "out")
    assert [c.id for c in copied.clips] == ["rast-0000", "saba-0000"]
    assert copied.audio(copied.clips[1])[1] == 22050
    assert cli.main(["corpus", "--profile", "nope", "-o", str(tmp_path / "x")]) == 2
    loaded = C.load("tiny", workers=1, progress=False)  # the cached build, not a new one
    assert loaded.root == tmp_path / "cache" / "corpus" / C.config_hash(tiny_profile.corpus)
    assert [c.id for c in loaded.clips] == [c.id for c in copied.clips]
    with pytest.raises(ConfigError, match="unknown profile"):
        C.load("nope")
