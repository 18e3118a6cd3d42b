"""Audio I/O and the report's Phase 1: STFT, the threshold theta_alpha and Gaussian smoothing.

The report's Phase 1, in the notation used here:

* ``F_db = stft_db(Y)`` is the magnitude STFT in decibels, shape ``(m, n)`` with
  ``m = n_fft // 2 + 1`` frequency bins and ``n`` frames;
* ``theta_alpha(F_db, alpha_db)`` keeps the components within ``|alpha_db|`` dB of the maximum
  and floors the rest;
* ``gaussian_smooth(theta_alpha(F_db, alpha_db), sigma_t_frames, sigma_f_bins)`` convolves the
  result with the Gaussian kernel N_eps(mu, sigma) and gives ``F'_mod``;
* ``resynthesize(F'_mod, S)`` turns a modified spectrogram back into audio for the book's players.

Conventions used throughout:

* a signal ``y`` is float32, shape ``(n_samples,)``, amplitude in [-1, 1] (full scale);
* a complex STFT ``S`` has shape ``(m, n_frames)`` = (frequency bins, frames);
* decibels are amplitude decibels, ``20 * log10(|S| / ref)``, which equal power decibels
  ``10 * log10(|S|**2 / ref**2)``, so a dB grid can be read either way;
* frames are centred (``center=True``, reflect padding of ``n_fft // 2`` samples at both ends),
  so frame ``t`` is centred on sample ``t * hop_length``; ``n_frames = 1 + n_samples // hop_length``.

All file reading and writing goes through :mod:`soundfile` (``torchaudio.load``/``save`` need
FFmpeg, which the book's machines do not have). :mod:`torch` and :mod:`torchaudio` are imported
inside the functions that need them, so ``load_audio``/``save_audio`` stay fast to import.

Used in: book/part1/01_stft_filtering.md
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import ndimage, signal

from maqamgen.errors import AudioError, ConfigError
from maqamgen import runtime

__all__ = [
    "SILENCE_PEAK",
    "NORMALIZE_PEAK",
    "MIN_FILE_SR",
    "MAX_FILE_SR",
    "load_audio",
    "save_audio",
    "check_audio",
    "stft",
    "stft_db",
    "istft",
    "frequencies",
    "frame_times",
    "magnitude_to_db",
    "db_to_magnitude",
    "theta_alpha",
    "theta_alpha_mask",
    "gaussian_kernel_2d",
    "gaussian_smooth",
    "griffin_lim",
    "resynthesize",
    "mel_spectrogram_db",
    "mel_to_audio",
    "spectral_flatness",
    "energy_kept",
    "harmonic_peaks_kept",
    "global_fft",
    "dominant_frequencies",
]

#: Peak amplitude (full scale = 1) below which audio counts as silent.
SILENCE_PEAK = 1e-6
#: Peak amplitude that ``save_audio(..., normalize=True)`` scales to (-0.09 dBFS).
NORMALIZE_PEAK = 0.99
#: Lowest and highest sample rate (Hz) :func:`load_audio` accepts in a file: outside, the header is
#: corrupt or the file is not music (and resampling it would take minutes or all the memory).
MIN_FILE_SR = 1_000
MAX_FILE_SR = 768_000
#: Smallest magnitude represented in dB (-100 dB re 1), as in ``librosa.amplitude_to_db``.
AMIN = 1e-5

_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def audio_format(path) -> tuple[str, str]:
    """(soundfile format, default subtype) for a path's extension (.wav, .flac, .ogg).

    Raises:
        AudioError: any other extension, naming the path.
    """
    ext = Path(path).suffix.lower()
    if ext not in _FORMATS:
        raise AudioError(f"unsupported audio extension {ext or '(none)'!r}; use .wav, .flac or .ogg",
                         path)
    return _FORMATS[ext]


# ----------------------------------------------------------------------------- validation


def check_audio(y, sr, path="<array>", allow_silent: bool = False) -> np.ndarray:
    """Validate a signal and return it as contiguous float32.

    The one validation shared by :func:`load_audio`, :func:`save_audio` and every function
    given an array, so a bad signal fails with the same one-line message wherever it enters.

    Args:
        y: Signal, shape ``(n_samples,)`` (mono) or ``(channels, n_samples)``; amplitude in
            full-scale units (1.0 = 0 dBFS).
        sr: Sample rate in Hz; a positive integer.
        path: Name reported in errors (the file the signal came from, or ``"<array>"``).
        allow_silent: Accept a signal whose peak is below :data:`SILENCE_PEAK`.

    Returns:
        ``y`` as a C-contiguous float32 array of the same shape.

    Raises:
        AudioError: wrong shape, no samples, NaN/inf samples, silence, or a bad sample rate;
            the message is ``"PATH: problem"``.
    """
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioError(f"sample rate must be a positive integer number of Hz, got {sr!r}", path)
    try:
        y = np.ascontiguousarray(y, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise AudioError(f"samples are not numeric ({e})", path) from None
    if y.ndim not in (1, 2):
        raise AudioError(
            f"expected shape (n_samples,) or (channels, n_samples), got {y.shape}", path
        )
    if y.size == 0:
        raise AudioError("audio has no samples", path)
    finite = np.isfinite(y)
    if not finite.all():
        bad = int(y.size - np.count_nonzero(finite))
        raise AudioError(f"audio contains {bad} non-finite samples (NaN or inf)", path)
    peak = float(np.max(np.abs(y)))
    if peak < SILENCE_PEAK and not allow_silent:
        raise AudioError(f"audio is silent (peak amplitude {peak:.3g} < {SILENCE_PEAK:g})", path)
    return y


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _short_reason(e: BaseException) -> str:
    """libsndfile's own words without the "Error opening '...':" prefix."""
    reason = getattr(e, "error_string", None) or str(e)
    reason = reason.strip().splitlines()[0] if reason.strip() else type(e).__name__
    if reason.startswith("Error opening") and ": " in reason:
        reason = reason.split(": ", 1)[1]
    return reason.rstrip(".")


# ----------------------------------------------------------------------------- file I/O


def load_audio(
    path,
    sr: int | None = None,
    mono: bool = True,
    expected_sr: int | None = None,
    allow_silent: bool = False,
) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile, mix down to mono and resample.

    Args:
        path: Audio file (any format libsndfile reads: WAV, FLAC, OGG, AIFF, ...).
        sr: Target sample rate in Hz; ``None`` keeps the file's rate. Resampling uses
            :func:`scipy.signal.resample_poly` with the exact ratio ``sr / file_sr`` reduced by
            their greatest common divisor (polyphase FIR, Kaiser window).
        mono: Mix down to mono (mean of the channels). ``False`` returns
            ``(channels, n_samples)``.
        expected_sr: If given, the file's own rate (before resampling) must equal it.
        allow_silent: Accept audio whose peak is below :data:`SILENCE_PEAK`.

    Returns:
        ``(y, sr)``: float32 samples, shape ``(n_samples,)`` (or ``(channels, n_samples)``
        when ``mono=False``), full scale = 1; and the sample rate in Hz.

    Raises:
        AudioError: missing file, a directory, an empty (0-byte) file, a file that is not
            readable audio, zero samples, NaN/inf samples, silence, a sample rate outside
            [:data:`MIN_FILE_SR`, :data:`MAX_FILE_SR`] or other than ``expected_sr``. The
            message is one line: ``"PATH: problem"``.
    """
    p = Path(path)
    if sr is not None:
        sr = _check_positive_int("sr", sr)
        if sr > MAX_FILE_SR:
            raise ConfigError(f"sr must be at most {MAX_FILE_SR} Hz, got {sr}")
    if not p.exists():
        raise AudioError("file not found", p)
    if p.is_dir():
        raise AudioError("is a directory, not an audio file", p)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise AudioError(f"cannot read file ({e.strerror})", p) from None
    if size == 0:
        raise AudioError("file is empty (0 bytes)", p)
    try:
        data, file_sr = sf.read(str(p), dtype="float32", always_2d=True)
    except OSError as e:
        raise AudioError(f"cannot read file ({e.strerror or e})", p) from None
    except (RuntimeError, ValueError, TypeError) as e:  # sf.LibsndfileError is a RuntimeError
        raise AudioError(f"not a readable audio file ({_short_reason(e)})", p) from None
    if not MIN_FILE_SR <= file_sr <= MAX_FILE_SR:
        raise AudioError(f"sample rate {file_sr} Hz is outside [{MIN_FILE_SR}, {MAX_FILE_SR}] Hz "
                         "(a corrupt header?)", p)
    if expected_sr is not None and file_sr != expected_sr:
        raise AudioError(f"sample rate is {file_sr} Hz, expected {expected_sr} Hz", p)
    y = data.mean(axis=1) if mono else data.T
    y = check_audio(y, file_sr, path=p, allow_silent=allow_silent)
    if sr is not None and sr != file_sr:
        g = math.gcd(sr, file_sr)
        y = signal.resample_poly(y, sr // g, file_sr // g, axis=-1).astype(np.float32)
        return np.ascontiguousarray(y), sr
    return y, int(file_sr)


def save_audio(path, y, sr: int, normalize: bool = False, subtype: str | None = None) -> Path:
    """Write audio atomically; the format follows the extension.

    The samples go to a temporary file in the destination directory, which then replaces
    ``path`` with :func:`os.replace`, so a failed write never leaves a half-written file and
    never destroys an existing one. Parent directories are created.

    Args:
        path: Destination ending in ``.wav``, ``.flac`` or ``.ogg``.
        y: Samples, shape ``(n_samples,)`` or ``(channels, n_samples)``, full scale = 1.
            Silence is allowed (a fully thresholded spectrogram resynthesises to silence).
        sr: Sample rate in Hz.
        normalize: Scale so the peak is :data:`NORMALIZE_PEAK` (0.99). Without it, a peak
            above 1 (which would clip) is an error.
        subtype: libsndfile subtype; default ``PCM_16`` for WAV and FLAC, ``VORBIS`` for OGG.
            Use ``"FLOAT"`` for a lossless float WAV.

    Returns:
        The path written.

    Raises:
        AudioError: unknown extension, invalid samples (see :func:`check_audio`), a peak above
            1 without ``normalize``, or a failed write.
    """
    p = Path(path)
    fmt, default_subtype = audio_format(p)
    y = check_audio(y, sr, path=p, allow_silent=True)
    peak = float(np.max(np.abs(y)))
    if normalize:
        if peak > 0:
            y = y * np.float32(NORMALIZE_PEAK / peak)
    elif peak > 1 + 1e-6:
        raise AudioError(
            f"peak amplitude {peak:.4g} exceeds full scale (1.0) and would clip; "
            "pass normalize=True to peak-normalise",
            p,
        )
    data = y.T if y.ndim == 2 else y
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with runtime.atomic_path(p) as tmp:
            sf.write(tmp, data, int(sr), format=fmt, subtype=subtype or default_subtype)
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        raise AudioError(f"cannot write audio ({_short_reason(e)})", p) from None
    return p


# ----------------------------------------------------------------------------- STFT


def _window(window, n_fft: int) -> np.ndarray:
    """Periodic (DFT-even) analysis window of length ``n_fft``, float64."""
    if isinstance(window, str) or isinstance(window, tuple):
        try:
            return signal.get_window(window, n_fft, fftbins=True).astype(np.float64)
        except ValueError as e:
            raise ConfigError(f"unknown window {window!r} ({e})") from None
    w = np.asarray(window, dtype=np.float64)
    if w.shape != (n_fft,):
        raise ConfigError(f"window must have shape ({n_fft},), got {w.shape}")
    return w


def stft(y, n_fft: int = 2048, hop_length: int = 512, window="hann", sr: int = 1) -> np.ndarray:
    """Complex short-time Fourier transform S = STFT(Y) (torch.stft, float64 internally).

    Frames are centred: the signal is reflect-padded by ``n_fft // 2`` samples at both ends,
    so frame ``t`` is centred on sample ``t * hop_length``. The window length equals
    ``n_fft``.

    Args:
        y: Mono signal, shape ``(n_samples,)``; needs ``n_samples > n_fft // 2`` for the
            reflect padding.
        n_fft: FFT size in samples.
        hop_length: Hop between frames in samples.
        window: A :func:`scipy.signal.get_window` name (periodic) or an array of length n_fft.
        sr: Sample rate in Hz, only used to validate ``y``.

    Returns:
        complex64 array, shape ``(n_fft // 2 + 1, 1 + n_samples // hop_length)``; unnormalised
        (a full-scale sine of amplitude A in the middle of a bin gives ``|S| = A * sum(w) / 2``).

    Used in: book/part1/01_stft_filtering.md
    """
    import torch

    n_fft = _check_positive_int("n_fft", n_fft)
    hop_length = _check_positive_int("hop_length", hop_length)
    y = check_audio(y, sr, allow_silent=True)
    if y.ndim != 1:
        raise AudioError(f"stft expects a mono signal (n_samples,), got shape {y.shape}", "<array>")
    if y.shape[0] <= n_fft // 2:
        raise AudioError(
            f"audio has {y.shape[0]} samples; n_fft={n_fft} needs more than {n_fft // 2}",
            "<array>",
        )
    S = torch.stft(
        torch.from_numpy(y.astype(np.float64)),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=n_fft,
        window=torch.from_numpy(_window(window, n_fft)),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    return S.numpy().astype(np.complex64)


class _OverlapAdd:
    """The inverse of a centred, onesided STFT (``torch.istft``'s result, to float rounding) for
    one frame count: inverse FFT of each frame, window, overlap-add, divide by the summed squared
    window, drop the ``n_fft // 2`` samples of centre padding.

    The overlap-add adds ``R = ceil(n_fft / hop)`` shifted copies of the frames cut into
    ``hop``-sample blocks, instead of ``torch.istft``'s general fold: 1.3 against 3.2 ms for a
    5.9-s clip at ``n_fft`` 2048, hop 512 on this book's 2-core CPU (2026-12-07).
    """

    def __init__(self, window, n_fft: int, hop: int, n_frames: int, length: int | None):
        import torch

        self.window, self.n_fft, self.hop, self.T = window, n_fft, hop, n_frames
        self.R = -(-n_fft // hop)
        self.pad = self.R * hop - n_fft
        self.start = n_fft // 2
        total = n_fft + hop * (n_frames - 1)  # samples the frames cover
        self.length = hop * (n_frames - 1) if length is None else int(length)
        env = self._add(torch.nn.functional.pad(window.square(), (0, self.pad)).expand(n_frames, -1))
        end = min(self.start + self.length, total)
        if end > self.start and float(env[self.start:end].min()) < 1e-11:
            raise ValueError(f"the window does not overlap-add to a positive envelope at hop {hop} "
                             f"(n_fft {n_fft}): the STFT is not invertible")
        self.inv_env = 1.0 / env[self.start:end]

    def _add(self, frames):
        """``(T, R hop)`` frames overlap-added into ``((T + R - 1) hop,)`` samples."""
        import torch

        blocks = frames.reshape(self.T, self.R, self.hop)
        out = torch.zeros(self.T + self.R - 1, self.hop, dtype=frames.dtype)
        for r in range(self.R):
            out[r:r + self.T] += blocks[:, r]
        return out.reshape(-1)

    def __call__(self, Z):
        """``(n_fft // 2 + 1, T)`` complex STFT -> ``(length,)`` signal."""
        import torch

        frames = torch.fft.irfft(Z, n=self.n_fft, dim=0).T * self.window
        y = self._add(torch.nn.functional.pad(frames, (0, self.pad)))
        y = y[self.start:self.start + self.inv_env.numel()] * self.inv_env
        return torch.nn.functional.pad(y, (0, self.length - y.numel()))  # zeros past the frames


def istft(S, hop_length: int = 512, window="hann", length: int | None = None) -> np.ndarray:
    """Inverse of :func:`stft`: overlap-add with window-square normalisation (:class:`_OverlapAdd`,
    ``torch.istft``'s result to float rounding), in float64.

    Args:
        S: Complex STFT, shape ``(m, n_frames)`` with ``m = n_fft // 2 + 1``.
        hop_length: Hop in samples (as used by :func:`stft`).
        window: Same window as the analysis.
        length: Output length in samples (pass ``len(y)`` to get the original length back;
            zeros past what the frames cover).

    Returns:
        float32 signal, shape ``(length,)`` or ``((n_frames - 1) * hop_length,)``.

    Raises:
        ValueError: a bad shape, or a window and hop whose overlap-add has gaps.
    """
    import torch

    S = np.asarray(S)
    if S.ndim != 2 or S.shape[0] < 2:
        raise ValueError(f"S must have shape (n_fft // 2 + 1, n_frames), got {S.shape}")
    n_fft = 2 * (S.shape[0] - 1)
    hop = _check_positive_int("hop_length", hop_length)
    inverse = _OverlapAdd(torch.from_numpy(_window(window, n_fft)), n_fft, hop, S.shape[1], length)
    return inverse(torch.from_numpy(S.astype(np.complex128))).numpy().astype(np.float32)


def magnitude_to_db(S, ref="max", amin: float = AMIN, top_db: float | None = None) -> np.ndarray:
    """Amplitude to decibels: ``20 * log10(max(|S|, amin) / ref)``.

    Args:
        S: Magnitudes (or complex values; their modulus is used), any shape.
        ref: Reference amplitude (0 dB), or ``"max"`` for ``max(|S|)``, making the loudest
            component 0 dB and everything else negative.
        amin: Smallest amplitude represented (``1e-5`` = -100 dB re 1); avoids log(0).
        top_db: If given, clamp to ``max - top_db`` dB (e.g. 80).

    Returns:
        float32 dB values, same shape as ``S``.
    """
    mag = np.abs(np.asarray(S)).astype(np.float64)
    ref_value = float(mag.max()) if isinstance(ref, str) and ref == "max" else float(ref)
    F = 20.0 * np.log10(np.maximum(mag, amin)) - 20.0 * np.log10(max(ref_value, amin))
    if top_db is not None:
        if top_db < 0:
            raise ConfigError(f"top_db must be >= 0, got {top_db}")
        F = np.maximum(F, F.max() - top_db)
    return F.astype(np.float32)


def db_to_magnitude(F_db, ref: float = 1.0) -> np.ndarray:
    """Decibels to amplitude: ``ref * 10 ** (F_db / 20)`` (inverse of :func:`magnitude_to_db`).

    Args:
        F_db: dB values, any shape.
        ref: The amplitude that 0 dB stands for (for an ``F_db`` made with ``ref="max"``, pass
            ``max(|S|)`` of the original STFT to recover absolute magnitudes).

    Returns:
        float64 magnitudes, same shape.
    """
    return float(ref) * np.power(10.0, np.asarray(F_db, dtype=np.float64) / 20.0)


def stft_db(
    y,
    sr: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    window="hann",
    ref="max",
    top_db: float | None = None,
) -> np.ndarray:
    """The report's F_db = STFT(Y) in decibels, a real matrix of shape (m, n).

    Args:
        y: Mono signal, shape ``(n_samples,)``, full scale = 1.
        sr: Sample rate in Hz (validation; see :func:`frequencies` for the bin frequencies).
        n_fft: FFT size in samples; ``m = n_fft // 2 + 1`` bins spaced ``sr / n_fft`` Hz.
        hop_length: Hop in samples; ``n = 1 + n_samples // hop_length`` frames, frame ``t`` at
            ``t * hop_length / sr`` seconds (see :func:`frame_times`).
        window: Analysis window (see :func:`stft`).
        ref: ``"max"`` (default: the loudest component is 0 dB) or a reference amplitude.
        top_db: Optional dynamic range clamp in dB (80 is a common choice for display).

    Returns:
        float32 ``F_db``, shape ``(n_fft // 2 + 1, n_frames)``, in dB re ``ref``.

    Used in: book/part1/01_stft_filtering.md
    """
    y = check_audio(y, sr)
    return magnitude_to_db(stft(y, n_fft, hop_length, window, sr=sr), ref=ref, top_db=top_db)


def frequencies(sr: int, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each STFT bin, shape ``(n_fft // 2 + 1,)``: ``k * sr / n_fft``.
    """
    return np.fft.rfftfreq(_check_positive_int("n_fft", n_fft), d=1.0 / _check_positive_int("sr", sr))


def frame_times(n_frames: int, sr: int, hop_length: int) -> np.ndarray:
    """Centre time in seconds of each (centred) STFT frame, shape ``(n_frames,)``: ``t * hop / sr``.
    """
    return np.arange(int(n_frames)) * (_check_positive_int("hop_length", hop_length) / _check_positive_int("sr", sr))


# ----------------------------------------------------------------------------- theta_alpha


def _check_alpha(alpha_db) -> float:
    alpha = float(alpha_db)
    if not math.isfinite(alpha) or alpha > 0:
        raise ConfigError(
            f"alpha_db must be a finite level <= 0 dB relative to the maximum "
            f"(e.g. -40 keeps components within 40 dB of the peak), got {alpha_db!r}"
        )
    return alpha


def theta_alpha_mask(F_db, alpha_db: float) -> np.ndarray:
    """Where the threshold theta_alpha keeps a component: ``F_db >= max(F_db) + alpha_db``.

    Args:
        F_db: Spectrogram in dB, shape ``(m, n)``.
        alpha_db: Threshold in dB relative to the maximum, ``<= 0`` (``-40``: keep what lies
            within 40 dB of the loudest component; ``0``: keep only the maximum).

    Returns:
        bool array, shape ``(m, n)``; True where the component is kept.

    Raises:
        ConfigError: ``alpha_db`` positive or not finite.

    Used in: book/part1/01_stft_filtering.md
    """
    F_db = np.asarray(F_db)
    return F_db >= F_db.max() + _check_alpha(alpha_db)


def theta_alpha(F_db, alpha_db: float, floor_db: float | None = None) -> np.ndarray:
    """The report's nonlinear threshold theta_alpha: keep strong components, floor the rest.

    ``theta_alpha(F)[i, j] = F[i, j]`` if ``F[i, j] >= max(F) + alpha_db``, else ``floor_db``.

    The default floor is ``min(F_db)``: the spectrogram's own floor, i.e. the level that
    :func:`stft_db` gives silence (``amin`` or the ``top_db`` clamp). Floored components are
    therefore drawn as the background of the plot and resynthesise as (near) silence rather
    than as a bed of noise at the threshold. The operation is idempotent, and since the maximum
    is always kept, the threshold level does not move when it is applied again.

    Args:
        F_db: Spectrogram in dB, shape ``(m, n)``.
        alpha_db: Threshold in dB relative to ``max(F_db)``; must be ``<= 0``.
        floor_db: Value given to the removed components, in dB; default ``min(F_db)``.

    Returns:
        float32 array, shape ``(m, n)``.

    Raises:
        ConfigError: ``alpha_db`` positive or not finite.

    Used in: book/part1/01_stft_filtering.md
    """
    F_db = np.asarray(F_db, dtype=np.float32)
    floor = float(F_db.min()) if floor_db is None else float(floor_db)
    return np.where(theta_alpha_mask(F_db, alpha_db), F_db, np.float32(floor)).astype(np.float32)


# ----------------------------------------------------------------------------- smoothing


def _gaussian_1d(sigma: float, truncate: float) -> np.ndarray:
    """Normalised 1-D Gaussian, radius ``int(truncate * sigma + 0.5)`` (as scipy.ndimage)."""
    if sigma <= 0:
        return np.ones(1)
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _check_sigmas(sigma_t, sigma_f, truncate) -> tuple[float, float, float]:
    s_t, s_f, tr = float(sigma_t), float(sigma_f), float(truncate)
    if not (math.isfinite(s_t) and math.isfinite(s_f) and s_t >= 0 and s_f >= 0):
        raise ConfigError(f"Gaussian sigmas must be finite and >= 0, got sigma_t={sigma_t!r}, sigma_f={sigma_f!r}")
    if not (math.isfinite(tr) and tr > 0):
        raise ConfigError(f"truncate must be a positive number of sigmas, got {truncate!r}")
    return s_t, s_f, tr


def gaussian_kernel_2d(sigma_t: float, sigma_f: float, truncate: float = 3.0) -> np.ndarray:
    """The report's smoothing kernel N_eps(mu, sigma) on the (frequency, time) grid.

    A separable Gaussian centred at ``mu = 0`` with standard deviations ``sigma_f`` (bins) and
    ``sigma_t`` (frames), cut at ``eps = truncate`` standard deviations and normalised to sum 1.
    It is exactly the kernel :func:`gaussian_smooth` applies.

    Args:
        sigma_t: Standard deviation along time, in frames (0: no smoothing along time).
        sigma_f: Standard deviation along frequency, in bins (0: none along frequency).
        truncate: Cut-off radius in standard deviations.

    Returns:
        float64 array, shape ``(2 * r_f + 1, 2 * r_t + 1)`` with ``r = int(truncate * sigma + 0.5)``
        (rows: frequency offsets, columns: time offsets), summing to 1.

    Used in: book/part1/01_stft_filtering.md
    """
    s_t, s_f, tr = _check_sigmas(sigma_t, sigma_f, truncate)
    return np.outer(_gaussian_1d(s_f, tr), _gaussian_1d(s_t, tr))


def gaussian_smooth(
    F,
    sigma_t_frames: float,
    sigma_f_bins: float,
    truncate: float = 3.0,
    domain: str = "db",
) -> np.ndarray:
    """Convolve a spectrogram with N_eps(mu, sigma): the report's F'_mod = N_eps * theta_alpha(F_db).

    ``domain="db"`` (default) smooths the dB values themselves, as the report writes it: on the
    dB grid the kernel averages *levels*, so a kept harmonic and the floor around it blend
    into a soft edge in the picture (a geometric mean of magnitudes). ``domain="magnitude"``
    converts to amplitude, smooths, and converts back; that averages *energy*, keeps quiet
    floored cells from dragging strong components down, and is the better choice when the
    result is listened to. Edges use ``mode="reflect"``, so a constant input is unchanged.

    Args:
        F: Spectrogram in dB, shape ``(m, n)`` = (bins, frames).
        sigma_t_frames: Standard deviation along time in frames (``hop_length / sr`` s each).
        sigma_f_bins: Standard deviation along frequency in bins (``sr / n_fft`` Hz each).
        truncate: Kernel radius in standard deviations (the report's eps).
        domain: ``"db"`` or ``"magnitude"`` (see above).

    Returns:
        float32 array, shape ``(m, n)``, in dB. With both sigmas 0 it equals ``F``.

    Used in: book/part1/01_stft_filtering.md
    """
    s_t, s_f, tr = _check_sigmas(sigma_t_frames, sigma_f_bins, truncate)
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise ValueError(f"F must have shape (bins, frames), got {F.shape}")
    if domain == "db":
        out = ndimage.gaussian_filter(F, sigma=(s_f, s_t), truncate=tr, mode="reflect")
    elif domain == "magnitude":
        peak = F.max()
        mag = ndimage.gaussian_filter(db_to_magnitude(F - peak), sigma=(s_f, s_t), truncate=tr, mode="reflect")
        out = 20.0 * np.log10(np.maximum(mag, np.finfo(np.float64).tiny)) + peak
    else:
        raise ConfigError(f"domain must be 'db' or 'magnitude', got {domain!r}")
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- resynthesis


def griffin_lim(
    magnitude,
    n_fft: int | None = None,
    hop_length: int = 512,
    n_iter: int = 32,
    seed: int = 0,
    window="hann",
    length: int | None = None,
    momentum: float = 0.99,
) -> np.ndarray:
    """Estimate a signal from an STFT magnitude by fast Griffin-Lim (Perraudin et al. 2013).

    The algorithm of ``torchaudio.functional.griffinlim`` (random initial phase ``torch.rand``
    of complex type, then ``n_iter`` times: invert, re-analyse, ``c_n = S_n - m / (1 + m)
    S_{n-1}``, keep only the phase ``c_n / (|c_n| + 1e-16)``), with the inverse STFT as
    :class:`_OverlapAdd`: the same signal to float rounding (``tests/test_audio.py`` compares it
    with torchaudio's), 1.45 to 1.65 times as fast (a 5.9-s clip at 32 iterations: 132 against
    218 ms on this 2-core CPU, ``benchmarks/bench_decode_judges.py``). Every generated spectrogram of the book
    becomes audio through this function, so its speed is a share of every judge's. Batching does
    not help: 8 fragments of 5.9 s iterated as one ``(8, F, T)`` batch took 1.09 s against 0.58 s
    one by one on a 2-core CPU to itself (2026-12-07; FCPE in batches of 8 took 0.69 against
    0.63 s), though the batch was faster while another job shared the cores.

    The random initial phase comes from ``torch.manual_seed(seed)`` inside a forked RNG, so the
    result is reproducible and the caller's global torch RNG is left untouched.

    Args:
        magnitude: Linear STFT magnitude ``|S|``, shape ``(n_fft // 2 + 1, n_frames)``.
        n_fft: FFT size; default ``2 * (m - 1)``.
        hop_length: Hop in samples.
        n_iter: Griffin-Lim iterations.
        seed: Seed of the random initial phase.
        window: Window of the (centred) STFT it inverts.
        length: Output length in samples (one with as many centred frames as ``magnitude``:
            ``hop_length (n_frames - 1)`` up to ``hop_length n_frames - 1``).
        momentum: Fast Griffin-Lim momentum (0.99 as torchaudio's default; 0: plain Griffin-Lim).

    Returns:
        float32 signal, shape ``(length,)`` or ``((n_frames - 1) * hop_length,)``.
    """
    import torch

    mag = np.asarray(magnitude, dtype=np.float32)
    if mag.ndim != 2 or mag.shape[0] < 2:
        raise ValueError(f"magnitude must have shape (n_fft // 2 + 1, n_frames), got {mag.shape}")
    n_fft = 2 * (mag.shape[0] - 1) if n_fft is None else _check_positive_int("n_fft", n_fft)
    if n_fft // 2 + 1 != mag.shape[0]:
        raise ValueError(f"magnitude has {mag.shape[0]} bins but n_fft={n_fft} needs {n_fft // 2 + 1}")
    n_iter, hop = _check_positive_int("n_iter", n_iter), _check_positive_int("hop_length", hop_length)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if length is not None and 1 + int(length) // hop != mag.shape[1]:
        raise ValueError(f"length {length} has {1 + int(length) // hop} centred frames at hop {hop}, the "
                         f"magnitude {mag.shape[1]}")
    win = torch.from_numpy(_window(window, n_fft).astype(np.float32))
    spec = torch.from_numpy(mag)
    inverse = _OverlapAdd(win, n_fft, hop, mag.shape[1], length)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        angles = torch.rand(spec.shape, dtype=torch.complex64)
    previous = None
    for _ in range(n_iter):
        rebuilt = torch.stft(inverse(spec * angles), n_fft, hop, n_fft, win, center=True, pad_mode="reflect",
                             normalized=False, onesided=True, return_complex=True)
        angles = rebuilt if previous is None or not momentum else rebuilt - previous * (momentum / (1 + momentum))
        angles = angles * (angles.abs() + 1e-16).reciprocal()
        previous = rebuilt
    return inverse(spec * angles).numpy().astype(np.float32)


def resynthesize(
    F_db_modified,
    S_original,
    mode: str = "phase",
    hop_length: int = 512,
    ref="max",
    window="hann",
    length: int | None = None,
    n_iter: int = 32,
    seed: int = 0,
) -> np.ndarray:
    """Turn a modified dB spectrogram (theta_alpha, smoothing) back into audio.

    The magnitude is ``db_to_magnitude(F_db_modified, ref)``. ``mode="phase"`` (default) pairs it
    with the phase of the original STFT and inverts with :func:`istft`: fast, deterministic and
    almost free of artefacts, and with an unmodified ``F_db`` it gives the input back.
    ``mode="griffinlim"`` discards the original phase and estimates one with :func:`griffin_lim`
    (what a generative model that only produces magnitudes has to do; it sounds phasier).

    Args:
        F_db_modified: Modified spectrogram in dB, shape ``(m, n)``.
        S_original: Complex STFT of the original, shape ``(m, n)`` (from :func:`stft`), which
            provides the phase and, for ``ref="max"``, the 0 dB level ``max(|S|)``.
        mode: ``"phase"`` or ``"griffinlim"``.
        hop_length: Hop of the STFT in samples.
        ref: The ``ref`` that made ``F_db`` (``"max"`` or an amplitude).
        window: Window of the STFT.
        length: Output length in samples (``len(y)`` of the original).
        n_iter: Griffin-Lim iterations (``mode="griffinlim"``).
        seed: Griffin-Lim seed.

    Returns:
        float32 signal, shape ``(length,)``; amplitude on the original's scale (it may exceed 1
        after smoothing: use ``save_audio(..., normalize=True)``).

    Used in: book/part1/01_stft_filtering.md
    """
    F_db_modified = np.asarray(F_db_modified)
    S_original = np.asarray(S_original)
    if F_db_modified.shape != S_original.shape:
        raise ValueError(f"F_db_modified {F_db_modified.shape} and S_original {S_original.shape} differ in shape")
    ref_value = float(np.abs(S_original).max()) if isinstance(ref, str) and ref == "max" else float(ref)
    magnitude = db_to_magnitude(F_db_modified, ref=ref_value)
    if mode == "phase":
        return istft(magnitude * np.exp(1j * np.angle(S_original)), hop_length, window, length)
    if mode == "griffinlim":
        return griffin_lim(magnitude, None, hop_length, n_iter, seed, window, length)
    raise ConfigError(f"mode must be 'phase' or 'griffinlim', got {mode!r}")


# ----------------------------------------------------------------------------- mel


def _power_to_db(P: np.ndarray, ref, amin: float, top_db: float | None) -> np.ndarray:
    ref_value = float(P.max()) if isinstance(ref, str) and ref == "max" else float(ref)
    out = 10.0 * np.log10(np.maximum(P, amin)) - 10.0 * np.log10(max(ref_value, amin))
    if top_db is not None:
        out = np.maximum(out, out.max() - float(top_db))
    return out.astype(np.float32)


def mel_spectrogram_db(
    y,
    sr: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    f_min: float = 0.0,
    f_max: float | None = None,
    ref=1.0,
    top_db: float | None = None,
) -> np.ndarray:
    """Mel power spectrogram in dB (torchaudio.transforms.MelSpectrogram, HTK mel, no norm).

    Args:
        y: Mono signal, shape ``(n_samples,)``.
        sr: Sample rate in Hz.
        n_fft: FFT size; hop_length: hop in samples (centred frames, reflect padding).
        n_mels: Number of mel bands.
        f_min, f_max: Band edges in Hz (``f_max`` default ``sr / 2``).
        ref: Reference power for 0 dB (1.0 default, so levels are absolute and
            :func:`mel_to_audio` can invert them), or ``"max"``.
        top_db: Optional clamp at ``max - top_db`` dB.

    Returns:
        float32 array, shape ``(n_mels, 1 + n_samples // hop_length)``, in dB
        (``10 * log10(power / ref)``, power floor 1e-10).
    """
    import torch
    import torchaudio

    y = check_audio(y, sr)
    if y.ndim != 1:
        raise AudioError(f"expects a mono signal (n_samples,), got shape {y.shape}", "<array>")
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=int(sr),
        n_fft=_check_positive_int("n_fft", n_fft),
        hop_length=_check_positive_int("hop_length", hop_length),
        f_min=float(f_min),
        f_max=f_max,
        n_mels=_check_positive_int("n_mels", n_mels),
        power=2.0,
        center=True,
        pad_mode="reflect",
    )
    P = mel(torch.from_numpy(y)).numpy().astype(np.float64)
    return _power_to_db(P, ref, 1e-10, top_db)


def mel_to_audio(
    mel_db,
    sr: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int | None = None,
    n_iter: int = 32,
    f_min: float = 0.0,
    f_max: float | None = None,
    ref: float = 1.0,
    seed: int = 0,
    length: int | None = None,
) -> np.ndarray:
    """Invert :func:`mel_spectrogram_db`: InverseMelScale (least squares) then Griffin-Lim.

    The mel-to-linear step solves a least-squares problem (``gelsd``, minimum norm, so mel bands
    that are empty because ``n_mels`` is large for ``n_fft`` do no harm) and clips negative
    powers to 0; the pitch survives but the fine spectral detail between bands does not.

    Args:
        mel_db: Mel spectrogram in dB, shape ``(n_mels, n_frames)``.
        sr, n_fft, hop_length, f_min, f_max: As used to make it.
        n_mels: Must equal ``mel_db.shape[0]`` when given.
        n_iter: Griffin-Lim iterations.
        ref: The reference power of ``mel_db`` (with ``ref="max"`` the absolute level was
            lost; the output then has an arbitrary scale).
        seed: Griffin-Lim seed.
        length: Output length in samples.

    Returns:
        float32 signal, shape ``(length,)`` or ``((n_frames - 1) * hop_length,)``.
    """
    import torch
    import torchaudio

    mel_db = np.asarray(mel_db, dtype=np.float64)
    if mel_db.ndim != 2:
        raise ValueError(f"mel_db must have shape (n_mels, n_frames), got {mel_db.shape}")
    if n_mels is not None and n_mels != mel_db.shape[0]:
        raise ValueError(f"mel_db has {mel_db.shape[0]} bands, n_mels={n_mels}")
    n_fft = _check_positive_int("n_fft", n_fft)
    inv = torchaudio.transforms.InverseMelScale(
        n_stft=n_fft // 2 + 1,
        n_mels=mel_db.shape[0],
        sample_rate=_check_positive_int("sr", sr),
        f_min=float(f_min),
        f_max=f_max,
        driver="gelsd",  # tolerates the empty mel bands of a small n_fft (rank-deficient)
    )
    power_mel = torch.from_numpy((float(ref) * np.power(10.0, mel_db / 10.0)).astype(np.float32))
    power = inv(power_mel).clamp_min(0.0).numpy()
    return griffin_lim(np.sqrt(power), n_fft, hop_length, n_iter, seed, "hann", length)


# ----------------------------------------------------------------------------- measurements


def spectral_flatness(F, is_db: bool = True) -> tuple[np.ndarray, float]:
    """Spectral flatness per frame: geometric mean / arithmetic mean of the power spectrum.

    A dimensionless number in (0, 1]: 1 for a flat (white-noise-like) spectrum, near 0 for a
    few sharp harmonics. It does not depend on the dB reference. Computed in the log domain:
    ``exp(mean(log P)) / mean(P)`` with power ``P = 10 ** (F_db / 10)`` (or ``|S| ** 2``),
    powers floored at 1e-20 of the frame's maximum.

    Args:
        F: Spectrogram, shape ``(m, n)``: dB (``is_db=True``) or linear magnitude.
        is_db: Whether ``F`` is in dB.

    Returns:
        ``(per_frame, mean)``: float64 array of shape ``(n,)`` and its mean over frames.
    """
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise ValueError(f"F must have shape (bins, frames), got {F.shape}")
    if is_db:
        logP = F * (np.log(10.0) / 10.0)
    else:
        logP = 2.0 * np.log(np.maximum(np.abs(F), np.finfo(np.float64).tiny))
    logP = logP - logP.max(axis=0, keepdims=True)  # scale-free, avoids overflow
    logP = np.maximum(logP, np.log(1e-20))
    flat = np.exp(logP.mean(axis=0)) / np.exp(logP).mean(axis=0)
    return flat, float(flat.mean())


def energy_kept(F_db_original, F_db_modified) -> float:
    """Fraction of the original's linear power that the modified spectrogram retains.

    ``sum(10 ** (F_mod / 10)) / sum(10 ** (F_orig / 10))``, both on the same dB reference. 1 for
    no change; below 1 after theta_alpha; it can exceed 1 when a modification adds energy (e.g.
    dB-domain smoothing lifts floored cells next to strong components).

    Args:
        F_db_original: Original spectrogram in dB, shape ``(m, n)``.
        F_db_modified: Modified spectrogram in dB, same shape and reference.

    Returns:
        The fraction (a float; dimensionless).

    Used in: book/part1/01_stft_filtering.md
    """
    A = np.asarray(F_db_original, dtype=np.float64)
    B = np.asarray(F_db_modified, dtype=np.float64)
    if A.shape != B.shape:
        raise ValueError(f"shapes differ: {A.shape} and {B.shape}")
    top = A.max()
    return float(np.power(10.0, (B - top) / 10.0).sum() / np.power(10.0, (A - top) / 10.0).sum())


def _peaks_per_frame(F_db: np.ndarray, prominence_db: float) -> tuple[np.ndarray, np.ndarray]:
    """(bin, frame) of every local maximum along frequency with the given prominence.

    One vectorised :func:`scipy.signal.find_peaks` call: the frames are laid end to end with a
    +inf-like sentinel between them, which stops each prominence search at the frame edge
    exactly like running ``find_peaks`` frame by frame (the sentinels' own peaks are dropped).
    """
    m, n = F_db.shape
    sentinel = F_db.max() + 1e6
    cols = np.vstack([F_db, np.full((1, n), sentinel)])  # (m + 1, n)
    flat = cols.T.reshape(-1)
    idx, _ = signal.find_peaks(flat, prominence=prominence_db)
    frame, k = np.divmod(idx, m + 1)
    keep = k < m
    return k[keep], frame[keep]


def harmonic_peaks_kept(
    F_db_original,
    F_db_modified,
    freqs=None,
    fmin: float | None = None,
    fmax: float | None = None,
    prominence_db: float = 6.0,
    rel_floor_db: float = -60.0,
    tolerance_bins: int = 1,
    return_counts: bool = False,
):
    """Fraction of the original's spectral peaks (the harmonics) still present after modification.

    A peak is a local maximum along frequency within one frame, with prominence at least
    ``prominence_db`` (:func:`scipy.signal.find_peaks`). The original's peaks are counted if they
    lie at or above ``max(F_db_original) + rel_floor_db``; one is *kept* if the modified
    spectrogram has a peak of the same prominence in the same frame within ``tolerance_bins``
    bins. A floored peak (flat) or one smeared into its neighbours is not kept.

    Args:
        F_db_original: Original spectrogram in dB, shape ``(m, n)``.
        F_db_modified: Modified spectrogram in dB, same shape.
        freqs: Bin frequencies in Hz, shape ``(m,)`` (:func:`frequencies`); needed for fmin/fmax.
        fmin, fmax: Only count original peaks in this band (Hz).
        prominence_db: Minimum peak prominence in dB.
        rel_floor_db: Original peaks below ``max + rel_floor_db`` dB are ignored.
        tolerance_bins: How far (in bins) a modified peak may move.
        return_counts: Also return the counts.

    Returns:
        The fraction in [0, 1] (NaN when the original has no qualifying peak), or
        ``(fraction, n_kept, n_original)`` with ``return_counts=True``.

    Used in: book/part1/01_stft_filtering.md
    """
    A = np.asarray(F_db_original, dtype=np.float64)
    B = np.asarray(F_db_modified, dtype=np.float64)
    if A.shape != B.shape or A.ndim != 2:
        raise ValueError(f"need two (bins, frames) arrays of one shape, got {A.shape} and {B.shape}")
    k, t = _peaks_per_frame(A, prominence_db)
    sel = A[k, t] >= A.max() + rel_floor_db
    if fmin is not None or fmax is not None:
        if freqs is None:
            raise ValueError("fmin/fmax need freqs (the bin frequencies in Hz)")
        f = np.asarray(freqs)[k]
        sel &= (f >= (fmin if fmin is not None else -np.inf)) & (f <= (fmax if fmax is not None else np.inf))
    k, t = k[sel], t[sel]
    kb, tb = _peaks_per_frame(B, prominence_db)
    is_peak_b = np.zeros(B.shape, dtype=bool)
    is_peak_b[kb, tb] = True
    near = ndimage.binary_dilation(
        is_peak_b, structure=np.ones((2 * int(tolerance_bins) + 1, 1), dtype=bool)
    ) if tolerance_bins > 0 else is_peak_b
    n_total = int(k.size)
    n_kept = int(np.count_nonzero(near[k, t]))
    fraction = n_kept / n_total if n_total else float("nan")
    return (fraction, n_kept, n_total) if return_counts else fraction


def global_fft(y, sr: int, window="hann") -> tuple[np.ndarray, np.ndarray]:
    """Spectrum of the whole signal (the report's Figure 1, lower panel).

    The signal is windowed (one window over its whole length), zero-padded to a fast FFT length
    ``N >= n_samples`` and transformed with a real FFT.

    Args:
        y: Mono signal, shape ``(n_samples,)``.
        sr: Sample rate in Hz.
        window: Window name for :func:`scipy.signal.get_window` (``"boxcar"`` for none).

    Returns:
        ``(freqs, magnitude_db)``: float64 Hz of shape ``(N // 2 + 1,)`` (spacing ``sr / N``) and
        float32 magnitude in dB relative to the strongest component (0 dB), floor -200 dB.

    Used in: book/part1/01_stft_filtering.md
    """
    from scipy import fft as sfft

    y = check_audio(y, sr)
    if y.ndim != 1:
        raise AudioError(f"expects a mono signal (n_samples,), got shape {y.shape}", "<array>")
    n = y.shape[0]
    N = sfft.next_fast_len(n, real=True)
    w = signal.get_window(window, n, fftbins=False) if n > 1 else np.ones(1)
    mag = np.abs(sfft.rfft(y.astype(np.float64) * w, n=N))
    mag_db = 20.0 * np.log10(np.maximum(mag / max(mag.max(), np.finfo(float).tiny), 1e-10))
    return np.fft.rfftfreq(N, d=1.0 / sr), mag_db.astype(np.float32)


def dominant_frequencies(
    y,
    sr: int,
    k: int = 10,
    fmin: float = 50.0,
    fmax: float = 2000.0,
    min_distance_hz: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` strongest peaks of :func:`global_fft` between ``fmin`` and ``fmax``.

    Peak frequencies are refined by parabolic interpolation of the dB spectrum around each
    peak bin (sub-bin accuracy with the Hann window).

    Args:
        y: Mono signal, shape ``(n_samples,)``.
        sr: Sample rate in Hz.
        k: How many peaks at most.
        fmin, fmax: Search band in Hz.
        min_distance_hz: Minimum spacing between reported peaks in Hz.

    Returns:
        ``(freqs_hz, level_db)``: float64 arrays of shape ``(<= k,)``, strongest first; levels in
        dB relative to the global spectrum's highest bin (the interpolated level of a peak lying
        between bins can exceed 0 dB by up to ~1.5 dB).

    Used in: book/part1/01_stft_filtering.md
    """
    k = _check_positive_int("k", k)
    f, mag_db = global_fft(y, sr)
    mag_db = mag_db.astype(np.float64)
    band = np.flatnonzero((f >= fmin) & (f <= fmax))
    if band.size < 3:  # too short a signal to resolve the band (one sample has one bin)
        return np.empty(0), np.empty(0)
    df = f[1] - f[0]
    seg = mag_db[band]
    idx, _ = signal.find_peaks(seg, distance=max(1, int(math.ceil(min_distance_hz / df))))
    idx = idx[np.argsort(seg[idx])[::-1][:k]]
    a, b, c = seg[idx - 1], seg[idx], seg[idx + 1]
    denom = a - 2 * b + c
    delta = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    return f[band[idx]] + delta * df, b - 0.25 * (a - c) * delta
