"""Long generation from overlapping windows: the one place that joins patches into a sequence.

* :func:`stitch` -- concatenate patches along time, dropping each one's repeated first frames.
* :func:`generate_long` (:func:`generate_long_batch`, several at once) -- a sequence of any
  length from a trained denoiser: independent patches side by side, or each patch outpainted
  from the previous one's tail.
* :func:`generate_stitched` -- a piece of any length from a fixed-width window model
  (:class:`WindowModel`, latent or spectrogram space) by one of :data:`STITCH_METHODS`:
  concatenation, cross-fade, RePaint outpainting, mask-conditioned continuation or
  MultiDiffusion; returns a :class:`Stitched` (the piece, its seams and overlap frames). Each
  window can be given condition entries of its own (``window_cond``: e.g. Chapter 8's per-frame
  ornaments and the window's place in the piece), merged by :func:`window_condition`.

Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md,
book/part1/06_latent_diffusion.md
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from maqamgen.diffusion import core as diffusion
from maqamgen.diffusion import run
from maqamgen.errors import ConfigError


def stitch(patches, overlap: int = 0) -> np.ndarray:
    """Concatenate patches ``(P, [1,] n_mels, frames)`` along time, dropping ``overlap`` leading
    frames of every patch after the first (they repeat the previous patch's tail)."""
    P = patches.detach().cpu().numpy() if isinstance(patches, torch.Tensor) else np.asarray(patches)
    if P.ndim == 4:
        P = P[:, 0]
    return np.concatenate([P[0]] + [p[:, overlap:] for p in P[1:]], axis=1)


def generate_long(trained: run.Trained, seconds: float, label: int = -1, method: str = "inpaint",
                  overlap: int | None = None, steps: int = 20, guidance_scale: float = 2.0,
                  seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """A log-mel sequence of at least ``seconds``, stitched from patches.

    ``method="concat"``: independent patches side by side. ``"inpaint"``: each patch after the
    first is outpainted: its first ``overlap`` frames are held to the previous patch's last
    ``overlap`` frames (:func:`maqamgen.diffusion.inpaint`, DDIM), so the continuation starts
    where the previous one ended; the repeated frames are dropped when stitching.
    :func:`generate_long_batch` makes several at once.

    Returns:
        ``(mel, seams)``: normalised ``(n_mels, n_frames)`` and the frame indices where a new
        patch's own content starts.

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
    """
    mels, seams = generate_long_batch(trained, seconds, [label], method, overlap, steps,
                                      guidance_scale, seed)
    return mels[0], seams


def generate_long_batch(trained: run.Trained, seconds: float, labels, method: str = "inpaint",
                        overlap: int | None = None, steps: int = 20, guidance_scale: float = 2.0,
                        seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """:func:`generate_long` for one sequence per label of ``labels``, sampled as one batch (one
    network call per step for all of them, instead of one per sequence; on the 2-core CPU, 16
    six-second sequences of Chapter 4's U-Net took 14.7 s instead of 18.6 s: the network's work
    dominates, not the calls). With one label it is
    :func:`generate_long`, number for number; with several, the noise of the batch is drawn from
    one generator seeded with ``seed``, so a sequence depends on its place in the batch.

    Returns:
        ``(mels, seams)``: ``(len(labels), n_mels, n_frames)`` and the seams (the same for all).

    Used in: lib/maqamgen/evaluation.py (:func:`maqamgen.evaluation.judge_long`)
    """
    if method not in ("concat", "inpaint"):
        raise ConfigError(f"unknown stitching method {method!r}; known: concat, inpaint")
    if not (np.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"seconds must be a positive number, got {seconds}")
    lab = torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(-1))
    if len(lab) == 0:
        raise ConfigError("labels is empty: nothing to generate")
    f = trained.fcfg
    W = f.frames
    ov = (W // 4 if overlap is None else int(overlap)) if method == "inpaint" else 0
    if not 0 <= ov < W:
        raise ConfigError(f"overlap must be in [0, {W}), got {ov}")
    need = int(np.ceil(seconds * trained.sr / f.hop_length)) + 1
    n_patches = 1 + max(0, int(np.ceil((need - W) / (W - ov))))
    g = torch.Generator().manual_seed(int(seed))
    shape = (len(lab), *trained.shape)
    kw = dict(target=trained.spec.target, cond=lab, guidance_scale=guidance_scale, generator=g,
              clip_x0=1.0)
    patches = [diffusion.ddim_sample(trained.model, shape, trained.schedule, steps=steps, **kw).clamp(-1, 1)]
    mask = torch.zeros(1, 1, 1, W)
    mask[..., :ov] = 1.0
    for _ in range(n_patches - 1):
        if method == "concat":
            nxt = diffusion.ddim_sample(trained.model, shape, trained.schedule, steps=steps, **kw)
        else:
            known = torch.zeros(shape)
            known[..., :ov] = patches[-1][..., W - ov:]
            nxt = diffusion.inpaint(trained.model, known, mask, trained.schedule, steps=steps, **kw)
        patches.append(nxt.clamp(-1, 1))
    seq = torch.stack(patches, dim=1)  # (B, P, C, H, W)
    mels = np.stack([stitch(seq[b], overlap=ov) for b in range(len(lab))])
    seams = [W + k * (W - ov) for k in range(n_patches - 1)]
    return mels, seams


# --------------------------------------------------------------------------------------------
# Stitching of any length from a fixed-width window model (Chapter 6)
# --------------------------------------------------------------------------------------------

STITCH_METHODS = ("concat", "crossfade", "repaint", "continue", "multidiffusion")
"""The ways :func:`generate_stitched` joins windows into a piece."""

_MD_BATCH = 16  # windows per network call in MultiDiffusion (bounds memory on long pieces)


@dataclass
class WindowModel:
    """A denoiser of fixed-width windows ``(C, H, W)`` (time is the last axis) and how to sample it.

    Attributes:
        model: the denoiser, ``model(x_t, t[, cond])``; ``cond`` is a ``(B,)`` label tensor or a
            dict with ``label`` ``(B,)`` int64, ``vec`` ``(B, D)`` float and -- when
            ``inpainting`` -- ``known`` ``(B, C, H, W)`` clean data and ``mask`` ``(B, 1, 1, W)``
            (1 = known).
        schedule: the noise schedule the model was trained with.
        shape: ``(C, H, W)`` of one window: channels, rows (mel bands or latent rows), frames.
        target: what the model predicts: ``eps``, ``x0`` or ``v``.
        inpainting: the model was trained with inpainting masks and accepts ``known``/``mask``
            (needed by the ``continue`` method).

    Used in: book/part1/06_latent_diffusion.md
    """

    model: object
    schedule: diffusion.Schedule
    shape: tuple[int, int, int]
    target: str = "eps"
    inpainting: bool = False

    def __post_init__(self):
        shape = tuple(int(v) for v in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ConfigError(f"WindowModel.shape must be (C, H, W) of positive ints, got {self.shape}")
        if self.target not in diffusion.TARGETS:
            raise ConfigError(f"unknown diffusion target {self.target!r}; known: {', '.join(diffusion.TARGETS)}")
        self.shape = shape

    @property
    def width(self) -> int:
        """``W``, the frames of one window."""
        return self.shape[-1]


@dataclass
class Stitched:
    """A piece stitched from windows, with what the seam and overlap measures need.

    Attributes:
        x: ``(C, H, N)`` the piece (CPU float tensor), ``N = n_frames``.
        seams: frames where a window's own content begins (``concat``, ``repaint``,
            ``continue``) or the centre of a blend (``crossfade``, ``multidiffusion``), inside
            ``1 .. N - 1``; for :func:`maqamgen.metrics.seam_jump_ratio`.
        overlap_frames: ``(N,)`` bool, frames covered by more than one window (blended,
            averaged, or shared as the known context of the next window); for
            :func:`maqamgen.metrics.overlap_hf_ratio`.
        windows: ``(start, end)`` frame range of each window in the piece (end cut at ``N``).
        seconds: wall time of the generation, s.
        patches: ``(P, C, H, W)`` the windows as sampled (for ``multidiffusion``: the final
            piece's slices), before joining; CPU.

    Used in: book/part1/06_latent_diffusion.md
    """

    x: torch.Tensor
    seams: list[int]
    overlap_frames: np.ndarray
    windows: list[tuple[int, int]]
    seconds: float
    patches: torch.Tensor | None = field(default=None, repr=False)


def window_starts(length: int, width: int, overlap: int, align_end: bool = False) -> list[int]:
    """First frames of the windows that cover ``length`` frames with stride ``width - overlap``.

    Starts are ``0, S, 2S, ...`` (``S = width - overlap``) until the windows reach ``length``.
    With ``align_end`` the last window instead ends exactly at ``length`` (MultiDiffusion's
    canvas; ``length >= width``), so it may overlap its neighbour by more than ``overlap``.

    Args:
        length: frames to cover, ``>= 1``.
        width: frames of one window, ``W``.
        overlap: frames shared by consecutive windows, ``0 <= overlap < W``.
        align_end: end the last window at ``length``.

    Returns:
        Increasing start frames.
    """
    stride = width - overlap
    if align_end:
        last = max(length - width, 0)
        return list(range(0, last, stride)) + [last]
    n_windows = 1 + max(0, math.ceil((length - width) / stride))
    return [k * stride for k in range(n_windows)]


def crossfade_weights(overlap: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear cross-fade over ``overlap`` frames: ``w_in(i) = (i + 1) / (overlap + 1)``, ``w_out = 1 - w_in``.

    The weights sum to 1 at every frame, so a blend is a convex combination: a constant (or any
    field both windows agree on) passes unchanged and values stay inside the data's range.
    (An equal-power fade, ``w_in^2 + w_out^2 = 1``, keeps the energy of *uncorrelated
    waveforms*; in log-mel or latent space, where values are levels rather than amplitudes, its
    weights summing to up to ``sqrt 2`` would raise the level in the middle of the fade.)

    Args:
        overlap: frames of the fade, ``>= 1``.

    Returns:
        ``(w_out, w_in)``, each ``(overlap,)`` float32: the outgoing and incoming window's weights.
    """
    w_in = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
    return 1.0 - w_in, w_in


def crossfade_envelopes(n_windows: int, width: int, overlap: int) -> torch.Tensor:
    """Per-frame weights ``(n_windows, width)`` of chained windows under :func:`crossfade_weights`.

    Window ``k`` fades in over its first ``overlap`` frames (``k > 0``) and out over its last
    ``overlap`` frames (``k < n_windows - 1``); elsewhere its weight is 1.
    """
    w_out, w_in = crossfade_weights(overlap)
    env = torch.ones(n_windows, width)
    env[1:, :overlap] *= w_in
    env[:-1, width - overlap:] *= w_out
    return env


def window_coverage(starts: list[int], width: int, length: int) -> np.ndarray:
    """How many windows cover each of ``length`` frames, ``(length,)`` int."""
    count = np.zeros(length, dtype=int)
    for s in starts:
        count[s:s + width] += 1
    return count


def overlap_add(patches: torch.Tensor, starts: list[int], length: int,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted average of overlapping windows: ``x[..., n] = sum_k w_k(n) p_k(n) / sum_k w_k(n)``.

    Args:
        patches: ``(P, ..., W)`` windows (time last).
        starts: first frame of each window in the output.
        length: frames of the output; every frame must be covered.
        weights: ``(P, W)`` per-frame weights (None: all 1, the plain mean of MultiDiffusion).

    Returns:
        ``(..., length)``.
    """
    W = patches.shape[-1]
    if weights is None:
        weights = torch.ones(len(starts), W)
    weights = weights.to(device=patches.device, dtype=patches.dtype)
    num = patches.new_zeros(*patches.shape[1:-1], length)
    den = patches.new_zeros(length)
    for p, s, w in zip(patches, starts, weights):
        num[..., s:s + W] += w * p
        den[s:s + W] += w
    if bool((den <= 0).any()):
        raise ConfigError(f"the windows at {starts} (width {W}) leave frames of {length} uncovered")
    return num / den


def _device(model) -> torch.device:
    """The device of an ``nn.Module``'s first parameter (CPU for parameter-less callables)."""
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def _noise(shape, generator: torch.Generator, device) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (same for a seed on any device)."""
    return torch.randn(tuple(shape), generator=generator, device=generator.device).to(device)


def _batch1_cond(cond, device):
    """``cond`` as a batch-1 condition on ``device``: None, a ``(1,)`` label tensor or a dict."""
    if cond is None:
        return None
    if isinstance(cond, dict):
        return {k: _batch1_cond(v, device) for k, v in cond.items()}
    if isinstance(cond, (int, np.integer)):
        cond = torch.tensor([int(cond)], dtype=torch.long)
    if not isinstance(cond, torch.Tensor):
        raise ConfigError(f"cond must be None, a (1,) label tensor or a dict of batch-1 tensors, "
                          f"got {type(cond).__name__}")
    if cond.ndim == 0:
        cond = cond.reshape(1)
    if cond.shape[0] != 1:
        raise ConfigError(f"generate_stitched makes one piece: cond must have batch 1, got shape "
                          f"{tuple(cond.shape)}")
    return cond.to(device)


def window_condition(cond, window_cond, start: int, end: int, device):
    """The condition of the window on frames ``[start, end)``: ``cond`` merged with
    ``window_cond(start, end)`` (its entries win), batch 1 on ``device``.

    Args:
        cond: the piece's batch-1 condition (:func:`_batch1_cond`'s output) or None.
        window_cond: None (then ``cond`` itself is returned) or a callable
            ``(start, end) -> dict`` of batch-1 entries (e.g. ``{"ornaments": (1, W) int64,
            "start_s": (1,), "total_s": (1,)}``).
        start, end: the window's frames in the piece, ``end - start = W``.
        device: where the tensors go.

    Returns:
        ``cond``, or a dict: ``cond``'s entries (a label tensor becomes ``{"label": cond}``) and
        the window's.

    Raises:
        ConfigError: ``window_cond`` returns anything but a dict of batch-1 tensors.
    """
    if window_cond is None:
        return cond
    extra = window_cond(int(start), int(end))
    if not isinstance(extra, dict):
        raise ConfigError(f"window_cond must return a dict of condition entries, got {type(extra).__name__}")
    extra = _batch1_cond(extra, device)
    base = {} if cond is None else dict(cond) if isinstance(cond, dict) else {"label": cond}
    return {**base, **extra}


def _cat_conds(conds: list):
    """Batch-1 conditions (all of one structure) concatenated along the batch."""
    first = conds[0]
    if first is None:
        return None
    if isinstance(first, dict):
        keys = set(first)
        if any(set(c) != keys for c in conds):
            raise ConfigError(f"window_cond must return the same keys for every window, got "
                              f"{sorted({tuple(sorted(c)) for c in conds})}")
        return {k: _cat_conds([c[k] for c in conds]) for k in first}
    return torch.cat(conds)


def _repeat_cond(cond, B: int):
    """A batch-1 condition repeated to batch ``B``."""
    if cond is None:
        return None
    if isinstance(cond, dict):
        return {k: _repeat_cond(v, B) for k, v in cond.items()}
    return cond.repeat(B, *([1] * (cond.ndim - 1)))


class _eval_mode:
    """Put an ``nn.Module`` in eval mode (and turn off gradients) while sampling."""

    def __init__(self, model):
        self.model = model if isinstance(model, torch.nn.Module) else None
        self.no_grad = torch.no_grad()

    def __enter__(self):
        self.no_grad.__enter__()
        if self.model is not None:
            self.was_training = self.model.training
            self.model.eval()

    def __exit__(self, *exc):
        if self.model is not None:
            self.model.train(self.was_training)
        self.no_grad.__exit__(*exc)


def _check_stitch_args(wm: WindowModel, n_frames, method: str, overlap, n_resample: int,
                       jump_length: int) -> int:
    """Validate :func:`generate_stitched`'s arguments; return the overlap to use."""
    if not isinstance(wm, WindowModel):
        raise ConfigError(f"wm must be a WindowModel, got {type(wm).__name__}")
    if method not in STITCH_METHODS:
        raise ConfigError(f"unknown stitching method {method!r}; known: {', '.join(STITCH_METHODS)}")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ConfigError(f"n_frames must be a positive int, got {n_frames!r}")
    if int(n_resample) < 1 or int(jump_length) < 1:
        raise ConfigError(f"n_resample and jump_length must be >= 1, got {n_resample}, {jump_length}")
    W = wm.width
    if method == "concat":
        if overlap not in (None, 0):
            raise ConfigError(f"concat joins windows without overlap: pass overlap=None or 0, got {overlap}")
        return 0
    ov = W // 4 if overlap is None else overlap
    if isinstance(ov, bool) or not isinstance(ov, (int, np.integer)) or not 1 <= ov < W:
        raise ConfigError(f"{method} needs an overlap in [1, {W}) frames (window width {W}; "
                          f"default W // 4 = {W // 4}), got {ov!r}")
    if method == "continue" and not wm.inpainting:
        raise ConfigError("the continue method needs a model trained with inpainting masks "
                          "(WindowModel(inpainting=True)); use repaint for a plain model")
    return int(ov)


def generate_stitched(wm: WindowModel, n_frames: int, method: str, cond=None,
                      overlap: int | None = None, steps: int = 20, guidance_scale: float = 2.0,
                      seed: int = 0, eta: float = 0.0, n_resample: int = 1, jump_length: int = 1,
                      clip_x0: float | None = None, window_cond=None) -> Stitched:
    """One piece of ``n_frames`` frames from a fixed-width window model, by one of :data:`STITCH_METHODS`.

    With window width ``W``, overlap ``o`` and stride ``S = W - o``, window ``k`` covers frames
    ``[k S, k S + W)``; the result is cut to ``n_frames``.

    * ``concat``: independent windows side by side (``o = 0``).
    * ``crossfade``: independent windows overlapping by ``o`` frames, blended by the linear
      fade of :func:`crossfade_weights` (weights sum to 1; see there why not equal-power).
    * ``repaint``: each next window outpainted from the previous window's last ``o`` frames with
      :func:`maqamgen.diffusion.inpaint` (RePaint; ``n_resample``, ``jump_length``); the
      repeated frames are dropped.
    * ``continue``: each next window sampled by DDIM with the condition
      ``{..., "known": known, "mask": mask}`` (``known`` holds the previous window's last ``o``
      frames at its start, ``mask`` ``(1, 1, 1, W)`` is 1 there), then the known frames are
      pasted back exactly (:func:`maqamgen.diffusion.continue_sample`). Needs
      ``wm.inpainting``. Guidance drops the label / vector, never ``known`` and ``mask``.
    * ``multidiffusion`` (Bar-Tal et al. 2023): one noise tensor of the whole length; at every
      DDIM timestep each window (stride ``S``, the last one ending at the end) is stepped with
      :func:`maqamgen.diffusion.guided_output` and :func:`maqamgen.diffusion.ddim_step`, and each
      frame becomes the mean over the windows that cover it (:func:`overlap_add`). With
      ``eta > 0`` the windows share one step noise, so the average keeps its variance.

    Args:
        wm: the window model.
        n_frames: frames of the piece, any positive int (fewer than ``W`` too).
        method: one of :data:`STITCH_METHODS`.
        cond: the condition of the piece, batch 1 (a ``(1,)`` label tensor, an int label, or a
            dict with ``label`` / ``vec``), given to every window; None: unconditional.
        overlap: frames shared by consecutive windows, in ``[1, W)`` (default ``W // 4``);
            None or 0 for ``concat``.
        steps: DDIM steps per window (per timestep walk).
        guidance_scale: classifier-free guidance weight (ignored when ``cond`` is None).
        seed: seed of one ``torch.Generator`` (CPU) that draws all noise: same seed, same piece.
        eta: DDIM stochasticity in [0, 1].
        n_resample, jump_length: RePaint resampling (``repaint`` only).
        clip_x0: clamp ``x0_hat`` at each step (None: off).
        window_cond: None, or a callable ``(start, end) -> dict`` of extra batch-1 condition
            entries for the window on frames ``[start, end)`` of the piece (``end - start = W``;
            ``end`` may pass ``n_frames``: the last window, and MultiDiffusion's canvas of at
            least ``W``, can run past the piece's end), e.g. ``{"ornaments": labels[:, start:end],
            "start_s": ..., "total_s": ...}``. They are merged into ``cond`` (:func:`window_condition`)
            for every network call of that window, by every method (MultiDiffusion: at every
            step, the windows' entries concatenated along the batch). Guidance nulls them with
            the rest of the condition.

    Returns:
        :class:`Stitched`.

    Raises:
        ConfigError: unknown method, ``n_frames < 1``, overlap outside ``[1, W)`` for an
            overlapping method, ``cond`` of batch other than 1, ``continue`` without an
            inpainting model, a ``window_cond`` that returns no dict of batch-1 tensors.

    Used in: book/part1/06_latent_diffusion.md
    """
    ov = _check_stitch_args(wm, n_frames, method, overlap, n_resample, jump_length)
    n = int(n_frames)
    W = wm.width
    dev = _device(wm.model)
    cond = _batch1_cond(cond, dev)
    g = torch.Generator().manual_seed(int(seed))
    kw = dict(steps=steps, guidance_scale=guidance_scale, eta=eta, clip_x0=clip_x0)
    t0 = time.perf_counter()
    if method == "multidiffusion":
        starts = window_starts(max(n, W), W, ov, align_end=True)
        x = multidiffusion_sample(wm, starts, max(n, W), cond, g, window_cond=window_cond, **kw)[0]
        patches = torch.stack([x[..., s:s + W] for s in starts])
        seams = [(s + prev + W) // 2 for prev, s in zip(starts, starts[1:])]
    else:
        starts = window_starts(n, W, ov)
        conds = [window_condition(cond, window_cond, s, s + W, dev) for s in starts]
        patches = _chained_windows(wm, conds, ov, method, g, n_resample, jump_length, **kw)
        L = starts[-1] + W
        if method == "crossfade":
            x = overlap_add(patches, starts, L, crossfade_envelopes(len(starts), W, ov))
            seams = [s + ov // 2 for s in starts[1:]]
        else:  # concat, repaint, continue: every window after the first adds its own frames
            x = stitch_windows(patches, ov)
            seams = [s + ov for s in starts[1:]]
    seconds = time.perf_counter() - t0
    L = x.shape[-1]
    return Stitched(
        x=x[..., :n].detach().float().cpu(),
        seams=[int(s) for s in seams if 0 < s < n],
        overlap_frames=(window_coverage(starts, W, L) > 1)[:n],
        windows=[(int(s), int(min(s + W, n))) for s in starts if s < n],
        seconds=seconds,
        patches=patches.detach().float().cpu(),
    )


def stitch_windows(patches: torch.Tensor, overlap: int) -> torch.Tensor:
    """Join chained windows ``(P, C, H, W)`` along time into ``(C, H, W + (P - 1)(W - overlap))``,
    dropping each later window's first ``overlap`` frames (they repeat the previous tail)."""
    return torch.cat([patches[0]] + [p[..., overlap:] for p in patches[1:]], dim=-1)


def _chained_windows(wm: WindowModel, conds: list, ov: int, method: str, g, n_resample,
                     jump_length, steps, guidance_scale, eta, clip_x0) -> torch.Tensor:
    """The windows of ``concat``, ``crossfade``, ``repaint`` or ``continue``, ``(P, C, H, W)``,
    one per condition of ``conds`` (window ``k`` sampled with ``conds[k]``), in order from one
    generator; for the last two each window starts from the previous one's last ``ov`` frames."""
    dev = _device(wm.model)
    shape = (1, *wm.shape)
    W = wm.width
    kw = dict(steps=steps, eta=eta, target=wm.target, guidance_scale=guidance_scale, generator=g,
              clip_x0=clip_x0)
    mask = torch.zeros(1, 1, 1, W, device=dev)
    mask[..., :ov] = 1.0
    patches = [diffusion.ddim_sample(wm.model, shape, wm.schedule, cond=conds[0], device=dev, **kw)]
    for cond in conds[1:]:
        if method in ("concat", "crossfade"):
            nxt = diffusion.ddim_sample(wm.model, shape, wm.schedule, cond=cond, device=dev, **kw)
        else:
            known = torch.zeros(shape, device=dev, dtype=patches[-1].dtype)
            known[..., :ov] = patches[-1][..., W - ov:]
            if method == "repaint":
                nxt = diffusion.inpaint(wm.model, known, mask, wm.schedule, cond=cond,
                                        n_resample=int(n_resample), jump_length=int(jump_length), **kw)
            else:  # ddim_sample with cond {**cond, "known": known, "mask": mask}, then the paste
                nxt = diffusion.continue_sample(wm.model, known, mask, wm.schedule, cond=cond, **kw)
            nxt = nxt.clone()
            nxt[..., :ov] = known[..., :ov]  # exact (inpaint already ends there; continue may not)
        patches.append(nxt)
    return torch.cat(patches)


def multidiffusion_sample(wm: WindowModel, starts: list[int], length: int, cond, generator,
                          steps: int = 20, guidance_scale: float = 2.0, eta: float = 0.0,
                          clip_x0: float | None = None, window_cond=None) -> torch.Tensor:
    """MultiDiffusion (Bar-Tal et al. 2023) over a canvas of ``length`` frames, ``(1, C, H, length)``.

    ``x_T ~ N(0, I)`` of the whole length; at every DDIM timestep ``t -> t_prev``,

        x_prev[n] = mean_{k : n in window k} ddim_step(guided_output(x_t[window k]), ...)[n],

    the closed-form minimiser of the windows' squared disagreement (their eq. 5 with equal
    weights). Windows are batched ``_MD_BATCH`` at a time.

    Args:
        wm: the window model.
        starts: first frame of each window (they must cover ``0 .. length - 1``).
        length: frames of the canvas, ``>= W``.
        cond: batch-1 condition (None: unconditional).
        generator: draws the starting noise and, with ``eta > 0``, one step noise per timestep.
        steps, guidance_scale, eta, clip_x0: as :func:`generate_stitched`.
        window_cond: as :func:`generate_stitched`: each window's extra entries, the same at
            every step (a batch of windows gets them concatenated along the batch).

    Returns:
        The clean canvas ``(1, C, H, length)``.
    """
    dev = _device(wm.model)
    C, H, W = wm.shape
    x = _noise((1, C, H, length), generator, dev)
    own = (None if window_cond is None
           else [window_condition(cond, window_cond, s, s + W, dev) for s in starts])
    ts = diffusion.sampling_timesteps(steps, wm.schedule.T)
    with _eval_mode(wm.model):
        for t, t_prev in zip(ts, ts[1:] + [-1]):
            z = _noise(x.shape, generator, dev) if eta > 0 and t_prev >= 0 else None
            stepped = []
            for i in range(0, len(starts), _MD_BATCH):
                chunk = starts[i:i + _MD_BATCH]
                xs = torch.cat([x[..., s:s + W] for s in chunk])
                zs = None if z is None else torch.cat([z[..., s:s + W] for s in chunk])
                tt = torch.full((len(chunk),), t, dtype=torch.long, device=dev)
                cs = _repeat_cond(cond, len(chunk)) if own is None else _cat_conds(own[i:i + _MD_BATCH])
                out = diffusion.guided_output(wm.model, xs, tt, cs, guidance_scale)
                stepped.append(diffusion.ddim_step(out, xs, t, t_prev, wm.schedule, wm.target,
                                                   eta=eta, noise=zs, clip_x0=clip_x0).x_prev)
            x = overlap_add(torch.cat(stepped), starts, length)[None]
    return x
