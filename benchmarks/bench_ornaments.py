"""Benchmark: the ornament detector (maqamgen.ornaments) against the corpus's labels, on ONE core.

:func:`maqamgen.ornaments.validate` on a split of a profile's corpus (default: the book corpus's
test split; the thresholds were tuned on its train split): per ornament kind, precision and
recall with 95 % Wilson intervals, F1, parameter errors, the note-level confusion between kinds,
and the detector's seconds (pitch track + onsets + detection) per second of audio. ``--trackers``
runs it once per pitch tracker (FCPE at 10 ms, pYIN at 35 ms) to show which suits ornaments.

    .venv/bin/python benchmarks/bench_ornaments.py [--profile book] [--split test] [--n N]
        [--trackers fcpe pyin]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy / scipy / torch are imported

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "data" / "cache" / "numba"))


def _ci(row, col: str) -> str:
    v, lo, hi = row[col], row[f"{col}_lo"], row[f"{col}_hi"]
    return "-" if v != v else f"{v:.2f} [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="book")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=None, help="clips (all of the split by default)")
    ap.add_argument("--trackers", nargs="+", default=["fcpe"])
    args = ap.parse_args()

    import pandas as pd

    from maqamgen import corpus, ornaments, runtime

    runtime.set_threads(1)
    corp = corpus.load(args.profile, progress=False)
    for tracker in args.trackers:
        df = ornaments.validate(corp, args.split, n=args.n, tracker=tracker)
        a = df.attrs
        print(f"\n== {args.profile} corpus, {args.split} split: {a['n_clips']} clips, {a['audio_s']:.0f} s of "
              f"audio, tracker {tracker} ==")
        table = pd.DataFrame({
            "kind": df["kind"], "labelled": df["n_labelled"], "detected": df["n_detected"],
            "precision [95% Wilson]": [_ci(r, "precision") for _, r in df.iterrows()],
            "recall [95% Wilson]": [_ci(r, "recall") for _, r in df.iterrows()],
            "F1": df["f1"].round(2), "rate MAE Hz": df["rate_mae_hz"].round(2),
            "depth MAE c": df["depth_mae_cents"].round(1), "interval MAE c": df["interval_mae_cents"].round(1)})
        print(table.to_string(index=False))
        print("\nconfusion (rows: labelled kind, columns: predicted kind; notes)")
        print(a["confusion"].to_string())
        print(f"\ndetector time: {a['sec_per_audio_s']:.3f} s per audio second "
              "(pitch track + onsets + detection, one core)")


if __name__ == "__main__":
    main()
