"""Gaussian diffusion: noise schedules, the forward process, training targets, samplers, inpainting.

Notation (Ho et al. 2020; Nichol & Dhariwal 2021; Song et al. 2021): a schedule of
``beta_t`` for ``t = 0..T-1``, ``alpha_t = 1 - beta_t``, ``alpha_bar_t = prod_{s<=t} alpha_s``;
the forward process

    x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps,    eps ~ N(0, I);

a network predicts one of three equivalent targets: ``eps``, ``x0`` or the velocity
``v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x0`` (Salimans & Ho 2022).

Timesteps are integers ``0..T-1`` (index 0 is the least noisy). A sampler walks a decreasing
list of timesteps ``tau_0 > tau_1 > ... > tau_{n-1}`` and ends at ``-1``, which stands for
clean data (``alpha_bar_{-1} = 1``), exactly as diffusers does with ``set_alpha_to_one=True``.

Models are called as ``model(x_t, t)`` or, when a condition is given, ``model(x_t, t, cond)``,
with ``x_t`` of shape ``(B, ...)`` and ``t`` a ``(B,)`` int64 tensor. A condition is a tensor of
class labels ``(B,)`` (int64; :data:`NULL_LABEL` = -1 is the null class of classifier-free
guidance), a float tensor ``(B, D)`` (the zero vector is the null condition), or a dict of these.
A dict may also carry a context (:data:`CONTEXT_KEYS`): ``known`` (clean data whose known part is
kept) and ``mask`` (1 = known, 0 = generate). The context is not a class condition: guidance and
condition dropout leave it alone. A network built for it (``UNetConfig(inpainting=True)``) learns
mask-conditioned in- and outpainting with :class:`InpaintingObjective` (Stable Audio's inpainting
training) and continues a phrase with :func:`continue_sample`; :func:`inpaint` (RePaint) needs no
such training.

The maths is written out here (the book shows it); diffusers' ``DDPMScheduler`` and
``DDIMScheduler`` serve as the numerical oracle in ``tests/test_diffusion.py``.

Used in: book/part1/04_unet_ddpm.md, 05_scaling_hallucination.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import Tensor

from maqamgen.errors import ConfigError

__all__ = [
    "TARGETS",
    "LOSSES",
    "SPACINGS",
    "VARIANCE_TYPES",
    "NULL_LABEL",
    "CONTEXT_KEYS",
    "BETA_SCHEDULES",
    "Cond",
    "linear_betas",
    "scaled_linear_betas",
    "cosine_alpha_bar",
    "cosine_betas",
    "sigmoid_betas",
    "Schedule",
    "make_schedule",
    "alpha_bar_at",
    "q_sample",
    "velocity",
    "predict_x0_from_eps",
    "predict_eps_from_x0",
    "predict_x0_from_v",
    "predict_eps_from_v",
    "training_target",
    "x0_eps_from_output",
    "heldout_loss",
    "null_cond",
    "drop_cond",
    "guided_output",
    "diffusion_loss",
    "DiffusionObjective",
    "random_time_masks",
    "with_context",
    "InpaintingObjective",
    "Step",
    "sampling_timesteps",
    "q_posterior",
    "ddpm_step",
    "ddim_sigma",
    "ddim_step",
    "ddpm_sample",
    "ddim_sample",
    "repaint_path",
    "q_renoise",
    "inpaint",
    "continue_sample",
]

TARGETS = ("eps", "x0", "v")
LOSSES = ("mse", "mae")
SPACINGS = ("leading", "trailing", "linspace")
VARIANCE_TYPES = ("fixed_small", "fixed_large")
NULL_LABEL = -1
CONTEXT_KEYS = ("known", "mask")
"""Keys of a dict condition that are context (the known data and its mask), not class condition."""

Cond = Any  # Tensor | dict[str, Tensor] | None


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------

def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02,
                 scale_to_T: bool = True) -> Tensor:
    """Linear schedule of Ho et al. (2020): ``beta_t`` evenly spaced from ``beta_start`` to ``beta_end``.

    Args:
        T: number of diffusion steps.
        beta_start, beta_end: the end points for ``T = 1000``.
        scale_to_T: multiply both end points by ``1000 / T`` so that the total noise
            (``alpha_bar_{T-1}``) stays about the same for any ``T`` (Nichol & Dhariwal 2021).

    Returns:
        ``(T,)`` float64 betas.
    """
    scale = 1000.0 / T if scale_to_T else 1.0
    return torch.linspace(scale * beta_start, scale * beta_end, T, dtype=torch.float64)


def scaled_linear_betas(T: int, beta_start: float = 0.00085, beta_end: float = 0.012) -> Tensor:
    """Latent-diffusion schedule (Rombach et al. 2022): ``sqrt(beta_t)`` evenly spaced.

    Returns:
        ``(T,)`` float64 betas ``linspace(sqrt(beta_start), sqrt(beta_end), T) ** 2``.
    """
    return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float64) ** 2


def cosine_alpha_bar(t: np.ndarray | float, s: float = 0.008) -> np.ndarray | float:
    """Nichol & Dhariwal's ``f(t) = cos((t + s) / (1 + s) * pi / 2)^2`` for ``t`` in [0, 1]."""
    return np.cos((np.asarray(t, dtype=np.float64) + s) / (1 + s) * math.pi / 2) ** 2


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021): ``alpha_bar_t`` follows :func:`cosine_alpha_bar`.

    ``beta_t = min(1 - f((t+1)/T) / f(t/T), max_beta)``; the clip keeps the last steps from
    being singular.

    Returns:
        ``(T,)`` float64 betas.
    """
    i = np.arange(T, dtype=np.float64)
    betas = 1.0 - cosine_alpha_bar((i + 1) / T, s) / cosine_alpha_bar(i / T, s)
    return torch.from_numpy(np.minimum(betas, max_beta))


def sigmoid_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """Sigmoid schedule (GeoDiff, Xu et al. 2022): ``beta_start + (beta_end - beta_start) sigmoid(u)``
    with ``u`` evenly spaced in [-6, 6].

    Returns:
        ``(T,)`` float64 betas.
    """
    u = torch.linspace(-6.0, 6.0, T, dtype=torch.float64)
    return torch.sigmoid(u) * (beta_end - beta_start) + beta_start


BETA_SCHEDULES: dict[str, Callable[..., Tensor]] = {
    "linear": linear_betas,
    "cosine": cosine_betas,
    "sigmoid": sigmoid_betas,
    "scaled_linear": scaled_linear_betas,
}


@dataclass(frozen=True, eq=False)
class Schedule:
    """A noise schedule and every quantity derived from it (float64, CPU, shape ``(T,)`` each).

    Attributes:
        betas: ``beta_t``.
        name: the schedule's name (``linear``, ``cosine``, ... or ``custom``).
        alphas: ``alpha_t = 1 - beta_t``.
        alpha_bar: ``alpha_bar_t = prod_{s<=t} alpha_s``.
        alpha_bar_prev: ``alpha_bar_{t-1}``, with ``alpha_bar_{-1} = 1``.
        sqrt_alpha_bar: ``sqrt(alpha_bar_t)``, the signal scale of ``x_t``.
        sqrt_one_minus_alpha_bar: ``sqrt(1 - alpha_bar_t)``, the noise scale of ``x_t``.
        posterior_variance: ``beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t``,
            the variance of ``q(x_{t-1} | x_t, x0)``.
        snr: signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)``.
    """

    betas: Tensor
    name: str = "custom"
    alphas: Tensor = field(init=False)
    alpha_bar: Tensor = field(init=False)
    alpha_bar_prev: Tensor = field(init=False)
    sqrt_alpha_bar: Tensor = field(init=False)
    sqrt_one_minus_alpha_bar: Tensor = field(init=False)
    posterior_variance: Tensor = field(init=False)
    snr: Tensor = field(init=False)

    def __post_init__(self):
        betas = torch.as_tensor(self.betas, dtype=torch.float64).detach().cpu()
        if betas.ndim != 1 or len(betas) < 1:
            raise ConfigError(f"betas must be a non-empty 1-D sequence, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ConfigError(f"schedule {self.name!r}: every beta must lie in (0, 1); got range "
                              f"[{betas.min().item():.3g}, {betas.max().item():.3g}] "
                              f"(a linear schedule scaled to T needs T > 20)")
        alphas = 1.0 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        values = dict(
            betas=betas, alphas=alphas, alpha_bar=alpha_bar, alpha_bar_prev=alpha_bar_prev,
            sqrt_alpha_bar=alpha_bar.sqrt(), sqrt_one_minus_alpha_bar=(1.0 - alpha_bar).sqrt(),
            posterior_variance=(1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * betas,
            snr=alpha_bar / (1.0 - alpha_bar),
        )
        for k, v in values.items():
            object.__setattr__(self, k, v)

    @property
    def T(self) -> int:
        """Number of diffusion steps."""
        return len(self.betas)

    def __repr__(self) -> str:
        return (f"Schedule({self.name!r}, T={self.T}, beta in [{self.betas[0].item():.3g}, "
                f"{self.betas[-1].item():.3g}], alpha_bar_T-1={self.alpha_bar[-1].item():.3g})")


def make_schedule(name: str = "linear", T: int = 1000, **kwargs) -> Schedule:
    """The schedule called ``name`` with ``T`` steps.

    Args:
        name: one of :data:`BETA_SCHEDULES` (``linear``, ``cosine``, ``sigmoid``, ``scaled_linear``).
        T: number of diffusion steps.
        **kwargs: passed to the beta function (e.g. ``beta_start``, ``beta_end``, ``s``).

    Raises:
        ConfigError: unknown name, ``T < 1`` or betas outside (0, 1).
    """
    if name not in BETA_SCHEDULES:
        raise ConfigError(f"unknown noise schedule {name!r}; known: {', '.join(BETA_SCHEDULES)}")
    if int(T) < 1:
        raise ConfigError(f"T must be at least 1, got {T}")
    return Schedule(BETA_SCHEDULES[name](int(T), **kwargs), name=name)


# --------------------------------------------------------------------------------------------
# Indexing helpers
# --------------------------------------------------------------------------------------------

def _as_t(t: Tensor | int, batch: int, device) -> Tensor:
    """``t`` as a ``(B,)`` int64 tensor on ``device``."""
    t = torch.as_tensor(t, dtype=torch.long, device=device)
    return t.expand(batch).clone() if t.ndim == 0 else t


def _at(coef: Tensor, t: Tensor | int, x: Tensor, at_minus_one: float) -> Tensor:
    """``coef[t]`` shaped ``(B, 1, ..., 1)`` to broadcast against ``x``, in ``x``'s dtype.

    Entries with ``t < 0`` take ``at_minus_one`` (the value at clean data).
    """
    t = _as_t(t, x.shape[0], coef.device)
    c = torch.where(t >= 0, coef[t.clamp(min=0)], torch.full_like(coef[:1], at_minus_one))
    return c.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


def alpha_bar_at(schedule: Schedule, t: Tensor | int, x: Tensor) -> Tensor:
    """``alpha_bar_t`` broadcastable against ``x`` (``(B, 1, ..., 1)``); 1 where ``t = -1``."""
    return _at(schedule.alpha_bar, t, x, 1.0)


def _randn(shape, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Standard normal noise drawn on the generator's device, then moved next to ``like``.

    Drawing on the generator's device makes a seeded CPU generator give the same noise on any
    device.
    """
    dev = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=dev, dtype=like.dtype).to(like.device)


# --------------------------------------------------------------------------------------------
# Forward process and targets
# --------------------------------------------------------------------------------------------

def q_sample(x0: Tensor, t: Tensor | int, eps: Tensor | None, schedule: Schedule,
             generator: torch.Generator | None = None) -> Tensor:
    """Sample the forward process ``q(x_t | x0)``: ``x_t = sqrt(alpha_bar_t) x0 + sqrt(1-alpha_bar_t) eps``.

    Args:
        x0: clean data, ``(B, ...)``.
        t: timesteps, ``(B,)`` int64 or one int; ``-1`` returns ``x0`` itself.
        eps: the noise, shape of ``x0``; ``None`` draws it from ``generator``.
        schedule: the noise schedule.
        generator: used only when ``eps`` is None.

    Returns:
        ``x_t``, shape of ``x0``.
    """
    if eps is None:
        eps = _randn(x0.shape, generator, x0)
    ab = alpha_bar_at(schedule, t, x0)
    return ab.sqrt() * x0 + (1.0 - ab).sqrt() * eps


def velocity(x0: Tensor, eps: Tensor, t: Tensor | int, schedule: Schedule) -> Tensor:
    """The v target: ``v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x0``. Shapes of ``x0``."""
    ab = alpha_bar_at(schedule, t, x0)
    return ab.sqrt() * eps - (1.0 - ab).sqrt() * x0


def predict_x0_from_eps(x_t: Tensor, t: Tensor | int, eps: Tensor, schedule: Schedule) -> Tensor:
    """``x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)``."""
    ab = alpha_bar_at(schedule, t, x_t)
    return (x_t - (1.0 - ab).sqrt() * eps) / ab.sqrt()


def predict_eps_from_x0(x_t: Tensor, t: Tensor | int, x0: Tensor, schedule: Schedule) -> Tensor:
    """``eps = (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t)`` (undefined at ``t = -1``)."""
    ab = alpha_bar_at(schedule, t, x_t)
    return (x_t - ab.sqrt() * x0) / (1.0 - ab).sqrt()


def predict_x0_from_v(x_t: Tensor, t: Tensor | int, v: Tensor, schedule: Schedule) -> Tensor:
    """``x0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v``."""
    ab = alpha_bar_at(schedule, t, x_t)
    return ab.sqrt() * x_t - (1.0 - ab).sqrt() * v


def predict_eps_from_v(x_t: Tensor, t: Tensor | int, v: Tensor, schedule: Schedule) -> Tensor:
    """``eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v``."""
    ab = alpha_bar_at(schedule, t, x_t)
    return (1.0 - ab).sqrt() * x_t + ab.sqrt() * v


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ConfigError(f"unknown diffusion target {target!r}; known: {', '.join(TARGETS)}")


def training_target(x0: Tensor, eps: Tensor, t: Tensor | int, schedule: Schedule,
                    target: str = "eps") -> Tensor:
    """What the network learns to output at ``(x_t, t)``: ``eps``, ``x0`` or ``v``. Shape of ``x0``."""
    _check_target(target)
    if target == "eps":
        return eps
    if target == "x0":
        return x0
    return velocity(x0, eps, t, schedule)


def x0_eps_from_output(model_output: Tensor, x_t: Tensor, t: Tensor | int, schedule: Schedule,
                       target: str = "eps") -> tuple[Tensor, Tensor]:
    """Turn a network output of kind ``target`` into the pair ``(x0_hat, eps_hat)``.

    Args:
        model_output: the network's prediction, shape of ``x_t``.
        x_t: the noisy input, ``(B, ...)``.
        t: timesteps, ``(B,)`` or one int (``>= 0``).
        schedule: the noise schedule.
        target: ``eps``, ``x0`` or ``v``.

    Returns:
        ``(x0_hat, eps_hat)``, each of ``x_t``'s shape.
    """
    _check_target(target)
    if target == "eps":
        return predict_x0_from_eps(x_t, t, model_output, schedule), model_output
    if target == "x0":
        return model_output, predict_eps_from_x0(x_t, t, model_output, schedule)
    return (predict_x0_from_v(x_t, t, model_output, schedule),
            predict_eps_from_v(x_t, t, model_output, schedule))


# --------------------------------------------------------------------------------------------
# Conditioning and classifier-free guidance
# --------------------------------------------------------------------------------------------

def null_cond(cond: Cond) -> Cond:
    """The null condition of the same structure: labels -> :data:`NULL_LABEL`, vectors -> 0.

    The context entries of a dict (:data:`CONTEXT_KEYS`) are kept as they are.
    """
    if cond is None:
        return None
    if isinstance(cond, dict):
        return {k: v if k in CONTEXT_KEYS else null_cond(v) for k, v in cond.items()}
    if cond.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        return torch.full_like(cond, NULL_LABEL)
    return torch.zeros_like(cond)


def _where_keep(keep: Tensor, cond: Cond, null: Cond) -> Cond:
    """Per sample, ``cond`` where ``keep`` else ``null``; context entries of a dict pass through."""
    if cond is None:
        return None
    if isinstance(cond, dict):
        return {k: cond[k] if k in CONTEXT_KEYS else _where_keep(keep, cond[k], null[k]) for k in cond}
    k = keep.to(cond.device).reshape(-1, *([1] * (cond.ndim - 1)))
    return torch.where(k, cond, null)


def drop_cond(cond: Cond, p_uncond: float, generator: torch.Generator | None = None) -> Cond:
    """Replace each sample's condition by the null condition with probability ``p_uncond``.

    This is the training half of classifier-free guidance (Ho & Salimans 2022): one network
    learns both ``eps(x_t, t, c)`` and ``eps(x_t, t, null)``. All parts of a dict condition are
    dropped together, except its context (:data:`CONTEXT_KEYS`), which every sample keeps.

    Args:
        cond: ``(B,)`` labels, ``(B, D)`` vectors or a dict of these; None passes through.
        p_uncond: drop probability in [0, 1].
        generator: for the drop decisions (global RNG when None).
    """
    if cond is None or p_uncond <= 0:
        return cond
    if isinstance(cond, dict):
        parts = [v for k, v in cond.items() if k not in CONTEXT_KEYS and v is not None]
        if not parts:
            return cond
        first = parts[0]
    else:
        first = cond
    u = torch.rand(first.shape[0], generator=generator,
                   device=generator.device if generator is not None else first.device)
    return _where_keep(u >= p_uncond, cond, null_cond(cond))


def _cat_cond(a: Cond, b: Cond) -> Cond:
    """The conditions of two batches as one batch; a context entry of batch 1 (e.g. a ``(1, 1, 1, W)``
    mask shared by every sample) is kept as it is, it broadcasts to any batch."""
    if isinstance(a, dict):
        return {k: a[k] if a[k] is None or (k in CONTEXT_KEYS and a[k].shape[0] == 1 and b[k] is a[k])
                else torch.cat([a[k], b[k]]) for k in a}
    return torch.cat([a, b])


def guided_output(model: Callable, x_t: Tensor, t: Tensor, cond: Cond = None,
                  guidance_scale: float = 1.0) -> Tensor:
    """The network's output with classifier-free guidance.

    ``out = out(null) + w (out(cond) - out(null))``: ``w = 1`` is the plain conditional model,
    ``w = 0`` the unconditional one, ``w > 1`` follows the condition more strongly. Conditional
    and unconditional passes run as one batch of ``2B``; both see the same context
    (:data:`CONTEXT_KEYS`).

    Args:
        model: called as ``model(x_t, t)`` (``cond`` None) or ``model(x_t, t, cond)``.
        x_t: ``(B, ...)`` noisy input.
        t: ``(B,)`` int64 timesteps.
        cond: the condition or None.
        guidance_scale: ``w``.

    Returns:
        Output of ``x_t``'s shape.
    """
    if cond is None:
        return model(x_t, t)
    if guidance_scale == 1.0:
        return model(x_t, t, cond)
    if guidance_scale == 0.0:
        return model(x_t, t, null_cond(cond))
    out = model(torch.cat([x_t, x_t]), torch.cat([t, t]), _cat_cond(cond, null_cond(cond)))
    out_c, out_u = out.chunk(2)
    return out_u + guidance_scale * (out_c - out_u)


# --------------------------------------------------------------------------------------------
# Training loss
# --------------------------------------------------------------------------------------------

def _weighted_mean(err: Tensor, weight: Tensor | None) -> Tensor:
    """``sum(weight * err) / sum(weight)`` over every element (``weight`` broadcast to ``err``);
    the plain mean when ``weight`` is None, 0 when every weight is 0."""
    if weight is None:
        return err.mean()
    try:
        w = torch.broadcast_to(weight.to(err.device, err.dtype), err.shape)
    except RuntimeError:
        raise ConfigError(f"loss weight of shape {tuple(weight.shape)} does not broadcast to the "
                          f"data's shape {tuple(err.shape)}") from None
    return (w * err).sum() / w.sum().clamp(min=torch.finfo(err.dtype).tiny)


def diffusion_loss(model: Callable, x0: Tensor, schedule: Schedule, target: str = "eps",
                   loss: str = "mse", cond: Cond = None, p_uncond: float = 0.0,
                   t: Tensor | None = None, eps: Tensor | None = None,
                   generator: torch.Generator | None = None,
                   weight: Tensor | None = None) -> Tensor:
    """The simple diffusion loss ``E_{t, eps} || target - model(x_t, t, c) ||`` (Ho et al. 2020, eq. 14).

    Args:
        model: called as ``model(x_t, t)`` or ``model(x_t, t, cond)``.
        x0: clean data, ``(B, ...)``.
        schedule: the noise schedule.
        target: what the model predicts: ``eps``, ``x0`` or ``v``.
        loss: ``mse`` (squared error) or ``mae`` (absolute error), averaged over all elements.
        cond: condition or None.
        p_uncond: classifier-free guidance: probability of training a sample with the null condition.
        t: ``(B,)`` timesteps; drawn uniformly from ``0..T-1`` when None.
        eps: noise of ``x0``'s shape; drawn when None.
        generator: source of ``t``, ``eps`` and the drops (the global RNG when None, which
            :func:`maqamgen.train.train` seeds and checkpoints).
        weight: per-element weights broadcastable to ``x0`` (e.g. ``1 - mask``: the region to
            generate only); the loss is ``sum(weight * err) / sum(weight)``. None: the plain mean.

    Returns:
        Scalar loss.
    """
    _check_target(target)
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    B = x0.shape[0]
    gdev = generator.device if generator is not None else x0.device
    if t is None:
        t = torch.randint(0, schedule.T, (B,), generator=generator, device=gdev).to(x0.device)
    if eps is None:
        eps = _randn(x0.shape, generator, x0)
    x_t = q_sample(x0, t, eps, schedule)
    cond = drop_cond(cond, p_uncond, generator)
    out = model(x_t, t) if cond is None else model(x_t, t, cond)
    y = training_target(x0, eps, t, schedule, target)
    err = out - y
    return _weighted_mean(err.pow(2) if loss == "mse" else err.abs(), weight)


def _x0_and_cond(batch) -> tuple[Tensor, Cond]:
    """A training batch as ``(x0, cond)``: ``x0``, ``(x0,)``, ``(x0, cond)``,
    ``(x0, label, vec)`` (cond ``{"label": label, "vec": vec}``) or ``{"x0": ..., "cond": ...}``."""
    if isinstance(batch, dict):
        return batch["x0"], batch.get("cond")
    if isinstance(batch, (tuple, list)):
        if len(batch) > 3:
            raise ConfigError(f"a batch tuple is (x0[, cond]) or (x0, label, vec); got {len(batch)} items")
        if len(batch) == 3:
            return batch[0], {"label": batch[1], "vec": batch[2]}
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


@dataclass
class DiffusionObjective:
    """``loss_fn(model, batch)`` for :func:`maqamgen.train.train`, wrapping :func:`diffusion_loss`.

    A batch is ``x0``, ``(x0, cond)``, ``(x0, label, vec)`` (the condition
    ``{"label": label, "vec": vec}``) or a dict with ``x0`` and optionally ``cond``.

    Attributes:
        schedule: the noise schedule.
        target: ``eps``, ``x0`` or ``v``.
        loss: ``mse`` or ``mae``.
        p_uncond: classifier-free guidance drop probability (0 for an unconditional model).
    """

    schedule: Schedule
    target: str = "eps"
    loss: str = "mse"
    p_uncond: float = 0.0

    def __call__(self, model: Callable, batch) -> Tensor:
        x0, cond = _x0_and_cond(batch)
        return diffusion_loss(model, x0, self.schedule, self.target, self.loss, cond=cond,
                              p_uncond=self.p_uncond)


def heldout_loss(model: Callable, objective: DiffusionObjective, x0: Tensor, cond: Cond = None,
                 n_t: int = 8, seed: int = 0) -> float:
    """The validation loss: ``objective``'s loss on held-out data at fixed noise.

    ``n_t`` timesteps evenly spread over ``0..T-1`` (``t_k = round(k (T - 1) / (n_t - 1))``),
    for each one noise draw of ``x0``'s shape from ``seed``, no label drop, no masks; the mean of
    the ``n_t`` losses (:func:`diffusion_loss`). Fixed ``t`` and noise make the number a
    deterministic function of the weights, so a curve of it over training steps is smooth and
    comparable between models that share the schedule, target and loss.

    Used in: lib/maqamgen/diffusion/run.py (the validation curve of every trained denoiser)
    """
    if n_t < 1:
        raise ConfigError(f"n_t must be >= 1, got {n_t}")
    g = torch.Generator().manual_seed(int(seed))
    T = objective.schedule.T
    ts = np.unique(np.rint(np.linspace(0, T - 1, n_t)).astype(int)) if n_t > 1 else np.array([T // 2])
    total = 0.0
    with torch.no_grad():
        for t in ts:
            eps = torch.randn(x0.shape, generator=g).to(x0.device, x0.dtype)
            tt = torch.full((x0.shape[0],), int(t), dtype=torch.long, device=x0.device)
            total += float(diffusion_loss(model, x0, objective.schedule, objective.target, objective.loss,
                                          cond=cond, t=tt, eps=eps))
    return total / len(ts)


# --------------------------------------------------------------------------------------------
# Mask-conditioned inpainting (Stable Audio's inpainting training)
# --------------------------------------------------------------------------------------------

def random_time_masks(batch: int, width: int, generator: torch.Generator | None = None,
                      p_generate: float = 0.25, p_prefix: float = 0.5, p_suffix: float = 0.1,
                      min_frac: float = 0.1, max_frac: float = 0.75) -> Tensor:
    """Random masks over time (the last axis) for inpainting training, 1 = known, 0 = generate.

    Each sample is, independently, one of four kinds:

    * generate (probability ``p_generate``): all 0, plain generation;
    * prefix (``p_prefix``): the first ``k`` frames known, the rest generated (continuation);
    * suffix (``p_suffix``): the last ``k`` frames known (generating what leads into them);
    * infill (the rest, ``1 - p_generate - p_prefix - p_suffix``): a span of ``k`` frames at a
      uniform interior position is generated, at least one frame on each side of it known
      (bridging two known stretches, as when stitching windows).

    ``k`` is uniform over the integers in ``[ceil(min_frac W), floor(max_frac W)]`` (kept within
    ``1..W-1``; an infill span within ``1..W-2``).

    Args:
        batch: ``B``.
        width: ``W``, the number of frames (at least 3).
        generator: seeded source of the draws (same masks for the same seed; global RNG when None).
        p_generate, p_prefix, p_suffix: probabilities of the first three kinds (sum at most 1).
        min_frac, max_frac: range of ``k / W``, ``0 < min_frac <= max_frac < 1``.

    Returns:
        ``(B, 1, 1, W)`` float32 masks, on the generator's device (CPU when None).

    Raises:
        ConfigError: probabilities or fractions out of range, ``W < 3``.
    """
    probs = (p_generate, p_prefix, p_suffix)
    if any(not 0.0 <= p <= 1.0 for p in probs) or sum(probs) > 1.0 + 1e-9:
        raise ConfigError(f"mask probabilities (generate, prefix, suffix) = {probs} must lie in "
                          f"[0, 1] and sum to at most 1")
    if not 0.0 < min_frac <= max_frac < 1.0:
        raise ConfigError(f"need 0 < min_frac <= max_frac < 1, got {min_frac}, {max_frac}")
    if int(width) < 3 or int(batch) < 0:
        raise ConfigError(f"random_time_masks needs width >= 3 and batch >= 0, got {width}, {batch}")
    B, W = int(batch), int(width)
    dev = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(B, generator=generator, device=dev)  # the kind
    lo = min(max(1, math.ceil(min_frac * W)), W - 1)
    hi = max(lo, min(W - 1, math.floor(max_frac * W)))
    k = torch.randint(lo, hi + 1, (B, 1), generator=generator, device=dev)
    r = torch.rand(B, 1, generator=generator, device=dev)  # where an infill span starts
    w = torch.arange(W, device=dev)[None, :]
    prefix = w < k
    suffix = w >= W - k
    span = k.clamp(max=W - 2)
    start = 1 + (r * (W - span - 1)).long().clamp(max=W - span - 2)
    infill = (w < start) | (w >= start + span)
    c1, c2, c3 = p_generate, p_generate + p_prefix, p_generate + p_prefix + p_suffix
    kind = u[:, None]
    known = torch.where(kind < c1, torch.zeros_like(prefix),
                        torch.where(kind < c2, prefix, torch.where(kind < c3, suffix, infill)))
    return known.to(torch.float32).reshape(B, 1, 1, W)


def with_context(cond: Cond, known: Tensor, mask: Tensor) -> dict:
    """A dict condition holding ``cond`` and the context ``known`` and ``mask`` (:data:`CONTEXT_KEYS`).

    Args:
        cond: None, ``(B,)`` int labels (-> ``label``), ``(B, D)`` float vectors (-> ``vec``) or a dict.
        known: ``(B, ...)`` clean data whose known part is kept.
        mask: 1 = known, 0 = generate, broadcastable per channel (e.g. ``(B, 1, 1, W)``).

    Returns:
        ``{**cond, "known": known, "mask": mask}``.
    """
    if cond is None:
        base = {}
    elif isinstance(cond, dict):
        base = dict(cond)
    else:
        base = {"vec" if cond.is_floating_point() else "label": cond}
    return {**base, "known": known, "mask": mask}


@dataclass
class InpaintingObjective(DiffusionObjective):
    """:class:`DiffusionObjective` for a network that also sees the context ``[known * mask, mask]``.

    Stable Audio's inpainting training: each sample draws a random time mask
    (:func:`random_time_masks`), the condition gains ``known = x0`` and ``mask`` (a tensor
    condition becomes ``{"label": ...}`` or ``{"vec": ...}``), and the loss counts only the
    region to generate (``weight = 1 - mask``, normalised by its size; an all-0 mask gives the
    plain loss). Classifier-free guidance drops the label and vector, never the context.

    Attributes:
        p_generate, p_prefix, p_suffix, min_frac, max_frac: the masks' distribution (see
            :func:`random_time_masks`; the rest of the probability is infill).
        generator: source of the masks, ``t``, noise and drops (None: the global RNG, which
            :func:`maqamgen.train.train` seeds and checkpoints).
    """

    p_generate: float = 0.25
    p_prefix: float = 0.5
    p_suffix: float = 0.1
    min_frac: float = 0.1
    max_frac: float = 0.75
    generator: torch.Generator | None = field(default=None, repr=False, compare=False)

    def masks(self, batch: int, width: int) -> Tensor:
        """``(B, 1, 1, W)`` random masks of this objective's distribution."""
        return random_time_masks(batch, width, self.generator, self.p_generate, self.p_prefix,
                                 self.p_suffix, self.min_frac, self.max_frac)

    def __call__(self, model: Callable, batch) -> Tensor:
        x0, cond = _x0_and_cond(batch)
        if x0.ndim < 2:
            raise ConfigError(f"inpainting data must be (B, ..., W), got shape {tuple(x0.shape)}")
        m = self.masks(x0.shape[0], x0.shape[-1]).to(x0.device, x0.dtype)
        m = m.reshape(x0.shape[0], *([1] * (x0.ndim - 2)), x0.shape[-1])
        return diffusion_loss(model, x0, self.schedule, self.target, self.loss,
                              cond=with_context(cond, x0, m), p_uncond=self.p_uncond,
                              generator=self.generator, weight=1.0 - m)


# --------------------------------------------------------------------------------------------
# Reverse steps
# --------------------------------------------------------------------------------------------

class Step(NamedTuple):
    """One reverse step's result: the less noisy sample and the model's current guess of x0."""

    x_prev: Tensor
    x0_hat: Tensor


def sampling_timesteps(steps: int, T: int, spacing: str = "leading") -> list[int]:
    """The decreasing timesteps a sampler visits, with diffusers' three spacings.

    * ``leading``:  ``k * (T // steps)`` for ``k = steps-1 .. 0`` (DDIM paper; diffusers default).
    * ``trailing``: ``round(T - k T / steps) - 1`` (ends at high noise ``T-1``; Lin et al. 2024).
    * ``linspace``: ``round(linspace(0, T-1, steps))`` reversed.

    Args:
        steps: number of reverse steps, ``1 <= steps <= T``.
        T: number of training timesteps.
        spacing: one of :data:`SPACINGS`.

    Returns:
        ``steps`` distinct ints, decreasing.
    """
    if not 1 <= int(steps) <= T:
        raise ConfigError(f"steps must be between 1 and T={T}, got {steps}")
    if spacing == "leading":
        ts = (np.arange(steps) * (T // steps))[::-1]
    elif spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / steps)).astype(np.int64) - 1
    elif spacing == "linspace":
        ts = np.linspace(0, T - 1, steps).round()[::-1]
    else:
        raise ConfigError(f"unknown timestep spacing {spacing!r}; known: {', '.join(SPACINGS)}")
    return [int(v) for v in ts]


def q_posterior(x0: Tensor, x_t: Tensor, t: int, t_prev: int, schedule: Schedule,
                variance_type: str = "fixed_small") -> tuple[Tensor, Tensor]:
    """Mean and variance of ``q(x_{t_prev} | x_t, x0)`` (Ho et al. 2020, eqs. 6-7).

    With a strided walk (``t_prev < t - 1``) the step's own ``beta = 1 - alpha_bar_t / alpha_bar_{t_prev}``
    is used, as in Improved DDPM's respacing and diffusers' ``DDPMScheduler.set_timesteps``:

        mean = sqrt(alpha_bar_prev) beta / (1 - alpha_bar_t) x0 + sqrt(alpha) (1 - alpha_bar_prev) / (1 - alpha_bar_t) x_t
        var  = (1 - alpha_bar_prev) / (1 - alpha_bar_t) beta      ("fixed_small", beta_tilde)
             = beta                                                ("fixed_large")

    Args:
        x0: (predicted) clean data, ``(B, ...)``.
        x_t: the noisy sample at ``t``, same shape.
        t: current timestep (``>= 0``).
        t_prev: next timestep, ``< t``; ``-1`` means clean data.
        schedule: the noise schedule.
        variance_type: ``fixed_small`` or ``fixed_large``.

    Returns:
        ``(mean, variance)``: mean of ``x_t``'s shape, variance ``(B, 1, ..., 1)``.
    """
    if variance_type not in VARIANCE_TYPES:
        raise ConfigError(f"unknown variance type {variance_type!r}; known: {', '.join(VARIANCE_TYPES)}")
    ab_t = alpha_bar_at(schedule, t, x_t)
    ab_prev = alpha_bar_at(schedule, t_prev, x_t)
    alpha = ab_t / ab_prev
    beta = 1.0 - alpha
    mean = (ab_prev.sqrt() * beta / (1.0 - ab_t)) * x0 + (alpha.sqrt() * (1.0 - ab_prev) / (1.0 - ab_t)) * x_t
    var = (1.0 - ab_prev) / (1.0 - ab_t) * beta if variance_type == "fixed_small" else beta
    return mean, var


def _clip(x0: Tensor, clip_x0: float | None) -> Tensor:
    return x0 if clip_x0 is None else x0.clamp(-clip_x0, clip_x0)


def ddpm_step(model_output: Tensor, x_t: Tensor, t: int, t_prev: int, schedule: Schedule,
              target: str = "eps", noise: Tensor | None = None,
              generator: torch.Generator | None = None, clip_x0: float | None = None,
              variance_type: str = "fixed_small") -> Step:
    """One ancestral step ``x_{t_prev} ~ p(x_{t_prev} | x_t) = q(x_{t_prev} | x_t, x0_hat)``.

    Args:
        model_output: the network's output at ``(x_t, t)``, of kind ``target``.
        x_t: ``(B, ...)`` current sample.
        t: current timestep; ``t_prev``: the next one (``-1`` at the end: no noise is added).
        schedule: the noise schedule.
        target: ``eps``, ``x0`` or ``v``.
        noise: the standard normal noise to add (shape of ``x_t``); drawn from ``generator`` when None.
        generator: seeded source of the noise.
        clip_x0: clamp ``x0_hat`` to ``[-clip_x0, clip_x0]`` (None: no clipping).
        variance_type: ``fixed_small`` (``beta_tilde``) or ``fixed_large`` (``beta``).

    Returns:
        :class:`Step` ``(x_prev, x0_hat)``.
    """
    x0_hat, _ = x0_eps_from_output(model_output, x_t, t, schedule, target)
    x0_hat = _clip(x0_hat, clip_x0)
    mean, var = q_posterior(x0_hat, x_t, t, t_prev, schedule, variance_type)
    if t_prev < 0:
        return Step(mean, x0_hat)
    if noise is None:
        noise = _randn(x_t.shape, generator, x_t)
    return Step(mean + var.sqrt() * noise, x0_hat)


def ddim_sigma(t: int, t_prev: int, schedule: Schedule, eta: float, like: Tensor) -> Tensor:
    """DDIM's noise scale ``sigma = eta sqrt((1 - ab_prev) / (1 - ab_t) (1 - ab_t / ab_prev))`` (Song et al. eq. 16)."""
    ab_t = alpha_bar_at(schedule, t, like)
    ab_prev = alpha_bar_at(schedule, t_prev, like)
    return eta * ((1.0 - ab_prev) / (1.0 - ab_t) * (1.0 - ab_t / ab_prev)).sqrt()


def ddim_step(model_output: Tensor, x_t: Tensor, t: int, t_prev: int, schedule: Schedule,
              target: str = "eps", eta: float = 0.0, noise: Tensor | None = None,
              generator: torch.Generator | None = None, clip_x0: float | None = None) -> Step:
    """One DDIM step (Song et al. 2021, eq. 12)::

        x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat + sigma z

    ``eta = 0`` is deterministic; ``eta = 1`` matches DDPM's ``fixed_small`` variance.

    Args:
        model_output: the network's output at ``(x_t, t)``, of kind ``target``.
        x_t: ``(B, ...)`` current sample.
        t: current timestep; ``t_prev``: the next one (``-1``: clean data).
        schedule: the noise schedule.
        target: ``eps``, ``x0`` or ``v``.
        eta: stochasticity in [0, 1].
        noise: the ``z`` above (only used when ``eta > 0``); drawn from ``generator`` when None.
        generator: seeded source of ``z``.
        clip_x0: clamp ``x0_hat`` (``eps_hat`` is then recomputed from the clamped ``x0_hat``).

    Returns:
        :class:`Step` ``(x_prev, x0_hat)``.
    """
    x0_hat, eps_hat = x0_eps_from_output(model_output, x_t, t, schedule, target)
    if clip_x0 is not None:
        x0_hat = _clip(x0_hat, clip_x0)
        eps_hat = predict_eps_from_x0(x_t, t, x0_hat, schedule)
    ab_prev = alpha_bar_at(schedule, t_prev, x_t)
    sigma = ddim_sigma(t, t_prev, schedule, eta, x_t)
    x_prev = ab_prev.sqrt() * x0_hat + (1.0 - ab_prev - sigma ** 2).clamp(min=0).sqrt() * eps_hat
    if eta > 0 and t_prev >= 0:
        if noise is None:
            noise = _randn(x_t.shape, generator, x_t)
        x_prev = x_prev + sigma * noise
    return Step(x_prev, x0_hat)


# --------------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------------

class _EvalMode:
    """Put an ``nn.Module`` in eval mode for sampling and restore its mode afterwards."""

    def __init__(self, model):
        self.model = model if isinstance(model, torch.nn.Module) else None

    def __enter__(self):
        if self.model is not None:
            self.was_training = self.model.training
            self.model.eval()

    def __exit__(self, *exc):
        if self.model is not None:
            self.model.train(self.was_training)


def _progress(it, progress: bool, desc: str):
    if not progress:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False)


def _initial_noise(shape, x_T, generator, device, dtype) -> Tensor:
    if x_T is not None:
        return x_T
    like = torch.empty(0, device=device, dtype=dtype)
    return _randn(tuple(shape), generator, like)


def _sample(model, shape, schedule, timesteps, step_fn, cond, guidance_scale, generator,
            x_T, device, dtype, progress, return_trajectory, desc):
    x = _initial_noise(shape, x_T, generator, device, dtype)
    traj = [x.detach().cpu()] if return_trajectory else None
    ts_next = list(timesteps[1:]) + [-1]
    with torch.no_grad(), _EvalMode(model):
        for t, t_prev in _progress(list(zip(timesteps, ts_next)), progress, desc):
            tt = _as_t(t, x.shape[0], x.device)
            out = guided_output(model, x, tt, cond, guidance_scale)
            x = step_fn(out, x, t, t_prev).x_prev
            if traj is not None:
                traj.append(x.detach().cpu())
    return (x, traj) if return_trajectory else x


def ddpm_sample(model: Callable, shape: tuple[int, ...], schedule: Schedule, *,
                steps: int | None = None, target: str = "eps", cond: Cond = None,
                guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                x_T: Tensor | None = None, clip_x0: float | None = None,
                variance_type: str = "fixed_small", spacing: str = "leading",
                device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                progress: bool = False, return_trajectory: bool = False):
    """Ancestral DDPM sampling (Ho et al. 2020, Algorithm 2), optionally respaced to fewer steps.

    Args:
        model: the denoiser, ``model(x_t, t[, cond])``.
        shape: ``(B, ...)`` of the samples.
        schedule: the noise schedule the model was trained with.
        steps: number of reverse steps (None: all ``T``).
        target: what the model predicts (``eps``, ``x0``, ``v``).
        cond: condition (None: unconditional).
        guidance_scale: classifier-free guidance weight ``w`` (1: plain conditional).
        generator: seeded source of the initial and per-step noise (same samples for the same seed).
        x_T: the starting noise (drawn from ``generator`` when None).
        clip_x0: clamp ``x0_hat`` at each step (None: off).
        variance_type: ``fixed_small`` or ``fixed_large``.
        spacing: timestep spacing when ``steps < T`` (see :func:`sampling_timesteps`).
        device, dtype: where and in what precision to sample.
        progress: show a tqdm bar.
        return_trajectory: also return the list of every ``x_t`` (on CPU), noise first.

    Returns:
        Samples ``(B, ...)``, or ``(samples, trajectory)``.
    """
    timesteps = sampling_timesteps(steps or schedule.T, schedule.T, spacing)

    def step(out, x, t, t_prev):
        return ddpm_step(out, x, t, t_prev, schedule, target, generator=generator,
                         clip_x0=clip_x0, variance_type=variance_type)

    return _sample(model, shape, schedule, timesteps, step, cond, guidance_scale, generator,
                   x_T, device, dtype, progress, return_trajectory, "DDPM")


def ddim_sample(model: Callable, shape: tuple[int, ...], schedule: Schedule, *,
                steps: int = 50, eta: float = 0.0, target: str = "eps", cond: Cond = None,
                guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                x_T: Tensor | None = None, clip_x0: float | None = None,
                spacing: str = "leading", device: str | torch.device = "cpu",
                dtype: torch.dtype = torch.float32, progress: bool = False,
                return_trajectory: bool = False):
    """DDIM sampling (Song et al. 2021) with any number of steps; deterministic for ``eta = 0``.

    Args: as :func:`ddpm_sample`, plus ``eta`` (0: deterministic, 1: DDPM-like noise).

    Returns:
        Samples ``(B, ...)``, or ``(samples, trajectory)``.
    """
    timesteps = sampling_timesteps(steps, schedule.T, spacing)

    def step(out, x, t, t_prev):
        return ddim_step(out, x, t, t_prev, schedule, target, eta=eta, generator=generator,
                         clip_x0=clip_x0)

    return _sample(model, shape, schedule, timesteps, step, cond, guidance_scale, generator,
                   x_T, device, dtype, progress, return_trajectory, "DDIM")


# --------------------------------------------------------------------------------------------
# Inpainting / outpainting (RePaint)
# --------------------------------------------------------------------------------------------

def repaint_path(n_steps: int, jump_length: int = 1, n_resample: int = 1) -> list[int]:
    """Positions visited by RePaint's resampling schedule (Lugmayr et al. 2022, ``get_schedule_jump``).

    Position ``p`` means "the sample is at timestep ``tau_p``" (``p = 0``: the starting noise,
    ``p = n_steps``: clean data). A move ``p -> p + 1`` is a reverse (denoising) step, a move
    ``p -> p - 1`` re-noises by one step. Every ``jump_length`` reverse steps the walk goes back
    up ``jump_length`` steps, ``n_resample - 1`` times, so the generated and the known regions
    harmonise.

    Args:
        n_steps: number of sampler timesteps.
        jump_length: how many steps each jump goes back.
        n_resample: how often each stretch is traversed (1: no resampling, a plain walk).

    Returns:
        The positions, starting at 0 and ending at ``n_steps``.
    """
    if jump_length < 1 or n_resample < 1:
        raise ConfigError(f"jump_length and n_resample must be >= 1, got {jump_length}, {n_resample}")
    jumps = {j: n_resample - 1 for j in range(0, n_steps - jump_length, jump_length)}
    level, levels = n_steps, []
    while level >= 1:
        level -= 1
        levels.append(level)
        if jumps.get(level, 0) > 0:
            jumps[level] -= 1
            for _ in range(jump_length):
                level += 1
                levels.append(level)
    levels.append(-1)
    return [n_steps - 1 - lv for lv in levels]


def q_renoise(x_s: Tensor, s: int, t: int, schedule: Schedule,
              generator: torch.Generator | None = None) -> Tensor:
    """Sample ``q(x_t | x_s)`` for ``t > s``: ``x_t = sqrt(ab_t / ab_s) x_s + sqrt(1 - ab_t / ab_s) z``.

    ``s = -1`` (clean data) is allowed. Shapes of ``x_s``.
    """
    a = alpha_bar_at(schedule, t, x_s) / alpha_bar_at(schedule, s, x_s)
    return a.sqrt() * x_s + (1.0 - a).sqrt() * _randn(x_s.shape, generator, x_s)


def _broadcast_mask(mask: Tensor, x: Tensor) -> Tensor:
    """``mask`` broadcast to ``x``'s shape, in its dtype and on its device; a ConfigError naming
    the shapes when it does not broadcast."""
    try:
        return torch.broadcast_to(mask.to(x.device), x.shape).to(x.dtype)
    except RuntimeError:
        raise ConfigError(f"mask of shape {tuple(mask.shape)} does not broadcast to the data's "
                          f"shape {tuple(x.shape)}") from None


def inpaint(model: Callable, known_x0: Tensor, mask: Tensor, schedule: Schedule, *,
            sampler: str = "ddim", steps: int | None = 50, eta: float = 0.0,
            jump_length: int = 1, n_resample: int = 1, target: str = "eps", cond: Cond = None,
            guidance_scale: float = 1.0, generator: torch.Generator | None = None,
            x_T: Tensor | None = None, clip_x0: float | None = None, spacing: str = "leading",
            progress: bool = False) -> Tensor:
    """Sample with a known region held fixed (RePaint, Lugmayr et al. 2022): in- and outpainting.

    After every reverse step to timestep ``s`` the known region is replaced by a fresh
    ``q_sample(known_x0, s)``; at the end (``s = -1``) it equals ``known_x0`` exactly. With
    ``n_resample > 1`` the walk re-noises and re-denoises stretches of ``jump_length`` steps so the
    unknown region agrees with the known one. Outpainting (continuing a phrase) is the same
    call with the known region on one side.

    Args:
        model: the denoiser, ``model(x_t, t[, cond])``.
        known_x0: ``(B, ...)`` data whose known region is kept (values elsewhere are ignored).
        mask: 1/True where ``known_x0`` is known, 0/False where to generate; broadcastable to
            ``known_x0`` (e.g. ``(1, 1, H, W)``). Values in between blend softly.
        schedule: the noise schedule the model was trained with.
        sampler: ``ddim`` or ``ddpm``.
        steps: reverse steps (None with ``ddpm``: all ``T``).
        eta: DDIM stochasticity.
        jump_length, n_resample: RePaint resampling (see :func:`repaint_path`).
        target, cond, guidance_scale, generator, x_T, clip_x0, spacing, progress: as :func:`ddim_sample`.

    Returns:
        ``(B, ...)`` samples; the known region equals ``known_x0`` where ``mask`` is 1.
    """
    if sampler not in ("ddim", "ddpm"):
        raise ConfigError(f"unknown sampler {sampler!r}; known: ddim, ddpm")
    mask = _broadcast_mask(mask, known_x0)
    timesteps = sampling_timesteps(steps or schedule.T, schedule.T, spacing) + [-1]
    path = repaint_path(len(timesteps) - 1, jump_length, n_resample)
    x = _initial_noise(known_x0.shape, x_T, generator, known_x0.device, known_x0.dtype)
    with torch.no_grad(), _EvalMode(model):
        for p, q in _progress(list(zip(path[:-1], path[1:])), progress, "RePaint"):
            t, s = timesteps[p], timesteps[q]
            if q < p:  # re-noise one step back up: x_s ~ q(x_s | x_t)
                x = q_renoise(x, t, s, schedule, generator)
                continue
            tt = _as_t(t, x.shape[0], x.device)
            out = guided_output(model, x, tt, cond, guidance_scale)
            if sampler == "ddim":
                x = ddim_step(out, x, t, s, schedule, target, eta=eta, generator=generator,
                              clip_x0=clip_x0).x_prev
            else:
                x = ddpm_step(out, x, t, s, schedule, target, generator=generator,
                              clip_x0=clip_x0).x_prev
            known_s = q_sample(known_x0, s, None, schedule, generator)
            x = mask * known_s + (1.0 - mask) * x
    return x


def continue_sample(model: Callable, known_x0: Tensor, mask: Tensor, schedule: Schedule, *,
                    steps: int = 50, target: str = "eps", cond: Cond = None,
                    guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                    eta: float = 0.0, clip_x0: float | None = None, x_T: Tensor | None = None,
                    spacing: str = "leading", progress: bool = False) -> Tensor:
    """Mask-conditioned continuation (and infilling) with a network trained by :class:`InpaintingObjective`.

    Runs :func:`ddim_sample` with the condition ``with_context(cond, known_x0, mask)``, so the
    network sees the known region at every step, then pastes the known region back:
    ``mask * known_x0 + (1 - mask) * x``. Unlike :func:`inpaint` (RePaint) the network itself
    makes the generated region agree with the context; one pass, no resampling. The same is
    ``ddim_sample(model, shape, schedule, cond={"label": ..., "known": ..., "mask": ...})``
    without the final paste.

    Args:
        model: a denoiser that reads the context (e.g. ``UNet(inpainting=True)``).
        known_x0: ``(B, C, H, W)`` data whose known region is kept (values elsewhere are unseen).
        mask: 1 = known, 0 = generate, broadcastable to ``(B, 1, H, W)`` (e.g. ``(1, 1, 1, W)``).
        schedule: the noise schedule the model was trained with.
        steps, target, cond, guidance_scale, generator, eta, clip_x0, x_T, spacing, progress:
            as :func:`ddim_sample` (guidance drops the label and vector, never the context).

    Returns:
        ``(B, C, H, W)`` samples equal to ``known_x0`` where ``mask`` is 1.
    """
    full = _broadcast_mask(mask, known_x0)
    x = ddim_sample(model, tuple(known_x0.shape), schedule, steps=steps, eta=eta, target=target,
                    cond=with_context(cond, known_x0, mask.to(known_x0.device)),
                    guidance_scale=guidance_scale, generator=generator, x_T=x_T, clip_x0=clip_x0,
                    spacing=spacing, device=known_x0.device, dtype=known_x0.dtype,
                    progress=progress)
    return full * known_x0 + (1.0 - full) * x
