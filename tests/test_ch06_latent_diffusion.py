"""Chapter 6 recipe: autoencoder and vocoder trained and cached through train.train, the round
trip, and the round-trip table, with tiny presets on the smoke corpus."""

import numpy as np
import pytest
import torch

from maqamgen import corpus, runtime
from maqamgen.config import FeatureConfig, TrainConfig
from maqamgen.errors import ConfigError
from maqamgen.recipes import ch06_latent_diffusion as ch06

FCFG = FeatureConfig(n_mels=32, frames=32, n_fft=2048, hop_length=512, f_min=50.0, f_max=1500.0)
TCFG = TrainConfig(steps=3, batch_size=8, lr=1e-3, progress=False, ckpt_every=100, log_every=1)


@pytest.fixture(scope="module")
def smoke():
    runtime.set_threads(1)
    return corpus.load("smoke", progress=False)


@pytest.fixture(scope="module")
def nets(smoke, tmp_path_factory):
    d = tmp_path_factory.mktemp("ch06")
    ae = ch06.train_autoencoder(smoke, FCFG, "tiny", TCFG, crop_frames=32, out_dir=d / "ae")
    voc = ch06.train_vocoder(smoke, FCFG, ae.normalizer, "tiny", TCFG, crop_frames=16, out_dir=d / "voc")
    return ae, voc, d


def test_autoencoder_trains_caches_and_scales(nets, smoke):
    ae, _, d = nets
    assert not ae.cached and ae.model.config.widths == (8, 16) and ae.n_train > 10
    assert len(ae.losses["loss"]) == TCFG.steps and np.all(np.isfinite(ae.losses["loss"]))
    assert float(ae.model.latent_scale) != 1.0  # fit_latent_scale ran
    again = ch06.train_autoencoder(smoke, FCFG, "tiny", TCFG, crop_frames=32, out_dir=d / "ae", resume=True)
    assert again.cached
    for k, v in ae.model.state_dict().items():  # the latent scale travels with the checkpoint
        assert torch.equal(v, again.model.state_dict()[k]), k


def test_autoencoder_is_deterministic(nets, smoke, tmp_path):
    ae = nets[0]
    other = ch06.train_autoencoder(smoke, FCFG, "tiny", TCFG, crop_frames=32, out_dir=tmp_path / "ae")
    for k, v in ae.model.state_dict().items():
        assert torch.equal(v, other.model.state_dict()[k]), k


def test_bad_crop_is_one_clear_error(smoke, tmp_path):
    with pytest.raises(ConfigError, match="multiple"):
        ch06.train_autoencoder(smoke, FCFG, "tiny", TCFG, crop_frames=33, out_dir=tmp_path / "x")


def test_vocoder_reads_the_autoencoder_features(nets):
    ae, voc, _ = nets
    c = voc.model.config
    assert (c.n_mels, c.hop_length, c.mel_n_fft) == (FCFG.n_mels, FCFG.hop_length, FCFG.n_fft)
    assert c.top_db == pytest.approx(ae.normalizer.top_db) and c.range_db == ae.normalizer.range_db
    assert not voc.cached and np.all(np.isfinite(voc.losses["loss"]))
    # its features of a signal are the recipe's log-mel (one grid, one normalisation)
    y = np.random.default_rng(0).standard_normal(8 * 512).astype(np.float32) * 0.1
    x_voc = voc.model.features(torch.from_numpy(y))[0].numpy()
    x_rec = ch06.log_mel(y, 22050, FCFG, ae.normalizer)
    assert x_voc.shape == x_rec.shape == (32, 8)
    assert np.allclose(x_voc, x_rec, atol=2e-3)


def test_round_trip_lengths_and_decoders(nets, smoke):
    ae, voc, _ = nets
    y = smoke.audio(smoke.split("test")[0])[0][: 20 * 512 + 100]
    g = ch06.round_trip(y, 22050, FCFG, ae.normalizer, None, "griffin_lim", gl_iter=4)
    assert g.shape == (19 * 512,) and np.isfinite(g).all()
    a = ch06.round_trip(y, 22050, FCFG, ae.normalizer, ae.model, "griffin_lim", gl_iter=4)
    assert a.shape == (19 * 512,)  # 20 frames, a multiple of the tiny preset's factor 2
    v = ch06.round_trip(y, 22050, FCFG, ae.normalizer, ae.model, voc.model)
    assert v.shape == (20 * 512,) and np.isfinite(v).all()
    with pytest.raises(ConfigError, match="unknown decoder"):
        ch06.round_trip(y, 22050, FCFG, ae.normalizer, None, "wavenet")


def test_heldout_fragments(smoke):
    fr = ch06.heldout_fragments(smoke, 10, seconds=2.0, hop_length=512, multiple=4)
    assert len(fr) == 10 and all(f.clip.split == "test" for f in fr)
    assert len({f.clip.id for f in fr}) == 8  # every test clip before any second fragment
    assert all(len(f.y) == 84 * 512 for f in fr)
    assert fr[8].start_s == pytest.approx(84 * 512 / 22050)
    with pytest.raises(ConfigError, match="no clip"):
        ch06.heldout_fragments(smoke, 2, seconds=60.0)


def test_round_trip_table(nets, smoke):
    ae, voc, _ = nets
    systems = {"GL": (None, "griffin_lim"), "AE + vocoder": (ae.model, voc.model)}
    t = ch06.round_trip_table(smoke, systems, FCFG, ae.normalizer, n=2, seconds=2.5, gl_iter=8,
                              n_boot=50, keep_audio=True)
    s = t.summary
    assert list(s.index) == ["original", "GL", "AE + vocoder"] and (s["n"] == 2).all()
    assert s.loc["original", "mrstft"] == 0.0 and s.loc["GL", "mrstft"] > 0
    # the original is close to the ground truth; an untrained vocoder is not
    assert s.loc["original", "within"] > 0.5
    assert s.loc["original", "within"] > s.loc["AE + vocoder", "within"] or \
        s.loc["AE + vocoder", "voiced_recall"] < s.loc["original", "voiced_recall"]
    for c in ("within", "acc_given_tonic", "acc_free", "mrstft"):
        assert (s[c + "_lo"] <= s[c] + 1e-12).all() and (s[c] <= s[c + "_hi"] + 1e-12).all()
    assert len(t.fragments) == 6 and len(t.audio["GL"]) == 2
    text = ch06.format_table(s)
    assert "original" in text and "AE + vocoder" in text


def test_cache_by_content(smoke):
    cfg = TCFG.replace(steps=2, seed=7)
    first = ch06.train_autoencoder(smoke, FCFG, "tiny", cfg, crop_frames=32)
    assert first.out_dir.parent == runtime.cache_dir("ch06", "ae")
    again = ch06.train_autoencoder(smoke, FCFG, "tiny", cfg.replace(progress=True), crop_frames=32)
    assert again.cached and again.out_dir == first.out_dir  # run-only fields are not in the key
    other = ch06.train_autoencoder(smoke, FCFG, "tiny", cfg, crop_frames=32, overrides={"kl_weight": 0.0})
    assert other.out_dir != first.out_dir


def test_heldout_fragments_spread_over_maqamat():
    class C:
        def __init__(self, i, m):
            self.id, self.maqam, self.seconds, self.split = f"{m}-{i}", m, 4.0, "test"

    class Corp:
        config = {"sr": 22050}
        clips = [C(i, m) for m in ("a", "b") for i in range(3)]

        def split(self, name):
            return self.clips

        def audio(self, clip):
            return np.zeros(4 * 22050, np.float32), 22050

        def notes(self, clip):
            return [], {}

    fr = ch06.heldout_fragments(Corp(), 4, seconds=1.0)
    assert [f.clip.id for f in fr] == ["a-0", "b-0", "a-1", "b-1"]


# ----------------------------------------------------------------------------- latent diffusion

from maqamgen.config import LatentChapterConfig, DDPMChapterConfig  # noqa: E402
from maqamgen.diffusion import run as runner  # noqa: E402
from maqamgen.diffusion import stitch  # noqa: E402

LCFG = LatentChapterConfig(features=FCFG, fragment_frames=32, fragment_stride=16, preset="tiny",
                           train=DDPMChapterConfig.training(steps=3, batch_size=4, warmup_steps=0),
                           sample_steps=2, n_boot=50, overlap_frames=4)


def test_condition_vector_holds_the_tonic_and_the_asked_scale():
    maqamat = ("rast", "hijaz")
    hz = [130.8, 146.8]
    for dim in ch06.TONIC_DIMS:  # the tonic alone, as models trained before the profile
        np.testing.assert_array_equal(ch06.condition_vector([0, 1], maqamat, hz, dim), ch06.tonic_vector(hz, dim))
    v = ch06.condition_vector([0, 1], maqamat, hz, ch06.SCALE_COND_DIM)
    assert v.shape == (2, ch06.SCALE_COND_DIM) and v.dtype == np.float32
    np.testing.assert_array_equal(v[:, :ch06.TONIC_DIM], ch06.tonic_vector(hz))
    np.testing.assert_allclose(v[1, ch06.TONIC_DIM:], ch06.mq.scale_profile("hijaz", 146.8))
    np.testing.assert_allclose(v[0, ch06.TONIC_DIM:], ch06.mq.scale_profile("rast", 130.8))
    one = ch06.condition_vector([1], maqamat, 146.8, ch06.SCALE_COND_DIM)  # a scalar tonic broadcasts
    np.testing.assert_array_equal(one[0], v[1])
    assert ch06.condition_vector([], maqamat, [], ch06.SCALE_COND_DIM).shape == (0, ch06.SCALE_COND_DIM)
    with pytest.raises(ConfigError, match="labels must lie in 0..1"):
        ch06.condition_vector([2], maqamat, 146.8, ch06.SCALE_COND_DIM)
    with pytest.raises(ConfigError, match="not 5"):
        ch06.condition_vector([0], maqamat, 146.8, 5)


def test_tonic_vector():
    v = ch06.tonic_vector([ch06.TONIC_REF_HZ, 2 * ch06.TONIC_REF_HZ, ch06.TONIC_REF_HZ / 2 ** (1 / 12)])
    assert v.shape == (3, ch06.TONIC_DIM) and v.dtype == np.float32
    np.testing.assert_allclose(v[:, 0], [0.0, 1.0, -1 / 12], atol=1e-6)
    np.testing.assert_array_equal(v[:, 1], 1.0)  # "given": the null condition (zeros) is none of them
    # Fourier features: an octave apart, the same features (k cycles per octave); a semitone
    # apart, the k = 12 pair has turned a full cycle and the k = 1 pair by 30 degrees
    np.testing.assert_allclose(v[0, 2:], v[1, 2:], atol=1e-5)
    k1 = ch06.TONIC_HARMONICS.index(1)
    ang = np.arctan2(v[2, 2 + 2 * k1], v[2, 3 + 2 * k1])
    assert ang == pytest.approx(-2 * np.pi / 12, abs=1e-5)
    k12 = ch06.TONIC_HARMONICS.index(12)
    np.testing.assert_allclose(v[2, 2 + 2 * k12:4 + 2 * k12], v[0, 2 + 2 * k12:4 + 2 * k12], atol=1e-5)
    old = ch06.tonic_vector([ch06.TONIC_REF_HZ * 2], dim=2)  # models trained before the features
    np.testing.assert_allclose(old, [[1.0, 1.0]])
    with pytest.raises(ConfigError, match="positive"):
        ch06.tonic_vector([0.0])
    with pytest.raises(ConfigError, match="entries"):
        ch06.tonic_vector([200.0], dim=5)


@pytest.fixture(scope="module")
def latent(nets, smoke, tmp_path_factory):
    ae = nets[0]
    lat, frags = ch06.encode_fragments(ae, smoke, "train", LCFG)
    spec = ch06.latent_spec(LCFG, seed=0)
    model = ch06.train_unet(spec, lat, out_dir=tmp_path_factory.mktemp("lat"), progress=False)
    return ae, lat, frags, spec, model


def test_the_latent_unet_is_told_the_asked_scale_when_the_config_says(latent):
    import dataclasses as dc

    _, lat, _, spec, model = latent
    assert LCFG.scale_profile and spec.cond_dim == ch06.SCALE_COND_DIM
    assert model.model.config.cond_dim == ch06.SCALE_COND_DIM
    assert ch06.latent_spec(dc.replace(LCFG, scale_profile=False)).cond_dim == ch06.TONIC_DIM
    with pytest.raises(ConfigError, match="condition vector of size"):  # the latents' own vector
        runner.train_denoiser(dc.replace(spec, train=spec.train.replace(steps=1)), lat, progress=False)


def test_encode_fragments(latent, smoke):
    ae, lat, frags, _, _ = latent
    f = ae.model.config.factors[1]
    assert lat.x.shape == (len(frags), ae.model.config.latent_channels, FCFG.n_mels, LCFG.fragment_frames // f)
    assert lat.vec.shape == (len(lat), ch06.TONIC_DIM) and torch.equal(lat.labels, frags.labels)
    tonic = {c.id: c.tonic_hz for c in smoke.split("train")}
    np.testing.assert_allclose(lat.tonic_hz, [tonic[c] for c in lat.clip_ids])
    x, lab, vec = lat.dataset()[0]
    assert x.shape == lat.x.shape[1:] and vec.shape == (ch06.TONIC_DIM,)
    # decode(encode(x)) has the fragment's shape and range
    back = ch06.decode(ae.model, lat.x[:2])
    assert back.shape == frags.x[:2].shape and float(back.abs().max()) <= 1.0


def test_encoded_latents_are_cached_by_the_checkpoint(latent, smoke, monkeypatch, tmp_path):
    """The second encoding of the same fragments by the same autoencoder reads the cache (equal
    numbers, no network call); a damaged entry is encoded again; another checkpoint is another
    entry."""
    import dataclasses as dc
    import shutil

    def cache_dir(*parts):
        d = tmp_path.joinpath("cache", *parts)
        d.mkdir(parents=True, exist_ok=True)
        return d

    monkeypatch.setattr(runtime, "cache_dir", cache_dir)
    ae, lat, frags, _, _ = latent
    z = ch06.encoded_patches(ae, frags, smoke.hash)
    assert torch.equal(z, lat.x)
    calls = []
    real_encode = ch06.encode
    monkeypatch.setattr(ch06, "encode", lambda m, x: calls.append(1) or real_encode(m, x))
    again, _ = ch06.encode_fragments(ae, smoke, "train", LCFG)
    assert torch.equal(again.x, lat.x) and calls == []
    entries = list(runtime.cache_dir("ch06", "latents").glob("*.npy"))
    assert len(entries) == 1
    for e in entries:
        e.write_bytes(b"not an array")
    assert torch.equal(ch06.encoded_patches(ae, frags, smoke.hash), lat.x) and calls == [1]
    other_dir = tmp_path / "other-ae"
    shutil.copytree(ae.out_dir, other_dir, dirs_exist_ok=True)
    with open(other_dir / "checkpoint.pt", "ab") as f:
        f.write(b"\0")  # other bytes: another checkpoint
    ch06.encoded_patches(dc.replace(ae, out_dir=other_dir), frags, smoke.hash)
    assert calls == [1, 1]


def test_latent_unet_trains_with_masks_and_reloads(latent):
    _, lat, _, spec, model = latent
    assert spec.inpainting and spec.cond_dim == ch06.SCALE_COND_DIM and model.shape == tuple(lat.x.shape[1:])
    assert model.model.config.inpainting and np.all(np.isfinite(model.losses["loss"]))
    again = runner.load_denoiser(model.out_dir)
    assert again.shape == model.shape and again.spec.to_dict() == spec.to_dict()
    for k, v in model.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k


def test_sample_fragments_is_seeded(latent):
    ae, lat, frags, _, model = latent
    mel, z, s = ch06.sample_fragments(model, ae.model, [0, 1], [200.0, 220.0], steps=2, seed=3)
    mel2, z2, _ = ch06.sample_fragments(model, ae.model, [0, 1], [200.0, 220.0], steps=2, seed=3)
    assert mel.shape == (2, *frags.x.shape[1:]) and torch.equal(z, z2) and s > 0
    assert float(mel.abs().max()) <= 1.0


@pytest.mark.parametrize("method", ["concat", "crossfade", "repaint", "continue", "multidiffusion"])
def test_generate_piece_every_method(latent, method):
    ae, lat, frags, _, model = latent
    p = ch06.generate_piece(model, ae.model, method, 3.0, 1, 200.0, overlap=LCFG.overlap_frames, steps=2, seed=0)
    need = int(np.ceil(3.0 * model.sr / FCFG.hop_length))
    assert p.mel.shape[0] == FCFG.n_mels and need <= p.mel.shape[1] < need + ae.model.config.factors[1]
    assert p.overlap.shape == (p.mel.shape[1],) and p.audio_s >= 3.0 and p.gen_s > 0
    assert all(0 < s < p.mel.shape[1] for s in p.seams) and len(p.seams) >= 1
    assert (method == "concat") == (not p.overlap.any())
    q = ch06.generate_piece(model, ae.model, method, 3.0, 1, 200.0, overlap=LCFG.overlap_frames, steps=2, seed=0)
    np.testing.assert_array_equal(p.mel, q.mel)


def test_generate_piece_with_a_longer_window(latent):
    ae, lat, frags, _, model = latent
    W = model.shape[-1]
    assert ch06.window_model(model, 2 * W).shape[-1] == 2 * W
    assert ch06.window_model(model).shape == tuple(model.shape)
    with pytest.raises(ConfigError):
        ch06.window_model(model, 0)
    short = ch06.generate_piece(model, ae.model, "multidiffusion", 3.0, 1, 200.0, overlap=2, steps=2, seed=0)
    long_ = ch06.generate_piece(model, ae.model, "multidiffusion", 3.0, 1, 200.0, overlap=4, steps=2, seed=0,
                                window=2 * W)
    assert long_.mel.shape == short.mel.shape and len(long_.seams) < len(short.seams) + 1


def test_judge_piece_and_summary(latent, nets, smoke):
    ae, lat, frags, _, model = latent
    from maqamgen import features

    bank = frags.frames_bank(seed=0)
    rows = []
    for method in ("concat", "crossfade"):
        for k in range(ch06.MIN_PIECES):
            p = ch06.generate_piece(model, ae.model, method, 3.0, k % 2, 200.0, overlap=4, steps=2, seed=k)
            y = features.to_audio(torch.from_numpy(p.mel)[None], ae.normalizer, FCFG, model.sr, n_iter=2)
            r = ch06.judge_piece(p, y, model.sr, ae.normalizer, bank, window_s=1.0)
            assert r["n_windows"] == len(r["given_ok"]) >= 2
            assert np.isfinite(r["seam_jump_ratio"]) and r["rtf"] > 0
            assert np.isnan(r["hf_ratio"]) == (method == "concat")
            rows.append(r)
    s = ch06.stitching_summary(rows, n_boot=50)
    assert list(s.index) == ["concat", "crossfade"] and (s["n_pieces"] == ch06.MIN_PIECES).all()
    for key in ("seam_jump_ratio", "window_acc"):
        assert ((s[f"{key}_lo"] <= s[key] + 1e-9) & (s[key] <= s[f"{key}_hi"] + 1e-9)).all()
    # fewer pieces than MIN_PIECES: a mean but no interval over pieces (windows still pooled)
    few = ch06.stitching_summary([r for r in rows if r["seed"] < ch06.MIN_PIECES - 1], n_boot=50)
    assert np.isfinite(few["seam_jump_ratio"]).all() and few["seam_jump_ratio_lo"].isna().all()
    assert np.isfinite(few["window_acc_lo"]).all()


def test_window_maqam_reads_real_audio(smoke):
    clip = smoke.split("test")[0]
    y, sr = smoke.audio(clip)
    w = ch06.window_maqam(y, sr, clip.maqam, clip.tonic_hz, window_s=2.0)
    assert len(w["given_ok"]) == int(len(y) / sr // 2.0) or len(w["given_ok"]) == int(len(y) / sr // 2.0) - 1
    assert sum(w["given_ok"]) >= 1  # real audio with the tonic given: mostly right
    assert len(w["given"]) == len(w["given_ok"])
    assert [g == clip.maqam for g in w["given"]] == w["given_ok"]  # the reading behind each verdict


def test_ceiling_rows_wilson_and_nan_without_windows():
    rows = ch06.ceiling_rows({"original": {"given_ok": [True, True, True, False]},
                              "round_trip": {"given_ok": []}})
    o = rows["original"]
    assert o["windows"] == 4 and o["acc"] == pytest.approx(0.75)
    assert 0.25 < o["acc_lo"] < 0.75 < o["acc_hi"] < 1.0
    r = rows["round_trip"]
    assert r["windows"] == 0 and all(np.isnan(r[k]) for k in ("acc", "acc_lo", "acc_hi"))


def test_training_tonics_and_pair_counts():
    from types import SimpleNamespace

    lat = SimpleNamespace(maqamat=("rast", "hijaz"), labels=torch.tensor([0, 0, 0, 1, 1, 1, 1]),
                          tonic_hz=np.array([130.81, 130.81, 146.83, 146.83, 146.83, 110.0, 110.0]))
    # rast: 130.81 twice; hijaz: a tie of two each goes to the lower tonic
    assert ch06.training_tonics(lat) == {"rast": 130.81, "hijaz": 110.0}
    counts = ch06.pair_counts(lat, {"rast": 146.8, "hijaz": 123.47})
    assert counts == {"rast": 1, "hijaz": 0}  # 146.8 is within 5 cents of 146.83
    with pytest.raises(ConfigError, match="unknown maqam"):
        ch06.pair_counts(lat, {"saba": 140.0})
