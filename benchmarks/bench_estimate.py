"""Accuracy of the maqam/tonic estimators (maqamgen.estimate), before and after the changes of
issue 11 (a known-tonic judge; robustness beyond our own synthesizer), with Wilson intervals.

Four measurements, each printed as maqam and tonic accuracy ``k/n = p [lo, hi]`` (95% Wilson):

1. **Corpus, held out** (as Chapter 2 judges it): the validation and test clips of
   ``maqamgen.corpus.load(PROFILE)``, whole (with their closing cadence).
2. **Windows without cadence**: a 6-s window from the middle of each of those clips (the
   closing cadence is in the last ~3 s, outside it). The free estimator
   (:func:`maqamgen.estimate.estimate`) against the known-tonic judge
   (:func:`maqamgen.estimate.estimate_given_tonic`, told the clip's tonic). A window whose notes
   (from the corpus's note lists) also fit another maqam on the same tonic -- every pitch class
   sounded for 0.25 s or more lies within 37 cents of the other's scale -- cannot be told
   apart from the notes alone; accuracy on the identifiable windows is printed too.
3. **Another synthesizer** (``tests/pluck_other.py``: additive stiff-string partials,
   target-and-approach melodies; shares no code with maqamgen.synth, the corpus or
   ``tests/ks_oud.py``): phrases in the 8 maqamat at random tonics, in four groups: random
   styles; *relative* (lingering on the degree where a relative maqam with the same pitch
   classes has its tonic, e.g. ajam on F lingering on D, ending on a short tonic); *rare*
   (the degree that tells the maqam from its nearest neighbour on the same tonic sounded
   rarely, e.g. bayati's fourth); *no cadence* (the phrase just stops; free vs given tonic).
4. ``--dev``: the choices (template degree weights, tonic-cue weights) compared on a
   development set -- the corpus's *training* clips and other seeds of the independent
   generator -- never on the sets above.

"before" is the estimator as Chapter 2 first had it (template weights tonic 2, ghammaz 1.5,
others 1; tonic cues qafla 1, lowest 0.25, peak 0.25); "after" the current defaults.

Pitch tracks are cached under data/cache/bench_estimate (keyed by the corpus, the tracker's
settings and the generator's source), so a re-run only scores.

    .venv/bin/python benchmarks/bench_estimate.py [--profile book] [--per-group 2] [--dev]
        [--synthetic]

``--synthetic`` also runs the older comparison on maqamgen.synth phrases and Karplus-Strong
scale walks (tests/ks_oud.py), including the report's FFT method.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import os
import pickle
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "data" / "cache" / "numba"))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from maqamgen import estimate as E  # noqa: E402
from maqamgen import maqam as mq  # noqa: E402
from maqamgen import metrics, runtime, synth  # noqa: E402

MAQAMAT = E.ESTIMATE_MAQAMAT
SR = 22050
WINDOW_S = 6.0

BEFORE = {"DEGREE_WEIGHTS": {"tonic": 2.0, "ghammaz": 1.5, "other": 1.0},
          "TONIC_WEIGHTS": {"qafla": 1.0, "lowest": 0.25, "peak": 0.25}}
"""The estimator's settings before issue 11 (its code is otherwise the same)."""

RELATIVE_DEGREE = {"rast": 2, "bayati": 6, "sikah": 5, "hijaz": 3, "saba": 6, "nahawand": 4,
                   "kurd": 5, "ajam": 5}
"""Degree where a relative maqam sharing (nearly) all pitch classes has its tonic: rast on C /
sikah on E-half-flat, bayati on D / rast on C, ajam on F / nahawand on D, ..."""

RARE_DEGREE = {"rast": 2, "bayati": 3, "sikah": 1, "hijaz": 2, "saba": 3, "nahawand": 1,
               "kurd": 2, "ajam": 2}
"""The degree that tells each maqam from its nearest neighbour on the same tonic (bayati's
fourth against saba, hijaz's third against kurd, ...)."""


@contextlib.contextmanager
def settings(**values):
    """Temporarily set module constants of maqamgen.estimate."""
    old = {k: getattr(E, k) for k in values}
    for k, v in values.items():
        setattr(E, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(E, k, v)


def tonic_ok(est_hz: float, true_hz: float) -> bool:
    return bool(metrics.tonic_correct(est_hz, true_hz))


def fmt(k: int, n: int) -> str:
    p, lo, hi = metrics.wilson_interval(int(k), int(n))
    return f"{k:3d}/{n:<3d} = {100 * p:5.1f}% [{100 * lo:5.1f}, {100 * hi:5.1f}]"


def track_key() -> str:
    return runtime.digest({"sr": E.ANALYSIS_SR, "hop": E.HOP_LENGTH, "frame": E.FRAME_LENGTH,
                           "fmin": E.FMIN_HZ, "fmax": E.FMAX_HZ}, 8)


def window(track: E.PitchTrack, seconds: float = WINDOW_S) -> tuple[E.PitchTrack, float, float]:
    """The middle ``seconds`` of a pitch track, and its start and end time in s."""
    mid = 0.5 * (track.times[0] + track.times[-1])
    a, b = mid - seconds / 2, mid + seconds / 2
    keep = (track.times >= a) & (track.times < b)
    t = track.times[keep]
    return dataclasses.replace(track, times=t - t[0], f0_hz=track.f0_hz[keep],
                               voiced_prob=track.voiced_prob[keep]), a, b


def fits_other(maqam: str, held: dict[float, float], tol: float, min_s: float = 0.25) -> list[str]:
    """Other maqamat on the same tonic whose scale holds every pitch class (cents above the
    tonic -> seconds sounded) sounded for at least ``min_s``, within ``tol`` cents."""
    pcs = np.array([c for c, s in held.items() if s >= min_s])
    if pcs.size == 0:
        return [m for m in MAQAMAT if m != maqam]
    out = []
    for other in MAQAMAT:
        if other == maqam:
            continue
        pc = mq.pitch_classes_cents(other, practice=False)
        d = np.abs(np.mod(pcs[:, None] - pc[None, :] + 600.0, 1200.0) - 600.0).min(axis=1)
        if np.all(d <= tol):
            out.append(other)
    return out


# ----------------------------------------------------------------------------- data


def corpus_items(profile: str, splits: tuple[str, ...]) -> list[dict]:
    """Corpus clips with cached pitch tracks: ``{"id", "maqam", "tonic_hz", "track", "window",
    "window_confusable"}``."""
    from maqamgen import corpus

    cp = corpus.load(profile, progress=False)
    cache = runtime.cache_dir("bench_estimate", f"{cp.hash}-{track_key()}")
    items = []
    for split in splits:
        for c in cp.split(split):
            f = cache / f"{c.id}.npz"
            if f.exists():
                z = np.load(f)
                tr = E.PitchTrack(z["times"], z["f0_hz"], z["voiced_prob"], float(z["hop_s"]))
            else:
                y, sr = cp.audio(c)
                tr = E.pitch_track(y, sr)
                with runtime.atomic_path(f, suffix=".npz") as tmp:
                    np.savez(tmp, times=tr.times, f0_hz=tr.f0_hz, voiced_prob=tr.voiced_prob,
                             hop_s=tr.hop_s)
            win, a, b = window(tr)
            notes, _ = cp.notes(c)
            held: dict[float, float] = {}
            for n in notes:
                dur = min(n.offset, b) - max(n.onset, a)
                if dur > 0:
                    pc = 50.0 * (round(float(np.mod(mq.cents(n.freq_hz, c.tonic_hz), 1200.0)) / 50.0) % 24)
                    held[pc] = held.get(pc, 0.0) + dur
            items.append({"id": c.id, "maqam": c.maqam, "tonic_hz": c.tonic_hz, "track": tr,
                          "window": win, "window_confusable": fits_other(c.maqam, held, 37.0)})
    return items


def other_items(per_group: int, seed0: int) -> list[dict]:
    """Phrases of tests/pluck_other.py with pitch tracks (cached by its source and the seeds):
    ``{"maqam", "tonic_hz", "group", "track", "confusable"}``."""
    import pluck_other as P

    key = runtime.digest({"src": inspect.getsource(P), "per": per_group, "seed": seed0,
                          "track": track_key()}, 12)
    f = runtime.cache_dir("bench_estimate") / f"other-{key}.pkl"
    if f.exists():
        return pickle.loads(f.read_bytes())
    items = []
    for mi, name in enumerate(MAQAMAT):
        for j in range(per_group):
            for gi, group in enumerate(("random", "relative", "rare", "no cadence")):
                seed = seed0 + 1000 * mi + 10 * j + gi
                rng = np.random.default_rng(seed)
                tonic = float(mq.hz(50.0 * int(rng.integers(0, 29)) + rng.uniform(-15, 15),
                                    mq.note_hz("G2")))
                kw: dict = {"ending": str(rng.choice(["qafla", "short"]))}
                if group == "random":
                    kind = rng.choice(["plain", "low", "high", "linger", "rare"])
                    if kind == "low":
                        kw["register"] = (-4, 4)
                    elif kind == "high":
                        kw["register"] = (0, 9)
                    elif kind == "linger":
                        kw |= {"linger": {int(rng.integers(2, 6)): 3.5}, "register": (-3, 6)}
                    elif kind == "rare":
                        kw["rare"] = {int(rng.integers(1, 7)): 0.3}
                elif group == "relative":
                    kw = {"linger": {RELATIVE_DEGREE[name]: 3.5}, "register": (-3, 6), "ending": "short"}
                elif group == "rare":
                    kw["rare"] = {RARE_DEGREE[name]: 0.3}
                else:
                    kw["ending"] = "none"
                notes = P.phrase(name, tonic, float(rng.uniform(6.0, 10.0)), seed=seed, **kw)
                y = P.render(notes, SR, seed=seed, snr_db=float(rng.uniform(20.0, 40.0)))
                items.append({"maqam": name, "tonic_hz": tonic, "group": group,
                              "track": E.pitch_track(y, SR),
                              "confusable": P.confusable_with(name, notes, MAQAMAT)})
    runtime.atomic_write(f, pickle.dumps(items))
    return items


# ----------------------------------------------------------------------------- scoring


def judge(items: list[dict], how: str = "free", key: str = "track") -> dict:
    """Run one estimator on every item: ``{"m", "t", "n", "misses", "s_per_clip"}``."""
    m = t = 0
    misses: Counter = Counter()
    t0 = time.perf_counter()
    for it in items:
        tr = it[key]
        if how == "free":
            e = E.estimate(None, SR, track=tr)
        else:
            e = E.estimate_given_tonic(None, SR, it["tonic_hz"], track=tr)
        a, b = e.maqam == it["maqam"], tonic_ok(e.tonic_hz, it["tonic_hz"])
        m += a
        t += b
        if not (a and b):
            misses[f"{it['maqam']}->{e.maqam}" + ("" if b else " (tonic)")] += 1
    return {"m": m, "t": t, "n": len(items), "misses": misses,
            "s_per_clip": (time.perf_counter() - t0) / max(1, len(items))}


def row(label: str, r: dict, tonic: bool = True) -> None:
    top = ", ".join(f"{k} x{v}" for k, v in r["misses"].most_common(4))
    t = fmt(r["t"], r["n"]) if tonic else " " * 30 + "(given)"
    print(f"  {label:44s} maqam {fmt(r['m'], r['n'])}  tonic {t}  {top}")


def before_after(label: str, items: list[dict], how: str = "free", key: str = "track") -> None:
    with settings(**BEFORE):
        row(f"{label}, before", judge(items, how, key), how == "free")
    row(f"{label}, after", judge(items, how, key), how == "free")


# ----------------------------------------------------------------------------- sections


def section_corpus(items: list[dict], profile: str) -> None:
    print(f"\n## 1. corpus {profile!r}, validation + test clips, whole (n={len(items)})")
    before_after("pitch + PCD, free", items)


def section_windows(items: list[dict]) -> None:
    ident = [it for it in items if not it["window_confusable"]]
    print(f"\n## 2. {WINDOW_S:.0f}-s windows from the middle of the same clips (no closing cadence); "
          f"{len(ident)} of {len(items)} identifiable from their notes")
    before_after("free estimator", items, "free", "window")
    before_after("known tonic (estimate_given_tonic)", items, "given", "window")
    row("known tonic, identifiable windows only", judge(ident, "given", "window"), False)
    row("free, identifiable windows only", judge(ident, "free", "window"))
    conf = Counter(tuple(it["window_confusable"]) for it in items if it["window_confusable"])
    print("  windows whose notes fit other maqamat too: "
          + ", ".join(f"{'/'.join(k)} x{v}" for k, v in conf.most_common(6)))


def section_other(items: list[dict]) -> None:
    print(f"\n## 3. another synthesizer (tests/pluck_other.py), {len(items)} phrases")
    for group in ("random", "relative", "rare"):
        sub = [it for it in items if it["group"] == group]
        ident = [it for it in sub if not it["confusable"]]
        before_after(f"{group} (n={len(sub)})", sub)
        if len(ident) < len(sub):
            row(f"{group}, identifiable only (n={len(ident)})", judge(ident))
    sub = [it for it in items if it["group"] != "no cadence"]
    before_after(f"all with a cadence (n={len(sub)})", sub)
    ident = [it for it in sub if not it["confusable"]]
    row(f"all with a cadence, identifiable (n={len(ident)})", judge(ident))
    nc = [it for it in items if it["group"] == "no cadence"]
    before_after(f"no cadence, free (n={len(nc)})", nc)
    before_after(f"no cadence, known tonic (n={len(nc)})", nc, "given")
    amb = Counter(f"{it['maqam']}~{'/'.join(it['confusable'])}" for it in items if it["confusable"])
    print("  phrases whose notes fit another maqam on the same tonic: "
          + (", ".join(f"{k} x{v}" for k, v in amb.most_common()) or "none"))


DEGREE_CHOICES = {
    "tonic 2, ghammaz 1.5, others 1 (before)": {"tonic": 2.0, "ghammaz": 1.5, "other": 1.0},
    "tonic 2, others 1": {"tonic": 2.0, "ghammaz": 1.0, "other": 1.0},
    "all equal (after)": {"tonic": 1.0, "ghammaz": 1.0, "other": 1.0},
}

CUE_CHOICES = {
    "qafla 1, lowest .25, peak .25 (before)": {"qafla": 1.0, "lowest": 0.25, "peak": 0.25},
    "qafla 1, final 1, lowest .25 (after)": {"qafla": 1.0, "final": 1.0, "lowest": 0.25},
    "qafla 1, final 1, lowest/long/peak .25": {"qafla": 1.0, "final": 1.0, "lowest": 0.25,
                                                "long": 0.25, "peak": 0.25},
    "final 1, lowest .25": {"final": 1.0, "lowest": 0.25},
    "qafla 1, final 1, lowest/long/peak .5": {"qafla": 1.0, "final": 1.0, "lowest": 0.5,
                                              "long": 0.5, "peak": 0.5},
    "lowest, long, peak (no final note)": {"lowest": 1.0, "long": 1.0, "peak": 1.0},
}


def section_dev(profile: str, per_group: int) -> None:
    corp = corpus_items(profile, ("train",))
    other = [it for it in other_items(per_group, seed0=900_000) if it["group"] != "no cadence"]
    print(f"\n## DEV: corpus train clips (n={len(corp)}) and other seeds of the independent "
          f"generator (n={len(other)})")
    print(f"  {'template degree weights':44s} {'corpus maqam':>14s} {'windows':>8s} "
          f"{'windows given':>14s} {'other maqam':>12s}")
    for label, w in DEGREE_CHOICES.items():
        with settings(DEGREE_WEIGHTS=w):
            a, b, c, d = (judge(corp), judge(corp, "free", "window"), judge(corp, "given", "window"),
                          judge(other))
        print(f"  {label:44s} {a['m']:>10d}/{a['n']} {b['m']:>5d}/{b['n']} {c['m']:>10d}/{c['n']} "
              f"{d['m']:>8d}/{d['n']}")
    print(f"  {'tonic-cue weights':44s} {'corpus m/t':>14s} {'windows m/t':>12s} {'other m/t':>12s}")
    for label, w in CUE_CHOICES.items():
        with settings(TONIC_WEIGHTS=w):
            a, b, d = judge(corp), judge(corp, "free", "window"), judge(other)
        print(f"  {label:44s} {a['m']:>7d}/{a['t']}/{a['n']} {b['m']:>6d}/{b['t']}/{b['n']} "
              f"{d['m']:>6d}/{d['t']}/{d['n']}")


# ----------------------------------------------------------------------------- older synthetic sets


def random_tonic(rng: np.random.Generator) -> float:
    """A tonic: a random quarter tone from G2 to A3, detuned by U(-15, 15) cents, in Hz."""
    qt = int(rng.integers(0, 29))
    return float(mq.hz(50.0 * qt + rng.uniform(-15.0, 15.0), mq.note_hz("G2")))


def section_synthetic(per_maqam: int = 4, seconds=(8.0, 10.0, 12.0)) -> None:
    import ks_oud

    for kind in ("synth", "ks"):
        clips = []
        for mi, name in enumerate(MAQAMAT):
            for j in range(per_maqam):
                seed = (0 if kind == "synth" else 10_000) + 100 * mi + j
                rng = np.random.default_rng(seed)
                tonic = random_tonic(rng)
                sec = float(seconds[j % len(seconds)])
                if kind == "synth":
                    notes, _ = synth.phrase(name, tonic_hz=tonic, seconds=sec, seed=seed)
                    y = synth.render(notes, sr=SR, seed=seed)
                else:
                    p, d = ks_oud.scale_walk(name, tonic, seconds=sec, seed=seed)
                    y = ks_oud.render_ks(p, d, sr=SR, seed=seed)
                y = metrics.add_noise(y, float(rng.uniform(20.0, 40.0)), seed=seed + 7)
                clips.append({"y": y, "maqam": name, "tonic_hz": tonic, "track": E.pitch_track(y, SR)})
        label = ("maqamgen.synth phrases" if kind == "synth"
                 else "Karplus-Strong scale walks (tests/ks_oud.py)")
        print(f"\n## {label}, n={len(clips)}")
        before_after("pitch + PCD, free", clips)
        for seg in ("all", "outer_thirds"):
            r = {"m": 0, "t": 0, "n": len(clips), "misses": Counter()}
            for c in clips:
                e = E.estimate_fft(c["y"], SR, seg)
                r["m"] += e.maqam == c["maqam"]
                r["t"] += tonic_ok(e.tonic_hz, c["tonic_hz"])
            row(f"FFT, {seg} (the report's method)", r)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="book", help="corpus profile (smoke, book, full)")
    ap.add_argument("--per-group", type=int, default=2,
                    help="independent-generator phrases per maqam and group")
    ap.add_argument("--dev", action="store_true", help="compare the choices on the development set")
    ap.add_argument("--synthetic", action="store_true",
                    help="also maqamgen.synth phrases and Karplus-Strong walks, with the FFT method")
    args = ap.parse_args(argv)

    # warm-up: numba compile of pyin's Viterbi (cached under data/cache/numba)
    E.pitch_track(np.sin(np.arange(SR) * 2 * np.pi * 220 / SR).astype(np.float32), SR)
    t0 = time.perf_counter()
    if args.dev:
        section_dev(args.profile, args.per_group)
    held_out = corpus_items(args.profile, ("validation", "test"))
    section_corpus(held_out, args.profile)
    section_windows(held_out)
    section_other(other_items(args.per_group, seed0=0))
    if args.synthetic:
        section_synthetic()
    r = judge(held_out)
    g = judge(held_out, "given", "window")
    print(f"\nscoring a given pitch track: estimate {1e3 * r['s_per_clip']:.1f} ms per clip, "
          f"estimate_given_tonic {1e3 * g['s_per_clip']:.1f} ms per window; "
          f"run {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
