"""The synthetic taqsim corpus: labelled oud phrases in eight maqamat, cached by config hash.

Each clip is a short taqsim-like improvisation, generated as a walk on scale-degree indices
``d`` (0 = tonic, 7 = octave, negative = below the tonic) in four sections:

1. **opening** around the tonic (degrees -2..2), ending on a held note;
2. **development** through the upper jins, centred on the ghammaz;
3. **return** from the ghammaz region toward the tonic;
4. **qafla** (cadence): a stepwise descent from the third or fourth degree into a long tonic,
   often through the degree below the tonic.

A note's pitch is the practice degree (:func:`maqamgen.maqam.degrees_cents`; the descending
form when the melody moves down) plus Gaussian intonation jitter (``jitter_cents``) on the
clip's tonic. Ornaments (vibrato, trill, risha tremolo, slide) are drawn per note from its
length and the interval that leads to it, written to the labels, and rendered from those same
labels by :func:`maqamgen.synth.render`. Tempo, tonic (the maqam's usual tonics on the oud
moved by up to :data:`TRANSPOSE_SEMITONES` semitones), dynamics, timbre (the render seed) and
recording noise (pink noise at an SNR drawn from ``[snr_db_min, snr_db_max]``) vary by clip.

Files, under ``data/cache/corpus/<CorpusConfig hash>/``::

    audio/<id>.wav    mono PCM-16 at cfg.sr
    notes/<id>.json   the report's note format (maqamgen.notes) + meta keys
    index.json        written last, atomically: a corpus without it is incomplete

Note JSON meta keys: ``maqam``, ``tonic_hz`` (the played tonic), ``split``, ``seed``,
``tempo_bpm``, ``snr_db`` (``null`` = clean), ``jitter_cents``, ``degree`` (signed degree
index per note), ``notes_corrected`` (rows ``[onset_s, offset_s, freq_hz, cents_dev]`` with
the pitch snapped to the nominal 24-TET scale and ``cents_dev`` = played minus snapped) and
``freqs`` (the sorted nominal pitches in Hz that ``notes_corrected`` uses: its vocabulary);
``ornaments`` is the aligned per-note list of the note format.

Every clip is seeded from (corpus seed, maqam, index) alone, so the corpus does not depend on
the number of worker processes.

Used in: book/part1/02_maqam_estimation.md, book/part1/03_pca_gaussian.md,
book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maqamgen import audio, maqam as mq, synth
from maqamgen.config import CorpusConfig, Profile, profile as get_profile
from maqamgen.runtime import cache_dir
from maqamgen import runtime
from maqamgen.errors import ConfigError
from maqamgen.notes import Note, read_notes, write_notes

CORPUS_VERSION = 1
"""Generator version; part of the cache key, bumped whenever the generated audio changes."""

SPLIT_NAMES = ("train", "validation", "test")
"""Split names, in the order of ``CorpusConfig.splits``."""

TRANSPOSE_SEMITONES = 3
"""A clip's tonic is one of the maqam's usual oud tonics moved by up to this many semitones."""

TEMPO_BPM = (80.0, 132.0)
"""Range of the clip tempo (beats per minute) of the rhythmic grid under the rubato."""

PEAK = 0.9
"""Peak amplitude of every clip (full scale = 1)."""

_SECTION_SHARES = (0.2, 0.45, 0.2)  # opening, development, return; the qafla takes the rest
_QAFLA_BEATS = 5.5  # expected length of the cadence, beats


@dataclass(frozen=True)
class Clip:
    """One corpus clip.

    Attributes:
        id: ``<maqam>-<index>`` (e.g. ``"hijaz-0003"``).
        split: ``"train"``, ``"validation"`` or ``"test"``.
        maqam: maqam name.
        tonic_hz: played tonic, Hz.
        seconds: audio length, s.
        audio_path: the ``.wav`` file (absolute).
        notes_path: the note ``.json`` file (absolute).
        seed: the clip seed (phrase, timbre and noise derive from it).
        n_notes: number of notes.
        snr_db: recording-noise SNR in dB, ``None`` for clean audio.
    """

    id: str
    split: str
    maqam: str
    tonic_hz: float
    seconds: float
    audio_path: Path
    notes_path: Path
    seed: int
    n_notes: int = 0
    snr_db: float | None = None


# ----------------------------------------------------------------------------- config and seeds


def config_hash(cfg: CorpusConfig) -> str:
    """Cache key of a corpus: hash of the config and :data:`CORPUS_VERSION`, 12 hex digits."""
    blob = json.dumps({"config": dataclasses.asdict(cfg), "version": CORPUS_VERSION},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def check_config(cfg: CorpusConfig) -> None:
    """Validate a corpus config.

    Raises:
        ConfigError: naming the bad field (unknown maqam, bad counts, lengths, SNR, splits).
    """
    if not isinstance(cfg, CorpusConfig):
        raise ConfigError(f"expected a CorpusConfig, got {type(cfg).__name__}")
    if isinstance(cfg.n_per_maqam, bool) or not isinstance(cfg.n_per_maqam, int) or cfg.n_per_maqam < 1:
        raise ConfigError(f"n_per_maqam={cfg.n_per_maqam!r} must be a positive integer")
    if not (np.isfinite(cfg.seconds_min) and np.isfinite(cfg.seconds_max)
            and 2.0 <= cfg.seconds_min <= cfg.seconds_max <= 600.0):
        raise ConfigError(f"seconds_min={cfg.seconds_min}, seconds_max={cfg.seconds_max}: "
                          "need 2 <= seconds_min <= seconds_max <= 600")
    if not cfg.maqamat or len(set(cfg.maqamat)) != len(cfg.maqamat):
        raise ConfigError(f"maqamat={cfg.maqamat!r} must be a non-empty tuple of distinct names")
    for name in cfg.maqamat:
        if mq.get_maqam(name).name != name:
            raise ConfigError(f"maqam {name!r}: write it as {mq.get_maqam(name).name!r}")
    if isinstance(cfg.sr, bool) or not isinstance(cfg.sr, int) or not 8000 <= cfg.sr <= 192000:
        raise ConfigError(f"sr={cfg.sr!r} must be an integer from 8000 to 192000 Hz")
    if (cfg.snr_db_min is None) != (cfg.snr_db_max is None):
        raise ConfigError("snr_db_min and snr_db_max must both be None (clean) or both numbers")
    if cfg.snr_db_min is not None and not (np.isfinite(cfg.snr_db_min) and np.isfinite(cfg.snr_db_max)
                                           and cfg.snr_db_min <= cfg.snr_db_max):
        raise ConfigError(f"snr_db_min={cfg.snr_db_min} must be <= snr_db_max={cfg.snr_db_max}")
    sp = np.asarray(cfg.splits, dtype=float)
    if sp.shape != (3,) or np.any(sp < 0) or not np.isclose(sp.sum(), 1.0):
        raise ConfigError(f"splits={cfg.splits!r} must be 3 non-negative fractions summing to 1")
    if not 0.0 <= cfg.jitter_cents <= 20.0:
        raise ConfigError(f"jitter_cents={cfg.jitter_cents} must be from 0 to 20 cents")


def _name_key(name: str) -> int:
    """A stable 32-bit integer for a maqam name (seeds must not depend on list order)."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def clip_seed(corpus_seed: int, maqam: str, index: int) -> int:
    """The seed of clip ``index`` of ``maqam``: a function of these three alone (uint32)."""
    ss = np.random.SeedSequence([int(corpus_seed) & 0xFFFFFFFF, _name_key(maqam), int(index)])
    return int(ss.generate_state(1)[0])


def split_counts(n: int, fractions: tuple[float, ...]) -> list[int]:
    """Clips per split for ``n`` clips of one maqam (largest remainder).

    Every split with a positive fraction gets at least one clip when ``n`` allows it.

    Args:
        n: clips of the maqam.
        fractions: split fractions, summing to 1.

    Returns:
        Counts, one per split, summing to ``n``.
    """
    f = np.asarray(fractions, dtype=float)
    counts = np.floor(n * f).astype(int)
    for k in np.argsort(-(n * f - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    if n >= np.count_nonzero(f > 0):
        for k in np.flatnonzero((f > 0) & (counts == 0)):
            counts[np.argmax(counts)] -= 1
            counts[k] += 1
    return [int(c) for c in counts]


def assign_splits(cfg: CorpusConfig) -> dict[tuple[str, int], str]:
    """Split of every clip, stratified by maqam and seeded by the corpus seed.

    Returns:
        ``{(maqam, index): split name}`` for every clip of the corpus.
    """
    out = {}
    for name in cfg.maqamat:
        rng = np.random.default_rng([int(cfg.seed) & 0xFFFFFFFF, _name_key(name), 1])
        order = rng.permutation(cfg.n_per_maqam)
        bounds = np.cumsum([0, *split_counts(cfg.n_per_maqam, cfg.splits)])
        for s, split in enumerate(SPLIT_NAMES):
            for i in order[bounds[s]:bounds[s + 1]]:
                out[(name, int(i))] = split
    return out


# ----------------------------------------------------------------------------- the phrase


def degree_cents(m: mq.Maqam, d: int, descending: bool) -> float:
    """Pitch of signed degree index ``d`` as played, cents above the played tonic.

    ``d = 7 o + k``: degree ``k`` of the (ascending or descending) practice scale in octave
    ``o``; the 8th degree of each octave above the tonic is the maqam's octave note
    (D-flat in saba).
    """
    o, k = divmod(int(d), 7)
    if k == 0 and o >= 1:
        octave = m.octave_cents - (m.intonation_cents[0] if m.octave_cents != 1200.0 else 0.0)
        return 1200.0 * (o - 1) + octave
    table = m.practice_descending_degrees_cents if descending else m.practice_degrees_cents
    return 1200.0 * o + table[k]


def degree_range(m: mq.Maqam, tonic_hz: float) -> tuple[int, int]:
    """Lowest and highest degree index a clip uses on ``tonic_hz``.

    Down to four degrees below the tonic and up to five above the ghammaz (never past the
    octave note of a maqam that does not close at the octave, i.e. saba), inside the oud's
    range :data:`maqamgen.synth.OUD_RANGE_HZ`.
    """
    lo_hz, hi_hz = synth.OUD_RANGE_HZ
    lo = -4
    while mq.hz(degree_cents(m, lo, True), tonic_hz) < lo_hz:
        lo += 1
    hi = 7 if m.octave_cents != 1200.0 else m.ghammaz + 5
    while mq.hz(degree_cents(m, hi, False), tonic_hz) > hi_hz:
        hi -= 1
    return lo, hi


def choose_tonic(m: mq.Maqam, rng: np.random.Generator) -> float:
    """A clip's played tonic, Hz: a usual oud tonic of the maqam moved by a few semitones.

    Args:
        m: the maqam.
        rng: random generator.

    Returns:
        ``practice tonic * 2**(s / 12)`` with ``s`` uniform in
        ``[-TRANSPOSE_SEMITONES, TRANSPOSE_SEMITONES]``, rounded to 0.01 Hz.
    """
    names = (m.tonic_name, *m.alt_tonic_names)
    base = mq.hz(m.intonation_cents[0], mq.note_hz(names[int(rng.integers(len(names)))]))
    s = int(rng.integers(-TRANSPOSE_SEMITONES, TRANSPOSE_SEMITONES + 1))
    return round(float(base * 2.0 ** (s / 12.0)), 2)


def melodic_step(rng: np.random.Generator, pos: int, target: float, lo: int, hi: int) -> int:
    """One step of the melodic walk on degree indices toward ``target``, staying in [lo, hi].

    Mostly steps of one degree, some repeated notes, thirds and fourths; steps toward the
    target are favoured by ``exp(-0.5 |pos + step - target|)``.
    """
    steps = np.array([-3, -2, -1, 0, 1, 2, 3])
    w = np.array([0.04, 0.12, 0.33, 0.07, 0.3, 0.1, 0.04])
    w = w * np.exp(-0.5 * np.abs(pos + steps - target))
    w[(pos + steps < lo) | (pos + steps > hi)] = 0.0
    return int(pos + rng.choice(steps, p=w / w.sum()))


def taqsim_degrees(m: mq.Maqam, rng: np.random.Generator, seconds: float, beat: float,
                   lo: int, hi: int) -> tuple[list[int], list[float], list[float], float]:
    """Degrees, onsets and durations of one taqsim phrase (before pitch and ornaments).

    Args:
        m: the maqam.
        rng: random generator.
        seconds: target length, s.
        beat: beat length, s (durations are beat multiples with rubato).
        lo: lowest degree index.
        hi: highest degree index.

    Returns:
        ``(degrees, onsets_s, durations_s, stretch)``: aligned lists, the last note a long
        tonic; the phrase is generated on the beat grid and then stretched in time by
        ``stretch`` (:func:`phrase_stretch`) to end exactly at ``seconds``, so the played
        beat is ``stretch * beat``.
    """
    overhead = _QAFLA_BEATS * beat + len(_SECTION_SHARES) * (0.85 * beat + 0.15)  # qafla, held ends, breaths
    budget = max(seconds - overhead, 3.0 * beat)
    ends = np.cumsum(_SECTION_SHARES) / sum(_SECTION_SHARES) * budget
    upper = min(m.ghammaz + 1.0, hi)
    targets = (lambda u: 1.0 * np.sin(np.pi * u),  # opening: around the tonic
               lambda u: m.ghammaz + (upper - m.ghammaz + 0.5) * np.sin(np.pi * u),  # development
               lambda u: m.ghammaz * (1.0 - u) + 1.0 * u)  # return toward the tonic
    beats = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0])  # runs of short notes between held ones
    beat_p = np.array([0.42, 0.3, 0.06, 0.11, 0.06, 0.05])
    degrees, onsets, durs = [], [], []
    t, pos, start = 0.0, 0, 0.0
    for sec, end in enumerate(ends):
        while t < end - 0.3 * beat:
            u = (t - start) / max(end - start, 1e-9)
            b = float(rng.choice(beats, p=beat_p / beat_p.sum())) * beat * float(rng.lognormal(0.0, 0.12))
            degrees.append(pos)
            onsets.append(t)
            durs.append(b)
            t += b
            pos = melodic_step(rng, pos, float(targets[sec](min(u, 1.0))), lo, hi)
        durs[-1] += float(rng.uniform(0.5, 1.2)) * beat  # each section ends on a held note
        t = onsets[-1] + durs[-1] + float(rng.uniform(0.05, 0.25))  # and a breath
        start = t
    # qafla: stepwise descent from the 3rd or 4th degree, maybe via the degree below, to the tonic
    top = int(rng.integers(2, 4))
    path = list(range(top, 0, -1)) + ([-1] if rng.random() < 0.5 and lo <= -1 else []) + [0]
    for k, d in enumerate(path):
        b = (3.0 if k == len(path) - 1 else float(rng.choice([0.5, 0.75, 1.0]))) * beat
        degrees.append(d)
        onsets.append(t)
        durs.append(b * float(rng.lognormal(0.0, 0.08)))
        t += durs[-1]
    stretch = phrase_stretch(onsets, durs, seconds)
    return degrees, [o * stretch for o in onsets], [b * stretch for b in durs], stretch


def phrase_stretch(onsets: list[float], durs: list[float], seconds: float) -> float:
    """Time-stretch factor that makes a phrase end at ``seconds``: ``seconds / last offset``."""
    return float(seconds / max(o + b for o, b in zip(onsets, durs)))


def choose_ornament(rng: np.random.Generator, dur_s: float, beat: float, leap: int | None,
                    prev_hz: float | None, up_cents: float) -> dict | None:
    """The ornament of one note, drawn from its length and the leap that leads to it.

    * held notes (>= 0.9 beat): vibrato (45 %), risha tremolo (15 %), trill to the next
      degree up (10 %), none (30 %);
    * a note reached by a leap of two or more degrees, long enough (>= 0.15 s): a slide
      from the previous pitch (35 %);
    * otherwise none.

    Args:
        rng: random generator.
        dur_s: note length, s.
        beat: beat length, s.
        leap: degree-index difference from the previous note (``None`` for the first).
        prev_hz: previous note's pitch, Hz.
        up_cents: interval to the next degree up, cents (the trill's upper note).

    Returns:
        An ornament dict in the note format (:mod:`maqamgen.notes`) or ``None``.
    """
    if dur_s >= 0.9 * beat:
        kind = rng.choice(["vibrato", "tremolo", "trill", None], p=[0.45, 0.15, 0.1, 0.3])
        if kind == "vibrato":
            return {"type": "vibrato", "rate_hz": round(float(rng.uniform(4.5, 6.5)), 2),
                    "depth_cents": round(float(rng.uniform(10.0, 30.0)), 1)}
        if kind == "tremolo":
            return {"type": "tremolo", "rate_hz": round(float(rng.uniform(10.0, 14.0)), 2)}
        if kind == "trill":
            return {"type": "trill", "interval_cents": round(float(up_cents), 2),
                    "rate_hz": round(float(rng.uniform(5.0, 7.5)), 2)}
        return None
    if leap is not None and abs(leap) >= 2 and dur_s >= 0.15 and rng.random() < 0.35:
        return {"type": "slide", "from_hz": round(float(prev_hz), 3),
                "time_s": round(float(min(0.12, 0.4 * dur_s)), 3)}
    return None


def taqsim(maqam: str, seed: int, seconds: float, jitter_cents: float = 4.0,
           tonic_hz: float | None = None) -> tuple[list[Note], dict]:
    """One labelled taqsim phrase (notes and meta, not yet rendered).

    Args:
        maqam: maqam name.
        seed: clip seed; same seed, same phrase.
        seconds: target length, s (the last note may end a little later).
        jitter_cents: standard deviation of the per-note intonation jitter, cents.
        tonic_hz: played tonic in Hz; ``None`` draws one (:func:`choose_tonic`).

    Returns:
        ``(notes, meta)``: notes in time order; meta has ``maqam``, ``tonic_hz``, ``seed``,
        ``tempo_bpm``, ``jitter_cents``, ``degree`` and ``jitter`` (cents per note) and the
        ``descending`` flag per note (which form of the scale gave its pitch).

    Raises:
        ConfigError: unknown maqam.

    Used in: book/part1/02_maqam_estimation.md
    """
    m = mq.get_maqam(maqam)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0])
    tonic = choose_tonic(m, rng) if tonic_hz is None else float(tonic_hz)
    tempo = float(rng.uniform(*TEMPO_BPM))
    beat = 60.0 / tempo
    lo, hi = degree_range(m, tonic)
    degrees, onsets, durs, stretch = taqsim_degrees(m, rng, float(seconds), beat, lo, hi)
    beat *= stretch
    tempo /= stretch
    n = len(degrees)
    level = float(rng.uniform(0.55, 0.85))  # the clip's dynamic level
    jitter = rng.normal(0.0, jitter_cents, n)
    notes, descending = [], []
    prev_hz: float | None = None
    for i, d in enumerate(degrees):
        desc = i > 0 and d < degrees[i - 1]
        c = degree_cents(m, d, desc)
        f = float(mq.hz(c + jitter[i], tonic))
        up = degree_cents(m, d + 1, False) - c
        leap = None if i == 0 else d - degrees[i - 1]
        orn = choose_ornament(rng, durs[i], beat, leap, prev_hz, up)
        accent = 0.12 if durs[i] >= beat else 0.0
        vel = float(np.clip(level + accent + rng.normal(0.0, 0.06), 0.2, 1.0))
        legato = 1.0 if i == n - 1 else float(rng.uniform(0.88, 1.03))
        onset = round(onsets[i], 4)
        notes.append(Note(onset, round(max(onsets[i] + durs[i] * legato, onset + 0.02), 4), round(f, 3),
                          round(float(mq.cents_from_12tet(f)), 2), round(vel, 3), orn))
        descending.append(bool(desc))
        prev_hz = f
    meta = {"maqam": m.name, "tonic_hz": tonic, "seed": int(seed), "tempo_bpm": round(tempo, 2),
            "jitter_cents": float(jitter_cents), "degree": [int(d) for d in degrees],
            "descending": descending, "jitter": [round(float(j), 3) for j in jitter]}
    return notes, meta


def corrected_notes(notes: list[Note], maqam: str, tonic_hz: float) -> tuple[list[list[float]], list[float]]:
    """The ``notes_corrected`` rows and ``freqs`` vocabulary of a labelled phrase.

    Args:
        notes: the played notes.
        maqam: maqam name.
        tonic_hz: played tonic, Hz.

    Returns:
        ``(rows, freqs)``: rows ``[onset_s, offset_s, nominal_hz, played - nominal cents]``
        aligned with ``notes``, pitches snapped to the nominal 24-TET scale on the tonic
        (:func:`maqamgen.maqam.snap_to_scale`); and the sorted distinct nominal pitches, Hz.
    """
    f = np.array([n.freq_hz for n in notes])
    snapped, dev = mq.snap_to_scale(f, maqam, tonic_hz, practice=False)
    rows = [[n.onset, n.offset, round(float(s), 3), round(float(c), 2)]
            for n, s, c in zip(notes, snapped, dev)]
    return rows, sorted({r[2] for r in rows})


# ----------------------------------------------------------------------------- rendering


def timbre_seed(seed: int) -> int:
    """Seed of the synthesizer's timbre jitter and pluck noise for clip seed ``seed``."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 1]).generate_state(1)[0])


def pink_noise(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f power) noise, shape (n,), float64, unit RMS; flat below 20 Hz.

    Args:
        n: samples.
        sr: sample rate, Hz.
        rng: random generator.
    """
    from scipy import fft

    m = fft.next_fast_len(n, real=True)  # an FFT-friendly length, cut to n afterwards
    f = np.fft.rfftfreq(m, 1.0 / sr)
    spec = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) / np.sqrt(np.maximum(f, 20.0))
    x = fft.irfft(spec, m)[:n]
    return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)


def add_noise(y: np.ndarray, snr_db: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    """``y`` plus pink recording noise at ``snr_db`` (signal power over noise power, dB).

    Args:
        y: signal, shape (S,).
        snr_db: SNR in dB.
        rng: random generator.
        sr: sample rate, Hz.

    Returns:
        Noisy signal, shape (S,), float64.
    """
    p_signal = float(np.mean(np.asarray(y, dtype=float) ** 2))
    return y + pink_noise(len(y), sr, rng) * np.sqrt(p_signal / 10.0 ** (snr_db / 10.0))


def render_clip(notes: list[Note], sr: int, seed: int, snr_db: float | None) -> np.ndarray:
    """Render a clip's notes exactly as the corpus does.

    Oud synthesis (:func:`maqamgen.synth.render` with :func:`timbre_seed`), then pink noise
    at ``snr_db`` (seeded by the clip seed), then peak normalisation to :data:`PEAK`.

    Args:
        notes: the labelled notes (ornaments included).
        sr: sample rate, Hz.
        seed: clip seed.
        snr_db: SNR in dB, or ``None`` for clean audio.

    Returns:
        Audio, shape (S,), float32.
    """
    y = synth.render(notes, sr=sr, seed=timbre_seed(seed)).astype(np.float64)
    if snr_db is not None:
        y = add_noise(y, snr_db, np.random.default_rng([int(seed) & 0xFFFFFFFF, 2]), sr)
    return (y * (PEAK / max(float(np.max(np.abs(y))), 1e-12))).astype(np.float32)


def make_clip(cfg_dict: dict, maqam: str, index: int, split: str, root: str) -> dict:
    """Generate, render and write one clip (runs in a worker process).

    Args:
        cfg_dict: ``dataclasses.asdict`` of the CorpusConfig.
        maqam: maqam name.
        index: clip index within the maqam.
        split: its split.
        root: the corpus folder.

    Returns:
        The clip's index entry (paths relative to ``root``).
    """
    seed = clip_seed(cfg_dict["seed"], maqam, index)
    rng = np.random.default_rng([seed, 3])
    seconds = float(rng.uniform(cfg_dict["seconds_min"], cfg_dict["seconds_max"]))
    snr = None
    if cfg_dict["snr_db_min"] is not None:
        snr = round(float(rng.uniform(cfg_dict["snr_db_min"], cfg_dict["snr_db_max"])), 2)
    notes, meta = taqsim(maqam, seed, seconds, cfg_dict["jitter_cents"])
    rows, freqs = corrected_notes(notes, maqam, meta["tonic_hz"])
    meta.update(split=split, snr_db=snr, notes_corrected=rows, freqs=freqs)
    y = render_clip(notes, cfg_dict["sr"], seed, snr)
    cid = f"{maqam}-{index:04d}"
    audio_rel, notes_rel = f"audio/{cid}.wav", f"notes/{cid}.json"
    audio.save_audio(Path(root) / audio_rel, y, cfg_dict["sr"])
    write_notes(Path(root) / notes_rel, notes, meta)
    return {"id": cid, "split": split, "maqam": maqam, "tonic_hz": meta["tonic_hz"],
            "seconds": round(len(y) / cfg_dict["sr"], 6), "audio_path": audio_rel,
            "notes_path": notes_rel, "seed": seed, "n_notes": len(notes), "snr_db": snr}


# ----------------------------------------------------------------------------- the corpus


class Corpus:
    """A built corpus: its folder and clips.

    Attributes:
        root: the corpus folder (holding ``index.json``).
        clips: every clip, ordered by maqam (config order) and index.
        config: the CorpusConfig as a dict.

    Used in: book/part1/02_maqam_estimation.md, book/part2/07_lstm_tokens.md
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        index = json.loads((self.root / "index.json").read_text())
        self.config: dict = index["config"]
        self.hash: str = index["hash"]
        self.clips: list[Clip] = [
            Clip(**{**c, "audio_path": self.root / c["audio_path"], "notes_path": self.root / c["notes_path"]})
            for c in index["clips"]]

    def __len__(self) -> int:
        return len(self.clips)

    def __repr__(self) -> str:
        return f"Corpus({str(self.root)!r}, {len(self.clips)} clips, {self.total_seconds / 60:.1f} min)"

    def split(self, name: str) -> list[Clip]:
        """The clips of split ``name`` (``train``, ``validation`` or ``test``).

        Raises:
            ConfigError: unknown split name.
        """
        if name not in SPLIT_NAMES:
            raise ConfigError(f"unknown split {name!r}; splits: {', '.join(SPLIT_NAMES)}")
        return [c for c in self.clips if c.split == name]

    def audio(self, clip: Clip) -> tuple[np.ndarray, int]:
        """``(y, sr)``: the clip's audio, float32 shape (S,), and its sample rate in Hz."""
        return audio.load_audio(clip.audio_path)

    def notes(self, clip: Clip) -> tuple[list[Note], dict]:
        """``(notes, meta)`` of the clip (:func:`maqamgen.notes.read_notes`)."""
        return read_notes(clip.notes_path)

    @property
    def total_seconds(self) -> float:
        """Total audio length, s."""
        return float(sum(c.seconds for c in self.clips))

    def table(self):
        """One row per clip: a pandas DataFrame with the :class:`Clip` fields as columns."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(c) for c in self.clips])

    def summary(self) -> str:
        """Clips per split and maqam, and minutes of audio, as text."""
        t = self.table()
        counts = t.pivot_table(index="maqam", columns="split", values="id", aggfunc="count", fill_value=0)
        counts = counts.reindex(columns=[s for s in SPLIT_NAMES if s in counts.columns])
        minutes = t.groupby("split")["seconds"].sum().reindex(counts.columns) / 60.0
        return (f"{len(t)} clips, {self.total_seconds / 60.0:.1f} min of audio at {self.config['sr']} Hz\n"
                f"{counts.to_string()}\nminutes: "
                + ", ".join(f"{s} {m:.1f}" for s, m in minutes.items()))


def _complete(root: Path) -> bool:
    """True when ``root`` holds an index.json of this corpus version whose every listed file
    exists and is not empty (every file is written atomically and the index last, so a killed
    build leaves no index; this also refuses a hand-damaged one, which is then rebuilt)."""
    try:
        index = json.loads((root / "index.json").read_text())
        if index.get("corpus_version") != CORPUS_VERSION or index.get("hash") != root.name:
            return False
        for c in index["clips"]:
            for k in ("audio_path", "notes_path"):
                p = root / c[k]
                if not p.is_file() or p.stat().st_size == 0:
                    return False
        return bool(index["clips"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _write_json_atomic(path: Path, obj) -> None:
    runtime.atomic_write(path, json.dumps(obj, indent=1))


def build(cfg: CorpusConfig, workers: int = 2, force: bool = False, progress: bool = True,
          root: str | Path | None = None) -> Corpus:
    """Generate the corpus of ``cfg`` (or open it from the cache).

    Args:
        cfg: the corpus settings.
        workers: worker processes (1 = in this process); the result does not depend on it.
        force: regenerate even when a complete corpus is cached.
        progress: show a progress bar.
        root: parent folder of the corpus; default ``data/cache/corpus``. The corpus goes to
            ``<root>/<config_hash(cfg)>/``.

    Returns:
        The :class:`Corpus`.

    Raises:
        ConfigError: a bad config (:func:`check_config`) or worker count.
    """
    check_config(cfg)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers={workers!r} must be a positive integer")
    base = Path(root) if root is not None else cache_dir("corpus")
    folder = base / config_hash(cfg)
    if not force and _complete(folder):
        return Corpus(folder)
    base.mkdir(parents=True, exist_ok=True)
    with runtime.locked(folder):  # two builds at once: the second waits, then finds it complete
        if not force and _complete(folder):
            return Corpus(folder)
        return _build(cfg, folder, workers, progress)


def _build(cfg: CorpusConfig, folder: Path, workers: int, progress: bool) -> Corpus:
    (folder / "index.json").unlink(missing_ok=True)  # incomplete until the new index is written
    for sub in ("audio", "notes"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    cfg_dict = dataclasses.asdict(cfg)
    splits = assign_splits(cfg)
    jobs = [(cfg_dict, name, i, splits[(name, i)], str(folder))
            for name in cfg.maqamat for i in range(cfg.n_per_maqam)]
    entries: dict[str, dict] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"corpus {folder.name}", unit="clip")
    if workers == 1:
        for job in jobs:
            e = make_clip(*job)
            entries[e["id"]] = e
            bar is not None and bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for fut in as_completed([pool.submit(make_clip, *job) for job in jobs]):
                e = fut.result()
                entries[e["id"]] = e
                bar is not None and bar.update(1)
    if bar is not None:
        bar.close()
    clips = [entries[f"{name}-{i:04d}"] for name in cfg.maqamat for i in range(cfg.n_per_maqam)]
    index = {"corpus_version": CORPUS_VERSION, "hash": folder.name, "config": cfg_dict,
             "total_seconds": round(sum(c["seconds"] for c in clips), 6), "clips": clips}
    _write_json_atomic(folder / "index.json", index)
    return Corpus(folder)


def load(profile: str | Profile, workers: int = 2, progress: bool = True) -> Corpus:
    """The corpus of a profile, built (and cached) if missing.

    Args:
        profile: profile name (``smoke``, ``book``, ``full``) or a :class:`Profile`.
        workers: worker processes if it has to be built.
        progress: show a progress bar while building.

    Raises:
        ConfigError: unknown profile.

    Used in: book/part1/02_maqam_estimation.md, book/part2/07_lstm_tokens.md
    """
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    return build(p.corpus, workers=workers, progress=progress)


def export(corpus: Corpus, dest: str | Path) -> Corpus:
    """Copy a corpus to ``dest`` (its ``index.json`` last, so a partial copy is never complete).

    Args:
        corpus: the corpus.
        dest: destination folder (created; existing files are overwritten).

    Returns:
        The copied :class:`Corpus`.
    """
    dest = Path(dest)
    if dest.resolve() == corpus.root.resolve():
        return corpus
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "index.json").unlink(missing_ok=True)
    shutil.copytree(corpus.root, dest, dirs_exist_ok=True,
                    ignore=lambda d, names: [n for n in names if n == "index.json" or n.startswith(".")])
    runtime.atomic_write(dest / "index.json", (corpus.root / "index.json").read_bytes())
    return Corpus(dest)
