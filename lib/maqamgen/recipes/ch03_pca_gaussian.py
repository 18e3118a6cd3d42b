"""Chapter 3 helpers: log-mel patch vectors, note windows, truncation and conditioning of the PCA
Gaussian, and its record on the book's common schema.

The PCA Gaussian itself (fit, sample, encode, decode, log-likelihood) lives in
:mod:`maqamgen.gaussian`; this module feeds it and extends it:

* :func:`feature_config` and :func:`corpus_patches` cut every clip of a corpus split into
  flattened log-mel patches (``n_mels x patch_frames``, absolute dB) with the library's one mel
  (:func:`maqamgen.features.clip_mel_db`) and one patch cutter
  (:func:`maqamgen.features.cut_patches`), optionally after transposing each clip to a common
  tonic (:func:`transpose_to_tonic`), cached under ``data/cache/pcagen/``.
* :func:`note_windows` turns a note list into windows of ``n`` consecutive notes
  (cents above the tonic, then ``log2`` durations); :func:`split_window` undoes it;
  :func:`corpus_note_windows` does it for every clip of one maqam in a split.
* :func:`truncate` keeps the first ``k`` components of a full fit (the residual variance
  ``sigma2`` recomputed as :func:`maqamgen.gaussian.fit` would), so a sweep over ``k`` costs
  one SVD.
* :func:`conditional_sample` draws ``x_b | x_a`` under the probabilistic-PCA density
  ``N(mu_hat, W W^T + sigma2 I)``, ``W = E Lambda^(1/2)``, exactly and in ``O(d k^2)``;
  :func:`chain_patches` and :func:`chain_vectors` use it to continue a sequence patch by patch.
* :func:`n_params` and :func:`model_core`: the model's core metrics
  (:data:`maqamgen.results.CORE_METRICS`) with their intervals.

Used in: book/part1/03_pca_gaussian.md
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal

from maqamgen import evaluation, features, gaussian, metrics, results, runtime
from maqamgen import maqam as mq
from maqamgen.config import FeatureConfig
from maqamgen.gaussian import PCAGaussian

PATCH_CACHE_VERSION = 2
"""Part of the patch cache key; bump when the extraction changes."""


# ----------------------------------------------------------------------------- audio -> patches


def transpose_to_tonic(y: np.ndarray, sr: int, tonic_hz: float, ref_hz: float,
                       max_denominator: int = 64) -> tuple[np.ndarray, float]:
    """Move a clip's tonic to the pitch class of ``ref_hz`` by resampling (pitch and tempo change together).

    The factor ``s = ref_hz / tonic_hz`` is folded into ``[2^-1/2, 2^1/2]`` (at most half an
    octave up or down, so the register barely moves) and approximated by a fraction ``p / q``;
    the signal is resampled by ``q / p`` and played back at ``sr``, so every frequency is
    multiplied by ``p / q`` and the clip lasts ``q / p`` times as long.

    Args:
        y: mono signal, shape (S,).
        sr: its sample rate, Hz (unchanged).
        tonic_hz: the clip's tonic, Hz.
        ref_hz: the target tonic (only its pitch class matters), Hz.
        max_denominator: largest ``p``/``q`` of the rational approximation.

    Returns:
        ``(y_shifted, factor)``: float32 signal and the applied frequency factor ``p / q``.

    Used in: book/part1/03_pca_gaussian.md
    """
    s = float(ref_hz) / float(tonic_hz)
    s = s / 2.0 ** np.round(np.log2(s))
    f = Fraction(s).limit_denominator(max_denominator)
    if f == 1:
        return np.asarray(y, dtype=np.float32), 1.0
    out = signal.resample_poly(np.asarray(y, dtype=np.float64), f.denominator, f.numerator)
    return out.astype(np.float32), float(f)


def feature_config(cfg) -> FeatureConfig:
    """Chapter 3's patch settings as a :class:`~maqamgen.config.FeatureConfig`: ``cfg.pca``'s mel
    bands, band edges, hop, patch length and hop, with ``cfg.audio``'s FFT size.

    The chapter's patches stay in absolute dB (no normaliser): the Gaussian models dB.

    Used in: book/part1/03_pca_gaussian.md
    """
    p = cfg.pca
    return FeatureConfig(n_mels=p.n_mels, frames=p.patch_frames, n_fft=cfg.audio.n_fft,
                         hop_length=p.hop_length, f_min=p.f_min, f_max=p.f_max,
                         patch_stride=p.patch_hop)


@dataclass
class PatchVectors:
    """Flattened log-mel patches of a corpus split, one row per patch, with their clips' tonics.

    Chapter 3's view of the patches of :func:`maqamgen.features.cut_patches`: absolute dB (not
    normalised), flattened for the Gaussian, optionally after moving every clip to one tonic.

    Attributes:
        X: patches as rows, shape (n, n_mels * n_frames), float32, dB (row-major: ``x.reshape(
            n_mels, n_frames)`` gives the image back).
        shape: ``(n_mels, n_frames)``.
        clip: index of each patch's clip in ``clip_ids``, shape (n,).
        start: first frame of each patch in its clip's spectrogram, shape (n,).
        clip_ids: the clip ids.
        maqam: maqam of each clip, aligned with ``clip_ids``.
        tonic_hz: tonic of each clip after any transposition, aligned with ``clip_ids``.
    """

    X: np.ndarray
    shape: tuple[int, int]
    clip: np.ndarray
    start: np.ndarray
    clip_ids: list[str]
    maqam: list[str]
    tonic_hz: list[float]

    @property
    def patch_maqam(self) -> np.ndarray:
        """Maqam name of every patch, shape (n,)."""
        return np.asarray(self.maqam, dtype=object)[self.clip]

    def images(self, rows=None) -> np.ndarray:
        """Patches (or the ``rows`` given) as images, shape (n, n_mels, n_frames)."""
        X = self.X if rows is None else self.X[rows]
        return X.reshape(-1, *self.shape)

    def frames_bank(self, max_frames: int | None = 4000, seed: int = 0) -> np.ndarray:
        """Every frame (column) of every patch, ``(n_mels, n * n_frames)``, dB, subsampled to
        ``max_frames`` (:func:`maqamgen.features.subsample_frames`): the real frames of
        :func:`maqamgen.metrics.nearest_frame_distance`."""
        return features.subsample_frames(np.concatenate(self.images(), axis=1), max_frames, seed)


def corpus_patches(corp, split: str, feat: FeatureConfig, tonic_ref_hz: float | None = None,
                   cache: bool = True) -> PatchVectors:
    """Log-mel patches of every clip of a corpus split, flattened (cached by content).

    Each clip: :func:`maqamgen.features.clip_mel_db`, then :func:`maqamgen.features.cut_patches`
    (``feat.frames`` frames every ``feat.patch_stride``), in absolute dB.

    Args:
        corp: a :class:`maqamgen.corpus.Corpus`.
        split: ``train``, ``validation`` or ``test``.
        feat: the patch settings (:func:`feature_config`).
        tonic_ref_hz: if given, every clip is first transposed so that its tonic has this
            pitch class (:func:`transpose_to_tonic`).
        cache: read/write ``data/cache/pcagen/<key>.npz``.

    Returns:
        The :class:`PatchVectors`.

    Used in: book/part1/03_pca_gaussian.md
    """
    from maqamgen.runtime import cache_dir

    settings = dict(corpus=corp.hash, split=split, feat=dataclasses.asdict(feat),
                    tonic_ref_hz=tonic_ref_hz, version=PATCH_CACHE_VERSION)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir("pcagen") / f"patches-{key}.npz"
    shape = (feat.n_mels, feat.frames)
    if cache and path.exists():
        z = np.load(path, allow_pickle=False)
        return PatchVectors(X=z["X"], shape=shape, clip=z["clip"], start=z["start"],
                            clip_ids=[str(s) for s in z["clip_ids"]], maqam=[str(s) for s in z["maqam"]],
                            tonic_hz=[float(t) for t in z["tonic_hz"]])
    Xs, clip_idx, starts, ids, maqams, tonics = [], [], [], [], [], []
    for i, cl in enumerate(corp.split(split)):
        y, sr = corp.audio(cl)
        tonic = float(cl.tonic_hz)
        if tonic_ref_hz is not None:
            y, factor = transpose_to_tonic(y, sr, tonic, tonic_ref_hz)
            tonic *= factor
        P, st = features.cut_patches(features.clip_mel_db(y, sr, feat), feat.frames, feat.patch_stride)
        Xs.append(P.reshape(len(P), -1))
        clip_idx.append(np.full(len(P), i))
        starts.append(st)
        ids.append(cl.id)
        maqams.append(cl.maqam)
        tonics.append(tonic)
    ps = PatchVectors(X=np.concatenate(Xs), shape=shape, clip=np.concatenate(clip_idx),
                      start=np.concatenate(starts), clip_ids=ids, maqam=maqams, tonic_hz=tonics)
    if cache:
        with runtime.atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, X=ps.X, clip=ps.clip, start=ps.start, clip_ids=np.array(ids),
                     maqam=np.array(maqams), tonic_hz=np.array(tonics))
    return ps


# ----------------------------------------------------------------------------- note windows


def note_features(notes, tonic_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Pitch in cents above the tonic (:func:`maqamgen.maqam.cents`) and ``log2`` duration
    (s, floored at 1 ms) of every note in onset order, each shape (N,).

    Used in: book/part1/03_pca_gaussian.md
    """
    notes = sorted(notes, key=lambda n: n.onset)
    dur = np.array([n.offset - n.onset for n in notes], dtype=float)
    return mq.cents([n.freq_hz for n in notes], tonic_hz), np.log2(np.maximum(dur, 1e-3))


def note_windows(notes, tonic_hz: float, n_notes: int, hop: int = 1) -> np.ndarray:
    """Windows of ``n_notes`` consecutive notes as vectors ``[cents_1..n, log2 dur_1..n]``.

    Args:
        notes: a note list (:class:`maqamgen.notes.Note`).
        tonic_hz: the tonic, Hz.
        n_notes: notes per window.
        hop: notes between window starts.

    Returns:
        shape (W, 2 * n_notes); W = 0 when there are fewer than ``n_notes`` notes.

    Used in: lib/maqamgen/recipes/ch03_pca_gaussian.py (corpus_note_windows)
    """
    c, ld = note_features(notes, tonic_hz)
    starts = range(0, len(c) - n_notes + 1, hop)
    if len(c) < n_notes:
        return np.zeros((0, 2 * n_notes))
    return np.stack([np.concatenate([c[s:s + n_notes], ld[s:s + n_notes]]) for s in starts])


def corpus_note_windows(corp, split: str, maqam: str, n_notes: int, hop: int = 1) -> np.ndarray:
    """:func:`note_windows` of every clip of ``maqam`` in a corpus split, stacked: ``(W, 2 n_notes)``.

    Each clip's notes (:meth:`maqamgen.corpus.Corpus.notes`) are read against its own tonic.

    Used in: book/part1/03_pca_gaussian.md
    """
    out = [np.zeros((0, 2 * n_notes))]
    for clip in corp.split(split):
        if clip.maqam == maqam:
            notes, meta = corp.notes(clip)
            out.append(note_windows(notes, meta["tonic_hz"], n_notes, hop))
    return np.concatenate(out)


def split_window(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(cents, log2 durations)`` of window vectors, shape (..., 2n) -> two arrays (..., n).

    Used in: book/part1/03_pca_gaussian.md
    """
    x = np.asarray(x)
    n = x.shape[-1] // 2
    return x[..., :n], x[..., n:]


def join_window(cents: np.ndarray, log2_dur: np.ndarray) -> np.ndarray:
    """The inverse of :func:`split_window`."""
    return np.concatenate([np.asarray(cents), np.asarray(log2_dur)], axis=-1)


# ----------------------------------------------------------------------------- the Gaussian


def truncate(g: PCAGaussian, k: int) -> PCAGaussian:
    """The first ``k`` components of a full fit (``gaussian.fit(X)`` with ``k=None``).

    ``sigma2`` is the mean of the discarded eigenvalues over the ``d - k`` discarded
    directions, exactly as :func:`maqamgen.gaussian.fit` with ``k`` computes it.

    Used in: book/part1/03_pca_gaussian.md
    """
    if not 1 <= k <= g.k:
        raise ValueError(f"k must be between 1 and {g.k}, got {k}")
    rest = float(g.Lambda[k:].sum())
    sigma2 = rest / (g.d - k) if g.d > k else 0.0
    return dataclasses.replace(g, E=g.E[:, :k], Lambda=g.Lambda[:k], sigma2=sigma2)


def n_components(eigenvalues: np.ndarray, fraction: float) -> int:
    """Fewest leading eigenvalues whose sum reaches ``fraction`` of the total.

    Used in: book/part1/03_pca_gaussian.md
    """
    lam = np.asarray(eigenvalues, dtype=float)
    return int(np.searchsorted(np.cumsum(lam) / lam.sum(), fraction - 1e-12) + 1)


def conditional_sample(g: PCAGaussian, x_a: np.ndarray, idx_a: np.ndarray, n: int = 1,
                       seed: int = 0, residual: bool = False) -> np.ndarray:
    """Sample the other coordinates of ``x`` given ``x[idx_a] = x_a`` under the PPCA density.

    With ``W = E Lambda^(1/2)``, the model is ``x = mu_hat + W z + eps``, ``z ~ N(0, I_k)``,
    ``eps ~ N(0, sigma2 I)``. Given the observed block ``a``, the latent is Gaussian,

    ``z | x_a ~ N(M^-1 W_a^T (x_a - mu_a), sigma2 M^-1)``, ``M = W_a^T W_a + sigma2 I_k``,

    and ``x_b = mu_b + W_b z (+ eps_b)``. This is the exact conditional of
    ``N(mu_hat, W W^T + sigma2 I)`` (no ``d x d`` matrix is formed). With ``sigma2 = 0`` a
    tiny jitter keeps ``M`` invertible.

    Args:
        g: a fitted Gaussian.
        x_a: observed values, shape (|a|,).
        idx_a: indices of the observed coordinates, shape (|a|,).
        n: number of samples.
        seed: seed of z (and eps).
        residual: add the isotropic ``eps_b`` (the full conditional) or not (as
            :func:`maqamgen.gaussian.sample` does by default).

    Returns:
        Full vectors with ``x[idx_a] = x_a``, shape (n, d).

    Used in: book/part1/03_pca_gaussian.md
    """
    idx_a = np.asarray(idx_a)
    mask = np.zeros(g.d, dtype=bool)
    mask[idx_a] = True
    W = g.E * np.sqrt(g.Lambda)
    Wa, Wb = W[idx_a], W[~mask]
    s2 = g.sigma2 if g.sigma2 > 0 else 1e-9 * float(g.Lambda.max())
    M = Wa.T @ Wa + s2 * np.eye(g.k)
    L = np.linalg.cholesky(M)
    mean_z = np.linalg.solve(M, Wa.T @ (np.asarray(x_a, dtype=np.float64) - g.mu_hat[idx_a]))
    rng = np.random.default_rng(seed)
    # cov of z = s2 M^-1 = s2 L^-T L^-1: z = mean + sqrt(s2) L^-T u
    u = rng.standard_normal((n, g.k))
    z = mean_z + np.sqrt(s2) * np.linalg.solve(L.T, u.T).T
    out = np.empty((n, g.d))
    out[:, idx_a] = x_a
    xb = g.mu_hat[~mask] + z @ Wb.T
    if residual and g.sigma2 > 0:
        xb = xb + rng.standard_normal(xb.shape) * np.sqrt(g.sigma2)
    out[:, ~mask] = xb
    return out


def chain_patches(g: PCAGaussian, shape: tuple[int, int], n_patches: int, overlap: int,
                  seed: int = 0, first: np.ndarray | None = None) -> tuple[np.ndarray, list[int]]:
    """A long spectrogram grown patch by patch, each new patch conditioned on the last ``overlap`` frames.

    Patch 1 is an unconditional sample (or ``first``); patch ``i + 1`` is drawn from
    :func:`conditional_sample` given that its first ``overlap`` frames equal the last
    ``overlap`` frames so far, and contributes its other ``n_frames - overlap`` frames. With
    ``overlap = 0`` the patches are independent samples laid end to end.

    Args:
        g: Gaussian over flattened patches of ``shape = (n_mels, n_frames)`` (row-major).
        shape: ``(n_mels, n_frames)``.
        n_patches: patches to draw.
        overlap: conditioning frames, ``0 <= overlap < n_frames``.
        seed: seed (patch ``i`` uses ``seed + i``).
        first: optional first patch, shape (n_mels * n_frames,) or (n_mels, n_frames).

    Returns:
        ``(mel, seams)``: shape (n_mels, n_frames + (n_patches - 1) * (n_frames - overlap)),
        and the frame indices where each new patch's fresh frames begin.

    Used in: book/part1/03_pca_gaussian.md
    """
    n_mels, n_frames = shape
    if not 0 <= overlap < n_frames:
        raise ValueError(f"overlap={overlap} must be in [0, {n_frames})")
    cur = (gaussian.sample(g, 1, seed=seed)[0] if first is None else np.asarray(first, float).ravel())
    out = [cur.reshape(n_mels, n_frames)]
    seams = []
    grid = np.arange(n_mels * n_frames).reshape(n_mels, n_frames)
    idx_a = grid[:, :overlap].ravel()
    total = n_frames
    for i in range(1, n_patches):
        if overlap:
            x_a = out[-1][:, -overlap:].ravel() if out[-1].shape[1] >= overlap else \
                np.concatenate(out, axis=1)[:, -overlap:].ravel()
            nxt = conditional_sample(g, x_a, idx_a, 1, seed=seed + i)[0].reshape(n_mels, n_frames)
        else:
            nxt = gaussian.sample(g, 1, seed=seed + i)[0].reshape(n_mels, n_frames)
        seams.append(total)
        out.append(nxt[:, overlap:])
        total += n_frames - overlap
    return np.concatenate(out, axis=1), seams


def chain_vectors(g: PCAGaussian, n_steps: int, overlap: int, seed: int = 0) -> np.ndarray:
    """Grow a note sequence from note-window Gaussians, ``overlap`` notes conditioned each step.

    ``g`` models windows ``[cents_1..n, log2 dur_1..n]`` (:func:`note_windows`). The first
    window is an unconditional sample; each next window is drawn given that its first
    ``overlap`` notes (pitch and duration) equal the last ``overlap`` notes so far.

    Args:
        g: Gaussian over note windows of ``n = g.d // 2`` notes.
        n_steps: windows to draw.
        overlap: conditioning notes, ``0 <= overlap < n``.
        seed: seed.

    Returns:
        shape (N, 2): rows ``(cents, log2 dur)``, ``N = n + (n_steps - 1) * (n - overlap)``.

    Used in: book/part1/03_pca_gaussian.md
    """
    n = g.d // 2
    if not 0 <= overlap < n:
        raise ValueError(f"overlap={overlap} must be in [0, {n})")
    c, ld = split_window(gaussian.sample(g, 1, seed=seed)[0])
    seq = list(zip(c, ld))
    idx_a = np.concatenate([np.arange(overlap), n + np.arange(overlap)])
    for i in range(1, n_steps):
        if overlap:
            last = np.array(seq[-overlap:])
            x = conditional_sample(g, np.concatenate([last[:, 0], last[:, 1]]), idx_a, 1,
                                   seed=seed + i)[0]
        else:
            x = gaussian.sample(g, 1, seed=seed + i)[0]
        c, ld = split_window(x)
        seq.extend(zip(c[overlap:], ld[overlap:]))
    return np.array(seq)


def log_likelihood_curve(g: PCAGaussian, X: np.ndarray, ks) -> np.ndarray:
    """Mean log-likelihood per dimension (nats) of the rows of ``X`` under ``truncate(g, k)`` for each ``k``.

    Equal to ``gaussian.log_likelihood(truncate(g, k), X).mean() / d`` but projects ``X`` once.

    Args:
        g: a full fit (``gaussian.fit(X_train)``).
        X: vectors, shape (n, d).
        ks: component counts, each ``1 <= k < g.d`` (so that ``sigma2 > 0``).

    Returns:
        shape (len(ks),).

    Used in: book/part1/03_pca_gaussian.md
    """
    X = np.asarray(X, dtype=np.float64)
    xc = X - g.mu_hat
    sq = np.sum(xc ** 2, axis=1)
    kmax = int(max(ks))
    p2 = (xc @ g.E[:, :kmax]) ** 2
    cum_p2 = np.cumsum(p2, axis=1)
    cum_m = np.cumsum(p2 / g.Lambda[:kmax], axis=1)
    cum_logdet = np.cumsum(np.log(g.Lambda[:kmax]))
    out = []
    for k in ks:
        t = truncate(g, int(k))
        resid = sq - cum_p2[:, k - 1]
        ll = -0.5 * (g.d * np.log(2 * np.pi) + cum_logdet[k - 1] + (g.d - k) * np.log(t.sigma2)
                     + cum_m[:, k - 1] + resid / t.sigma2)
        out.append(ll.mean() / g.d)
    return np.array(out)


# ----------------------------------------------------------------------------- the results record


def n_params(g: PCAGaussian) -> int:
    """Free numbers of a fitted PCA Gaussian: ``mu_hat`` (d), ``E`` (d k), ``Lambda`` (k), ``sigma2`` (1).

    Used in: book/part1/03_pca_gaussian.md
    """
    return int(g.d + g.d * g.k + g.k + 1)


def model_core(judged: dict, est_correct, pcds_gen, pcds_real, seam_ratios, halluc, params: int,
               train_s: float, gen_s: float, audio_s: float, n_boot: int = 1000, seed: int = 0) -> dict:
    """The PCA Gaussian's core metrics (:data:`maqamgen.results.CORE_METRICS`), each with its interval.

    Args:
        judged: :meth:`maqamgen.evaluation.Evaluator.evaluate` (no pitch) of the generated
            audio's patches on the judge's grid: gives ``fd``, ``maqam_acc_classifier`` and
            ``frame_dist`` (:func:`maqamgen.evaluation.core_metrics`).
        est_correct: per generated sequence, whether the Chapter 2 estimator read the asked maqam.
        pcds_gen, pcds_real: ``(N, bins)`` and ``(M, bins)`` pitch-class distributions of the
            generated and of the real (Griffin-Lim) excerpts: ``pcd_js_audio`` is
            :func:`maqamgen.metrics.pcd_divergence` with :func:`maqamgen.metrics.set_interval`.
        seam_ratios: :func:`maqamgen.metrics.seam_jump_ratio` of each long generated sequence.
        halluc: ``index`` of :func:`maqamgen.metrics.hallucination_index` of each long sequence.
        params: :func:`n_params` of the model(s) judged.
        train_s: fitting time, s.
        gen_s, audio_s: compute time of the judged generations and their length, s.
        n_boot, seed: bootstrap settings.

    Returns:
        ``{key: results.interval(...) or number}`` with exactly the keys of ``CORE_METRICS``.

    Used in: book/part1/03_pca_gaussian.md
    """
    def boot(v):
        return results.interval(*metrics.bootstrap_ci(v, n_boot=n_boot, seed=seed), n=len(v))

    est = np.asarray(est_correct, dtype=bool)
    pcds_gen = np.asarray(pcds_gen)
    pcd = metrics.set_interval(lambda i: metrics.pcd_divergence(pcds_gen[i], pcds_real),
                                  len(pcds_gen), n_boot, seed=seed)
    core = evaluation.core_metrics(judged)
    core.update({
        "maqam_acc_estimator": results.interval(*metrics.wilson_interval(int(est.sum()), est.size),
                                                n=est.size),
        "pcd_js_audio": results.interval(*pcd, n=len(pcds_gen)),
        "seam_jump_ratio": boot(seam_ratios),
        "hallucination_index": boot(halluc),
        "params": int(params),
        "train_s": float(train_s),
        "gen_s_per_audio_s": float(gen_s) / float(audio_s),
    })
    return core
