"""Ornaments from audio: vibrato, trill, slide and risha tremolo, found, validated and judged.

The corpus (:func:`maqamgen.corpus.choose_ornament`) draws one ornament per note and the
synthesizer (:mod:`maqamgen.synth`) renders it from the note's label: vibrato, trill and slide
move the pitch; risha tremolo re-plucks the note ``rate_hz`` times a second at a steady pitch.
:func:`detect` finds them again from a pitch track (and the onsets), one note at a time:

1. **Notes.** The voiced frames of the track are cut into segments at the onsets and at
   unvoiced gaps longer than :data:`GAP_S`; the pitch of a segment is ``c(t) = 1200 log2(f0 / 1 Hz)``
   in cents.
2. **Tremolo** (needs onsets): a run of at least :data:`TREMOLO_MIN_PLUCKS` onsets whose
   inter-onset intervals ``Delta`` all lie in ``[1 / TREMOLO_RATE_MAX_HZ, 1 / TREMOLO_RATE_MIN_HZ]``
   (re-plucks at 8 Hz or faster) while the segments between them keep one pitch (each segment's
   median within :data:`TREMOLO_PITCH_TOL_CENTS` of the run's median). Its rate is
   ``1 / median(Delta)``. The run's segments become one note.
3. **Trill**: with ``lo, hi`` the 10th and 90th percentiles of ``c(t)`` past the attack
   (:data:`ATTACK_S`) and before the tail (:data:`TAIL_S`), the interval ``hi - lo >=
   TRILL_MIN_CENTS``, a square wave (at least :data:`TRILL_SQUARE_MIN` of the frames within a
   quarter of the interval of ``lo`` or ``hi``) and at least :data:`TRILL_MIN_SWITCHES` switches
   between the levels (Schmitt trigger at 35 % and 65 % of the interval), at a rate
   ``(switches - 1) / (2 (t_last - t_first switch)) >= TRILL_RATE_MIN_HZ`` full cycles per s.
   The onset detector fires at a trill's pitch changes, so first the runs of contiguous segments
   whose medians alternate between two levels (:data:`TRILL_LEVEL_TOL_CENTS`) are joined and
   checked as one note; a "slide" touching a trill by the trill's interval is joined to it.
4. **Slide**: ``d(t) = c(t) - median(c over the note's second half)``; the note starts at least
   :data:`SLIDE_MIN_CENTS` away (``|d(t_0)|``), reaches ``|d| <= SLIDE_SETTLE_CENTS`` after a
   glide ``T_g`` in ``[SLIDE_MIN_S, SLIDE_MAX_S]``, moving toward the steady pitch in at least
   :data:`SLIDE_MONOTONE_MIN` of its frame steps, and then stays within twice the settling band.
5. **Vibrato**: past the attack and the fade-in (:data:`VIBRATO_SKIP_S`), before the tail, and
   without frames :data:`VIBRATO_OUTLIER_CENTS` off the median, the least-squares fit
   ``c(t) ~ a + b t + A sin(2 pi f t + phi)`` over a grid of ``f`` in
   ``[VIBRATO_RATE_MIN_HZ, VIBRATO_RATE_MAX_HZ]`` (:func:`vibrato_fit`: a periodogram of the
   linearly detrended pitch that tolerates unvoiced gaps, as Lomb-Scargle's); the best ``f`` is
   the rate and ``A`` the extent (peak deviation, the corpus's ``depth_cents``). Vibrato when
   ``A >= VIBRATO_MIN_CENTS`` and the sinusoid explains at least :data:`VIBRATO_MIN_R2` of the
   detrended variance.

Checks are made in that order; a note gets the first ornament that fits, or none. Every
threshold is a module constant, tuned on the corpus's *train* split
(``benchmarks/bench_ornaments.py`` reports the test split). The pitch tracker is FCPE at 10 ms
(:func:`maqamgen.trackers.fcpe_track`): with pYIN's 35-ms hop (Nyquist 14 Hz) a 7-Hz trill's
square wave, a 60-ms slide and a vibrato's extent are blurred, and recall falls for every
kind (``bench_ornaments.py --trackers fcpe pyin`` measures both).

Judging and ground truth: :func:`note_labels` (the labelled ornament of each corpus note),
:func:`frame_labels` (per-frame kinds), :func:`validate` (precision and recall per ornament with
Wilson intervals, confusion, parameter errors) and :func:`control_score` (did an ornament asked
for in a span appear there and nowhere else), with :func:`parse_ornament_spec` for the asked spans.
"""

from __future__ import annotations

import os
import re
import time
from typing import NamedTuple

import numpy as np

from maqamgen import metrics, runtime
from maqamgen.errors import ConfigError
from maqamgen.nets.embeddings import ORNAMENTS

__all__ = [
    "ORNAMENTS", "Detection", "onsets_of", "segments", "vibrato_fit", "detect", "note_labels",
    "frame_labels", "match", "validate", "control_score", "parse_ornament_spec",
]

# ORNAMENTS: the corpus's ornament kinds (:func:`maqamgen.corpus.choose_ornament`) with "none" first,
# defined once in maqamgen.nets.embeddings (the DiT's ornament classes use the same indices).

ONSET_HOP = 256
"""Hop of the onset-strength envelope in samples (11.6 ms at 22.05 kHz)."""

GAP_S = 0.03
"""An unvoiced gap longer than this (s) ends a segment."""

MIN_SEGMENT_S = 0.05
"""Shortest segment analysed, s."""

ATTACK_S = 0.04
"""Frames this long after a segment's start (s) are left out of the trill and vibrato checks."""

TAIL_S = 0.03
"""Frames this long before a segment's end (s) are left out of every pitch check: the onset
detector marks a note ~20 ms late, so a segment's last frames hold the next note."""

TREMOLO_RATE_MIN_HZ = 8.0
"""Slowest re-pluck rate called a tremolo, Hz."""

TREMOLO_RATE_MAX_HZ = 20.0
"""Fastest re-pluck rate accepted, Hz."""

TREMOLO_MIN_PLUCKS = 4
"""Fewest consecutive onsets of a tremolo."""

TREMOLO_PITCH_TOL_CENTS = 40.0
"""Greatest distance of a pluck's median pitch from the tremolo's, cents."""

TRILL_MIN_CENTS = 80.0
"""Smallest trill interval (90th minus 10th percentile of the pitch), cents."""

TRILL_SQUARE_MIN = 0.6
"""Least share of frames within a quarter interval of either trill level."""

TRILL_MIN_SWITCHES = 3
"""Fewest switches between the two trill levels."""

TRILL_RATE_MIN_HZ = 4.0
"""Slowest trill, full cycles per second."""

TRILL_LEVEL_TOL_CENTS = 50.0
"""Segments cut out of a trill by onsets (the detector fires at its pitch changes) are joined
when their medians alternate by at least :data:`TRILL_MIN_CENTS` and every other one lies
within this many cents of the one two before."""

SLIDE_MIN_CENTS = 60.0
"""Smallest slide interval, cents."""

SLIDE_SETTLE_CENTS = 20.0
"""A slide has arrived when within this many cents of the steady pitch."""

SLIDE_MIN_S = 0.045
"""Shortest glide, s."""

SLIDE_MAX_S = 0.4
"""Longest glide, s."""

SLIDE_MONOTONE_MIN = 0.7
"""Least share of the glide's frame steps that move toward the steady pitch."""

VIBRATO_RATE_MIN_HZ = 4.0
"""Slowest vibrato, Hz."""

VIBRATO_RATE_MAX_HZ = 9.0
"""Fastest vibrato, Hz."""

VIBRATO_MIN_CENTS = 5.0
"""Smallest vibrato extent (peak deviation), cents."""

VIBRATO_MIN_R2 = 0.5
"""Least share of the detrended pitch variance the vibrato sinusoid explains."""

VIBRATO_SKIP_S = 0.1
"""Frames this long after a segment's start (s) are left out of the vibrato fit (attack, fade-in)."""

VIBRATO_OUTLIER_CENTS = 100.0
"""Frames farther than this from the note's median pitch are left out of the vibrato fit, cents."""

VIBRATO_MIN_S = 0.3
"""Shortest stretch of pitch the vibrato fit needs (1.2 cycles at 4 Hz), s."""

POINT_SPAN_S = 0.5
"""Length of the span that a point ``kind@t`` asks for in :func:`parse_ornament_spec`, s."""

CONTROL_HOP_S = 0.01
"""Frame period of :func:`control_score`, s."""


class Detection(NamedTuple):
    """One ornament found (or labelled) in time.

    Attributes:
        kind: one of :data:`ORNAMENTS`.
        start_s: start in s.
        end_s: end in s (> start).
        params: the ornament's parameters under the note format's keys
            (:mod:`maqamgen.notes`): vibrato ``rate_hz`` and ``depth_cents`` (the extent,
            peak deviation); trill ``rate_hz`` (full cycles per s) and ``interval_cents``;
            tremolo ``rate_hz`` (plucks per s); slide ``interval_cents`` (start minus arrival
            pitch) and ``time_s`` (glide length).
    """

    kind: str
    start_s: float
    end_s: float
    params: dict


# ----------------------------------------------------------------------------- notes


def onsets_of(y, sr: int) -> np.ndarray:
    """Onset times of a mono signal: librosa's spectral-flux onset detector.

    Args:
        y: mono signal, shape (n_samples,).
        sr: sample rate, Hz.

    Returns:
        Onset times in s, shape (K,), increasing.
    """
    os.environ.setdefault("NUMBA_CACHE_DIR", str(runtime.cache_dir("numba")))
    import librosa

    y = np.asarray(y, dtype=np.float32)
    return librosa.onset.onset_detect(y=y, sr=int(sr), hop_length=ONSET_HOP, units="time",
                                      backtrack=False)


def _cents(f0_hz: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1200.0 * np.log2(f0_hz)


def segments(track, onsets) -> list[np.ndarray]:
    """Voiced frames of a track cut at onsets and at unvoiced gaps longer than :data:`GAP_S`.

    Args:
        track: a :class:`maqamgen.estimate.PitchTrack`.
        onsets: onset times in s, shape (K,).

    Returns:
        Frame indices of each segment (voiced frames only), in time order; segments shorter
        than :data:`MIN_SEGMENT_S` are dropped.
    """
    t = np.asarray(track.times, dtype=float)
    v = np.flatnonzero(track.voiced)
    if v.size == 0:
        return []
    cut = np.zeros(v.size, dtype=bool)
    cut[1:] = (t[v[1:]] - t[v[:-1]]) > GAP_S + 0.5 * track.hop_s
    on = np.sort(np.asarray(onsets, dtype=float))
    k = np.searchsorted(on, t[v], side="right")  # onsets at or before each frame
    cut[1:] |= k[1:] != k[:-1]
    out = np.split(v, np.flatnonzero(cut))
    return [s for s in out if t[s[-1]] - t[s[0]] + track.hop_s >= MIN_SEGMENT_S]


# ----------------------------------------------------------------------------- the checks


def _tremolo_runs(track, segs: list[np.ndarray], onsets: np.ndarray) -> list[tuple[int, int, float]]:
    """Runs of segments ``[i, j)`` that make a tremolo, with the re-pluck rate in Hz."""
    if len(segs) < TREMOLO_MIN_PLUCKS - 1:
        return []
    t = track.times
    c = _cents(track.f0_hz)
    on = np.sort(np.asarray(onsets, dtype=float))
    starts = np.array([t[s[0]] for s in segs])
    # the onset that opens each segment (NaN when it opens at a gap)
    k = np.searchsorted(on, starts + 0.5 * track.hop_s, side="right") - 1
    opened = np.where(k >= 0, on[np.clip(k, 0, None)], np.nan)
    opened[np.abs(starts - opened) > GAP_S + track.hop_s] = np.nan
    med = np.array([np.median(c[s]) for s in segs])
    lo_d, hi_d = 1.0 / TREMOLO_RATE_MAX_HZ, 1.0 / TREMOLO_RATE_MIN_HZ
    runs, i = [], 0
    while i < len(segs):
        j = i + 1
        while j < len(segs):
            d = opened[j] - opened[j - 1]
            ref = np.median(med[i:j + 1])
            if not (np.isfinite(d) and lo_d <= d <= hi_d + 0.5 * track.hop_s
                    and np.all(np.abs(med[i:j + 1] - ref) <= TREMOLO_PITCH_TOL_CENTS)):
                break
            j += 1
        if j - i >= TREMOLO_MIN_PLUCKS:
            runs.append((i, j, float(1.0 / np.median(np.diff(opened[i:j])))))
            i = j
        else:
            i += 1
    return runs


def _trill_runs(track, segs: list[np.ndarray]) -> list[tuple[int, int]]:
    """Runs of contiguous segments ``[i, j)`` whose median pitches alternate between two levels."""
    t, c = track.times, _cents(track.f0_hz)
    med = np.array([np.median(c[s]) for s in segs])
    def joins(i: int, m: int) -> bool:  # segment m continues the alternation begun at i
        if t[segs[m][0]] - t[segs[m - 1][-1]] > GAP_S + track.hop_s:
            return False
        step = med[m] - med[m - 1]
        if abs(step) < TRILL_MIN_CENTS:
            return False
        return m - 2 < i or (np.sign(step) != np.sign(med[m - 1] - med[m - 2])
                             and abs(med[m] - med[m - 2]) <= TRILL_LEVEL_TOL_CENTS)
    runs, i = [], 0
    while i < len(segs):
        j = i + 1
        while j < len(segs) and joins(i, j):
            j += 1
        if j - i >= 3:
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def _trill(tt: np.ndarray, c: np.ndarray) -> dict | None:
    """Trill parameters of one note's pitch (past the attack), or None."""
    if tt.size < 8:
        return None
    lo, hi = np.percentile(c, [10, 90])
    interval = hi - lo
    if interval < TRILL_MIN_CENTS:
        return None
    near = (np.abs(c - lo) <= 0.25 * interval) | (np.abs(c - hi) <= 0.25 * interval)
    if near.mean() < TRILL_SQUARE_MIN:
        return None
    x = (c - lo) / interval
    state, switches, at = x[0] > 0.5, 0, []
    for i, xi in enumerate(x):
        if (state and xi < 0.35) or (not state and xi > 0.65):
            state, switches = not state, switches + 1
            at.append(tt[i])
    if switches < TRILL_MIN_SWITCHES:
        return None
    span = tt[-1] - tt[0]
    rate = switches / (2.0 * span) if switches < 2 else (switches - 1) / (2.0 * (at[-1] - at[0]))
    if rate < TRILL_RATE_MIN_HZ:
        return None
    upper = x > 0.5
    return {"rate_hz": float(rate), "interval_cents": float(np.median(c[upper]) - np.median(c[~upper]))}


def _slide(tt: np.ndarray, c: np.ndarray) -> dict | None:
    """Slide parameters of one note's pitch (from its first voiced frame), or None."""
    if tt.size < 5:
        return None
    steady = np.median(c[c.size // 2:])
    d = c - steady
    if abs(d[0]) < SLIDE_MIN_CENTS:
        return None
    inside = np.flatnonzero(np.abs(d) <= SLIDE_SETTLE_CENTS)
    if inside.size == 0:
        return None
    k = int(inside[0])
    glide = tt[k] - tt[0]
    if not SLIDE_MIN_S <= glide <= SLIDE_MAX_S:
        return None
    steps = np.diff(d[:k + 1]) * -np.sign(d[0])
    if np.mean(steps > 0) < SLIDE_MONOTONE_MIN:
        return None
    if np.mean(np.abs(d[k:]) <= 2 * SLIDE_SETTLE_CENTS) < 0.8:  # then a steady note
        return None
    return {"interval_cents": float(d[0]), "time_s": float(glide)}


def vibrato_fit(tt, c, rates_hz=None) -> dict:
    """Best sinusoid in a pitch curve: ``c(t) ~ a + b t + A sin(2 pi f t + phi)`` (Lomb-Scargle).

    For each candidate rate ``f`` the model is fitted by least squares; the ``f`` with the least
    residual wins.

    Args:
        tt: frame times in s, shape (T,) (gaps allowed).
        c: pitch in cents, shape (T,).
        rates_hz: candidate rates in Hz; by default :data:`VIBRATO_RATE_MIN_HZ` to
            :data:`VIBRATO_RATE_MAX_HZ` in 0.05-Hz steps.

    Returns:
        ``{"rate_hz": f, "depth_cents": A, "r2": share of the linearly detrended variance the
        sinusoid explains}``.
    """
    tt = np.asarray(tt, dtype=float)
    c = np.asarray(c, dtype=float)
    if rates_hz is None:
        rates_hz = np.arange(VIBRATO_RATE_MIN_HZ, VIBRATO_RATE_MAX_HZ + 1e-9, 0.05)
    x = tt - tt.mean()
    base = np.stack([np.ones_like(x), x], axis=1)
    r0 = c - base @ np.linalg.lstsq(base, c, rcond=None)[0]
    var0 = float(np.sum(r0 ** 2))
    best = (np.inf, float(rates_hz[0]), 0.0)
    for f in rates_hz:
        w = 2 * np.pi * f * x
        X = np.column_stack([base, np.sin(w), np.cos(w)])
        coef, *_ = np.linalg.lstsq(X, c, rcond=None)
        res = float(np.sum((c - X @ coef) ** 2))
        if res < best[0]:
            best = (res, float(f), float(np.hypot(coef[2], coef[3])))
    r2 = 1.0 - best[0] / var0 if var0 > 0 else 0.0
    return {"rate_hz": best[1], "depth_cents": best[2], "r2": float(r2)}


def _vibrato(tt: np.ndarray, c: np.ndarray) -> dict | None:
    keep = (tt >= tt[0] + VIBRATO_SKIP_S)
    keep &= np.abs(c - np.median(c[keep] if keep.any() else c)) <= VIBRATO_OUTLIER_CENTS
    tt, c = tt[keep], c[keep]
    if tt.size < 5 or tt[-1] - tt[0] < VIBRATO_MIN_S:
        return None
    fit = vibrato_fit(tt, c)
    if fit["depth_cents"] < VIBRATO_MIN_CENTS or fit["r2"] < VIBRATO_MIN_R2:
        return None
    return {"rate_hz": fit["rate_hz"], "depth_cents": fit["depth_cents"]}


def detect(track, y=None, sr: int | None = None, onsets=None) -> list[Detection]:
    """The ornaments in a pitch track (and its audio), one per note at most.

    Method in the module docstring; thresholds are the module constants.

    Args:
        track: a :class:`maqamgen.estimate.PitchTrack` (FCPE at 10 ms is what the thresholds
            were tuned on: :func:`maqamgen.trackers.fcpe_track`).
        y: the mono audio, shape (n_samples,), to find the onsets in (:func:`onsets_of`) when
            ``onsets`` is None; without both, segments end only at unvoiced gaps and no
            tremolo can be found.
        sr: its sample rate, Hz.
        onsets: onset times in s (overrides ``y``).

    Returns:
        The :class:`Detection` of each ornamented note, in time order (no ``"none"`` entries).

    Raises:
        ConfigError: ``y`` given without ``sr``.
    """
    if onsets is None:
        if y is not None:
            if sr is None:
                raise ConfigError("detect: give sr (Hz) with the audio y")
            onsets = onsets_of(y, sr)
        else:
            onsets = np.zeros(0)
    onsets = np.sort(np.asarray(onsets, dtype=float))
    segs = segments(track, onsets)
    t, c = np.asarray(track.times, dtype=float), _cents(track.f0_hz)
    out: list[Detection] = []
    runs = _tremolo_runs(track, segs, onsets)
    in_run = np.zeros(len(segs), dtype=bool)
    for i, j, rate in runs:
        in_run[i:j] = True
        out.append(Detection("tremolo", float(t[segs[i][0]]), float(t[segs[j - 1][-1]] + track.hop_s),
                             {"rate_hz": rate}))
    for i, j in _trill_runs(track, segs):
        if in_run[i:j].any():
            continue
        s = np.concatenate(segs[i:j])
        s = s[(t[s] >= t[s[0]] + ATTACK_S) & (t[s] <= t[s[-1]] - TAIL_S)]
        found = _trill(t[s], c[s])
        if found is not None:
            in_run[i:j] = True
            out.append(Detection("trill", float(t[segs[i][0]]), float(t[segs[j - 1][-1]] + track.hop_s), found))
    for s, skip in zip(segs, in_run):
        if skip:
            continue
        start, end = float(t[s[0]]), float(t[s[-1]] + track.hop_s)
        s = s[t[s] <= t[s[-1]] - TAIL_S] if t[s[-1]] - t[s[0]] > 2 * TAIL_S else s
        tt, cc = t[s], c[s]
        body = tt >= tt[0] + ATTACK_S
        found = _trill(tt[body], cc[body])
        kind = "trill"
        if found is None:
            found, kind = _slide(tt, cc), "slide"
        if found is None:
            found, kind = _vibrato(tt, cc), "vibrato"
        if found is not None:
            out.append(Detection(kind, start, end, found))
    return _absorb_into_trills(sorted(out, key=lambda d: d.start_s), track.hop_s)


def _absorb_into_trills(found: list[Detection], hop_s: float) -> list[Detection]:
    """A 'slide' touching a trill by the trill's interval is a piece of it: join them."""
    out = list(found)
    changed = True
    while changed:
        changed = False
        for a in range(len(out)):
            for b in range(len(out)):
                tr, sl = out[a], out[b]
                if tr.kind != "trill" or sl.kind != "slide":
                    continue
                near = sl.start_s <= tr.end_s + GAP_S + hop_s and tr.start_s <= sl.end_s + GAP_S + hop_s
                if near and abs(abs(sl.params["interval_cents"]) - abs(tr.params["interval_cents"])) \
                        <= TRILL_LEVEL_TOL_CENTS:
                    out[a] = tr._replace(start_s=min(tr.start_s, sl.start_s), end_s=max(tr.end_s, sl.end_s))
                    del out[b]
                    changed = True
                    break
            if changed:
                break
    return out


# ----------------------------------------------------------------------------- ground truth


def note_labels(notes) -> list[Detection]:
    """The labelled ornament of every note, as :class:`Detection` ground truth.

    Args:
        notes: a note list (:class:`maqamgen.notes.Note`).

    Returns:
        One Detection per note, ``[onset, offset]``, kind ``"none"`` for a plain note; params
        as in :class:`Detection` (a slide's ``interval_cents`` is ``cents(from_hz / freq_hz)``).
    """
    out = []
    for n in notes:
        orn = n.ornament
        if orn is None:
            out.append(Detection("none", float(n.onset), float(n.offset), {}))
            continue
        kind = orn["type"]
        if kind == "slide":
            p = {"interval_cents": float(1200.0 * np.log2(orn["from_hz"] / n.freq_hz)),
                 "time_s": float(orn.get("time_s", 0.08))}
        else:
            p = {k: float(v) for k, v in orn.items() if k != "type"}
        out.append(Detection(kind, float(n.onset), float(n.offset), p))
    return out


def frame_labels(detections, times) -> np.ndarray:
    """The ornament kind of each frame: the last detection covering it, else ``"none"``.

    Args:
        detections: :class:`Detection` list (found or :func:`note_labels`).
        times: frame times in s, shape (T,).

    Returns:
        Kinds, shape (T,), dtype ``<U7``; frame ``t`` belongs to ``[start_s, end_s)``.
    """
    times = np.asarray(times, dtype=float)
    out = np.full(times.shape, "none", dtype="<U7")
    for d in detections:
        if d.kind != "none":
            out[(times >= d.start_s) & (times < d.end_s)] = d.kind
    return out


def _overlap(a: Detection, b: Detection) -> float:
    return max(0.0, min(a.end_s, b.end_s) - max(a.start_s, b.start_s))


def _matches(a: Detection, b: Detection) -> bool:
    """Half the shorter of the two lies inside the other."""
    return _overlap(a, b) >= 0.5 * min(a.end_s - a.start_s, b.end_s - b.start_s)


def match(detections, labels) -> tuple[list[str], list[int | None]]:
    """Pair found ornaments with labelled notes.

    A detection and a labelled note *match* when they overlap in time by at least half the
    shorter of the two. A note's predicted kind is that of the matching detection with the
    largest overlap (``"none"`` if no detection matches). A detection is paired with the
    labelled note it overlaps most among the matching notes of its own kind (``None`` if no
    such note: a false positive).

    Args:
        detections: found :class:`Detection` list.
        labels: :func:`note_labels` of the clip.

    Returns:
        ``(predicted, paired)``: the predicted kind per label, and per detection the index of
        its paired label or None.
    """
    predicted = []
    for lab in labels:
        best, kind = 0.0, "none"
        for d in detections:
            o = _overlap(d, lab)
            if o > best and _matches(d, lab):
                best, kind = o, d.kind
        predicted.append(kind)
    paired = []
    for d in detections:
        best, idx = 0.0, None
        for i, lab in enumerate(labels):
            o = _overlap(d, lab)
            if lab.kind == d.kind and o > best and _matches(d, lab):
                best, idx = o, i
        paired.append(idx)
    return predicted, paired


# ----------------------------------------------------------------------------- validation


def validate(corp, split: str = "test", n: int | None = None, tracker: str = "fcpe"):
    """Precision and recall of :func:`detect` per ornament on corpus clips, against their labels.

    For each clip (the first ``n`` of ``split``): the pitch track (:func:`maqamgen.trackers.track`),
    the onsets (:func:`onsets_of`), :func:`detect`, :func:`note_labels` and :func:`match`.
    For kind ``k``: *precision* = detections of kind ``k`` paired with a labelled note of kind
    ``k`` / detections of kind ``k``; *recall* = labelled notes of kind ``k`` whose predicted
    kind is ``k`` / labelled notes of kind ``k``; each a proportion with its Wilson interval
    (:func:`maqamgen.metrics.wilson_interval`), pooled over clips. Parameter errors are the
    detected minus the labelled value over the correctly found notes (predicted = labelled kind,
    paired with the largest-overlap detection of that kind).

    Args:
        corp: a :class:`maqamgen.corpus.Corpus`.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        n: clips to use (all of the split when None).
        tracker: pitch tracker name (:data:`maqamgen.trackers.TRACKERS`).

    Returns:
        A pandas DataFrame, one row per ornament kind (not ``"none"``): ``kind``, ``n_labelled``,
        ``n_detected``, ``precision`` / ``_lo`` / ``_hi``, ``recall`` / ``_lo`` / ``_hi``,
        ``f1``, ``rate_mae_hz`` (vibrato, trill, tremolo), ``depth_mae_cents`` (vibrato),
        ``interval_mae_cents`` (trill, slide); NaN where a kind has no such parameter or no
        correct detection. ``df.attrs`` holds ``confusion`` (labelled kind x predicted kind,
        note counts, a DataFrame), ``sec_per_audio_s`` (tracking + onsets + detection time per
        second of audio), ``audio_s``, ``n_clips`` and ``tracker``.

    Raises:
        ConfigError: an empty split, ``n`` not positive, unknown tracker.
    """
    import pandas as pd

    from maqamgen import trackers

    if tracker not in trackers.TRACKERS:
        raise ConfigError(f"unknown pitch tracker {tracker!r}; choose one of {sorted(trackers.TRACKERS)}")
    if n is not None and int(n) < 1:
        raise ConfigError(f"n must be a positive number of clips, got {n!r}")
    clips = list(corp.split(split))[: None if n is None else int(n)]
    if not clips:
        raise ConfigError(f"split {split!r} of {corp!r} has no clips")
    kinds = [k for k in ORNAMENTS if k != "none"]
    confusion = pd.DataFrame(0, index=list(ORNAMENTS), columns=list(ORNAMENTS))
    n_det = dict.fromkeys(kinds, 0)
    n_tp = dict.fromkeys(kinds, 0)
    errors: dict[tuple[str, str], list[float]] = {}
    wall = audio_s = 0.0
    for clip in clips:
        y, sr = corp.audio(clip)
        notes, _ = corp.notes(clip)
        t0 = time.perf_counter()
        tr = trackers.track(y, sr, tracker)
        found = detect(tr, y, sr)
        wall += time.perf_counter() - t0
        audio_s += len(y) / sr
        labels = note_labels(notes)
        predicted, paired = match(found, labels)
        for lab, p in zip(labels, predicted):
            confusion.loc[lab.kind, p] += 1
        for d, idx in zip(found, paired):
            n_det[d.kind] += 1
            n_tp[d.kind] += idx is not None
        for i, (lab, p) in enumerate(zip(labels, predicted)):
            if lab.kind == "none" or p != lab.kind:
                continue
            ds = [d for d, idx in zip(found, paired) if idx == i]
            if ds:
                for key, v in ds[0].params.items():
                    if key in lab.params:
                        errors.setdefault((lab.kind, key), []).append(v - lab.params[key])
    rows = []
    for k in kinds:
        n_lab = int(confusion.loc[k].sum())
        p, plo, phi = metrics.wilson_interval(n_tp[k], n_det[k])
        r, rlo, rhi = metrics.wilson_interval(int(confusion.loc[k, k]), n_lab)
        f1 = 2 * p * r / (p + r) if p + r > 0 else float("nan") if np.isnan(p + r) else 0.0

        def mae(key):
            e = errors.get((k, key))
            return float(np.mean(np.abs(e))) if e else float("nan")

        rows.append({"kind": k, "n_labelled": n_lab, "n_detected": n_det[k],
                     "precision": p, "precision_lo": plo, "precision_hi": phi,
                     "recall": r, "recall_lo": rlo, "recall_hi": rhi, "f1": f1,
                     "rate_mae_hz": mae("rate_hz"), "depth_mae_cents": mae("depth_cents"),
                     "interval_mae_cents": mae("interval_cents")})
    df = pd.DataFrame(rows)
    df.attrs.update(confusion=confusion, sec_per_audio_s=wall / max(audio_s, 1e-9), audio_s=audio_s,
                    n_clips=len(clips), tracker=tracker)
    return df


# ----------------------------------------------------------------------------- control


def control_score(detections, asked, duration_s: float, kinds=("vibrato", "slide"),
                  hop_s: float = CONTROL_HOP_S) -> dict:
    """How well ornaments appear where they were asked for and nowhere else, frame by frame.

    On frames ``t = 0, hop_s, ...`` below ``duration_s``, for each kind ``k``: ``A`` = frames
    inside an asked span of kind ``k``, ``D`` = frames inside a detection of kind ``k``;
    precision ``|A & D| / |D|``, recall ``|A & D| / |A|``, ``F1 = 2 P R / (P + R)`` (issue 13's
    "ornament control F1"). A ratio with an empty denominator is NaN; F1 is NaN when
    both are NaN and 0 when either is 0 or NaN while the other is defined.

    Args:
        detections: found :class:`Detection` list (or ``(kind, start_s, end_s, ...)`` tuples).
        asked: ``(kind, start_s, end_s)`` spans (:func:`parse_ornament_spec`).
        duration_s: length of the audio judged, s.
        kinds: the ornament kinds scored.
        hop_s: frame period, s.

    Returns:
        ``{kind: {"precision", "recall", "f1", "asked_s", "detected_s"}}`` (seconds = frames x hop_s).

    Raises:
        ConfigError: ``duration_s`` or ``hop_s`` not positive, an unknown kind.
    """
    if not (np.isfinite(duration_s) and duration_s > 0 and np.isfinite(hop_s) and hop_s > 0):
        raise ConfigError(f"control_score needs positive duration_s and hop_s, got {duration_s!r}, {hop_s!r}")
    for k in list(kinds) + [a[0] for a in asked]:
        if k not in ORNAMENTS or k == "none":
            raise ConfigError(f"unknown ornament {k!r}; choose from {', '.join(ORNAMENTS[1:])}")
    times = np.arange(0.0, float(duration_s), float(hop_s))
    out = {}
    for k in kinds:
        A = np.zeros(times.size, dtype=bool)
        D = np.zeros(times.size, dtype=bool)
        for kind, s, e, *_ in asked:
            if kind == k:
                A |= (times >= s) & (times < e)
        for kind, s, e, *_ in detections:
            if kind == k:
                D |= (times >= s) & (times < e)
        both = int(np.sum(A & D))
        p = both / D.sum() if D.any() else float("nan")
        r = both / A.sum() if A.any() else float("nan")
        if np.isnan(p) and np.isnan(r):
            f1 = float("nan")
        elif np.isnan(p) or np.isnan(r) or p + r == 0:
            f1 = 0.0
        else:
            f1 = 2 * p * r / (p + r)
        out[k] = {"precision": float(p), "recall": float(r), "f1": float(f1),
                  "asked_s": float(A.sum() * hop_s), "detected_s": float(D.sum() * hop_s)}
    return out


_SPAN = re.compile(r"^\s*([a-z]+)\s*@\s*([0-9]*\.?[0-9]+)\s*(?:-\s*([0-9]*\.?[0-9]+))?\s*$")


def parse_ornament_spec(spec: str, seconds: float) -> list[tuple[str, float, float]]:
    """Asked-for ornaments from text: ``"vibrato@2-4,slide@6"``.

    Comma-separated items ``kind@start-end`` (seconds) or ``kind@t``, a point, which asks for
    ``[t, min(t + POINT_SPAN_S, seconds)]`` (:data:`POINT_SPAN_S` = 0.5 s). An empty spec asks
    for nothing.

    Args:
        spec: the text.
        seconds: length of the audio to be generated, s; every span must lie in ``[0, seconds]``.

    Returns:
        ``(kind, start_s, end_s)`` per item, in the order given.

    Raises:
        ConfigError: a malformed item, an unknown ornament, an empty span or one outside
            ``[0, seconds]``.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"an ornament spec must be text like 'vibrato@2-4,slide@6', not {type(spec).__name__}")
    out = []
    if not spec.strip():
        return out
    for item in spec.split(","):
        m = _SPAN.match(item.lower())
        if m is None:
            raise ConfigError(f"ornament spec item {item.strip()!r} is not kind@start-end or kind@time "
                              "(seconds), e.g. 'vibrato@2-4,slide@6'")
        kind, a, b = m.group(1), float(m.group(2)), m.group(3)
        if kind not in ORNAMENTS or kind == "none":
            raise ConfigError(f"unknown ornament {kind!r} in {item.strip()!r}; choose from "
                              f"{', '.join(ORNAMENTS[1:])}")
        end = min(a + POINT_SPAN_S, float(seconds)) if b is None else float(b)
        if not (0.0 <= a < end <= float(seconds)):
            raise ConfigError(f"ornament span {item.strip()!r} = [{a:g}, {end:g}] s must be a non-empty "
                              f"span inside [0, {float(seconds):g}] s")
        out.append((kind, a, end))
    return out
