"""Timestep and positional encodings shared by every network (the U-Net and the DiT).

Plain functions of tensors, as in the DiT reference code: a network calls them, it does not
own them. Besides the timestep embedding: sin-cos positions in 1-D and 2-D (computed, so any
length works), rotary position embeddings (RoPE), the sinusoidal embedding of seconds (a window's
place in its piece) and the per-frame ornament labels of a note list.

Used in: book/part1/04_unet_ddpm.md
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from maqamgen.errors import ConfigError


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps (Vaswani et al. 2017; Ho et al. 2020).

    Args:
        t: ``(B,)`` timesteps.
        dim: embedding size (even).
        max_period: the longest wavelength, in timesteps.

    Returns:
        ``(B, dim)``: ``[cos(t w_k), sin(t w_k)]`` with ``w_k = max_period^(-k / (dim/2))``.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def sincos_1d(positions: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Fixed sin-cos encoding of (possibly fractional) positions (Vaswani et al. 2017; DiT's
    ``get_1d_sincos_pos_embed_from_grid``).

    ``e(p) = [sin(p w_0), ..., sin(p w_{K-1}), cos(p w_0), ..., cos(p w_{K-1})]`` with
    ``K = dim // 2`` and ``w_k = max_period^(-k / K)``; an odd ``dim`` gets one zero column.
    Computed, not tabled: any number of positions works.

    Args:
        positions: ``(N,)`` positions (token indices, band indices, ...).
        dim: encoding size.
        max_period: the longest wavelength, in positions.

    Returns:
        ``(N, dim)`` float32.
    """
    half = dim // 2
    pos = torch.as_tensor(positions).float().reshape(-1)
    w = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=pos.device)
                  / max(half, 1))
    args = pos[:, None] * w[None]
    return F.pad(torch.cat([torch.sin(args), torch.cos(args)], dim=-1), (0, dim % 2))


def sincos_2d(rows: Tensor, cols: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """2-D sin-cos encoding of grid positions (DiT's ``get_2d_sincos_pos_embed``): half the
    dimensions encode the row, half the column.

    ``e(r, c) = [sincos_1d(r, dim // 2), sincos_1d(c, dim - dim // 2)]``.

    Args:
        rows: ``(N,)`` row indices (e.g. a patch's frequency band).
        cols: ``(N,)`` column indices (e.g. a patch's time column).
        dim: encoding size.
        max_period: the longest wavelength, in positions.

    Returns:
        ``(N, dim)``.
    """
    return torch.cat([sincos_1d(rows, dim // 2, max_period), sincos_1d(cols, dim - dim // 2, max_period)],
                     dim=-1)


def rope_frequencies(head_dim: int, positions: Tensor, base: float = 10000.0) -> Tensor:
    """The rotation angles of rotary position embeddings (RoPE; Su et al. 2021).

    ``theta[n, k] = p_n base^(-2k / head_dim)`` for ``k = 0 .. head_dim/2 - 1``: the pair
    ``(x_k, x_{k + head_dim/2})`` of a query or key at position ``p_n`` is rotated by ``theta[n, k]``.

    Args:
        head_dim: channels per attention head (even).
        positions: ``(N,)`` token positions (may be fractional).
        base: the base of the geometric frequencies.

    Returns:
        ``(N, head_dim / 2)`` angles, radians.

    Raises:
        ConfigError: odd ``head_dim`` (the channels are rotated in pairs).
    """
    if head_dim % 2:
        raise ConfigError(f"rotary position embeddings need an even head dimension, got {head_dim}")
    pos = torch.as_tensor(positions).float().reshape(-1)
    half = head_dim // 2
    inv = base ** (-torch.arange(half, dtype=torch.float32, device=pos.device) * 2.0 / head_dim)
    return pos[:, None] * inv[None]


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the channel pairs ``(x_k, x_{k + D/2})`` of ``(..., N, D)`` by the angles of ``cos``/``sin``."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def apply_rope(q: Tensor, k: Tensor, freqs: Tensor) -> tuple[Tensor, Tensor]:
    """Rotate queries and keys by their positions' angles (RoPE).

    With ``R(theta)`` the rotation of each pair, ``<R(theta_m) q, R(theta_n) k>`` depends on the
    positions only through ``m - n``: attention sees relative time, and any length works.

    Args:
        q: ``(B, heads, N, head_dim)`` queries.
        k: ``(B, heads, N, head_dim)`` keys.
        freqs: ``(N, head_dim / 2)`` angles from :func:`rope_frequencies`.

    Returns:
        The rotated ``(q, k)``, same shapes and dtype.
    """
    cos, sin = freqs.cos().to(q.dtype), freqs.sin().to(q.dtype)
    return _rotate(q, cos, sin), _rotate(k, cos, sin)


def seconds_embedding(seconds: Tensor, dim: int, max_period: float = 1000.0,
                      min_period: float = 0.1) -> Tensor:
    """Sinusoidal embedding of a time in seconds (e.g. a window's start in its piece, or the
    piece's length: Stable Audio's ``seconds_start`` / ``seconds_total``, Evans et al. 2024).

    ``e(s) = [sin(2 pi s / P_k), cos(2 pi s / P_k)]`` with the ``K = dim // 2`` periods
    ``P_k = min_period (max_period / min_period)^(k / (K - 1))`` geometric from ``min_period``
    to ``max_period`` seconds; an odd ``dim`` gets one zero column.

    Args:
        seconds: ``(B,)`` times, s.
        dim: embedding size.
        max_period: the longest period, s (longer than any piece, so positions stay distinct).
        min_period: the shortest period, s (the finest resolution).

    Returns:
        ``(B, dim)`` float32.
    """
    half = dim // 2
    s = torch.as_tensor(seconds).float().reshape(-1)
    k = torch.arange(half, dtype=torch.float32, device=s.device) / max(half - 1, 1)
    periods = min_period * (max_period / min_period) ** k
    args = 2.0 * math.pi * s[:, None] / periods[None]
    return F.pad(torch.cat([torch.sin(args), torch.cos(args)], dim=-1), (0, dim % 2))


ORNAMENTS = ("none", "vibrato", "slide", "trill", "tremolo")
"""Ornament classes of the per-frame labels: index 0 is no ornament (or silence), the others are
the ``type`` of the note format's ornaments (:data:`maqamgen.notes.ORNAMENT_DEFAULTS`;
``tremolo`` is the risha tremolo)."""

N_ORNAMENTS = len(ORNAMENTS)
"""Number of ornament classes (a network adds one learned "unknown" index, ``N_ORNAMENTS``)."""


def ornament_index(ornament: dict | str | None) -> int:
    """The class of one note's ornament in :data:`ORNAMENTS` (``None``: 0, ``none``).

    Args:
        ornament: an ornament dict of the note format (its ``type`` counts), a type name, or None.

    Raises:
        ConfigError: an unknown ornament type.
    """
    if ornament is None:
        return 0
    kind = ornament.get("type") if isinstance(ornament, dict) else ornament
    if kind not in ORNAMENTS:
        raise ConfigError(f"unknown ornament type {kind!r}; known: {', '.join(ORNAMENTS[1:])}")
    return ORNAMENTS.index(kind)


def ornament_frames(notes: Sequence, n_frames: int, hop_s: float, offset_s: float = 0.0) -> Tensor:
    """Per-frame ornament labels of a note list: frame ``i`` gets the ornament of the note
    sounding at its centre ``t_i = offset_s + (i + 1/2) hop_s``.

    A note sounds on ``[onset, offset)``; where notes overlap the one with the latest onset wins
    (the string last plucked); frames in silence get 0 (``none``).

    Args:
        notes: :class:`maqamgen.notes.Note` objects (anything with ``onset``, ``offset`` in s and
            ``ornament``).
        n_frames: number of frames (e.g. a latent window's ``W``).
        hop_s: frame hop, s (a latent frame: the spectrogram hop times the time factor).
        offset_s: the time of the window's start in the notes' clock, s.

    Returns:
        ``(n_frames,)`` int64 indices into :data:`ORNAMENTS`.

    Raises:
        ConfigError: ``hop_s <= 0``, ``n_frames < 0`` or an unknown ornament type.
    """
    if hop_s <= 0 or n_frames < 0:
        raise ConfigError(f"ornament_frames needs hop_s > 0 and n_frames >= 0, got {hop_s}, {n_frames}")
    t = offset_s + (torch.arange(n_frames, dtype=torch.float64) + 0.5) * hop_s
    out = torch.zeros(n_frames, dtype=torch.int64)
    for n in sorted(notes, key=lambda n: n.onset):
        out[(t >= n.onset) & (t < n.offset)] = ornament_index(n.ornament)
    return out
