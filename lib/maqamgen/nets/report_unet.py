"""The report's U-Net as its code has it: the baseline of the time-to-quality benchmark.

A plain encoder-decoder of convolution blocks, each ``Conv2d 3x3 -> BatchNorm2d -> ReLU``
twice, with channel widths (32, 64, 128, 256, 512), max-pooling between levels,
transposed-convolution up-sampling, skip connections by concatenation and **no attention**
(the report's Phase 3: "a fully convolutional U-Net with channel widths (32, 64, 128, 256,
512)"). The timestep enters as a sinusoidal embedding through a small MLP, added as a
per-channel bias after the first convolution of every block (the report gives no detail; this
is the least a denoiser needs to know its noise level); a class label, when there are classes,
is embedded and added to it (label ``-1`` or ``n_classes``: the null class of guidance).

It is registered as ``nets.NETWORKS["report_unet"]``, so a
:class:`maqamgen.diffusion.run.DenoiserSpec` with ``net="report_unet"`` trains and samples it
through the one runner, next to the book's U-Net (:mod:`maqamgen.nets.unet`: GroupNorm, SiLU,
residual blocks, attention at the lowest resolution, EMA, warm-up).

Used in: lib/maqamgen/nets/__init__.py (the ``report_unet`` network), benchmarks/bench_time_to_quality.py
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from maqamgen.errors import ConfigError
from maqamgen.nets import check_preset
from maqamgen.nets.embeddings import timestep_embedding


@dataclass(frozen=True)
class ReportUNetConfig:
    """Architecture of :class:`ReportUNet`.

    Attributes:
        in_channels: channels of ``x_t``.
        widths: channels of each level, finest first (the report's: 32 to 512).
        n_classes: class labels (0: none).
        t_dim: width of the timestep embedding.
        cond_dim: not supported (0); present so the runner's spec fields are refused clearly.
        inpainting: not supported (False), likewise.
    """

    in_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256, 512)
    n_classes: int = 0
    t_dim: int = 128
    cond_dim: int = 0
    inpainting: bool = False

    def __post_init__(self):
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"report U-Net widths must be positive integers, got {self.widths}")
        if self.cond_dim or self.inpainting:
            raise ConfigError("the report's U-Net takes a class label only (no condition vector, "
                              "no inpainting inputs)")

    @property
    def multiple(self) -> int:
        """``H`` and ``W`` must be multiples of ``2^(levels - 1)``."""
        return 2 ** (len(self.widths) - 1)


REPORT_UNET_PRESETS = {
    "report": ReportUNetConfig(),
    "tiny": ReportUNetConfig(widths=(8, 16), t_dim=32),
}
"""Sizes: ``report`` (the report's widths) and ``tiny`` (for tests)."""


def report_unet_config(preset: str = "report", **overrides) -> ReportUNetConfig:
    """The preset ``preset`` of :data:`REPORT_UNET_PRESETS` with some fields overridden.

    Raises:
        ConfigError: unknown preset or field.
    """
    check_preset(REPORT_UNET_PRESETS, preset, ReportUNetConfig, "report U-Net", overrides)
    return dataclasses.replace(REPORT_UNET_PRESETS[preset], **overrides)


class ConvBlock(nn.Module):
    """``(Conv 3x3, BatchNorm, ReLU) x 2``, the timestep embedding added after the first conv."""

    def __init__(self, c_in: int, c_out: int, t_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.t_proj = nn.Linear(t_dim, c_out)
        self.act = nn.ReLU()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(x) + self.t_proj(emb)[:, :, None, None]
        h = self.act(self.bn1(h))
        return self.act(self.bn2(self.conv2(h)))


class ReportUNet(nn.Module):
    """The report's U-Net: ``forward(x_t, t, cond=None) -> (B, C, H, W)``, as :class:`maqamgen.nets.unet.UNet`."""

    def __init__(self, config: ReportUNetConfig | None = None, **overrides):
        super().__init__()
        cfg = config if config is not None else report_unet_config(**overrides)
        self.config = cfg
        w, d = cfg.widths, cfg.t_dim
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        self.label_emb = nn.Embedding(cfg.n_classes + 1, d) if cfg.n_classes else None
        self.down = nn.ModuleList()
        c = cfg.in_channels
        for width in w:
            self.down.append(ConvBlock(c, width, d))
            c = width
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for width in reversed(w[:-1]):
            self.up.append(nn.ConvTranspose2d(c, width, 2, stride=2))
            self.up_blocks.append(ConvBlock(2 * width, width, d))
            c = width
        self.out = nn.Conv2d(c, cfg.in_channels, 1)

    def _labels(self, cond, batch: int) -> Tensor | None:
        if isinstance(cond, dict):
            cond = cond.get("label")
        if cond is None or self.label_emb is None:
            if cond is not None and not isinstance(cond, dict) and self.label_emb is None:
                raise ConfigError("got class labels but the report U-Net was built with n_classes=0")
            return None
        lab = torch.as_tensor(cond, dtype=torch.long).reshape(-1)
        if lab.numel() == 1 and batch > 1:
            lab = lab.expand(batch)
        n = self.config.n_classes
        if int(lab.max()) >= n + 1 or int(lab.min()) < -1:
            raise ConfigError(f"class label out of range -1..{n}")
        return torch.where(lab < 0, torch.full_like(lab, n), lab)

    def forward(self, x: Tensor, t: Tensor, cond=None) -> Tensor:
        """Denoise ``x`` ``(B, C, H, W)`` at timesteps ``t`` ``(B,)``; ``cond``: labels or ``{"label": ...}``."""
        B, _, H, W = x.shape
        m = self.config.multiple
        if H % m or W % m:
            raise ConfigError(f"the report U-Net needs H and W multiples of {m}, got {H} x {W}")
        t = torch.as_tensor(t, device=x.device).reshape(-1)
        if t.numel() == 1:
            t = t.expand(B)
        emb = self.t_mlp(timestep_embedding(t, self.config.t_dim).to(x.dtype))
        lab = self._labels(cond, B)
        if lab is not None:
            emb = emb + self.label_emb(lab.to(x.device))
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h, emb)
            if i < len(self.down) - 1:
                skips.append(h)
                h = self.pool(h)
        for up, block in zip(self.up, self.up_blocks):
            h = up(h)
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)
