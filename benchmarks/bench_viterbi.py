"""pYIN's Viterbi decoding: librosa's dense decoder against :func:`maqamgen.viterbi.viterbi`.

:func:`maqamgen.estimate.pitch_track` (the estimator's pitch track, run on every generated
fragment and 10-s window the book judges) decodes pYIN's ``2 x 503`` states (55 to 1000 Hz in 10-cent bins) with the banded
decoder; the states are librosa's exactly (``tests/test_viterbi.py``). This benchmark times, in one
run and on the same signals (a plucked line with a silent gap, 6 s and 60 s at 22.05 kHz), the
whole pitch track with librosa's own decoder and with the banded one, and prints the ratio.

Run: ``.venv/bin/python benchmarks/bench_viterbi.py`` (about 20 s on a 2-core CPU). Measured
2026-12-06 on this project's 2-core CPU: 6 s 0.49 -> 0.15 s (x3.3), 60 s 3.95 -> 1.02 s (x3.9).
"""

from __future__ import annotations

import contextlib
import time
from unittest import mock

import numpy as np

from maqamgen import estimate, viterbi


def line(seconds: float, sr: int = 22050) -> np.ndarray:
    """A plucked line stepping through five semitones twice a second, with a 2-s rest."""
    t = np.arange(int(seconds * sr)) / sr
    f = 196.0 * 2 ** ((np.floor(2 * t) % 5) / 12)
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-4 * (t % 0.5))
    y[int(0.4 * y.size):int(0.4 * y.size) + 2 * sr] = 0
    return (y + 0.01 * np.random.default_rng(0).standard_normal(y.size)).astype(np.float32)


def best_of(fn, repeats: int = 3) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    sr = 22050
    estimate.pitch_track(line(1.0), sr)  # numba: load (or compile) both decoders once
    with mock.patch.object(viterbi, "in_librosa", contextlib.nullcontext):
        estimate.pitch_track(line(1.0), sr)
    for seconds in (6.0, 60.0):
        y = line(seconds)
        banded = best_of(lambda: estimate.pitch_track(y, sr))
        with mock.patch.object(viterbi, "in_librosa", contextlib.nullcontext):
            dense = best_of(lambda: estimate.pitch_track(y, sr))
        print(f"pitch_track of {seconds:4.0f} s: librosa's decoder {dense:6.2f} s, banded {banded:6.2f} s, "
              f"x{dense / banded:.1f}")


if __name__ == "__main__":
    main()
