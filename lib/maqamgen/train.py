"""The one training loop of the book: seeds, atomic checkpoints with exact resume, EMA, LR schedule,
gradient clipping, loss curves, a progress bar, and data-parallel training under ``torchrun``.

``train(model, data, loss_fn, cfg, out_dir)`` minimises ``loss_fn(model, batch)`` (a scalar) over
batches of ``data`` for ``cfg.steps`` optimizer steps. Every model of the book trains through it:
the diffusion U-Net with :class:`maqamgen.diffusion.DiffusionObjective`, the autoencoder, the LSTM
and the DiT with their own ``loss_fn``.

Reproducibility. The run is seeded (torch, numpy, python ``random``; ``cfg.seed + rank``), the data
order comes from a sampler seeded by ``cfg.seed`` and the epoch, and a checkpoint holds the model,
optimizer, LR scheduler, EMA, step, position in the epoch and every RNG state. ``resume=True``
continues from ``out_dir/checkpoint.pt`` to weights bit-identical (on CPU, ``num_workers=0``) to
those of an uninterrupted run.

Data parallel. Launched as ``torchrun --nproc_per_node N script.py``, the same call trains with
DistributedDataParallel (gloo on CPU, nccl on GPU): each process sees its share of every epoch
(a ``DistributedSampler``), gradients are averaged, and only rank 0 writes checkpoints and logs.
The global batch is ``N * cfg.batch_size``.

Checkpoints hold data, not code: tensors, state dicts and plain metadata only (RNG states as
tensors and numbers), checked on save and read back with ``torch.load(weights_only=True)``
(:func:`read_checkpoint`), so a checkpoint from anyone never runs code when loaded; a broken,
foreign or newer one fails with one :class:`~maqamgen.errors.CheckpointError` line naming the file.

Crash safety: a run killed at any point (SIGKILL included) leaves the previous complete
checkpoint; the temp file of a checkpoint being written is never read and is removed by the next
run in the folder; ``resume=True`` then continues to the same weights as an uninterrupted run
(tested in ``tests/test_crash_safety.py`` with :func:`maqamgen.runtime.crash_point`).

Files in ``out_dir``: ``checkpoint.pt`` (latest; written to a temp file, then ``os.replace``),
``losses.csv`` (``step,epoch,loss,lr,grad_norm``; appended every ``cfg.log_every`` steps),
``train_config.json``.

Used in: book/part1/04_unet_ddpm.md, 05_scaling_hallucination.md, book/part2/07_lstm_tokens.md.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from maqamgen.config import TrainConfig
from maqamgen.errors import CheckpointError, ConfigError
from maqamgen import runtime

CHECKPOINT = "checkpoint.pt"
LOSSES = "losses.csv"
LOSS_COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm")
# fields that may change between a run and its resumption without changing its results
_RESUMABLE_CHANGES = {"steps", "ckpt_every", "log_every", "progress", "device", "num_workers"}


# --------------------------------------------------------------------------------------------
# Seeds, devices, processes
# --------------------------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every global RNG state of this process (torch CPU and CUDA, numpy, python), as tensors and
    plain numbers only, so that a checkpoint holding it loads with ``torch.load(weights_only=True)``.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                        "gauss_next": None if gauss_next is None else float(gauss_next)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned (or the tuples of checkpoint format 1)."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    if isinstance(npst, dict):
        npst = (npst["name"], np.asarray(npst["keys"].numpy(), dtype=np.uint32), int(npst["pos"]),
                int(npst["has_gauss"]), float(npst["cached_gaussian"]))
    np.random.set_state(npst)
    pyst = state["python"]
    if isinstance(pyst, dict):
        pyst = (int(pyst["version"]), tuple(int(v) for v in pyst["state"].tolist()), pyst["gauss_next"])
    random.setstate(pyst)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, its device, and whether
    :func:`train` started the process group (and so must end it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE > 1``); pick the device.

    gloo on CPU, nccl on CUDA; each process uses ``cuda:LOCAL_RANK``. A single process gets
    ``DistInfo(rank=0, world_size=1)`` and no process group.
    """
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; known: auto, cpu, cuda")
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for but CUDA is not available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        dev = torch.device(device if device.startswith("cuda:") else ("cuda" if use_cuda else "cpu"))
        return DistInfo(device=dev)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    owns = False
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        owns = True
    dev = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                    device=dev, owns_group=owns)


def _to_device(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


# --------------------------------------------------------------------------------------------
# Data order
# --------------------------------------------------------------------------------------------

class ResumableDistributedSampler(DistributedSampler):
    """torch's ``DistributedSampler`` (same permutation for ``seed + epoch``, rank ``r`` takes
    every ``world_size``-th index) that can start part-way through an epoch.

    Attributes:
        start: how many of this rank's indices of the current epoch to skip (set on resume).
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, shuffle: bool, seed: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=False)
        self.start = 0

    def __iter__(self):
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return self.num_samples - self.start


class _TensorRows(Dataset):
    """A tensor seen as a dataset of its rows (batches are then plain tensors)."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def _loader_parts(data, cfg: TrainConfig) -> tuple[Dataset, dict]:
    """The dataset and the DataLoader options (collate_fn, pin_memory, ...) of ``data``."""
    if torch.is_tensor(data):
        return _TensorRows(data), {}
    if isinstance(data, DataLoader):
        if data.batch_size is None:
            raise ConfigError("train() needs a DataLoader with a batch_size (not a batch_sampler); "
                              "or pass the dataset itself")
        if data.batch_size != cfg.batch_size:
            raise ConfigError(f"the DataLoader's batch_size {data.batch_size} differs from "
                              f"TrainConfig.batch_size {cfg.batch_size}")
        return data.dataset, dict(collate_fn=data.collate_fn, pin_memory=data.pin_memory,
                                  worker_init_fn=data.worker_init_fn)
    if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
        raise ConfigError(f"train() needs a map-style Dataset, a DataLoader or a tensor, "
                          f"got {type(data).__name__}")
    return data, {}


# --------------------------------------------------------------------------------------------
# Optimizer, schedule, EMA
# --------------------------------------------------------------------------------------------

def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """``adam``, ``adamw`` or ``sgd`` (with momentum) as set in ``cfg``."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """LR multiplier after ``step`` optimizer steps: linear warm-up, then cosine decay (or constant).

    ``(step + 1) / warmup`` while warming up; then ``m + (1 - m) (1 + cos(pi p)) / 2`` with
    ``p`` the fraction of the remaining steps done and ``m = cfg.min_lr_ratio``.
    """
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return 1.0
    p = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))


class EMA:
    """Exponential moving average of a model's weights (and buffers): ``w_ema <- d w_ema + (1 - d) w``.

    The decay warms up as ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early
    averages are not dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step with the model's current weights."""
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v.detach(), 1.0 - d)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, model: nn.Module) -> nn.Module:
        """Load the averaged weights into ``model`` (returned)."""
        model.load_state_dict(self.shadow)
        return model

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay = state["decay"]
        self.num_updates = state["num_updates"]
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

CHECKPOINT_FORMAT = 2
"""Version of the checkpoint layout :func:`save_checkpoint` writes (key ``"format"``).

1: before the key existed (numpy's RNG state as an ndarray); 2: tensors and plain data only,
plus ``"model_class"``. :func:`load_checkpoint` reads both and refuses newer versions."""

_PLAIN_SCALARS = (str, int, float, bool, type(None))
_RESUME_KEYS = ("step", "epoch", "batch_in_epoch", "optimizer", "scheduler", "rng", "loader_generator",
                "config")


def _check_plain(obj: Any, where: str = "checkpoint") -> None:
    """Raise TypeError unless ``obj`` is tensors, numbers, strings, bools, None, and dicts (string
    or integer keys), lists and tuples of them: what ``torch.load(weights_only=True)`` reads back
    without running any code."""
    if isinstance(obj, _PLAIN_SCALARS) or torch.is_tensor(obj):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}, not a str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}; a checkpoint holds "
                    "only tensors and plain data (convert it, e.g. with dataclasses.asdict or "
                    "torch.from_numpy)")


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` ``state`` to ``path`` atomically (a crash leaves the previous checkpoint).

    ``state`` must hold only tensors and plain data (numbers, strings, bools, None, and lists,
    tuples and dicts of them), so that it loads with ``weights_only=True``; ``"format"`` is set to
    :data:`CHECKPOINT_FORMAT`.

    Raises:
        TypeError: ``state`` holds another object (a numpy array, a dataclass, a function, ...).
    """
    state = {**state, "format": CHECKPOINT_FORMAT}
    _check_plain(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    runtime.atomic_write(path, buf.getvalue())


def _checkpoint_path(path_or_dir: str | Path) -> Path:
    p = Path(path_or_dir)
    return p / CHECKPOINT if p.is_dir() else p


def _legacy_numpy_globals() -> list:
    """The numpy objects a format-1 checkpoint's RNG state needs (a uint32 ndarray); allowed only
    when the strict load names numpy's array reconstructor as the one thing it refused."""
    return [np._core.multiarray._reconstruct, np.ndarray, np.dtype, np.dtypes.UInt32DType]


def _short(e: BaseException) -> str:
    """One short line of an exception: for torch's weights-only unpickler, its own reason."""
    text = str(e).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"{type(e).__name__}: {line[:160]}" if line else type(e).__name__


def _refused_global(e: BaseException) -> str | None:
    """The global (function or class) the weights-only unpickler refused to import, if that was it."""
    import re

    m = (re.search(r"unsupported global: GLOBAL ([\w.]+)", str(e), re.IGNORECASE)
         or re.search(r"unsupported GLOBAL ([\w.]+)", str(e), re.IGNORECASE)
         or re.search(r"but got <class '([^']+)'>", str(e)))
    return m.group(1) if m else None


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint file with ``torch.load(weights_only=True)`` and check its layout.

    Only tensors and plain data are unpickled: a file whose pickle would import a function or
    build another object (which could run code) is refused before anything in it runs. Format-1
    checkpoints (older maqamgen; numpy's RNG state as an ndarray) are read with numpy's uint32
    arrays allowed, still under ``weights_only=True``.

    Args:
        path: the ``.pt`` file.
        map_location: where to put the tensors.

    Returns:
        The checkpoint dict.

    Raises:
        CheckpointError: missing, unreadable, truncated or corrupt file, a file holding code, not
            a maqamgen checkpoint, or a format newer than :data:`CHECKPOINT_FORMAT`; one line
            naming the file.
    """
    import pickle

    path = Path(path)
    if not path.exists():
        raise CheckpointError("no checkpoint here (train() writes checkpoint.pt)", path)
    if path.is_dir():
        raise CheckpointError("is a folder, not a checkpoint file", path)
    extra: list = []
    while True:
        try:
            with torch.serialization.safe_globals(extra), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": not for users
                ckpt = torch.load(path, map_location=map_location, weights_only=True)
            break
        except pickle.UnpicklingError as e:
            name = _refused_global(e)
            if not extra and name and name.startswith("numpy"):
                extra = _legacy_numpy_globals()
                continue
            if name:
                raise CheckpointError(f"refused to load: its pickle asks for {name}, so it holds code or "
                                      "objects, not only weights and data (it may be malicious; "
                                      "maqamgen loads checkpoints with weights_only=True)", path) from None
            raise CheckpointError(f"not a readable checkpoint: corrupt, truncated or another kind of file "
                                  f"({_short(e)})", path) from None
        except OSError as e:
            raise CheckpointError(f"cannot read the checkpoint ({e.strerror or _short(e)})", path) from None
        except MemoryError:
            raise CheckpointError("not a readable checkpoint (it asks for more memory than there is)",
                                  path) from None
        except Exception as e:  # truncated zip, random bytes, wrong storage sizes, ...
            raise CheckpointError(f"not a readable checkpoint: corrupt, truncated or another kind of file "
                                  f"({_short(e)})", path) from None
    _check_layout(ckpt, path)
    return ckpt


def _check_layout(ckpt: Any, path: Path) -> None:
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"not a maqamgen checkpoint (it holds a {type(ckpt).__name__}, not a dict "
                              "with model weights)", path)
    fmt = ckpt.get("format", 1)
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise CheckpointError(f"not a maqamgen checkpoint (format {fmt!r})", path)
    if fmt > CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint format {fmt} is newer than this maqamgen reads "
                              f"(1..{CHECKPOINT_FORMAT}); upgrade maqamgen or retrain", path)
    weights = ckpt.get("model")
    if not isinstance(weights, dict) or not weights:
        keys = ", ".join(sorted(map(str, ckpt))[:8]) or "none"
        raise CheckpointError(f"not a maqamgen checkpoint (no model weights; keys: {keys})", path)
    for k, v in weights.items():
        if not isinstance(k, str) or not torch.is_tensor(v):
            raise CheckpointError(f"not a maqamgen checkpoint (model entry {k!r} is not a tensor)", path)
    ema = ckpt.get("ema")
    if ema is not None and not (isinstance(ema, dict) and isinstance(ema.get("shadow"), dict)):
        raise CheckpointError("corrupt checkpoint (its EMA has no weights)", path)


def _load_weights(model: nn.Module, weights: dict, ckpt: dict, path: Path) -> None:
    """``model.load_state_dict(weights)``, with a one-line error when they belong to another model."""
    saved, want = ckpt.get("model_class"), type(model).__name__
    if saved is not None and saved != want:
        raise CheckpointError(f"is a checkpoint of a {saved} model, not of a {want}", path)
    mine = model.state_dict()
    missing = [k for k in mine if k not in weights]
    unexpected = [k for k in weights if k not in mine]
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in mine.items()
             if k in weights and torch.is_tensor(weights[k]) and weights[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if items:
                parts.append(f"{len(items)} {label} (" + ", ".join(items[:3])
                             + (", ..." if len(items) > 3 else "") + ")")
        raise CheckpointError(f"its weights do not fit this {want}: " + "; ".join(parts)
                              + " -- a checkpoint of another model or size", path)
    try:
        model.load_state_dict(weights)
    except (RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"its weights do not fit this {want} ({_short(e)})", path) from None


def load_checkpoint(path_or_dir: str | Path, model: nn.Module | None = None, use_ema: bool = True,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`train`; optionally load its weights into ``model``.

    The file is read with ``torch.load(weights_only=True)`` (:func:`read_checkpoint`): a
    checkpoint never runs code.

    Args:
        path_or_dir: the ``checkpoint.pt`` file or the ``out_dir`` holding it.
        model: if given, receives the EMA weights (when ``use_ema`` and the run kept an EMA)
            or the raw weights.
        use_ema: prefer the EMA weights.
        map_location: where to put the tensors.

    Returns:
        The checkpoint dict (``step``, ``model``, ``ema``, ``config``, ``format``, ...).

    Raises:
        CheckpointError (a ConfigError): no checkpoint there, an unreadable, truncated, corrupt
            or code-holding file, an unknown format version, or weights of another model.
    """
    path = _checkpoint_path(path_or_dir)
    ckpt = read_checkpoint(path, map_location=map_location)
    if model is not None:
        ema = ckpt.get("ema")
        _load_weights(model, ema["shadow"] if (use_ema and ema) else ckpt["model"], ckpt, path)
    return ckpt


def read_losses(out_dir: str | Path) -> dict[str, list[float]]:
    """The loss curve of a run: ``{"step": [...], "epoch": [...], "loss": [...], "lr": [...], "grad_norm": [...]}``."""
    path = Path(out_dir) / LOSSES
    cols: dict[str, list[float]] = {c: [] for c in LOSS_COLUMNS}
    if not path.exists():
        return cols
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:  # a run killed mid-append leaves a partial last row: skipped
                vals = [int(row[c]) if c in ("step", "epoch") else float(row[c]) for c in LOSS_COLUMNS]
            except (TypeError, ValueError, KeyError):
                continue
            for c, v in zip(LOSS_COLUMNS, vals):
                cols[c].append(v)
    return cols


class _LossLog:
    """``losses.csv``: rows buffered in memory and appended in one write; truncated on resume."""

    def __init__(self, out_dir: Path, enabled: bool, resume_step: int | None):
        self.path = out_dir / LOSSES
        self.enabled = enabled
        self.pending: list[tuple] = []
        if not enabled:
            return
        header = ",".join(LOSS_COLUMNS) + "\n"
        if resume_step is None:
            runtime.atomic_write(self.path, header.encode())
            return
        old = read_losses(out_dir)  # keep what the checkpoint has seen, drop steps after it
        rows = [header] + [
            _csv_row(tuple(old[c][i] for c in LOSS_COLUMNS))
            for i in range(len(old["step"])) if old["step"][i] <= resume_step]
        runtime.atomic_write(self.path, "".join(rows).encode())

    def add(self, row: tuple) -> None:
        if self.enabled:
            self.pending.append(row)

    def flush(self) -> None:
        if self.enabled and self.pending:
            with open(self.path, "a") as f:
                f.write("".join(_csv_row(r) for r in self.pending))
            self.pending = []


def _csv_row(row: tuple) -> str:
    step, epoch, loss, lr, gn = row
    return f"{int(step)},{int(epoch)},{loss:.8g},{lr:.8g},{gn:.8g}\n"


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------

@dataclass
class TrainState:
    """What a callback sees after each optimizer step (on every rank).

    Attributes:
        step: optimizer steps done so far.
        epoch: current epoch (0-based).
        loss: this step's loss (averaged over ranks).
        lr: learning rate used for this step.
        grad_norm: global gradient norm before clipping.
        model: the model (unwrapped from DDP).
        optimizer: the optimizer.
        ema: the EMA or None.
        out_dir: the run's folder.
        rank: this process's rank.
    """

    step: int
    epoch: int
    loss: float
    lr: float
    grad_norm: float
    model: nn.Module
    optimizer: torch.optim.Optimizer
    ema: EMA | None
    out_dir: Path
    rank: int = 0


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained model (raw weights, on the training device, unwrapped from DDP).
        ema: the weight average, or None.
        step: optimizer steps done in all (including before a resume).
        losses: this call's ``(step, loss)`` pairs.
        checkpoint: path of the last checkpoint.
        seconds: wall time of this call.
    """

    model: nn.Module
    ema: EMA | None
    step: int
    losses: list[tuple[int, float]]
    checkpoint: Path
    seconds: float

    def ema_model(self) -> nn.Module:
        """A copy of the model holding the EMA weights (the model itself when there is no EMA)."""
        return self.model if self.ema is None else self.ema.copy_to(copy.deepcopy(self.model))


def _progress_enabled(cfg: TrainConfig, info: DistInfo) -> bool:
    return (cfg.progress and info.is_main and os.environ.get("TQDM_DISABLE", "") not in ("1", "true", "True")
            and sys.stderr.isatty())


def _check_resume_config(saved: dict, cfg: TrainConfig, path: Path) -> None:
    now = cfg.to_dict()
    diffs = [f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in now
             if k not in _RESUMABLE_CHANGES and _jsonable(saved.get(k)) != _jsonable(now[k])]
    if diffs:
        raise ConfigError("cannot resume with a different training config (" + "; ".join(diffs)
                          + "); use another out_dir or resume=False", path)


def _jsonable(v):
    return json.loads(json.dumps(v))


def train(model: nn.Module, data, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
          cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
          callbacks: Sequence[Callable[[TrainState], Any]] | None = None,
          stop_at: int | None = None) -> TrainResult:
    """Train ``model`` to minimise ``loss_fn(model, batch)`` for ``cfg.steps`` optimizer steps.

    Args:
        model: the network (moved to the training device; wrapped in DDP under torchrun).
        data: a map-style Dataset, a DataLoader (its dataset, collate_fn and pin_memory are used
            with this function's seeded sampler; its batch_size must equal ``cfg.batch_size``), or a
            tensor whose rows are the samples.
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``; the batch is already on the device.
            It may use the global torch RNG (e.g. diffusion noise): that RNG is seeded and
            checkpointed.
        cfg: the :class:`~maqamgen.config.TrainConfig`.
        out_dir: folder for ``checkpoint.pt``, ``losses.csv``, ``train_config.json`` (created).
        resume: continue from ``out_dir/checkpoint.pt`` if there is one (else start afresh).
            ``resume=False`` starts afresh and overwrites the folder's checkpoint and losses.
        callbacks: called with a :class:`TrainState` after every step (after any checkpoint);
            an exception stops training (the last checkpoint stays). Under torchrun a callback
            runs on every rank and must raise on all of them or none (else the others wait).
        stop_at: pause after this many total steps (checkpoint written); ``resume=True`` continues.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError: bad data or config, or resuming with a different config.
        FloatingPointError: the loss became NaN or infinite.
    """
    t_start = time.time()
    info = setup_distributed(cfg.device)
    out_dir = Path(out_dir)
    try:
        if info.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
        if info.world_size > 1:
            dist.barrier()
        return _train(model, data, loss_fn, cfg, out_dir, resume, list(callbacks or []),
                      stop_at, info, t_start)
    finally:
        if info.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _train(model, data, loss_fn, cfg, out_dir, resume, callbacks, stop_at, info, t_start):
    ckpt_path = out_dir / CHECKPOINT
    ckpt = None
    if info.is_main:  # a run killed mid-write left a temp file: never read, only removed
        for name in (CHECKPOINT, LOSSES, "train_config.json"):
            runtime.remove_stale_temps(out_dir / name)
    if resume and ckpt_path.exists():
        ckpt = read_checkpoint(ckpt_path)
        lacking = [k for k in _RESUME_KEYS if k not in ckpt]
        if lacking:
            raise CheckpointError(f"cannot resume from it: it lacks {', '.join(lacking)}", ckpt_path)
        if not isinstance(ckpt["config"], dict):
            raise CheckpointError("cannot resume from it: its training config is not a dict", ckpt_path)
        _check_resume_config(ckpt["config"], cfg, ckpt_path)
    else:
        seed_everything(cfg.seed + info.rank)

    model.to(info.device)
    if ckpt is not None:
        _load_weights(model, ckpt["model"], ckpt, ckpt_path)
    net = model
    if info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[info.local_rank] if info.device.type == "cuda" else None)
    optimizer = make_optimizer(model.parameters(), cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None

    dataset, loader_kw = _loader_parts(data, cfg)
    sampler = ResumableDistributedSampler(dataset, info.world_size, info.rank, cfg.shuffle, cfg.seed)
    per_epoch = (sampler.num_samples // cfg.batch_size if cfg.drop_last
                 else math.ceil(sampler.num_samples / cfg.batch_size))
    if per_epoch < 1:
        raise ConfigError(f"{len(dataset)} samples give no batch of {cfg.batch_size} per process "
                          f"(world size {info.world_size}); lower batch_size or set drop_last=False")
    generator = torch.Generator()
    generator.manual_seed(cfg.seed + info.rank)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=cfg.drop_last,
                        num_workers=cfg.num_workers, generator=generator,
                        persistent_workers=False, **loader_kw)

    step, epoch, batch_in_epoch = 0, 0, 0
    epoch_gen_state = generator.get_state()
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ema is not None and ckpt.get("ema"):
            ema.load_state_dict(ckpt["ema"])
        step, epoch, batch_in_epoch = ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"]
        same_world = ckpt.get("world_size") == info.world_size
        if same_world:
            set_rng_state(ckpt["rng"][info.rank])
            epoch_gen_state = ckpt["loader_generator"][info.rank]
        else:  # a different number of processes cannot replay the same run: reseed, keep going
            seed_everything(cfg.seed + info.rank + step)
            batch_in_epoch = 0
    if info.is_main:
        runtime.atomic_write(out_dir / "train_config.json",
                           json.dumps(cfg.to_dict(), indent=2).encode())
    log = _LossLog(out_dir, info.is_main, step if ckpt is not None else None)

    def checkpoint() -> None:
        gen_state = generator.get_state() if batch_in_epoch == 0 else epoch_gen_state
        mine = {"rng": rng_state(), "gen": gen_state}
        if info.world_size > 1:
            everyone = [None] * info.world_size
            dist.all_gather_object(everyone, mine)
        else:
            everyone = [mine]
        log.flush()  # rows first: a crash between the two leaves rows the resume truncates
        if info.is_main:
            save_checkpoint(ckpt_path, {
                "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "ema": ema.state_dict() if ema else None,
                "rng": [e["rng"] for e in everyone], "loader_generator": [e["gen"] for e in everyone],
                "config": cfg.to_dict(), "world_size": info.world_size,
                "model_class": type(model).__name__,
            })

    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    losses: list[tuple[int, float]] = []
    bar = None
    if _progress_enabled(cfg, info):
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="train", dynamic_ncols=True)
    net.train()
    try:
        while step < end:
            sampler.set_epoch(epoch)
            sampler.start = batch_in_epoch * cfg.batch_size
            generator.set_state(epoch_gen_state)
            for batch in loader:
                batch = _to_device(batch, info.device)
                loss = loss_fn(net, batch)
                lr = optimizer.param_groups[0]["lr"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
                optimizer.step()
                scheduler.step()
                if ema is not None:
                    ema.update(model)
                step += 1
                batch_in_epoch += 1
                loss_value = loss.detach()
                if info.world_size > 1:
                    dist.all_reduce(loss_value)
                    loss_value /= info.world_size
                loss_value = float(loss_value)
                if not math.isfinite(loss_value):
                    raise FloatingPointError(f"loss is {loss_value} at step {step}; "
                                             f"the last checkpoint is {ckpt_path}")
                if batch_in_epoch == per_epoch:
                    epoch, batch_in_epoch = epoch + 1, 0
                losses.append((step, loss_value))
                log.add((step, epoch, loss_value, lr, float(grad_norm)))
                if bar is not None:
                    bar.update(1)
                    if step % cfg.log_every == 0:
                        bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{lr:.2g}")
                if step % cfg.ckpt_every == 0 or step == end:
                    checkpoint()
                elif step % cfg.log_every == 0:
                    log.flush()
                runtime.crash_point(f"step:{step}")  # tests: SIGKILL here (MAQAMGEN_CRASH_AT)
                state = TrainState(step, epoch, loss_value, lr, float(grad_norm), model, optimizer,
                                   ema, out_dir, info.rank)
                for cb in callbacks:
                    cb(state)
                if step >= end or batch_in_epoch == 0:
                    break
            # the next epoch's iterator draws from the generator where this one left it
            epoch_gen_state = generator.get_state()
    finally:
        if bar is not None:
            bar.close()
        log.flush()
    return TrainResult(model=model, ema=ema, step=step, losses=losses, checkpoint=ckpt_path,
                       seconds=time.time() - t_start)
