"""A fully convolutional 2-D U-Net denoiser ``eps_theta(x_t, t, c)`` (Ho et al. 2020; Dhariwal & Nichol 2021).

Input and output are ``(B, C, H, W)`` (e.g. a log-mel spectrogram: ``H`` mel bands, ``W`` frames,
or a latent grid). Each of the ``L = len(widths)`` levels has ``n_res_blocks`` residual blocks
(GroupNorm, SiLU, 3x3 convolutions, the embedding injected as a scale and shift), optional
self-attention, and a stride-2 down-sampling between levels; the decoder mirrors it with skip
connections. ``H`` and ``W`` must therefore be multiples of ``2^(L-1)``.

The embedding is ``MLP(sinusoid(t)) + Embedding(label) + MLP(cond_vec)``: labels ``0..n_classes-1``
(e.g. the maqam) plus a learned null class (label ``-1``, or ``n_classes``) for classifier-free
guidance, and an optional continuous condition vector (the zero vector acts as its null).

With ``inpainting=True`` the network also sees a context, as in Stable Audio's inpainting training
(Evans et al. 2024): the input of ``conv_in`` is the channel concatenation
``[x_t, known * mask, mask]`` of ``2 C + 1`` channels, ``known`` the clean data whose known part
is kept and ``mask`` 1 where it is known, 0 where to generate. One model then both generates
(mask all 0, the default) and continues or infills (see
:class:`maqamgen.diffusion.InpaintingObjective` and :func:`maqamgen.diffusion.continue_sample`).

Used in: book/part1/04_unet_ddpm.md, 05_scaling_hallucination.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maqamgen.diffusion.core import CONTEXT_KEYS
from maqamgen.errors import ConfigError
from maqamgen.nets import check_preset, context_channels
from maqamgen.nets.embeddings import timestep_embedding


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of :class:`UNet`.

    Attributes:
        in_channels: channels of ``x_t``.
        out_channels: channels of the output (None: same as ``in_channels``).
        widths: channels of each level, finest first; the report's U-Net uses (32, 64, 128, 256, 512).
        n_res_blocks: residual blocks per level in the encoder (the decoder has one more, for the skip
            of the down-sampling).
        attn_levels: levels (0 = finest) with self-attention after each residual block; the middle
            block always has attention when ``mid_attn``. Negative indices count from the coarsest.
        mid_attn: self-attention in the middle block (at the lowest resolution).
        head_dim: channels per attention head.
        norm_groups: GroupNorm groups (the largest divisor of each width not above this is used).
        dropout: dropout inside residual blocks.
        n_classes: number of class labels (0: no label conditioning).
        cond_dim: size of the continuous condition vector (0: none).
        inpainting: also take the context ``known`` and ``mask`` of a dict condition as
            ``C + 1`` extra input channels ``[known * mask, mask]`` (Stable Audio's inpainting
            training), so one model generates (no context: zeros) and continues. False keeps the
            plain U-Net and its checkpoints.
    """

    in_channels: int = 1
    out_channels: int | None = None
    widths: tuple[int, ...] = (32, 64, 128, 256, 512)
    n_res_blocks: int = 2
    attn_levels: tuple[int, ...] = (-1,)
    mid_attn: bool = True
    head_dim: int = 32
    norm_groups: int = 32
    dropout: float = 0.0
    n_classes: int = 0
    cond_dim: int = 0
    inpainting: bool = False

    def __post_init__(self):
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"UNet widths must be positive integers, got {self.widths}")
        L = len(self.widths)
        bad = [a for a in self.attn_levels if not -L <= a < L]
        if bad:
            raise ConfigError(f"attn_levels {bad} out of range for {L} levels")
        if self.n_res_blocks < 1 or self.in_channels < 1:
            raise ConfigError("n_res_blocks and in_channels must be >= 1")

    @property
    def levels(self) -> int:
        """Number of resolutions ``L``."""
        return len(self.widths)

    @property
    def input_channels(self) -> int:
        """Channels of ``conv_in``: ``C``, or ``2 C + 1`` for ``[x_t, known * mask, mask]`` when inpainting."""
        return 2 * self.in_channels + 1 if self.inpainting else self.in_channels

    @property
    def multiple(self) -> int:
        """``H`` and ``W`` must be multiples of ``2^(L-1)``."""
        return 2 ** (self.levels - 1)

    def replace(self, **changes) -> "UNetConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


UNET_PRESETS: dict[str, UNetConfig] = {
    "tiny": UNetConfig(widths=(16, 32), n_res_blocks=1, attn_levels=(), mid_attn=False,
                       head_dim=16, norm_groups=8),
    "small": UNetConfig(widths=(32, 64, 128), attn_levels=(-1,), head_dim=32, norm_groups=8),
    "report": UNetConfig(widths=(32, 64, 128, 256, 512), attn_levels=(-1,), head_dim=32,
                         norm_groups=32),
    "latent": UNetConfig(widths=(16, 32, 64), n_res_blocks=1, attn_levels=(), mid_attn=True,
                         head_dim=16, norm_groups=8),
}
"""Size presets, the one place where U-Net sizes are named; ``report`` is the report's (32..512);
``latent`` is Chapter 6's denoiser of autoencoder latents (attention only at the lowest resolution,
where a 64-column latent is 16 columns: it trains in minutes on a 2-core CPU)."""


def unet_config(preset: str = "small", **overrides) -> UNetConfig:
    """The preset ``preset`` of :data:`UNET_PRESETS` with some fields overridden.

    Raises:
        ConfigError: unknown preset or field.
    """
    check_preset(UNET_PRESETS, preset, UNetConfig, "U-Net", overrides)
    if "widths" in overrides:
        overrides["widths"] = tuple(overrides["widths"])
    return UNET_PRESETS[preset].replace(**overrides)


def check_input_size(H: int, W: int, levels: int) -> None:
    """Raise a ConfigError naming the sizes that work when ``H`` or ``W`` is not a multiple of ``2^(levels-1)``."""
    m = 2 ** (levels - 1)
    bad = [(name, n) for name, n in (("H", H), ("W", W)) if n % m or n < m]
    if not bad:
        return
    hints = "; ".join(
        f"nearest {name}: " + (f"{(n // m) * m} or {(n // m + 1) * m}" if n >= m else f"{m}")
        for name, n in bad)
    raise ConfigError(f"input {H}x{W}: H and W must be multiples of {m} for {levels} levels "
                      f"({hints})")


def _groups(channels: int, max_groups: int) -> int:
    """Largest divisor of ``channels`` that is at most ``max_groups``."""
    return max(g for g in range(1, min(channels, max_groups) + 1) if channels % g == 0)


class ResBlock(nn.Module):
    """GN-SiLU-conv, embedding as scale/shift on the second norm, GN-SiLU-dropout-conv, plus skip.

    Shapes: ``x`` ``(B, c_in, H, W)``, ``emb`` ``(B, emb_dim)`` -> ``(B, c_out, H, W)``.
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in, groups), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out, groups), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the ``H W`` positions, with a residual: ``(B, C, H, W)`` -> same."""

    def __init__(self, channels: int, head_dim: int, groups: int):
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = nn.GroupNorm(_groups(channels, groups), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).unbind(1)
        h = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(h.transpose(-1, -2).reshape(B, C, H, W))


class _Level(nn.Module):
    """The residual blocks (and attention) of one resolution."""

    def __init__(self, blocks: list[ResBlock], attn: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attn)


class UNet(nn.Module):
    """The denoiser: ``forward(x_t, t, cond=None) -> (B, out_channels, H, W)``.

    Args:
        config: a :class:`UNetConfig` (default: the report's widths, one input channel).
        **overrides: fields of :class:`UNetConfig` to change, e.g. ``UNet(widths=(16, 32))``.
    """

    def __init__(self, config: UNetConfig | None = None, **overrides):
        super().__init__()
        cfg = (config or UNetConfig()).replace(**overrides) if overrides else (config or UNetConfig())
        self.config = cfg
        w, L, g = cfg.widths, cfg.levels, cfg.norm_groups
        attn_levels = {a % L for a in cfg.attn_levels}
        emb_dim = 4 * w[0]
        self.time_mlp = nn.Sequential(nn.Linear(w[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(cfg.n_classes + 1, emb_dim) if cfg.n_classes > 0 else None
        self.cond_mlp = (nn.Sequential(nn.Linear(cfg.cond_dim, emb_dim), nn.SiLU(),
                                       nn.Linear(emb_dim, emb_dim)) if cfg.cond_dim > 0 else None)
        self.conv_in = nn.Conv2d(cfg.input_channels, w[0], 3, padding=1)

        def attn(c, lvl):
            return SelfAttention(c, cfg.head_dim, g) if lvl in attn_levels else nn.Identity()

        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, c = [w[0]], w[0]
        for i in range(L):
            blocks, atts = [], []
            for _ in range(cfg.n_res_blocks):
                blocks.append(ResBlock(c, w[i], emb_dim, g, cfg.dropout))
                atts.append(attn(w[i], i))
                c = w[i]
                skips.append(c)
            self.down.append(_Level(blocks, atts))
            if i < L - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid1 = ResBlock(c, c, emb_dim, g, cfg.dropout)
        self.mid_attn = SelfAttention(c, cfg.head_dim, g) if cfg.mid_attn else nn.Identity()
        self.mid2 = ResBlock(c, c, emb_dim, g, cfg.dropout)

        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(L)):
            blocks, atts = [], []
            for _ in range(cfg.n_res_blocks + 1):
                blocks.append(ResBlock(c + skips.pop(), w[i], emb_dim, g, cfg.dropout))
                atts.append(attn(w[i], i))
                c = w[i]
            self.up.append(_Level(blocks, atts))
            if i > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
        self.norm_out = nn.GroupNorm(_groups(c, g), c)
        self.conv_out = nn.Conv2d(c, cfg.out_channels or cfg.in_channels, 3, padding=1)

    # ---- conditioning --------------------------------------------------------------------
    def embed(self, t: Tensor, cond=None, batch: int | None = None) -> Tensor:
        """The embedding ``(B, 4 widths[0])`` of timesteps and condition.

        Args:
            t: ``(B,)`` timesteps (int or float) or a scalar.
            cond: None (the null condition), ``(B,)`` int64 labels (``-1``: null class),
                ``(B, cond_dim)`` float vectors, or a dict with keys ``label`` and/or ``vec``
                (its context keys ``known`` and ``mask`` are ignored here: see :meth:`context_input`).
            batch: ``B`` when ``t`` is a scalar.
        """
        cfg = self.config
        t = torch.as_tensor(t, device=self.conv_in.weight.device)
        if t.ndim == 0:
            t = t.expand(batch or 1)
        emb = self.time_mlp(timestep_embedding(t, cfg.widths[0]))
        B = emb.shape[0]
        label, vec = None, None
        if isinstance(cond, dict):
            unknown = set(cond) - {"label", "vec", *CONTEXT_KEYS}
            if unknown:
                raise ConfigError(f"unknown condition key(s) {sorted(unknown)}; known: label, vec, "
                                  f"{', '.join(CONTEXT_KEYS)}")
            label, vec = cond.get("label"), cond.get("vec")
        elif cond is not None:
            if cond.is_floating_point():
                vec = cond
            else:
                label = cond
        if label is not None and self.label_emb is None:
            raise ConfigError("got class labels but the U-Net was built with n_classes=0")
        if vec is not None and self.cond_mlp is None:
            raise ConfigError("got a condition vector but the U-Net was built with cond_dim=0")
        if self.label_emb is not None:
            if label is None:
                label = torch.full((B,), cfg.n_classes, dtype=torch.long, device=emb.device)
            label = torch.where(label < 0, torch.full_like(label, cfg.n_classes), label)
            if int(label.max()) > cfg.n_classes:
                raise ConfigError(f"class label {int(label.max())} out of range 0..{cfg.n_classes - 1}")
            emb = emb + self.label_emb(label)
        if self.cond_mlp is not None:
            if vec is None:
                vec = torch.zeros(B, cfg.cond_dim, device=emb.device, dtype=emb.dtype)
            if vec.shape[-1] != cfg.cond_dim:
                raise ConfigError(f"condition vector of size {vec.shape[-1]}, the U-Net expects {cfg.cond_dim}")
            emb = emb + self.cond_mlp(vec.to(emb.dtype))
        return emb

    def context_input(self, x: Tensor, cond=None) -> Tensor:
        """The input of ``conv_in``: ``x``, or ``[x, known * mask, mask]`` for an inpainting U-Net.

        Args:
            x: ``(B, C, H, W)`` noisy input.
            cond: see :meth:`embed`; a dict may also hold ``known`` (clean data broadcastable to
                ``(B, C, H, W)``, only its known part is seen) and ``mask`` (1 = known, 0 = generate,
                broadcastable to ``(B, 1, H, W)``, e.g. ``(B, 1, 1, W)`` time masks). No context
                (or no dict) means pure generation: both are zero.

        Returns:
            ``(B, input_channels, H, W)``.

        Raises:
            ConfigError: context given to a U-Net built with ``inpainting=False``, a ``mask``
                without ``known``, or shapes that do not broadcast.
        """
        return context_channels(x, cond, self.config.inpainting, "U-Net")

    def forward(self, x: Tensor, t: Tensor, cond=None) -> Tensor:
        """Denoise.

        Args:
            x: ``(B, in_channels, H, W)``, ``H`` and ``W`` multiples of ``2^(L-1)``.
            t: ``(B,)`` timesteps (or a scalar).
            cond: see :meth:`embed`; an inpainting U-Net also reads ``known`` and ``mask``
                (see :meth:`context_input`).

        Returns:
            ``(B, out_channels, H, W)``.
        """
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ConfigError(f"input of shape {tuple(x.shape)}: expected (B, {cfg.in_channels}, H, W)")
        check_input_size(x.shape[2], x.shape[3], cfg.levels)
        emb = self.embed(t, cond, batch=x.shape[0])
        if emb.shape[0] == 1 and x.shape[0] > 1:
            emb = emb.expand(x.shape[0], -1)
        h = self.conv_in(self.context_input(x, cond))
        hs = [h]
        for i, level in enumerate(self.down):
            for block, att in zip(level.blocks, level.attn):
                h = att(block(h, emb))
                hs.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for j, level in enumerate(self.up):
            for block, att in zip(level.blocks, level.attn):
                h = att(block(torch.cat([h, hs.pop()], dim=1), emb))
            if j < len(self.upsample):
                h = self.upsample[j](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))
