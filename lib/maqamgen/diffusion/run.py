"""Train, cache, load and sample any denoiser network built from a preset name.

* :class:`DenoiserSpec` -- one model: network kind and preset, noise schedule, target, loss,
  optimizer, steps.
* :func:`train_denoiser` -- trains it with :func:`maqamgen.train.train` and
  :class:`maqamgen.diffusion.DiffusionObjective` (classifier-free guidance: the label is dropped
  with probability ``p_uncond``), cached under ``data/cache/ddpm/<hash of spec and data>``.
* :func:`load_denoiser` -- a run folder back into a :class:`Trained`.
* :func:`sample` -- DDIM or DDPM samples of given labels, with guidance.
* :func:`step_flops` -- the operations of one training step: compute that, unlike wall time, is
  the same on every machine and every day.

The data is a :class:`maqamgen.features.PatchSet` (normalised log-mel patches today; latent
grids next): ``x`` ``(N, C, H, W)``, ``labels``, ``maqamat`` and the features it came from.

Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md (and the CLI:
``maqamgen train unet``, ``generate unet``)
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from maqamgen import features, nets, runtime
from maqamgen import train as trainer
from maqamgen.config import FeatureConfig, TrainConfig
from maqamgen.diffusion import core as diffusion
from maqamgen.errors import ConfigError
from maqamgen.runtime import cache_dir

RECORD = "denoiser.json"
"""The file beside ``checkpoint.pt`` that makes a run folder loadable by :func:`load_denoiser`."""

RUN_VERSION = 3
"""Layout of :data:`RECORD` (3: the training settings as a nested :class:`TrainConfig`)."""

VAL_LOSSES = "val_losses.csv"
"""The validation curve beside ``losses.csv``: ``step,loss`` of :func:`maqamgen.diffusion.heldout_loss`."""

VAL_POINTS = 12
"""Points of a validation curve over a run (every ``steps // VAL_POINTS`` steps, and the last)."""

VAL_T = 4
"""Timesteps of each validation point (:func:`maqamgen.diffusion.heldout_loss`'s ``n_t``): few,
because a point costs ``VAL_T x VAL_SAMPLES`` forward passes."""

VAL_SAMPLES = 32
"""Held-out patches in the validation batch (balanced over the maqamat, fixed)."""

RUNTIME_FIELDS = ("device", "progress", "num_workers", "ckpt_every")
"""Training settings that do not change the trained weights: left out of a spec's identity."""


@dataclass(frozen=True)
class DenoiserSpec:
    """One diffusion model to train: the denoiser network (by preset) and its training.

    Attributes:
        net: network kind in :data:`maqamgen.nets.NETWORKS` (``unet``; later ``dit``).
        preset: the network's size preset (its module's registry, e.g.
            :data:`maqamgen.nets.unet.UNET_PRESETS`: the only place sizes are defined).
        schedule: noise schedule (``linear``, ``cosine``, ``sigmoid``).
        T: diffusion steps.
        target: what the network predicts (``eps``, ``x0`` or ``v``).
        loss: ``mse`` or ``mae``.
        p_uncond: classifier-free-guidance label-drop probability.
        cond_dim: size of a continuous condition vector besides the label (0: none; Chapter 6
            gives the tonic this way); the data set then yields ``(x, label, vec)``.
        masks: ``(p_generate, p_prefix, p_suffix)``: train with random inpainting masks
            (:class:`maqamgen.diffusion.InpaintingObjective`; the network gets the known frames
            and the mask as extra input channels), so one model generates and continues; None:
            plain generation.
        overrides: ``((field, value), ...)`` fields of the network's preset config to change
            (e.g. ``(("time_pos", "rope"), ("ornaments", False))`` for a DiT ablation); part of
            the spec's identity.
        train: the training (:class:`maqamgen.config.TrainConfig`: steps, batch, optimizer,
            learning rate and warm-up, weight decay, gradient clipping, EMA, seed); a chapter's
            spec takes it from its config (e.g. ``DDPMChapterConfig.train``).
    """

    net: str = "unet"
    preset: str = "tiny"
    schedule: str = "cosine"
    T: int = 1000
    target: str = "eps"
    loss: str = "mse"
    p_uncond: float = 0.1
    cond_dim: int = 0
    masks: tuple[float, float, float] | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if self.train.warmup_steps and self.train.warmup_steps >= self.train.steps:
            raise ConfigError(f"warm-up ({self.train.warmup_steps} steps) must be shorter than "
                              f"training ({self.train.steps} steps)")

    @property
    def label(self) -> str:
        """``schedule/loss/optimizer``."""
        return f"{self.schedule}/{self.loss}/{self.train.optimizer}"

    @property
    def steps(self) -> int:
        """Optimizer steps (``train.steps``)."""
        return self.train.steps

    @property
    def batch_size(self) -> int:
        """Training batch (``train.batch_size``)."""
        return self.train.batch_size

    @property
    def optimizer(self) -> str:
        """``train.optimizer``."""
        return self.train.optimizer

    @property
    def inpainting(self) -> bool:
        """Trained with inpainting masks (the network takes known frames and a mask)."""
        return self.masks is not None

    def build(self, n_classes: int, in_channels: int = 1) -> nn.Module:
        """The untrained network: ``nets.build(net, preset)`` with the label and channel counts
        (and the condition vector and inpainting inputs when the spec has them)."""
        extra = dict(self.overrides)
        if self.cond_dim:
            extra["cond_dim"] = self.cond_dim
        if self.inpainting:
            extra["inpainting"] = True
        return nets.build(self.net, self.preset, n_classes=n_classes, in_channels=in_channels, **extra)

    def objective(self) -> diffusion.DiffusionObjective:
        """The training loss: :class:`maqamgen.diffusion.DiffusionObjective`, or
        :class:`maqamgen.diffusion.InpaintingObjective` with :attr:`masks`."""
        schedule = self.make_schedule()
        if not self.inpainting:
            return diffusion.DiffusionObjective(schedule, self.target, self.loss, self.p_uncond)
        p_generate, p_prefix, p_suffix = self.masks
        return diffusion.InpaintingObjective(schedule, self.target, self.loss, self.p_uncond,
                                             p_generate=p_generate, p_prefix=p_prefix, p_suffix=p_suffix)

    def train_config(self, progress: bool | None = None, device: str | None = None) -> TrainConfig:
        """``train``, with the progress bar and device of this run (None: ``train``'s own)."""
        changes = {k: v for k, v in (("progress", progress), ("device", device)) if v is not None}
        return self.train.replace(**changes) if changes else self.train

    def make_schedule(self) -> diffusion.Schedule:
        return diffusion.make_schedule(self.schedule, self.T)

    def to_dict(self) -> dict:
        """Every setting that changes the trained weights (the spec's identity: the cache key and
        the run record); :data:`RUNTIME_FIELDS` of ``train`` are left out."""
        d = dataclasses.asdict(self)
        d["train"] = {k: v for k, v in d["train"].items() if k not in RUNTIME_FIELDS}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DenoiserSpec":
        """The spec :meth:`to_dict` wrote (lists back to tuples; runtime fields at their defaults).

        Raises:
            ConfigError: not such a dict (e.g. a record of an older maqamgen).
        """
        try:
            tr = dict(d["train"])
            tr["betas"] = tuple(tr.get("betas", TrainConfig.betas))
            d = dict(d)
            if d.get("masks") is not None:
                d["masks"] = tuple(float(p) for p in d["masks"])
            d["overrides"] = tuple((str(k), tuple(v) if isinstance(v, list) else v)
                                   for k, v in d.get("overrides", ()))
            return cls(**{**d, "train": TrainConfig(**tr)})
        except (KeyError, TypeError) as e:
            raise ConfigError(f"not a denoiser spec of this maqamgen ({e})") from None


def data_digest(train_set: features.PatchSet) -> str:
    """Short hash of a training patch set (clips, feature settings, normaliser, values)."""
    blob = json.dumps({"cfg": dataclasses.asdict(train_set.config), "ids": sorted(set(train_set.clip_ids)),
                       "n": len(train_set), "norm": train_set.normalizer.to_dict(),
                       "sum": round(float(train_set.x.double().sum()), 3)}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def run_digest(spec: DenoiserSpec, train_set: features.PatchSet) -> str:
    """Cache key of a trained model: the spec, the data and :data:`RUN_VERSION`."""
    blob = json.dumps({"spec": spec.to_dict(), "data": data_digest(train_set), "v": RUN_VERSION},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass
class Trained:
    """A trained DDPM and everything needed to sample and invert it.

    Attributes:
        spec: what was trained.
        model: the EMA weights, on CPU, in eval mode.
        schedule: the noise schedule.
        losses: the loss curve (:func:`maqamgen.train.read_losses`).
        val_losses: the validation curve ``{"step": [...], "loss": [...]}`` (empty when the
            model was trained without a validation set), :func:`read_val_losses`.
        seconds: training wall time, s (of the run that made the checkpoint).
        maqamat: label names.
        normalizer, fcfg, sr: the features it was trained on.
        out_dir: the run folder.
        cached: loaded from the cache rather than trained in this call.
        sample_shape: one sample's ``(C, H, W)`` when it is not the features' patch (latents).
    """

    spec: DenoiserSpec
    model: nn.Module
    schedule: diffusion.Schedule
    losses: dict
    seconds: float
    maqamat: tuple[str, ...]
    normalizer: features.Normalizer
    fcfg: FeatureConfig
    sr: int
    out_dir: Path
    cached: bool = False
    sample_shape: tuple[int, int, int] | None = None
    val_losses: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """One sample's shape ``(C, H, W)``."""
        if self.sample_shape is not None:
            return tuple(self.sample_shape)
        return (self.model.config.in_channels, self.fcfg.n_mels, self.fcfg.frames)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def _record(spec, train_set, seconds, steps) -> dict:
    return {"version": RUN_VERSION, "spec": spec.to_dict(), "steps_done": steps,
            "seconds": seconds, "maqamat": list(train_set.maqamat),
            "normalizer": train_set.normalizer.to_dict(),
            "features": dataclasses.asdict(train_set.config), "sr": train_set.sr,
            "n_train": len(train_set), "in_channels": int(train_set.x.shape[1]),
            "sample_shape": [int(v) for v in train_set.x.shape[1:]], "data": data_digest(train_set)}


def load_denoiser(out_dir: str | Path) -> Trained:
    """Load a run folder written by :func:`train_denoiser` (``checkpoint.pt`` + ``denoiser.json``).

    Raises:
        ConfigError: not such a folder.
    """
    out = Path(out_dir)
    rec_path = out / RECORD
    if not out.is_dir() or not rec_path.exists() or not (out / trainer.CHECKPOINT).exists():
        raise ConfigError("not a trained diffusion-model folder (needs checkpoint.pt and "
                          f"{RECORD} from `maqamgen train unet`)", out)
    try:
        rec = json.loads(rec_path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"unreadable {RECORD} ({type(e).__name__}: {str(e)[:120]})", out) from None
    if not isinstance(rec, dict):
        raise ConfigError(f"unreadable {RECORD} (a JSON {type(rec).__name__}, not an object)", out)
    if rec.get("version") != RUN_VERSION:
        raise ConfigError(f"{RECORD} is of run format {rec.get('version')!r}, this maqamgen reads "
                          f"{RUN_VERSION}: train the model again", out)
    try:
        spec = DenoiserSpec.from_dict(rec["spec"])
        fcfg = FeatureConfig(**rec["features"])
        maqamat = tuple(str(m) for m in rec["maqamat"])
        if not maqamat:
            raise ValueError("no maqamat")
        in_channels = int(rec.get("in_channels", 1))
        normalizer = features.Normalizer(**rec["normalizer"])
        seconds, sr = float(rec["seconds"]), int(rec["sr"])
        shape = rec.get("sample_shape")
        shape = tuple(int(v) for v in shape) if shape is not None else None
        if shape is not None and (len(shape) != 3 or min(shape) < 1):
            raise ValueError(f"sample_shape {shape}")
        model = spec.build(len(maqamat), in_channels)
    except ConfigError as e:
        raise ConfigError(f"unreadable {RECORD} ({e})", out) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        what = f"lacks {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {str(e)[:120]}"
        raise ConfigError(f"unreadable {RECORD} ({what})", out) from None
    trainer.load_checkpoint(out, model)
    return Trained(spec=spec, model=model.eval(), schedule=spec.make_schedule(),
                   losses=trainer.read_losses(out), seconds=seconds, maqamat=maqamat,
                   normalizer=normalizer, fcfg=fcfg, sr=sr, out_dir=out, cached=True,
                   val_losses=read_val_losses(out),
                   sample_shape=shape)


def _read_record(rec_path: Path) -> dict:
    """:data:`RECORD` as a dict; ``{}`` when missing, unreadable or not a JSON object."""
    try:
        rec = json.loads(rec_path.read_text())
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def train_denoiser(spec: DenoiserSpec, train_set: features.PatchSet, out_dir: str | Path | None = None,
                   resume: bool = False, progress: bool | None = None,
                   device: str | None = None, val_set: features.PatchSet | None = None) -> Trained:
    """Train one DDPM (or load it from the cache when the same spec and data were trained before).

    Args:
        spec: the model.
        train_set: training patches (their labels are the maqam condition).
        out_dir: run folder; default ``data/cache/ddpm/<run_digest>`` (then a finished run is
            reused). With an explicit folder, ``resume=True`` continues an interrupted run.
        resume: continue from the folder's checkpoint.
        progress: progress bar (None: ``spec.train.progress``).
        device: ``cpu``, ``cuda`` or ``auto`` (None: ``spec.train.device``).
        val_set: held-out patches: every ``steps // VAL_POINTS`` steps the EMA weights'
            :func:`maqamgen.diffusion.heldout_loss` on :data:`VAL_SAMPLES` of them (balanced,
            fixed) is appended to :data:`VAL_LOSSES` (``Trained.val_losses``). It does not
            change the trained weights, so it is not part of the cache key: a cached model
            trained without it has no curve.

    Returns:
        The :class:`Trained` model.

    A cache entry is built under :func:`maqamgen.runtime.locked` (two processes asking for the
    same model train it once); a cached record or checkpoint that does not load is retrained.
    The record is written (atomically) after the final checkpoint.

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
    """
    if out_dir is None:  # a cache entry: one builder at a time, the others then read it
        out = cache_dir("ddpm", run_digest(spec, train_set))
        with runtime.locked(out):
            return _train_denoiser(spec, train_set, out, True, resume, progress, device, val_set)
    return _train_denoiser(spec, train_set, Path(out_dir), False, resume, progress, device, val_set)


def read_val_losses(out_dir: str | Path) -> dict:
    """The validation curve of a run folder, ``{"step": [...], "loss": [...]}`` (empty if none).

    Used in: lib/maqamgen/diffusion/run.py (``Trained.val_losses``)
    """
    path = Path(out_dir) / VAL_LOSSES
    steps, losses = [], []
    try:
        for line in path.read_text().splitlines()[1:]:
            a, b = line.split(",")
            steps.append(int(a))
            losses.append(float(b))
    except (OSError, ValueError):
        return {}
    return {"step": steps, "loss": losses}


class ValidationCurve:
    """A :func:`maqamgen.train.train` callback: the validation loss every ``every`` steps.

    Computed on the main rank from a copy of the EMA weights (the raw weights without an EMA),
    appended to ``out_dir / VAL_LOSSES`` (a resumed run keeps its earlier points; a point at or
    after the resume step is replaced).
    """

    def __init__(self, objective, val_set, total_steps: int, seed: int = 0, n: int = VAL_SAMPLES):
        self.objective = objective
        batch = val_set.balanced(n, seed=seed)
        ds = batch.dataset()
        cols = list(zip(*[ds[i] for i in range(len(ds))]))
        self.x0, self.cond = diffusion._x0_and_cond(tuple(torch.stack(c) for c in cols))
        self.every = max(1, int(total_steps) // VAL_POINTS)
        self.total = int(total_steps)
        self.seed = seed
        self.started = False

    def _start(self, out_dir: Path, step: int) -> None:
        path = out_dir / VAL_LOSSES
        old = read_val_losses(out_dir)
        keep = [(s, v) for s, v in zip(old.get("step", []), old.get("loss", [])) if s < step]
        runtime.atomic_write(path, "step,loss\n" + "".join(f"{s},{v:.6g}\n" for s, v in keep))
        self.started = True

    def __call__(self, state) -> None:
        if state.rank != 0 or (state.step % self.every and state.step != self.total):
            return
        if not self.started:
            self._start(state.out_dir, state.step)
        model = copy.deepcopy(state.model)
        if state.ema is not None:
            state.ema.copy_to(model)
        model.eval()
        dev = next(model.parameters()).device
        cond = self.cond
        if isinstance(cond, torch.Tensor):
            cond = cond.to(dev)
        elif isinstance(cond, dict):
            cond = {k: v.to(dev) for k, v in cond.items()}
        loss = diffusion.heldout_loss(model, self.objective, self.x0.to(dev), cond, n_t=VAL_T, seed=self.seed)
        with open(state.out_dir / VAL_LOSSES, "a") as f:
            f.write(f"{state.step},{loss:.6g}\n")


def _train_denoiser(spec, train_set, out: Path, cached_dir: bool, resume: bool, progress, device,
                    val_set=None) -> Trained:
    rec_path = out / RECORD
    wants_curve = val_set is not None and not (out / VAL_LOSSES).exists()
    if (rec_path.exists() and (out / trainer.CHECKPOINT).exists() and (cached_dir or resume)
            and not (cached_dir and wants_curve)):  # a cache entry without the asked curve is retrained
        rec = _read_record(rec_path)
        if rec.get("steps_done") == spec.steps and rec.get("spec") == json.loads(json.dumps(spec.to_dict())):
            try:
                return dataclasses.replace(load_denoiser(out), spec=spec)
            except ConfigError:  # a corrupt record or checkpoint: retrained, not trusted
                if not cached_dir:
                    raise
                resume = False
    if cached_dir and not resume:  # retraining a cache entry: its old record goes first
        rec_path.unlink(missing_ok=True)
    torch.manual_seed(spec.train.seed)
    model = spec.build(len(train_set.maqamat), int(train_set.x.shape[1]))
    schedule = spec.make_schedule()
    objective = spec.objective()
    prev_seconds = 0.0
    if resume and rec_path.exists():
        try:
            prev_seconds = float(_read_record(rec_path).get("seconds", 0.0))
        except (TypeError, ValueError):
            prev_seconds = 0.0
    callbacks = ([ValidationCurve(objective, val_set, spec.steps, seed=spec.train.seed)]
                 if val_set is not None else [])
    res = trainer.train(model, train_set.dataset(), objective, spec.train_config(progress, device),
                        out, resume=resume, callbacks=callbacks)
    seconds = prev_seconds + res.seconds
    runtime.atomic_write(rec_path, json.dumps(_record(spec, train_set, seconds, res.step),
                                                    indent=1).encode())
    return Trained(spec=spec, model=res.ema_model().cpu().eval(), schedule=schedule,
                   losses=trainer.read_losses(out), seconds=seconds, maqamat=train_set.maqamat,
                   normalizer=train_set.normalizer, fcfg=train_set.config, sr=train_set.sr,
                   out_dir=out, cached=False, sample_shape=tuple(int(v) for v in train_set.x.shape[1:]),
                   val_losses=read_val_losses(out))


def step_flops(spec: DenoiserSpec, train_set) -> int:
    """Floating-point operations of one training step of ``spec`` on ``train_set``.

    The forward and backward pass of the spec's objective on one batch (``spec.batch_size``
    items of ``train_set``, as the trainer collates them) through a freshly built network,
    counted by :class:`torch.utils.flop_counter.FlopCounterMode`: matrix products, attention and
    convolutions (a multiply-add counts 2); element-wise work and the optimizer are left out.
    The count depends on the network and the data's shape only, so, unlike wall time, it is the
    same on any machine and any day: ``steps * step_flops`` is a run's training compute. The
    global random state is left as it was.

    Args:
        spec: the model and its training (network, objective, batch).
        train_set: what it trains on (a :class:`maqamgen.features.PatchSet` or a latent set
            with the spec's condition keys): its ``dataset()``, ``maqamat`` and ``x``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    ds = train_set.dataset()
    if len(ds) < spec.batch_size:
        raise ConfigError(f"a training batch is {spec.batch_size} items; the set has {len(ds)}")
    batch = torch.utils.data.default_collate([ds[i] for i in range(spec.batch_size)])
    with torch.random.fork_rng(devices=[]):
        model = spec.build(len(train_set.maqamat), int(train_set.x.shape[1])).train()
        with FlopCounterMode(display=False) as counter:
            spec.objective()(model, batch).backward()
    return int(counter.get_total_flops())


def sample(trained: Trained, labels, sampler: str = "ddim", steps: int = 20,
           guidance_scale: float = 2.0, seed: int = 0, batch: int = 64,
           return_trajectory: bool = False, vec=None, clip: float | None = 1.0):
    """Generate normalised log-mel patches of the given maqam labels.

    Args:
        trained: the model.
        labels: ``(N,)`` maqam indices (``-1``: unconditional).
        sampler: ``ddim`` (deterministic, eta 0) or ``ddpm`` (ancestral; respaced when ``steps < T``).
        steps: reverse steps.
        guidance_scale: classifier-free guidance weight (1: plain conditional).
        seed: seeds the noise (same seed, same samples).
        batch: samples per network call.
        return_trajectory: also return the trajectory of the first batch (list of ``x_t``).
        vec: ``(N, cond_dim)`` condition vectors of a model with ``spec.cond_dim`` (None: none).
        clip: clamp the predicted ``x0`` and the samples to ``[-clip, clip]`` (1: normalised
            log-mel patches; None for unbounded data such as unit-variance latents).

    Returns:
        ``(x, seconds)``: ``(N, *trained.shape)`` samples (clipped to ``clip``) and the wall
        time; with ``return_trajectory``, ``(x, seconds, trajectory)``.

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
    """
    if sampler not in ("ddim", "ddpm"):
        raise ConfigError(f"unknown sampler {sampler!r}; known: ddim, ddpm")
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if vec is not None:
        vec = torch.as_tensor(np.asarray(vec), dtype=torch.float32).reshape(len(labels), -1)
    shape = trained.shape
    g = torch.Generator().manual_seed(int(seed))
    out, traj = [], None
    t0 = time.perf_counter()
    for i in range(0, len(labels), batch):
        lab = labels[i:i + batch]
        cond = lab if vec is None else {"label": lab, "vec": vec[i:i + batch]}
        kw = dict(target=trained.spec.target, cond=cond, guidance_scale=guidance_scale, generator=g,
                  clip_x0=clip, return_trajectory=return_trajectory and traj is None)
        fn = diffusion.ddim_sample if sampler == "ddim" else diffusion.ddpm_sample
        r = fn(trained.model, (len(lab), *shape), trained.schedule, steps=steps, **kw)
        if kw["return_trajectory"]:
            r, traj = r
        out.append(r.clamp(-clip, clip) if clip is not None else r)
    x = torch.cat(out) if out else torch.zeros((0, *shape))
    seconds = time.perf_counter() - t0
    return (x, seconds, traj) if return_trajectory else (x, seconds)
