"""Pitch trackers side by side: the book's pYIN and an independent, pretrained judge (FCPE).

The book's pitch measurements all come from one tracker, :func:`maqamgen.estimate.pitch_track`
(probabilistic YIN), which this project wrote and tuned. An independent judge checks it:

* :func:`fcpe_track` -- FCPE (Fast Context-based Pitch Estimation; Luo et al. 2024, the
  ``torchfcpe`` package, MIT), a network trained elsewhere on other data, whose weights ship
  inside its wheel (``torchfcpe/assets/fcpe_c_v001.pt``): nothing is downloaded at run time.
  It returns the same :class:`maqamgen.estimate.PitchTrack` as pYIN, so every measure of a
  track (:func:`maqamgen.metrics.pitch_fidelity`, the estimators) takes either.
* :data:`TRACKERS` and :func:`track` -- either tracker by name.

Measures of tracks (each defined once, here):

* :func:`intonation` -- how close the voiced frames lie to the degrees of a maqam at a tonic
  (the share within a tolerance is :func:`maqamgen.metrics.scale_adherence`; this adds the
  median distance to the nearest degree).
* :func:`tracker_agreement` -- two tracks of the same audio compared frame by frame, octave
  errors apart.
* :func:`validate_trackers` -- every tracker against the corpus's ground-truth notes and
  against each other, with bootstrap intervals over clips.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import math
import time
from pathlib import Path

import numpy as np
from scipy import signal

from maqamgen import estimate, metrics
from maqamgen import maqam as mq
from maqamgen.errors import ConfigError

__all__ = [
    "FCPE_SR",
    "FCPE_HOP",
    "FCPE_THRESHOLD",
    "TRACKERS",
    "fcpe_weights_path",
    "fcpe_model",
    "fcpe_track",
    "track",
    "intonation",
    "tracker_agreement",
    "validate_trackers",
]

FCPE_SR = 16000
"""Sample rate FCPE's mel front end was trained at, Hz (the input is resampled to it)."""

FCPE_HOP = 160
"""FCPE's frame hop in samples at :data:`FCPE_SR` (10 ms)."""

FCPE_THRESHOLD = 0.05
"""Least confidence (the peak of FCPE's 360-bin pitch posterior, in [0, 1]) of a voiced frame.
torchfcpe's default of 0.006 calls white noise voiced (its confidence there is ~0.01); on the
corpus's plucked notes the confidence is above 0.9, and 0.05 keeps the note onsets and decays
(measured in ``benchmarks/bench_trackers.py``)."""

FCPE_WEIGHTS = "assets/fcpe_c_v001.pt"
"""The bundled checkpoint, relative to the installed ``torchfcpe`` package."""


# ----------------------------------------------------------------------------- FCPE


def fcpe_weights_path() -> Path:
    """Path of FCPE's bundled weights inside the installed ``torchfcpe`` package.

    Raises:
        ConfigError: ``torchfcpe`` is not installed, or its wheel lacks the weights.
    """
    try:
        import torchfcpe
    except ImportError as e:
        raise ConfigError(f"the FCPE tracker needs the torchfcpe package ({e}); "
                          "install it with: pip install -r requirements.txt") from None
    path = Path(torchfcpe.__file__).resolve().parent / FCPE_WEIGHTS
    if not path.is_file():
        raise ConfigError(f"torchfcpe is installed without its bundled weights ({path} is missing)")
    return path


@functools.lru_cache(maxsize=1)
def fcpe_model():
    """FCPE's bundled model on the CPU in eval mode, loaded once per process.

    The weights are read from :func:`fcpe_weights_path` (no network). torchfcpe's progress
    messages on stdout are swallowed. Its six 31-tap depthwise convolutions are computed as
    shifted multiply-adds (:func:`maqamgen.nets.depthwise.shift_depthwise_convs`: the same
    weights and outputs to float rounding; FCPE 1.3 to 1.6 times as fast on this CPU,
    ``benchmarks/bench_decode_judges.py``).

    Returns:
        torchfcpe's ``InferCFNaiveMelPE`` module (mel front end ``.wav2mel``, network ``.model``).
    """
    import torchfcpe.models_infer as fi

    from maqamgen.nets.depthwise import shift_depthwise_convs

    path = fcpe_weights_path()
    with contextlib.redirect_stdout(io.StringIO()):
        model = fi.spawn_infer_model_from_pt(str(path), device="cpu", bundled_model=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    shift_depthwise_convs(model)
    return model


def fcpe_track(y, sr: int, hop_s: float = FCPE_HOP / FCPE_SR, threshold: float = FCPE_THRESHOLD,
               fmin: float = estimate.FMIN_HZ, fmax: float = estimate.FMAX_HZ) -> estimate.PitchTrack:
    """FCPE pitch track of a mono signal, as a :class:`maqamgen.estimate.PitchTrack`.

    The signal is resampled to :data:`FCPE_SR` (polyphase, exact ratio); FCPE's network gives
    per 10-ms frame a posterior ``p_k`` over 360 pitch bins (20 cents apart) and its
    confidence ``c = max_k p_k``. The pitch is the posterior-weighted mean of the nine bins
    around the peak (torchfcpe's local-argmax decoder), in cents above 10 Hz, so not quantised.
    A frame is voiced when ``c > threshold`` and ``fmin <= f0 <= fmax``. Frame ``i`` is centred at
    ``(i FCPE_HOP + FCPE_HOP / 2) / FCPE_SR`` s. Deterministic (CPU, no dropout, no sampling).

    Args:
        y: mono signal, shape (n_samples,), full scale = 1.
        sr: its sample rate in Hz.
        hop_s: frame period of the returned track in s, at least 0.01 (FCPE's own); a longer
            one takes FCPE's frame nearest to each ``k hop_s``.
        threshold: least confidence of a voiced frame, in [0, 1).
        fmin, fmax: pitch range in Hz (frames outside are unvoiced); pYIN's by default.

    Returns:
        The :class:`~maqamgen.estimate.PitchTrack`: ``f0_hz`` NaN where unvoiced,
        ``voiced_prob`` the confidence ``c`` where voiced and 0 elsewhere.

    Raises:
        AudioError: empty, non-finite, non-mono audio or a bad sample rate.
        ConfigError: ``hop_s``, ``threshold`` or the range out of bounds; torchfcpe missing.
    
    Used in: book/part1/02_maqam_estimation.md, book/part1/06_latent_diffusion.md
    """
    import torch

    y = estimate._check_mono(y, sr)  # the same checks and messages as pYIN's
    native = FCPE_HOP / FCPE_SR
    if not (np.isfinite(hop_s) and hop_s >= native - 1e-9):
        raise ConfigError(f"hop_s must be at least FCPE's frame of {native} s, got {hop_s!r}")
    if not (np.isfinite(threshold) and 0.0 <= threshold < 1.0):
        raise ConfigError(f"threshold must be in [0, 1), got {threshold!r}")
    if not (0.0 < fmin < fmax):
        raise ConfigError(f"need 0 < fmin < fmax, got fmin={fmin!r}, fmax={fmax!r}")
    model = fcpe_model()
    if sr != FCPE_SR:
        g = math.gcd(int(sr), FCPE_SR)
        y = signal.resample_poly(y, FCPE_SR // g, int(sr) // g).astype(np.float32)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.99:  # torchfcpe's mel front end complains (on stdout) about samples beyond full
        y = y * (0.99 / peak)  # scale; pitch does not depend on the level, so scale it down instead
    with torch.no_grad():
        wav = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None, :, None]
        latent = model.model(model.wav2mel(wav, FCPE_SR))  # (1, T, 360), sigmoid outputs
        conf = latent.max(dim=-1).values[0].double().numpy()
        cents = model.model.latent2cents_local_decoder(latent, threshold=0.0, mask=False)
        f0 = model.model.cent_to_f0(cents)[0, :, 0].double().numpy()
    voiced = (conf > threshold) & np.isfinite(f0) & (f0 >= fmin) & (f0 <= fmax)
    times = (np.arange(f0.size) * FCPE_HOP + FCPE_HOP / 2) / FCPE_SR
    if hop_s > native + 1e-9:
        t_out = np.arange(0.0, len(y) / FCPE_SR, hop_s) + times[0]
        idx = np.clip(np.rint((t_out - times[0]) / native).astype(int), 0, f0.size - 1)
        times, f0, conf, voiced = t_out, f0[idx], conf[idx], voiced[idx]
        native = hop_s
    return estimate.PitchTrack(times=times, f0_hz=np.where(voiced, f0, np.nan),
                               voiced_prob=np.where(voiced, conf, 0.0), hop_s=float(native))


TRACKERS = {"pyin": estimate.pitch_track, "fcpe": fcpe_track}
"""Pitch trackers by name: each takes ``(y, sr, **options)`` and returns a
:class:`maqamgen.estimate.PitchTrack`."""


def track(y, sr: int, tracker: str = "pyin", **options) -> estimate.PitchTrack:
    """Pitch track of a mono signal by the tracker named ``tracker`` (see :data:`TRACKERS`).

    Args:
        y: mono signal, shape (n_samples,).
        sr: its sample rate in Hz.
        tracker: ``"pyin"`` (:func:`maqamgen.estimate.pitch_track`) or ``"fcpe"`` (:func:`fcpe_track`).
        **options: passed to the tracker.

    Returns:
        The :class:`~maqamgen.estimate.PitchTrack`.

    Raises:
        ConfigError: unknown tracker.
    """
    if tracker not in TRACKERS:
        raise ConfigError(f"unknown pitch tracker {tracker!r}; choose one of {sorted(TRACKERS)}")
    return TRACKERS[tracker](y, sr, **options)


# ----------------------------------------------------------------------------- measures


def _times_f0_voiced(tr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if hasattr(tr, "f0_hz"):
        t, f0 = np.asarray(tr.times, dtype=float), np.asarray(tr.f0_hz, dtype=float)
        v = np.asarray(tr.voiced, dtype=bool)
    else:
        t, f0 = (np.asarray(a, dtype=float) for a in tr)
        v = np.isfinite(f0) & (f0 > 0)
    if t.shape != f0.shape or t.ndim != 1:
        raise ConfigError(f"a track needs times and f0 of the same 1-D shape, got {t.shape} and {f0.shape}")
    return t, f0, v & np.isfinite(f0) & (f0 > 0)


def intonation(track, maqam: str, tonic_hz: float, tol_cents: float = 15.0,
               practice: bool = True) -> dict:
    """How close a track's voiced frames lie to the degrees of ``maqam`` on ``tonic_hz``.

    With ``c_i = 1200 log2(f0_i / tonic_hz)`` for the voiced frames and ``pc_k`` the maqam's pitch
    classes (ascending, descending and its octave note; :func:`maqamgen.maqam.pitch_classes_cents`),
    the deviation to the nearest degree in any octave is
    ``d_i = min_k |((c_i - pc_k + 600) mod 1200) - 600|`` and

        ``within = #{i : d_i <= tol_cents} / n`` (:func:`maqamgen.metrics.scale_adherence`),
        ``median_abs_cents = median_i d_i``.

    Args:
        track: a :class:`maqamgen.estimate.PitchTrack` or a pair ``(times_s, f0_hz)``.
        maqam: maqam name.
        tonic_hz: the tonic in Hz (any octave).
        tol_cents: tolerance, cents.
        practice: degrees as played (:data:`maqamgen.maqam.INTONATION_CENTS`) instead of 24-TET.

    Returns:
        ``{"within", "median_abs_cents", "n_frames"}`` (NaN shares when no frame is voiced).

    Raises:
        ConfigError: unknown maqam, a tonic that is not a positive number, a negative tolerance.
    
    Used in: book/part1/02_maqam_estimation.md, book/part1/06_latent_diffusion.md
    """
    pcs = mq.pitch_classes_cents(maqam, practice=practice)  # ConfigError on an unknown maqam
    if not (isinstance(tonic_hz, (int, float, np.number)) and np.isfinite(tonic_hz) and tonic_hz > 0):
        raise ConfigError(f"tonic_hz must be a positive frequency in Hz, got {tonic_hz!r}")
    if not (np.isfinite(tol_cents) and tol_cents >= 0):
        raise ConfigError(f"tol_cents must be >= 0, got {tol_cents!r}")
    _, f0, voiced = _times_f0_voiced(track)
    c = mq.cents(f0[voiced], float(tonic_hz))
    if c.size == 0:
        return {"within": float("nan"), "median_abs_cents": float("nan"), "n_frames": 0}
    d = np.min(np.abs(np.mod(c[:, None] - pcs[None, :] + 600.0, 1200.0) - 600.0), axis=1)
    return {"within": metrics.scale_adherence(c, maqam, tol_cents, practice=practice),
            "median_abs_cents": float(np.median(d)), "n_frames": int(c.size)}


def tracker_agreement(track_a, track_b, tol_cents: float = 50.0) -> dict:
    """Frame-by-frame agreement of two pitch tracks of the same audio.

    Each frame ``i`` of ``track_a`` is paired with the frame of ``track_b`` nearest in time, when
    one lies within half the longer hop (so tracks at different hops compare). Over the ``n``
    pairs voiced in both, ``e_i = 1200 log2(f_a,i / f_b,i)`` cents and

        ``within = #{i : |e_i| <= tol} / n``,
        ``within_mod_octave = #{i : |e_i - 1200 round(e_i / 1200)| <= tol} / n``,
        ``octave_share = within_mod_octave - within`` (pairs an octave or more apart, else agreeing),
        ``median_abs_cents = median_i |e_i|``.

    ``voicing_agreement`` is the share of all pairs on whose voicing both agree.

    Args:
        track_a, track_b: :class:`maqamgen.estimate.PitchTrack` (or ``(times_s, f0_hz)`` pairs).
        tol_cents: tolerance, cents.

    Returns:
        ``{"within", "within_mod_octave", "octave_share", "median_abs_cents",
        "voicing_agreement", "n_frames", "n_pairs"}`` (NaN shares when no pair is voiced in both).
    
    Used in: book/part1/02_maqam_estimation.md
    """
    if not (np.isfinite(tol_cents) and tol_cents >= 0):
        raise ConfigError(f"tol_cents must be >= 0, got {tol_cents!r}")
    ta, fa, va = _times_f0_voiced(track_a)
    tb, fb, vb = _times_f0_voiced(track_b)
    nan = float("nan")
    if ta.size == 0 or tb.size == 0:
        return {"within": nan, "within_mod_octave": nan, "octave_share": nan,
                "median_abs_cents": nan, "voicing_agreement": nan, "n_frames": 0, "n_pairs": 0}
    hop = max(float(np.median(np.diff(ta))) if ta.size > 1 else 0.0,
              float(np.median(np.diff(tb))) if tb.size > 1 else 0.0)
    order = np.argsort(tb, kind="stable")
    tb, fb, vb = tb[order], fb[order], vb[order]
    j = np.searchsorted(tb, ta)  # first frame of b at or after each frame of a
    lo, hi = np.clip(j - 1, 0, tb.size - 1), np.clip(j, 0, tb.size - 1)
    j = np.where(np.abs(tb[lo] - ta) <= np.abs(tb[hi] - ta), lo, hi)
    paired = np.abs(tb[j] - ta) <= hop / 2 + 1e-9
    both = paired & va & vb[j]
    n_pairs = int(paired.sum())
    agree_v = float(np.mean(va[paired] == vb[j][paired])) if n_pairs else nan
    n = int(both.sum())
    if n == 0:
        return {"within": nan, "within_mod_octave": nan, "octave_share": nan,
                "median_abs_cents": nan, "voicing_agreement": agree_v, "n_frames": 0,
                "n_pairs": n_pairs}
    e = 1200.0 * np.log2(fa[both] / fb[j][both])
    ok = np.abs(e) <= tol_cents
    ok_mod = np.abs(e - 1200.0 * np.rint(e / 1200.0)) <= tol_cents
    return {"within": float(ok.mean()), "within_mod_octave": float(ok_mod.mean()),
            "octave_share": float(np.mean(ok_mod & ~ok)), "median_abs_cents": float(np.median(np.abs(e))),
            "voicing_agreement": agree_v, "n_frames": n, "n_pairs": n_pairs}


# ----------------------------------------------------------------------------- validation


def validate_trackers(corp, split: str = "test", n: int | None = None, seconds: float | None = None,
                      trackers=("pyin", "fcpe"), tol_cents: float = 15.0,
                      agree_tol_cents: float = 50.0, n_boot: int = 1000, seed: int = 0):
    """Every tracker against the ground-truth notes of corpus clips, and each pair of trackers.

    Per clip (the first ``n`` of ``split``, each cut to its first ``seconds`` s): every tracker's
    :func:`maqamgen.metrics.pitch_fidelity` against the clip's notes (``within`` the tolerance,
    ``median_abs_cents``, ``octave_share``, ``voiced_recall``), its :func:`intonation` on the
    clip's maqam and tonic (``in_scale``: share of voiced frames within ``tol_cents`` of a degree),
    and the tracking time per second of audio; and for every pair of trackers
    :func:`tracker_agreement` (within ``agree_tol_cents``). Then per row, the mean over clips
    (the median for ``median_abs_cents``) with a percentile-bootstrap interval over clips
    (:func:`maqamgen.metrics.bootstrap_ci`).

    Args:
        corp: a :class:`maqamgen.corpus.Corpus`.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        n: clips to use (all of the split when ``None``).
        seconds: length of audio used per clip, s (the whole clip when ``None``).
        trackers: names in :data:`TRACKERS`.
        tol_cents: tolerance against the notes and the maqam's degrees, cents.
        agree_tol_cents: tolerance between two trackers, cents.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        A pandas DataFrame, one row per comparison: ``tracker`` and ``reference`` (``"notes"``,
        or another tracker's name), ``n_clips``, ``n_frames`` (total), then ``within``,
        ``median_abs_cents``, ``octave_share``, ``voiced_recall``, ``in_scale`` each with ``_lo``
        and ``_hi`` (NaN where a measure does not apply: recall and in-scale for a pair, the
        mod-octave agreement ``within_mod_octave`` for the notes), and ``sec_per_audio_s``. The
        per-clip rows are in ``df.attrs["clips"]``.

    Raises:
        ConfigError: unknown tracker, an empty split, ``n`` or ``seconds`` not positive.
    
    Used in: book/part1/02_maqam_estimation.md
    """
    import pandas as pd

    trackers = tuple(trackers)
    for name in trackers:
        if name not in TRACKERS:
            raise ConfigError(f"unknown pitch tracker {name!r}; choose one of {sorted(TRACKERS)}")
    if n is not None and int(n) < 1:
        raise ConfigError(f"n must be a positive number of clips, got {n!r}")
    if seconds is not None and not (np.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"seconds must be positive, got {seconds!r}")
    clips = list(corp.split(split))[: None if n is None else int(n)]
    if not clips:
        raise ConfigError(f"split {split!r} of {corp!r} has no clips")
    rows = []
    for clip in clips:
        y, sr = corp.audio(clip)
        notes, _ = corp.notes(clip)
        if seconds is not None:
            y = y[: int(round(seconds * sr))]
        dur = len(y) / sr
        tracks = {}
        for name in trackers:
            t0 = time.perf_counter()
            tracks[name] = track(y, sr, name)
            wall = time.perf_counter() - t0
            pf = metrics.pitch_fidelity(tracks[name], notes, tol_cents=tol_cents)
            it = intonation(tracks[name], clip.maqam, clip.tonic_hz, tol_cents=tol_cents)
            rows.append({"clip": clip.id, "maqam": clip.maqam, "tracker": name, "reference": "notes",
                         "within": pf["within"], "median_abs_cents": pf["median_abs_cents"],
                         "octave_share": pf["octave_share"], "voiced_recall": pf["voiced_recall"],
                         "within_mod_octave": float("nan"), "in_scale": it["within"],
                         "n_frames": pf["n_frames"], "sec_per_audio_s": wall / dur})
        for a, b in itertools.combinations(trackers, 2):
            ag = tracker_agreement(tracks[b], tracks[a], tol_cents=agree_tol_cents)
            rows.append({"clip": clip.id, "maqam": clip.maqam, "tracker": b, "reference": a,
                         "within": ag["within"], "median_abs_cents": ag["median_abs_cents"],
                         "octave_share": ag["octave_share"], "voiced_recall": float("nan"),
                         "within_mod_octave": ag["within_mod_octave"], "in_scale": float("nan"),
                         "n_frames": ag["n_frames"], "sec_per_audio_s": float("nan")})
    per_clip = pd.DataFrame(rows)
    summary = []
    for (name, ref), g in per_clip.groupby(["tracker", "reference"], sort=False):
        row = {"tracker": name, "reference": ref, "n_clips": len(g), "n_frames": int(g["n_frames"].sum())}
        for col, stat in (("within", np.mean), ("median_abs_cents", np.median), ("octave_share", np.mean),
                          ("voiced_recall", np.mean), ("in_scale", np.mean),
                          ("within_mod_octave", np.mean)):
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = metrics.bootstrap_ci(
                g[col].to_numpy(), stat=stat, n_boot=n_boot, seed=seed)
        row["sec_per_audio_s"] = float(g["sec_per_audio_s"].mean())
        summary.append(row)
    out = pd.DataFrame(summary)
    out.attrs["clips"] = per_clip
    return out
