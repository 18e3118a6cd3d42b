"""Benchmark: the book's pYIN against the pretrained FCPE tracker (maqamgen.trackers), on ONE core.

Two measurements, in one run:

1. **Speed**: seconds of tracking per second of audio for each tracker on the same corpus clip
   (the longest of the split), best of ``--repeats`` after a warm-up call (FCPE's one-off model
   load is printed apart), and their ratio.
2. **Validation** (:func:`maqamgen.trackers.validate_trackers`): each tracker against the clips'
   ground-truth notes (within +-15 cents, median |error|, octave errors, voiced recall, share of
   voiced frames on the maqam's degrees) and against each other (within 50 cents, mod-octave
   agreement), means over clips with 95% bootstrap intervals over clips.
   ``--thresholds`` also sweeps FCPE's voicing threshold on the *training* clips.

    .venv/bin/python benchmarks/bench_trackers.py [--profile smoke] [--split test] [--n N]
        [--seconds S] [--repeats 3] [--thresholds]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"  # before numpy / scipy / torch are imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "data" / "cache" / "numba"))


def _ci(row, col: str, fmt: str = "{:.3f}") -> str:
    v, lo, hi = row[col], row[f"{col}_lo"], row[f"{col}_hi"]
    if v != v:  # NaN: does not apply
        return "-"
    return f"{fmt.format(v)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="smoke", help="corpus profile (smoke, book, full)")
    p.add_argument("--split", default="test")
    p.add_argument("--n", type=int, default=None, help="clips to validate on (all by default)")
    p.add_argument("--seconds", type=float, default=None, help="audio per clip, s (all by default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--thresholds", action="store_true", help="sweep FCPE's threshold on train clips")
    args = p.parse_args(argv)

    import numpy as np

    from maqamgen import corpus, metrics, runtime
    from maqamgen import trackers as T

    runtime.set_threads(1)
    t0 = time.perf_counter()
    corp = corpus.load(args.profile, progress=False)
    print(f"corpus {corp!r}: {time.perf_counter() - t0:.1f} s")

    # 1. speed, on one clip
    clip = max(corp.split(args.split), key=lambda c: c.seconds)
    y, sr = corp.audio(clip)
    dur = len(y) / sr
    t0 = time.perf_counter()
    T.fcpe_model()
    load = time.perf_counter() - t0
    per_s = {}
    for name in T.TRACKERS:
        T.track(y[: sr], sr, name)  # warm-up (numba compilation, first-call costs)
        walls = []
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            T.track(y, sr, name)
            walls.append(time.perf_counter() - t0)
        per_s[name] = min(walls) / dur
    print(f"\nspeed on {clip.id} ({dur:.1f} s at {sr} Hz), 1 thread, best of {args.repeats}:")
    print(f"  FCPE model load (once per process): {load:.2f} s")
    for name, v in per_s.items():
        print(f"  {name:5s} {v:.4f} s per s of audio  ({1 / v:.0f}x real time)")
    print(f"  pyin / fcpe time ratio: {per_s['pyin'] / per_s['fcpe']:.1f}x")

    # 2. validation against the notes and each other
    t0 = time.perf_counter()
    df = T.validate_trackers(corp, split=args.split, n=args.n, seconds=args.seconds)
    print(f"\nvalidation on {int(df['n_clips'].iloc[0])} clips of {args.split!r} "
          f"({time.perf_counter() - t0:.1f} s); mean over clips [95% bootstrap over clips]; "
          "median_abs_cents: median over clips of each clip's median:")
    for _, r in df.iterrows():
        head = f"{r['tracker']} vs {r['reference']}"
        tol = "15" if r["reference"] == "notes" else "50"
        print(f"  {head:14s} within +-{tol} c {_ci(r, 'within')}  median |e| "
              f"{_ci(r, 'median_abs_cents', '{:.1f}')} c  octave {r['octave_share']:.3f}  "
              f"frames {int(r['n_frames'])}")
        if r["reference"] == "notes":
            print(f"  {'':14s} voiced recall {_ci(r, 'voiced_recall')}  on the maqam's degrees "
                  f"(+-15 c) {_ci(r, 'in_scale')}")
        else:
            print(f"  {'':14s} within +-50 c modulo the octave {_ci(r, 'within_mod_octave')}")

    if args.thresholds:
        print("\nFCPE voicing threshold on the train clips (within +-15 c, median |e|, recall):")
        data = [(corp.audio(c), corp.notes(c)[0]) for c in corp.split("train")]
        for thr in (0.006, 0.02, 0.05, 0.1, 0.3):
            r = [metrics.pitch_fidelity(T.fcpe_track(a, s, threshold=thr), notes) for (a, s), notes in data]
            print(f"  {thr:<6g} " + "  ".join(f"{k} {np.nanmean([x[k] for x in r]):.3f}"
                                              for k in ("within", "median_abs_cents", "voiced_recall")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
