"""Chapter 5 helpers: the same U-Net DDPM trained at several input sizes under one compute
budget, and the measurements of middle-part hallucination along the generated time axis.

* :func:`receptive_field` -- the U-Net's theoretical receptive field along one axis, exactly
  (interval arithmetic through every convolution, down- and up-sampling and skip connection);
  :func:`empirical_receptive_field` measures it from gradients, :func:`edge_blind` says which
  output frames cannot see either edge of a ``W``-frame input.
* :func:`size_spec` / :func:`train_size` -- one size under the budget (``pixels``: the same
  optimizer steps and the same ``batch x H x W`` per step, so the same FLOPs; ``patches``: the
  same steps and batch), trained and cached by :func:`maqamgen.diffusion.run.train_denoiser`.
* :func:`denoising_error_profile` -- the denoiser's squared error on real patches by frame
  position at fixed timesteps; :func:`heldout_loss` its mean over a grid of timesteps.
* :func:`with_padding` -- a copy of a network whose convolutions pad circularly (or by
  reflection) instead of with zeros: no edge cue.
* :func:`frame_profile`, :func:`repetition_profile`, :func:`position_spread` -- per-position
  curves of generated or real patches (nearest-real-frame distance, self-repetition, spread of
  real frames across clips).
* :func:`windows`, :func:`resample_mels` -- bring patches of any size onto the evaluation grid
  of the in-domain classifier.

Used in: book/part1/05_scaling_hallucination.md
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math

import numpy as np
import torch
from torch import nn

from maqamgen import diffusion, features, metrics
from maqamgen.diffusion import run
from maqamgen.recipes import ch04_unet_ddpm
from maqamgen.errors import ConfigError
from maqamgen.nets import unet as unet_mod

# ----------------------------------------------------------------------------- receptive field


def _conv(f, k: int = 3):
    r = k // 2
    return functools.lru_cache(None)(lambda p: (f(p - r)[0], f(p + r)[1]))


def _down(f):
    """Stride-2, 3-tap, padding-1 convolution: output ``p`` reads inputs ``2p - 1 .. 2p + 1``."""
    return functools.lru_cache(None)(lambda p: (f(2 * p - 1)[0], f(2 * p + 1)[1]))


def _up(f):
    """Nearest up-sampling by 2: output ``p`` copies input ``p // 2``."""
    return functools.lru_cache(None)(lambda p: f(p // 2))


def _union(f, g):
    return functools.lru_cache(None)(lambda p: (min(f(p)[0], g(p)[0]), max(f(p)[1], g(p)[1])))


def _res(f):
    return _union(_conv(_conv(f)), f)  # GN-SiLU-conv, GN-SiLU-conv, plus the (1x1) skip


def receptive_field(cfg: unet_mod.UNetConfig) -> dict:
    """Theoretical receptive field of :class:`maqamgen.nets.unet.UNet` along one spatial axis.

    Follows ``UNet.forward`` on an infinite line: every 3x3 convolution widens the window by one
    position on each side at its own resolution, a stride-2 convolution maps ``p`` to
    ``2p - 1 .. 2p + 1``, nearest up-sampling maps ``p`` to ``p // 2``, skip connections take the
    union. GroupNorm statistics and the (t, c) embedding carry no position, so they are left
    out; self-attention makes the field global.

    Args:
        cfg: the U-Net's configuration.

    Returns:
        ``{"global": bool, "width": max over output positions of hi - lo + 1, "min_width",
        "left": max p - lo, "right": max hi - p, "period": 2^(L-1), "offsets": [(p - lo, hi - p)
        for p in one period]}`` (widths in input positions, e.g. frames); for a global field the
        numbers are ``inf``.

    Used in: book/part1/05_scaling_hallucination.md
    """
    L = cfg.levels
    if cfg.mid_attn or cfg.attn_levels:
        inf = math.inf
        return {"global": True, "width": inf, "min_width": inf, "left": inf, "right": inf,
                "period": 2 ** (L - 1), "offsets": []}
    h = _conv(lambda p: (p, p))  # conv_in
    hs = [h]
    for i in range(L):
        for _ in range(cfg.n_res_blocks):
            h = _res(h)
            hs.append(h)
        if i < L - 1:
            h = _down(h)
            hs.append(h)
    h = _res(_res(h))  # mid1, (no attention), mid2
    for j in range(L):
        for _ in range(cfg.n_res_blocks + 1):
            h = _res(_union(h, hs.pop()))
        if j < L - 1:
            h = _conv(_up(h))
    out = _conv(h)  # conv_out
    period = 2 ** (L - 1)
    base = 1000 * period
    offs = [(p - out(p)[0], out(p)[1] - p) for p in range(base, base + period)]
    widths = [a + b + 1 for a, b in offs]
    return {"global": False, "width": max(widths), "min_width": min(widths),
            "left": max(a for a, _ in offs), "right": max(b for _, b in offs), "period": period,
            "offsets": offs}


def empirical_receptive_field(model: nn.Module, H: int, W: int, p: int, axis: int = -1,
                              drop_norm: bool = True, t: int = 500) -> tuple[int, int, np.ndarray]:
    """Receptive field of output position ``p`` measured from gradients.

    The gradient of the output at position ``p`` (summed over channels and the other axis) with
    respect to the input is non-zero exactly where the input can influence it.

    Args:
        model: a :class:`~maqamgen.nets.unet.UNet` (not changed: a copy is measured).
        H, W: input size.
        p: output position along ``axis``.
        axis: -1 (time, width) or -2 (mel, height).
        drop_norm: replace GroupNorm by identity first (GroupNorm's global mean and variance
            reach every position, weakly; without it the support is the theoretical field).
        t: diffusion timestep fed to the network.

    Returns:
        ``(lo, hi, g)``: first and last input positions with non-zero gradient and the gradient
        magnitude ``(H or W,)`` along the axis.
    """
    m = copy.deepcopy(model).float().eval()
    if drop_norm:
        for name, mod in list(m.named_modules()):
            for cname, child in list(mod.named_children()):
                if isinstance(child, nn.GroupNorm):
                    setattr(mod, cname, nn.Identity())
    torch.manual_seed(0)
    x = torch.randn(1, m.config.in_channels, H, W, requires_grad=True)
    out = m(x, torch.tensor([t]))
    sel = out[..., :, p] if axis in (-1, 3) else out[..., p, :]
    sel.sum().backward()
    g = x.grad.abs().sum(dim=(0, 1, 2) if axis in (-1, 3) else (0, 1, 3)).numpy()
    nz = np.flatnonzero(g > 0)
    return int(nz[0]), int(nz[-1]), g


def edge_blind(rf: dict, W: int) -> np.ndarray:
    """Which of ``W`` output frames have a receptive field that reaches neither edge: ``(W,)`` bool.

    Such a frame is computed from the input frames alone, with no zero padding anywhere in its
    field, so nothing tells the network where in the patch it is.
    """
    if rf["global"]:
        return np.zeros(W, bool)
    p = np.arange(W)
    period = rf["period"]
    offs = np.array(rf["offsets"])
    left, right = offs[p % period, 0], offs[p % period, 1]
    return (p - left >= 0) & (p + right <= W - 1)


# ----------------------------------------------------------------------------- training


def batch_for(size: tuple[int, int], ref_size: tuple[int, int], ref_batch: int, budget: str) -> int:
    """Batch of ``size = (H, W)`` under the budget: ``pixels`` keeps ``batch x H x W`` (so the FLOPs
    of a step of this fully convolutional net) equal to the reference's; ``patches`` keeps the batch.
    """
    if budget == "patches":
        return int(ref_batch)
    if budget != "pixels":
        raise ConfigError(f"unknown budget {budget!r}; known: pixels, patches")
    return max(1, int(round(ref_batch * ref_size[0] * ref_size[1] / (size[0] * size[1]))))


def feature_config(base: features.FeatureConfig, size: tuple[int, int], stride: int) -> features.FeatureConfig:
    """The patch settings of ``size = (n_mels, frames)``: the base ones with those changed."""
    return dataclasses.replace(base, n_mels=int(size[0]), frames=int(size[1]), patch_stride=int(stride))


def size_spec(dcfg, scfg, size: tuple[int, int], seed: int = 0) -> run.DenoiserSpec:
    """The :class:`~maqamgen.run.DenoiserSpec` of one size: Chapter 4's reference model with
    the chapter's preset, steps and the budget's batch."""
    ref = (dcfg.features.n_mels, dcfg.features.frames)
    return ch04_unet_ddpm.base_spec(dcfg, seed=seed, preset=scfg.preset, steps=scfg.steps,
                             batch_size=batch_for(size, ref, scfg.batch_size, scfg.budget))


# ----------------------------------------------------------------------------- probes


def with_padding(model: nn.Module, mode: str = "circular") -> nn.Module:
    """A copy of ``model`` whose padded convolutions pad with ``mode`` (``circular``,
    ``reflect``, ``replicate`` or ``zeros``) instead of zeros."""
    m = copy.deepcopy(model)
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d) and any(int(p) > 0 for p in mod.padding):
            mod.padding_mode = mode
    return m


@torch.no_grad()
def denoising_error_profile(model: nn.Module, x0: torch.Tensor, labels, schedule: diffusion.Schedule,
                            ts, seed: int = 0, batch: int = 16) -> np.ndarray:
    """Squared error of the predicted noise on real patches by frame position, at fixed timesteps.

    ``e_t(w) = mean_{n, mel} (eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t, c))^2`` at
    frame ``w``, with the same seeded noise for every ``t`` (epsilon-prediction networks).

    Args:
        model: the denoiser.
        x0: ``(N, 1, H, W)`` real patches.
        labels: ``(N,)`` their class labels (the condition).
        schedule: the noise schedule.
        ts: timesteps.

    Returns:
        ``(len(ts), W)`` errors.
    """
    g = torch.Generator().manual_seed(int(seed))
    eps = torch.randn(x0.shape, generator=g)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    model = model.eval()
    out = np.zeros((len(ts), x0.shape[-1]))
    for k, t in enumerate(ts):
        acc = torch.zeros(x0.shape[-1], dtype=torch.float64)
        for i in range(0, len(x0), batch):
            xb, eb = x0[i:i + batch], eps[i:i + batch]
            tt = torch.full((len(xb),), int(t), dtype=torch.long)
            xt = diffusion.q_sample(xb, tt, eb, schedule)
            err = (model(xt, tt, labels[i:i + batch]) - eb) ** 2
            acc += err.double().sum(dim=(0, 1, 2))
        out[k] = (acc / (len(x0) * x0.shape[2])).numpy()
    return out


def heldout_loss(model, x0, labels, schedule, n_t: int = 8, seed: int = 0) -> float:
    """Mean squared noise-prediction error on held-out patches over ``n_t`` evenly spaced
    timesteps (fixed noise): the training loss measured on data the model never saw."""
    T = schedule.T
    ts = [int(round((k + 0.5) * T / n_t)) for k in range(n_t)]
    return float(denoising_error_profile(model, x0, labels, schedule, ts, seed=seed).mean())


def frame_profile(samples, bank) -> np.ndarray:
    """Mean :func:`maqamgen.metrics.nearest_frame_distance` at each frame index over samples
    ``(N, [1,] H, W)``: ``(W,)``."""
    S = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    S = S.reshape(S.shape[0], S.shape[-2], S.shape[-1])
    return np.mean([metrics.nearest_frame_distance(s, bank) for s in S], axis=0)


def repetition_profile(S, min_lag: int = 4, max_lag: int | None = None) -> np.ndarray:
    """How much each frame repeats elsewhere in its own sequence: ``(T,)``.

    Entry ``t`` is the largest cosine similarity between the centred frame ``t`` and any frame
    at least ``min_lag`` (and at most ``max_lag``, default ``T``) frames away. A looping
    stretch scores near 1 everywhere in it; a stretch that never comes back scores low.

    Args:
        S: ``(n_mels, T)`` spectrogram.
    """
    S = np.asarray(S, dtype=np.float64)
    X = S - S.mean(axis=1, keepdims=True)
    X = X / np.maximum(np.linalg.norm(X, axis=0, keepdims=True), 1e-9)
    C = X.T @ X
    T = C.shape[0]
    lag = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    max_lag = T if max_lag is None else max_lag
    C[(lag < min_lag) | (lag > max_lag)] = -np.inf
    out = C.max(axis=1)
    return np.where(np.isfinite(out), out, 0.0)


def position_spread(mels, n_bins: int = 9) -> np.ndarray:
    """Spread of real frames across sequences at each relative position: ``(n_bins,)``.

    Each sequence ``(n_mels, T_i)`` (any length) is averaged in ``n_bins`` equal stretches of its
    own time axis; the result is the variance across sequences of those mean frames, averaged
    over mel bands. Low where the sequences resemble each other (stereotyped openings and
    closings), high where they differ.
    """
    prof = np.stack([np.stack([metrics.position_profile(row, n_bins) for row in np.asarray(m)], axis=1)
                     for m in mels])  # (n_seq, n_bins, n_mels)
    return prof.var(axis=0).mean(axis=1)


def thirds(curve) -> dict:
    """Mean of a per-frame curve over the first, middle and last thirds, and middle / outer."""
    v = np.asarray(curve, dtype=np.float64)
    T = len(v)
    a, b = T // 3, 2 * T // 3
    outer = float(np.concatenate([v[:a], v[b:]]).mean())
    mid = float(v[a:b].mean())
    return {"first": float(v[:a].mean()), "middle": mid, "last": float(v[b:].mean()),
            "outer": outer, "ratio": mid / max(outer, 1e-12)}


# ----------------------------------------------------------------------------- evaluation grid


def resample_mels(x, n_mels: int) -> torch.Tensor:
    """Patches ``(N, 1, H, W)`` on ``H`` mel bands -> ``n_mels`` bands over the same band edges.

    Mel bands are evenly spaced in mel, band ``k`` of ``H`` centred at ``(k + 1) / (H + 1)`` of
    the range, so linear interpolation at those positions moves a patch to another band count.
    """
    x = torch.as_tensor(x)
    H = x.shape[-2]
    if H == n_mels:
        return x
    src = (np.arange(H) + 1) / (H + 1)
    dst = (np.arange(n_mels) + 1) / (n_mels + 1)
    i = np.clip(np.searchsorted(src, dst) - 1, 0, H - 2)
    w = np.clip((dst - src[i]) / (src[i + 1] - src[i]), 0.0, 1.0)
    lo, hi = x[..., torch.as_tensor(i), :], x[..., torch.as_tensor(i + 1), :]
    wt = torch.as_tensor(w, dtype=x.dtype)[:, None]
    return lo * (1 - wt) + hi * wt


def windows(x, width: int) -> torch.Tensor:
    """Cut patches ``(N, 1, H, W)`` into non-overlapping ``width``-frame windows ``(N * (W // width), 1, H, width)``.

    Patches narrower than ``width`` are returned unchanged (then the classifier cannot judge them).
    """
    x = torch.as_tensor(x)
    N, C, H, W = x.shape
    k = W // width
    if k == 0:
        return x
    return x[..., :k * width].reshape(N, C, H, k, width).permute(0, 3, 1, 2, 4).reshape(N * k, C, H, width)
