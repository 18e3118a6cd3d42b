"""Timestep and positional encodings shared by every network (the U-Net today; the DiT next).

Plain functions of tensors, as in the DiT reference code: a network calls them, it does not
own them.

Used in: book/part1/04_unet_ddpm.md
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


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
