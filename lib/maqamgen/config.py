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


@dataclass(frozen=True)
class Profile:
    """Everything a chapter needs besides its scalar parameters.

    Attributes:
        name: ``smoke``, ``book`` or ``full``.
        description: one line for the intro's table.
        seed: default seed of the whole book.
        audio: analysis settings.
        stft: Chapter 1 settings.
    """

    name: str
    description: str
    seed: int = 0
    audio: AudioConfig = field(default_factory=AudioConfig)
    stft: STFTChapterConfig = field(default_factory=STFTChapterConfig)

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
    ),
    "book": Profile(
        name="book",
        description="the rendered book: every chapter on a 2-core CPU in about an hour in all",
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
