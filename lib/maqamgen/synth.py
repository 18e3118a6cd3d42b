"""An oud synthesizer: a plucked-string modal model followed by the oud's body resonance.

The model, per note (all in closed form, vectorised over notes and samples):

* **String.** Harmonic partials ``k = 1..K`` (``K`` keeps every partial below 0.47 sr) of
  the instantaneous fundamental ``f(t)``, with amplitude ``a_k(t) = rho**k *
  exp(-t (d0 + d1 k))``: ``rho`` (< 1, rising with velocity) sets the brightness, and the
  decay rate ``d0 + d1 k`` grows with the partial's frequency (``d1 = SIGMA_PER_HZ * f0``),
  so high partials die first and low strings ring longer. With ``q(t) = rho exp(-t d1)`` the
  sum of partials is the band-limited geometric (discrete summation) series::

      sum_{k=1}^{K} q^k sin(k phi) = (q sin phi - q^(K+1) (sin((K+1) phi) - q sin(K phi)))
                                     / (1 - 2 q cos phi + q^2)

  which costs a handful of transcendentals per sample whatever ``K`` is: it is the closed
  form of the per-partial loop (e.g. the Chebyshev recurrence ``sin((k+1)phi) =
  2 cos phi sin(k phi) - sin((k-1)phi)`` with the running decay product ``q^k``).
  The phase ``phi`` is ``2 pi`` times the cumulative sum of ``f(t) / sr``, so vibrato,
  trills and slides are glides of the instantaneous frequency. Partials are exactly
  harmonic (no inharmonicity: gut and nylon oud strings have very little).
* **Pluck position.** A comb ``y(t) - y(t - beta / f0)`` gives partial ``k`` the gain
  ``2 |sin(pi k beta)|`` of a string plucked at the fraction ``beta`` of its length.
* **Risha attack.** A 12 ms band-passed (0.7-4.5 kHz) noise burst, louder with velocity.
* **Damping.** A note rings until its offset, then is damped with a 10 ms time constant
  (-60 dB after ~70 ms, :data:`RELEASE_S`); notes may overlap. A tremolo pluck is stopped
  by the next pluck within a few ms.
* **Body.** The sum is convolved with a body impulse response made of damped resonances:
  the Helmholtz air mode near 120 Hz and wood (top plate) modes at ~250 Hz and above.

Risha tremolo re-plucks the note ``rate_hz`` times a second (each pluck a sub-note).

Speed: about 500x real time on one core for a dense 9-minute, 2,800-note performance at
22050 Hz (``benchmarks/bench_synth.py``; 500-600x measured on a 2-core AMD EPYC). Same
seed, same notes: bit-identical output (on the same machine and library versions).

Used in: book/part1/01_stft_filtering.md
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import signal

from maqamgen import audio, maqam as mq
from maqamgen.errors import AudioError, ConfigError
from maqamgen.notes import Note, check_notes, read_notes

OUD_COURSES = ("C2", "F2", "A2", "D3", "G3", "C4")
"""Standard Arabic oud tuning, lowest course first."""

OUD_TUNING_HZ: tuple[float, ...] = tuple(round(mq.note_hz(n), 2) for n in OUD_COURSES)
"""Open-course frequencies in Hz: C2 F2 A2 D3 G3 C4 = 65.41 87.31 110.0 146.83 196.0 261.63."""

OUD_RANGE_HZ = (OUD_TUNING_HZ[0], round(4 * OUD_TUNING_HZ[-1], 2))
"""Playing range in Hz: the lowest open course (C2) to two octaves above the top open
course (C6; the top of it played over the soundboard)."""

DEFAULT_SR = 22050
"""Default sample rate in Hz."""

RELEASE_S = 0.07
"""Seconds a note keeps sounding after its offset while it is damped."""

RELEASE_TAU_S = 0.010
"""Time constant of the damping after the offset, in s (-60 dB after 69 ms)."""

REPLUCK_TAU_S = 0.002
"""Damping time constant of a pluck that the next tremolo pluck of the same string stops, in s."""

SIGMA0 = 1.2
"""Decay rate common to every partial, in 1/s (T60 = 6.9 / rate)."""

SIGMA_PER_HZ = 0.006
"""Extra decay rate per Hz of partial frequency, in 1/s/Hz (a 3 kHz partial: T60 ~ 0.36 s)."""

MAX_RING_S = 8.0
"""Longest a note is rendered, in s (the fundamental has decayed by then)."""

PARTIAL_LIMIT = 0.47
"""Partials stay below ``PARTIAL_LIMIT * sr`` (just under Nyquist, at the highest pitch)."""

BODY_MODES = (  # (Hz, T60 s, gain): Helmholtz air mode, then top-plate / wood modes
    (118.0, 0.16, 1.0),
    (245.0, 0.10, 0.75),
    (405.0, 0.08, 0.6),
    (620.0, 0.06, 0.45),
    (910.0, 0.05, 0.35),
    (1450.0, 0.035, 0.25),
    (2300.0, 0.025, 0.18),
    (3500.0, 0.018, 0.1),
)
"""Body resonances of the impulse response: (frequency Hz, T60 s, relative gain)."""

NOISE_S = 0.012
"""Length of the risha attack noise burst, in s."""

_CHUNK = 1 << 15  # samples per vectorised block: the working set stays in the L2 cache
_MAX_SECONDS = 6 * 3600.0


# ----------------------------------------------------------------------------- helpers


def _expand_tremolo(notes: list[Note]) -> tuple[list[Note], np.ndarray]:
    """Replace each risha-tremolo note by its re-plucks (``rate_hz`` plucks per second).

    Each pluck lasts ``1 / rate_hz`` s (the last one until the note's offset); down- and
    up-strokes alternate in velocity (1.0, 0.8 of the note's).

    Returns:
        ``(notes, replucked)``: the expanded notes, and a bool array, shape (N,), true for
        plucks cut short by the next pluck of the same string (damped in
        :data:`REPLUCK_TAU_S` instead of :data:`RELEASE_TAU_S`).
    """
    out, cut = [], []
    for n in notes:
        orn = n.ornament
        if orn is None or orn["type"] != "tremolo":
            out.append(n)
            cut.append(False)
            continue
        period = 1.0 / orn["rate_hz"]
        count = max(1, int(np.ceil(n.duration / period - 1e-9)))
        for j in range(count):
            on = n.onset + j * period
            off = on + period if j < count - 1 else n.offset
            vel = n.velocity * (1.0 if j % 2 == 0 else 0.8)
            out.append(Note(on, off, n.freq_hz, n.cents_dev, vel, None))
            cut.append(j < count - 1)
    return out, np.array(cut, dtype=bool)


def _ornament_cents(orn: dict | None, f0: float, t: np.ndarray, dur: float) -> np.ndarray | None:
    """Pitch offset in cents over time for an ornament, or None for a steady pitch.

    Args:
        orn: validated ornament dict or None.
        f0: the note's pitch in Hz.
        t: times since the onset in s, shape (L,).
        dur: the note's duration in s.

    Returns:
        Cents relative to ``f0``, shape (L,), or None.
    """
    if orn is None:
        return None
    kind = orn["type"]
    if kind == "vibrato":
        fade = np.minimum(t / max(min(0.15, dur / 3), 1e-3), 1.0)  # the vibrato fades in
        return orn["depth_cents"] * fade * np.sin(2 * np.pi * orn["rate_hz"] * t)
    if kind == "trill":  # main note first, then the upper note; ~smooth square wave
        upper = np.clip(0.5 - 4.0 * np.cos(2 * np.pi * orn["rate_hz"] * t), 0.0, 1.0)
        return orn["interval_cents"] * upper
    if kind == "slide":
        x = np.clip(t / orn["time_s"], 0.0, 1.0)
        return float(mq.cents(orn["from_hz"], f0)) * (1.0 - x * x * (3.0 - 2.0 * x))
    return None


def _max_cents(orn: dict | None, f0: float) -> float:
    """Highest pitch an ornament reaches, in cents above ``f0`` (>= 0)."""
    if orn is None:
        return 0.0
    kind = orn["type"]
    if kind == "vibrato":
        return orn["depth_cents"]
    if kind == "trill":
        return max(orn["interval_cents"], 0.0)
    if kind == "slide":
        return max(float(mq.cents(orn["from_hz"], f0)), 0.0)
    return 0.0


@lru_cache(maxsize=8)
def body_ir(sr: int = DEFAULT_SR) -> np.ndarray:
    """Impulse response of the oud body: direct sound plus damped resonances.

    ``h(t) = delta(t) + c * sum_i g_i exp(-6.91 t / T60_i) sin(2 pi f_i t)`` over
    :data:`BODY_MODES`, with ``c`` setting the resonances' energy equal to the direct
    sound's; modes at or above 0.45 sr are left out.

    Args:
        sr: sample rate in Hz.

    Returns:
        Impulse response, shape (L,), float32, ``L = 0.2 s * sr``.
    """
    n = int(round(0.2 * sr))
    t = np.arange(n) / sr
    res = np.zeros(n)
    for f, t60, g in BODY_MODES:
        if f < 0.45 * sr:
            res += g * np.exp(-6.91 * t / t60) * np.sin(2 * np.pi * f * t)
    h = res / np.sqrt(np.sum(res**2))
    h[0] += 1.0
    return h.astype(np.float32)


@lru_cache(maxsize=8)
def _noise_filter(sr: int) -> np.ndarray:
    """Second-order-sections band-pass (700 Hz - 4.5 kHz, capped below Nyquist) of the pluck noise."""
    hi = min(4500.0, 0.45 * sr)
    return signal.butter(2, [700.0, hi], btype="bandpass", fs=sr, output="sos")


# ----------------------------------------------------------------------------- core


def _note_params(notes: list[Note], sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-note synthesis parameters, shape (N,) each.

    Keys: ``start`` (first sample), ``length`` (samples rendered), ``dur`` (s), ``f0`` (Hz),
    ``K`` (partials), ``rho`` (brightness), ``d0``, ``d1`` (decay rates 1/s), ``gain``,
    ``delay`` (pluck-position comb delay in samples), ``noise_gain``.
    """
    on = np.array([n.onset for n in notes])
    off = np.array([n.offset for n in notes])
    f0 = np.array([n.freq_hz for n in notes])
    vel = np.array([n.velocity for n in notes])
    fmax = f0 * 2.0 ** (np.array([_max_cents(n.ornament, n.freq_hz) for n in notes]) / 1200.0)
    too_high = np.flatnonzero(fmax >= 0.5 * sr)
    if too_high.size:
        i = int(too_high[0])
        raise AudioError(f"note {i} reaches {fmax[i]:.1f} Hz, at or above the Nyquist frequency "
                         f"{sr / 2:.0f} Hz of sr={sr}; use a higher sample rate")
    # random timbre: pluck position, decay and brightness jitter (drawn in note order)
    beta = rng.uniform(0.09, 0.16, len(notes))
    d0 = SIGMA0 * rng.uniform(0.85, 1.15, len(notes))
    rho = np.clip(0.60 + 0.28 * vel + rng.uniform(-0.02, 0.02, len(notes)), 0.5, 0.92)
    d1 = SIGMA_PER_HZ * f0
    dur = off - on
    ring = np.minimum(dur + RELEASE_S, np.minimum(6.91 / (d0 + d1) + RELEASE_S, MAX_RING_S))
    ring = np.maximum(ring, np.minimum(dur + RELEASE_S, 0.02))
    rms = np.sqrt(rho**2 / (1.0 - rho**2) / 2.0)  # rms of the partial sum at t = 0
    return {
        "start": np.round(on * sr).astype(np.int64),
        "length": np.maximum(np.ceil(ring * sr).astype(np.int64), 1),
        "dur": dur,
        "f0": f0,
        "K": np.maximum(np.floor(PARTIAL_LIMIT * sr / fmax), 1.0),
        "rho": rho,
        "d0": d0,
        "d1": d1,
        "gain": vel**1.3 / rms,
        "delay": np.maximum(np.round(beta * sr / f0), 1).astype(np.int64),
        "noise_gain": 0.35 * vel**1.5,
    }


def _cycles(notes: list[Note], rows: np.ndarray, f0: np.ndarray, dur: np.ndarray,
            n: np.ndarray, sr: int) -> np.ndarray:
    """Fractional phase in cycles (in [0, 1)) of each row's fundamental, shape (R, L), float64.

    Steady notes: ``f0 n / sr``; ornamented notes: cumulative sum of the instantaneous
    frequency ``f0 * 2**(cents(t) / 1200) / sr``.
    """
    cyc = np.multiply.outer(f0 / sr, n)
    for r, i in enumerate(rows):
        orn = notes[i].ornament
        if orn is not None:
            c = _ornament_cents(orn, f0[r], n / sr, dur[r])
            if c is not None:
                inst = f0[r] * np.exp2(c / 1200.0) / sr
                cyc[r, 0] = 0.0
                np.cumsum(inst[:-1], out=cyc[r, 1:])
    cyc -= np.floor(cyc)
    return cyc


def _string_block(notes: list[Note], rows: np.ndarray, p: dict[str, np.ndarray], sr: int) -> np.ndarray:
    """Render a block of notes (the string model, before damping), shape (R, L), float32.

    Row ``r`` is note ``rows[r]``; ``L`` is the longest length among them.
    """
    L = int(p["length"][rows].max())
    n = np.arange(L, dtype=np.float64)
    t = (n / sr).astype(np.float32)
    def col(key: str, dtype=np.float32) -> np.ndarray:  # a per-note parameter as a column
        return p[key][rows].astype(dtype)[:, None]

    K = col("K", np.float64)
    cyc = _cycles(notes, rows, p["f0"][rows], p["dur"][rows], n, sr)
    kcyc = cyc * K
    kcyc -= np.floor(kcyc)
    two_pi = np.float32(2 * np.pi)
    phi = cyc.astype(np.float32)
    phi *= two_pi
    psi = kcyc.astype(np.float32)
    psi *= two_pi
    s1, c1 = np.sin(phi), np.cos(phi)
    sk, ck = np.sin(psi), np.cos(psi)
    sk1 = sk * c1
    sk1 += ck * s1  # sin((K + 1) phi)
    lnq = np.log(col("rho")) - col("d1") * t  # ln q(t), q = rho exp(-d1 t)
    qk1 = np.maximum(lnq * K.astype(np.float32) + lnq, np.float32(-80.0))
    np.exp(qk1, out=qk1)  # q^(K+1)
    q = np.exp(lnq)
    sk *= q
    sk1 -= sk  # sin((K+1) phi) - q sin(K phi)
    sk1 *= qk1
    y = q * s1
    y -= sk1
    den = q * c1
    den *= np.float32(-2.0)
    den += np.float32(1.0)
    den += q * q
    y /= den
    return y


def _damp_block(y: np.ndarray, rows: np.ndarray, p: dict[str, np.ndarray], sr: int) -> None:
    """In place: the common decay ``exp(-d0 t)``, the damping after the offset (time
    constant ``p["tau"]``), the gain."""
    t = np.arange(y.shape[1], dtype=np.float32) / np.float32(sr)
    past = t - p["dur"][rows].astype(np.float32)[:, None]
    np.maximum(past, np.float32(0.0), out=past)
    past /= p["tau"][rows].astype(np.float32)[:, None]
    past += p["d0"][rows].astype(np.float32)[:, None] * t
    np.negative(past, out=past)
    np.exp(past, out=past)
    past *= p["gain"][rows].astype(np.float32)[:, None]
    y *= past


def _pluck_noise(p: dict[str, np.ndarray], sr: int, rng: np.random.Generator) -> np.ndarray:
    """Risha attack bursts of all notes: band-passed noise times ``exp(-t / 2.5 ms)``, shape (N, Ln)."""
    ln = max(int(round(NOISE_S * sr)), 1)
    noise = rng.standard_normal((len(p["f0"]), ln), dtype=np.float32)
    noise = signal.sosfilt(_noise_filter(sr), noise, axis=1).astype(np.float32)
    env = np.exp(-np.arange(ln) / (0.0025 * sr)).astype(np.float32)
    return noise * env * p["noise_gain"].astype(np.float32)[:, None]


def _blocks(length: np.ndarray) -> list[np.ndarray]:
    """Group note indices into blocks of similar length of about ``_CHUNK`` samples."""
    order = np.argsort(length, kind="stable")
    blocks, j = [], 0
    while j < len(order):
        k = j + 1  # rows sorted by length: the block's longest row is its last
        while k < len(order) and (k + 1 - j) * int(length[order[k]]) <= _CHUNK:
            k += 1
        blocks.append(order[j:k])
        j = k
    return blocks


def render(notes: list[Note], sr: int = DEFAULT_SR, seed: int = 0, body: bool = True) -> np.ndarray:
    """Render notes with the oud model.

    Args:
        notes: the notes (any order; may overlap). Ornaments are honoured.
        sr: sample rate in Hz (8000 to 192000).
        seed: seed of the pluck noise and timbre jitter; same seed, bit-identical output.
        body: convolve with the oud body impulse response (:func:`body_ir`).

    Returns:
        Mono audio, shape (S,), float32, peak-normalised to 0.9 (unless silent);
        ``S`` covers the last note's damping (and the body's ring when ``body``).
        An empty note list gives an empty array.

    Raises:
        NotesError: an invalid note (named by its index).
        AudioError: bad sample rate, a pitch at or above Nyquist, or a performance
            longer than 6 hours.

    Used in: book/part1/01_stft_filtering.md, book/part2/07_lstm_tokens.md
    """
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not 8000 <= sr <= 192000:
        raise AudioError(f"sample rate {sr!r} must be an integer from 8000 to 192000 Hz")
    sr = int(sr)
    if len(notes) == 0:
        return np.zeros(0, dtype=np.float32)
    notes, replucked = _expand_tremolo(check_notes(list(notes)))
    last = max(n.offset for n in notes)
    if last > _MAX_SECONDS:
        raise AudioError(f"the notes last {last:.0f} s, more than {_MAX_SECONDS:.0f} s")
    rng = np.random.default_rng(seed)
    p = _note_params(notes, sr, rng)
    p["tau"] = np.where(replucked, REPLUCK_TAU_S, RELEASE_TAU_S)
    noise = _pluck_noise(p, sr, rng)
    ln = noise.shape[1]
    ir = body_ir(sr) if body else np.ones(1, dtype=np.float32)
    total = int((p["start"] + p["length"]).max())
    out = np.zeros(total, dtype=np.float32)
    start, length, delay = p["start"], p["length"], p["delay"]
    for rows in _blocks(length):
        y = _string_block(notes, rows, p, sr)
        for r, i in enumerate(rows):  # pluck-position comb y(t) - y(t - D)
            d = int(delay[i])
            if d < y.shape[1]:
                y[r, d:] -= y[r, :-d]
        _damp_block(y, rows, p, sr)
        m = min(ln, y.shape[1])
        y[:, :m] += noise[rows, :m]
        for r, i in enumerate(rows):  # overlap-add
            s, L = int(start[i]), int(length[i])
            out[s:s + L] += y[r, :L]
    if body:
        out = signal.oaconvolve(out, ir).astype(np.float32, copy=False)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0 and np.isfinite(peak):
        out *= np.float32(0.9 / peak)
    return out


def render_notes_file(notes_path: str | Path, out_path: str | Path, sr: int = DEFAULT_SR,
                      seed: int = 0) -> dict:
    """Read a note JSON file, render it, write the audio atomically.

    Args:
        notes_path: note JSON (see :mod:`maqamgen.notes`).
        out_path: ``.wav``, ``.flac`` or ``.ogg`` file.
        sr: sample rate in Hz.
        seed: seed of the pluck noise and timbre jitter.

    Returns:
        ``{"seconds": audio length in s, "n_notes": notes read, "realtime_factor":
        seconds of audio per second of rendering, "path": str(out_path), "sr": sr}``.

    Raises:
        NotesError: missing or malformed note file.
        AudioError: bad extension or folder, or the write failed.
    """
    audio.audio_format(out_path)  # fail on a bad extension before rendering
    notes, _meta = read_notes(notes_path)
    t0 = time.perf_counter()
    y = render(notes, sr=sr, seed=seed)
    wall = time.perf_counter() - t0
    audio.save_audio(out_path, y, sr)
    seconds = len(y) / sr
    return {"seconds": seconds, "n_notes": len(notes), "realtime_factor": seconds / max(wall, 1e-9),
            "path": str(out_path), "sr": sr}


# ----------------------------------------------------------------------------- note generators


def note_at_cents(onset: float, offset: float, cents_value: float, ref_hz: float,
                  velocity: float = 0.8, ornament: dict | None = None) -> Note:
    """A note given as cents above a reference pitch (microtonal pitches).

    Args:
        onset: start in s.
        offset: end in s.
        cents_value: pitch in cents above ``ref_hz`` (e.g. 150 = a neutral second).
        ref_hz: reference in Hz.
        velocity: loudness in (0, 1].
        ornament: ornament dict or None.

    Returns:
        The note; its ``cents_dev`` is the deviation from the nearest 12-TET pitch.
    """
    f = float(mq.hz(cents_value, ref_hz))
    return Note(float(onset), float(offset), f, float(mq.cents_from_12tet(f)), float(velocity), ornament)


def _walk_step(rng: np.random.Generator, pos: int, target: float, lo: int, hi: int) -> int:
    """One step of a melodic random walk on scale-degree indices.

    Mostly steps of one degree, some repeated notes, seconds of two degrees and leaps of
    three or four; steps toward ``target`` are favoured; the result stays in [lo, hi].
    """
    steps = np.array([-4, -3, -2, -1, 0, 1, 2, 3, 4])
    w = np.array([0.03, 0.04, 0.1, 0.3, 0.06, 0.3, 0.1, 0.04, 0.03])
    w = w * np.exp(-0.35 * np.abs(pos + steps - target))
    w[(pos + steps < lo) | (pos + steps > hi)] = 0.0
    return int(pos + rng.choice(steps, p=w / w.sum()))


def phrase(maqam: str = "hijaz", tonic_hz: float | None = None, seconds: float = 8.0,
           seed: int = 0, ornaments: bool = True) -> tuple[list[Note], dict]:
    """A short seeded melodic line in a maqam, for listening to the model (Chapter 1).

    The line moves mostly stepwise through the degrees around the tonic, with some
    leaps, rises toward the ghammaz and comes back, with rhythmic variety on a steady
    beat, and ends on the tonic with a long note. With ``ornaments``: vibrato on long
    notes, and (when the phrase is long enough) one slide, one trill to the next degree
    up and one risha tremolo.

    Args:
        maqam: maqam name (see :data:`maqamgen.maqam.MAQAMAT`).
        tonic_hz: tonic in Hz; ``None`` takes the maqam's usual tonic on the oud.
        seconds: approximate length in s (>= 1).
        seed: random seed; same seed, same phrase.
        ornaments: add ornaments.

    Returns:
        ``(notes, meta)``; meta has ``maqam``, ``tonic_hz``, ``tempo_bpm``, ``seed``,
        ``degrees_cents`` and ``degree`` (scale-degree index of each note, 0 = tonic).

    Raises:
        ConfigError: unknown maqam, bad tonic or length.

    Used in: book/part1/01_stft_filtering.md
    """
    m = mq.get_maqam(maqam)
    tonic = m.tonic_hz if tonic_hz is None else float(tonic_hz)
    if not np.isfinite(tonic) or not OUD_RANGE_HZ[0] / 2 <= tonic <= OUD_RANGE_HZ[1] / 2:
        raise ConfigError(f"tonic_hz={tonic_hz} is outside the oud's range for a phrase "
                          f"({OUD_RANGE_HZ[0] / 2:.1f} to {OUD_RANGE_HZ[1] / 2:.1f} Hz)")
    if not np.isfinite(seconds) or not 1.0 <= seconds <= 600.0:
        raise ConfigError(f"seconds={seconds} must be from 1 to 600")
    rng = np.random.default_rng(seed)
    deg = np.asarray(m.degrees_cents)
    degree_cents = lambda d: 1200.0 * (d // 7) + deg[d % 7]  # noqa: E731
    beat = 60.0 / rng.uniform(84, 108)
    durations = np.array([0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0])  # in beats
    dur_p = np.array([0.16, 0.2, 0.2, 0.08, 0.16, 0.1, 0.06, 0.04])
    final_beats = 3.0
    body_s = max(seconds - final_beats * beat, beat)
    onsets, lengths, degrees = [], [], []
    t, pos = 0.0, 0
    while t < body_s - 0.25 * beat:
        arch = np.sin(np.pi * min(t / body_s, 1.0))  # rise toward the ghammaz, then return
        target = arch * (m.ghammaz + 1.5)
        b = float(rng.choice(durations, p=dur_p / dur_p.sum()))
        if t + b * beat > body_s:
            b = max((body_s - t) / beat, 0.25)
        onsets.append(t)
        lengths.append(b * beat)
        degrees.append(pos)
        t += b * beat
        pos = _walk_step(rng, pos, target, -3, 9)
    onsets.append(t)  # final long tonic (the arch has brought the walk back near it)
    lengths.append(final_beats * beat)
    degrees.append(0)
    n = len(onsets)
    freqs = [float(mq.hz(degree_cents(d), tonic)) for d in degrees]
    accents = np.where(np.isclose(np.mod(np.asarray(onsets) / beat, 1.0), 0.0, atol=1e-6), 0.88, 0.7)
    vel = np.clip(accents + rng.normal(0.0, 0.05, n), 0.3, 1.0)
    vel[-1] = 0.85
    legato = rng.uniform(0.85, 1.02, n)  # slight gaps and overlaps
    legato[-1] = 1.0
    orns: list[dict | None] = [None] * n
    if ornaments:
        for i in range(n):
            if lengths[i] >= 0.9 * beat:
                orns[i] = {"type": "vibrato", "rate_hz": round(float(rng.uniform(5.0, 6.5)), 2),
                           "depth_cents": round(float(rng.uniform(15, 35)), 1)}
        free = [i for i in range(1, n - 1) if orns[i] is None]
        if len(free) >= 3 and seconds >= 4.0:
            leaps = [i for i in free if abs(degrees[i] - degrees[i - 1]) >= 2] or free
            i_slide = int(rng.choice(leaps))
            orns[i_slide] = {"type": "slide", "from_hz": round(freqs[i_slide - 1], 3),
                             "time_s": round(min(0.12, 0.4 * lengths[i_slide]), 3)}
            free = [i for i in free if i != i_slide]
            by_len = sorted(free, key=lambda i: -lengths[i])
            i_trill, i_trem = by_len[0], by_len[1]
            up = float(degree_cents(degrees[i_trill] + 1) - degree_cents(degrees[i_trill]))
            orns[i_trill] = {"type": "trill", "interval_cents": up,
                             "rate_hz": round(float(rng.uniform(5.0, 7.0)), 2)}
            orns[i_trem] = {"type": "tremolo", "rate_hz": round(float(rng.uniform(11, 14)), 2)}
    notes = [Note(round(onsets[i], 4), round(onsets[i] + lengths[i] * legato[i], 4), round(freqs[i], 3),
                  round(float(mq.cents_from_12tet(freqs[i])), 2), round(float(vel[i]), 3), orns[i])
             for i in range(n)]
    meta = {"maqam": m.name, "tonic_hz": tonic, "tempo_bpm": round(60.0 / beat, 2), "seed": int(seed),
            "degrees_cents": list(m.degrees_cents), "degree": [int(d) for d in degrees]}
    return notes, meta


def performance(seconds: float = 540.0, n_notes: int = 2800, seed: int = 0) -> tuple[list[Note], dict]:
    """A dense synthetic transcription-like performance across the oud's range.

    Like a real ~9-minute oud transcription (~2,800 notes): melodic notes of 0.05-0.3 s
    with irregular inter-onset intervals, some long notes (vibrato on most of them), bass
    notes an octave below the tonic that overlap the melody, a few slides, trills and
    risha tremolos; sections of about a minute modulate through several maqamat. Pitches
    carry a few cents of performance jitter and lie between ~55 Hz and ~700 Hz.

    Args:
        seconds: total length in s (> 1).
        n_notes: number of notes (>= 1).
        seed: random seed; same seed, same notes.

    Returns:
        ``(notes, meta)``: notes sorted by onset, every offset <= ``seconds``; meta has
        ``seconds``, ``seed``, ``sections`` (``[start_s, maqam]`` pairs).

    Raises:
        ConfigError: non-positive length or note count.
    """
    if not np.isfinite(seconds) or seconds <= 1.0 or int(n_notes) < 1:
        raise ConfigError(f"performance needs seconds > 1 and n_notes >= 1 (got {seconds}, {n_notes})")
    n = int(n_notes)
    rng = np.random.default_rng(seed)
    # timing: gamma inter-onset intervals scaled to fill the performance
    ioi = rng.gamma(2.0, 1.0, n)
    span = seconds - 1.6
    onsets = np.concatenate([[0.0], np.cumsum(ioi[:-1])])
    onsets = 0.2 + onsets / max(onsets[-1], 1e-9) * (span - 0.2) if n > 1 else np.array([0.2])
    kind = rng.choice(3, size=n, p=[0.9, 0.065, 0.035])  # 0 melody, 1 long, 2 bass
    dur = np.clip(rng.lognormal(np.log(0.14), 0.45, n), 0.05, 0.3)
    dur[kind == 1] = rng.uniform(0.4, 1.4, int(np.sum(kind == 1)))
    dur[kind == 2] = rng.uniform(0.5, 1.5, int(np.sum(kind == 2)))
    dur = np.minimum(dur, seconds - onsets)
    # pitch: sections in changing maqamat, a random walk over two-and-a-half octaves
    order = ["bayati", "hijaz", "rast", "saba", "nahawand", "sikah", "kurd", "ajam"]
    n_sec = max(1, int(round(seconds / 60.0)))
    sec_start = np.linspace(0.0, seconds, n_sec + 1)[:-1]
    section = np.searchsorted(sec_start, onsets, side="right") - 1
    names = [order[(s + int(seed)) % len(order)] for s in range(n_sec)]
    vel = np.clip(rng.beta(5.0, 2.5, n), 0.2, 1.0)
    jitter = rng.normal(0.0, 6.0, n)
    freqs = np.empty(n)
    pos, last_sec = 0, -1
    for i in range(n):
        m = mq.get_maqam(names[section[i]])
        if section[i] != last_sec:
            pos, last_sec = 0, section[i]
        d = np.asarray(m.degrees_cents)
        if kind[i] == 2:
            c = -1200.0 if rng.random() < 0.8 else -1200.0 + d[m.ghammaz]
        else:
            pos = _walk_step(rng, pos, 3.5 + 4.0 * np.sin(2 * np.pi * i / 97.0), -6, 14)
            c = 1200.0 * (pos // 7) + d[pos % 7]
        freqs[i] = m.tonic_hz * 2.0 ** ((c + jitter[i]) / 1200.0)
    freqs = np.clip(freqs, 55.0, 700.0)
    orn: list[dict | None] = [None] * n
    u = rng.random(n)
    for i in range(n):
        if kind[i] == 1 and u[i] < 0.7:
            orn[i] = {"type": "vibrato", "rate_hz": round(5.0 + 2.0 * u[i], 2), "depth_cents": 25.0}
        elif kind[i] == 0 and i > 0 and u[i] < 0.015:
            orn[i] = {"type": "slide", "from_hz": round(float(freqs[i - 1]), 3),
                      "time_s": round(float(min(0.08, dur[i] / 2)), 3)}
        elif kind[i] == 0 and dur[i] >= 0.2 and u[i] > 0.985:
            orn[i] = {"type": "trill", "interval_cents": 200.0, "rate_hz": 7.0}
        elif kind[i] == 1 and u[i] > 0.9:
            orn[i] = {"type": "tremolo", "rate_hz": 12.0}
    dev = mq.cents_from_12tet(freqs)
    notes = [Note(round(float(onsets[i]), 4), round(float(onsets[i] + dur[i]), 4), round(float(freqs[i]), 3),
                  round(float(dev[i]), 2), round(float(vel[i]), 3), orn[i]) for i in range(n)]
    meta = {"seconds": float(seconds), "seed": int(seed),
            "sections": [[float(s), nm] for s, nm in zip(sec_start, names)]}
    return notes, meta
