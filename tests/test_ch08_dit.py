"""Chapter 8 recipe: the DiT spec and its condition keys, training through the runner on latents
with ornament and position labels, asked ornaments, ornament control and one model's judged row,
with tiny presets on the smoke corpus."""

import dataclasses

import numpy as np
import pytest
import torch

from maqamgen import corpus, runtime
from maqamgen.config import DDPMChapterConfig, DiTChapterConfig, FeatureConfig, LatentChapterConfig, TrainConfig
from maqamgen.diffusion import run as runner
from maqamgen.errors import ConfigError
from maqamgen.nets.embeddings import ORNAMENTS
from maqamgen.recipes import ch06_latent_diffusion as ch06
from maqamgen.recipes import ch08_dit as ch08

FCFG = FeatureConfig(n_mels=32, frames=32, n_fft=2048, hop_length=512, f_min=50.0, f_max=1500.0)
TCFG = TrainConfig(steps=3, batch_size=8, lr=1e-3, progress=False, ckpt_every=100, log_every=1)
LCFG = LatentChapterConfig(features=FCFG, fragment_frames=32, fragment_stride=16, preset="tiny",
                           train=DDPMChapterConfig.training(steps=3, batch_size=4, warmup_steps=0),
                           sample_steps=2, n_boot=50, overlap_frames=4, piece_seconds=3.0, gl_iter=2)
DCFG = DiTChapterConfig(preset="tiny", train=DDPMChapterConfig.training(steps=4, batch_size=4, warmup_steps=0),
                        ablation_steps=2, n_eval=2, n_control=2, n_pieces=1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    runtime.set_threads(1)
    smoke = corpus.load("smoke", progress=False)
    d = tmp_path_factory.mktemp("ch08")
    ae = ch06.train_autoencoder(smoke, FCFG, "tiny", TCFG, crop_frames=32, out_dir=d / "ae")
    lat, frags = ch06.encode_fragments(ae, smoke, "train", LCFG)
    spec = ch08.dit_spec(DCFG, LCFG, lat.x.shape[1:], seed=0)
    dit = ch08.train_dit(spec, lat, out_dir=d / "dit", progress=False)
    return smoke, ae, lat, frags, spec, dit


def test_latents_carry_ornaments_and_positions(setup):
    smoke, ae, lat, frags, _, _ = setup
    W = lat.x.shape[-1]
    assert lat.ornaments.shape == (len(lat), W) and lat.ornaments.dtype == torch.int64
    assert int(lat.ornaments.min()) >= 0 and int(lat.ornaments.max()) < len(ORNAMENTS)
    assert (lat.ornaments > 0).any()  # the smoke corpus has ornamented notes
    np.testing.assert_allclose(lat.start_s.numpy(), np.asarray(frags.starts) * FCFG.hop_length / frags.sr, rtol=1e-6)
    assert (lat.total_s >= lat.start_s).all()
    item = lat.with_keys(("ornaments", "start_s", "total_s")).dataset()[0]
    assert set(item["cond"]) == {"label", "vec", "ornaments", "start_s", "total_s"}
    assert isinstance(lat.dataset()[0], tuple)  # the U-Net's triples unchanged
    with pytest.raises(ConfigError, match="unknown condition"):
        lat.with_keys(("tempo",))


def test_scale_profile_is_a_condition_of_the_data(setup):
    """The reference DiT is told the asked scale (a longer condition vector, trained on it); the
    ablation without it has the tonic vector alone, and the override is not a network field."""
    smoke, ae, lat, frags, spec, dit = setup
    assert DCFG.scale_profile and spec.cond_dim == ch06.SCALE_COND_DIM
    assert "scale_profile" not in dict(spec.overrides)
    off = ch08.dit_spec(DCFG, LCFG, lat.x.shape[1:], changes=(("scale_profile", False),))
    assert off.cond_dim == ch06.TONIC_DIM and off.overrides == spec.overrides and off.to_dict() != spec.to_dict()
    wide = lat.with_cond_dim(ch06.SCALE_COND_DIM)
    assert wide.vec.shape == (len(lat), ch06.SCALE_COND_DIM) and lat.with_cond_dim(ch06.TONIC_DIM) is lat
    np.testing.assert_array_equal(wide.vec[:, :ch06.TONIC_DIM].numpy(), lat.vec.numpy())
    z = ch08.sample_latents(dit, [0, 1], [146.8, 130.8], None, steps=2, seed=0)
    assert z.shape == (2, *dit.shape) and torch.isfinite(z).all()


def test_spec_and_condition_keys():
    spec = ch08.dit_spec(DCFG, LCFG, (2, 32, 8))
    o = dict(spec.overrides)
    assert o["input_size"] == (32, 8) and o["ornaments"] and o["piece_pos"] and spec.inpainting
    assert ch08.condition_keys(spec) == ("ornaments", "start_s", "total_s")
    ab = ch08.dit_spec(DCFG, LCFG, (2, 32, 8), changes=(("ornaments", False), ("piece_pos", False)), steps=2)
    assert ch08.condition_keys(ab) == () and ab.steps == 2 and ab.train.warmup_steps < 2
    patch = ch08.dit_spec(DCFG, LCFG, (2, 32, 8), changes=(("tokenization", "patch"),))
    assert dict(patch.overrides)["patch_size"] == DCFG.patch_size
    assert spec.to_dict() != ab.to_dict()  # an ablation is another cache entry
    # the reference reads ornaments in its blocks too; without the ornament input, nothing to read
    assert o["ornament_adaln"] and not dict(ab.overrides)["ornament_adaln"]
    # the local convolution is the reference's; 2D patches have none (their neighbours are not frames)
    assert o["conv_kernel"] == DCFG.conv_kernel > 0 and dict(patch.overrides)["conv_kernel"] == 0
    assert dict(ch08.dit_spec(DCFG, LCFG, (2, 32, 8), changes=(("conv_kernel", 0),)).overrides)["conv_kernel"] == 0
    tokens_only = ch08.dit_spec(DCFG, LCFG, (2, 32, 8), changes=(("ornament_adaln", False),))
    assert dict(tokens_only.overrides)["ornaments"] and not dict(tokens_only.overrides)["ornament_adaln"]
    assert dict(ch08.dit_spec(dataclasses.replace(DCFG, ornament_adaln=False), LCFG, (2, 32, 8)).overrides)[
        "ornament_adaln"] is False
    ab.build(3, 2)  # a valid network


def test_train_dit_and_reload(setup):
    *_, spec, dit = setup
    assert type(dit.model).__name__ == "DiT" and dit.model.config.ornaments
    again = runner.load_denoiser(dit.out_dir)
    for k, v in dit.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k


def test_step_flops_count_the_training_step(setup):
    """Linear in the batch, the same for the same spec, the global random state untouched; the
    latent U-Net's spec is counted through the same call."""
    _, _, lat, _, spec, _ = setup
    keyed = ch08.training_set(spec, lat)
    state = torch.random.get_rng_state()
    f4 = runner.step_flops(spec, keyed)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert f4 > 0 and runner.step_flops(spec, keyed) == f4
    half = dataclasses.replace(spec, train=dataclasses.replace(spec.train, batch_size=2))
    assert runner.step_flops(half, keyed) == pytest.approx(f4 / 2, rel=1e-6)
    unet = ch06.latent_spec(LCFG, seed=0)
    assert runner.step_flops(unet, lat.with_cond_dim(unet.cond_dim)) > 0
    big = dataclasses.replace(spec, train=dataclasses.replace(spec.train, batch_size=len(lat) + 1))
    with pytest.raises(ConfigError, match="the set has"):
        runner.step_flops(big, keyed)


def test_asked_ornaments():
    a = ch08.asked_ornaments("vibrato", (0.25, 0.75), 8)
    assert a.tolist() == [0, 0] + [ORNAMENTS.index("vibrato")] * 4 + [0, 0]
    for bad in (("none", (0.2, 0.4)), ("glissando", (0.2, 0.4)), ("vibrato", (0.5, 0.5)), ("vibrato", (0.2, 1.2))):
        with pytest.raises(ConfigError):
            ch08.asked_ornaments(*bad, 8)


def test_ornament_control_is_seeded(setup):
    smoke, ae, lat, frags, spec, dit = setup
    kw = dict(kind="vibrato", span=(0.3, 0.7), normalizer=ae.normalizer, fcfg=FCFG, sr=dit.sr, steps=2,
              gl_iter=2, seed=0)
    r = ch08.ornament_control(dit, ae.model, [0, 1], [200.0, 220.0], **kw)
    r2 = ch08.ornament_control(dit, ae.model, [0, 1], [200.0, 220.0], **kw)
    assert r["n"] == 2 and 0.0 <= r["f1"] <= 1.0 and r["f1_each"] == r2["f1_each"]
    base = ch08.ornament_control(dit, ae.model, [0, 1], [200.0, 220.0], ask=False, **kw)
    assert base["asked"] is False and base["n"] == 2
    ab = dataclasses.replace(dit, spec=ch08.dit_spec(DCFG, LCFG, lat.x.shape[1:], changes=(("ornaments", False),)))
    with pytest.raises(ConfigError, match="without the ornament"):
        ch08.ornament_control(ab, ae.model, [0], [200.0], **kw)


def test_sample_latents_are_what_is_judged(setup):
    smoke, ae, lat, frags, spec, dit = setup
    maqamat = dit.maqamat
    tonic_of = {m: 200.0 + 10 * i for i, m in enumerate(maqamat)}
    labels, tonics = ch08.judged_labels(maqamat, tonic_of, len(maqamat) + 1)
    assert labels.tolist() == list(range(len(maqamat))) + [0]
    assert tonics == [tonic_of[maqamat[k]] for k in labels]
    z = ch08.sample_latents(dit, labels, tonics, steps=2, seed=3)
    assert z.shape == (len(labels), *dit.shape)
    assert torch.equal(z, ch08.sample_latents(dit, labels, tonics, steps=2, seed=3))
    assert not torch.equal(z, ch08.sample_latents(dit, labels, tonics, steps=2, seed=4))
    mel, secs = ch08.sample_with(dit, ae.model, labels, tonics, steps=2, seed=3)
    assert secs > 0 and torch.allclose(mel, ch06.decode(ae.model, z))


def test_time_blurred_removes_the_fastest_changes_only():
    z = torch.randn(2, 2, 3, 10, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ch08.time_blurred(z, (1.0,)), z)
    flat = torch.full((1, 1, 2, 6), 3.0)
    assert torch.allclose(ch08.time_blurred(flat), flat)  # a constant (edges too) is kept
    alt = torch.tensor([1.0, -1.0] * 4).view(1, 1, 1, 8)
    out = ch08.time_blurred(alt)
    assert out.shape == alt.shape and torch.allclose(out[..., 1:-1], torch.zeros(6))  # [1,2,1]/4 nulls Nyquist
    ramp = torch.arange(8.0).view(1, 1, 1, 8)
    assert torch.allclose(ch08.time_blurred(ramp)[..., 1:-1], ramp[..., 1:-1])  # a line is kept
    with pytest.raises(ConfigError, match="odd"):
        ch08.time_blurred(z, (0.5, 0.5))


def test_frame_change_is_the_mean_squared_step_in_time():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 2, 8, 16, generator=g)
    fc = ch08.frame_change(z)
    assert fc.shape == (400,) and fc.dtype == np.float64
    assert abs(fc.mean() - 2.0) < 0.02  # independent unit-variance frames: E (a - b)^2 = 2
    held = torch.randn(3, 2, 8, 1, generator=g).expand(3, 2, 8, 16)
    assert np.allclose(ch08.frame_change(held), 0.0)
    alt = torch.tensor([1.0, -1.0] * 4).view(1, 1, 1, 8)
    assert np.allclose(ch08.frame_change(alt), 4.0)  # every step is 2
    assert np.allclose(ch08.frame_change(ch08.time_blurred(alt)), 0.5 / 7)  # only the edges move
    with pytest.raises(ConfigError, match="W >= 2"):
        ch08.frame_change(torch.zeros(2, 1, 3, 1))
    with pytest.raises(ConfigError, match="N, C, H, W"):
        ch08.frame_change(torch.zeros(3, 5))


def test_frame_change_by_ornament_splits_pairs_by_their_label():
    # fragment 0: frames 0-3 vibrato (held: no change), 4-7 none (alternating: change 4)
    # fragment 1: all none, alternating with steps of 1 (change 1)
    z = torch.zeros(2, 1, 1, 8)
    z[0, ..., 4:] = torch.tensor([1.0, -1.0, 1.0, -1.0])
    z[1, ..., :] = torch.tensor([0.0, 1.0] * 4)
    o = torch.zeros(2, 8, dtype=torch.long)
    o[0, :4] = ORNAMENTS.index("vibrato")
    out = ch08.frame_change_by_ornament(z, o, n_boot=50)
    assert set(out) == set(ORNAMENTS)
    v, n = out["vibrato"], out["none"]
    assert v["change"] == 0.0 and v["pairs"] == 3 and v["fragments"] == 1  # pair 3-4 is mixed
    assert n["pairs"] == 3 + 7 and n["fragments"] == 2
    assert n["change"] == pytest.approx((4.0 + 1.0) / 2)  # mean of the fragments' means
    assert n["change_lo"] <= n["change"] <= n["change_hi"]
    assert np.isnan(out["trill"]["change"]) and out["trill"]["pairs"] == 0
    with pytest.raises(ConfigError, match="do not match"):
        ch08.frame_change_by_ornament(z, o[:, :7])


def test_judge_model_row(setup):
    smoke, ae, lat, frags, spec, dit = setup
    from maqamgen import evaluation, features

    ref = features.load_patches(smoke, "train", FCFG)
    val = features.load_patches(smoke, "validation", FCFG, ref.normalizer)
    ev = evaluation.Evaluator.build(ref, val, val, n_ref=4, classifier_steps=2, gl_iter=2)
    tonic_of = {m: 200.0 for m in dit.maqamat}
    row = ch08.judge_model("dit", dit, ae.model, ev, DCFG, LCFG, tonic_of, frags.frames_bank(seed=0))
    for key in ("fd", "clf_acc", "frag_acc", "in_scale", "seam_jump_ratio", "hallucination_index"):
        assert key in row and f"{key}_lo" in row
    assert row["params"] == dit.n_params and row["gen_s_per_audio_s"] > 0


def test_token_features_and_the_ornament_probe(setup):
    smoke, ae, lat, frags, spec, dit = setup
    W, (C, H) = lat.x.shape[-1], lat.x.shape[1:3]
    f = ch08.token_features(dit, lat, t=10, n=5, seed=0)
    assert f["X"].shape[0] == 5 * W and f["X"].ndim == 2
    assert f["y"].shape == f["group"].shape == (5 * W,) and len(np.unique(f["group"])) == 5
    again = ch08.token_features(dit, lat, t=10, n=5, seed=0)
    np.testing.assert_array_equal(f["X"], again["X"])  # fixed noise: deterministic
    base = ch08.token_features(None, lat, t=10, n=5, seed=0)
    assert base["X"].shape == (5 * W, C * H)
    np.testing.assert_array_equal(base["y"], f["y"])  # the same fragments and frames
    # the probe: separable features read perfectly, label-free noise near chance
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    grp = np.repeat(np.arange(12), 10)
    X = rng.normal(size=(120, 4))
    X[:, 0] += 6 * y
    r = ch08.ornament_probe({"X": X, "y": y, "group": grp}, {"X": X, "y": y, "group": grp}, n_boot=50)
    assert r["bal_acc"] == pytest.approx(1.0) and r["chance"] == pytest.approx(1 / 3)
    noise = {"X": rng.normal(size=(120, 4)), "y": y, "group": grp}
    r0 = ch08.ornament_probe(noise, {"X": rng.normal(size=(120, 4)), "y": y, "group": grp}, n_boot=50)
    assert r0["bal_acc"] < 0.6 and r0["bal_acc_lo"] <= r0["bal_acc"] <= r0["bal_acc_hi"]
    patch = dataclasses.replace(dit, spec=ch08.dit_spec(DCFG, LCFG, lat.x.shape[1:], (("tokenization", "patch"),)))
    with pytest.raises(ConfigError, match="time tokens"):
        ch08.token_features(patch, lat, t=10, n=2)


def test_judge_model_reads_maqam_in_windows_of_the_pieces(setup):
    smoke, ae, lat, frags, spec, dit = setup
    from maqamgen import evaluation, features

    ref = features.load_patches(smoke, "train", FCFG)
    ev = evaluation.Evaluator.build(ref, ref, ref, n_ref=4, classifier_steps=2, gl_iter=2)
    lcfg = dataclasses.replace(LCFG, window_seconds=1.0)
    tonic_of = {m: 200.0 for m in dit.maqamat}
    row = ch08.judge_model("dit", dit, ae.model, ev, dataclasses.replace(DCFG, n_pieces=2), lcfg, tonic_of,
                           frags.frames_bank(seed=0), windows=True)
    assert row["n_windows"] >= 2 * int(LCFG.piece_seconds)  # two pieces of at least 3 one-second windows
    assert 0.0 <= row["window_acc_lo"] <= row["window_acc"] <= row["window_acc_hi"] <= 1.0
    reads = row["window_reads"]  # one (asked, read) per window, the maqamat in turn
    assert len(reads) == row["n_windows"]
    assert {a for a, _ in reads} == set(dit.maqamat[:2])
    assert all(r is None or r in dit.maqamat for _, r in reads)
    assert np.mean([a == r for a, r in reads]) == pytest.approx(row["window_acc"])
    plain = ch08.judge_model("dit", dit, ae.model, ev, DCFG, lcfg, tonic_of, frags.frames_bank(seed=0))
    assert "window_acc" not in plain and "window_reads" not in plain


def test_decoded_detections_are_computed_once_per_content(setup, monkeypatch):
    smoke, ae, lat, frags, spec, dit = setup
    monkeypatch.setattr(ch08, "_DETECTED", {})
    calls = []
    real_track = ch08.trackers.fcpe_track
    monkeypatch.setattr(ch08.trackers, "fcpe_track", lambda y, sr: calls.append(1) or real_track(y, sr))
    x = frags.x[:2]  # (2, 1, F, T) tensor
    a = ch08.decoded_detections(x, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0)
    assert len(a) == 2 and len(calls) == 2
    # the same content as an (N, F, T) array: the same result, nothing tracked again
    b = ch08.decoded_detections(x.numpy()[:, 0].copy(), ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0)
    assert b is a and len(calls) == 2
    # another seed, other settings or other content: computed afresh
    c = ch08.decoded_detections(x, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=1)
    d = ch08.decoded_detections(x + 1e-3, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0)
    assert c is not a and d is not a and len(calls) == 6
    assert not np.array_equal(c[0][0], a[0][0])  # the Griffin-Lim seed differs
    # only the results last used are kept
    monkeypatch.setattr(ch08, "_DETECTED_KEEP", 2)
    ch08.decoded_detections(x, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0)  # a: used last
    ch08.decoded_detections(x, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=2)  # evicts c and d
    assert len(ch08._DETECTED) == 2 and ch08.decoded_detections(x, ae.normalizer, FCFG, dit.sr, gl_iter=2,
                                                                seed=0) is a


def test_ornament_census_counts_seconds_and_voicing(setup):
    smoke, ae, lat, frags, spec, dit = setup
    a = ch08.ornament_census(frags.x[:3], ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0)
    b = ch08.ornament_census(frags.x[:3], ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0)
    assert a == b and a["n"] == 3
    assert 0.0 <= a["voiced_lo"] <= a["voiced"] <= a["voiced_hi"] <= 1.0
    dur = FCFG.frames * FCFG.hop_length / dit.sr
    for k in ORNAMENTS[1:]:
        assert 0.0 <= a[f"{k}_s_lo"] <= a[f"{k}_s"] <= a[f"{k}_s_hi"] <= dur + 1e-6
    # a flat spectrogram (noise through Griffin-Lim) is hardly voiced and carries no vibrato
    flat = ch08.ornament_census(-torch.ones(2, 1, FCFG.n_mels, FCFG.frames), ae.normalizer, FCFG, dit.sr, gl_iter=2)
    assert flat["voiced"] < 0.2 < a["voiced"] and flat["vibrato_s"] == 0.0


def test_real_control_ceiling(setup):
    smoke, ae, lat, frags, spec, dit = setup
    c = ch08.real_control_ceiling(smoke, frags, lat, ae, n=len(frags), gl_iter=2, seed=0)
    assert set(c) == {"vibrato", "slide"}
    for k, d in c.items():
        assert set(d) == {"original", "griffin-lim", "autoencoder"}
        assert d["original"]["n"] == d["griffin-lim"]["n"] == d["autoencoder"]["n"]
        for v in d.values():
            if v["n"]:
                assert 0.0 <= v["f1_lo"] <= v["f1"] <= v["f1_hi"] <= 1.0
    assert c["vibrato"]["original"]["n"] > 0  # the smoke corpus has vibrato notes
    # the original audio holds its own vibrato: the detector finds some of it where it is labelled
    # (these 0.74-s fragments cut most notes short; the book's 6-s ones score far higher)
    assert c["vibrato"]["original"]["f1"] > 0.0
    assert ch08.real_control_ceiling(smoke, frags, lat, ae, n=0)["vibrato"]["original"]["n"] == 0


def test_real_control_ceiling_asks_generators_for_the_real_plans(setup):
    smoke, ae, lat, frags, spec, dit = setup
    kw = dict(n=len(frags), gl_iter=2, seed=0, steps=2)
    base = ch08.real_control_ceiling(smoke, frags, lat, ae, **kw)
    c = ch08.real_control_ceiling(smoke, frags, lat, ae, generators={"DiT": dit}, **kw)
    for k, d in c.items():
        assert set(d) == {"original", "griffin-lim", "autoencoder", "DiT, asked", "DiT, not told"}
        for row in ("original", "griffin-lim", "autoencoder"):  # the real rows are unchanged
            assert d[row] == pytest.approx(base[k][row], nan_ok=True)
        a, b = d["DiT, asked"], d["DiT, not told"]
        assert a["n"] == b["n"] == d["autoencoder"]["n"]  # the same fragments, asked and not told
        if a["n"]:
            assert 0.0 <= a["f1_lo"] <= a["f1"] <= a["f1_hi"] <= 1.0
            # paired over the same fragments: the mean difference is the difference of the means
            assert a["diff"] == pytest.approx(a["f1"] - b["f1"], abs=1e-9)
            assert a["diff_lo"] <= a["diff"] <= a["diff_hi"]
    # the same arguments give the same numbers (seeded sampler, seeded Griffin-Lim)
    again = ch08.real_control_ceiling(smoke, frags, lat, ae, generators={"DiT": dit}, **kw)
    assert again["vibrato"]["DiT, asked"] == pytest.approx(c["vibrato"]["DiT, asked"], nan_ok=True)
    plain = dataclasses.replace(dit, spec=ch08.dit_spec(DCFG, LCFG, lat.x.shape[1:], changes=(("ornaments", False),)))
    with pytest.raises(ConfigError, match="without the ornament encoding"):
        ch08.real_control_ceiling(smoke, frags, lat, ae, generators={"plain": plain}, **kw)


def test_window_ceiling_reads_chapter_6_or_measures(setup, monkeypatch):
    smoke, ae, lat, frags, spec, dit = setup
    from maqamgen import results

    lcfg = dataclasses.replace(LCFG, window_seconds=1.0)
    row = {"acc": 0.5, "acc_lo": 0.2, "acc_hi": 0.8, "windows": 4}
    rec = {"corpus": smoke.hash, "metrics": {"ceiling": {"original": row, "round_trip": row}}}
    monkeypatch.setattr(results, "load", lambda profile, name: rec)
    got = ch08.window_ceiling(smoke, ae, lcfg, lat.maqamat, profile="smoke")
    assert got["source"] == "chapter 6" and got["round_trip"] == row
    rec["corpus"] = "another"
    measured = ch08.window_ceiling(smoke, ae, lcfg, lat.maqamat, profile="smoke")
    assert measured["source"] == "measured"
    for k in ("original", "round_trip"):
        r = measured[k]
        assert r["windows"] > 0 and 0.0 <= r["acc_lo"] <= r["acc"] <= r["acc_hi"] <= 1.0


def test_window_confusion_counts_and_names_the_misreading():
    reads = [("hijaz", "kurd"), ("rast", "rast"), ("hijaz", "hijaz"), ("hijaz", "kurd"),
             ("hijaz", None), ("rast", "rast"), ("hijaz", "bayati")]
    t = ch08.window_confusion(reads)
    assert list(t.index) == ["hijaz", "rast"]  # the order asked
    h, r = t.loc["hijaz"], t.loc["rast"]
    assert (h["n"], h["right"], h["misread_as"], h["misread_n"]) == (5, 1, "kurd", 2)
    assert h["share"] == pytest.approx(0.2) and 0.0 < h["share_lo"] < 0.2 < h["share_hi"] < 1.0
    assert (r["n"], r["right"], r["misread_as"], r["misread_n"]) == (2, 2, "", 0)
    assert ch08.window_confusion([("saba", None)]).loc["saba", "misread_as"] == "no pitch"
    assert ch08.window_confusion([]).empty


@pytest.mark.parametrize("bad", [0, -1, 2.5, 1.0, True, "3", None])
def test_draw_count_rejects_what_is_not_a_count(bad):
    with pytest.raises(ConfigError, match="draws must be a positive integer"):
        ch08.draw_count(bad)


def test_draw_count_and_seed():
    assert ch08.draw_count(3) == 3 and type(ch08.draw_count(np.int64(2))) is int
    # draw 0 is the one-draw seeding; draws of one fragment lie GL_DRAW_SEED_STEP apart
    assert ch08.draw_seed(7, 0, 5) == 12
    assert ch08.draw_seed(7, 2, 5) == 12 + 2 * ch08.GL_DRAW_SEED_STEP


def test_detection_draws_average_griffin_lim_draws(setup):
    smoke, ae, lat, frags, spec, dit = setup
    x = frags.x[:2]
    one = ch08.detection_draws(x, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0)
    assert len(one) == 2 and all(len(f) == 1 for f in one)
    assert one[0][0] is ch08.decoded_detections(x, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0)[0]
    three = ch08.detection_draws(x, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=0, draws=3)
    assert all(len(f) == 3 for f in three)
    # draw d is decoded_detections seeded seed + d * GL_DRAW_SEED_STEP: another phase, other audio
    d2 = ch08.decoded_detections(x, ae.normalizer, FCFG, dit.sr, gl_iter=2, seed=2 * ch08.GL_DRAW_SEED_STEP)
    assert three[1][2] is d2[1] and not np.array_equal(three[0][0][0], three[0][1][0])
    with pytest.raises(ConfigError, match="draws"):
        ch08.detection_draws(x, ae.normalizer, FCFG, dit.sr, draws=0)


def test_ornament_control_averages_its_draws(setup):
    smoke, ae, lat, frags, spec, dit = setup
    kw = dict(kind="vibrato", span=(0.3, 0.7), normalizer=ae.normalizer, fcfg=FCFG, sr=dit.sr, steps=2,
              gl_iter=2, seed=0)
    one = ch08.ornament_control(dit, ae.model, [0, 1], [200.0, 220.0], **kw)
    two = ch08.ornament_control(dit, ae.model, [0, 1], [200.0, 220.0], draws=2, **kw)
    with pytest.raises(ConfigError, match="draws"):
        ch08.ornament_control(dit, ae.model, [0, 1], [200.0, 220.0], draws=0, **kw)
    assert one["draws"] == 1 and two["draws"] == 2
    assert [len(d) for d in two["f1_draws"]] == [2, 2]
    # the first draw is the one-draw measurement; a fragment's F1 is the mean over its draws
    assert [d[0] for d in two["f1_draws"]] == one["f1_each"]
    assert two["f1_each"] == pytest.approx([np.mean(d) for d in two["f1_draws"]])
    assert two["f1"] == pytest.approx(np.mean(two["f1_each"]))


def test_real_control_ceiling_draws(setup):
    smoke, ae, lat, frags, spec, dit = setup
    kw = dict(n=len(frags), gl_iter=2, seed=0, steps=2, generators={"DiT": dit})
    one = ch08.real_control_ceiling(smoke, frags, lat, ae, **kw)
    two = ch08.real_control_ceiling(smoke, frags, lat, ae, draws=2, **kw)
    for k in one:
        # the original audio takes no draw; every row keeps its fragments
        assert two[k]["original"] == pytest.approx(one[k]["original"], nan_ok=True)
        for row in one[k]:
            assert two[k][row]["n"] == one[k][row]["n"]
    with pytest.raises(ConfigError, match="draws"):
        ch08.real_control_ceiling(smoke, frags, lat, ae, n=2, draws=0)
