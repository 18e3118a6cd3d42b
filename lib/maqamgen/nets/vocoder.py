"""A small Vocos-style vocoder: ConvNeXt blocks over spectrogram frames and an inverse-STFT head.

The learned decoder to audio of Chapter 6, after Vocos (Siuzdak 2023, "Vocos: Closing the gap
between time-domain and Fourier-based neural vocoders", arXiv:2306.00814; reference code
gemelo-ai/vocos: ``vocos/models.py`` ``VocosBackbone``, ``vocos/modules.py`` ``ConvNeXtBlock``,
``vocos/heads.py`` ``ISTFTHead``). Every layer keeps the frame rate; the inverse STFT does the
up-sampling to audio:

``x (B, n_mels, T)`` -> Conv1d(k=7) -> LayerNorm -> ``n_layers`` x ConvNeXtBlock -> LayerNorm
-> Linear to ``n_fft + 2`` numbers per frame: ``log|S|`` and a phase angle ``p`` for each of the
``n_fft / 2 + 1`` bins -> ``S = min(exp(log|S|), mag_clip) (cos p + i sin p)`` -> ``torch.istft``
-> ``y (B, T hop_length)``.

A ConvNeXt block (Liu et al. 2022, in Vocos's 1-D form) is a depthwise convolution over time
(kernel 7), LayerNorm over channels, a pointwise MLP (``dim -> intermediate_dim -> dim``, GELU)
and a learned per-channel layer scale, added to its input. The phase is produced through ``cos p``
and ``sin p`` as in Vocos, so the network never has to wrap angles.

Differences from Vocos: the STFT is orthonormal (``normalized=True``: magnitudes of a full-scale
tone are about ``sqrt(n_fft) / 4``, well below ``mag_clip``), frames are centred
(``center=True``) so frame ``t`` of the book's log-mel features (:func:`maqamgen.audio.mel_spectrogram_db`,
centred frames) lines up with samples around ``t hop_length``, the log-magnitude bias starts at
:data:`INIT_LOG_MAG` (a quiet start), and training uses the multi-resolution STFT loss only --
spectral convergence + log-magnitude L1 at three resolutions (Yamamoto et al. 2020, Parallel
WaveGAN, Eq. 4-6; Vocos adds a mel L1 and adversarial losses, beyond this book's CPU budget).

Frames and lengths. ``T`` input frames give exactly ``T hop_length`` samples. From audio,
:meth:`Vocoder.features` computes the same normalised log-mel as :mod:`maqamgen.features`
(centred frames, ``1 + N // hop`` of them) and drops the last frame, so ``N = T hop_length``
samples of audio give ``T`` frames and the vocoder returns ``N`` samples.

Presets (:data:`VOCODER_PRESETS`): ``tiny`` for the tests; ``book`` reads the book's log-mel
features (64 bands, 50-1500 Hz, hop 512 at 22050 Hz) and trains on a 2-core CPU; ``full`` is
Vocos's size (dim 512, 8 layers) on 128 bands at hop 256 for a GPU.

Written for Chapter 6 (book/part1/06_latent_diffusion.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maqamgen.errors import ConfigError
from maqamgen.nets import check_preset

STFT_RESOLUTIONS: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))
"""Default ``(n_fft, hop_length)`` pairs of :func:`multi_resolution_stft_loss` (window = n_fft, Hann)."""

INIT_LOG_MAG = -8.0
"""Initial bias of the predicted log-magnitudes: an untrained vocoder starts near silence
(|S| ~ 3e-4 per bin), so training raises the few bins a harmonic sound needs instead of
lowering all the others."""

POWER_FLOOR = 1e-7
"""Floor of the squared STFT magnitude in the losses (as in Parallel WaveGAN's code)."""


def check_resolutions(resolutions: Sequence[Sequence[int]]) -> None:
    """Raise a ConfigError unless ``resolutions`` is a non-empty list of ``(n_fft, hop)`` with
    ``0 < hop <= n_fft``."""
    if not resolutions:
        raise ConfigError("the multi-resolution STFT loss needs at least one (n_fft, hop_length)")
    for r in resolutions:
        if len(r) != 2 or not 0 < int(r[1]) <= int(r[0]):
            raise ConfigError(f"STFT resolution {tuple(r)} must be (n_fft, hop_length) with "
                              f"0 < hop_length <= n_fft")


@dataclass(frozen=True)
class VocoderConfig:
    """Architecture and input features of :class:`Vocoder`.

    Attributes:
        n_mels: rows of the input spectrogram (mel bands; any ``F`` works when features are
            supplied, :meth:`Vocoder.features` makes mel bands).
        dim: channels of the ConvNeXt backbone.
        intermediate_dim: hidden width of each block's pointwise MLP.
        n_layers: ConvNeXt blocks.
        kernel_size: depthwise convolution width, frames (odd).
        layer_scale: initial layer scale of each block (None: ``1 / n_layers``, as Vocos).
        sr: sample rate, Hz.
        hop_length: samples per input frame (must equal the features' hop).
        n_fft: STFT size of the inverse-STFT head (>= 2 hop_length; Vocos uses 4 hop_length).
        mag_clip: largest predicted magnitude (orthonormal STFT units).
        mel_n_fft: STFT size of :meth:`Vocoder.features`' mel spectrogram.
        f_min: lowest mel band edge, Hz.
        f_max: highest mel band edge, Hz (None: ``sr / 2``).
        top_db: level mapped to +1 by the normalisation, dB re power 1 (set it to the corpus
            :class:`maqamgen.features.Normalizer`'s ``top_db``).
        range_db: dynamic range mapped to [-1, 1], dB (the Normalizer's ``range_db``).
        loss_resolutions: ``(n_fft, hop_length)`` pairs of :func:`vocoder_loss`.
        loss_power_floor: ``power_floor`` of :func:`vocoder_loss` (see
            :func:`multi_resolution_stft_loss`).
    """

    n_mels: int = 64
    dim: int = 128
    intermediate_dim: int = 384
    n_layers: int = 4
    kernel_size: int = 7
    layer_scale: float | None = None
    sr: int = 22050
    hop_length: int = 512
    n_fft: int = 2048
    mag_clip: float = 100.0
    mel_n_fft: int = 2048
    f_min: float = 50.0
    f_max: float | None = 1500.0
    top_db: float = 40.0
    range_db: float = 80.0
    loss_resolutions: tuple[tuple[int, int], ...] = STFT_RESOLUTIONS
    loss_power_floor: float = POWER_FLOOR

    def __post_init__(self):
        for name in ("n_mels", "dim", "intermediate_dim", "n_layers", "sr", "hop_length", "n_fft",
                     "mel_n_fft"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"vocoder {name} must be >= 1, got {getattr(self, name)}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"vocoder kernel_size must be odd and >= 1, got {self.kernel_size}")
        if self.n_fft % 2 or self.n_fft < 2 * self.hop_length:
            raise ConfigError(f"vocoder n_fft={self.n_fft} must be even and >= 2 * hop_length "
                              f"({2 * self.hop_length}) for the inverse STFT to cover every sample")
        if self.mag_clip <= 0 or self.range_db <= 0 or self.loss_power_floor <= 0:
            raise ConfigError("vocoder mag_clip, range_db and loss_power_floor must be > 0")
        f_max = self.sr / 2 if self.f_max is None else self.f_max
        if not 0 <= self.f_min < f_max <= self.sr / 2:
            raise ConfigError(f"vocoder mel band edges {self.f_min}-{f_max} Hz must satisfy "
                              f"0 <= f_min < f_max <= sr / 2 = {self.sr / 2}")
        check_resolutions(self.loss_resolutions)

    @property
    def frame_s(self) -> float:
        """Seconds per input frame."""
        return self.hop_length / self.sr

    def replace(self, **changes) -> "VocoderConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


VOCODER_PRESETS: dict[str, VocoderConfig] = {
    "tiny": VocoderConfig(n_mels=32, dim=32, intermediate_dim=64, n_layers=2, hop_length=256,
                          n_fft=1024, mel_n_fft=1024, f_min=0.0, f_max=None),
    "book": VocoderConfig(n_mels=64, dim=128, intermediate_dim=384, n_layers=4, hop_length=512,
                          n_fft=2048, mel_n_fft=2048, f_min=50.0, f_max=1500.0),
    "full": VocoderConfig(n_mels=128, dim=512, intermediate_dim=1536, n_layers=8, hop_length=256,
                          n_fft=1024, mel_n_fft=2048, f_min=50.0, f_max=4000.0),
}
"""Size presets, the one place where vocoder sizes are named; ``full`` is Vocos's backbone size."""


def vocoder_config(preset: str = "book", **overrides) -> VocoderConfig:
    """The preset ``preset`` of :data:`VOCODER_PRESETS` with some fields overridden.

    Raises:
        ConfigError: unknown preset or field, or an invalid result.
    """
    check_preset(VOCODER_PRESETS, preset, VocoderConfig, "vocoder", overrides)
    if "loss_resolutions" in overrides:
        overrides["loss_resolutions"] = tuple(tuple(int(v) for v in r) for r in overrides["loss_resolutions"])
    return VOCODER_PRESETS[preset].replace(**overrides)


# --------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------

class ConvNeXtBlock(nn.Module):
    """Depthwise conv (time) -> LayerNorm -> Linear -> GELU -> Linear -> layer scale, plus input.

    Shapes: ``(B, dim, T)`` -> ``(B, dim, T)``.
    """

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(self.dwconv(x).transpose(1, 2))
        h = self.gamma * self.pwconv2(F.gelu(self.pwconv1(h)))
        return x + h.transpose(1, 2)


class ISTFTHead(nn.Module):
    """Frames ``(B, T, dim)`` -> log-magnitude and phase per bin -> ``torch.istft`` -> ``(B, T hop)``.

    Args:
        dim: input channels.
        n_fft: STFT size (``n_fft / 2 + 1`` bins, Hann window of ``n_fft`` samples).
        hop_length: samples per frame.
        mag_clip: the magnitude ``exp(log|S|)`` is clipped to at most this.
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int, mag_clip: float):
        super().__init__()
        self.n_fft, self.hop_length, self.mag_clip = n_fft, hop_length, mag_clip
        self.out = nn.Linear(dim, n_fft + 2)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def spectrum(self, h: Tensor) -> Tensor:
        """The predicted complex STFT ``(B, n_fft / 2 + 1, T)`` (orthonormal scaling)."""
        log_mag, p = self.out(h).transpose(1, 2).chunk(2, dim=1)
        mag = torch.exp(log_mag).clamp(max=self.mag_clip)
        return torch.complex(mag * torch.cos(p), mag * torch.sin(p))

    def forward(self, h: Tensor) -> Tensor:
        S = self.spectrum(h)
        return torch.istft(S, self.n_fft, self.hop_length, win_length=self.n_fft, window=self.window,
                           center=True, normalized=True, length=S.shape[-1] * self.hop_length)


class Vocoder(nn.Module):
    """Spectrogram frames to audio: ``forward(x) -> y``.

    Args:
        config: a :class:`VocoderConfig` (default: its defaults, the ``book`` preset).
        **overrides: fields of :class:`VocoderConfig` to change, e.g. ``Vocoder(top_db=38.5)``.
    """

    def __init__(self, config: VocoderConfig | None = None, **overrides):
        super().__init__()
        cfg = config or VocoderConfig()
        cfg = cfg.replace(**overrides) if overrides else cfg
        self.config = cfg
        self.embed = nn.Conv1d(cfg.n_mels, cfg.dim, 7, padding=3)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        scale = cfg.layer_scale if cfg.layer_scale is not None else 1.0 / cfg.n_layers
        self.blocks = nn.ModuleList(ConvNeXtBlock(cfg.dim, cfg.intermediate_dim, cfg.kernel_size, scale)
                                    for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = ISTFTHead(cfg.dim, cfg.n_fft, cfg.hop_length, cfg.mag_clip)
        self.apply(_init_weights)
        with torch.no_grad():
            self.head.out.bias[: cfg.n_fft // 2 + 1].fill_(INIT_LOG_MAG)
        self.register_buffer("mel_window", torch.hann_window(cfg.mel_n_fft), persistent=False)
        self.register_buffer("mel_fb", _mel_filterbank(cfg), persistent=False)

    def _check_frames(self, x: Tensor) -> Tensor:
        cfg = self.config
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim == 2 and x.shape[0] == cfg.n_mels:
            x = x[None]
        if x.ndim != 3 or x.shape[1] != cfg.n_mels:
            raise ConfigError(f"spectrogram of shape {tuple(x.shape)}: expected (B, {cfg.n_mels}, T) "
                              f"or (B, 1, {cfg.n_mels}, T)")
        if x.shape[-1] < 1:
            raise ConfigError("spectrogram with no frame")
        return x

    def backbone(self, x: Tensor) -> Tensor:
        """Frames ``(B, n_mels, T)`` -> hidden frames ``(B, T, dim)``."""
        h = self.norm(self.embed(self._check_frames(x)).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        return self.final_norm(h.transpose(1, 2))

    def spectrum(self, x: Tensor) -> Tensor:
        """The predicted complex STFT ``(B, n_fft / 2 + 1, T)`` of frames ``x``."""
        return self.head.spectrum(self.backbone(x))

    def forward(self, x: Tensor) -> Tensor:
        """Audio from normalised spectrogram frames.

        Args:
            x: ``(B, n_mels, T)``, ``(B, 1, n_mels, T)`` (an autoencoder's output) or ``(n_mels, T)``,
                values as :meth:`features` makes them (about [-1, 1]).

        Returns:
            ``(B, T * hop_length)`` audio at ``sr`` Hz.
        """
        return self.head(self.backbone(x))

    @torch.no_grad()
    def features(self, y: Tensor) -> Tensor:
        """The vocoder's input computed from audio: the normalised log-mel of :mod:`maqamgen.features`.

        ``10 log10(max(P, 1e-10))`` of the mel power ``P`` (Hann window of ``mel_n_fft``, centred
        frames, reflect padding, HTK mel bands without area normalisation -- the same numbers as
        :func:`maqamgen.audio.mel_spectrogram_db`), mapped ``[top_db - range_db, top_db]`` ->
        ``[-1, 1]`` with clipping (:class:`maqamgen.features.Normalizer`); the last frame is
        dropped so that ``N`` samples give ``N // hop_length`` frames.

        Args:
            y: ``(B, N)``, ``(B, 1, N)`` or ``(N,)`` audio at ``sr`` Hz, ``N >= hop_length`` and
                ``N > mel_n_fft / 2``.

        Returns:
            ``(B, n_mels, N // hop_length)``.
        """
        cfg = self.config
        y = as_batch(y)
        if y.shape[-1] < cfg.hop_length or y.shape[-1] <= cfg.mel_n_fft // 2:
            raise ConfigError(f"audio of {y.shape[-1]} samples is too short for the vocoder's features "
                              f"(needs at least {max(cfg.hop_length, cfg.mel_n_fft // 2 + 1)})")
        X = torch.stft(y.float(), cfg.mel_n_fft, cfg.hop_length, win_length=cfg.mel_n_fft,
                       window=self.mel_window, center=True, pad_mode="reflect", return_complex=True)
        P = torch.matmul(self.mel_fb.T, X.abs().square())
        db = 10.0 * torch.log10(P.clamp_min(1e-10))
        floor = cfg.top_db - cfg.range_db
        x = 2.0 * (db.clamp(floor, cfg.top_db) - floor) / cfg.range_db - 1.0
        return x[..., : y.shape[-1] // cfg.hop_length]


def _init_weights(m: nn.Module) -> None:
    """Vocos's initialisation: truncated normal (std 0.02) weights, zero biases."""
    if isinstance(m, (nn.Conv1d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


def _mel_filterbank(cfg: VocoderConfig) -> Tensor:
    """``(mel_n_fft / 2 + 1, n_mels)`` HTK mel filterbank, as torchaudio's MelSpectrogram builds it."""
    import warnings

    import torchaudio

    # built on the CPU even under a ``torch.device("meta")`` context (it is data, not weights)
    with warnings.catch_warnings(), torch.device("cpu"):
        warnings.simplefilter("ignore")  # empty bands of a small mel_n_fft: warned by torchaudio, harmless
        return torchaudio.functional.melscale_fbanks(
            cfg.mel_n_fft // 2 + 1, float(cfg.f_min), float(cfg.sr / 2 if cfg.f_max is None else cfg.f_max),
            cfg.n_mels, cfg.sr, norm=None, mel_scale="htk")


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------

def as_batch(y: Tensor) -> Tensor:
    """Audio as ``(B, N)``: ``(N,)`` gets a batch axis, ``(B, 1, N)`` loses its channel axis."""
    if y.ndim == 1:
        return y[None]
    if y.ndim == 3 and y.shape[1] == 1:
        return y[:, 0]
    if y.ndim != 2:
        raise ConfigError(f"audio of shape {tuple(y.shape)}: expected (N,), (B, N) or (B, 1, N)")
    return y


def stft_magnitude(y: Tensor, n_fft: int, hop_length: int, power_floor: float = POWER_FLOOR) -> Tensor:
    """``sqrt(max(|STFT(y)|^2, power_floor))`` with a Hann window of ``n_fft``, centred frames:
    ``(B, N)`` -> ``(B, n_fft / 2 + 1, 1 + N // hop_length)``."""
    X = torch.stft(y, n_fft, hop_length, win_length=n_fft, window=torch.hann_window(n_fft, device=y.device,
                   dtype=y.dtype), center=True, pad_mode="reflect", return_complex=True)
    return torch.sqrt((X.real.square() + X.imag.square()).clamp_min(power_floor))


def spectral_convergence(mag_hat: Tensor, mag: Tensor) -> Tensor:
    """``|| |Y| - |Y_hat| ||_F / || |Y| ||_F`` per signal, averaged over the batch (Arik et al. 2019)."""
    num = torch.linalg.vector_norm(mag - mag_hat, dim=(-2, -1))
    den = torch.linalg.vector_norm(mag, dim=(-2, -1))
    return torch.mean(num / den)


def log_magnitude_l1(mag_hat: Tensor, mag: Tensor) -> Tensor:
    """``mean |log|Y| - log|Y_hat||`` over every bin and frame (natural log)."""
    return F.l1_loss(torch.log(mag_hat), torch.log(mag))


def multi_resolution_stft_loss(y_hat: Tensor, y: Tensor,
                               resolutions: Sequence[tuple[int, int]] = STFT_RESOLUTIONS,
                               power_floor: float = POWER_FLOOR) -> Tensor:
    """Multi-resolution STFT loss (Yamamoto et al. 2020, Parallel WaveGAN, Eq. 4-6).

    ``L = 1/M sum_m [ SC_m + LogMag_m ]`` over ``M`` resolutions ``(n_fft, hop_length)``, with the
    spectral convergence ``SC = || |Y| - |Y_hat| ||_F / || |Y| ||_F`` (per signal, then averaged)
    and ``LogMag = mean | log|Y| - log|Y_hat| |``; magnitudes of a Hann-windowed STFT with window
    ``n_fft`` (unnormalised, so a full-scale sine peaks near ``n_fft / 4``), floored at
    ``sqrt(power_floor)``. Zero for identical signals, positive otherwise.

    The log-magnitude term weighs every bin alike, so on clean audio (the synthetic corpus has no
    noise floor) bins far below audibility count as much as the partials: white noise at -60 dB
    costs more than halving the level. Raise ``power_floor`` (e.g. to the power of the quietest
    level that matters) to stop paying for them.

    Args:
        y_hat: generated audio ``(B, N)`` (or ``(N,)``, ``(B, 1, N)``).
        y: reference audio of the same shape.
        resolutions: ``(n_fft, hop_length)`` pairs; each ``n_fft / 2`` must be below ``N``.
        power_floor: floor of ``|STFT|^2`` (Parallel WaveGAN's 1e-7 by default).

    Returns:
        The scalar loss (dimensionless).

    Raises:
        ConfigError: shapes differ, signals too short for a resolution, or bad resolutions.
    """
    y_hat, y = as_batch(y_hat), as_batch(y)
    if y_hat.shape != y.shape:
        raise ConfigError(f"multi-resolution STFT loss of audio {tuple(y_hat.shape)} against "
                          f"{tuple(y.shape)}: shapes must match")
    check_resolutions(resolutions)
    N = y.shape[-1]
    too_long = [int(n) for n, _ in resolutions if N <= int(n) // 2]
    if too_long:
        raise ConfigError(f"signals of {N} samples are too short for STFT size(s) {too_long} "
                          f"(need more than n_fft / 2 samples); use longer clips or smaller resolutions")
    total = y.new_zeros(())
    for n_fft, hop in resolutions:
        mag_hat = stft_magnitude(y_hat, int(n_fft), int(hop), power_floor)
        mag = stft_magnitude(y, int(n_fft), int(hop), power_floor)
        total = total + spectral_convergence(mag_hat, mag) + log_magnitude_l1(mag_hat, mag)
    return total / len(resolutions)


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


def vocoder_batch(model: nn.Module, batch: Any) -> tuple[Tensor, Tensor]:
    """``(features (B, n_mels, T), target audio (B, T hop_length))`` of a training batch.

    ``batch`` is audio ``(B, N)`` (features computed by :meth:`Vocoder.features`, target cut to
    ``(N // hop) hop`` samples), a pair ``(features, audio)`` (e.g. an autoencoder's round-tripped
    frames with the audio they came from; audio cut to ``T hop_length``), or a dict with
    ``features`` and ``audio``.
    """
    net = _unwrap(model)
    hop = net.config.hop_length
    if torch.is_tensor(batch):
        y = as_batch(batch)
        x = net.features(y)
        return x, y[:, : x.shape[-1] * hop]
    if isinstance(batch, dict) and "features" in batch and "audio" in batch:
        x, y = batch["features"], batch["audio"]
    elif isinstance(batch, (tuple, list)) and len(batch) == 2:
        x, y = batch
    else:
        raise ConfigError(f"a vocoder batch is audio (B, N), (features, audio) or a dict with "
                          f"'features' and 'audio'; got {type(batch).__name__}")
    x, y = net._check_frames(x), as_batch(y)
    n = x.shape[-1] * hop
    if y.shape[-1] < n:
        raise ConfigError(f"{x.shape[-1]} frames need {n} samples of audio at hop {hop}, "
                          f"got {y.shape[-1]}")
    return x, y[:, :n]


def vocoder_loss(model: nn.Module, batch: Any) -> Tensor:
    """``loss_fn(model, batch)`` for :func:`maqamgen.train.train`: the multi-resolution STFT loss
    (at ``config.loss_resolutions``, ``config.loss_power_floor``) of ``model(features)`` against
    the audio.

    Args:
        model: a :class:`Vocoder` (or a DDP wrapper; its ``forward`` is called).
        batch: see :func:`vocoder_batch`.

    Returns:
        The scalar loss.
    """
    x, y = vocoder_batch(model, batch)
    cfg = _unwrap(model).config
    return multi_resolution_stft_loss(model(x), y, cfg.loss_resolutions, cfg.loss_power_floor)
