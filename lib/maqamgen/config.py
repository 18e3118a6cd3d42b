"""Dataclass configs and the three profiles: the one config path of the book.

A chapter's ``parameters`` cell holds scalars only (``profile = "book"``, ``maqam = "hijaz"``,
``seed = 0``); everything else comes from ``maqamgen.config.profile(name)``.

* ``smoke`` -- seconds per chapter: CI, nbval, a quick look that everything runs.
* ``book``  -- the default: the whole book on a 2-core CPU, with results that mean something.
* ``full``  -- the report's scale, meant for a GPU.

Used in: every chapter (``cfg = maqamgen.config.profile(profile)``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from maqamgen.errors import ConfigError


@dataclass(frozen=True)
class AudioConfig:
    """Analysis settings shared by every chapter.

    Attributes:
        sr: sample rate in Hz.
        n_fft: STFT window length in samples (bin width ``sr / n_fft`` Hz).
        hop_length: STFT hop in samples (frame period ``hop_length / sr`` s).
        n_mels: mel bands for the log-mel features of the generative chapters.
    """

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 256
    n_mels: int = 128

    @property
    def bin_hz(self) -> float:
        """Width of one STFT bin in Hz."""
        return self.sr / self.n_fft

    @property
    def frame_s(self) -> float:
        """Time between STFT frames in seconds."""
        return self.hop_length / self.sr


@dataclass(frozen=True)
class STFTChapterConfig:
    """Chapter 1 (STFT filtering): what is synthesized and which grids are measured.

    Attributes:
        phrase_seconds: length of the synthesized oud phrase shown in the figures, s.
        alpha_db: default threshold theta_alpha, dB relative to the spectrogram maximum (<= 0).
        sigma_t: default Gaussian smoothing width along time, frames.
        sigma_f: default Gaussian smoothing width along frequency, bins.
        alpha_grid_db: thresholds measured in the alpha sweep, dB.
        sigma_grid: smoothing widths measured in the sigma sweep (same in time and frequency).
        n_phrases: phrases (different seeds and maqamat) averaged in the measurements.
        measure_seconds: length of each measured phrase, s.
    """

    phrase_seconds: float = 8.0
    alpha_db: float = -40.0
    sigma_t: float = 1.5
    sigma_f: float = 1.0
    alpha_grid_db: tuple[float, ...] = (-80.0, -70.0, -60.0, -50.0, -40.0, -30.0, -20.0, -10.0)
    sigma_grid: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    n_phrases: int = 8
    measure_seconds: float = 6.0


CORE_MAQAMAT = ("rast", "bayati", "sikah", "hijaz", "saba", "nahawand", "kurd", "ajam")
"""The eight maqamat of the synthetic corpus (names as in :data:`maqamgen.maqam.MAQAMAT`)."""


@dataclass(frozen=True)
class CorpusConfig:
    """The synthetic taqsim corpus (:mod:`maqamgen.corpus`); its hash is the cache key.

    Attributes:
        n_per_maqam: clips per maqam (>= 1; >= 3 gives every split at least one clip).
        seconds_min: shortest phrase, s (the audio adds the last note's release).
        seconds_max: longest phrase, s (>= seconds_min).
        maqamat: maqam names, each known to :func:`maqamgen.maqam.get_maqam`.
        sr: sample rate of the rendered audio, Hz.
        snr_db_min: lowest recording-noise SNR, dB; ``None`` (with snr_db_max) = clean audio.
        snr_db_max: highest recording-noise SNR, dB.
        splits: (train, validation, test) fractions, summing to 1; stratified by maqam.
        seed: corpus seed; every clip's seed derives from it, its maqam and its index.
        jitter_cents: standard deviation of the per-note intonation jitter, cents.
    """

    n_per_maqam: int = 16
    seconds_min: float = 13.0
    seconds_max: float = 17.0
    maqamat: tuple[str, ...] = CORE_MAQAMAT
    sr: int = 22050
    snr_db_min: float | None = None
    snr_db_max: float | None = None
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0
    jitter_cents: float = 4.0

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable) of every setting."""
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Short content hash of the settings (the corpus cache folder's name)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the one training loop, :func:`maqamgen.train.train`, used by every model.

    Attributes:
        steps: total optimizer steps (the LR schedule spans them).
        batch_size: samples per step *per process* (under torchrun the global batch is
            ``batch_size * world_size``).
        lr: peak learning rate.
        optimizer: ``adam``, ``adamw`` or ``sgd`` (with ``momentum``).
        weight_decay: L2 (adam, sgd) or decoupled (adamw) weight decay.
        betas: Adam's (beta1, beta2).
        momentum: SGD momentum.
        lr_schedule: ``cosine`` (to ``min_lr_ratio * lr`` at ``steps``) or ``constant``.
        warmup_steps: linear warm-up from 0 to ``lr``.
        min_lr_ratio: final LR of the cosine schedule as a fraction of ``lr``.
        grad_clip: clip the global gradient norm to this (None or 0: no clipping).
        ema_decay: decay of the exponential moving average of the weights (None: no EMA).
        ckpt_every: write a checkpoint every this many steps (and at the end).
        log_every: append the loss curve to ``losses.csv`` every this many steps.
        seed: seeds torch, numpy, python ``random`` and the data order.
        shuffle: shuffle the data every epoch (seeded by ``seed`` and the epoch).
        drop_last: drop the last incomplete batch of an epoch.
        num_workers: DataLoader worker processes (0: load in the main process; resume is
            bit-exact then, and with workers whenever the dataset itself is deterministic).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        progress: show a tqdm bar (also off when ``TQDM_DISABLE=1`` or stderr is not a TTY).
    """

    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-4
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    ema_decay: float | None = 0.999
    ckpt_every: int = 500
    log_every: int = 10
    seed: int = 0
    shuffle: bool = True
    drop_last: bool = True
    num_workers: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self):
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; known: adam, adamw, sgd")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ConfigError(f"unknown lr_schedule {self.lr_schedule!r}; known: cosine, constant")
        for name in ("steps", "batch_size", "ckpt_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"TrainConfig.ema_decay must be in (0, 1) or None, got {self.ema_decay}")

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable) of every setting."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class EstimationChapterConfig:
    """Chapter 2 (maqam estimation): what the estimators are judged on.

    Attributes:
        eval_splits: corpus splits judged (the estimators are not trained on the corpus; the
            weights of the pitch-based one were set on separate synth phrases).
        crop_seconds: clip lengths of the accuracy-against-length study, s.
        n_listen: clips offered as audio players.
        listen_seconds: length of each player, s.
    """

    eval_splits: tuple[str, ...] = ("validation", "test")
    crop_seconds: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 12.0)
    n_listen: int = 3
    listen_seconds: float = 8.0


@dataclass(frozen=True)
class Profile:
    """Everything a chapter needs besides its scalar parameters.

    Attributes:
        name: ``smoke``, ``book`` or ``full``.
        description: one line for the intro's table.
        seed: default seed of the whole book.
        audio: analysis settings.
        stft: Chapter 1 settings.
        corpus: the synthetic taqsim corpus (:func:`maqamgen.corpus.load`).
        estimation: Chapter 2 settings.
    """

    name: str
    description: str
    seed: int = 0
    audio: AudioConfig = field(default_factory=AudioConfig)
    stft: STFTChapterConfig = field(default_factory=STFTChapterConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    estimation: EstimationChapterConfig = field(default_factory=EstimationChapterConfig)

    def to_dict(self) -> dict:
        """Plain nested dict (JSON-serialisable) of every setting."""
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Short content hash of the settings: cache keys of data and checkpoints use it."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="seconds per chapter: CI, nbval, checking that everything runs",
        stft=STFTChapterConfig(
            phrase_seconds=4.0,
            alpha_grid_db=(-80.0, -60.0, -40.0, -20.0),
            sigma_grid=(0.0, 1.0, 4.0),
            n_phrases=2,
            measure_seconds=3.0,
        ),
        corpus=CorpusConfig(n_per_maqam=3, seconds_min=4.0, seconds_max=6.0,
                            snr_db_min=20.0, snr_db_max=40.0),
        estimation=EstimationChapterConfig(crop_seconds=(2.0, 4.0), n_listen=2, listen_seconds=4.0),
    ),
    "book": Profile(
        name="book",
        description="the rendered book: every chapter on a 2-core CPU in about an hour in all",
        corpus=CorpusConfig(n_per_maqam=16, seconds_min=13.0, seconds_max=17.0,
                            snr_db_min=20.0, snr_db_max=50.0),
    ),
    "full": Profile(
        name="full",
        description="the report's scale: long phrases, many seeds; meant for a GPU",
        stft=STFTChapterConfig(
            phrase_seconds=12.0,
            alpha_grid_db=tuple(float(a) for a in range(-90, 0, 5)),
            sigma_grid=(0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0),
            n_phrases=32,
            measure_seconds=10.0,
        ),
        corpus=CorpusConfig(n_per_maqam=120, seconds_min=20.0, seconds_max=40.0,
                            snr_db_min=10.0, snr_db_max=50.0),
        estimation=EstimationChapterConfig(crop_seconds=(2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0)),
    ),
}


def profile(name: str) -> Profile:
    """The profile called ``name``.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown profile {name!r}; known profiles: {', '.join(PROFILES)}"
        ) from None


def repo_root() -> Path:
    """The book's root folder (the one holding ``_toc.yml``).

    The package is installed editable from ``lib/``, so the root is two levels above it;
    if that fails (a non-editable install), the current folder and its parents are searched.
    """
    here = Path(__file__).resolve().parents[2]
    if (here / "_toc.yml").exists():
        return here
    for p in [Path.cwd(), *Path.cwd().parents]:
        if (p / "_toc.yml").exists():
            return p
    raise ConfigError("cannot find the book root (a folder with _toc.yml) above " + str(Path.cwd()))


def cache_dir(*parts: str) -> Path:
    """``data/cache/<parts...>`` under the book root, created if missing."""
    d = repo_root().joinpath("data", "cache", *parts)
    d.mkdir(parents=True, exist_ok=True)
    return d
