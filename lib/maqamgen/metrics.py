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
    """Whether each estimated tonic is within ``tol_cents`` of the true one, octave-equivalent.

    Used in: book/part1/02_maqam_estimation.md, book/part1/03_pca_gaussian.md,
    book/part2/07_lstm_tokens.md
    """
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


# ----------------------------------------------------------------------------- Chapters 4-6:
# generated audio against the data (Frechet distance, pitch-class divergence, maqam accuracy),
# middle-part hallucination and seams of stitched generations.


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` of embeddings ``(N, D)`` (N >= 2)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need embeddings of shape (N >= 2, D), got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance_gaussian(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (Heusel et al. 2017):

        d^2 = ||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).

    The matrix square root is computed as ``(sqrt(sigma1) sigma2 sqrt(sigma1))^(1/2)`` from
    symmetric eigendecompositions, which is real and stable; ``eps`` is added to the diagonals.

    Returns:
        ``d^2`` (>= 0), in squared embedding units.

    Used in: lib/maqamgen/metrics.py (frechet_distance)
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, float)), np.atleast_1d(np.asarray(mu2, float))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, float)), np.atleast_2d(np.asarray(sigma2, float))
    eye = np.eye(s1.shape[0])
    s1, s2 = s1 + eps * eye, s2 + eps * eye

    def sqrtm_psd(a):
        w, v = np.linalg.eigh((a + a.T) / 2.0)
        return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T

    r1 = sqrtm_psd(s1)
    covmean_trace = np.trace(sqrtm_psd(r1 @ s2 @ r1))
    d2 = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * covmean_trace)
    return max(d2, 0.0)


def frechet_distance(X, Y) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``X`` ``(N, D)`` and ``Y`` ``(M, D)``.

    ``||mu_x - mu_y||^2 + tr(C_x + C_y - 2 (C_x C_y)^(1/2))``: the FID formula, here on any
    feature vectors (classifier embeddings, mel frames), via :func:`frechet_distance_gaussian`,
    whose symmetric square root stays real and stable when ``N`` is not much larger than ``D``.
    Units: squared feature units.

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md
    """
    return frechet_distance_gaussian(*gaussian_stats(X), *gaussian_stats(Y))


def kernel_distance(X, Y, degree: int = 3, coef0: float = 1.0) -> float:
    """Kernel distance (KID, Binkowski et al. 2018) between the rows of ``X`` ``(N, D)`` and ``Y``
    ``(M, D)``: the unbiased estimate of the squared maximum mean discrepancy with the
    polynomial kernel ``k(x, y) = (x . y / D + coef0) ** degree``,

        MMD^2 = mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j).

    Unlike the Frechet distance it has no bias that depends on the set sizes (its expectation is
    the same for 16 samples as for 16,000), and it needs no covariance, so it stays sound when
    ``N`` is not much larger than ``D``; it can come out slightly negative when the sets match.
    Units: those of the kernel (squared, as FD's).

    Used in: lib/maqamgen/evaluation.py (``kid`` beside ``fd`` in every judged row)
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1] or len(X) < 2 or len(Y) < 2:
        raise ValueError(f"need two sets of >= 2 rows of the same width, got {X.shape} and {Y.shape}")
    d = X.shape[1]

    def k(a, b):
        return (a @ b.T / d + coef0) ** degree

    kxx, kyy, kxy = k(X, X), k(Y, Y), k(X, Y)
    n, m = len(X), len(Y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.mean())


def pcd_divergence(pcds_a, pcds_b) -> float:
    """JS divergence (bits) between the mean pitch-class distributions of two sets of PCDs.

    Args:
        pcds_a, pcds_b: ``(N, bins)`` and ``(M, bins)`` pitch-class distributions
            (:func:`maqamgen.estimate.pitch_class_distribution`); all-zero rows (nothing voiced)
            are ignored.

    Returns:
        JS divergence in bits (1.0 when one side has no voiced audio at all).

    Used in: book/part1/03_pca_gaussian.md, lib/maqamgen/evaluation.py
    """
    means = []
    for P in (pcds_a, pcds_b):
        P = np.atleast_2d(np.asarray(P, dtype=np.float64))
        P = P[P.sum(axis=1) > 0]
        if len(P) == 0:
            return 1.0
        means.append(P.mean(axis=0))
    return js_divergence(*means)


def maqam_accuracy(predicted, truth) -> float:
    """Share of items whose predicted maqam (None: no estimate) equals the true one.

    Used in: book/part2/07_lstm_tokens.md
    """
    predicted, truth = list(predicted), list(truth)
    if len(predicted) != len(truth) or not truth:
        raise ValueError("maqam_accuracy needs two non-empty lists of the same length")
    return float(np.mean([p is not None and p == t for p, t in zip(predicted, truth)]))


def nearest_frame_distance(S, bank, chunk: int = 2048) -> np.ndarray:
    """For each frame of ``S``, the RMS distance to the nearest frame of a reference bank.

    Low where the generated frame looks like something in the data, high where it does not
    (noise, smeared or unstable spectra). Any consistent units work (normalised log-mel, dB).

    Args:
        S: ``(n_mels, T)`` spectrogram.
        bank: ``(n_mels, N)`` real frames (e.g. ``PatchSet.frames_bank()``).
        chunk: frames of ``S`` compared at once.

    Returns:
        ``(T,)`` distances: ``min_j ||S[:, t] - bank[:, j]|| / sqrt(n_mels)``.

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
    book/part1/05_scaling_hallucination.md
    """
    S = np.asarray(S, dtype=np.float64)
    B = np.asarray(bank, dtype=np.float64)
    if S.ndim != 2 or B.ndim != 2 or S.shape[0] != B.shape[0]:
        raise ValueError(f"S {S.shape} and bank {B.shape} must be (n_mels, T) and (n_mels, N)")
    bb = (B ** 2).sum(axis=0)
    out = []
    for i in range(0, S.shape[1], chunk):
        s = S[:, i:i + chunk]
        d2 = (s ** 2).sum(axis=0)[:, None] + bb[None, :] - 2.0 * s.T @ B
        out.append(np.sqrt(np.clip(d2.min(axis=1), 0.0, None) / S.shape[0]))
    return np.concatenate(out) if out else np.zeros(0)


def frame_distance_profile(samples, bank) -> np.ndarray:
    """Mean :func:`nearest_frame_distance` at each frame index over a set of spectrograms.

    ``p(t) = mean_n d_n(t)``, ``d_n`` the nearest-real-frame distances of spectrogram ``n``:
    where along the time axis generated frames are unlike the data.

    Args:
        samples: ``(N, [1,] n_mels, T)`` spectrograms (numpy or torch), in the bank's units.
        bank: ``(n_mels, M)`` real frames.

    Returns:
        ``(T,)`` distances, in the bank's units (normalised log-mel for the book's patches).

    Used in: book/part1/05_scaling_hallucination.md
    """
    S = samples.detach().cpu().numpy() if hasattr(samples, "detach") else np.asarray(samples)
    S = S.reshape(S.shape[0], S.shape[-2], S.shape[-1])
    return np.mean([nearest_frame_distance(s, bank) for s in S], axis=0)


def self_similarity(S) -> np.ndarray:
    """Cosine similarity of every pair of centred frames of a spectrogram, ``(T, T)``.

    ``C[t, u] = <x_t, x_u> / (||x_t|| ||x_u||)`` with ``x_t = S[:, t] - mean_u S[:, u]`` (the
    segment's mean frame removed, so a steady level is not read as repetition). The matrix
    behind :func:`loop_score` (its diagonals) and :func:`repetition_profile` (its rows).

    Args:
        S: ``(n_mels, T)`` spectrogram.

    Returns:
        ``(T, T)`` similarities in [-1, 1].
    """
    S = np.asarray(S, dtype=np.float64)
    X = S - S.mean(axis=1, keepdims=True)
    X = X / np.maximum(np.linalg.norm(X, axis=0, keepdims=True), 1e-9)
    return X.T @ X


def loop_score(S, min_lag: int = 4, max_lag: int | None = None) -> float:
    """How exactly a whole spectrogram repeats itself at one period: ``max_L mean_t C[t, t + L]``.

    ``C`` is :func:`self_similarity` (cosine of centred frames); lags ``L`` run from ``min_lag``
    to ``max_lag`` (default half the length). A loop of period ``L`` scores ~1; music that never
    repeats exactly scores lower; noise ~0. One number per segment; :func:`repetition_profile`
    is the per-frame counterpart (any lag, frame by frame).

    Args:
        S: ``(n_mels, T)`` spectrogram.
        min_lag, max_lag: lag range, frames.

    Returns:
        The score in [0, 1] (0 when ``T`` is too short for one lag, or every lag's mean is
        negative).

    Used in: book/part1/05_scaling_hallucination.md
    """
    C = self_similarity(S)
    T = C.shape[0]
    max_lag = T // 2 if max_lag is None else min(max_lag, T - 1)
    best = 0.0
    for L in range(max(1, min_lag), max_lag + 1):
        best = max(best, float(np.diagonal(C, L).mean()))
    return best


def repetition_profile(S, min_lag: int = 4, max_lag: int | None = None) -> np.ndarray:
    """How much each frame repeats elsewhere in its own spectrogram: ``r(t) = max_u C[t, u]``, ``(T,)``.

    The maximum runs over frames ``u`` with ``min_lag <= |t - u| <= max_lag`` (default ``T``),
    ``C`` being :func:`self_similarity`. A looping stretch scores near 1 everywhere in it; a
    stretch that never comes back scores low. Unitless cosine in [-1, 1] (0 where no frame is
    in range).

    Args:
        S: ``(n_mels, T)`` spectrogram.
        min_lag, max_lag: lag range, frames.

    Used in: book/part1/05_scaling_hallucination.md
    """
    C = self_similarity(S)
    T = C.shape[0]
    lag = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    max_lag = T if max_lag is None else max_lag
    C[(lag < min_lag) | (lag > max_lag)] = -np.inf
    out = C.max(axis=1)
    return np.where(np.isfinite(out), out, 0.0)


def position_profile(values, n_bins: int = 9) -> np.ndarray:
    """Mean of per-frame values in ``n_bins`` equal stretches of the time (last) axis.

    Bin ``b`` covers frames ``[round(b T / n_bins), round((b + 1) T / n_bins))``; an empty bin
    is NaN. With :func:`nearest_frame_distance` it shows quality against position in a generated
    sequence (middle-part hallucination: a bump in the middle bins); on a spectrogram it gives
    the mean frame of each stretch; on note pitches the mean pitch along a phrase.

    Args:
        values: ``(..., T)``, e.g. a curve ``(T,)`` or a spectrogram ``(n_mels, T)``.
        n_bins: number of stretches.

    Returns:
        ``(..., n_bins)``, in the units of ``values``.

    Used in: book/part1/03_pca_gaussian.md, book/part1/05_scaling_hallucination.md
    """
    v = np.asarray(values, dtype=np.float64)
    edges = np.linspace(0, v.shape[-1], n_bins + 1).round().astype(int)
    return np.stack([v[..., a:b].mean(axis=-1) if b > a else np.full(v.shape[:-1], np.nan)
                     for a, b in zip(edges[:-1], edges[1:])], axis=-1)


def position_spread(mels, n_bins: int = 9, groups=None) -> np.ndarray:
    """Spread of real frames across sequences at each relative position: ``(n_bins,)``.

    Each sequence ``(n_mels, T_i)`` (any length) is reduced to its :func:`position_profile`
    (the mean frame of each of ``n_bins`` stretches); ``s(b)`` is the variance across sequences
    of those mean frames, averaged over mel bands, and with ``groups`` (a label per sequence,
    e.g. its maqam) taken within each group of two or more and averaged over the groups. Low
    where sequences resemble each other (stereotyped openings and closings), high where they
    differ. Units: squared units of the spectrogram.

    Args:
        mels: sequences ``(n_mels, T_i)``.
        n_bins: position bins.
        groups: optional label per sequence; if no group has two members, all sequences form one.

    Used in: book/part1/05_scaling_hallucination.md
    """
    return profile_spread(np.stack([position_profile(m, n_bins) for m in mels]), groups)


def profile_spread(prof, groups=None) -> np.ndarray:
    """:func:`position_spread` of sequences already reduced to their position profiles
    ``(n_seq, n_mels, n_bins)`` (what a bootstrap over the sequences resamples: each resample
    then costs one variance, not a profile per sequence).

    Used in: lib/maqamgen/recipes/ch05_scaling.py (:func:`maqamgen.recipes.ch05_scaling.spread_interval`)
    """
    prof = np.asarray(prof, dtype=np.float64)
    idx = [np.arange(len(prof))]
    if groups is not None:
        g = np.asarray(groups)
        idx = [np.flatnonzero(g == k) for k in np.unique(g) if np.sum(g == k) > 1] or idx
    return np.mean([prof[i].var(axis=0).mean(axis=0) for i in idx], axis=0)


def _third_bounds(T: int) -> tuple[int, int]:
    return T // 3, 2 * T // 3


def thirds(curve) -> dict:
    """Mean of a per-frame curve over its first, middle and last thirds, and middle against outer.

    With ``a, b = T // 3, 2 T // 3``: ``first`` = mean over ``[0, a)``, ``middle`` over
    ``[a, b)``, ``last`` over ``[b, T)``, ``outer`` over the first and last thirds together, and
    ``ratio`` = middle / outer (1 when the middle is like the ends).

    Used in: book/part1/05_scaling_hallucination.md
    """
    v = np.asarray(curve, dtype=np.float64)
    a, b = _third_bounds(len(v))
    outer = float(np.concatenate([v[:a], v[b:]]).mean())
    mid = float(v[a:b].mean())
    return {"first": float(v[:a].mean()), "middle": mid, "last": float(v[b:].mean()),
            "outer": outer, "ratio": mid / max(outer, 1e-12)}


def hallucination_index(S, bank, min_lag: int = 4) -> dict:
    """Middle-part hallucination of one generated spectrogram: the middle third against the outer ones.

    Two symptoms the report describes -- unstable content and repetition mid-sequence:

    * ``novelty_middle`` / ``novelty_outer``: mean :func:`nearest_frame_distance` to the real
      frames in ``bank`` over the middle third and over the first and last thirds
      (:func:`thirds`); ``novelty_ratio`` = middle / outer (about 1 for real audio, > 1 when the
      middle is noise or otherwise unlike the data);
    * ``loop_middle`` / ``loop_outer``: :func:`loop_score` of the middle third and the mean of
      the outer thirds'; ``loop_excess`` = middle - outer (about 0 for real audio, large when the
      middle loops);
    * ``index`` = ``max(novelty_ratio - 1, 0) + max(loop_excess, 0)``: 0 for a sequence whose
      middle is as good and as varied as its ends. Unitless.

    Args:
        S: ``(n_mels, T)`` spectrogram, ``T >= 6 min_lag`` frames.
        bank: ``(n_mels, N)`` real frames in the same units.
        min_lag: shortest repetition period considered, frames.

    Returns:
        dict of the quantities above.

    Used in: book/part1/03_pca_gaussian.md, book/part1/05_scaling_hallucination.md
    """
    S = np.asarray(S, dtype=np.float64)
    a, b = _third_bounds(S.shape[1])
    nov = thirds(nearest_frame_distance(S, bank))
    loop_mid = loop_score(S[:, a:b], min_lag)
    loop_out = 0.5 * (loop_score(S[:, :a], min_lag) + loop_score(S[:, b:], min_lag))
    return {"novelty_middle": nov["middle"], "novelty_outer": nov["outer"],
            "novelty_ratio": nov["ratio"], "loop_middle": loop_mid, "loop_outer": loop_out,
            "loop_excess": loop_mid - loop_out,
            "index": max(nov["ratio"] - 1.0, 0.0) + max(loop_mid - loop_out, 0.0)}


def spectral_flux(S) -> np.ndarray:
    """Frame-to-frame jump ``j(t) = ||S[:, t] - S[:, t-1]|| / sqrt(n_mels)``, ``(T - 1,)`` (entry ``t-1``).

    RMS over bands, in the spectrogram's units (dB, or normalised log-mel).
    """
    S = np.asarray(S, dtype=np.float64)
    return np.sqrt(np.mean(np.diff(S, axis=1) ** 2, axis=0))


def _seam_jumps(S, seams) -> tuple[float, float]:
    """Mean :func:`spectral_flux` across the seams and away from them (see :func:`seam_jump_ratio`)."""
    S = np.asarray(S, dtype=np.float64)
    T = S.shape[1]
    seams = sorted({int(s) for s in seams if 1 <= int(s) <= T - 1})
    if not seams:
        raise ValueError(f"no seam inside the {T} frames")
    j = spectral_flux(S)  # j[t - 1]: frame t against frame t - 1
    near = np.zeros(T - 1, bool)
    for s in seams:
        near[max(0, s - 2):min(T - 1, s + 1)] = True  # the jumps into s - 1, s and s + 1
    if near.all():
        raise ValueError("every frame is next to a seam: nothing to compare the seams with")
    return float(j[[s - 1 for s in seams]].mean()), float(j[~near].mean())


def seam_jump_ratio(S, seams) -> float:
    """How abrupt a spectrogram is across given frames, relative to everywhere else (1 = seamless).

    With the frame-to-frame jump ``j(t)`` of :func:`spectral_flux` (RMS over bands, e.g. dB),

        ratio = mean_{s in seams} j(s) / mean_{t : |t - s| > 1 for every seam} j(t),

    the mean jump across the seams (last frame of one piece to the first of the next) over the
    mean jump between frames away from any seam. Unitless; about 1 for real audio with "seams"
    put at arbitrary frames, several times larger for a splice. One definition for every model
    and every way of making long sequences (concatenated, conditioned or outpainted windows):
    the core metric ``seam_jump_ratio`` of :data:`maqamgen.results.CORE_METRICS`.

    Args:
        S: ``(n_mels, T)`` spectrogram.
        seams: frames where a new piece begins; those outside ``1 <= s <= T - 1`` are ignored.

    Raises:
        ValueError: no seam inside the spectrogram, or no frame away from the seams.

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
    book/part1/05_scaling_hallucination.md
    """
    seam, within = _seam_jumps(S, seams)
    return seam / max(within, 1e-12)


def seam_metrics(S, seams, width: int = 4) -> dict:
    """The seams of a stitched spectrogram, measured two ways.

    * ``seam_jump_ratio`` (:func:`seam_jump_ratio`), with its two means ``seam_jump`` and
      ``within_jump``: the one-frame jump across each seam against the jump elsewhere;
    * ``step_ratio``, with ``seam_step`` and ``within_step``: the *step* at frame ``t`` is
      ``||mean(S[:, t-w:t]) - mean(S[:, t:t+w])|| / sqrt(n_mels)`` (``w = width``: the change
      between the means of the ``w`` frames before and after); the ratio is its mean at the
      seams over its mean at every frame more than ``w`` from a seam. It catches a level or
      timbre change spread over a few frames, which a one-frame jump misses, but is noisier on
      real audio (a note change is a step too).

    Only seams with ``width <= s <= T - width`` count, for both.

    Args:
        S: ``(n_mels, T)`` spectrogram.
        seams: frame indices where a new segment starts.
        width: frames averaged on each side for the step.

    Returns:
        dict with ``seam_jump``, ``within_jump``, ``seam_jump_ratio``, ``seam_step``,
        ``within_step``, ``step_ratio``.

    Used in: book/part1/04_unet_ddpm.md
    """
    S = np.asarray(S, dtype=np.float64)
    T = S.shape[1]
    seams = sorted(int(s) for s in seams if width <= int(s) <= T - width)
    if not seams:
        raise ValueError(f"no seam at least {width} frames from both ends of {T} frames")
    seam_jump, within_jump = _seam_jumps(S, seams)

    def step(s):
        return float(np.sqrt(np.mean((S[:, s - width:s].mean(1) - S[:, s:s + width].mean(1)) ** 2)))

    others = [t for t in range(width, T - width + 1) if min(abs(t - s) for s in seams) > width]
    within_step = float(np.mean([step(t) for t in others])) if others else float("nan")
    seam_step = float(np.mean([step(s) for s in seams]))
    return {"seam_jump": seam_jump, "within_jump": within_jump,
            "seam_jump_ratio": seam_jump / max(within_jump, 1e-12), "seam_step": seam_step,
            "within_step": within_step, "step_ratio": seam_step / max(within_step, 1e-12)}


# ----------------------------------------------------------------------------- generative models
# Used in: book/part1/03_pca_gaussian.md (and every later generative chapter, so that the
# results table compares models on the same numbers).


def js_divergence(p, q, base: float = 2.0) -> float:
    """Jensen-Shannon divergence of two histograms (normalised here), in ``[0, 1]`` for base 2.

    ``JS(p, q) = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2``; 0 iff ``p = q``.

    Args:
        p, q: non-negative weights of the same shape, each of positive sum.
        base: logarithm base (2 gives bits, bounded by 1).

    Raises:
        ValueError: different shapes, or a histogram with nothing in it (the divergence is
            undefined; a caller with possibly empty histograms decides what that means).

    Used in: book/part1/03_pca_gaussian.md, book/part2/07_lstm_tokens.md
    """
    p = np.asarray(p, dtype=float).ravel()
    q = np.asarray(q, dtype=float).ravel()
    if p.shape != q.shape or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("p and q must have the same shape and positive sums")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a):
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return max(0.0, 0.5 * (kl(p) + kl(q)) / np.log(base))


def frame_autocorrelation(mels, max_lag: int, mean=None) -> np.ndarray:
    """Autocorrelation of spectrogram frames against time lag, pooled over spectrograms and bands.

    ``r(l) = sum (x[b, t] - m_b)(x[b, t + l] - m_b) / sum (x[b, t] - m_b)^2`` over every band
    ``b``, frame pair and spectrogram, with ``m_b`` a per-band mean (``mean``; default: that of
    the input). ``r(0) = 1``.

    Args:
        mels: a spectrogram (n_mels, T) or a list/array of them (equal n_mels, any T).
        max_lag: largest lag in frames (lags beyond a spectrogram's length are skipped for it).
        mean: per-band mean to subtract, shape (n_mels,) (pass the data's mean to compare models).

    Returns:
        ``r``, shape (max_lag + 1,); NaN at lags no spectrogram reaches.

    Used in: book/part1/03_pca_gaussian.md
    """
    ms = [np.asarray(mels, dtype=float)] if np.ndim(mels) == 2 else [np.asarray(m, float) for m in mels]
    if mean is None:
        mean = np.concatenate(ms, axis=1).mean(axis=1)
    mean = np.asarray(mean, dtype=float)[:, None]
    num = np.zeros(max_lag + 1)
    cnt = np.zeros(max_lag + 1)
    var, nvar = 0.0, 0
    for m in ms:
        x = m - mean
        var += float(np.sum(x * x))
        nvar += x.size
        for lag in range(min(max_lag, x.shape[1] - 1) + 1):
            num[lag] += float(np.sum(x[:, : x.shape[1] - lag] * x[:, lag:]))
            cnt[lag] += x.shape[0] * (x.shape[1] - lag)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (num / cnt) / (var / nvar)


def scale_adherence(cents_above_tonic, maqam: str, tol_cents: float = 25.0, weights=None,
                    practice: bool = True) -> float:
    """Fraction of pitches within ``tol_cents`` of a pitch class of the maqam (any octave).

    ``sum_i w_i [min_k |c_i - pc_k|_1200 <= tol] / sum_i w_i`` with ``|.|_1200`` the distance
    modulo the octave. The pitch classes ``pc_k`` are those of the maqam's ascending and
    descending forms and its octave note (:func:`maqamgen.maqam.pitch_classes_cents`), as
    played (``practice=True``) or on the 24-TET grid.

    Args:
        cents_above_tonic: pitches in cents above the tonic, any shape.
        maqam: maqam name.
        tol_cents: tolerance, cents.
        weights: weight of each pitch (e.g. note durations, s), same size; default 1 each.
        practice: practice intonation instead of the 24-TET degrees.

    Used in: book/part1/03_pca_gaussian.md
    """
    from maqamgen import maqam as mq

    c = np.asarray(cents_above_tonic, dtype=float).ravel()
    if c.size == 0:
        return float("nan")
    pcs = mq.pitch_classes_cents(maqam, practice=practice)
    d = np.mod(c[:, None] - pcs[None, :] + 600.0, 1200.0) - 600.0
    ok = np.min(np.abs(d), axis=1) <= tol_cents
    if weights is None:
        return float(np.mean(ok))
    w = np.asarray(weights, dtype=float).ravel()
    return float(np.sum(w * ok) / np.sum(w))


def interval_histogram(cents_sequences, bin_cents: float = 25.0, max_cents: float = 1200.0) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of melodic intervals (consecutive differences) of pitch sequences in cents.

    The bins are centred on the multiples of ``bin_cents`` from ``-max_cents`` to ``+max_cents``
    (both included, so the histogram is symmetric: an octave up and an octave down each have
    their bin); intervals beyond go to the outer bins. Counts, not normalised.

    Args:
        cents_sequences: a list of 1-D pitch sequences in cents (or one 2-D array, one per row).
        bin_cents: bin width, cents.
        max_cents: range, cents.

    Returns:
        ``(counts, edges)``: counts shape (B,) with ``B = 2 round(max_cents / bin_cents) + 1``,
        edges shape (B + 1,), cents.

    Used in: book/part1/03_pca_gaussian.md
    """
    iv = np.concatenate([np.diff(np.asarray(s, dtype=float)) for s in cents_sequences])
    half = int(round(max_cents / bin_cents))
    edges = (np.arange(-half, half + 2) - 0.5) * bin_cents
    iv = np.clip(iv, edges[0] + 1e-9, edges[-1] - 1e-9)
    return np.histogram(iv, bins=edges)[0].astype(float), edges


def bootstrap_ci(values, stat=np.mean, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0, min_n: int = 1) -> tuple[float, float, float]:
    """A statistic of ``values`` with its percentile-bootstrap interval.

    Args:
        values: ``(N,)`` per-item measurements (e.g. 0/1 correct, per-sample distances).
        stat: the statistic (mean by default).
        n_boot: bootstrap resamples.
        level: coverage of the interval.
        seed: resampling seed (same seed, same interval).
        min_n: fewest finite items to resample; under it the bounds are NaN (a bootstrap over
            two items only spans their two values).

    Returns:
        ``(value, lo, hi)``; NaNs when ``values`` is empty.

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
    book/part1/05_scaling_hallucination.md
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    if v.size < min_n:
        return float(stat(v)), float("nan"), float("nan")
    boots = _bootstrap(lambda idx: stat(v[idx]), v.size, n_boot, seed)
    a = (1.0 - level) / 2.0
    return float(stat(v)), float(np.quantile(boots, a)), float(np.quantile(boots, 1.0 - a))


def paired_difference(a, b, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                      min_n: int = 1) -> tuple[float, float, float]:
    """The mean of ``a - b`` over paired items, with its percentile-bootstrap interval.

    For two conditions measured on the same items (the same prompts and sampler noise, asked
    with and without an ornament, say), the per-item difference carries what the two share, so
    its interval is the one to compare with 0 (through :func:`separation`): the two conditions'
    own intervals overlap more often than the difference's interval holds 0. Items where either
    value is NaN are dropped together.

    Returns:
        ``(mean difference, lo, hi)`` as :func:`bootstrap_ci`.

    Used in: book/part3/08_dit.md
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of one length, got {a.shape} and {b.shape}")
    return bootstrap_ci(a - b, n_boot=n_boot, level=level, seed=seed, min_n=min_n)


def finite_mean(values) -> float:
    """The mean of the finite values (NaN and infinities left out); NaN, without a warning, when
    there are none.

    Used in: book/part2/07_lstm_tokens.md, book/part3/08_dit.md
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def within_variance_share(x) -> float:
    """The share of the variance of single measurements that lies within items.

    ``x`` holds ``k >= 2`` repeated measurements of each of ``n >= 2`` items, shape ``(n, k)``
    (the ornament F1 of one generated fragment over ``k`` Griffin-Lim draws, say). The share is
    ``mean_i s_i^2 / s^2``: the mean of the items' own variances (``ddof=1``) over the variance of
    all ``n k`` values (``ddof=1``); near 0 when repeats agree, near 1 when the repeat and not the
    item decides the value. Averaging ``k`` repeats divides the within part by ``k``.

    Returns:
        The share (NaN when every value is the same).

    Raises:
        ValueError: not ``(n, k)`` with ``n, k >= 2``, or non-finite values.

    Used in: book/part3/08_dit.md
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"within_variance_share needs (items, repeats) with both >= 2, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("within_variance_share needs finite values")
    total = float(x.var(ddof=1))
    return float(x.var(axis=1, ddof=1).mean() / total) if total > 0 else float("nan")


def _bootstrap(stat, n: int, n_boot: int, seed: int) -> np.ndarray:
    """``stat(index)`` on ``n_boot`` resamples (with repeats) of the item indices ``0..n-1``."""
    rng = np.random.default_rng(seed)
    return np.array([stat(rng.integers(0, n, n)) for _ in range(int(n_boot))], dtype=float)


def set_interval(stat, n: int, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0, floor: float | None = 0.0, min_n: int = 1) -> tuple[float, float, float]:
    """A statistic of a whole set of ``n`` items, with a bootstrap interval over the items.

    ``stat(index)`` computes the statistic (a Frechet distance, a divergence of mean PCDs) on the
    items at ``index`` (an int array, repeats allowed). Such statistics are biased at small ``n``
    and more so on a resample, which repeats items: the percentile interval of the resampled
    values then lies beside the estimate. The interval returned is that percentile interval
    shifted by the bootstrap's estimate of the extra bias (the median of the resampled values
    minus the estimate), clipped at 0: the spread of the statistic at this ``n``, centred on what
    was measured. Rows measured with the same ``n`` against the same reference compare fairly.

    Args:
        stat: the statistic of a subset, ``stat(index) -> float``.
        n: number of items.
        n_boot: resamples.
        level: coverage of the interval.
        seed: resampling seed (same seed, same interval).
        floor: the least value of a bound (0 for a distance; None for a statistic that can be
            negative, such as :func:`kernel_distance`).
        min_n: fewest items to resample; under it the bounds are NaN (as :func:`bootstrap_ci`).

    Returns:
        ``(value, lo, hi)``; NaNs when ``n == 0``.

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
    book/part1/05_scaling_hallucination.md (through its recipe), book/part2/07_lstm_tokens.md (through its recipe)
    """
    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    value = float(stat(np.arange(n)))
    if n < min_n:
        return value, float("nan"), float("nan")
    boots = _bootstrap(stat, n, n_boot, seed)
    a = (1.0 - level) / 2.0
    shift = float(np.median(boots)) - value
    lo, hi = np.quantile(boots, [a, 1.0 - a]) - shift
    if floor is not None:
        lo, hi = max(lo, floor), max(hi, floor)
    return value, float(lo), float(hi)


def separation(a, b) -> int:
    """Whether interval ``a = (lo, hi)`` lies wholly above (+1) or wholly below (-1) interval (or
    number) ``b``, or overlaps it (0: no difference can be claimed). A NaN bound compares as
    overlapping (as does None, a NaN read back from the results store). The one rule by which the
    book claims a difference between two measurements.

    Used in: book/part1/05_scaling_hallucination.md, book/part2/07_lstm_tokens.md, book/results.md
    """
    def num(v):
        return float("nan") if v is None else float(v)

    a_lo, a_hi = (num(v) for v in a)
    b_lo, b_hi = (num(b), num(b)) if (b is None or np.isscalar(b)) else (num(v) for v in b)
    if not np.all(np.isfinite([a_lo, a_hi, b_lo, b_hi])):
        return 0
    if a_lo > b_hi:
        return 1
    if a_hi < b_lo:
        return -1
    return 0


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """A proportion ``k / n`` with its Wilson score interval (sound for small ``n`` and 0 or 1).

    Returns:
        ``(p, lo, hi)``; NaNs when ``n == 0``.

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
    book/part2/07_lstm_tokens.md
    """
    from scipy.stats import norm

    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    z = float(norm.ppf(0.5 + level / 2.0))
    p = k / n
    d = 1.0 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    lo = 0.0 if k == 0 else max(0.0, c - h)
    hi = 1.0 if k == n else min(1.0, c + h)
    return float(p), float(lo), float(hi)


def design_effect(k, n) -> float:
    """Kish's design effect of a proportion pooled over clusters: how much the correlation of the
    items within a cluster (the windows of one generated piece) inflates its variance.

    With ``k_i`` of ``n_i`` items right in cluster ``i`` (``m`` clusters, ``N = sum n_i``) and the
    pooled share ``p = sum k_i / N``, the ratio estimator's variance over clusters is
    ``v = m / (m - 1) * sum_i (k_i - p n_i)^2 / N^2``; the design effect is ``v`` over the binomial
    variance ``p (1 - p) / N``, floored at 1 (Korn and Graubard 1998). It is 1 when there are fewer
    than two clusters (no spread between clusters to measure) or ``p`` is 0 or 1.

    Args:
        k: ``(m,)`` items right per cluster.
        n: ``(m,)`` items per cluster (clusters with none are left out).

    Raises:
        ValueError: ``k`` and ``n`` differ in shape, or some ``k_i`` is negative or above ``n_i``.

    Used in: book/part3/08_dit.md (through its recipe), :func:`clustered_wilson_interval`
    """
    k, n = np.asarray(k, dtype=float).ravel(), np.asarray(n, dtype=float).ravel()
    if k.shape != n.shape:
        raise ValueError(f"design_effect needs one count right per cluster, got {k.shape} and {n.shape}")
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("design_effect needs 0 <= k_i <= n_i in every cluster")
    keep = n > 0
    k, n = k[keep], n[keep]
    m, N = len(n), float(n.sum())
    if m < 2:
        return 1.0
    p = k.sum() / N
    if p <= 0.0 or p >= 1.0:
        return 1.0
    v = m / (m - 1) * float(np.sum((k - p * n) ** 2)) / N ** 2
    return max(1.0, v / (p * (1.0 - p) / N))


def clustered_wilson_interval(k, n, level: float = 0.95) -> tuple[float, float, float]:
    """A proportion pooled over clusters (``k_i`` of ``n_i`` right in each), with the Wilson
    interval of its effective sample size ``N / deff`` (:func:`design_effect`; Korn and Graubard
    1998). The windows of one generated piece share its seed and its maqam, so they are not
    independent: the plain :func:`wilson_interval` over all windows is too narrow when the pieces
    differ. The share is ``sum k_i / sum n_i``; with one cluster, or all right or all wrong, the
    interval is the plain Wilson interval.

    Returns:
        ``(p, lo, hi)``; NaNs when there are no items.

    Used in: book/part3/08_dit.md (through its recipe), book/part1/06_latent_diffusion.md (through its recipe)
    """
    k, n = np.asarray(k, dtype=float).ravel(), np.asarray(n, dtype=float).ravel()
    deff = design_effect(k, n)
    N = float(n.sum())
    if N <= 0:
        return float("nan"), float("nan"), float("nan")
    p = float(k.sum()) / N
    _, lo, hi = wilson_interval(float(k.sum()) / deff, N / deff, level)  # k_eff / n_eff = p
    return p, lo, hi


def moving_average(x, w: int) -> np.ndarray:
    """Mean of each run of ``w`` consecutive values (``len(x) - w + 1`` of them; ``x`` if ``w <= 1``).

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
    """
    x = np.asarray(x, dtype=float)
    w = int(max(1, min(w, len(x)))) if len(x) else 1
    return np.convolve(x, np.ones(w) / w, "valid") if w > 1 else x


def loss_tail(losses, frac: float = 0.25) -> dict:
    """Convergence of a training-loss curve, from its last ``frac`` of steps (at least 2).

    Returns:
        ``final_loss`` (mean over the tail) and ``loss_cv`` (its standard deviation over its
        mean: how much the loss still jumps at the end of training).

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
    """
    L = np.asarray(losses, dtype=float)
    if L.size == 0:
        return {"final_loss": float("nan"), "loss_cv": float("nan")}
    tail = L[-max(2, int(len(L) * frac)):]
    m = float(tail.mean())
    return {"final_loss": m, "loss_cv": float(tail.std() / m) if m else float("nan")}


PLATEAU_TOL = 0.02
"""A validation curve whose best value fell by less than this share over the last quarter of a
run had stopped falling (:func:`validation_plateau`)."""


def validation_plateau(val_losses, frac: float = 0.25, tol: float = PLATEAU_TOL) -> dict:
    """Whether a validation curve had stopped falling: the relative drop of its best value over
    its last ``frac`` of points against its best value before them.

    Returns:
        ``val_best`` (lowest validation loss), ``val_last`` (the last one), ``tail_drop``
        (``(best before the tail - best in the tail) / best before``; <= 0 when the tail did not
        improve) and ``plateau`` (``tail_drop < tol``: the model was trained until its validation
        loss stopped falling; False: more training would still have helped).

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
    """
    v = np.asarray(val_losses, dtype=float)
    if v.size < 4:
        return {"val_best": float(np.min(v)) if v.size else float("nan"),
                "val_last": float(v[-1]) if v.size else float("nan"),
                "tail_drop": float("nan"), "plateau": False}
    k = max(1, int(round(v.size * frac)))
    before, tail = float(v[:-k].min()), float(v[-k:].min())
    drop = (before - tail) / before if before else float("nan")
    return {"val_best": float(v.min()), "val_last": float(v[-1]), "tail_drop": float(drop),
            "plateau": bool(drop < tol)}


# ----------------------------------------------------------------------------- symbolic (note-level)
# Note lists judged against notes (Chapter 7's LSTM): the same quantities as above where they
# exist (scale adherence, interval histogram), read from notes instead of pitch-track frames;
# the note pitch-class distribution is its own quantity (coarser, duration-weighted, no
# smoothing), apart from the audio PCD of :func:`maqamgen.estimate.pitch_class_distribution`.


def note_pcd(notes, ref_hz: float, bins: int = 24, weight: str = "duration") -> np.ndarray:
    """Pitch-class distribution of a note list: ``bins`` classes per octave above ``ref_hz``.

    Note ``i`` falls in class ``round(c_i bins / 1200) mod bins`` with ``c_i`` its cents above
    ``ref_hz``, and weighs its duration in s (``weight="duration"``) or 1 (``"count"``):
    ``P_k = sum_{i in k} w_i / sum_i w_i``. Not the audio PCD
    (:func:`maqamgen.estimate.pitch_class_distribution`: 72 smoothed bins from pitch-track frames).

    Args:
        notes: the notes.
        ref_hz: pitch of class 0, Hz (a tonic, or C4 for 12-TET music).
        bins: classes per octave (24: quarter tones; 12: semitones).
        weight: ``"duration"`` or ``"count"``.

    Returns:
        ``(bins,)``, sums to 1 (all zeros for no notes).

    Used in: book/part2/07_lstm_tokens.md
    """
    h = np.zeros(int(bins))
    if not notes:
        return h
    f = np.array([n.freq_hz for n in notes])
    w = np.array([n.duration for n in notes]) if weight == "duration" else np.ones(len(notes))
    k = np.mod(np.rint(1200.0 * np.log2(f / ref_hz) * bins / 1200.0).astype(int), bins)
    np.add.at(h, k, w)
    return h / h.sum() if h.sum() > 0 else h


def note_interval_histogram(notes, bin_cents: float = 50.0, max_cents: float = 1200.0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`interval_histogram` of the intervals between successive notes (by onset).

    The interval from note ``i`` to ``i + 1`` is ``1200 log2(f_{i+1} / f_i)`` cents; one count
    each (a list of N notes gives N - 1 counts; pooled histograms of several lists are sums).

    Args:
        notes: the notes.
        bin_cents: bin width, cents (50: quarter tones; 100: semitones).
        max_cents: range, cents (wider leaps fall in the outer bins).

    Returns:
        ``(counts, edges)`` as :func:`interval_histogram`.

    Used in: book/part2/07_lstm_tokens.md
    """
    f = np.array([n.freq_hz for n in sorted(notes, key=lambda n: n.onset)], dtype=float)
    return interval_histogram([1200.0 * np.log2(f / 440.0)], bin_cents, max_cents)


def note_out_of_scale(notes, maqam: str, tonic_hz: float, tol_cents: float = 25.0,
                      weight: str = "duration") -> float:
    """Share of a note list off the maqam's scale: ``1 -`` :func:`scale_adherence` of its notes.

    Each note weighs its duration (``weight="duration"``: the share of the time) or 1
    (``"count"``); the scale is the maqam's 24-TET pitch classes on ``tonic_hz`` (the pitches
    of the 24-TET token grid), a note being off it when farther than ``tol_cents`` from all.

    Args:
        notes: the notes.
        maqam: maqam name.
        tonic_hz: the tonic, Hz.
        tol_cents: tolerance, cents.
        weight: ``"duration"`` or ``"count"``.

    Returns:
        A share in [0, 1]; NaN for no notes.

    Used in: book/part2/07_lstm_tokens.md
    """
    if not notes:
        return float("nan")
    w = np.array([n.duration for n in notes]) if weight == "duration" else None
    c = 1200.0 * np.log2(np.array([n.freq_hz for n in notes], dtype=float) / float(tonic_hz))
    return 1.0 - scale_adherence(c, maqam, tol_cents, weights=w, practice=False)


# ----------------------------------------------------------------------------- round trips (Chapter 6)
# How much of the played pitch and of the sound survives audio -> features -> (autoencoder) ->
# audio: the pitch track of the round-tripped audio against the corpus's ground-truth notes, and
# the multi-resolution STFT distance to the original. Written for Chapter 6
# (book/part1/06_latent_diffusion.md, through maqamgen.recipes.ch06_latent_diffusion).


def note_pitch_at(times, notes, follow_ornaments: bool = True) -> np.ndarray:
    """The ground-truth pitch sounding at each time: the note with the latest onset among those
    with ``onset <= t < offset``; NaN where no note sounds.

    With ``follow_ornaments`` the pitch follows the note's vibrato, trill and slide exactly as
    :mod:`maqamgen.synth` renders them (tremolo re-plucks keep the pitch); else it is the
    note's ``freq_hz``.

    Args:
        times: ``(T,)`` times, s.
        notes: :class:`maqamgen.notes.Note` objects, or rows ``(onset_s, offset_s, freq_hz)``
            (no ornaments).
        follow_ornaments: add the ornaments' pitch offsets.

    Returns:
        ``(T,)`` pitches, Hz.
    """
    from maqamgen.synth import _ornament_cents  # the one definition of an ornament's pitch curve

    t = np.asarray(times, dtype=float)
    f = np.full(t.shape, np.nan)
    rows = []
    for n in notes:
        if hasattr(n, "freq_hz"):
            rows.append((float(n.onset), float(n.offset), float(n.freq_hz), getattr(n, "ornament", None)))
        else:
            rows.append((float(n[0]), float(n[1]), float(n[2]), None))
    for onset, offset, f0, orn in sorted(rows, key=lambda r: r[0]):  # later onsets overwrite
        m = (t >= onset) & (t < offset)
        if not m.any():
            continue
        c = _ornament_cents(orn, f0, t[m] - onset, offset - onset) if follow_ornaments else None
        f[m] = f0 if c is None else f0 * 2.0 ** (np.asarray(c, dtype=float) / 1200.0)
    return f


def pitch_fidelity(track, notes, tol_cents: float = 15.0, follow_ornaments: bool = True,
                   offset_s: float = 0.0) -> dict:
    """How well a pitch track follows the ground-truth notes: share within ``tol_cents`` and the
    median absolute error.

    Over the frames ``i`` where a note sounds (:func:`note_pitch_at`) and the track is voiced,
    the error is ``e_i = 1200 log2(f0_i / f_true_i)`` cents and

        ``within = #{i : |e_i| <= tol_cents} / n``,   ``median_abs_cents = median_i |e_i|``.

    Octave errors are counted as errors in both (an octave-off frame is not within the
    tolerance and its ``|e_i|`` is about 1200), and are also reported apart: ``octave_share`` is
    the share of the ``n`` frames whose error is within ``tol_cents`` of a non-zero multiple of
    1200 cents. ``voiced_recall`` is the share of note frames the track calls voiced (a round
    trip that loses the pitch altogether scores on it, not on ``within``).

    Args:
        track: a :class:`maqamgen.estimate.PitchTrack` (``times``, ``f0_hz`` NaN where unvoiced,
            ``voiced``), or a pair ``(times_s, f0_hz)``.
        notes: the ground truth (see :func:`note_pitch_at`), in the clip's time.
        tol_cents: tolerance, cents.
        follow_ornaments: the ground truth follows vibrato, trills and slides.
        offset_s: clip time of the track's time 0 (a fragment cut ``offset_s`` s into the clip).

    Returns:
        ``{"within", "median_abs_cents", "octave_share", "voiced_recall", "n_frames",
        "n_within", "n_note_frames"}``: shares in [0, 1] (NaN when ``n_frames`` is 0), cents,
        and frame counts.
    """
    if hasattr(track, "f0_hz"):
        times, f0 = np.asarray(track.times, dtype=float), np.asarray(track.f0_hz, dtype=float)
        voiced = np.asarray(track.voiced, dtype=bool)
    else:
        times, f0 = (np.asarray(a, dtype=float) for a in track)
        voiced = np.isfinite(f0) & (f0 > 0)
    truth = note_pitch_at(times + float(offset_s), notes, follow_ornaments)
    sounding = np.isfinite(truth)
    use = sounding & voiced
    n, n_notes = int(use.sum()), int(sounding.sum())
    recall = float(n / n_notes) if n_notes else float("nan")
    if n == 0:
        return {"within": float("nan"), "median_abs_cents": float("nan"), "octave_share": float("nan"),
                "voiced_recall": recall, "n_frames": 0, "n_within": 0, "n_note_frames": n_notes}
    e = 1200.0 * np.log2(f0[use] / truth[use])
    k = np.rint(e / 1200.0)
    ok = np.abs(e) <= tol_cents
    octave = (k != 0) & (np.abs(e - 1200.0 * k) <= tol_cents)
    return {"within": float(ok.mean()), "median_abs_cents": float(np.median(np.abs(e))),
            "octave_share": float(octave.mean()), "voiced_recall": recall, "n_frames": n,
            "n_within": int(ok.sum()), "n_note_frames": n_notes}


def multi_resolution_stft_distance(y_hat, y, sr: int = 22050, match_rms: bool = True,
                                   power_floor: float | None = None) -> float:
    """Multi-resolution STFT distance between two signals: the vocoder's training loss as a measure.

    ``D = 1/M sum_m [ SC_m + LogMag_m ]`` (dimensionless; 0 for identical signals), with
    ``SC = || |Y| - |Y_hat| ||_F / || |Y| ||_F`` and ``LogMag = mean | ln|Y| - ln|Y_hat| |`` at the
    resolutions ``(n_fft, hop)`` of :data:`maqamgen.nets.vocoder.STFT_RESOLUTIONS` -- computed by
    :func:`maqamgen.nets.vocoder.multi_resolution_stft_loss`, the one definition (Yamamoto et
    al. 2020). Those resolutions are in samples at 22050 Hz; at another ``sr`` each is scaled to
    the nearest power of two of ``n * sr / 22050`` (the same durations).

    The two signals are cut to the shorter length (decoders may drop the last frame), and with
    ``match_rms`` ``y_hat`` is scaled to the RMS of ``y`` first: a decoder's overall gain
    (Griffin-Lim output is peak-normalised) is not what is judged.

    Args:
        y_hat: decoded audio ``(N,)`` (numpy or torch).
        y: reference audio ``(N',)``.
        sr: sample rate of both, Hz.
        match_rms: scale ``y_hat`` to the RMS of ``y``.
        power_floor: floor of ``|STFT|^2`` (None: the loss's default,
            :data:`maqamgen.nets.vocoder.POWER_FLOOR`).

    Returns:
        ``D`` as a float.
    """
    import torch

    from maqamgen.nets import vocoder

    a = torch.as_tensor(np.asarray(y_hat, dtype=np.float64) if not torch.is_tensor(y_hat) else y_hat)
    b = torch.as_tensor(np.asarray(y, dtype=np.float64) if not torch.is_tensor(y) else y)
    a, b = a.detach().double().reshape(-1).cpu(), b.detach().double().reshape(-1).cpu()
    n = min(a.numel(), b.numel())
    a, b = a[:n], b[:n]
    if match_rms:
        ra, rb = float(a.square().mean().sqrt()), float(b.square().mean().sqrt())
        if ra > 0:
            a = a * (rb / ra)
    res = tuple((int(2 ** round(np.log2(nf * sr / 22050.0))), max(1, int(2 ** round(np.log2(hop * sr / 22050.0)))))
                for nf, hop in vocoder.STFT_RESOLUTIONS)
    floor = vocoder.POWER_FLOOR if power_floor is None else float(power_floor)
    return float(vocoder.multi_resolution_stft_loss(a[None], b[None], res, floor))


def overlap_hf_ratio(power, overlap_frames, hf_fraction: float = 0.5) -> float:
    """How much high-frequency energy the overlap frames of a stitched piece keep (1 = no change).

    With ``P`` the linear power spectrogram, ``R`` its top ``ceil(hf_fraction F)`` rows (rows run
    from low to high frequency), ``O`` the overlap frames and ``O'`` the others,

        ratio = mean_{r in R, n in O} P[r, n] / mean_{r in R, n in O'} P[r, n].

    Unitless (a ratio of powers; ``10 log10(ratio)`` in dB). Averaging or blending overlapping
    windows (cross-fade, MultiDiffusion) averages out detail that the windows do not share, so
    it tends to fall below 1 there; a stationary piece gives 1.

    Args:
        power: ``(F, N)`` non-negative linear power (e.g. ``10 ** (S_dB / 10)``), rows low to high.
        overlap_frames: ``(N,)`` bool, the frames produced by blending/averaging or shared by
            windows (:attr:`maqamgen.diffusion.stitch.Stitched.overlap_frames`).
        hf_fraction: share of the rows counted as high frequency, in ``(0, 1]``.

    Returns:
        The ratio as a float: ``inf`` when the other frames hold no high-frequency energy but the
        overlap does, NaN when neither does.

    Raises:
        ConfigError: shapes that do not match, negative or non-finite power, ``hf_fraction``
            outside ``(0, 1]``, or no overlap frame / no other frame (e.g. ``concat``, which has
            no overlap: skip it rather than report a number).

    Used in: book/part1/06_latent_diffusion.md
    """
    from maqamgen.errors import ConfigError

    P = np.asarray(power, dtype=np.float64)
    ov = np.asarray(overlap_frames, dtype=bool)
    if P.ndim != 2 or ov.shape != (P.shape[1],):
        raise ConfigError(f"power must be (F, N) and overlap_frames (N,), got {P.shape} and {ov.shape}")
    if not np.isfinite(P).all() or (P < 0).any():
        raise ConfigError("power must be finite and non-negative (linear power, e.g. 10 ** (dB / 10))")
    if not 0 < hf_fraction <= 1:
        raise ConfigError(f"hf_fraction must be in (0, 1], got {hf_fraction}")
    if not ov.any() or ov.all():
        which = "no overlap frame" if not ov.any() else "no frame outside the overlaps"
        raise ConfigError(f"overlap_hf_ratio needs both overlap and other frames; got {which} "
                          f"among {ov.size}")
    F = P.shape[0]
    hf = P[F - int(np.ceil(hf_fraction * F)):]
    num, den = float(hf[:, ov].mean()), float(hf[:, ~ov].mean())
    if den == 0:
        return float("nan") if num == 0 else float("inf")
    return num / den
