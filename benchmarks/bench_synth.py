"""Benchmark: render a dense 9-minute, 2,800-note oud performance on ONE core.

Run: ``python benchmarks/bench_synth.py [--seconds 540] [--notes 2800] [--sr 22050]
[--repeats 3] [--target 200]``. Prints the seconds of audio, the wall time of the
render (best of the repeats), the real-time ratio and ``PASS`` / ``FAIL`` against the
target ratio (200x). Exit status 0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"  # before numpy / scipy / torch are imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from contextlib import nullcontext  # noqa: E402


def _one_thread():
    """Limit BLAS/OpenMP pools to one thread (threadpoolctl when installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=540.0)
    p.add_argument("--notes", type=int, default=2800)
    p.add_argument("--sr", type=int, default=22050)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--target", type=float, default=200.0)
    args = p.parse_args(argv)

    from maqamgen import synth

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    notes, _ = synth.performance(args.seconds, args.notes, seed=0)
    n_plucks = sum(int(n.duration * n.ornament["rate_hz"]) if n.ornament and n.ornament["type"] == "tremolo"
                   else 1 for n in notes)
    with _one_thread():
        synth.render(notes[:50], sr=args.sr)  # warm-up (caches, first-call costs)
        walls = []
        for _ in range(max(args.repeats, 1)):
            t0 = time.perf_counter()
            audio = synth.render(notes, sr=args.sr, seed=0)
            walls.append(time.perf_counter() - t0)
    seconds = len(audio) / args.sr
    wall = min(walls)
    ratio = seconds / wall
    ok = ratio >= args.target
    print(f"notes:            {len(notes)} ({n_plucks} plucks with tremolo re-plucks)")
    print(f"audio:            {seconds:.1f} s at {args.sr} Hz")
    print(f"wall (best of {len(walls)}): {wall:.3f} s  (all: {', '.join(f'{w:.3f}' for w in walls)})")
    print(f"real-time ratio:  {ratio:.0f}x  (target {args.target:.0f}x)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
