"""A convolutional (variational) autoencoder from a spectrogram to a latent grid (Rombach et al. 2022).

The report's latent diffusion (Phase 3, "Latent Diffusion"): a convolutional autoencoder compresses
a spectrogram fragment ``x`` of shape ``(B, 1, F, T)`` -- ``F`` frequency rows (mel bands or STFT
bins), ``T`` frames, normalised to [-1, 1] as :class:`maqamgen.features.Normalizer` does -- to a
latent grid ``z`` of shape ``(B, C, F / 2^kf, T / 2^kt)``; the diffusion U-Net is trained on ``z``
and the decoder maps generated latents back to spectrograms.

Structure (the LDM autoencoder, smaller and without attention): ``conv_in``; per level
``n_res_blocks`` residual blocks (GroupNorm, SiLU, 3x3 convolutions) and, between levels, a strided
3x3 convolution; a middle residual block; GroupNorm, SiLU, ``conv_out`` to ``C`` channels (plain
autoencoder) or ``2 C`` channels (mean and log-variance, VAE). The decoder mirrors it with
nearest-neighbour up-sampling followed by a 3x3 convolution.

KL term. With ``kl_weight > 0`` the encoder predicts a diagonal Gaussian ``q(z | x) =
N(mean, exp(logvar))``; training samples ``z = mean + exp(logvar / 2) eps`` and adds
``kl_weight * KL(q || N(0, I))`` (averaged per latent element) to the reconstruction loss
(averaged per input element). ``kl_weight = 0`` is a plain deterministic autoencoder
(``z = mean``, no log-variance, no KL). Stable Diffusion's weight 1e-6 on a KL *summed* over the
latent, with the reconstruction summed over pixels, corresponds here to about
``1e-6 * (latent size / input size)``, i.e. 5e-7 for the presets' compression of 2; the presets
use 1e-4, a stronger pull toward ``N(0, I)`` (smoother latents for the diffusion model) that the
chapter may tune against reconstruction quality.

Latent scaling. :func:`fit_latent_scale` measures the mean and standard deviation of the latents of
a data set and stores them in the buffers ``latent_shift`` and ``latent_scale`` (part of the
state dict, so they travel with a checkpoint); :meth:`Autoencoder.to_latent` then gives
``(z - latent_shift) * latent_scale`` with unit variance, the input the diffusion model expects, and
:meth:`Autoencoder.from_latent` inverts it (Rombach et al. 2022 scale only; Esser et al. 2024
also shift).

Why the presets down-sample time only (``freq_down = 0``). The maqamat differ by quarter tones
(about 50 cents): at 200 Hz a quarter tone is 5.8 Hz while one band of the book's 64-band mel
scale (50-1500 Hz) is about 15 Hz wide, so a quarter tone already lives *inside* one band, in the
ratio of neighbouring bands' energies. A stride-2 along frequency would merge pairs of bands into
one latent row and force the network to re-encode that sub-band position in channels, where an
untrained or under-trained decoder blurs it first. Along time the spectrogram is redundant: an oud
note lasts 100-500 ms, i.e. 4-22 frames of 23 ms at hop 512 (9-43 frames at hop 256), so halving
time twice gives latent columns of 4 frames (93 ms at hop 512, 46 ms at hop 256), no longer than
the shortest notes. ``freq_down`` stays available, so the chapter can measure the alternative.

Vibrato and the time grid (measured 2026-12-06, ``book`` features and training, 300 steps each;
32 validation fragments, 28 of them with labelled vibrato, frame F1 of the ornament detector as
in :func:`maqamgen.recipes.ch08_dit.real_control_ceiling`). The ``book`` preset's latent runs at
10.8 frames per second, about twice an oud vibrato's rate, and Chapter 8 shows that blurring it
over three frames removes the detected vibrato. Halving time only once (``time_down=1``, 21.5
frames per second) lowers the reconstruction error (mean absolute 0.044 against 0.060 on the
normalised mels) but not the loss of vibrato: F1 0.62 [0.49, 0.75] with one latent channel (the
same compression of 2) and 0.59 [0.46, 0.71] with two, against 0.61 [0.47, 0.74] for the preset,
0.75 [0.63, 0.85] for the mels through Griffin-Lim alone and 0.81 [0.68, 0.90] for the original
audio. The presets keep ``time_down=2``.

Preset arithmetic (``input_shape`` is the fragment each preset is sized for; the network is fully
convolutional and takes any ``F`` multiple of ``2^freq_down``, ``T`` multiple of ``2^time_down``):

* ``full``: sample rate 22050 Hz, hop 256 samples (11.6 ms), 128 mel bands. A 6-s fragment has
  ``6 * 22050 / 256 = 516.8`` frames; the preset takes 512 frames (5.94 s). Time down-sampled by
  ``2^2 = 4``, frequency kept: ``512 / 4 = 128`` columns by 128 rows, i.e. latents of
  ``2 x 128 x 128`` -- the report's "latent grids near 128 x 128" -- for 32,768 numbers instead of
  ``128 * 512 = 65,536`` (compression 2; ``latent_channels=1`` gives 16,384).
* ``book``: 22050 Hz, hop 512 (23.2 ms), 64 mel bands (the book's log-mel features). A 6-s fragment
  has ``6 * 22050 / 512 = 258.4`` frames; the preset takes 256 (5.94 s) and gives ``2 x 64 x 64``
  latents (8,192 numbers for 16,384). Trained on shorter crops (the network is convolutional), it
  learns in minutes on a 2-core CPU.
* ``tiny``: ``16 x 32`` inputs to ``2 x 16 x 16`` latents, for the tests.

Written for Chapter 6 (book/part1/06_latent_diffusion.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maqamgen.errors import ConfigError
from maqamgen.nets import check_preset

RECON_LOSSES = ("l1", "mse")
"""Reconstruction losses :func:`autoencoder_loss` knows."""

LOGVAR_RANGE = (-30.0, 20.0)
"""The predicted log-variance is clamped to this range (as in the LDM code) for stability."""


@dataclass(frozen=True)
class AutoencoderConfig:
    """Architecture and loss of :class:`Autoencoder`.

    Attributes:
        in_channels: channels of the spectrogram (1).
        latent_channels: channels ``C`` of the latent grid.
        widths: channels of each level, finest first (``L = len(widths)`` levels, ``L - 1``
            transitions where down-sampling may happen).
        n_res_blocks: residual blocks per level, in the encoder and in the decoder.
        freq_down: the first ``freq_down`` transitions halve the frequency axis (``F / 2^freq_down``).
        time_down: the first ``time_down`` transitions halve the time axis (``T / 2^time_down``).
        norm_groups: GroupNorm groups (the largest divisor of each width not above this is used).
        kl_weight: weight of the KL term; 0 makes a plain (deterministic) autoencoder.
        recon_loss: ``l1`` or ``mse``, averaged over every input element.
        input_shape: ``(F, T)``, the spectrogram fragment the preset is sized for (documentation
            and :meth:`latent_shape`'s default; the network takes any valid size).
    """

    in_channels: int = 1
    latent_channels: int = 2
    widths: tuple[int, ...] = (32, 64, 128)
    n_res_blocks: int = 1
    freq_down: int = 0
    time_down: int = 2
    norm_groups: int = 8
    kl_weight: float = 1e-4
    recon_loss: str = "l1"
    input_shape: tuple[int, int] = (64, 256)

    def __post_init__(self):
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"autoencoder widths must be positive integers, got {self.widths}")
        for name in ("in_channels", "latent_channels", "n_res_blocks", "norm_groups"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"autoencoder {name} must be >= 1, got {getattr(self, name)}")
        transitions = len(self.widths) - 1
        for name in ("freq_down", "time_down"):
            k = getattr(self, name)
            if not 0 <= k <= transitions:
                raise ConfigError(f"autoencoder {name}={k}: must be in 0..{transitions} for "
                                  f"{len(self.widths)} levels (widths {tuple(self.widths)}); "
                                  f"add levels to down-sample more")
        if self.kl_weight < 0:
            raise ConfigError(f"autoencoder kl_weight must be >= 0, got {self.kl_weight}")
        if self.recon_loss not in RECON_LOSSES:
            raise ConfigError(f"unknown reconstruction loss {self.recon_loss!r}; known: "
                              f"{', '.join(RECON_LOSSES)}")
        if len(self.input_shape) != 2:
            raise ConfigError(f"input_shape must be (F, T), got {self.input_shape}")

    @property
    def variational(self) -> bool:
        """True when the encoder predicts a mean and a log-variance (``kl_weight > 0``)."""
        return self.kl_weight > 0

    @property
    def factors(self) -> tuple[int, int]:
        """Down-sampling factors ``(2^freq_down, 2^time_down)`` of (frequency, time)."""
        return 2 ** self.freq_down, 2 ** self.time_down

    def strides(self) -> list[tuple[int, int]]:
        """The (frequency, time) stride of each of the ``L - 1`` transitions, finest first."""
        return [(2 if i < self.freq_down else 1, 2 if i < self.time_down else 1)
                for i in range(len(self.widths) - 1)]

    def latent_shape(self, F: int | None = None, T: int | None = None) -> tuple[int, int, int]:
        """``(C, F / 2^freq_down, T / 2^time_down)`` for an ``F x T`` input (default ``input_shape``).

        Raises:
            ConfigError: ``F`` or ``T`` is not a multiple of its factor.
        """
        F = self.input_shape[0] if F is None else F
        T = self.input_shape[1] if T is None else T
        check_spectrogram_size(F, T, self)
        f, t = self.factors
        return self.latent_channels, F // f, T // t

    def replace(self, **changes) -> "AutoencoderConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


AE_PRESETS: dict[str, AutoencoderConfig] = {
    "tiny": AutoencoderConfig(widths=(8, 16), latent_channels=2, n_res_blocks=1, freq_down=0,
                              time_down=1, norm_groups=4, input_shape=(16, 32)),
    "book": AutoencoderConfig(widths=(16, 32, 64), latent_channels=2, n_res_blocks=1, freq_down=0,
                              time_down=2, norm_groups=8, input_shape=(64, 256)),
    "full": AutoencoderConfig(widths=(64, 128, 256), latent_channels=2, n_res_blocks=2, freq_down=0,
                              time_down=2, norm_groups=32, input_shape=(128, 512)),
}
"""Size presets, the one place where autoencoder sizes are named (arithmetic in the module docstring)."""


def autoencoder_config(preset: str = "book", **overrides) -> AutoencoderConfig:
    """The preset ``preset`` of :data:`AE_PRESETS` with some fields overridden.

    Raises:
        ConfigError: unknown preset or field, or an invalid result.
    """
    check_preset(AE_PRESETS, preset, AutoencoderConfig, "autoencoder", overrides)
    for name in ("widths", "input_shape"):
        if name in overrides:
            overrides[name] = tuple(overrides[name])
    return AE_PRESETS[preset].replace(**overrides)


def check_spectrogram_size(F: int, T: int, config: AutoencoderConfig) -> None:
    """Raise a ConfigError naming the sizes that work when ``F`` or ``T`` does not fit ``config``.

    ``F`` must be a positive multiple of ``2^freq_down`` and ``T`` of ``2^time_down``.
    """
    bad = [(name, n, m) for name, n, m in (("F", F, config.factors[0]), ("T", T, config.factors[1]))
           if n % m or n < m]
    if not bad:
        return
    hints = "; ".join(f"nearest {name}: " + (f"{(n // m) * m} or {(n // m + 1) * m}" if n >= m else f"{m}")
                      for name, n, m in bad)
    f, t = config.factors
    raise ConfigError(f"spectrogram {F}x{T}: F must be a multiple of {f} and T of {t} for "
                      f"freq_down={config.freq_down}, time_down={config.time_down} ({hints})")


def _groups(channels: int, max_groups: int) -> int:
    """Largest divisor of ``channels`` that is at most ``max_groups``."""
    return max(g for g in range(1, min(channels, max_groups) + 1) if channels % g == 0)


class ResBlock(nn.Module):
    """GN-SiLU-conv3x3, GN-SiLU-conv3x3, plus a (1x1 when the width changes) skip.

    Shapes: ``(B, c_in, F, T)`` -> ``(B, c_out, F, T)``.
    """

    def __init__(self, c_in: int, c_out: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in, groups), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(c_out, groups), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """A 3x3 convolution with stride ``(sf, st)``: ``(B, c, F, T)`` -> ``(B, c, F / sf, T / st)``."""

    def __init__(self, channels: int, stride: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=stride, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour up-sampling by ``(sf, st)``, then a 3x3 convolution: ``(B, c, F, T)`` ->
    ``(B, c, F sf, T st)``."""

    def __init__(self, channels: int, stride: tuple[int, int]):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.stride, mode="nearest"))


def _resampler(cls, channels: int, stride: tuple[int, int]) -> nn.Module:
    return cls(channels, stride) if stride != (1, 1) else nn.Identity()


class Encoder(nn.Module):
    """Spectrogram ``(B, in_channels, F, T)`` -> ``(B, C or 2 C, F / 2^kf, T / 2^kt)`` (mean, or mean
    and log-variance stacked along channels)."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        w, g = cfg.widths, cfg.norm_groups
        self.conv_in = nn.Conv2d(cfg.in_channels, w[0], 3, padding=1)
        blocks: list[nn.Module] = []
        c = w[0]
        strides = cfg.strides()
        for i, width in enumerate(w):
            for _ in range(cfg.n_res_blocks):
                blocks.append(ResBlock(c, width, g))
                c = width
            if i < len(strides):
                blocks.append(_resampler(Downsample, c, strides[i]))
        self.blocks = nn.Sequential(*blocks)
        self.mid = ResBlock(c, c, g)
        self.norm_out = nn.GroupNorm(_groups(c, g), c)
        self.conv_out = nn.Conv2d(c, cfg.latent_channels * (2 if cfg.variational else 1), 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.mid(self.blocks(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent ``(B, C, F / 2^kf, T / 2^kt)`` -> spectrogram ``(B, in_channels, F, T)``."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        w, g = cfg.widths, cfg.norm_groups
        c = w[-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, c, 3, padding=1)
        self.mid = ResBlock(c, c, g)
        blocks: list[nn.Module] = []
        strides = cfg.strides()
        for i in reversed(range(len(w))):
            for _ in range(cfg.n_res_blocks):
                blocks.append(ResBlock(c, w[i], g))
                c = w[i]
            if i > 0:
                blocks.append(_resampler(Upsample, c, strides[i - 1]))
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = nn.GroupNorm(_groups(c, g), c)
        self.conv_out = nn.Conv2d(c, cfg.in_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.blocks(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Autoencoder(nn.Module):
    """The autoencoder: ``encode``, ``decode``, ``forward(x) -> (x_hat, mean, logvar)``.

    Args:
        config: an :class:`AutoencoderConfig` (default: its defaults, close to the ``book`` preset).
        **overrides: fields of :class:`AutoencoderConfig` to change, e.g. ``Autoencoder(kl_weight=0)``.

    Attributes:
        latent_shift: buffer, scalar; subtracted by :meth:`to_latent` (0 until
            :func:`fit_latent_scale` sets it).
        latent_scale: buffer, scalar; multiplies by :meth:`to_latent` (1 until set).
    """

    def __init__(self, config: AutoencoderConfig | None = None, **overrides):
        super().__init__()
        cfg = config or AutoencoderConfig()
        cfg = cfg.replace(**overrides) if overrides else cfg
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.register_buffer("latent_shift", torch.tensor(0.0))
        self.register_buffer("latent_scale", torch.tensor(1.0))

    def _check_input(self, x: Tensor) -> Tensor:
        cfg = self.config
        if x.ndim == 3 and cfg.in_channels == 1:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ConfigError(f"spectrogram of shape {tuple(x.shape)}: expected "
                              f"(B, {cfg.in_channels}, F, T)")
        check_spectrogram_size(x.shape[2], x.shape[3], cfg)
        return x

    def encode(self, x: Tensor, sample: bool | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """The latent of a spectrogram.

        Args:
            x: ``(B, in_channels, F, T)`` (or ``(B, F, T)`` for one channel), normalised to [-1, 1].
            sample: draw ``z ~ q(z | x)`` (VAE only; from the global torch RNG) rather than take
                the mean; None: sample while training, not in eval mode.

        Returns:
            ``(z, mean, logvar)``, each ``(B, C, F / 2^freq_down, T / 2^time_down)``; ``logvar`` is
            None for a plain autoencoder (``kl_weight = 0``, where ``z = mean``).
        """
        h = self.encoder(self._check_input(x))
        if not self.config.variational:
            return h, h, None
        mean, logvar = h.chunk(2, dim=1)
        logvar = logvar.clamp(*LOGVAR_RANGE)
        if sample is None:
            sample = self.training
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if sample else mean
        return z, mean, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Latent ``(B, C, F', T')`` (unscaled, as :meth:`encode` gives it) -> spectrogram
        ``(B, in_channels, F' 2^freq_down, T' 2^time_down)``."""
        if z.ndim != 4 or z.shape[1] != self.config.latent_channels:
            raise ConfigError(f"latent of shape {tuple(z.shape)}: expected "
                              f"(B, {self.config.latent_channels}, F', T')")
        return self.decoder(z)

    def forward(self, x: Tensor, sample: bool | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """Round trip: ``(x_hat, mean, logvar)`` with ``x_hat`` the shape of ``x`` (see :meth:`encode`)."""
        z, mean, logvar = self.encode(x, sample)
        return self.decode(z), mean, logvar

    def to_latent(self, x: Tensor, sample: bool = False) -> Tensor:
        """Scaled latents for the diffusion model: ``(z - latent_shift) * latent_scale``."""
        z = self.encode(x, sample)[0]
        return (z - self.latent_shift) * self.latent_scale

    def from_latent(self, z_scaled: Tensor) -> Tensor:
        """Inverse of :meth:`to_latent` then :meth:`decode`: scaled latent -> spectrogram."""
        return self.decode(z_scaled / self.latent_scale + self.latent_shift)


# --------------------------------------------------------------------------------------------
# Losses and latent statistics
# --------------------------------------------------------------------------------------------

def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mean, exp(logvar)) || N(0, I))`` averaged over every latent element (nats).

    ``0.5 * mean(mean^2 + exp(logvar) - 1 - logvar)`` (Kingma & Welling 2014), a scalar.
    """
    return 0.5 * torch.mean(mean.square() + logvar.exp() - 1.0 - logvar)


def reconstruction_loss(x_hat: Tensor, x: Tensor, kind: str = "l1") -> Tensor:
    """Mean absolute (``l1``) or squared (``mse``) error over every element, a scalar."""
    if kind == "l1":
        return F.l1_loss(x_hat, x)
    if kind == "mse":
        return F.mse_loss(x_hat, x)
    raise ConfigError(f"unknown reconstruction loss {kind!r}; known: {', '.join(RECON_LOSSES)}")


def spectrogram_batch(batch: Any) -> Tensor:
    """The spectrograms of a training batch: the tensor itself, the first item of a tuple or list
    (e.g. ``(x, label)`` from :meth:`maqamgen.features.PatchSet.dataset`), or ``x`` / ``x0`` of a dict."""
    if torch.is_tensor(batch):
        return batch
    if isinstance(batch, (tuple, list)) and batch and torch.is_tensor(batch[0]):
        return batch[0]
    if isinstance(batch, dict):
        for key in ("x", "x0"):
            if key in batch:
                return batch[key]
    raise ConfigError(f"cannot find spectrograms in a batch of type {type(batch).__name__}; "
                      f"expected a tensor, (x, ...) or a dict with 'x'")


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


def autoencoder_loss(model: nn.Module, batch: Any) -> Tensor:
    """``loss_fn(model, batch)`` for :func:`maqamgen.train.train`: reconstruction + ``kl_weight`` * KL.

    Args:
        model: an :class:`Autoencoder` (or a DDP wrapper of one; its ``forward`` is called, so
            gradients are synchronised).
        batch: ``(B, 1, F, T)`` spectrograms, ``(x, labels)``, or a dict with ``x`` (see
            :func:`spectrogram_batch`).

    Returns:
        The scalar loss ``recon(x_hat, x) + kl_weight * KL`` (the KL term only for a VAE).
    """
    cfg = _unwrap(model).config
    x = spectrogram_batch(batch)
    if x.ndim == 3:
        x = x[:, None]
    x_hat, mean, logvar = model(x)
    loss = reconstruction_loss(x_hat, x, cfg.recon_loss)
    if cfg.variational and logvar is not None:
        loss = loss + cfg.kl_weight * kl_divergence(mean, logvar)
    return loss


def _batches(data, batch_size: int) -> Iterable[Tensor]:
    if torch.is_tensor(data):
        for i in range(0, len(data), batch_size):
            yield data[i:i + batch_size]
        return
    if hasattr(data, "x") and torch.is_tensor(getattr(data, "x")):  # a PatchSet
        yield from _batches(data.x, batch_size)
        return
    for batch in data:
        yield spectrogram_batch(batch)


@torch.no_grad()
def fit_latent_scale(model: Autoencoder, data, batch_size: int = 32, max_items: int | None = 512,
                     sample: bool = False) -> tuple[float, float]:
    """Set ``model.latent_shift`` and ``model.latent_scale`` so that scaled latents have mean 0 and
    variance 1 over ``data``.

    ``latent_shift`` is the mean of every latent element, ``latent_scale = 1 / std`` (Rombach et
    al. 2022 compute the scale from one batch; here up to ``max_items`` spectrograms).

    Args:
        model: a trained :class:`Autoencoder` (put in eval mode while measuring, then restored).
        data: spectrograms ``(N, 1, F, T)``, a :class:`maqamgen.features.PatchSet`, or an iterable
            of batches (see :func:`spectrogram_batch`).
        batch_size: spectrograms encoded at once (when ``data`` is a tensor).
        max_items: stop after this many spectrograms (None: all).
        sample: measure sampled latents (use the same choice as when encoding the diffusion data).

    Returns:
        ``(latent_shift, latent_scale)`` as floats.

    Raises:
        ConfigError: no data, or latents with zero variance.
    """
    was_training = model.training
    model.eval()
    device = model.latent_scale.device
    n, s1, s2, seen = 0, 0.0, 0.0, 0
    try:
        for x in _batches(data, batch_size):
            if max_items is not None and seen >= max_items:
                break
            if max_items is not None:
                x = x[:max_items - seen]
            seen += len(x)
            z = model.encode(x.to(device), sample=sample)[0].double()
            n += z.numel()
            s1 += float(z.sum())
            s2 += float(z.square().sum())
    finally:
        model.train(was_training)
    if n == 0:
        raise ConfigError("fit_latent_scale got no data")
    mean = s1 / n
    var = max(s2 / n - mean * mean, 0.0)
    if var <= 0.0:
        raise ConfigError("the latents have zero variance; is the autoencoder trained?")
    model.latent_shift.fill_(mean)
    model.latent_scale.fill_(var ** -0.5)
    return float(model.latent_shift), float(model.latent_scale)
