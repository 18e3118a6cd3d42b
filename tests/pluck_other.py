"""A second independent plucked-string generator, to test the estimators on audio and melodies
made neither by :mod:`maqamgen.synth` / :mod:`maqamgen.corpus` nor by ``tests/ks_oud.py``.

Sound: **additive stiff-string partials** rather than a delay-line loop. A plucked string of
inharmonicity ``B`` has partials at

    f_k = k f0 sqrt(1 + B k^2),      k = 1 .. K  (f_K < 0.45 sr),

with amplitudes set by the plucking point ``p`` (a fraction of the string length) and a
plectrum roll-off, ``a_k = |sin(pi k p)| / k^1.2``, each decaying at its own rate (higher
partials die faster: ``tau_k = tau_1 / (1 + 0.12 (k - 1))``) over a two-stage envelope (a
prompt part that dies within ~tau_1 / 8 and an aftersound). The pitch starts sharp and settles
(tension modulation: ``f0 (1 + g exp(-t / 60 ms))``, ``g`` of 5-20 cents) and drifts slowly.
A plectrum click (a burst of band-passed noise) starts each note, a note is cut 25 ms into the
next one (a monophonic string), and the mix goes through a short synthetic room (exponentially
decaying noise, convolved) and gets pink-ish background noise.

Melodies: **target-and-approach phrases** rather than scale walks. A phrase picks a goal degree
(weighted toward the tonic, the third, the ghammaz and the fifth), reaches it by steps, thirds
or a leap, lingers (a held note, or a *risha* tremolo: fast repeated plucks of one pitch), and
the last phrase either closes on a held tonic approached from below (``ending="qafla"``), on
a tonic plucked once and left to ring briefly (``"short"``), or just stops (``"none"``). ``rare`` makes some degrees rarely sounded (the melody leaps
over them), ``register`` sets the range of degrees around the tonic, and intonation is 24-TET
with per-note jitter (no practice-intonation table): theory only, from :mod:`maqamgen.maqam`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from maqamgen import maqam as mq


@dataclass
class PluckNote:
    """One note: pitch in Hz, onset and length in s, degree index (from the tonic) and its
    nominal pitch in cents above the tonic (24-TET, before jitter)."""

    hz: float
    onset_s: float
    seconds: float
    degree: int
    cents: float


def _degree_cents(name: str, d: int, descending: bool) -> float:
    """Cents above the tonic of degree index ``d`` (any octave; 24-TET theory)."""
    m = mq.get_maqam(name)
    deg = np.asarray(m.descending_degrees_cents if descending else m.degrees_cents)
    octave, k = divmod(d, 7)
    if k == 0 and octave > 0 and m.octave_cents != 1200.0:
        # the 8th note of a maqam that does not close at the octave (saba's D-flat)
        return 1200.0 * (octave - 1) + m.octave_cents
    return 1200.0 * octave + float(deg[k])


def phrase(name: str, tonic_hz: float, seconds: float = 8.0, seed: int = 0, ending: str = "qafla",
           register: tuple[int, int] = (-2, 7), rare: dict[int, float] | None = None,
           linger: dict[int, float] | None = None, jitter_cents: float = 6.0) -> list[PluckNote]:
    """A melody in a maqam as target-and-approach phrases.

    Args:
        name: maqam name.
        tonic_hz: tonic in Hz.
        seconds: about how long, s.
        seed: random seed.
        ending: ``"qafla"`` (a held tonic, approached from below, at the end), ``"short"``
            (the same, the tonic plucked once and left after 0.35-0.6 s) or ``"none"``.
        register: lowest and highest degree index reachable (0 is the tonic, 7 its octave).
        rare: degree (mod 7) -> probability that the melody sounds it when it passes
            (otherwise it leaps over it); default 1 for every degree.
        linger: degree (mod 7) -> weight as a phrase goal (default tonic 3, third 1.5,
            ghammaz 2.5, fifth 1.5, others 0.7).
        jitter_cents: s.d. of per-note intonation jitter, cents.

    Returns:
        The notes, in time order.
    """
    if ending not in ("qafla", "short", "none"):
        raise ValueError(f"unknown ending {ending!r}")
    rng = np.random.default_rng(seed)
    m = mq.get_maqam(name)
    rare = rare or {}
    goal_w = {0: 3.0, 2: 1.5, m.ghammaz: 2.5, 4: 1.5}
    goal_w = {k: goal_w.get(k, 0.7) for k in range(7)} | (linger or {})
    lo, hi = register
    degrees = np.arange(lo, hi + 1)
    beat = float(rng.uniform(0.16, 0.26))
    notes: list[PluckNote] = []
    t = 0.0
    pos = 0 if lo <= 0 <= hi else lo
    body_s = seconds - {"qafla": 1.8, "short": 0.8, "none": 0.0}[ending]

    def add(d: int, dur: float, descending: bool):
        nonlocal t
        c = _degree_cents(name, d, descending)
        notes.append(PluckNote(float(mq.hz(c + rng.normal(0.0, jitter_cents), tonic_hz)), t, dur,
                               int(d), c))
        t += dur

    def sounded(d: int) -> bool:
        return rng.random() < rare.get(d % 7, 1.0)

    while t < body_s:
        w = np.array([goal_w[d % 7] for d in degrees])
        w = w * np.exp(-0.5 * ((degrees - pos) / 3.0) ** 2) * (degrees != pos)  # a new goal, near
        goal = int(rng.choice(degrees, p=w / w.sum()))
        step = 1 if goal > pos else -1
        d = pos
        while d != goal and t < body_s:  # the approach: steps, sometimes a third
            nxt = d + step * (2 if rng.random() < 0.2 else 1)
            if (goal - nxt) * step < 0:
                nxt = goal
            if nxt != goal and not sounded(nxt):
                d = nxt
                continue
            add(nxt, beat * float(rng.choice([1, 1, 1, 2, 0.5])), step < 0)
            d = nxt
        pos = goal
        if t >= body_s:
            break
        if not sounded(goal):
            continue
        if rng.random() < 0.25:  # risha: a tremolo on the goal
            for _ in range(int(rng.integers(3, 7))):
                add(goal, beat / 2.0, False)
        else:
            add(goal, beat * float(rng.choice([1.5, 2, 3])), False)
    if ending != "none":
        below = -1 if lo <= -1 else 1
        add(below, beat * 1.5, below > 0)
        add(0, float(rng.uniform(1.2, 1.8) if ending == "qafla" else rng.uniform(0.35, 0.6)), True)
    return notes


def pluck(f0: float, seconds: float, sr: int, rng: np.random.Generator, B: float = 2e-4,
          p: float = 0.18, tau1: float = 0.9, tail_s: float = 0.025) -> np.ndarray:
    """One plucked note by additive stiff-string partials, shape (round((seconds + tail_s) sr),).

    Args:
        f0: nominal pitch in Hz.
        seconds: time until the next note, s; the note rings ``tail_s`` longer, then is cut.
        sr: sample rate in Hz.
        rng: random source (click noise, settling, drift).
        B: inharmonicity coefficient.
        p: plucking point (fraction of the string length).
        tau1: decay time constant of the fundamental's aftersound, s.
        tail_s: overlap into the next note, s.
    """
    n = int(round((seconds + tail_s) * sr))
    t = np.arange(n) / sr
    g = rng.uniform(5.0, 20.0) / 1200.0 * np.log(2.0)
    drift = np.cumsum(rng.normal(0.0, 1.0, n)) / np.sqrt(sr) * 0.0015  # slow random wander
    f_inst = f0 * (1.0 + g * np.exp(-t / 0.06) + drift)
    K = int(min(40, np.floor(0.45 * sr / (f0 * np.sqrt(1 + B * 1600)))))
    k = np.arange(1, K + 1)[:, None]
    stretch = np.sqrt(1.0 + B * k ** 2)
    amp = np.abs(np.sin(np.pi * k * p)) / k ** 1.2
    tau = tau1 / (1.0 + 0.12 * (k - 1))
    env = 0.35 * np.exp(-t / (tau / 8.0)) + 0.65 * np.exp(-t / tau)
    phase = 2.0 * np.pi * np.cumsum(f_inst) / sr
    y = np.sum(amp * env * np.sin(k * stretch * phase[None, :] + rng.uniform(0, 2 * np.pi, (K, 1))), axis=0)
    y *= np.minimum(1.0, t / 0.002)
    nc = min(n, int(0.01 * sr))
    click = rng.standard_normal(nc) * np.exp(-np.arange(nc) / (0.002 * sr))
    bb, ab = signal.butter(2, [1500.0 / (sr / 2), min(0.95, 6000.0 / (sr / 2))], btype="band")
    y[:nc] += 0.3 * np.max(np.abs(y)) * signal.lfilter(bb, ab, click)
    cut = int(round(seconds * sr))
    if n > cut:
        y[cut:] *= np.linspace(1.0, 0.0, n - cut)
    return y


def render(notes: list[PluckNote], sr: int = 22050, seed: int = 0, snr_db: float | None = 30.0
           ) -> np.ndarray:
    """Render notes with :func:`pluck`, a synthetic room and background noise.

    Args:
        notes: :func:`phrase` output.
        sr: sample rate in Hz.
        seed: random seed (timbre per note, room, noise).
        snr_db: signal-to-noise ratio of the background noise, dB (None for none).

    Returns:
        float32 audio, shape (S,), peak 0.9.
    """
    rng = np.random.default_rng(seed)
    B = float(rng.uniform(5e-5, 4e-4))
    total = int(round((notes[-1].onset_s + notes[-1].seconds + 0.5) * sr))
    y = np.zeros(total)
    for nt in notes:
        x = pluck(nt.hz, nt.seconds, sr, rng, B=B, p=float(rng.uniform(0.1, 0.3)),
                  tau1=float(rng.uniform(0.5, 1.5))) * rng.uniform(0.5, 1.0)
        i = int(round(nt.onset_s * sr))
        y[i:i + x.size] += x[:total - i]
    nr = int(0.25 * sr)
    room = rng.standard_normal(nr) * np.exp(-np.arange(nr) / (0.05 * sr))
    room[0] = 6.0
    y = signal.fftconvolve(y, room)[:total]
    if snr_db is not None:
        noise = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(total))
        y += noise * np.sqrt(np.mean(y ** 2) / np.mean(noise ** 2) / 10.0 ** (snr_db / 10.0))
    return (0.9 * y / np.max(np.abs(y))).astype(np.float32)


def confusable_with(name: str, notes: list[PluckNote], candidates, min_s: float = 0.25) -> list[str]:
    """Other maqamat on the same tonic that the melody cannot be told from: every pitch class
    it sounds for at least ``min_s`` in total lies within 25 cents of their scale (24-TET,
    ascending, descending and octave notes)."""
    held: dict[float, float] = {}
    m = mq.get_maqam(name)
    for nt in notes:
        c = float(np.mod(nt.cents, 1200.0))
        held[c] = held.get(c, 0.0) + nt.seconds
    pcs = np.array([c for c, s in held.items() if s >= min_s])
    out = []
    for other in candidates:
        if other == m.name:
            continue
        pc = mq.pitch_classes_cents(other, practice=False)
        d = np.abs(np.mod(pcs[:, None] - pc[None, :] + 600.0, 1200.0) - 600.0).min(axis=1)
        if np.all(d <= 25.0):
            out.append(other)
    return out
