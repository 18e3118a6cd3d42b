"""`maqamgen train latent` / `generate latent`: Chapter 6's latent system from the command line,
on the smoke profile (seconds to train): lengths, determinism, continuation, and one line with
exit 2 for every bad input."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from maqamgen import audio, runtime, synth
from maqamgen import train as trainer

SR = 22050
KILLED = -signal.SIGKILL


def _one_line(capsys, rc, *needles):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("maqamgen: error: "), err
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """A smoke latent system trained once, in-process, with a checkpoint every 2 steps."""
    from maqamgen import cli

    d = tmp_path_factory.mktemp("latent")
    n = torch.get_num_threads()  # the smoke profile runs torch on one thread (train and generate)
    assert cli.main(["train", "latent", "--profile", "smoke", "-o", str(d / "sys"), "--ckpt-every", "2"]) == 0
    yield d / "sys"
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    """A 3-s hijaz phrase on D3 from the oud synthesizer, as a wav file."""
    d = tmp_path_factory.mktemp("take")
    notes, _ = synth.phrase("hijaz", tonic_hz=146.83, seconds=3.0, seed=2)
    return audio.save_audio(d / "take.wav", synth.render(notes, sr=SR, seed=2), SR)


def test_train_latent_writes_a_system_folder(system):
    rec = json.loads((system / "system.json").read_text())
    assert rec["kind"] == "latent" and rec["profile"] == "smoke" and rec["decoder"] == "griffin_lim"
    assert rec["sr"] == SR and "bayati" in rec["maqamat"] and rec["latent"]["fragment_frames"] == 64
    for sub in ("autoencoder", "latent_unet"):
        assert (system / sub / trainer.CHECKPOINT).is_file()


def test_generate_latent_right_length_and_deterministic(system, tmp_path, capsys):
    from maqamgen import cli

    outs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        outs[name] = tmp_path / f"{name}.wav"
        rc = cli.main(["generate", "latent", "--checkpoint", str(system), "--maqam", "bayati", "--seconds", "3",
                       "--seed", str(seed), "-o", str(outs[name])])
        assert rc == 0, capsys.readouterr().err
    assert "3.0 s of maqam bayati" in capsys.readouterr().out
    y = {k: sf.read(v) for k, v in outs.items()}
    assert all(sr == SR and len(x) == 3 * SR for x, sr in y.values())
    assert np.array_equal(y["a"][0], y["b"][0]) and not np.array_equal(y["a"][0], y["c"][0])


@pytest.mark.parametrize("method", ["concat", "multidiffusion"])
def test_generate_latent_other_methods_and_tonics(system, tmp_path, method):
    from maqamgen import cli

    out = tmp_path / "x.flac"
    assert cli.main(["generate", "latent", "--checkpoint", str(system), "--maqam", "Hijaz", "--tonic", "D3",
                     "--seconds", "1.5", "--method", method, "-o", str(out)]) == 0
    assert sf.info(out).frames == int(1.5 * SR)


def test_method_choices_are_the_stitch_methods():
    from maqamgen import cli
    from maqamgen.diffusion import stitch

    help_text = cli.build_parser()._subparsers._group_actions[0].choices["generate"].format_help()
    assert "latent" in help_text
    ga = cli.build_parser()._subparsers._group_actions[0].choices["generate"]._subparsers._group_actions[0]
    method = next(a for a in ga.choices["latent"]._actions if a.dest == "method")
    assert tuple(method.choices) == stitch.STITCH_METHODS


def test_continue_a_recording(system, take, tmp_path, capsys):
    from maqamgen import cli

    out = tmp_path / "cont.wav"
    rc = cli.main(["generate", "latent", "--checkpoint", str(system), "--continue", str(take), "--seconds", "2",
                   "-o", str(out)])
    stdout = capsys.readouterr().out
    assert rc == 0 and "estimated: maqam, tonic" in stdout
    y, sr = sf.read(out)
    x, _ = sf.read(take)
    assert sr == SR and len(y) == len(x) + 2 * SR
    assert np.allclose(y[:len(x)], x, atol=1e-3)  # the recording itself comes first, untouched
    assert np.sqrt(np.mean(y[len(x):] ** 2)) > 1e-3
    out2 = tmp_path / "cont2.wav"  # given maqam and tonic: nothing estimated, same length
    assert cli.main(["generate", "latent", "--checkpoint", str(system), "--continue", str(take), "--seconds", "1",
                     "--maqam", "hijaz", "--tonic", "146.83", "-o", str(out2)]) == 0
    assert "estimated" not in capsys.readouterr().out and sf.info(out2).frames == len(x) + SR


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    sf.write(d / "silent.wav", np.zeros(3 * SR, np.float32), SR)
    notes, _ = synth.phrase("rast", seconds=1.0, seed=0)
    audio.save_audio(d / "short.wav", synth.render(notes, sr=SR, seed=0)[: SR], SR)
    sf.write(d / "noise.wav", (0.3 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32), SR)
    (d / "random.wav").write_bytes(np.random.default_rng(1).bytes(3000))
    unet = d / "unet_run"  # what `maqamgen train unet` leaves
    unet.mkdir()
    (unet / "checkpoint.pt").write_bytes(b"weights")
    (unet / "denoiser.json").write_text("{}")
    return d


@pytest.mark.parametrize("extra, needles", [
    (["--maqam", "bayatii"], ["unknown maqam 'bayatii'", "bayati"]),
    (["--maqam", "bayati", "--tonic", "X9"], ["cannot read tonic 'X9'"]),
    (["--maqam", "bayati", "--tonic", "5000"], ["tonic 5000 Hz is outside"]),
    (["--maqam", "bayati", "--seconds", "0"], ["--seconds"]),
    (["--seconds", "1"], ["--maqam is required"]),
    (["--continue", "{bad}/silent.wav"], ["{bad}/silent.wav", "silent"]),
    (["--continue", "{bad}/short.wav"], ["{bad}/short.wav", "at least 2 s"]),
    (["--continue", "{bad}/noise.wav"], ["{bad}/noise.wav", "pitch"]),
    (["--continue", "{bad}/random.wav"], ["{bad}/random.wav", "not a readable audio file"]),
    (["--continue", "{bad}/missing.wav"], ["{bad}/missing.wav", "not found"]),
    (["--maqam", "bayati", "--checkpoint", "{bad}/unet_run"], ["{bad}/unet_run", "another model",
                                                                "train unet"]),
    (["--maqam", "bayati", "--checkpoint", "{bad}/nowhere"], ["{bad}/nowhere", "no such folder"]),
    (["--maqam", "bayati", "--checkpoint", "{bad}"], ["{bad}", "no system.json"]),
])
def test_generate_latent_bad_input_one_line_exit_2(system, bad_files, tmp_path, capsys, extra, needles):
    from maqamgen import cli

    extra = [e.format(bad=bad_files) for e in extra]
    ckpt = [] if "--checkpoint" in extra else ["--checkpoint", str(system)]
    out = tmp_path / "out.wav"
    rc = cli.main(["generate", "latent", *ckpt, "--seconds", "1", *extra, "-o", str(out)])
    _one_line(capsys, rc, *[n.format(bad=bad_files) for n in needles])
    assert not out.exists()


def test_generate_latent_refuses_to_overwrite_and_unfinished_runs(system, tmp_path, capsys):
    from maqamgen import cli

    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    base = ["generate", "latent", "--checkpoint", str(system), "--maqam", "bayati", "--seconds", "1", "-o", str(out)]
    _one_line(capsys, cli.main(base), out, "exists; pass --force")
    assert out.read_bytes() == b"precious"
    assert cli.main(base + ["--force"]) == 0 and sf.info(out).samplerate == SR
    part = tmp_path / "part"  # a killed `train latent`: checkpoints, no system.json
    (part / "autoencoder").mkdir(parents=True)
    (part / "autoencoder" / "checkpoint.pt").write_bytes(b"half")
    rc = cli.main(["generate", "latent", "--checkpoint", str(part), "--maqam", "bayati", "-o", str(tmp_path / "n.wav")])
    _one_line(capsys, rc, part, "unfinished", "--resume")


def test_train_latent_resume_and_force_like_train_unet(system, bad_files, tmp_path, capsys):
    from maqamgen import cli

    base = ["train", "latent", "--profile", "smoke", "-o"]
    _one_line(capsys, cli.main(base + [str(system)]), system, "--resume", "--force")
    _one_line(capsys, cli.main(base + [str(system), "--resume", "--force"]), "give one")
    _one_line(capsys, cli.main(base + [str(bad_files / "unet_run"), "--force"]), "another model", "train unet")
    assert (bad_files / "unet_run" / "checkpoint.pt").read_bytes() == b"weights"
    _one_line(capsys, cli.main(base + [str(tmp_path / "new"), "--ckpt-every", "0"]), "--ckpt-every")
    assert not (tmp_path / "new").exists()
    assert "train latent" in cli.CONVENTIONS


def _cli(*args, crash=None):
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    env.pop(runtime.CRASH_ENV, None)
    if crash:
        env[runtime.CRASH_ENV] = crash
    return subprocess.run([sys.executable, "-m", "maqamgen.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)


def test_killed_train_latent_resumes_to_the_uninterrupted_weights(system, tmp_path):
    """Killed in the autoencoder (step 3), resumed and killed in the latent U-Net (its step 5: the
    second time a step 5 is reached), resumed again: the weights of the uninterrupted run."""
    run = tmp_path / "run"
    args = ("train", "latent", "--profile", "smoke", "-o", run, "--ckpt-every", 2)
    assert _cli(*args, crash="step:3").returncode == KILLED
    assert not (run / "system.json").exists()
    assert trainer.read_checkpoint(run / "autoencoder" / trainer.CHECKPOINT)["step"] == 2
    assert _cli(*args, "--resume", crash="step:5#2").returncode == KILLED
    assert trainer.read_checkpoint(run / "latent_unet" / trainer.CHECKPOINT)["step"] == 4
    assert not (run / "system.json").exists()
    proc = _cli(*args, "--resume")
    assert proc.returncode == 0, proc.stderr
    for sub in ("autoencoder", "latent_unet"):
        a = trainer.read_checkpoint(run / sub / trainer.CHECKPOINT)
        b = trainer.read_checkpoint(system / sub / trainer.CHECKPOINT)
        assert a["step"] == b["step"]
        for k, v in b["model"].items():
            assert torch.equal(a["model"][k], v), (sub, k)


def test_generate_latent_runs_a_system_trained_with_the_older_tonic_vector(tmp_path, monkeypatch, capsys):
    """Systems trained before the tonic's Fourier features and the scale profile (``cond_dim=2``)
    still generate."""
    import dataclasses as dc

    from maqamgen import cli
    from maqamgen.diffusion import run
    from maqamgen.recipes import ch06_latent_diffusion as ch06

    orig, orig_spec = ch06.tonic_vector, ch06.latent_spec
    n = torch.get_num_threads()
    monkeypatch.setattr(ch06, "TONIC_DIM", 2)
    monkeypatch.setattr(ch06, "tonic_vector", lambda hz, dim=2: orig(hz, dim))
    monkeypatch.setattr(ch06, "latent_spec",
                        lambda lcfg, seed=0: orig_spec(dc.replace(lcfg, scale_profile=False), seed))
    assert cli.main(["train", "latent", "--profile", "smoke", "-o", str(tmp_path / "old")]) == 0
    monkeypatch.undo()
    torch.set_num_threads(n)
    assert run.load_denoiser(tmp_path / "old" / "latent_unet").spec.cond_dim == 2
    out = tmp_path / "old.wav"
    rc = cli.main(["generate", "latent", "--checkpoint", str(tmp_path / "old"), "--maqam", "bayati",
                   "--tonic", "D3", "--seconds", "2", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    y, sr = sf.read(out)
    assert sr == SR and len(y) == 2 * SR and np.isfinite(y).all()
