"""`maqamgen train dit` / `generate dit`: Chapter 8's DiT system from the command line, on the
smoke profile (seconds to train): lengths, determinism, ornaments asked where asked, and one line
with exit 2 for every bad input."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from maqamgen import runtime
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
    """A smoke DiT system trained once, in-process, with a checkpoint every 2 steps."""
    from maqamgen import cli

    d = tmp_path_factory.mktemp("dit")
    n = torch.get_num_threads()  # the smoke profile runs torch on one thread (train and generate)
    assert cli.main(["train", "dit", "--profile", "smoke", "-o", str(d / "sys"), "--ckpt-every", "2"]) == 0
    yield d / "sys"
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def others(tmp_path_factory):
    """Folders of other models: what `train latent` and `train unet` leave."""
    d = tmp_path_factory.mktemp("others")
    latent = d / "latent_run"
    for sub in ("autoencoder", "latent_unet"):
        (latent / sub).mkdir(parents=True)
        (latent / sub / "checkpoint.pt").write_bytes(b"weights")
    (latent / "latent_unet" / "denoiser.json").write_text("{}")
    (latent / "system.json").write_text(json.dumps({"kind": "latent", "version": 1}))
    unet = d / "unet_run"
    unet.mkdir()
    (unet / "checkpoint.pt").write_bytes(b"weights")
    (unet / "denoiser.json").write_text("{}")
    return d


def test_train_dit_writes_a_system_folder(system):
    rec = json.loads((system / "system.json").read_text())
    assert rec["kind"] == "dit" and rec["profile"] == "smoke" and rec["decoder"] == "griffin_lim"
    assert rec["sr"] == SR and "hijaz" in rec["maqamat"]
    assert rec["condition_keys"] == ["ornaments", "start_s", "total_s"]
    for sub in ("autoencoder", "dit"):
        assert (system / sub / trainer.CHECKPOINT).is_file()
    assert json.loads((system / "dit" / "denoiser.json").read_text())["spec"]["net"] == "dit"


def test_generate_dit_with_ornaments_right_length_and_deterministic(system, tmp_path, capsys):
    from maqamgen import cli

    outs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        outs[name] = tmp_path / f"{name}.wav"
        rc = cli.main(["generate", "dit", "--checkpoint", str(system), "--maqam", "hijaz", "--tonic", "D3",
                       "--ornaments", "vibrato@0.5-1.5,slide@2", "--seconds", "3", "--seed", str(seed),
                       "-o", str(outs[name])])
        assert rc == 0, capsys.readouterr().err
    assert "3.0 s of maqam hijaz on 146.8 Hz (multidiffusion, ornaments vibrato@0.5-1.5" in capsys.readouterr().out
    y = {k: sf.read(v) for k, v in outs.items()}
    assert all(sr == SR and len(x) == 3 * SR for x, sr in y.values())
    assert np.array_equal(y["a"][0], y["b"][0]) and not np.array_equal(y["a"][0], y["c"][0])
    plain = tmp_path / "plain.wav"  # no ornaments asked: another piece from the same seed
    assert cli.main(["generate", "dit", "--checkpoint", str(system), "--maqam", "hijaz", "--tonic", "D3",
                     "--seconds", "3", "-o", str(plain)]) == 0
    assert not np.array_equal(sf.read(plain)[0], y["a"][0])


@pytest.mark.parametrize("method", ["concat", "continue"])
def test_generate_dit_other_methods(system, tmp_path, method):
    from maqamgen import cli

    out = tmp_path / "x.flac"
    assert cli.main(["generate", "dit", "--checkpoint", str(system), "--maqam", "Bayati", "--seconds", "1.5",
                     "--ornaments", "trill@0.2-1", "--method", method, "--steps", "2", "-o", str(out)]) == 0
    assert sf.info(out).frames == int(1.5 * SR)


def test_each_window_is_told_its_ornaments_and_place(system):
    from maqamgen.recipes import ch08_system

    s = ch08_system.load_system(system)
    calls = []
    forward = s.dit.model.forward
    s.dit.model.forward = lambda x, t, cond=None: calls.append(cond) or forward(x, t, cond)
    ch08_system.generate(s, "hijaz", seconds=3.0, ornaments_spec="slide@2-2.5", method="continue", steps=1,
                         guidance_scale=1.0)
    labels = ch08_system.piece_ornaments([("slide", 2.0, 2.5)], 200, s.latent_hop_s)
    for c in calls:
        start = int(round(float(c["start_s"][0]) / s.latent_hop_s))
        assert torch.equal(c["ornaments"][0], labels[start:start + s.window])
        assert float(c["total_s"][0]) == 3.0
    assert len({float(c["start_s"][0]) for c in calls}) > 1


def test_method_choices_are_the_stitch_methods():
    from maqamgen import cli
    from maqamgen.diffusion import stitch

    ge = cli.build_parser()._subparsers._group_actions[0].choices["generate"]._subparsers._group_actions[0]
    method = next(a for a in ge.choices["dit"]._actions if a.dest == "method")
    assert tuple(method.choices) == stitch.STITCH_METHODS and method.default == "multidiffusion"


@pytest.mark.parametrize("extra, needles", [
    (["--ornaments", "vibrato:2-4"], ["'vibrato:2-4' is not kind@start-end"]),
    (["--ornaments", "wobble@1-2"], ["unknown ornament 'wobble'", "vibrato"]),
    (["--ornaments", "vibrato@2-4"], ["'vibrato@2-4'", "inside [0, 1] s"]),
    (["--maqam", "hijazz"], ["unknown maqam 'hijazz'", "hijaz"]),
    (["--tonic", "X9"], ["cannot read tonic 'X9'"]),
    (["--tonic", "5000"], ["tonic 5000 Hz is outside"]),
    (["--seconds", "0"], ["--seconds"]),
    (["--steps", "0"], ["--steps"]),
    (["--checkpoint", "{others}/latent_run"], ["{others}/latent_run", "another model", "train latent"]),
    (["--checkpoint", "{others}/latent_run/latent_unet"], ["latent_unet", "another model", "train unet"]),
    (["--checkpoint", "{others}/unet_run"], ["{others}/unet_run", "another model", "train unet"]),
    (["--checkpoint", "{others}/nowhere"], ["{others}/nowhere", "no such folder"]),
    (["--checkpoint", "{others}"], ["{others}", "no system.json"]),
])
def test_generate_dit_bad_input_one_line_exit_2(system, others, tmp_path, capsys, extra, needles):
    from maqamgen import cli

    extra = [e.format(others=others) for e in extra]
    ckpt = [] if "--checkpoint" in extra else ["--checkpoint", str(system)]
    maqam = [] if "--maqam" in extra else ["--maqam", "hijaz"]
    out = tmp_path / "out.wav"
    rc = cli.main(["generate", "dit", *ckpt, *maqam, "--seconds", "1", *extra, "-o", str(out)])
    _one_line(capsys, rc, *[n.format(others=others) for n in needles])
    assert not out.exists()


def test_generate_dit_refuses_to_overwrite_and_unfinished_runs(system, tmp_path, capsys):
    from maqamgen import cli

    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    base = ["generate", "dit", "--checkpoint", str(system), "--maqam", "rast", "--seconds", "1", "-o", str(out)]
    _one_line(capsys, cli.main(base), out, "exists; pass --force")
    assert out.read_bytes() == b"precious"
    assert cli.main(base + ["--force"]) == 0 and sf.info(out).samplerate == SR
    part = tmp_path / "part"  # a killed `train dit`: checkpoints, no system.json
    (part / "autoencoder").mkdir(parents=True)
    (part / "autoencoder" / "checkpoint.pt").write_bytes(b"half")
    rc = cli.main(["generate", "dit", "--checkpoint", str(part), "--maqam", "rast", "-o", str(tmp_path / "n.wav")])
    _one_line(capsys, rc, part, "unfinished", "train dit --resume")


def test_train_dit_resume_and_force_like_train_latent(system, others, tmp_path, capsys):
    from maqamgen import cli

    base = ["train", "dit", "--profile", "smoke", "-o"]
    _one_line(capsys, cli.main(base + [str(system)]), system, "--resume", "--force")
    _one_line(capsys, cli.main(base + [str(system), "--resume", "--force"]), "give one")
    for name, needle in (("latent_run", "train latent"), ("unet_run", "train unet")):
        _one_line(capsys, cli.main(base + [str(others / name), "--force"]), "another model", needle)
        assert (others / name / "checkpoint.pt").exists() or (others / name / "system.json").exists()
    assert json.loads((others / "latent_run" / "system.json").read_text())["kind"] == "latent"
    _one_line(capsys, cli.main(base + [str(tmp_path / "new"), "--ckpt-every", "0"]), "--ckpt-every")
    assert not (tmp_path / "new").exists()
    assert "train dit" in cli.CONVENTIONS


def _cli(*args, crash=None):
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    env.pop(runtime.CRASH_ENV, None)
    if crash:
        env[runtime.CRASH_ENV] = crash
    return subprocess.run([sys.executable, "-m", "maqamgen.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)


def test_killed_train_dit_resumes_to_the_uninterrupted_weights(system, tmp_path):
    """Killed in the DiT (its step 3: the autoencoder's steps come first, so the second time a step
    3 is reached), resumed: the weights of the uninterrupted run."""
    run = tmp_path / "run"
    args = ("train", "dit", "--profile", "smoke", "-o", run, "--ckpt-every", 2)
    assert _cli(*args, crash="step:3#2").returncode == KILLED
    assert not (run / "system.json").exists()
    assert trainer.read_checkpoint(run / "dit" / trainer.CHECKPOINT)["step"] == 2
    proc = _cli(*args, "--resume")
    assert proc.returncode == 0, proc.stderr
    for sub in ("autoencoder", "dit"):
        a = trainer.read_checkpoint(run / sub / trainer.CHECKPOINT)
        b = trainer.read_checkpoint(system / sub / trainer.CHECKPOINT)
        assert a["step"] == b["step"]
        for k, v in b["model"].items():
            assert torch.equal(a["model"][k], v), (sub, k)
