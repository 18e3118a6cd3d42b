"""Measurements that judge a representation or a generated sound against known ground truth.

Chapter 1 uses the synthesizer's note lists as ground truth: the STFT cells that hold a
played partial (``k * f0`` during a note) are known exactly, so the effect of theta_alpha and of
Gaussian smoothing on them can be measured rather than looked at.

Used in: book/part1/01_stft_filtering.md
"""

from __future__ import annotations

import numpy as np

from maqamgen import audio


def add_noise(y: np.ndarray, snr_db: float | None, seed: int = 0) -> np.ndarray:
    """Add white Gaussian noise at a signal-to-noise ratio (a recording's noise floor).

    Args:
        y: audio, shape (n,).
        snr_db: 10 log10(P_signal / P_noise) in dB; ``None`` returns ``y`` unchanged.
        seed: noise seed.

    Returns:
        float32 array, shape (n,).
    """
    y = np.asarray(y, dtype=np.float32)
    if snr_db is None:
        return y
    p_signal = float(np.mean(y.astype(np.float64) ** 2))
    sigma = np.sqrt(p_signal / 10 ** (snr_db / 10))
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=y.shape)
    return (y + noise).astype(np.float32)


def partial_mask(shape: tuple[int, int], notes, sr: int, n_fft: int, hop_length: int,
                 n_harmonics: int = 8, fmax: float | None = None, width_bins: int = 1) -> np.ndarray:
    """Boolean mask of the STFT cells that hold a played partial.

    A cell (bin, frame) is marked when its frame centre lies inside a note and its bin is
    within ``width_bins`` of ``k * freq_hz`` for ``k = 1..n_harmonics`` (below ``fmax``).

    Args:
        shape: (m, n) = (n_fft // 2 + 1, frames) of the spectrogram.
        notes: the ground-truth notes (``onset``, ``offset``, ``freq_hz``).
        sr: sample rate, Hz. n_fft, hop_length: STFT settings, samples.
        n_harmonics: partials per note.
        fmax: ignore partials above this frequency, Hz (default Nyquist).
        width_bins: half-width of the marked band around each partial, bins.

    Returns:
        bool array of ``shape``.
    """
    m, n = shape
    fmax = sr / 2 if fmax is None else fmax
    times = audio.frame_times(n, sr, hop_length)
    mask = np.zeros(shape, dtype=bool)
    for note in notes:
        frames = np.flatnonzero((times >= note.onset) & (times < note.offset))
        if frames.size == 0:
            continue
        f = note.freq_hz * np.arange(1, n_harmonics + 1)
        bins = np.round(f[f <= fmax] * n_fft / sr).astype(int)
        for w in range(-width_bins, width_bins + 1):
            b = np.clip(bins + w, 0, m - 1)
            mask[np.ix_(b, frames)] = True
    return mask


def band_mask(shape: tuple[int, int], sr: int, n_fft: int, fmin: float = 0.0,
              fmax: float | None = None) -> np.ndarray:
    """Boolean mask of the bins between ``fmin`` and ``fmax`` Hz (all frames)."""
    f = audio.frequencies(sr, n_fft)
    fmax = sr / 2 if fmax is None else fmax
    keep = (f >= fmin) & (f <= fmax)
    return np.broadcast_to(keep[:, None], shape)


def partials_kept(F_db_modified: np.ndarray, mask: np.ndarray, floor_db: float) -> float:
    """Fraction of the ground-truth partial cells still above ``floor_db`` after a modification."""
    cells = F_db_modified[mask]
    return float(np.mean(cells > floor_db)) if cells.size else float("nan")


def partial_contrast_db(F_db: np.ndarray, mask: np.ndarray, band: np.ndarray) -> float:
    """Mean dB of the partial cells minus mean dB of the other cells in the band.

    How far the played harmonics stand out of everything else: what "a clearer harmonic
    structure" should mean in numbers.
    """
    inside = F_db[mask & band]
    outside = F_db[~mask & band]
    return float(inside.mean() - outside.mean())


def filtering_measures(F_db: np.ndarray, F_mod: np.ndarray, mask: np.ndarray, band: np.ndarray,
                       floor_db: float) -> dict[str, float]:
    """Every Chapter 1 measure of one modified spectrogram against its original.

    Returns:
        ``energy_kept`` (fraction of linear power), ``partials_kept`` (fraction of true
        partial cells above the floor), ``peaks_kept`` (fraction of the original's spectral
        peaks still present), ``flatness`` (mean spectral flatness in the band; 1 = noise,
        0 = pure tones) and ``contrast_db`` (:func:`partial_contrast_db`).
    """
    rows = band[:, 0]
    return {
        "energy_kept": audio.energy_kept(F_db, F_mod),
        "partials_kept": partials_kept(F_mod, mask, floor_db),
        "peaks_kept": audio.harmonic_peaks_kept(F_db[rows], F_mod[rows]),
        "flatness": audio.spectral_flatness(F_mod[rows], is_db=True)[1],
        "contrast_db": partial_contrast_db(F_mod, mask, band),
    }


# ----------------------------------------------------------------------------- Chapter 2


def interval_cents_mod_octave(f_hz, ref_hz) -> np.ndarray:
    """Signed distance from ``f_hz`` to the nearest octave of ``ref_hz``, in cents, in [-600, 600)."""
    c = 1200.0 * np.log2(np.asarray(f_hz, dtype=float) / np.asarray(ref_hz, dtype=float))
    return np.mod(c + 600.0, 1200.0) - 600.0


def tonic_correct(estimated_hz, true_hz, tol_cents: float = 50.0) -> np.ndarray:
    """Whether each estimated tonic is within ``tol_cents`` of the true one, octave-equivalent."""
    return np.abs(interval_cents_mod_octave(estimated_hz, true_hz)) <= tol_cents


def classify_peaks(peaks_hz, notes, tol_cents: float = 30.0, max_harmonic: int = 8) -> list[str]:
    """Label spectral peaks against the notes that were played.

    A peak is ``"fundamental"`` when it lies within ``tol_cents`` of a played pitch,
    ``"harmonic"`` when it lies within ``tol_cents`` of the k-th partial (2 <= k <=
    ``max_harmonic``) of a played pitch, else ``"other"`` (body resonance, noise, leakage).

    Used in: book/part1/02_maqam_estimation.md
    """
    f0 = np.array(sorted({n.freq_hz for n in notes}))
    k = np.arange(1, max_harmonic + 1)
    partials = f0[:, None] * k[None, :]  # (pitches, k)
    out = []
    for p in np.asarray(peaks_hz, dtype=float):
        d = np.abs(1200.0 * np.log2(p / partials))
        hit = d <= tol_cents
        if hit[:, 0].any():
            out.append("fundamental")
        elif hit.any():
            out.append("harmonic")
        else:
            out.append("other")
    return out


def confusion_matrix(truth: list[str], predicted: list[str], labels: list[str]) -> np.ndarray:
    """Counts ``C[i, j]`` of items of true label ``labels[i]`` predicted as ``labels[j]``."""
    index = {name: i for i, name in enumerate(labels)}
    C = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(truth, predicted):
        C[index[t], index[p]] += 1
    return C


def crop_track(track, seconds: float, where: str = "end"):
    """The part of a pitch track (``maqamgen.estimate.PitchTrack``) covering ``seconds`` s.

    ``where="end"`` keeps the last ``seconds`` (the closing cadence stays in), ``"start"`` the
    first. Cropping the track rather than the audio reuses one pYIN run for every length.
    """
    import dataclasses

    t = track.times
    keep = (t >= t[-1] - seconds) if where == "end" else (t <= t[0] + seconds)
    return dataclasses.replace(track, times=t[keep] - t[keep][0], f0_hz=track.f0_hz[keep],
                               voiced_prob=track.voiced_prob[keep])
