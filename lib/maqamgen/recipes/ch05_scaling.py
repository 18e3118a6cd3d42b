"""Chapter 5 helpers: the same U-Net DDPM trained at several input sizes under one compute
budget, the network analysis behind middle-part hallucination, and each size's record.

* :func:`receptive_field` -- the U-Net's theoretical receptive field along one axis, exactly
  (interval arithmetic through every convolution, down- and up-sampling and skip connection);
  :func:`empirical_receptive_field` measures it from gradients, :func:`edge_blind` says which
  output frames cannot see either edge of a ``W``-frame input.
* :func:`size_spec` / :func:`feature_config` -- one size under the budget (``pixels``: the same
  optimizer steps and the same ``batch x H x W`` per step, so the same FLOPs; ``patches``: the
  same steps and batch), trained and cached by :func:`maqamgen.diffusion.run.train_denoiser`.
* :func:`denoising_error_profile` -- the denoiser's squared error on real patches by frame
  position at fixed timesteps (per patch, for intervals); :func:`heldout_loss` its mean over a
  grid of timesteps, :func:`heldout_loss_interval` with a bootstrap interval over the patches.
* Intervals and verdicts: :func:`sample_ci` (a mean over samples, no interval under
  :data:`MIN_SAMPLES`), :func:`thirds_interval` (first / middle / last thirds of per-sample
  curves), :func:`spread_interval` (of :func:`maqamgen.metrics.position_spread`),
  :func:`hallucination_intervals` (the hallucination index of a set of sequences);
  :func:`compare` says whether two intervals separate, :func:`hallucination_verdict` /
  :func:`count_verdicts` turn that into the chapter's computed conclusions.
* :func:`with_padding` -- a copy of a network whose convolutions pad circularly (or by
  reflection) instead of with zeros: no edge cue.
* :func:`judge`, :func:`position_profiles`, :func:`model_core` -- patches of any size judged on
  the evaluation grid (:func:`maqamgen.features.resample_mels`,
  :func:`maqamgen.features.cut_windows`, :func:`maqamgen.metrics.evaluator_intervals`,
  :func:`maqamgen.metrics.hallucination_index`), their per-position curves, and a size's core
  metrics. The measurements themselves are defined in :mod:`maqamgen.metrics`.

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

from maqamgen import diffusion, evaluation, features, metrics, results
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

    Used in: book/part1/05_scaling_hallucination.md
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

    Used in: book/part1/05_scaling_hallucination.md
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

    Used in: lib/maqamgen/recipes/ch05_scaling.py (size_spec)
    """
    if budget == "patches":
        return int(ref_batch)
    if budget != "pixels":
        raise ConfigError(f"unknown budget {budget!r}; known: pixels, patches")
    return max(1, int(round(ref_batch * ref_size[0] * ref_size[1] / (size[0] * size[1]))))


def feature_config(base: features.FeatureConfig, size: tuple[int, int], stride: int) -> features.FeatureConfig:
    """The patch settings of ``size = (n_mels, frames)``: the base ones with those changed.

    Used in: book/part1/05_scaling_hallucination.md
    """
    return dataclasses.replace(base, n_mels=int(size[0]), frames=int(size[1]), patch_stride=int(stride))


def size_spec(dcfg, scfg, size: tuple[int, int], seed: int = 0) -> run.DenoiserSpec:
    """The :class:`~maqamgen.run.DenoiserSpec` of one size: Chapter 4's reference model with
    the chapter's preset, steps and the budget's batch.

    Used in: book/part1/05_scaling_hallucination.md
    """
    ref = (dcfg.features.n_mels, dcfg.features.frames)
    return ch04_unet_ddpm.base_spec(dcfg, seed=seed, preset=scfg.preset, steps=scfg.steps,
                             batch_size=batch_for(size, ref, scfg.batch_size, scfg.budget))


# ----------------------------------------------------------------------------- probes


def with_padding(model: nn.Module, mode: str = "circular") -> nn.Module:
    """A copy of ``model`` whose padded convolutions pad with ``mode`` (``circular``,
    ``reflect``, ``replicate`` or ``zeros``) instead of zeros.

    Used in: book/part1/05_scaling_hallucination.md
    """
    m = copy.deepcopy(model)
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d) and any(int(p) > 0 for p in mod.padding):
            mod.padding_mode = mode
    return m


@torch.no_grad()
def denoising_error_profile(model: nn.Module, x0: torch.Tensor, labels, schedule: diffusion.Schedule,
                            ts, seed: int = 0, batch: int = 16, per_sample: bool = False) -> np.ndarray:
    """Squared error of the predicted noise on real patches by frame position, at fixed timesteps.

    ``e_t(w) = mean_{n, mel} (eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t, c))^2`` at
    frame ``w``, with the same seeded noise for every ``t`` (epsilon-prediction networks).

    Args:
        model: the denoiser.
        x0: ``(N, 1, H, W)`` real patches.
        labels: ``(N,)`` their class labels (the condition).
        schedule: the noise schedule.
        ts: timesteps.
        per_sample: keep the patches apart (for intervals over them).

    Returns:
        ``(len(ts), W)`` errors (mean over patches), or ``(len(ts), N, W)`` with ``per_sample``.

    Used in: book/part1/05_scaling_hallucination.md
    """
    g = torch.Generator().manual_seed(int(seed))
    eps = torch.randn(x0.shape, generator=g)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    model = model.eval()
    out = np.zeros((len(ts), len(x0), x0.shape[-1]))
    for k, t in enumerate(ts):
        for i in range(0, len(x0), batch):
            xb, eb = x0[i:i + batch], eps[i:i + batch]
            tt = torch.full((len(xb),), int(t), dtype=torch.long)
            xt = diffusion.q_sample(xb, tt, eb, schedule)
            err = (model(xt, tt, labels[i:i + batch]) - eb) ** 2
            out[k, i:i + len(xb)] = err.double().mean(dim=(1, 2)).numpy()
    return out if per_sample else out.mean(axis=1)


def _loss_ts(T: int, n_t: int) -> list[int]:
    return [int(round((k + 0.5) * T / n_t)) for k in range(n_t)]


def heldout_loss(model, x0, labels, schedule, n_t: int = 8, seed: int = 0) -> float:
    """Mean squared noise-prediction error on held-out patches over ``n_t`` evenly spaced
    timesteps (fixed noise): the training loss measured on data the model never saw.

    Used in: book/part1/05_scaling_hallucination.md
    """
    return float(denoising_error_profile(model, x0, labels, schedule, _loss_ts(schedule.T, n_t),
                                         seed=seed).mean())


def heldout_loss_interval(model, x0, labels, schedule, n_t: int = 8, seed: int = 0,
                          n_boot: int = 1000) -> tuple[float, float, float]:
    """:func:`heldout_loss` with its bootstrap interval over the held-out patches.

    Each patch's error (mean over its timesteps, mel bands and frames) is one item of
    :func:`maqamgen.metrics.bootstrap_ci`; the value is :func:`heldout_loss` (same noise).

    Returns:
        ``(value, lo, hi)``, squared units of the normalised noise.

    Used in: book/part1/05_scaling_hallucination.md
    """
    E = denoising_error_profile(model, x0, labels, schedule, _loss_ts(schedule.T, n_t), seed=seed,
                                per_sample=True)
    return metrics.bootstrap_ci(E.mean(axis=(0, 2)), n_boot=max(int(n_boot), 1), seed=seed)


# ----------------------------------------------------------------------------- intervals and verdicts


def with_interval(out: dict, key: str, v: tuple[float, float, float]) -> dict:
    """``out[key], out[key_lo], out[key_hi] = v`` (a ``(value, lo, hi)`` triple); returns ``out``.

    Used in: book/part1/05_scaling_hallucination.md
    """
    out[key], out[f"{key}_lo"], out[f"{key}_hi"] = (float(u) for u in v)
    return out


MIN_SAMPLES = 3
"""Fewest samples a bootstrap interval over samples is drawn from: with one or two, resampling
only repeats them (the "interval" of one sample is that sample), so no claim rests on it."""


def sample_ci(values, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """:func:`maqamgen.metrics.bootstrap_ci` of the mean of per-sample values, with NaN bounds
    when fewer than :data:`MIN_SAMPLES` values are finite (then no difference can be claimed).

    Used in: book/part1/05_scaling_hallucination.md
    """
    v, lo, hi = metrics.bootstrap_ci(values, n_boot=max(int(n_boot), 1), seed=seed)
    if np.isfinite(np.asarray(values, dtype=float)).sum() < MIN_SAMPLES:
        lo = hi = float("nan")
    return v, lo, hi


def thirds_interval(P, n_boot: int = 1000, seed: int = 0, keys=("first", "middle", "last", "ratio")) -> dict:
    """:func:`maqamgen.metrics.thirds` of the mean of per-sample curves, with intervals over the samples.

    The thirds (and their ratio) of the mean curve are statistics of the whole set, so each
    gets :func:`maqamgen.metrics.set_interval` over the samples (rows of ``P``).

    Args:
        P: ``(N, T)`` per-sample curves (e.g. a denoising error or a nearest-frame distance by frame).
        n_boot, seed: bootstrap settings (same seed, same intervals).
        keys: which of ``first``, ``middle``, ``last``, ``outer``, ``ratio``.

    Returns:
        ``{key: value, key_lo: ..., key_hi: ..., "n": N}``.

    Used in: book/part1/05_scaling_hallucination.md
    """
    P = np.asarray(P, dtype=np.float64)
    out = {}
    for k in keys:
        with_interval(out, k, metrics.set_interval(lambda idx, k=k: metrics.thirds(P[idx].mean(axis=0))[k],
                                                   len(P), max(int(n_boot), 1), seed=seed, floor=None))
    out["n"] = len(P)
    return out


def frame_distance_samples(x, bank) -> np.ndarray:
    """Per-sample :func:`maqamgen.metrics.frame_distance_profile`: ``(N, T)`` nearest-real-frame
    distances of ``x`` ``(N, [1,] n_mels, T)``, in the bank's units.

    Used in: book/part1/05_scaling_hallucination.md
    """
    return np.stack([metrics.frame_distance_profile(x[i:i + 1], bank) for i in range(len(x))])


def spread_interval(mels, n_bins: int, groups=None, n_boot: int = 200, seed: int = 0) -> dict:
    """Thirds of :func:`maqamgen.metrics.position_spread` with intervals over the sequences.

    The spread is a statistic of the whole set of sequences, so its thirds get
    :func:`maqamgen.metrics.set_interval`, resampling sequences (within their groups' labels).
    Each sequence is reduced to its ``n_bins`` position profile once; the spread of those
    profiles is the spread of the sequences (a profile of ``n_bins`` frames is its own profile).

    Returns:
        ``{first, middle, last, ratio}`` each with ``_lo`` / ``_hi``, and ``n`` (sequences).

    Used in: book/part1/05_scaling_hallucination.md
    """
    prof = np.stack([metrics.position_profile(m, n_bins) for m in mels])  # (n_seq, n_mels, n_bins)
    g = None if groups is None else np.asarray(groups)
    if g is not None and not any(np.sum(g == k) > 1 for k in np.unique(g)):
        g = None  # no group of two: the spread pools every sequence, and so must every resample

    cache: dict = {}  # the four keys share one seed, hence the same resamples: one spread each

    def stat(idx, k):
        key = np.asarray(idx).tobytes()
        if key not in cache:
            sp = metrics.profile_spread(prof[idx], None if g is None else g[idx])
            cache[key] = metrics.thirds(np.repeat(sp, 3))
        return cache[key][k]

    out = {}
    for k in ("first", "middle", "last", "ratio"):
        with_interval(out, k, metrics.set_interval(lambda idx, k=k: stat(idx, k), len(prof),
                                                   max(int(n_boot), 1), seed=seed, floor=None))
    out["n"] = len(prof)
    return out


HI_KEYS = ("novelty_middle", "novelty_outer", "novelty_ratio", "loop_middle", "loop_outer",
           "loop_excess", "index")
"""The per-sample quantities of :func:`maqamgen.metrics.hallucination_index`."""


def hallucination_intervals(mels, bank, n_boot: int = 1000, seed: int = 0) -> dict:
    """:func:`maqamgen.metrics.hallucination_index` of each of a set of spectrograms, averaged over
    the set, each quantity with its bootstrap interval over the spectrograms
    (:func:`maqamgen.metrics.bootstrap_ci`).

    Args:
        mels: spectrograms ``(n_mels, T)`` (e.g. long samples of one method, or real excerpts).
        bank: ``(n_mels, M)`` real frames.

    Returns:
        ``{key: mean, key_lo, key_hi}`` for :data:`HI_KEYS` (NaN bounds under
        :data:`MIN_SAMPLES` spectrograms: :func:`sample_ci`), and ``n`` (spectrograms).

    Used in: book/part1/05_scaling_hallucination.md
    """
    per = [metrics.hallucination_index(np.asarray(M), bank) for M in mels]
    out = {}
    for k in HI_KEYS:
        with_interval(out, k, sample_ci([h[k] for h in per], n_boot=n_boot, seed=seed))
    out["n"] = len(per)
    return out


def compare(a, b) -> int:
    """Whether interval ``a = (lo, hi)`` lies above (+1) or below (-1) interval (or number) ``b``,
    or overlaps it (0: no difference can be claimed). NaN bounds compare as overlapping.

    Used in: book/part1/05_scaling_hallucination.md
    """
    return metrics.separation(a, b)


def bounds(d, key: str) -> tuple[float, float]:
    """``(d[key_lo], d[key_hi])`` of a dict or a table row.

    Used in: book/part1/05_scaling_hallucination.md
    """
    return float(d[f"{key}_lo"]), float(d[f"{key}_hi"])


def hallucination_verdict(gen, real, index: str = "hallucination_index") -> dict:
    """Does middle-part hallucination appear in ``gen`` against ``real``, judged by intervals?

    ``gen`` and ``real`` (dicts or table rows) carry ``index`` (the hallucination index),
    ``novelty_ratio`` and ``loop_excess``, each with ``_lo`` / ``_hi``, and their number of
    samples (``n_samples`` or ``n``); under :data:`MIN_SAMPLES` on either side nothing is claimed.

    Returns:
        ``index``: :func:`compare` of the generated index interval against the real one's;
        ``novelty_vs_1`` / ``novelty_vs_real``: the middle-third novelty ratio against 1 and the
        real one's; ``loop_vs_0`` / ``loop_vs_real``: the loop excess against 0 and the real one's;
        ``appears``: the index lies above the real one's; ``judged``: both sides have at least
        :data:`MIN_SAMPLES` samples (otherwise every comparison is 0); ``verdict``: a sentence.

    Used in: book/part1/05_scaling_hallucination.md
    """
    v = {"index": compare(bounds(gen, index), bounds(real, index)),
         "novelty_vs_1": compare(bounds(gen, "novelty_ratio"), 1.0),
         "novelty_vs_real": compare(bounds(gen, "novelty_ratio"), bounds(real, "novelty_ratio")),
         "loop_vs_0": compare(bounds(gen, "loop_excess"), 0.0),
         "loop_vs_real": compare(bounds(gen, "loop_excess"), bounds(real, "loop_excess"))}
    n = [int(d["n_samples"]) if "n_samples" in d else int(d["n"]) for d in (gen, real)]
    v["judged"] = min(n) >= MIN_SAMPLES
    if not v["judged"]:
        v.update({k: 0 for k in ("index", "novelty_vs_1", "novelty_vs_real", "loop_vs_0", "loop_vs_real")})
        v["verdict"] = (f"cannot be judged ({n[0]} generated and {n[1]} real sample(s): fewer than "
                        f"{MIN_SAMPLES} on a side give no interval)")
    else:
        v["verdict"] = {1: "appears (the index's interval lies above the real one's)",
                        0: "cannot be told from real audio (the intervals overlap)",
                        -1: "does not appear (the index's interval lies below the real one's)"}[v["index"]]
    v["appears"] = v["index"] > 0
    return v


def count_verdicts(verdicts: dict) -> str:
    """One sentence counting :func:`hallucination_verdict` outcomes over named cases
    (e.g. sizes): where the index lies above, within, below the real intervals.

    Used in: book/part1/05_scaling_hallucination.md
    """
    groups = {1: [], 0: [], -1: [], None: []}
    for name, v in verdicts.items():
        groups[v["index"] if v.get("judged", True) else None].append(str(name))
    parts = []
    for k, what in ((1, "lies above the real one's (hallucination appears)"),
                    (0, "overlaps the real one's (no difference can be claimed)"),
                    (-1, "lies below the real one's"),
                    (None, f"rests on fewer than {MIN_SAMPLES} samples (nothing can be claimed)")):
        if groups[k]:
            parts.append(f"at {', '.join(groups[k])} the generated index's interval {what}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- judging and the record


def judge(ev, x, labels, pitch: bool = True, n_boot: int = 1000) -> dict:
    """Patches of any size judged on the evaluator's grid, with intervals.

    Each patch ``(1, H, W)`` is moved to the grid's mel bands
    (:func:`maqamgen.features.resample_mels`) and cut into side-by-side windows of the grid's
    width (:func:`maqamgen.features.cut_windows`); the windows, labelled with their patch's
    maqam, are judged by :meth:`maqamgen.evaluation.Evaluator.evaluate`; each whole patch gets
    :func:`maqamgen.metrics.hallucination_index` against the evaluator's bank of real frames.

    Args:
        ev: the :class:`maqamgen.evaluation.Evaluator`.
        x: ``(N, 1, H, W)`` normalised patches.
        labels: ``(N,)`` maqam index of each.
        pitch: also the audio measures (PCD divergence, estimator accuracy).
        n_boot: bootstrap resamples of the intervals (0: none).

    Returns:
        The evaluator's metrics (``n``: windows) and ``hallucination_index``,
        ``novelty_ratio`` and ``loop_excess`` (means over the patches, each with ``_lo`` /
        ``_hi``: bootstrap over the patches), ``n_samples`` (patches).

    Used in: book/part1/05_scaling_hallucination.md
    """
    x = features.resample_mels(x, ev.ref.config.n_mels)
    win = features.cut_windows(x, ev.ref.config.frames)
    labels = np.repeat(np.asarray(labels), len(win) // len(x))
    out = ev.evaluate(win, labels, pitch=pitch, n_boot=n_boot)
    hi = [metrics.hallucination_index(s[0].numpy(), ev.bank) for s in x]
    v, lo, up = metrics.bootstrap_ci([h["index"] for h in hi], n_boot=max(n_boot, 1), seed=ev.seed)
    out["hallucination_index"] = v
    if n_boot:
        out["hallucination_index_lo"], out["hallucination_index_hi"] = lo, up
    for k in ("novelty_ratio", "loop_excess"):
        v, lo, up = metrics.bootstrap_ci([h[k] for h in hi], n_boot=max(n_boot, 1), seed=ev.seed)
        out[k] = v
        if n_boot:
            out[f"{k}_lo"], out[f"{k}_hi"] = lo, up
    out["n_samples"] = len(x)
    return out


def position_profiles(x, bank, n_bins: int) -> dict:
    """Per-position curves of patches ``(N, 1, H, W)`` in ``n_bins`` bins of relative position.

    The patches are first moved to the bank's mel bands (:func:`maqamgen.features.resample_mels`).
    ``nn_dist``: :func:`maqamgen.metrics.frame_distance_profile` (the mean distance of the frame
    at each position to the nearest real frame); ``repetition``: the mean over patches of
    :func:`maqamgen.metrics.repetition_profile`; both through
    :func:`maqamgen.metrics.position_profile`.

    Used in: book/part1/05_scaling_hallucination.md
    """
    S = features.resample_mels(x, bank.shape[0]).numpy()[:, 0]
    rep = np.mean([metrics.repetition_profile(s) for s in S], axis=0)
    return {"nn_dist": metrics.position_profile(metrics.frame_distance_profile(S, bank), n_bins),
            "repetition": metrics.position_profile(rep, n_bins)}


def model_core(judged: dict, trained, sample_s: float, audio_s: float, seams=None,
               n_boot: int = 1000, seed: int = 0, min_n: int = 1) -> dict:
    """One size's core metrics (:data:`maqamgen.results.CORE_METRICS`), each with its interval.

    Args:
        judged: :func:`judge` of the size's generated patches (with ``pitch``).
        trained: the :class:`maqamgen.diffusion.run.Trained` model (parameters, training time).
        sample_s, audio_s: the sampling wall time of those patches and their length, s.
        seams: :func:`maqamgen.metrics.seam_jump_ratio` of long sequences this model stitched,
            or None when it generated whole patches only (then it does not apply).
        n_boot, seed: bootstrap settings for the seam ratio.
        min_n: fewest finite seam ratios with an interval (``min_n`` of
            :func:`maqamgen.metrics.bootstrap_ci`; under it the bounds are NaN).

    Returns:
        ``{key: results.interval(...), results.not_applicable(...) or number}``.

    Used in: book/part1/05_scaling_hallucination.md
    """
    core = evaluation.core_metrics(judged)
    core["seam_jump_ratio"] = (
        results.not_applicable("generated as whole patches, never stitched in this chapter")
        if seams is None else
        results.interval(*metrics.bootstrap_ci(seams, n_boot=n_boot, seed=seed, min_n=min_n),
                         n=len(seams)))
    core["hallucination_index"] = results.interval(
        judged["hallucination_index"], judged["hallucination_index_lo"],
        judged["hallucination_index_hi"], n=judged["n_samples"])
    core.update({"params": int(trained.n_params), "train_s": float(trained.seconds),
                 "gen_s_per_audio_s": float(sample_s) / float(audio_s)})
    return core
