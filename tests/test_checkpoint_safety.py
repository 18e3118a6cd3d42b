"""Checkpoints hold data, not code (issue 10, item 1).

A checkpoint whose pickle would run code is refused by every loading path (the training
loop's resume, ``train.load_checkpoint``, ``diffusion.run.load_denoiser``, the LSTM's
``load_run``, and ``maqamgen generate/train ... --checkpoint``) with one line naming the file,
before anything in it runs. A truncated, random, empty or foreign file, a checkpoint of another
model and one of a newer format version get one line naming the file and what is wrong (exit 2
from the CLI), never a torch traceback. Checkpoints of format 1 (numpy RNG state) still load
and resume exactly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from maqamgen import cli
from maqamgen import notes as notes_io
from maqamgen import synth
from maqamgen import train as T
from maqamgen.config import FeatureConfig, TrainConfig
from maqamgen.diffusion import run as drun
from maqamgen.errors import CheckpointError, ConfigError, MaqamgenError
from maqamgen.recipes import ch07_lstm_tokens as ch07

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------- crafted files


class RunsShell:
    """Unpickling this runs ``touch MARKER`` (``os.system``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class RunsPython:
    """Unpickling this runs python that writes MARKER (``builtins.exec`` + ``pathlib``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('pwned')",))


class WritesFile:
    """Unpickling this calls ``pathlib.Path.write_text`` directly."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


PAYLOADS = [RunsShell, RunsPython, WritesFile]


def write_evil(path: Path, payload, marker: Path, weights: dict | None = None) -> Path:
    """A checkpoint that looks right (format 2, model weights) with a payload in its config."""
    torch.save({"format": 2, "step": 1, "model": weights or {"w": torch.zeros(2)}, "ema": None,
                "config": {"lr": 0.1, "note": payload(marker)}}, path)
    return path


def one_error_line(capsys, rc: int, path: Path) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("maqamgen: error: "), err
    assert str(path) in lines[0], err
    assert "Traceback" not in err
    return lines[0]


# ----------------------------------------------------------------------------- run folders


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))


def unet_folder(folder: Path) -> Path:
    """A loadable ``maqamgen train unet`` folder: denoiser.json + an untrained tiny U-Net checkpoint."""
    fields = {f.name for f in dataclasses.fields(drun.DenoiserSpec)}
    spec = drun.DenoiserSpec(**{k: v for k, v in {"preset": "tiny", "T": 50}.items() if k in fields})
    maqamat = ["rast", "hijaz"]
    folder.mkdir(parents=True, exist_ok=True)
    rec = {"version": drun.RUN_VERSION, "spec": spec.to_dict(), "steps_done": 1, "seconds": 0.0,
           "maqamat": maqamat, "normalizer": {"top_db": 40.0, "range_db": 80.0},
           "features": dataclasses.asdict(FeatureConfig()), "sr": 22050, "n_train": 1,
           "in_channels": 1, "data": "test"}
    (folder / drun.RECORD).write_text(json.dumps(rec))
    model = spec.build(len(maqamat), 1)
    T.save_checkpoint(folder / T.CHECKPOINT, {"step": 1, "model": model.state_dict(), "ema": None,
                                              "model_class": type(model).__name__})
    return folder


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory) -> Path:
    """A real ``maqamgen train lstm`` run (smoke profile, 2 steps, about 2 s)."""
    base = tmp_path_factory.mktemp("lstm")
    notes, meta = synth.performance(20, 60, seed=1)
    src = notes_io.write_notes(base / "piece.json", notes, meta)
    out = base / "run"
    rc = cli.main(["train", "lstm", "--notes", str(src), "--profile", "smoke", "--steps", "2",
                   "--seconds", "1", "-o", str(out)])
    assert rc == 0 and (out / "checkpoint.pt").exists() and (out / "run.json").exists()
    return out


@pytest.fixture
def lstm_copy(lstm_run, tmp_path) -> Path:
    dst = tmp_path / "lstm_run"
    shutil.copytree(lstm_run, dst)
    return dst


# ----------------------------------------------------------------------------- the payloads are real


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_crafted_checkpoints_really_run_code_when_unpickled_unsafely(tmp_path, payload):
    """The control: without weights_only each crafted file writes its marker."""
    marker = tmp_path / "MARKER"
    path = write_evil(tmp_path / "evil.pt", payload, marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


# ----------------------------------------------------------------------------- every loading path refuses


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_load_checkpoint_refuses_code(tmp_path, payload):
    marker = tmp_path / "MARKER"
    path = write_evil(tmp_path / "checkpoint.pt", payload, marker)
    for target, model in ((path, None), (tmp_path, None), (tmp_path, tiny_model())):
        with pytest.raises(CheckpointError) as ei:
            T.load_checkpoint(target, model)
        msg = str(ei.value)
        assert msg.startswith(f"{path}: refused to load") and "\n" not in msg, msg
        assert "weights_only" in msg
    assert not marker.exists()


def test_resume_refuses_code(tmp_path):
    marker = tmp_path / "MARKER"
    write_evil(tmp_path / "checkpoint.pt", RunsShell, marker)
    cfg = TrainConfig(steps=3, batch_size=4, progress=False)
    with pytest.raises(CheckpointError, match="refused to load"):
        T.train(tiny_model(), torch.randn(8, 3), lambda m, b: m(b).pow(2).mean(), cfg, tmp_path,
                resume=True)
    assert not marker.exists()


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_load_denoiser_refuses_code(tmp_path, payload):
    folder = unet_folder(tmp_path / "unet")
    assert drun.load_denoiser(folder).model is not None  # the folder is valid as written
    marker = tmp_path / "MARKER"
    write_evil(folder / T.CHECKPOINT, payload, marker)
    with pytest.raises(CheckpointError, match="refused to load") as ei:
        drun.load_denoiser(folder)
    assert str(folder / T.CHECKPOINT) in str(ei.value)
    assert not marker.exists()


def test_lstm_load_run_refuses_code(lstm_copy, tmp_path):
    assert ch07.load_run(lstm_copy).model is not None
    marker = tmp_path / "MARKER"
    write_evil(lstm_copy / T.CHECKPOINT, RunsPython, marker)
    with pytest.raises(CheckpointError, match="refused to load"):
        ch07.load_run(lstm_copy)
    assert not marker.exists()


@pytest.mark.parametrize("model", ["unet", "lstm"])
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_cli_generate_refuses_code_with_one_line_and_exit_2(tmp_path, capsys, lstm_run, model, payload):
    if model == "unet":
        folder = unet_folder(tmp_path / "run")
        out, extra = tmp_path / "out.wav", ["--seconds", "1"]
    else:
        folder = tmp_path / "run"
        shutil.copytree(lstm_run, folder)
        out, extra = tmp_path / "out.json", ["--seconds", "1"]
    marker = tmp_path / "MARKER"
    write_evil(folder / T.CHECKPOINT, payload, marker)
    rc = cli.main(["generate", model, "--checkpoint", str(folder), "-o", str(out), *extra])
    line = one_error_line(capsys, rc, folder / T.CHECKPOINT)
    assert "refused to load" in line
    assert not marker.exists() and not out.exists()


def test_cli_train_lstm_resume_refuses_code(tmp_path, capsys, lstm_run):
    folder = tmp_path / "run"
    shutil.copytree(lstm_run, folder)
    marker = tmp_path / "MARKER"
    write_evil(folder / T.CHECKPOINT, RunsShell, marker)
    notes = tmp_path / "piece.json"
    shutil.copy(lstm_run.parent / "piece.json", notes)
    rc = cli.main(["train", "lstm", "--notes", str(notes), "--profile", "smoke", "--steps", "2",
                   "--seconds", "1", "-o", str(folder), "--resume"])
    assert "refused to load" in one_error_line(capsys, rc, folder / T.CHECKPOINT)
    assert not marker.exists()


# ----------------------------------------------------------------------------- broken and foreign files


def _valid_bytes(tmp_path) -> bytes:
    res = T.train(tiny_model(), torch.randn(8, 3), lambda m, b: m(b).pow(2).mean(),
                  TrainConfig(steps=2, batch_size=4, progress=False, ema_decay=0.9), tmp_path / "ok")
    return res.checkpoint.read_bytes()


BROKEN = {
    "truncated": (lambda ok: ok[: len(ok) // 2], "not a readable checkpoint"),
    "truncated_header": (lambda ok: ok[:40], "not a readable checkpoint"),
    "random_bytes": (lambda ok: np.random.default_rng(0).bytes(4096), "not a readable checkpoint"),
    "empty": (lambda ok: b"", "not a readable checkpoint"),
    "json": (lambda ok: b'{"model": {}}', "not a readable checkpoint"),
    "flipped_bytes": (lambda ok: ok[:200] + bytes(b ^ 0xFF for b in ok[200:600]) + ok[600:],
                      "not a readable checkpoint"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_files_give_one_line(tmp_path, capsys, kind):
    make, problem = BROKEN[kind]
    folder = unet_folder(tmp_path / "unet")
    ok = (folder / T.CHECKPOINT).read_bytes()
    (folder / T.CHECKPOINT).write_bytes(make(ok))
    with pytest.raises(CheckpointError) as ei:
        T.load_checkpoint(folder)
    msg = str(ei.value)
    assert msg.startswith(f"{folder / T.CHECKPOINT}: ") and "\n" not in msg and len(msg) < 400, msg
    assert problem in msg or "not a maqamgen checkpoint" in msg, msg
    rc = cli.main(["generate", "unet", "--checkpoint", str(folder), "--seconds", "1",
                   "-o", str(tmp_path / "out.wav")])
    one_error_line(capsys, rc, folder / T.CHECKPOINT)
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("content, problem", [
    (torch.zeros(3), "not a maqamgen checkpoint (it holds a Tensor"),
    ({"weights": {"w": torch.zeros(1)}}, "no model weights"),
    ({"model": {"w": 3}}, "is not a tensor"),
    ({"model": {"w": torch.zeros(1)}, "ema": {"decay": 0.9}}, "EMA has no weights"),
    ({"format": 99, "model": {"w": torch.zeros(1)}}, "format 99 is newer"),
    ({"format": "2", "model": {"w": torch.zeros(1)}}, "not a maqamgen checkpoint (format '2')"),
])
def test_foreign_or_newer_checkpoints_are_named(tmp_path, content, problem):
    path = tmp_path / "checkpoint.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=None) as ei:
        T.load_checkpoint(path)
    assert str(ei.value).startswith(f"{path}: ") and problem in str(ei.value), str(ei.value)


def test_newer_version_through_the_cli(tmp_path, capsys):
    folder = unet_folder(tmp_path / "unet")
    ck = torch.load(folder / T.CHECKPOINT, weights_only=True)
    torch.save({**ck, "format": T.CHECKPOINT_FORMAT + 1}, folder / T.CHECKPOINT)
    rc = cli.main(["generate", "unet", "--checkpoint", str(folder), "--seconds", "1",
                   "-o", str(tmp_path / "out.wav")])
    assert "is newer than this maqamgen reads" in one_error_line(capsys, rc, folder / T.CHECKPOINT)


def test_checkpoint_of_another_model_kind(tmp_path, capsys, lstm_run):
    # an LSTM run given to generate unet: not a U-Net folder
    rc = cli.main(["generate", "unet", "--checkpoint", str(lstm_run), "--seconds", "1",
                   "-o", str(tmp_path / "out.wav")])
    assert "not a trained diffusion-model folder" in one_error_line(capsys, rc, lstm_run)
    # an LSTM checkpoint dropped into a U-Net folder
    folder = unet_folder(tmp_path / "unet")
    shutil.copy(lstm_run / T.CHECKPOINT, folder / T.CHECKPOINT)
    rc = cli.main(["generate", "unet", "--checkpoint", str(folder), "--seconds", "1",
                   "-o", str(tmp_path / "out.wav")])
    line = one_error_line(capsys, rc, folder / T.CHECKPOINT)
    assert "is a checkpoint of a LSTMLM model, not of a UNet" in line, line
    # a U-Net checkpoint dropped into an LSTM run folder
    run = tmp_path / "lstm"
    shutil.copytree(lstm_run, run)
    shutil.copy(unet_folder(tmp_path / "unet2") / T.CHECKPOINT, run / T.CHECKPOINT)
    rc = cli.main(["generate", "lstm", "--checkpoint", str(run), "--seconds", "1",
                   "-o", str(tmp_path / "out.json")])
    assert "not of a LSTMLM" in one_error_line(capsys, rc, run / T.CHECKPOINT)
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "out.wav").exists()


def test_weights_of_another_size_are_named(tmp_path):
    path = tmp_path / "checkpoint.pt"
    T.save_checkpoint(path, {"model": nn.Linear(3, 5).state_dict()})  # format 2 without a class
    with pytest.raises(CheckpointError, match=r"do not fit this Linear: 2 wrong shape \(weight \(5, 3\) vs \(4, 3\)"):
        T.load_checkpoint(path, nn.Linear(3, 4))
    with pytest.raises(CheckpointError, match=r"2 missing \(0.weight, 0.bias\); 2 unexpected"):
        T.load_checkpoint(path, nn.Sequential(nn.Linear(3, 5)))


def test_missing_checkpoint_is_still_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint here"):
        T.load_checkpoint(tmp_path)
    assert issubclass(CheckpointError, ConfigError) and issubclass(CheckpointError, MaqamgenError)


# ----------------------------------------------------------------------------- what is written


def _walk(obj, where="ckpt"):
    if torch.is_tensor(obj) or isinstance(obj, (str, int, float, bool, type(None))):
        return
    assert isinstance(obj, (dict, list, tuple)), f"{where} is a {type(obj)}"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for k, v in items:
        _walk(v, f"{where}[{k!r}]")


def test_written_checkpoints_are_tensors_and_plain_data(tmp_path):
    res = T.train(tiny_model(), torch.randn(8, 3), lambda m, b: m(b).pow(2).mean(),
                  TrainConfig(steps=3, batch_size=4, progress=False, ema_decay=0.9), tmp_path)
    ck = torch.load(res.checkpoint, weights_only=True)  # torch's own strict loader, no allowlist
    assert ck["format"] == T.CHECKPOINT_FORMAT and ck["model_class"] == "Sequential"
    _walk(ck)
    assert isinstance(ck["rng"][0]["numpy"]["keys"], torch.Tensor)
    with pytest.raises(TypeError, match="holds only tensors and plain data"):
        T.save_checkpoint(tmp_path / "x.pt", {"model": {}, "rng": np.random.get_state()})
    assert not (tmp_path / "x.pt").exists()


def _to_format_1(ck: dict) -> dict:
    """What maqamgen wrote before format 2: numpy's RNG state as a tuple holding an ndarray."""
    old = {k: v for k, v in ck.items() if k not in ("format", "model_class")}
    rngs = []
    for r in ck["rng"]:
        n, p = r["numpy"], r["python"]
        rngs.append({"torch": r["torch"],
                     "numpy": (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                               n["cached_gaussian"]),
                     "python": (p["version"], tuple(p["state"].tolist()), p["gauss_next"])})
    old["rng"] = rngs
    return old


class Jitter(torch.utils.data.Dataset):
    """Draws from numpy's and python's global RNGs, so a resume must restore them exactly."""

    def __init__(self):
        self.x = torch.randn(24, 3, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        import random

        return self.x[i] + float(np.random.randn()) * 0.01 + random.random() * 0.01


def test_format_1_checkpoints_still_load_and_resume_exactly(tmp_path):
    cfg = TrainConfig(steps=12, batch_size=4, lr=1e-2, progress=False, ema_decay=0.9, ckpt_every=5)
    loss = lambda m, b: (m(b) - b.sum(1, keepdim=True)).pow(2).mean()  # noqa: E731
    ref = T.train(tiny_model(), Jitter(), loss, cfg, tmp_path / "a")
    T.train(tiny_model(), Jitter(), loss, cfg, tmp_path / "b", stop_at=7)
    ck = torch.load(tmp_path / "b" / T.CHECKPOINT, weights_only=True)
    torch.save(_to_format_1(ck), tmp_path / "b" / T.CHECKPOINT)
    with pytest.raises(Exception):
        torch.load(tmp_path / "b" / T.CHECKPOINT, weights_only=True)  # needs the numpy allowlist
    assert T.load_checkpoint(tmp_path / "b").get("format", 1) == 1
    res = T.train(tiny_model(), Jitter(), loss, cfg, tmp_path / "b", resume=True)
    assert res.step == 12
    for k, v in ref.model.state_dict().items():
        assert torch.equal(v, res.model.state_dict()[k]), k
    assert T.load_checkpoint(tmp_path / "b")["format"] == T.CHECKPOINT_FORMAT  # rewritten as format 2


def test_format_1_with_code_is_still_refused(tmp_path):
    """The numpy allowlist of format 1 lets nothing else through."""
    marker = tmp_path / "MARKER"
    torch.save({"step": 1, "model": {"w": torch.zeros(1)},
                "rng": [{"numpy": ("MT19937", np.zeros(624, np.uint32), 0, 0, 0.0)}],
                "evil": RunsShell(marker)}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="refused to load: its pickle asks for posix.system"):
        T.load_checkpoint(tmp_path)
    torch.save({"step": 1, "model": {"w": torch.zeros(1)},
                "x": np.zeros(2, dtype=object)}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="refused to load"):
        T.load_checkpoint(tmp_path)
    assert not marker.exists()
