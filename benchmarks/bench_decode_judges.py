"""What the book's judges spend on decoding and pitch: Griffin-Lim and FCPE, stock against ours.

Every generated spectrogram the book judges goes through Griffin-Lim
(:func:`maqamgen.audio.griffin_lim`) and, for its pitch, often through FCPE
(:func:`maqamgen.trackers.fcpe_track`). In a profile of Chapter 8 at ``book`` (2026-12-07),
Griffin-Lim was 80 s and FCPE 61 s of the 172 s of its ornament ceiling, and Griffin-Lim 29 of the
82 s of judging the DiT. This benchmark times, in one run and on the same signals:

1. Griffin-Lim of a 5.9-s fragment and a 60-s piece (``n_fft`` 2048, hop 512, 32 iterations,
   the latent chapters' grid): ``torchaudio.transforms.GriffinLim`` against
   :func:`maqamgen.audio.griffin_lim` (the same algorithm with its own overlap-add; the
   signals agree to float rounding, ``tests/test_audio.py``), with the largest difference;
2. FCPE on the same 5.9 s with torchfcpe's grouped convolutions and with its depthwise ones as
   shifted multiply-adds (:func:`maqamgen.nets.depthwise.shift_depthwise_convs`, what
   :func:`maqamgen.trackers.fcpe_model` loads), with the largest difference in cents;
3. that convolution alone (1024 channels, 591 frames, 31 taps).

Each time is the best of ``REPEATS`` after a warm-up, with the ratio stock / ours.

Run: ``.venv/bin/python benchmarks/bench_decode_judges.py`` (about 1 minute on a 2-core CPU;
``BENCH_THREADS`` sets torch's threads, default 2 as the book's chapters). Measured 2026-12-07
on this project's 2-core CPU, 2 threads: Griffin-Lim 5.9 s 0.218 -> 0.132 s (x1.65), 60 s 2.75 ->
1.69 s (x1.63), largest difference 0.3% of the signal's peak; FCPE 5.9 s 0.269 -> 0.167 s (x1.61),
the same voiced frames, pitches within 0.002 cents; the convolution 17.2 -> 3.3 ms (x5.2). A later
run the same day, on a faster spell: Griffin-Lim x1.51 (5.9 s) and x1.45 (60 s), FCPE x1.30, the
convolution 8.6 -> 2.6 ms (x3.4).
"""

from __future__ import annotations

import copy
import os
import time

import numpy as np
import torch

from maqamgen import audio, trackers
from maqamgen.nets import depthwise

SR, N_FFT, HOP, N_ITER = 22050, 2048, 512, 32
REPEATS = 3


def best_of(fn, repeats: int = REPEATS) -> float:
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def phrase(seconds: float) -> np.ndarray:
    """A line with vibrato and a little noise, as an oud fragment's pitch and spectrum go."""
    t = np.arange(int(seconds * SR)) / SR
    f = 196.0 * 2 ** ((np.floor(2 * t) % 5) / 12) * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * t) / 12)
    ph = 2 * np.pi * np.cumsum(f) / SR
    y = (0.3 * np.sin(ph) + 0.1 * np.sin(2 * ph)) * np.exp(-3 * (t % 0.5))
    return (y + 0.01 * np.random.default_rng(0).standard_normal(y.size)).astype(np.float32)


def torchaudio_griffin_lim(mag: np.ndarray) -> np.ndarray:
    import torchaudio

    gl = torchaudio.transforms.GriffinLim(n_fft=N_FFT, n_iter=N_ITER, win_length=N_FFT, hop_length=HOP,
                                          power=1.0, momentum=0.99, rand_init=True,
                                          window_fn=lambda n, **_: torch.hann_window(n, periodic=True))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return gl(torch.from_numpy(mag)).numpy()


def main() -> None:
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    print(f"{threads} torch thread(s); best of {REPEATS}; ratio = stock / ours")
    for seconds in (5.9, 60.0):
        mag = np.abs(audio.stft(phrase(seconds), N_FFT, HOP)).astype(np.float32)
        a = best_of(lambda: torchaudio_griffin_lim(mag))
        b = best_of(lambda: audio.griffin_lim(mag, N_FFT, HOP, N_ITER, seed=0))
        ref = torchaudio_griffin_lim(mag)
        diff = np.abs(ref - audio.griffin_lim(mag, N_FFT, HOP, N_ITER, seed=0)).max() / np.abs(ref).max()
        print(f"Griffin-Lim {seconds:4.1f} s: torchaudio {a:.3f} s, ours {b:.3f} s, x{a / b:.2f} "
              f"(largest difference {100 * diff:.2f}% of the peak)")

    y = phrase(5.9)
    ours = trackers.fcpe_model()
    stock = copy.deepcopy(ours)
    for m in stock.modules():
        if type(m) is depthwise.ShiftedDepthwiseConv1d:
            m.__class__ = torch.nn.Conv1d
    b = best_of(lambda: trackers.fcpe_track(y, SR))
    tr_ours = trackers.fcpe_track(y, SR)
    load = trackers.fcpe_model
    trackers.fcpe_model = lambda: stock  # fcpe_track looks the loader up at each call
    try:
        a = best_of(lambda: trackers.fcpe_track(y, SR))
        tr_stock = trackers.fcpe_track(y, SR)
    finally:
        trackers.fcpe_model = load
    both = np.isfinite(tr_ours.f0_hz) & np.isfinite(tr_stock.f0_hz)
    cents = np.abs(1200 * np.log2(tr_ours.f0_hz[both] / tr_stock.f0_hz[both])).max() if both.any() else np.nan
    same_voicing = np.array_equal(np.isfinite(tr_ours.f0_hz), np.isfinite(tr_stock.f0_hz))
    print(f"FCPE 5.9 s: grouped convolutions {a:.3f} s, shifted {b:.3f} s, x{a / b:.2f} "
          f"(largest difference {cents:.4f} cents; same voiced frames: {same_voicing})")

    conv = torch.nn.Conv1d(1024, 1024, 31, padding=15, groups=1024)
    x = torch.randn(1, 1024, 591)
    with torch.no_grad():
        a = best_of(lambda: conv(x), 10)
        b = best_of(lambda: depthwise.depthwise_conv1d(x, conv.weight, conv.bias), 10)
    print(f"depthwise convolution 1024 x 591, 31 taps: nn.Conv1d {a * 1e3:.1f} ms, shifted "
          f"{b * 1e3:.1f} ms, x{a / b:.1f}")


if __name__ == "__main__":
    main()
