"""Maqam and tonic estimation from audio: the report's FFT method, and one that works.

Two estimators, both returning an :class:`Estimate`:

* :func:`estimate_fft` -- the report's method (Phase 1): the dominant frequencies of the
  global FFT are folded to pitch classes on the 24-TET (50-cent) grid, and the maqam whose
  scale, on some tonic, holds the most spectral weight of them wins. ``segment="outer_thirds"``
  looks only at the opening and closing thirds of the recording, as the report suggests.
* :func:`estimate` -- pitch tracking (probabilistic YIN), a fine pitch-class distribution
  (PCD), tonic estimation from the final note (*qafla*) and other cues, and template matching
  of every (maqam, tonic) pair.

And one judge for when the tonic is known (a generation conditioned on it, a window cut from
the middle of a piece, which has no closing cadence to find the tonic from):

* :func:`estimate_given_tonic` -- the same PCD and templates, the tonic held at the given one.

The pitch-based estimator, step by step:

1. **Pitch track** (:func:`pitch_track`): ``librosa.pyin`` on the signal resampled to
   :data:`ANALYSIS_SR`, 55-1000 Hz, giving ``f0(t)`` and the voicing probability ``p_v(t)``.
2. **PCD** (:func:`pitch_class_distribution`): each voiced frame adds ``p_v`` to the bin of its
   pitch class ``c = 1200 log2(f0 / f_C) mod 1200`` (linear interpolation between the two
   nearest of :data:`PCD_BINS` bins), then circular Gaussian smoothing; sums to 1. Bin 0 is C.
3. **Tonic evidence** (:func:`tonic_cues`, :func:`tonic_evidence`): the last held note
   (:func:`tonic_from_qafla`), the final note even when it is trilled or too short to be held
   (:func:`tonic_from_final`), the lowest frequent held pitch (:func:`tonic_from_lowest`), the
   pitch class most held in long notes (:func:`tonic_from_long_notes`) and the PCD peak, each a
   circular Gaussian bump over the bins, weighted by :data:`TONIC_WEIGHTS` (chosen by
   measurement, see ``benchmarks/bench_estimate.py``: the two final-note cues decide, the
   lowest pitch breaks their ties; the long-note and peak cues measured no better than
   nothing and weigh 0).
4. **Templates** (:func:`maqam_template`): each maqam's degrees as played
   (:data:`maqamgen.maqam.INTONATION_CENTS` where present), all of equal weight
   (:data:`DEGREE_WEIGHTS`), as Gaussian bumps over the bins. A template says which pitch
   classes a maqam has, not how often each is played: weighting the tonic and the ghammaz
   made a frequent shared degree outvote a rare distinguishing one (a bayati phrase whose
   fourth is seldom played read as saba, whose ghammaz is the often-played third) and made
   the most played note pull the tonic (an ajam phrase on F lingering on D read as nahawand
   on D, its relative: the two share all but one degree).
5. **Joint scores** (:func:`template_scores`): for every maqam ``m`` and tonic bin ``b``,
   ``S(m, b) = kappa * L(PCD | roll(T_m, b)) + lambda * E_tonic(b)`` (``L``: mean
   log-likelihood of the PCD under the template with a floor; cosine similarity is the
   alternative, and measurably worse); a softmax over all
   ``(m, b)`` gives the posterior, summed over ``b`` per maqam. Rast on C and sikah on
   E-half-flat have the same pitch classes, as have ajam on F, kurd on A and (descending)
   nahawand on D: the tonic term decides between them.

Used in: book/part1/02_maqam_estimation.md
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal

from maqamgen import audio
from maqamgen import maqam as mq
from maqamgen import viterbi
from maqamgen.errors import AudioError, ConfigError, MaqamgenError

__all__ = [
    "EstimationError",
    "Estimate",
    "PitchTrack",
    "ESTIMATE_MAQAMAT",
    "pitch_track",
    "pitch_class_distribution",
    "stable_regions",
    "tonic_from_qafla",
    "tonic_from_final",
    "tonic_from_lowest",
    "tonic_from_long_notes",
    "tonic_cues",
    "tonic_evidence",
    "maqam_template",
    "template_scores",
    "estimate",
    "estimate_given_tonic",
    "estimate_fft",
    "estimate_file",
]

ESTIMATE_MAQAMAT: tuple[str, ...] = ("rast", "bayati", "sikah", "hijaz", "saba", "nahawand",
                                     "kurd", "ajam")
"""Maqamat the estimators choose among by default."""

ANALYSIS_SR = 11025
"""Sample rate of the pitch tracker in Hz (the oud's fundamentals lie below 1 kHz)."""

FRAME_LENGTH = 1024
"""pYIN frame length in samples at :data:`ANALYSIS_SR` (93 ms: five periods of the 55 Hz floor)."""

HOP_LENGTH = 384
"""pYIN hop in samples at :data:`ANALYSIS_SR` (34.8 ms); pYIN's Viterbi decoding costs
``O(frames * states^2)``, so the hop sets the speed."""

FMIN_HZ, FMAX_HZ = 55.0, 1000.0
"""Pitch-tracking range in Hz (A1 to B5; the oud's C2 to ~C5 and some headroom)."""

PCD_BINS = 72
"""Bins per octave of the pitch-class distribution (16.7 cents each)."""

PCD_REF_HZ = mq.note_hz("C4")
"""Pitch class 0 of the PCD: C (any octave), in Hz (12-TET, A4 = 440 Hz)."""

PCD_SIGMA_CENTS = 12.0
"""Circular Gaussian smoothing of the PCD, in cents."""

TEMPLATE_SIGMA_CENTS = 22.0
"""Width of each degree's bump in a template, in cents (tolerates intonation variation)."""

DEGREE_WEIGHTS = {"tonic": 1.0, "ghammaz": 1.0, "other": 1.0}
"""Template weight of the tonic, the ghammaz and the other degrees. Equal: measured in
``benchmarks/bench_estimate.py``, weights of (2, 1.5, 1) lost maqam accuracy on the corpus,
on windows without cadence and on another synthesizer's phrases (a rare distinguishing degree
outvoted, a relative maqam's tonic preferred where the melody lingers)."""

TONIC_WEIGHTS = {"qafla": 1.0, "final": 1.0, "lowest": 0.25, "long": 0.0, "peak": 0.0}
"""Weights of the tonic cues (:func:`tonic_cues`) in :func:`tonic_evidence`, chosen on the
corpus's training clips and on phrases of an independent synthesizer
(``benchmarks/bench_estimate.py --dev``): the final note is the strongest cue, found twice
(held, and trill-robust); the lowest held pitch breaks ties; the long-note and PCD-peak cues
point at a relative maqam's tonic where a melody lingers there and did not help."""

TONIC_SIGMA_CENTS = 20.0
"""Width of each tonic cue's bump, in cents."""

TEMPLATE_SCORE = "loglik"
"""How a PCD is matched with a template (:func:`template_scores`): ``"loglik"`` or ``"cosine"``."""

TEMPLATE_FLOOR = 0.05
"""Floor of a template (relative to its peak) in the log-likelihood score."""

KAPPA = 20.0
"""Inverse temperature of the template score in the joint score."""

LAMBDA = 4.0
"""Weight of the tonic evidence (in [0, 1] per bin) in the joint score."""

GIVEN_TONIC_TOL_CENTS = 30.0
"""How far the played tonic may lie from the given one in :func:`estimate_given_tonic`, cents."""

MIN_VOICED_S = 0.5
"""Least voiced time (sum of voicing probabilities times the hop) for an estimate, in s."""

FINAL_SECONDS = 1.0
"""Voiced time at the end examined by :func:`tonic_from_final`, s."""

STABLE_MIN_S = 0.15
"""Shortest stable region (a held note), in s."""

STABLE_TOL_CENTS = 60.0
"""A frame belongs to the current stable region while within this many cents of its median."""


class EstimationError(MaqamgenError):
    """Audio that cannot be judged: no pitched content (noise, clicks, near-silence)."""


@dataclass
class PitchTrack:
    """A pitch track.

    Attributes:
        times: frame centres in s, shape (T,).
        f0_hz: fundamental in Hz, NaN where unvoiced, shape (T,).
        voiced_prob: pYIN voicing probability in [0, 1], shape (T,) (0 where unvoiced).
        hop_s: frame period in s.
    """

    times: np.ndarray
    f0_hz: np.ndarray
    voiced_prob: np.ndarray
    hop_s: float

    @property
    def voiced(self) -> np.ndarray:
        """Boolean mask of voiced frames, shape (T,)."""
        return np.isfinite(self.f0_hz) & (self.voiced_prob > 0)

    @property
    def voiced_seconds(self) -> float:
        """Voicing-probability-weighted voiced time in s."""
        return float(np.sum(self.voiced_prob[self.voiced]) * self.hop_s)


@dataclass
class Estimate:
    """The result of an estimator.

    Attributes:
        maqam: the estimated maqam.
        tonic_hz: the estimated tonic in Hz (in the register where it was played).
        confidence: posterior probability of ``maqam`` in [0, 1] (softmax over hypotheses).
        scores: posterior probability per maqam (sums to 1).
        pcd: pitch-class distribution, shape (B,), sums to 1; bin 0 is C. :data:`PCD_BINS`
            bins for :func:`estimate`; 24 (quarter tones, weights of the dominant peaks)
            for :func:`estimate_fft`.
        tonic_candidates: named tonic cues in Hz (:func:`tonic_cues` for :func:`estimate`;
            ``given`` for :func:`estimate_given_tonic`; ``strongest`` for
            :func:`estimate_fft`); absent when not found.
        method: ``"pcd"``, ``"pcd_given_tonic"``, ``"fft"`` or ``"fft_outer_thirds"``.
        details: extra arrays for plots (the joint score matrix, the dominant frequencies).
    """

    maqam: str
    tonic_hz: float
    confidence: float
    scores: dict[str, float]
    pcd: np.ndarray
    tonic_candidates: dict[str, float] = field(default_factory=dict)
    method: str = "pcd"
    details: dict = field(default_factory=dict)

    @property
    def tonic_pitch_class_cents(self) -> float:
        """The tonic's pitch class in cents above C, in [0, 1200)."""
        return float(np.mod(mq.cents(self.tonic_hz, PCD_REF_HZ), 1200.0))

    def to_dict(self, digits: int = 4) -> dict:
        """JSON-ready summary: ``maqam``, ``tonic_hz``, ``confidence``, ``scores``, ``method``."""
        return {"maqam": self.maqam, "tonic_hz": round(float(self.tonic_hz), 2),
                "confidence": round(float(self.confidence), digits),
                "scores": {k: round(float(v), digits) for k, v in self.scores.items()},
                "method": self.method}


# ----------------------------------------------------------------------------- helpers


def _check_mono(y, sr) -> np.ndarray:
    y = audio.check_audio(y, sr, allow_silent=True)
    if y.ndim != 1:
        raise AudioError(f"expects a mono signal (n_samples,), got shape {y.shape}", "<array>")
    return y


def _maqamat(maqamat) -> tuple[str, ...]:
    names = tuple(mq.get_maqam(n).name for n in (ESTIMATE_MAQAMAT if maqamat is None else maqamat))
    if not names:
        raise ConfigError("at least one maqam is needed to estimate among")
    return names


def _circular_gaussian(n_bins: int, centers_bins, sigma_bins: float, weights=None) -> np.ndarray:
    """Sum of wrapped Gaussian bumps on a circle of ``n_bins`` bins, shape (n_bins,)."""
    centers = np.atleast_1d(np.asarray(centers_bins, dtype=float))
    w = np.ones_like(centers) if weights is None else np.asarray(weights, dtype=float)
    b = np.arange(n_bins, dtype=float)
    d = b[None, :] - centers[:, None]
    d = (d + n_bins / 2) % n_bins - n_bins / 2  # signed circular distance
    return np.sum(w[:, None] * np.exp(-0.5 * (d / sigma_bins) ** 2), axis=0)


def _circular_smooth(h: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Circular convolution of ``h`` (shape (B,)) with a wrapped Gaussian of ``sigma_bins``."""
    if sigma_bins <= 0:
        return h
    k = _circular_gaussian(h.size, [0.0], sigma_bins)
    return np.real(np.fft.ifft(np.fft.fft(h) * np.fft.fft(k)))


def _pitch_class_cents(f_hz) -> np.ndarray:
    """Pitch class in cents above C in [0, 1200), same shape as ``f_hz``."""
    return np.mod(mq.cents(f_hz, PCD_REF_HZ), 1200.0)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, 0.5 * cw[-1])])


# ----------------------------------------------------------------------------- pitch


def pitch_track(y, sr: int, fmin: float = FMIN_HZ, fmax: float = FMAX_HZ,
                analysis_sr: int = ANALYSIS_SR, hop_length: int = HOP_LENGTH,
                frame_length: int = FRAME_LENGTH) -> PitchTrack:
    """Probabilistic-YIN pitch track of a mono signal.

    The signal is resampled to ``analysis_sr`` (polyphase, exact ratio) when its rate is
    higher; at a lower rate the frame and hop scale with it. ``librosa.pyin`` decodes its
    pitch states with :func:`maqamgen.viterbi.viterbi`, which gives librosa's states exactly in a
    fraction of the time (its transitions are banded).

    Args:
        y: mono signal, shape (n_samples,), full scale = 1.
        sr: its sample rate in Hz.
        fmin, fmax: pitch range in Hz.
        analysis_sr: rate the tracker runs at, in Hz.
        hop_length, frame_length: hop and frame in samples at ``analysis_sr``.

    Returns:
        The :class:`PitchTrack` (f0 quantised to pYIN's 10-cent grid).

    Used in: book/part1/02_maqam_estimation.md
    """
    import librosa

    y = _check_mono(y, sr)
    if sr > analysis_sr:
        g = math.gcd(int(sr), int(analysis_sr))
        y = signal.resample_poly(y, analysis_sr // g, sr // g).astype(np.float32)
        rate = int(analysis_sr)
    else:
        rate = int(sr)
    scale = rate / analysis_sr
    frame = max(64, int(round(frame_length * scale)))
    hop = max(16, int(round(hop_length * scale)))
    fmax = min(fmax, 0.45 * rate)
    if y.size < frame:
        y = np.pad(y, (0, frame - y.size))
    with viterbi.in_librosa():  # the same states, decoded in O(T S w) instead of O(T S^2)
        f0, voiced, prob = librosa.pyin(y, fmin=fmin, fmax=fmax, sr=rate, frame_length=frame,
                                        hop_length=hop, center=True)
    prob = np.where(voiced, np.nan_to_num(prob), 0.0)
    times = np.arange(f0.size) * hop / rate
    return PitchTrack(times=times, f0_hz=np.where(voiced, f0, np.nan), voiced_prob=prob,
                      hop_s=hop / rate)


def pitch_class_distribution(f0_hz, weights=None, n_bins: int = PCD_BINS,
                             sigma_cents: float = PCD_SIGMA_CENTS) -> np.ndarray:
    """Pitch-class distribution of a set of pitches: a smoothed, octave-folded histogram.

    ``c = 1200 log2(f0 / f_C) mod 1200`` goes to the bins ``c / (1200 / n_bins)`` with linear
    interpolation between the two nearest bin centres, weighted; the histogram is then
    smoothed with a wrapped Gaussian of ``sigma_cents`` and normalised to sum 1.

    Args:
        f0_hz: pitches in Hz, shape (T,); NaN entries are skipped.
        weights: per-pitch weights (e.g. voicing probabilities), shape (T,); default 1.
        n_bins: bins per octave (72 = 16.7 cents, 48 = 25 cents).
        sigma_cents: smoothing width in cents (0 for none).

    Returns:
        PCD, shape (n_bins,), sums to 1 (all zeros when nothing is voiced); bin ``i`` is
        centred on ``i * 1200 / n_bins`` cents above C.

    Used in: lib/maqamgen/metrics.py, lib/maqamgen/evaluation.py
    """
    f = np.asarray(f0_hz, dtype=float).ravel()
    w = np.ones_like(f) if weights is None else np.asarray(weights, dtype=float).ravel()
    ok = np.isfinite(f) & (f > 0) & np.isfinite(w) & (w > 0)
    h = np.zeros(n_bins)
    if not ok.any():
        return h
    pos = _pitch_class_cents(f[ok]) / (1200.0 / n_bins)
    lo = np.floor(pos).astype(int)
    frac = pos - lo
    np.add.at(h, lo % n_bins, w[ok] * (1.0 - frac))
    np.add.at(h, (lo + 1) % n_bins, w[ok] * frac)
    h = np.maximum(_circular_smooth(h, sigma_cents / (1200.0 / n_bins)), 0.0)
    return h / h.sum()


# ----------------------------------------------------------------------------- tonic


def stable_regions(track: PitchTrack, min_s: float = STABLE_MIN_S,
                   tol_cents: float = STABLE_TOL_CENTS) -> list[dict]:
    """Held notes of a pitch track: runs of voiced frames that stay near one pitch.

    A run grows while each voiced frame lies within ``tol_cents`` of the run's median pitch
    (vibrato stays in; a step to the next degree, >= 100 cents, starts a new run); an
    unvoiced frame ends it. Runs shorter than ``min_s`` are dropped.

    Args:
        track: the pitch track.
        min_s: shortest held note in s.
        tol_cents: tolerance around the running median in cents.

    Returns:
        Regions in time order, each ``{"start_s", "end_s", "seconds", "hz", "weight"}``
        (``hz``: voicing-weighted median pitch; ``weight``: summed voicing probability).
    """
    voiced = track.voiced
    c_all = np.where(voiced, mq.cents(np.where(voiced, track.f0_hz, 1.0), PCD_REF_HZ), np.nan)
    regions, cur = [], []

    def close():
        if len(cur) * track.hop_s >= min_s:
            idx = np.asarray(cur)
            w = track.voiced_prob[idx]
            c = _weighted_median(c_all[idx], w)
            regions.append({"start_s": float(track.times[idx[0]]), "end_s": float(track.times[idx[-1]]),
                            "seconds": len(idx) * track.hop_s, "hz": float(mq.hz(c, PCD_REF_HZ)),
                            "weight": float(w.sum())})

    for i in range(c_all.size):
        if not voiced[i]:
            close()
            cur = []
            continue
        if cur and abs(c_all[i] - np.median(c_all[cur[-8:]])) > tol_cents:
            close()
            cur = []
        cur.append(i)
    close()
    return regions


def tonic_from_qafla(regions: list[dict], min_s: float = 0.3) -> float | None:
    """The tonic as the final note (qafla): the pitch of the last held note.

    Args:
        regions: :func:`stable_regions` output.
        min_s: the last region at least this long counts (shorter ones at the very end are
            ornaments or the decay); falls back to the last region.

    Returns:
        Pitch in Hz, or None without regions.
    """
    if not regions:
        return None
    for r in reversed(regions):
        if r["seconds"] >= min_s:
            return r["hz"]
    return regions[-1]["hz"]


def tonic_from_final(track: PitchTrack, seconds: float = FINAL_SECONDS, share: float = 0.8
                     ) -> float | None:
    """The tonic as the final note, robust to an ornamented ending (a trill, a tremolo).

    The last ``seconds`` of voiced frames are pooled per quarter tone (absolute pitch,
    voicing-weighted). The largest pool is the final note, unless a lower pool
    holds at least ``share`` of its weight: a trill alternates between its main note and the
    one above about equally, and the main note is the lower. Unlike
    :func:`tonic_from_qafla`, this needs no held note: a trilled tonic breaks into runs too
    short to be stable regions.

    Args:
        track: the pitch track.
        seconds: voiced time at the end that is examined, s.
        share: a lower pool within this fraction of the largest wins.

    Returns:
        Pitch in Hz (the winning pool's weighted median), or None when nothing is voiced.
    """
    idx = np.flatnonzero(track.voiced)
    if idx.size == 0:
        return None
    idx = idx[-max(1, int(round(seconds / track.hop_s))):]
    c = mq.cents(track.f0_hz[idx], PCD_REF_HZ)
    w = track.voiced_prob[idx]
    q = np.round(c / 50.0).astype(int)
    pools, inv = np.unique(q, return_inverse=True)
    wt = np.bincount(inv, weights=w)
    # a pool and its two neighbours (vibrato and intonation spread a note over adjacent bins)
    spread = np.array([wt[np.abs(pools - p) <= 1].sum() for p in pools])
    best = int(np.argmax(spread))
    low = np.flatnonzero(spread >= share * spread[best])
    k = int(low[np.argmin(pools[low])])
    sel = np.abs(q - pools[k]) <= 1
    return float(mq.hz(_weighted_median(c[sel], w[sel]), PCD_REF_HZ))


def _quarter_tone_pools(regions: list[dict], fold: bool):
    """Held notes as (cents re :data:`PCD_REF_HZ`, seconds, quarter-tone pool index), the pools
    octave-folded (24 per octave) when ``fold``."""
    c = np.array([mq.cents(r["hz"], PCD_REF_HZ) for r in regions])
    s = np.array([r["seconds"] for r in regions])
    q = np.round((np.mod(c, 1200.0) if fold else c) / 50.0).astype(int)
    return c, s, (q % 24 if fold else q)


def tonic_from_lowest(regions: list[dict], min_share: float = 0.08) -> float | None:
    """The tonic as the lowest frequent held pitch (the qarar, the floor of the melody).

    Held notes are pooled per quarter tone (absolute pitch); the lowest pool holding at
    least ``min_share`` of the held time wins.

    Args:
        regions: :func:`stable_regions` output.
        min_share: least share of the held time for a pitch to count as frequent.

    Returns:
        Pitch in Hz, or None without regions.
    """
    if not regions:
        return None
    c, s, q = _quarter_tone_pools(regions, fold=False)
    total = s.sum()
    for qt in np.unique(q):
        sel = q == qt
        if s[sel].sum() >= min_share * total:
            return float(mq.hz(_weighted_median(c[sel], s[sel]), PCD_REF_HZ))
    return None


def tonic_from_long_notes(regions: list[dict], power: float = 2.0) -> float | None:
    """The tonic as the pitch class most held in long notes (where phrases come to rest).

    Held notes are pooled per pitch class (quarter tone, octave-folded); each pool weighs
    ``sum seconds ** power`` over its notes, so one long note counts more than several short
    ones of the same total length. The pitch of the winning pool's longest note is returned.

    Args:
        regions: :func:`stable_regions` output.
        power: exponent of the note length in the pool weight.

    Returns:
        Pitch in Hz, or None without regions.
    """
    if not regions:
        return None
    c, s, q = _quarter_tone_pools(regions, fold=True)
    w = np.bincount(q, weights=s ** power, minlength=24)
    sel = np.flatnonzero(q == int(np.argmax(w)))
    return float(regions[int(sel[np.argmax(s[sel])])]["hz"])


def tonic_cues(track: PitchTrack, regions: list[dict] | None = None, pcd: np.ndarray | None = None
               ) -> dict[str, float]:
    """Every tonic cue of a pitch track, in Hz: ``qafla`` (:func:`tonic_from_qafla`), ``final``
    (:func:`tonic_from_final`), ``lowest`` (:func:`tonic_from_lowest`), ``long``
    (:func:`tonic_from_long_notes`) and ``peak`` (the PCD's highest bin, as a pitch class
    above C4); a cue that cannot be found is absent. :data:`TONIC_WEIGHTS` says how much each
    counts in :func:`estimate`.

    Args:
        track: the pitch track.
        regions: its :func:`stable_regions` (computed when None).
        pcd: its :func:`pitch_class_distribution` (computed when None).
    """
    regions = stable_regions(track) if regions is None else regions
    pcd = pitch_class_distribution(track.f0_hz, track.voiced_prob) if pcd is None else pcd
    cands: dict[str, float] = {}
    for key, f in (("qafla", tonic_from_qafla(regions)), ("final", tonic_from_final(track)),
                   ("lowest", tonic_from_lowest(regions)), ("long", tonic_from_long_notes(regions))):
        if f is not None:
            cands[key] = f
    if pcd.any():
        cands["peak"] = float(mq.hz(np.argmax(pcd) * 1200.0 / pcd.size, PCD_REF_HZ))
    return cands


def tonic_evidence(candidates: dict[str, float], n_bins: int = PCD_BINS,
                   weights: dict[str, float] | None = None,
                   sigma_cents: float = TONIC_SIGMA_CENTS) -> np.ndarray:
    """Evidence for each pitch-class bin being the tonic, from named tonic cues.

    ``E(b) = sum_c w_c exp(-d(b, c)^2 / (2 sigma^2)) / sum_c w_c`` with ``d`` the circular
    distance in cents between bin ``b`` and cue ``c``'s pitch class.

    Args:
        candidates: cue name -> pitch in Hz (``qafla``, ``lowest``, ``peak``).
        n_bins: PCD bins per octave.
        weights: cue name -> weight (default :data:`TONIC_WEIGHTS`); unknown cues weigh 0.
        sigma_cents: width of each bump in cents.

    Returns:
        Evidence in [0, 1], shape (n_bins,).
    """
    weights = TONIC_WEIGHTS if weights is None else weights
    names = [k for k in candidates if weights.get(k, 0.0) > 0]
    if not names:
        return np.zeros(n_bins)
    pos = _pitch_class_cents(np.array([candidates[k] for k in names])) / (1200.0 / n_bins)
    w = np.array([weights[k] for k in names])
    return _circular_gaussian(n_bins, pos, sigma_cents / (1200.0 / n_bins), w) / w.sum()


# ----------------------------------------------------------------------------- templates


def _played_degrees(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A maqam's degrees as played, in cents above the played tonic, and their weights.

    Practice intonation (``maqam.INTONATION_CENTS``, offsets on the fixed grid, so relative
    to the played tonic ``off[i] - off[0]``), the descending-form notes
    (``maqam.DESCENDING_QT_DELTA``) at half weight, and a non-octave 8th degree
    (``maqam.OCTAVE_CENTS``, saba's diminished octave) at half weight, where those tables exist.
    """
    m = mq.get_maqam(name)
    deg = np.asarray(m.degrees_cents, dtype=float)
    off = getattr(mq, "INTONATION_CENTS", {}).get(name, {})
    played = deg + np.array([off.get(i, 0.0) - off.get(0, 0.0) for i in range(deg.size)])
    w = np.full(deg.size, DEGREE_WEIGHTS["other"])
    w[m.ghammaz] = DEGREE_WEIGHTS["ghammaz"]
    w[0] = DEGREE_WEIGHTS["tonic"]
    extra_c, extra_w = [], []
    for i, dq in getattr(mq, "DESCENDING_QT_DELTA", {}).get(name, {}).items():
        extra_c.append(deg[i] + mq.QUARTER_TONE_CENTS * dq - off.get(0, 0.0))
        extra_w.append(0.5 * w[i])
    octave = getattr(mq, "OCTAVE_CENTS", {}).get(name)
    if octave is not None and abs(octave - 1200.0) > 1e-6:
        extra_c.append(float(octave))
        extra_w.append(0.5)
    return np.concatenate([played, extra_c]), np.concatenate([w, extra_w])


def maqam_template(name: str, n_bins: int = PCD_BINS,
                   sigma_cents: float = TEMPLATE_SIGMA_CENTS) -> np.ndarray:
    """Template PCD of a maqam with its tonic in bin 0.

    ``T(b) = sum_i w_i exp(-d(b, d_i)^2 / (2 sigma^2))`` over the played degrees ``d_i``
    (practice intonation where known), with weights :data:`DEGREE_WEIGHTS` (tonic, ghammaz,
    others); normalised to sum 1. Rotate it by the tonic's bin (``np.roll``) to compare it
    with a PCD.

    Args:
        name: maqam name.
        n_bins: bins per octave.
        sigma_cents: width of each degree's bump in cents.

    Returns:
        Template, shape (n_bins,), sums to 1.

    Used in: book/part1/02_maqam_estimation.md
    """
    c, w = _played_degrees(mq.get_maqam(name).name)
    t = _circular_gaussian(n_bins, np.mod(c, 1200.0) / (1200.0 / n_bins), sigma_cents / (1200.0 / n_bins), w)
    return t / t.sum()


def template_scores(pcd: np.ndarray, maqamat=None, kind: str = "loglik") -> np.ndarray:
    """Match a PCD with every maqam template on every tonic bin.

    * ``"cosine"``: ``C[m, b] = <pcd, roll(T_m, b)> / (|pcd| |T_m|)``, in [0, 1].
    * ``"loglik"``: the mean log-likelihood of the played pitch classes under the template
      scaled to peak 1 and given a floor, ``L[m, b] = sum_k pcd[k] log((1 - eps) T_m[k - b] /
      max T_m + eps)`` with ``eps =`` :data:`TEMPLATE_FLOOR` (nats per frame, <= 0). Unlike the
      cosine, it punishes every pitch class the maqam does not have, so scales that share
      most degrees (kurd / bayati, bayati / saba) separate on the one degree they do not.

    Both are computed for all ``b`` at once as circular cross-correlations by FFT.

    Args:
        pcd: pitch-class distribution, shape (B,), sums to 1.
        maqamat: names (default :data:`ESTIMATE_MAQAMAT`).
        kind: ``"loglik"`` or ``"cosine"``.

    Returns:
        Scores, shape (len(maqamat), B); entry ``[m, b]`` has the tonic in bin ``b``.
    """
    if kind not in ("loglik", "cosine"):
        raise ConfigError(f"unknown template score {kind!r}; use loglik or cosine")
    names = _maqamat(maqamat)
    pcd = np.asarray(pcd, dtype=float)
    n = pcd.size
    T = np.stack([maqam_template(m, n) for m in names])
    if kind == "loglik":
        T = np.log((1.0 - TEMPLATE_FLOOR) * T / T.max(axis=1, keepdims=True) + TEMPLATE_FLOOR)
    # sum_k pcd[k] T[(k - b) mod n]: circular cross-correlation
    num = np.real(np.fft.ifft(np.fft.fft(pcd)[None, :] * np.conj(np.fft.fft(T, axis=1)), axis=1))
    if kind == "loglik":
        return num
    den = np.linalg.norm(pcd) * np.linalg.norm(T, axis=1)[:, None]
    return np.clip(num / np.maximum(den, 1e-12), 0.0, 1.0)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def _tonic_register_hz(pc_cents: float, regions: list[dict], track: PitchTrack,
                       prefer_hz: float | None) -> float:
    """Place a tonic pitch class in the register where it was played, in Hz.

    Prefers ``prefer_hz`` (the qafla) when it has the same pitch class (within 50 cents),
    then the held notes of that class (the longest in total, pitch refined to their median).
    """
    def same_class(f):
        d = np.mod(_pitch_class_cents(f) - pc_cents + 600.0, 1200.0) - 600.0
        return abs(d) < 50.0

    if prefer_hz is not None and same_class(prefer_hz):
        return float(prefer_hz)
    held = [r for r in regions if same_class(r["hz"])]
    if held:
        return float(max(held, key=lambda r: r["seconds"])["hz"])
    f = track.f0_hz[track.voiced]
    med = float(np.median(f)) if f.size else 150.0
    c = mq.cents(med, PCD_REF_HZ)
    k = np.round((c - pc_cents) / 1200.0)
    return float(mq.hz(pc_cents + 1200.0 * k, PCD_REF_HZ))


# ----------------------------------------------------------------------------- estimators


def _voiced_pcd(y, sr, track, path):
    """The pitch track (computed unless given) and its PCD; refuses audio with too little pitch."""
    if track is None:
        track = pitch_track(y, sr)
    if track.voiced_seconds < MIN_VOICED_S:
        raise EstimationError(f"no pitched content ({track.voiced_seconds:.2f} s voiced, "
                              f"need {MIN_VOICED_S} s)", path)
    return track, pitch_class_distribution(track.f0_hz, track.voiced_prob)


def estimate(y, sr: int, maqamat=None, method: str = "joint",
             tonic_weights: dict[str, float] | None = None, track: PitchTrack | None = None,
             path: str | Path | None = None) -> Estimate:
    """Estimate the maqam and tonic of a recording from its pitch track.

    Args:
        y: mono signal, shape (n_samples,), full scale = 1.
        sr: sample rate in Hz.
        maqamat: candidate maqam names (default :data:`ESTIMATE_MAQAMAT`).
        method: ``"joint"`` scores every (maqam, tonic) pair,
            ``S = KAPPA * L + LAMBDA * E_tonic`` (:func:`template_scores`); ``"tonic_first"`` fixes the tonic at the
            peak of the tonic evidence, then picks the best template there;
            ``"template_only"`` ignores the tonic cues (``LAMBDA = 0``; for comparison).
        tonic_weights: weights of the tonic cues (default :data:`TONIC_WEIGHTS`).
        track: a precomputed :func:`pitch_track` of ``y`` (skips tracking).
        path: file name reported in errors.

    Returns:
        The :class:`Estimate`; ``scores`` are posterior probabilities per maqam,
        ``details["joint"]`` the score matrix (n_maqamat, :data:`PCD_BINS`).

    Raises:
        EstimationError: no pitched content (less than :data:`MIN_VOICED_S` voiced).
        AudioError: invalid samples or sample rate.
        ConfigError: unknown maqam or method.

    Used in: book/part1/02_maqam_estimation.md, book/part2/07_lstm_tokens.md
    """
    if method not in ("joint", "tonic_first", "template_only"):
        raise ConfigError(f"unknown method {method!r}; use joint, tonic_first or template_only")
    names = _maqamat(maqamat)
    track, pcd = _voiced_pcd(y, sr, track, path)
    regions = stable_regions(track)
    cands = tonic_cues(track, regions, pcd)
    ev = tonic_evidence(cands, pcd.size, tonic_weights)
    tpl = template_scores(pcd, names, TEMPLATE_SCORE)
    if method == "tonic_first":
        b = int(np.argmax(ev))
        joint = np.full_like(tpl, -np.inf)
        joint[:, b] = KAPPA * tpl[:, b]
    else:
        joint = KAPPA * tpl + (0.0 if method == "template_only" else LAMBDA) * ev[None, :]
    post = _softmax(joint.ravel()).reshape(joint.shape)
    by_maqam = post.sum(axis=1)
    i, b = np.unravel_index(int(np.argmax(joint)), joint.shape)
    best = names[int(np.argmax(by_maqam))] if method != "tonic_first" else names[int(i)]
    if best != names[int(i)]:  # the marginal winner: its own best tonic
        i = names.index(best)
        b = int(np.argmax(joint[i]))
    pc = b * 1200.0 / pcd.size
    tonic_hz = _tonic_register_hz(pc, regions, track, cands.get("qafla"))
    return Estimate(maqam=best, tonic_hz=tonic_hz, confidence=float(by_maqam[names.index(best)]),
                    scores={n: float(p) for n, p in zip(names, by_maqam)}, pcd=pcd,
                    tonic_candidates=cands, method="pcd",
                    details={"joint": joint, "template": tpl, "tonic_evidence": ev,
                             "regions": regions, "track": track})


def estimate_given_tonic(y, sr: int, tonic_hz: float, maqamat=None, track: PitchTrack | None = None,
                         tol_cents: float = GIVEN_TONIC_TOL_CENTS, path: str | Path | None = None
                         ) -> Estimate:
    """The most likely maqam when the tonic is known (a conditioned generation's asked tonic).

    No tonic has to be found, so no cadence is needed: only the template term of
    :func:`estimate` is scored, with the tonic held near the given one. The played tonic may
    sit a little off the asked pitch (intonation, tuning), so the tonic bin ``b`` ranges over
    the bins within ``tol_cents`` of it, under a Gaussian prior of width ``tol_cents / 2``:

        ``S(m, b) = KAPPA * L(PCD | roll(T_m, b)) - d(b, t)^2 / (2 (tol / 2)^2)``,

    and the posterior of maqam ``m`` is the softmax of ``S`` summed over those ``b``.

    Args:
        y: mono signal, shape (n_samples,), full scale = 1 (ignored when ``track`` is given).
        sr: sample rate in Hz.
        tonic_hz: the known tonic in Hz (any octave).
        maqamat: candidate maqam names (default :data:`ESTIMATE_MAQAMAT`).
        track: a precomputed :func:`pitch_track` of ``y`` (skips tracking).
        tol_cents: how far from ``tonic_hz`` the played tonic may lie, cents.
        path: file name reported in errors.

    Returns:
        The :class:`Estimate` with ``tonic_hz`` the given tonic and ``method``
        ``"pcd_given_tonic"``; ``details["tonic_offset_cents"]`` is the offset of the best
        tonic bin from the given tonic, ``details["joint"]`` the score matrix (n_maqamat,
        :data:`PCD_BINS`), ``-inf`` outside the tolerance.

    Raises:
        EstimationError: no pitched content (less than :data:`MIN_VOICED_S` voiced).
        AudioError: invalid samples or sample rate; ConfigError: unknown maqam, or a tonic
            that is not a positive frequency.
    """
    if not (np.isfinite(tonic_hz) and tonic_hz > 0):
        raise ConfigError(f"tonic_hz={tonic_hz} must be a positive frequency in Hz")
    names = _maqamat(maqamat)
    track, pcd = _voiced_pcd(y, sr, track, path)
    tpl = template_scores(pcd, names, TEMPLATE_SCORE)
    n = pcd.size
    bin_c = 1200.0 / n
    t = float(_pitch_class_cents(tonic_hz))
    d = np.mod(np.arange(n) * bin_c - t + 600.0, 1200.0) - 600.0  # bin minus tonic, cents
    near = np.abs(d) <= max(tol_cents, bin_c / 2)
    prior = np.where(near, -0.5 * (d / max(tol_cents / 2.0, 1e-6)) ** 2, -np.inf)
    joint = KAPPA * tpl + prior[None, :]
    post = _softmax(joint.ravel()).reshape(joint.shape)
    by_maqam = post.sum(axis=1)
    i = int(np.argmax(by_maqam))
    b = int(np.argmax(joint[i]))
    return Estimate(maqam=names[i], tonic_hz=float(tonic_hz), confidence=float(by_maqam[i]),
                    scores={m: float(p) for m, p in zip(names, by_maqam)}, pcd=pcd,
                    tonic_candidates={"given": float(tonic_hz)}, method="pcd_given_tonic",
                    details={"joint": joint, "template": tpl, "tonic_offset_cents": float(d[b]),
                             "track": track})


def estimate_fft(y, sr: int, segment: str = "all", k: int = 12, maqamat=None,
                 tonics: str = "grid", fmin: float = FMIN_HZ, fmax: float = FMAX_HZ,
                 tol_cents: float = 25.0) -> Estimate:
    """The report's method: match the dominant FFT pitch classes against each maqam's scale.

    The ``k`` strongest peaks of the global spectrum (:func:`maqamgen.audio.dominant_frequencies`,
    ``fmin``-``fmax``) are folded to pitch classes; each peak weighs its linear magnitude
    ``w_i = 10^(L_i / 20)``. A hypothesis (maqam ``m``, tonic ``t``) scores the weight of the
    peaks lying within ``tol_cents`` of a scale degree, plus a tie-break: the weight of the
    peak on the tonic itself (the tonic is the most sounded note),
    ``S(m, t) = sum_i w_i [pc_i in scale(m, t)] + 0.5 w(t)``, normalised by ``sum_i w_i``.
    Tonics are every 24-TET quarter tone (``tonics="grid"``) or the maqam's usual oud tonics
    (``"usual"``). Confidence: a softmax over the hypotheses (inverse temperature 20).

    Args:
        y: mono signal, shape (n_samples,).
        sr: sample rate in Hz.
        segment: ``"all"``, or ``"outer_thirds"``: only the first and last third of the
            recording (concatenated), where the report found modulations disturb less.
        k: number of dominant peaks.
        maqamat: candidate names (default :data:`ESTIMATE_MAQAMAT`).
        tonics: ``"grid"`` or ``"usual"``.
        fmin, fmax: peak search band in Hz.
        tol_cents: how close a peak's pitch class must be to a scale degree, in cents.

    Returns:
        The :class:`Estimate` (method ``"fft"`` or ``"fft_outer_thirds"``); ``pcd`` has 24
        bins (quarter tones above C) holding the dominant peaks' weights;
        ``details["dominant_hz"]`` the peaks.

    Raises:
        EstimationError: no spectral peak in the band.
        ConfigError: bad segment, tonics or maqam.

    Used in: book/part1/02_maqam_estimation.md
    """
    if segment not in ("all", "outer_thirds"):
        raise ConfigError(f"unknown segment {segment!r}; use all or outer_thirds")
    if tonics not in ("grid", "usual"):
        raise ConfigError(f"unknown tonics {tonics!r}; use grid or usual")
    names = _maqamat(maqamat)
    y = audio.check_audio(y, sr)
    if y.ndim != 1:
        raise AudioError(f"expects a mono signal (n_samples,), got shape {y.shape}", "<array>")
    if segment == "outer_thirds":
        n3 = y.size // 3
        if n3 > 0:
            y = np.concatenate([y[:n3], y[-n3:]])
    f, level = audio.dominant_frequencies(y, sr, k=k, fmin=fmin, fmax=fmax)
    if f.size == 0:
        raise EstimationError("no pitched content (no spectral peak between "
                              f"{fmin:.0f} and {fmax:.0f} Hz)")
    w = 10.0 ** (level / 20.0)
    pc = _pitch_class_cents(f)
    hyps, scores = [], []
    for name in names:
        m = mq.get_maqam(name)
        deg = np.asarray(m.degrees_cents)
        if tonics == "grid":
            t_list = np.arange(24) * 50.0
        else:
            t_list = np.unique([_pitch_class_cents(mq.note_hz(t)) for t in (m.tonic_name, *m.alt_tonic_names)])
        for t in t_list:
            d = np.mod(pc[:, None] - (t + deg)[None, :] + 600.0, 1200.0) - 600.0
            inside = np.min(np.abs(d), axis=1) <= tol_cents
            dt = np.abs(np.mod(pc - t + 600.0, 1200.0) - 600.0) <= tol_cents
            hyps.append((name, float(t)))
            scores.append((np.sum(w[inside]) + 0.5 * np.sum(w[dt])) / np.sum(w))
    scores = np.asarray(scores)
    post = _softmax(20.0 * scores)
    by_maqam = {n: float(sum(p for (hn, _), p in zip(hyps, post) if hn == n)) for n in names}
    best_name, best_t = hyps[int(np.argmax(scores))]
    on_tonic = [fi for fi, p in zip(f, pc) if abs(np.mod(p - best_t + 600.0, 1200.0) - 600.0) <= tol_cents]
    if on_tonic:
        tonic_hz = float(on_tonic[0])  # strongest peak on the tonic's class
    else:
        tonic_hz = float(mq.hz(best_t, mq.note_hz("C3")))
    pcd = np.zeros(24)
    np.add.at(pcd, np.round(pc / 50.0).astype(int) % 24, w)
    return Estimate(maqam=best_name, tonic_hz=tonic_hz, confidence=by_maqam[best_name],
                    scores=by_maqam, pcd=pcd / pcd.sum(), tonic_candidates={"strongest": float(f[0])},
                    method="fft" if segment == "all" else "fft_outer_thirds",
                    details={"dominant_hz": f, "level_db": level})


def estimate_file(path: str | Path, method: str = "pcd", maqamat=None) -> Estimate:
    """Estimate the maqam and tonic of an audio file.

    Args:
        path: audio file (anything :func:`maqamgen.audio.load_audio` reads).
        method: ``"pcd"`` (:func:`estimate`), ``"fft"`` or ``"fft_outer_thirds"``
            (:func:`estimate_fft`).
        maqamat: candidate names (default :data:`ESTIMATE_MAQAMAT`).

    Returns:
        The :class:`Estimate`.

    Raises:
        AudioError: missing, empty, corrupt, non-audio or silent file (names the file).
        EstimationError: no pitched content (names the file).

    Used in: lib/maqamgen/cli.py
    """
    if method not in ("pcd", "fft", "fft_outer_thirds"):
        raise ConfigError(f"unknown method {method!r}; use pcd, fft or fft_outer_thirds")
    y, sr = audio.load_audio(path)
    try:
        if method == "pcd":
            return estimate(y, sr, maqamat=maqamat, path=path)
        return estimate_fft(y, sr, segment="all" if method == "fft" else "outer_thirds",
                            maqamat=maqamat)
    except MaqamgenError as e:
        if e.path in (None, "<array>"):
            raise type(e)(e.problem, path) from None
        raise
