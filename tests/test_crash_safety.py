"""Crash-safe training: a `maqamgen train` killed with SIGKILL (mid-run, and mid-checkpoint-write)
and then run with --resume ends with the weights of an uninterrupted run of the same seed.

The kill comes from inside (:func:`maqamgen.runtime.crash_point`, environment variable
``MAQAMGEN_CRASH_AT``): ``step:K`` after optimizer step K, ``write:checkpoint.pt#N`` after the
N-th checkpoint's temp file is written but before it is renamed. SIGKILL runs no ``finally`` and
no cleanup, as a power cut or the OOM killer. Every run is a fresh process; weights are compared
bitwise (CPU, same thread count: the kernels are deterministic).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from maqamgen import runtime, synth
from maqamgen import notes as notes_io
from maqamgen import train as trainer

KILLED = -signal.SIGKILL


def _cli(*args, crash: str | None = None, cache: Path | None = None, cwd: Path | None = None):
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    env.pop(runtime.CRASH_ENV, None)
    if crash:
        env[runtime.CRASH_ENV] = crash
    if cache is not None:
        env[runtime.CACHE_ENV] = str(cache)
    return subprocess.run([sys.executable, "-m", "maqamgen.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def _weights(folder: Path) -> dict:
    ck = trainer.read_checkpoint(folder / trainer.CHECKPOINT)
    return {"step": ck["step"], "model": ck["model"], "ema": (ck["ema"] or {}).get("shadow"),
            "optimizer": ck["optimizer"]["state"]}


def _assert_bitwise_equal(a, b, where="") -> None:
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _assert_bitwise_equal(a[k], b[k], f"{where}/{k}")
    else:
        assert a == b, (where, a, b)


def _no_temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


# ----------------------------------------------------------------------------- train lstm


@pytest.fixture(scope="module")
def lstm_setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("lstm")
    notes, meta = synth.phrase("hijaz", seconds=1.0, seed=0)
    notes_io.write_notes(d / "in.json", notes, meta)
    base = ["train", "lstm", "--notes", d / "in.json", "--profile", "smoke", "--steps", 40,
            "--ckpt-every", 10, "--seconds", 2, "--seed", 3]
    ref = d / "ref"
    proc = _cli(*base, "-o", ref)
    assert proc.returncode == 0, proc.stderr
    return d, base, ref


@pytest.mark.parametrize("crash, left_at, temp_left", [
    ("step:25", 20, False),                  # mid-run, between checkpoints
    ("write:checkpoint.pt#3", 20, True),     # the step-30 checkpoint written to its temp file, not renamed
])
def test_killed_train_lstm_resumes_to_the_uninterrupted_weights(lstm_setup, crash, left_at, temp_left,
                                                               capsys):
    from maqamgen import cli

    d, base, ref = lstm_setup
    run = d / f"run-{crash.replace(':', '-').replace('#', '-')}"
    proc = _cli(*base, "-o", run, crash=crash)
    assert proc.returncode == KILLED, (proc.returncode, proc.stderr)
    # what the kill left: the last complete checkpoint (it loads), no record of a finished run
    assert trainer.read_checkpoint(run / trainer.CHECKPOINT)["step"] == left_at
    assert not (run / "run.json").exists() and not (run / "continuation.wav").exists()
    assert bool(_no_temp_files(run)) == temp_left  # a temp file is never taken for a checkpoint
    # generating from it says what to do, in one line; training into it needs --resume or --force
    gen = ["generate", "lstm", "--checkpoint", str(run), "--seconds", "1", "-o", str(run / "g.json")]
    assert cli.main(gen) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and len(err.strip().splitlines()) == 1, err
    assert cli.main([*map(str, base), "-o", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err
    # resume: the same weights, optimizer state and loss log as the run that was never killed
    proc = _cli(*base, "-o", run, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert _no_temp_files(run) == []
    _assert_bitwise_equal(_weights(run), _weights(ref))
    assert (run / "losses.csv").read_text() == (ref / "losses.csv").read_text()
    assert (run / "continuation.json").read_bytes() == (ref / "continuation.json").read_bytes()
    assert cli.main(gen) == 0


def test_train_lstm_force_starts_afresh_and_drops_the_old_record(lstm_setup):
    d, base, ref = lstm_setup
    run = d / "forced"
    shutil.copytree(ref, run)  # a finished run ...
    proc = _cli(*base, "-o", run, "--force", crash="step:15")  # ... replaced, and killed mid-run
    assert proc.returncode == KILLED
    assert not (run / "run.json").exists()  # the old record no longer vouches for this folder
    assert _cli(*base, "-o", run, "--resume").returncode == 0
    _assert_bitwise_equal(_weights(run), _weights(ref))


# ----------------------------------------------------------------------------- train unet


@pytest.fixture(scope="module")
def unet_setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("unet")
    cache = d / "cache"
    ref = d / "ref"
    proc = _cli("train", "unet", "--profile", "smoke", "-o", ref, "--ckpt-every", 2, cache=cache)
    assert proc.returncode == 0, proc.stderr
    return d, cache, ref


@pytest.mark.parametrize("crash, left_at", [("step:5", 4), ("write:checkpoint.pt#3", 4)])
def test_killed_train_unet_resumes_to_the_uninterrupted_weights(unet_setup, crash, left_at, capsys):
    d, cache, ref = unet_setup
    run = d / f"run-{left_at}-{crash[0]}"
    args = ("train", "unet", "--profile", "smoke", "-o", run, "--ckpt-every", 2)
    assert _cli(*args, crash=crash, cache=cache).returncode == KILLED
    assert trainer.read_checkpoint(run / trainer.CHECKPOINT)["step"] == left_at
    assert not (run / "denoiser.json").exists()
    from maqamgen import cli

    gen = ["generate", "unet", "--checkpoint", str(run), "--seconds", "1", "-o", str(run / "g.wav")]
    assert cli.main(gen) == 2
    assert "denoiser.json" in capsys.readouterr().err
    assert cli.main([*map(str, args), "--resume", "--force"]) == 2
    assert "give one" in capsys.readouterr().err
    assert cli.main(list(map(str, args))) == 2  # holds a run: --resume or --force
    assert "--force" in capsys.readouterr().err
    proc = _cli(*args, "--resume", cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert _no_temp_files(run) == []
    _assert_bitwise_equal(_weights(run), _weights(ref))


def test_train_unet_force_starts_afresh(unet_setup):
    d, cache, ref = unet_setup
    run = d / "forced"
    args = ("train", "unet", "--profile", "smoke", "-o", run, "--ckpt-every", 2)
    assert _cli(*args, crash="step:3", cache=cache).returncode == KILLED
    proc = _cli(*args, "--force", cache=cache)
    assert proc.returncode == 0, proc.stderr
    _assert_bitwise_equal(_weights(run), _weights(ref))


# ----------------------------------------------------------------------------- train.train itself

_SCRIPT = textwrap.dedent("""
    import sys, torch
    from maqamgen import train
    from maqamgen.config import TrainConfig
    torch.set_num_threads(1)
    out, resume = sys.argv[1], sys.argv[2] == "1"
    torch.manual_seed(0)
    data = torch.randn(37, 8)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))
    def loss_fn(m, x):  # uses the global RNG, as diffusion noise does
        return ((m(x + 0.1 * torch.randn_like(x)) - x) ** 2).mean()
    cfg = TrainConfig(steps=23, batch_size=5, lr=1e-2, ema_decay=0.9, ckpt_every=4, log_every=1,
                      warmup_steps=3, seed=7, progress=False, device="cpu")
    train.train(model, data, loss_fn, cfg, out, resume=resume)
""")


def _go(script: Path, out: Path, resume: bool = False, crash: str | None = None):
    env = {**os.environ}
    env.pop(runtime.CRASH_ENV, None)
    if crash:
        env[runtime.CRASH_ENV] = crash
    return subprocess.run([sys.executable, str(script), str(out), "1" if resume else "0"], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def loop_ref(tmp_path_factory):
    d = tmp_path_factory.mktemp("loop")
    (d / "t.py").write_text(_SCRIPT)
    p = _go(d / "t.py", d / "ref")
    assert p.returncode == 0, p.stderr
    return d / "t.py", d / "ref"


# step 10: mid-epoch, two steps after a checkpoint; checkpoint.pt#2: the step-8 checkpoint's temp
# file written, not renamed (resumes from step 4); losses.csv: before the first step (afresh)
@pytest.mark.parametrize("crash", ["step:10", "write:checkpoint.pt#2", "write:losses.csv"])
def test_train_loop_killed_anywhere_resumes_bitwise(loop_ref, tmp_path, crash):
    script, ref = loop_ref
    run = tmp_path / "run"
    assert _go(script, run, crash=crash).returncode == KILLED
    p = _go(script, run, resume=True)
    assert p.returncode == 0, p.stderr
    assert _no_temp_files(run) == []
    _assert_bitwise_equal(_weights(run), _weights(ref))
    assert (run / "losses.csv").read_text() == (ref / "losses.csv").read_text()


def test_a_partial_loss_row_is_skipped(tmp_path):
    (tmp_path / trainer.LOSSES).write_text("step,epoch,loss,lr,grad_norm\n1,0,0.5,0.01,1.0\n2,0,0.4")
    assert trainer.read_losses(tmp_path)["step"] == [1]


# ----------------------------------------------------------------------------- determinism, inputs


@pytest.mark.parametrize("kind, extra", [("unet", ["--steps", "2", "--maqam", "hijaz"]), ("lstm", [])])
def test_generate_is_deterministic_and_leaves_its_inputs_alone(kind, extra, lstm_setup, unet_setup, tmp_path):
    """Same checkpoint, seed and arguments: the same audio, bitwise; another seed: other audio;
    the checkpoint folder is byte-for-byte what it was."""
    from maqamgen import cli

    ref = (unet_setup if kind == "unet" else lstm_setup)[2]
    before = {p: p.read_bytes() for p in sorted(ref.rglob("*")) if p.is_file()}
    audio = []
    for i, seed in enumerate((5, 5, 6)):
        out = tmp_path / f"gen{i}.wav"
        rc = cli.main(["generate", kind, "--checkpoint", str(ref), "--seconds", "2", "--seed", str(seed),
                       *extra, "-o", str(out)])
        assert rc == 0
        audio.append(out.read_bytes())
    assert audio[0] == audio[1]
    assert audio[0] != audio[2]
    assert {p: p.read_bytes() for p in sorted(ref.rglob("*")) if p.is_file()} == before


def test_training_never_modifies_its_input_notes(lstm_setup, tmp_path):
    d, _, _ = lstm_setup
    notes, meta = synth.phrase("hijaz", seconds=1.0, seed=0)
    notes_io.write_notes(tmp_path / "same.json", notes, meta)
    assert (d / "in.json").read_bytes() == (tmp_path / "same.json").read_bytes()
