"""Chapter 4 recipes: grid specs, a tiny trained DDPM, stitching, the CLI, and the hallucination and
seam metrics on constructed cases (a middle of noise or of a repeated loop scores high, real audio low)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from maqamgen import config, corpus, evaluation, features, metrics, results
from maqamgen.diffusion import run as runner, stitch
from maqamgen.recipes import ch04_unet_ddpm as ch04
from maqamgen.errors import ConfigError


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def smoke_mels():
    """Normalised log-mels of whole smoke-corpus clips (test split) and a bank of training frames."""
    c = corpus.load("smoke", progress=False)
    F = config.FeatureConfig()
    tr = features.load_patches(c, "train", F)
    mels = []
    for clip in c.split("test"):
        y, sr = c.audio(clip)
        mels.append(tr.normalizer.forward(features.clip_mel_db(y, sr, F)))
    return mels, tr.frames_bank(max_frames=3000)


def _long_real(mels, T=180):
    for m in mels:
        if m.shape[1] >= T:
            return m[:, :T].astype(np.float64)
    pytest.skip("no clip long enough")


def test_grid_specs_one_at_a_time_and_full():
    ddpm_cfg = config.DDPMChapterConfig()
    specs = ch04.grid_specs(ddpm_cfg)
    labels = [s.label for s in specs]
    assert labels[0] == "/".join((*ddpm_cfg.base, ddpm_cfg.train.optimizer)) and len(labels) == len(set(labels))
    assert {s.optimizer for s in specs} == set(ddpm_cfg.grid_optimizers)
    assert all(s.steps == ddpm_cfg.grid_steps for s in specs)
    assert next(s for s in specs if s.optimizer == "sgd").train.lr == ddpm_cfg.lr_sgd
    full = ch04.grid_specs(config.DDPMChapterConfig(grid="full"))
    assert len(full) == len(ddpm_cfg.grid_schedules) * len(ddpm_cfg.grid_losses) * len(ddpm_cfg.grid_optimizers)
    with pytest.raises(ConfigError):
        ch04.grid_specs(config.DDPMChapterConfig(grid="random"))


def test_training_settings_come_from_the_chapter_config():
    """Warm-up, EMA, clipping, weight decay and logging are the config's; only AdamW decays."""
    for name in config.PROFILES:
        ddpm_cfg = config.profile(name).ddpm
        tc = ddpm_cfg.train
        for sp in [ch04.base_spec(ddpm_cfg, seed=3)] + ch04.grid_specs(ddpm_cfg, seed=3):
            t = sp.train_config()
            assert (t.warmup_steps, t.ema_decay, t.grad_clip, t.log_every, t.seed) == \
                (tc.warmup_steps, tc.ema_decay, tc.grad_clip, tc.log_every, 3)
            assert t.warmup_steps < t.steps
            assert t.weight_decay == (tc.weight_decay if sp.optimizer == "adamw" else 0.0)
            assert sp.preset == ddpm_cfg.preset and sp.T == ddpm_cfg.T
    ddpm_cfg = config.profile("book").ddpm
    assert ch04.base_spec(ddpm_cfg).steps == ddpm_cfg.train.steps
    changed = ch04.base_spec(ddpm_cfg, preset="small", steps=7, batch_size=2, warmup_steps=1)
    assert (changed.preset, changed.steps, changed.batch_size, changed.train.warmup_steps) == ("small", 7, 2, 1)
    with pytest.raises(ConfigError, match="unknown spec field"):
        ch04.base_spec(ddpm_cfg, widths=(8, 16))
    with pytest.raises(ConfigError, match="warm-up"):
        ch04.base_spec(ddpm_cfg, steps=5, warmup_steps=5)


def test_spec_identity_ignores_runtime_settings_and_round_trips():
    ddpm_cfg = config.profile("smoke").ddpm
    spec = ch04.base_spec(ddpm_cfg)
    other = ch04.base_spec(ddpm_cfg, device="auto", progress=True, ckpt_every=1)
    assert spec.to_dict() == other.to_dict()
    assert spec.to_dict() != ch04.base_spec(ddpm_cfg, ema_decay=0.9).to_dict()
    again = runner.DenoiserSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again.to_dict() == spec.to_dict() and again.train.device == config.TrainConfig().device
    with pytest.raises(ConfigError):
        runner.DenoiserSpec.from_dict({"schedule": "cosine", "steps": 3, "widths": []})  # run format 2


def test_hallucination_index_real_low_noise_and_loop_high(smoke_mels):
    mels, bank = smoke_mels
    S = _long_real(mels)
    T = S.shape[1]
    a, b = T // 3, 2 * T // 3
    real = metrics.hallucination_index(S, bank)
    noisy = S.copy()
    noisy[:, a:b] = np.random.default_rng(0).uniform(-1, 1, (S.shape[0], b - a))
    loop = S.copy()
    loop[:, a:b] = np.tile(S[:, a:a + 6], (1, (b - a) // 6 + 1))[:, : b - a]
    hn, hl = metrics.hallucination_index(noisy, bank), metrics.hallucination_index(loop, bank)
    assert real["index"] < 0.5
    assert hn["novelty_ratio"] > 1.5 and hn["index"] > real["index"] + 0.5
    assert hl["loop_middle"] > 0.95 and hl["loop_excess"] > real["loop_excess"] + 0.2
    assert hl["index"] > real["index"] + 0.2
    prof = metrics.position_profile(metrics.nearest_frame_distance(noisy, bank), 3)
    assert prof[1] > prof[0] and prof[1] > prof[2]


def test_seam_metrics_real_seamless_and_splice_abrupt(smoke_mels):
    mels, _ = smoke_mels
    S = _long_real(mels)
    seams = list(range(20, 180, 20))
    fake = metrics.seam_metrics(S, seams)  # no seam at all: positions like any other
    assert 0.5 < fake["step_ratio"] < 2.0 and 0.5 < fake["seam_jump_ratio"] < 2.5
    # every 20 frames, a piece from elsewhere at another level: audible seams
    other = _long_real(mels[::-1], 180)
    pieces = [(S if k % 2 == 0 else np.clip(other + 0.5, -1, 1))[:, s0:s0 + 20] for k, s0 in enumerate(range(0, 180, 20))]
    bad = metrics.seam_metrics(np.concatenate(pieces, axis=1), seams)
    assert bad["step_ratio"] > 2 * fake["step_ratio"] and bad["seam_jump_ratio"] > 2 * fake["seam_jump_ratio"]
    with pytest.raises(ValueError):
        metrics.seam_metrics(S, [1])


def test_loop_score_and_nearest_frame_distance():
    rng = np.random.default_rng(1)
    chunk = rng.normal(size=(16, 5))
    assert metrics.loop_score(np.tile(chunk, (1, 8))) > 0.99
    assert metrics.loop_score(rng.normal(size=(16, 40))) < 0.5
    bank = rng.normal(size=(16, 50))
    d = metrics.nearest_frame_distance(bank[:, :7], bank)
    np.testing.assert_allclose(d, 0.0, atol=1e-6)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    c = corpus.load("smoke", progress=False)
    tr = features.load_patches(c, "train", config.FeatureConfig())
    spec = runner.DenoiserSpec(preset="tiny", T=50,
                               train=config.TrainConfig(steps=3, batch_size=4, log_every=1,
                                                        device="cpu", progress=False))
    out = tmp_path_factory.mktemp("tiny")
    return runner.train_denoiser(spec, tr, out_dir=out), tr


def test_train_sample_reload_and_generate_long(tiny):
    m, tr = tiny
    assert len(m.losses["loss"]) == 3 and np.isfinite(m.losses["loss"]).all()
    x, secs = runner.sample(m, [0, 1], "ddim", 3, 2.0, seed=5)
    assert x.shape == (2, 1, 64, 64) and float(x.abs().max()) <= 1.0
    x2, _ = runner.sample(m, [0, 1], "ddim", 3, 2.0, seed=5)
    assert torch.equal(x, x2)
    xd, _ = runner.sample(m, [0], "ddpm", 4, 1.0, seed=5)
    assert xd.shape == (1, 1, 64, 64)
    again = runner.load_denoiser(m.out_dir)
    x3, _ = runner.sample(again, [0, 1], "ddim", 3, 2.0, seed=5)
    assert torch.allclose(x, x3, atol=1e-5)
    mel, seams = stitch.generate_long(m, 3.0, 0, "inpaint", steps=2, seed=0)
    assert mel.shape[1] * 512 / 22050 >= 3.0 and seams == [64, 112]
    mel_c, seams_c = stitch.generate_long(m, 3.0, 0, "concat", steps=2, seed=0)
    assert seams_c == [64, 128] and mel_c.shape[1] == 192
    with pytest.raises(ConfigError):
        stitch.generate_long(m, -1.0)
    with pytest.raises(ConfigError):
        runner.sample(m, [0], "euler")


def test_generate_long_batch_is_generate_long_per_label(tiny):
    """One label: generate_long, number for number; several: one sequence each, the same seams,
    each held to its own label (a batch of one label twice gives two different draws)."""
    m, _ = tiny
    mel, seams = stitch.generate_long(m, 3.0, 1, "inpaint", steps=2, seed=3)
    one, seams1 = stitch.generate_long_batch(m, 3.0, [1], "inpaint", steps=2, seed=3)
    assert seams1 == seams and np.array_equal(one[0], mel)
    many, seams3 = stitch.generate_long_batch(m, 3.0, [0, 1, 1], "inpaint", steps=2, seed=3)
    assert many.shape == (3, *mel.shape) and seams3 == seams
    assert np.isfinite(many).all() and not np.allclose(many[1], many[2])
    with pytest.raises(ConfigError, match="empty"):
        stitch.generate_long_batch(m, 3.0, [])


def test_load_denoiser_refuses_an_older_run_format(tiny, tmp_path):
    import shutil

    m, _ = tiny
    old = tmp_path / "old"
    shutil.copytree(m.out_dir, old)
    rec = json.loads((old / runner.RECORD).read_text())
    rec["version"] = 2
    (old / runner.RECORD).write_text(json.dumps(rec))
    with pytest.raises(ConfigError, match="run format 2"):
        runner.load_denoiser(old)


def test_core_metrics_follow_the_results_schema(tiny):
    """The reference model's record: every core key, intervals where measured, and it saves."""
    m, tr = tiny
    rng = np.random.default_rng(0)
    n, d = 6, 4
    ev = evaluation.Evaluator(classifier=None, ref=None, ref_emb=rng.normal(size=(n, d)),
                              ref_pcd=rng.random((n, 72)), bank=tr.frames_bank(max_frames=500))
    per_sample = {"emb": rng.normal(size=(n, d)) + 1.0, "clf_ok": np.arange(n) % 2 == 0,
                  "nn_dist": rng.random(n), "pcd": rng.random((n, 72)), "est_ok": np.zeros(n, bool),
                  "voiced_s": rng.random(n)}
    judged = ev.summarize(per_sample, n_boot=50)
    mel, seams = stitch.generate_long(m, 3.0, 0, "inpaint", steps=2, seed=0)
    core = ch04.core_metrics(judged, params=m.n_params, train_s=m.seconds, gen_s_per_audio_s=0.5,
                             long_mel=mel, seams=seams, bank=ev.bank)
    assert set(core) == set(results.CORE_METRICS)
    results._check_core("unet_ddpm", core)
    for key in ("fd", "maqam_acc_estimator", "maqam_acc_classifier", "pcd_js_audio", "frame_dist"):
        iv = core[key]
        assert iv["lo"] <= iv["value"] <= iv["hi"] and iv["n"] == n
    assert core["maqam_acc_classifier"]["value"] == pytest.approx(0.5)
    assert core["params"] == m.n_params and np.isfinite(core["seam_jump_ratio"])
    assert core["hallucination_index"] >= 0.0
    no_pitch = ev.summarize({k: per_sample[k] for k in ("emb", "clf_ok", "nn_dist")}, n_boot=0)
    assert "na" in evaluation.core_metrics(no_pitch)["pcd_js_audio"]


def run(*args):
    return subprocess.run([sys.executable, "-m", "maqamgen.cli", *args], capture_output=True, text=True)


def test_cli_train_and_generate_unet(tmp_path, capsys):
    from maqamgen import cli

    out = tmp_path / "run"
    p = run("train", "unet", "--profile", "smoke", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert (out / "checkpoint.pt").exists() and (out / "denoiser.json").exists()
    wav = tmp_path / "gen.wav"
    p = run("generate", "unet", "--checkpoint", str(out), "--seconds", "2", "--maqam", "hijaz",
            "--steps", "2", "--seed", "1", "-o", str(wav))
    assert p.returncode == 0, p.stderr
    info = sf.info(wav)
    assert info.samplerate == 22050 and info.duration == pytest.approx(2.0, abs=0.01)
    # bad input, in-process (the exit path is the same main()): status 2, one line, output kept
    capsys.readouterr()
    assert cli.main(["train", "unet", "--profile", "smoke", "-o", str(out)]) == 2  # would overwrite
    assert "--resume" in capsys.readouterr().err
    for bad, problem in [(["--maqam", "blues"], "unknown maqam"), (["--seconds", "-3"], "--seconds"),
                         (["--checkpoint", str(tmp_path)], "not a trained diffusion-model folder"),
                         (["--steps", "0"], "--steps")]:
        args = {"--checkpoint": str(out), "--seconds": "2", "--maqam": "hijaz", "--steps": "2"}
        args.update(dict(zip(bad[::2], bad[1::2])))
        keep = tmp_path / "keep.wav"
        keep.write_bytes(b"precious")
        rc = cli.main(["generate", "unet", *[v for kv in args.items() for v in kv], "-o", str(keep), "--force"])
        lines = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("maqamgen: error: ")
        assert problem in lines[0] and keep.read_bytes() == b"precious"


def test_validation_curve_is_written_deterministic_and_kept_on_resume(tmp_path):
    c = corpus.load("smoke", progress=False)
    # small patches: the validation forwards over VAL_SAMPLES patches dominate this test
    fc = config.FeatureConfig(n_mels=32, frames=32, n_fft=2048, hop_length=512, f_min=50.0, f_max=1500.0)
    tr = features.load_patches(c, "train", fc)
    va = features.load_patches(c, "validation", fc, tr.normalizer)
    spec = runner.DenoiserSpec(preset="tiny", T=50,
                               train=config.TrainConfig(steps=8, batch_size=4, log_every=1, ckpt_every=4,
                                                        device="cpu", progress=False))
    a = runner.train_denoiser(spec, tr, out_dir=tmp_path / "a", val_set=va)
    b = runner.train_denoiser(spec, tr, out_dir=tmp_path / "b", val_set=va)
    assert a.val_losses["step"] == list(range(1, 9))  # 8 steps < VAL_POINTS: every step
    assert np.all(np.isfinite(a.val_losses["loss"])) and a.val_losses == b.val_losses
    assert a.val_losses["loss"][-1] < a.val_losses["loss"][0]
    assert runner.load_denoiser(tmp_path / "a").val_losses == a.val_losses
    # a run folder that lost its record is resumed from its last checkpoint: the curve stays
    (tmp_path / "a" / runner.RECORD).unlink()
    r = runner.train_denoiser(spec, tr, out_dir=tmp_path / "a", val_set=va, resume=True)
    assert r.val_losses["step"] == a.val_losses["step"]
    np.testing.assert_allclose(r.val_losses["loss"], a.val_losses["loss"], rtol=1e-4)
    # without a validation set: no curve
    assert runner.train_denoiser(spec, tr, out_dir=tmp_path / "c").val_losses == {}


def test_heldout_loss_is_fixed_noise_and_ignores_the_global_rng():
    from maqamgen import diffusion

    sched = diffusion.make_schedule("cosine", 50)
    obj = diffusion.DiffusionObjective(sched, "eps", "mse")
    x0 = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    model = lambda x, t: 0.5 * x  # noqa: E731
    torch.manual_seed(1)
    a = diffusion.heldout_loss(model, obj, x0, n_t=5, seed=3)
    torch.manual_seed(2)
    assert diffusion.heldout_loss(model, obj, x0, n_t=5, seed=3) == a
    assert diffusion.heldout_loss(model, obj, x0, n_t=5, seed=4) != a
    assert diffusion.heldout_loss(lambda x, t: torch.zeros_like(x), obj, x0, n_t=5) == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ConfigError):
        diffusion.heldout_loss(model, obj, x0, n_t=0)
