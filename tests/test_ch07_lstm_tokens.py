"""Chapter 7 helpers and the `maqamgen train lstm` / `generate lstm` commands."""

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from maqamgen import cli, config, data, notes as notes_io, synth
from maqamgen.recipes import ch07_lstm_tokens as lg
from maqamgen.errors import ConfigError
from maqamgen.notes import Note


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def scale_notes(cents, dur=0.5, tonic=lg.REF_TONIC_HZ):
    return [Note(i * dur, (i + 1) * dur, tonic * 2 ** (c / 1200), 0.0) for i, c in enumerate(cents)]


# ----------------------------------------------------------------------------- metrics


def test_pitch_class_distribution_and_intervals():
    notes = scale_notes([0, 200, 350, 1200, 0])
    p = lg.pitch_class_distribution(notes, lg.REF_TONIC_HZ)
    assert p.shape == (24,) and math.isclose(p.sum(), 1.0)
    assert math.isclose(p[0], 3 / 5) and math.isclose(p[4], 1 / 5) and math.isclose(p[7], 1 / 5)
    h = lg.interval_histogram(notes)
    assert h.shape == (49,) and math.isclose(h.sum(), 1.0)
    centre = 24  # 0 cents
    assert math.isclose(h[centre + 4], 0.25) and math.isclose(h[centre + 3], 0.25)
    assert math.isclose(h[centre + 17], 0.25) and math.isclose(h[0], 0.25)  # -1200 cents: the end bin
    assert lg.interval_histogram(notes[:1]).sum() == 0


def test_js_divergence_bounds():
    p = np.array([0.5, 0.5, 0, 0])
    assert lg.js_divergence(p, p) == 0.0
    assert math.isclose(lg.js_divergence(p, [0, 0, 1, 1]), 1.0)
    assert 0 < lg.js_divergence(p, [0.25, 0.25, 0.25, 0.25]) < 1
    assert math.isnan(lg.js_divergence(p, [0, 0, 0, 0]))


def test_out_of_scale_rate_and_drift_windows():
    hijaz = [0, 100, 400, 500, 700, 800, 1000, 1200]
    assert lg.out_of_scale_rate(scale_notes(hijaz), "hijaz", lg.REF_TONIC_HZ) == 0.0
    assert lg.out_of_scale_rate(scale_notes([150, 250]), "hijaz", lg.REF_TONIC_HZ) == 1.0
    mixed = scale_notes([0, 150], dur=1.0) + [Note(2.0, 4.0, lg.REF_TONIC_HZ, 0.0)]
    assert math.isclose(lg.out_of_scale_rate(mixed, "hijaz", lg.REF_TONIC_HZ), 1 / 4)
    assert math.isclose(lg.out_of_scale_rate(mixed, "hijaz", lg.REF_TONIC_HZ, weight="count"), 1 / 3)
    # drift: in scale for 4 s, then off the scale
    long = scale_notes([0, 100, 400, 500, 150, 250, 150, 250], dur=1.0)
    t, v = lg.windowed(long, 4.0, lambda ns: lg.out_of_scale_rate(ns, "hijaz", lg.REF_TONIC_HZ), 12.0)
    assert list(t) == [0.0, 4.0, 8.0] and v[0] == 0.0 and v[1] == 1.0 and math.isnan(v[2])


def test_generation_metrics_of_the_data_itself():
    notes = scale_notes([0, 100, 400, 500, 700, 500, 400, 100, 0])
    ref = {"hijaz": lg.pitch_class_distribution(notes, lg.REF_TONIC_HZ)}
    iv = lg.interval_histogram(notes)
    g = lg.generation_metrics([notes], ["hijaz"], ref, iv)
    assert g["out_of_scale"] == 0 and g["pcd_js"] == 0 and g["interval_js"] == 0
    assert math.isclose(g["notes_per_s"], 2.0)


# ----------------------------------------------------------------------------- tokens and likelihood


def test_token_spec_round_trip_seconds_prompt_and_transpose():
    notes = scale_notes([0, 200, 350, 500], dur=0.5)
    for fmt in ("1d", "2d"):
        spec = lg.TokenSpec(fmt=fmt)
        t = spec.encode(notes)
        assert int(np.asarray(t).reshape(len(t), -1)[0, -1]) == 1  # BOS first
        back = spec.decode(t)
        assert [round(n.freq_hz, 1) for n in back] == [round(n.freq_hz, 1) for n in notes]
        assert math.isclose(spec.seconds(t[1:]), 2.0, abs_tol=0.07)
        p = lg.prompt_of(t, spec, 1.0)
        assert math.isclose(spec.seconds(p[1:]), 1.0, abs_tol=0.07)
    moved = lg.transpose(notes, lg.REF_TONIC_HZ, 2 * lg.REF_TONIC_HZ)
    assert math.isclose(moved[2].freq_hz, 2 * notes[2].freq_hz)
    folded = lg.TokenSpec().fold([Note(0, 1, 3000.0, 0.0), Note(1, 2, 20.0, 0.0)])
    assert 1100 / 2 < folded[0].freq_hz <= 1100 and 55 <= folded[1].freq_hz < 110


def test_ngram_baselines_and_per_second_units():
    spec = lg.TokenSpec(fmt="1d", rate_hz=8.0)
    piece = spec.encode(scale_notes([0, 700] * 20, dur=0.125))  # strict alternation: a bigram knows it all
    uni = lg.ngram_nll([piece], [piece], spec, 1, alpha=1e-6)
    bi = lg.ngram_nll([piece], [piece], spec, 2, alpha=1e-6)
    assert math.isclose(uni["nats_per_token"], math.log(2), rel_tol=1e-3)
    assert bi["nats_per_token"] < 0.01
    assert math.isclose(uni["nats_per_second"], 8.0 * uni["nats_per_token"], rel_tol=1e-6)


def test_train_lm_learns_caches_and_evaluates(tmp_path, monkeypatch):
    monkeypatch.setattr(lg, "cache_dir", lambda *parts: tmp_path.joinpath(*parts))
    spec = lg.TokenSpec(fmt="1d", rate_hz=8.0)
    pieces = [spec.encode(scale_notes([0, 700, 400] * 12, dur=0.125))] * 4
    mcfg = lg.model_config(spec, 16, 32, 1, 0.0)
    tcfg = config.TrainConfig(steps=60, batch_size=4, lr=1e-2, optimizer="adam", ema_decay=None,
                              progress=False, device="cpu")
    run = lg.train_lm(pieces, spec, mcfg, tcfg, window=16, val_pieces=pieces[:1], val_every=20)
    assert not run.cached and [s for s, _ in run.val] == [20, 40, 60]
    e = lg.evaluate(run.model, pieces[:1], spec)
    assert e["nats_per_token"] < 0.3 and e["accuracy"] > 0.9
    assert math.isclose(e["nats_per_second"], 8.0 * e["nats_per_token"], rel_tol=1e-6)
    again = lg.train_lm(pieces, spec, mcfg, tcfg, window=16, val_pieces=pieces[:1], val_every=20)
    assert again.cached and again.folder == run.folder
    assert lg.evaluate(again.model, pieces[:1], spec)["nats_per_token"] == pytest.approx(e["nats_per_token"])
    cont = lg.continuation(run.model, spec, lg.prompt_of(pieces[0], spec, 1.0), 2.0, seed=0)
    assert cont.shape == (16,)
    ind = lg.train_lm(pieces, spec, mcfg, tcfg.replace(steps=5), window=16, independent=True)
    assert ind.tokens_per_step == 64  # 4 windows x 16 tokens -> 64 one-token examples


def test_losses_and_two_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(lg, "cache_dir", lambda *parts: tmp_path.joinpath(*parts))
    notes = scale_notes([0, 700, 400, 500] * 6, dur=0.25)
    tcfg = config.TrainConfig(steps=4, batch_size=2, progress=False, device="cpu", ema_decay=None)
    spec2 = lg.TokenSpec(fmt="2d")
    with pytest.raises(ConfigError):
        lg.train_lm([spec2.encode(notes)], spec2, lg.model_config(spec2, 8, 8, 1, 0.0), tcfg, loss="mse")
    with pytest.raises(ConfigError):
        lg.make_loss("hinge")
    r2 = lg.train_lm([spec2.encode(notes)] * 2, spec2, lg.model_config(spec2, 8, 8, 1, 0.0), tcfg,
                     loss="label_smoothing")
    cont = lg.continuation(r2.model, spec2, spec2.bos(), 3.0, seed=1)
    assert cont.shape[1] == 2 and spec2.seconds(cont) >= 3.0 - 1e-9
    spec1 = lg.TokenSpec(fmt="1d")
    r1 = lg.train_lm([spec1.encode(notes)] * 2, spec1, lg.model_config(spec1, 8, 8, 1, 0.0), tcfg, loss="mse")
    out = lg.continuation(r1.model, spec1, spec1.bos(), 1.0, loss="mse")
    assert out.shape == (8,) and (out >= 3).all()  # greedy regression: REST or pitches only


# ----------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def perf_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("perf")
    notes, meta = synth.performance(40, 200, seed=2)
    return notes_io.write_notes(d / "taqsim.json", notes, meta)


def test_cli_train_generate_resume_end_to_end(tmp_path, perf_file, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "lstm", "--notes", str(perf_file), "--profile", "smoke", "-o", str(run_dir),
            "--steps", "4", "--seconds", "3"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "validation" in out and "nats/token" in out
    for name in ("checkpoint.pt", "losses.csv", "run.json", "continuation.json", "continuation.mid",
                 "continuation.wav"):
        assert (run_dir / name).is_file(), name
    cont, _ = notes_io.read_notes(run_dir / "continuation.json")
    assert cont and max(n.offset for n in cont) <= 3.0 + 1e-6
    assert data.read_midi(run_dir / "continuation.mid")
    assert sf.info(run_dir / "continuation.wav").samplerate == 22050
    # resume to more steps
    assert cli.main(args[:-4] + ["--steps", "6", "--seconds", "2", "--resume"]) == 0
    assert json.loads((run_dir / "run.json").read_text())["steps"] == 6
    # generate in the three formats
    for ext in ("json", "mid", "wav"):
        dest = tmp_path / f"gen.{ext}"
        assert cli.main(["generate", "lstm", "--checkpoint", str(run_dir), "--seconds", "2", "-o", str(dest)]) == 0
        assert dest.is_file() and dest.stat().st_size > 0
    a, _ = notes_io.read_notes(tmp_path / "gen.json")
    assert cli.main(["generate", "lstm", "--checkpoint", str(run_dir), "--seconds", "2", "-o",
                     str(tmp_path / "gen2.json")]) == 0
    b, _ = notes_io.read_notes(tmp_path / "gen2.json")
    assert a == b  # same seed, same notes


def test_cli_train_2d(tmp_path, perf_file):
    assert cli.main(["train", "lstm", "--notes", str(perf_file), "--tokens", "2d", "--profile", "smoke",
                     "-o", str(tmp_path / "r2"), "--steps", "3", "--seconds", "2"]) == 0
    assert json.loads((tmp_path / "r2" / "run.json").read_text())["spec"]["fmt"] == "2d"


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ('{"notes": [[0, 1, "high", 0]]}', "notes[0]"),
])
def test_cli_bad_notes_exit_2_one_line(tmp_path, capsys, content, problem):
    src = tmp_path / "in.json"
    if content is not None:
        src.write_text(content)
    rc = cli.main(["train", "lstm", "--notes", str(src), "--profile", "smoke", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and str(src) in err[0] and problem in err[0]
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_cli_generate_bad_inputs(tmp_path, capsys):
    assert cli.main(["generate", "lstm", "--checkpoint", str(tmp_path), "--seconds", "2",
                     "-o", str(tmp_path / "x.mid")]) == 2
    assert "no run.json" in capsys.readouterr().err
    assert cli.main(["generate", "lstm", "--checkpoint", str(tmp_path), "--seconds", "2",
                     "-o", str(tmp_path / "x.txt")]) == 2
    assert "unknown output type" in capsys.readouterr().err
