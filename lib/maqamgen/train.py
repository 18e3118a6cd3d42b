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

Files in ``out_dir``: ``checkpoint.pt`` (latest; written to a temp file, then ``os.replace``),
``losses.csv`` (``step,epoch,loss,lr,grad_norm``; appended every ``cfg.log_every`` steps),
``train_config.json``.

Used in: book/part1/04_unet_ddpm.md, 05_scaling_hallucination.md, 06_latent_diffusion.md,
book/part2/07_lstm_tokens.md, book/part3/08_dit.md.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from maqamgen.config import TrainConfig
from maqamgen.errors import ConfigError
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
    """Every global RNG state of this process (torch CPU and CUDA, numpy, python)."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
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

def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` ``state`` to ``path`` atomically (a crash leaves the previous checkpoint)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    runtime.atomic_write(path, buf.getvalue())


def _checkpoint_path(path_or_dir: str | Path) -> Path:
    p = Path(path_or_dir)
    return p / CHECKPOINT if p.is_dir() else p


def load_checkpoint(path_or_dir: str | Path, model: nn.Module | None = None, use_ema: bool = True,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`train`; optionally load its weights into ``model``.

    Args:
        path_or_dir: the ``checkpoint.pt`` file or the ``out_dir`` holding it.
        model: if given, receives the EMA weights (when ``use_ema`` and the run kept an EMA)
            or the raw weights.
        use_ema: prefer the EMA weights.
        map_location: where to put the tensors.

    Returns:
        The checkpoint dict (``step``, ``model``, ``ema``, ``config``, ...).

    Raises:
        ConfigError: no checkpoint there.
    """
    path = _checkpoint_path(path_or_dir)
    if not path.exists():
        raise ConfigError("no checkpoint here (train() writes checkpoint.pt)", path)
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    if model is not None:
        ema = ckpt.get("ema")
        model.load_state_dict(ema["shadow"] if (use_ema and ema) else ckpt["model"])
    return ckpt


def read_losses(out_dir: str | Path) -> dict[str, list[float]]:
    """The loss curve of a run: ``{"step": [...], "epoch": [...], "loss": [...], "lr": [...], "grad_norm": [...]}``."""
    path = Path(out_dir) / LOSSES
    cols: dict[str, list[float]] = {c: [] for c in LOSS_COLUMNS}
    if not path.exists():
        return cols
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for c in LOSS_COLUMNS:
                cols[c].append(int(row[c]) if c in ("step", "epoch") else float(row[c]))
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
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        _check_resume_config(ckpt["config"], cfg, ckpt_path)
    else:
        seed_everything(cfg.seed + info.rank)

    model.to(info.device)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
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
        if info.is_main:
            save_checkpoint(ckpt_path, {
                "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "ema": ema.state_dict() if ema else None,
                "rng": [e["rng"] for e in everyone], "loader_generator": [e["gen"] for e in everyone],
                "config": cfg.to_dict(), "world_size": info.world_size,
            })
        log.flush()

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
