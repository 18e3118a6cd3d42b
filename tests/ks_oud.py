"""An independent plucked-string renderer (Karplus-Strong), to test estimators on audio
made by a different method than :mod:`maqamgen.synth`.

Per note, a burst of filtered noise one period long excites the feedback comb

    y[n] = x[n] + g * (a0 y[n-M] + a1 y[n-M-1] + a2 y[n-M-2])

whose loop filter ``(a0, a1, a2) = conv([0.5, 0.5], [1 - eta, eta])`` is the classic
two-point average (the string's high-frequency loss) combined with linear-interpolation
fractional delay, so the loop delay ``M + 0.5 + eta`` equals ``sr / f0`` and the pitch is
exact to a few cents. ``g`` sets the decay (T60). The recursion runs in C through
:func:`scipy.signal.lfilter` (no Python loop over samples). Notes are damped at their offset,
mixed, passed through a single two-pole "body" resonance and peak-normalised.

Melodies: :func:`scale_walk` climbs from the tonic to a random degree, dips, and comes back
to end on a long tonic.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from maqamgen import maqam as mq


def ks_note(f0: float, seconds: float, sr: int, rng: np.random.Generator, t60: float = 2.5,
            brightness: float = 0.7) -> np.ndarray:
    """One plucked note (Karplus-Strong), shape (round(seconds * sr),), float64.

    Args:
        f0: pitch in Hz.
        seconds: length in s (damped over the last 30 ms).
        sr: sample rate in Hz.
        rng: noise source.
        t60: decay time of the fundamental, in s.
        brightness: one-pole low-pass coefficient of the excitation (0 dark .. 1 bright).
    """
    n = int(round(seconds * sr))
    D = sr / f0
    M = int(np.floor(D - 0.5))
    eta = D - 0.5 - M
    a = np.convolve([0.5, 0.5], [1.0 - eta, eta])
    g = 10.0 ** (-3.0 / (t60 * f0))  # -60 dB after t60 seconds (f0 * t60 round trips)
    den = np.zeros(M + 3)
    den[0] = 1.0
    den[M:M + 3] -= g * a
    burst = rng.uniform(-1.0, 1.0, M + 1)
    burst = signal.lfilter([brightness], [1.0, -(1.0 - brightness)], burst)
    burst -= burst.mean()
    x = np.zeros(n)
    x[:min(n, burst.size)] = burst[:n]
    y = signal.lfilter([1.0], den, x)
    rel = min(n, int(0.03 * sr))
    y[n - rel:] *= np.linspace(1.0, 0.0, rel)
    return y


def render_ks(pitches_hz, durations_s, sr: int = 22050, seed: int = 0) -> np.ndarray:
    """Render a monophonic melody with Karplus-Strong strings and a simple body.

    Args:
        pitches_hz: note pitches in Hz, shape (N,).
        durations_s: note lengths in s, shape (N,) (each note starts when the previous ends).
        sr: sample rate in Hz.
        seed: noise seed.

    Returns:
        float32 audio, shape (S,), peak 0.9.
    """
    rng = np.random.default_rng(seed)
    parts = [ks_note(f, d, sr, rng, t60=rng.uniform(1.5, 3.5), brightness=rng.uniform(0.5, 0.9))
             * rng.uniform(0.6, 1.0) for f, d in zip(pitches_hz, durations_s)]
    y = np.concatenate(parts + [np.zeros(int(0.2 * sr))])
    # body: one resonance at ~100 Hz (two-pole), added to the direct sound
    r, fb = 0.995, 100.0
    body = signal.lfilter([1.0 - r], [1.0, -2 * r * np.cos(2 * np.pi * fb / sr), r * r], y)
    y = y + 2.0 * body
    return (0.9 * y / np.max(np.abs(y))).astype(np.float32)


def scale_walk(maqam: str, tonic_hz: float, seconds: float = 8.0, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """A scale-walk melody in a maqam, ending on a long tonic (24-TET degrees).

    Up from the tonic to a random top degree (4-8) with occasional repeats and turns,
    down below the tonic by up to two degrees, back to the tonic held for ~1.2 s.

    Returns:
        ``(pitches_hz, durations_s)``, each shape (N,), total about ``seconds``.
    """
    rng = np.random.default_rng(seed)
    deg = np.asarray(mq.get_maqam(maqam).degrees_cents)
    cents = lambda d: 1200.0 * (d // 7) + deg[d % 7]  # noqa: E731
    top, low = int(rng.integers(4, 9)), -int(rng.integers(0, 3))
    path = list(range(0, top + 1)) + list(range(top - 1, low - 1, -1)) + list(range(low + 1, 1))
    budget = seconds - 1.2
    notes, t = [], 0.0
    while t < budget:
        for d in path[:-1]:
            dur = float(rng.choice([0.2, 0.3, 0.4, 0.6], p=[0.3, 0.35, 0.25, 0.1]))
            notes.append((d, dur))
            if rng.random() < 0.15:  # a turn: the upper neighbour and back
                notes.append((d + 1, 0.15))
                notes.append((d, 0.15))
            t = sum(n[1] for n in notes)
            if t >= budget:
                break
    notes.append((0, 1.2))
    d = np.array([n[0] for n in notes])
    return tonic_hz * 2.0 ** (np.array([cents(x) for x in d]) / 1200.0), np.array([n[1] for n in notes])
