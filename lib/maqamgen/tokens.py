"""Note lists as token sequences: a microtonal pitch vocabulary, 1D and 2D tokens.

The report's Phase 7 compared two token formats for its LSTM:

* **1D tokens** -- the sounding note sampled at a fixed rate (the report sampled once per
  second; its code sampled a MIDI piano roll at 100 frames/s). One token per frame: a pitch,
  ``REST`` when nothing sounds, and optionally ``HOLD`` on frames that continue the previous
  frame's note (so that repeated notes of one pitch stay apart).
* **2D tokens** -- one ``(duration, note)`` pair per note or rest, the duration quantized on
  a log or fixed grid (:class:`DurationGrid`).

:class:`TokenSpec` bundles a format with its vocabulary and grid: note list to one token
sequence (``BOS`` first) and back, and the seconds of music a stretch of tokens lasts.
:func:`transpose`, :func:`shift` and :func:`crop` move and cut note lists (prompts,
continuations, one reference tonic).

2D tokens are kept as **two streams** (an array of shape ``(T, 2)``: duration token, pitch
token), not one joint id. A joint vocabulary has ``n_durations * n_pitches`` classes (about
33 x 109 = 3,597 at the defaults), most pairs rare or unseen, so each class gets little data
and the model cannot share what it learns about a pitch across durations; two streams with
summed input embeddings and one head each (:class:`maqamgen.nets.lstm.LSTMLM`) share it.
:func:`joint_ids` / :func:`split_joint_ids` give the joint-id variant for comparison.

Polyphony: both formats are monophonic. Where notes overlap, **the most recent onset wins**
(:func:`monophonic`; a longer earlier note resumes when the newer one ends). The report's
code kept the highest sounding MIDI pitch instead.

Pitch grid: ``f_min_hz * 2**(k * resolution_cents / 1200)``; with the defaults (55 Hz = A1,
50 cents) it is the 24-TET grid of A4 = 440 Hz, the quarter tones of maqam theory.

Used in: book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from maqamgen import maqam as mq
from maqamgen.errors import ConfigError, NotesError
from maqamgen.notes import Note

PAD, BOS, EOS, REST, HOLD = 0, 1, 2, 3, 4
"""Special token ids, shared by every :class:`PitchVocab` (pitches start at ``N_SPECIAL``)."""

N_SPECIAL = 5
"""Number of special tokens before the first pitch token."""

SPECIAL_NAMES = ("PAD", "BOS", "EOS", "REST", "HOLD")
"""Names of the special tokens, by id."""

DUR_PAD = 0
"""Duration-stream token of positions without a duration (padding, BOS, EOS)."""


@dataclass(frozen=True)
class PitchVocab:
    """A microtonal pitch vocabulary: special tokens, then one token per grid pitch.

    Token ``N_SPECIAL + k`` is the pitch ``f_min_hz * 2**(k * resolution_cents / 1200)``,
    ``k = 0 .. n_pitches - 1``. A frequency maps to the nearest grid pitch, so decoding is
    within ``resolution_cents / 2`` of the encoded frequency.

    Attributes:
        resolution_cents: grid step in cents (50 = quarter tones; 25 = eighth tones).
        f_min_hz: lowest grid pitch in Hz.
        f_max_hz: highest frequency to cover in Hz (the grid ends at the last pitch <= it).
    """

    resolution_cents: float = 50.0
    f_min_hz: float = 55.0
    f_max_hz: float = 1100.0

    def __post_init__(self):
        ok = all(math.isfinite(v) for v in (self.resolution_cents, self.f_min_hz, self.f_max_hz))
        if not ok or self.resolution_cents <= 0 or self.f_min_hz <= 0 or self.f_max_hz <= self.f_min_hz:
            raise ConfigError(f"PitchVocab needs resolution_cents > 0 and 0 < f_min_hz < f_max_hz "
                              f"(got {self.resolution_cents}, {self.f_min_hz}, {self.f_max_hz})")

    @property
    def n_pitches(self) -> int:
        """Number of pitch tokens."""
        span = 1200.0 * math.log2(self.f_max_hz / self.f_min_hz)
        return int(math.floor(span / self.resolution_cents + 1e-9)) + 1

    @property
    def size(self) -> int:
        """Vocabulary size: special tokens + pitch tokens (the embedding's row count)."""
        return N_SPECIAL + self.n_pitches

    def pitches_hz(self) -> np.ndarray:
        """Frequency in Hz of every pitch token, shape ``(n_pitches,)``."""
        return self.f_min_hz * 2.0 ** (np.arange(self.n_pitches) * self.resolution_cents / 1200.0)

    def encode_hz(self, f_hz):
        """Pitch token(s) of frequency(ies) ``f_hz``: the nearest grid pitch.

        Args:
            f_hz: frequency in Hz, float or array.

        Returns:
            ``int`` for a scalar, int64 array of the same shape for an array.

        Raises:
            NotesError: a frequency that is not finite and positive, or whose nearest grid
                pitch lies outside the vocabulary (more than half a step beyond its range).
        """
        f = np.asarray(f_hz, dtype=float)
        bad = ~np.isfinite(f) | (f <= 0)
        if np.any(bad):
            raise NotesError(f"cannot encode frequency {f[bad].flat[0]!r} Hz: not finite and positive")
        k = np.rint(1200.0 * np.log2(f / self.f_min_hz) / self.resolution_cents).astype(np.int64)
        out = (k < 0) | (k >= self.n_pitches)
        if np.any(out):
            raise NotesError(f"frequency {f[out].flat[0]:.2f} Hz is outside the vocabulary "
                             f"({self.f_min_hz:g} to {self.pitches_hz()[-1]:.2f} Hz, "
                             f"{self.resolution_cents:g}-cent steps)")
        tok = k + N_SPECIAL
        return int(tok) if tok.ndim == 0 else tok

    def is_pitch(self, token) -> np.ndarray | bool:
        """Whether token(s) are pitch tokens (not special, inside the vocabulary)."""
        t = np.asarray(token)
        res = (t >= N_SPECIAL) & (t < self.size)
        return bool(res) if res.ndim == 0 else res

    def decode(self, token):
        """Frequency in Hz of pitch token(s).

        Args:
            token: a pitch token, or an integer array of pitch tokens.

        Returns:
            ``float`` for a scalar, float array of the same shape for an array.

        Raises:
            NotesError: a special token (PAD, BOS, EOS, REST, HOLD) or an id outside the vocabulary.
        """
        t = np.asarray(token)
        ok = self.is_pitch(t)
        if not np.all(ok):
            bad = int(np.asarray(t)[~np.asarray(ok)].flat[0])
            name = SPECIAL_NAMES[bad] if 0 <= bad < N_SPECIAL else "outside the vocabulary"
            raise NotesError(f"token {bad} is {name}, not a pitch (pitch tokens are "
                             f"{N_SPECIAL}..{self.size - 1})")
        f = self.f_min_hz * 2.0 ** ((t - N_SPECIAL) * self.resolution_cents / 1200.0)
        return float(f) if np.ndim(f) == 0 else f

    def name(self, token: int) -> str:
        """Readable name of one token: ``"REST"``, ``"146.8Hz"``."""
        token = int(token)
        if 0 <= token < N_SPECIAL:
            return SPECIAL_NAMES[token]
        return f"{self.decode(token):.1f}Hz"


@dataclass(frozen=True)
class DurationGrid:
    """Quantization grid of the duration stream of 2D tokens.

    Duration token ``DUR_PAD`` (0) means "no duration"; tokens ``1 .. n_bins`` are the grid
    durations :meth:`bins_s`.

    Attributes:
        kind: ``"log"`` (``n_bins`` durations spaced geometrically from ``min_s`` to ``max_s``:
            the same relative precision for short and long notes) or ``"fixed"`` (multiples
            ``min_s, 2 min_s, ...`` up to ``max_s``: an absolute time grid, like a score).
        min_s: shortest duration in s (the fixed grid's step).
        max_s: longest duration in s; longer notes are cut to it (the rest of the note becomes
            a rest), longer rests become several rest tokens.
        n_bins: number of durations of the log grid (ignored for ``"fixed"``).
    """

    kind: str = "log"
    min_s: float = 1.0 / 32.0
    max_s: float = 4.0
    n_bins: int = 32

    def __post_init__(self):
        if self.kind not in ("log", "fixed"):
            raise ConfigError(f"DurationGrid kind {self.kind!r} is not 'log' or 'fixed'")
        if not (math.isfinite(self.min_s) and math.isfinite(self.max_s) and 0 < self.min_s < self.max_s):
            raise ConfigError(f"DurationGrid needs 0 < min_s < max_s (got {self.min_s}, {self.max_s})")
        if self.kind == "log" and self.n_bins < 2:
            raise ConfigError(f"a log DurationGrid needs n_bins >= 2 (got {self.n_bins})")
        if self.kind == "fixed" and self.max_s / self.min_s > 100_000:
            raise ConfigError(f"a fixed DurationGrid of {self.max_s / self.min_s:.0f} steps is too fine")

    def bins_s(self) -> np.ndarray:
        """Grid durations in s, ascending, shape ``(n_tokens - 1,)``."""
        return self._bins.copy()

    @cached_property
    def _bins(self) -> np.ndarray:
        if self.kind == "log":
            return np.geomspace(self.min_s, self.max_s, self.n_bins)
        return self.min_s * np.arange(1, int(math.floor(self.max_s / self.min_s + 1e-9)) + 1)

    @property
    def n_tokens(self) -> int:
        """Size of the duration vocabulary (``DUR_PAD`` + one token per grid duration)."""
        return len(self.bins_s()) + 1

    def encode_s(self, duration_s):
        """Duration token(s) of the nearest grid duration (in s, not log) to ``duration_s``.

        Durations below ``min_s`` map to the shortest bin, above ``max_s`` to the longest.

        Args:
            duration_s: duration in s (float or array, > 0).

        Returns:
            ``int`` for a scalar, int64 array for an array.
        """
        b = self._bins
        d = np.asarray(duration_s, dtype=float)
        i = np.clip(np.searchsorted(b, d), 1, len(b) - 1)
        tok = np.where(np.abs(d - b[i - 1]) <= np.abs(b[i] - d), i - 1, i) + 1
        return int(tok) if tok.ndim == 0 else tok.astype(np.int64)

    def decode(self, token):
        """Duration(s) in s of duration token(s) (``DUR_PAD`` decodes to 0)."""
        b = np.concatenate([[0.0], self._bins])
        t = np.asarray(token)
        if np.any((t < 0) | (t >= len(b))):
            raise NotesError(f"duration token outside 0..{len(b) - 1}: {t[(t < 0) | (t >= len(b))].flat[0]}")
        d = b[t]
        return float(d) if d.ndim == 0 else d

    def step_s(self, duration_s: float) -> float:
        """Spacing of the grid around ``duration_s`` in s: its quantization step there."""
        b = self._bins
        i = int(np.clip(np.searchsorted(b, duration_s), 1, len(b) - 1))
        return float(b[i] - b[i - 1])


# ----------------------------------------------------------------------------- monophony


def monophonic(notes: list[Note]) -> list[Note]:
    """The notes as one voice: at each instant, the sounding note with the latest onset.

    A note is cut when a newer note starts; if it is still sounding when the newer one
    ends, it resumes as a new note (same pitch, velocity and ornament). Equal onsets: the
    later note in the list wins.

    Args:
        notes: notes in any order, possibly overlapping.

    Returns:
        Non-overlapping notes sorted by onset (adjacent pieces of one note merged).

    Used in: book/part2/07_lstm_tokens.md
    """
    if not notes:
        return []
    order = sorted(range(len(notes)), key=lambda i: (notes[i].onset, i))
    times = sorted({t for n in notes for t in (n.onset, n.offset)})
    heap: list[tuple[float, int, int]] = []  # (-onset, -list index, list index)
    out: list[Note] = []
    cur, start, j = -1, 0.0, 0
    for t in times:
        while j < len(order) and notes[order[j]].onset <= t:
            i = order[j]
            heapq.heappush(heap, (-notes[i].onset, -i, i))
            j += 1
        while heap and notes[heap[0][2]].offset <= t:
            heapq.heappop(heap)
        top = heap[0][2] if heap else -1
        if top != cur:
            if cur >= 0 and t > start:
                out.append(_piece(notes[cur], start, t))
            cur, start = top, t
    return out


def _piece(n: Note, onset: float, offset: float) -> Note:
    return Note(float(onset), float(offset), n.freq_hz, n.cents_dev, n.velocity, n.ornament)


def _note(onset: float, offset: float, f_hz: float) -> Note:
    return Note(float(onset), float(offset), float(f_hz), round(float(mq.cents_from_12tet(f_hz)), 2))


# ----------------------------------------------------------------------------- 1D tokens


def _check_rate(rate_hz: float) -> float:
    if not (isinstance(rate_hz, (int, float)) and math.isfinite(rate_hz) and rate_hz > 0):
        raise ConfigError(f"rate_hz={rate_hz!r} must be a positive number of frames per second")
    return float(rate_hz)


def notes_to_tokens_1d(notes: list[Note], rate_hz: float = 8.0, vocab: PitchVocab | None = None,
                       hold: bool = False, n_frames: int | None = None) -> np.ndarray:
    """1D tokens: the sounding note at frame centres ``(k + 1/2) / rate_hz``.

    Frame ``k`` covers ``[k / rate_hz, (k + 1) / rate_hz)``; its token is the pitch of the
    note sounding at the frame's centre (the most recent onset, :func:`monophonic`), or
    ``REST``. Notes shorter than a frame may fall between centres and vanish.

    Args:
        notes: the notes (any order, may overlap).
        rate_hz: frames per second (the report: 1; its code: 100).
        vocab: pitch vocabulary (default :class:`PitchVocab()`).
        hold: write ``HOLD`` on the frames after a note's first one, so that two adjacent
            notes of one pitch stay two notes (without it they merge on decoding).
        n_frames: sequence length; default: up to the last frame whose centre a note covers.

    Returns:
        Int64 array of shape ``(n_frames,)``.

    Raises:
        NotesError: a pitch outside the vocabulary.
        ConfigError: a bad rate.

    Used in: book/part2/07_lstm_tokens.md
    """
    r = _check_rate(rate_hz)
    vocab = vocab or PitchVocab()
    mono = monophonic(notes)
    pitch = np.atleast_1d(np.asarray(vocab.encode_hz([n.freq_hz for n in mono]), dtype=np.int64))
    # frames whose centre lies in [onset, offset): k from ceil(onset*r - 1/2) to ceil(offset*r - 1/2) - 1
    k0 = np.ceil(np.array([n.onset for n in mono]) * r - 0.5 - 1e-9).astype(np.int64)
    k1 = np.ceil(np.array([n.offset for n in mono]) * r - 0.5 - 1e-9).astype(np.int64)
    if n_frames is None:
        n_frames = int(k1.max()) if len(k1) else 0
    tokens = np.full(int(n_frames), REST, dtype=np.int64)
    k0, k1 = np.clip(k0, 0, n_frames), np.clip(k1, 0, n_frames)
    for a, b, p in zip(k0, k1, pitch):
        if b > a:
            tokens[a] = p
            tokens[a + 1:b] = HOLD if hold else p
    return tokens


def tokens_1d_to_notes(tokens, rate_hz: float = 8.0, vocab: PitchVocab | None = None,
                       hold: bool | None = None) -> list[Note]:
    """Notes of a 1D token sequence: each run of one pitch token (plus ``HOLD``) is one note.

    Without ``HOLD`` tokens the decoding is ambiguous: two notes of the same pitch with no
    rest between them (a repeated note) decode as one long note. A pitch token always starts
    a new note when the sequence uses ``HOLD`` (written by ``notes_to_tokens_1d(hold=True)``).
    ``REST`` ends a note; ``PAD``, ``BOS`` and ``EOS`` are silent frames; a ``HOLD`` with no
    note before it is a rest.

    Args:
        tokens: int array of shape ``(T,)``.
        rate_hz: frames per second used to encode.
        vocab: pitch vocabulary used to encode.
        hold: whether the sequence was encoded with ``HOLD`` (every pitch token starts a
            note); ``None``: whether any ``HOLD`` token occurs.

    Returns:
        Notes sorted by onset; onsets and offsets lie on frame boundaries ``k / rate_hz``.

    Used in: book/part2/07_lstm_tokens.md
    """
    r = _check_rate(rate_hz)
    vocab = vocab or PitchVocab()
    t = np.asarray(tokens, dtype=np.int64).ravel()
    uses_hold = bool(np.any(t == HOLD)) if hold is None else bool(hold)
    notes: list[Note] = []
    cur, start = -1, 0
    for k in range(len(t) + 1):
        tok = int(t[k]) if k < len(t) else REST
        if tok == HOLD and cur >= 0:
            continue
        if cur >= 0 and (tok != cur or uses_hold):
            notes.append(_note(start / r, k / r, vocab.decode(cur)))
            cur = -1
        if vocab.is_pitch(tok) and cur < 0:
            cur, start = tok, k
    return notes


# ----------------------------------------------------------------------------- 2D tokens


def notes_to_tokens_2d(notes: list[Note], vocab: PitchVocab | None = None,
                       grid: DurationGrid | None = None) -> np.ndarray:
    """2D tokens: one ``(duration token, pitch token)`` row per note or rest.

    The notes are made monophonic (:func:`monophonic`); gaps become ``REST`` rows (a leading
    rest keeps the first onset). Durations are quantized with error diffusion: each row's
    duration is the grid duration nearest to the time from the *quantized* start to the true
    end, so the time error does not accumulate along the sequence (on a fixed grid every
    boundary is within half a step). Rests shorter than half the shortest duration are dropped;
    a note longer than ``grid.max_s`` is cut to it and the remainder becomes a rest.

    Args:
        notes: the notes (any order, may overlap).
        vocab: pitch vocabulary (default :class:`PitchVocab()`).
        grid: duration grid (default :class:`DurationGrid()`).

    Returns:
        Int64 array of shape ``(T, 2)``: column 0 duration tokens, column 1 pitch tokens.

    Raises:
        NotesError: a pitch outside the vocabulary.

    Used in: book/part2/07_lstm_tokens.md
    """
    vocab = vocab or PitchVocab()
    grid = grid or DurationGrid()
    mono = monophonic(notes)
    if not mono:
        return np.zeros((0, 2), dtype=np.int64)
    pitch = np.atleast_1d(vocab.encode_hz([n.freq_hz for n in mono]))
    rows: list[tuple[int, int]] = []
    t_q = 0.0  # quantized time reached so far

    def emit(end: float, tok: int, is_rest: bool) -> None:
        nonlocal t_q
        while is_rest and end - t_q > grid.max_s:  # long rests: several rows
            rows.append((grid.encode_s(grid.max_s), REST))
            t_q += grid.max_s
        target = end - t_q
        if is_rest and target < grid.min_s / 2:
            return
        d = grid.encode_s(min(max(target, grid.min_s), grid.max_s))
        rows.append((d, tok))
        t_q += grid.decode(d)

    for i, n in enumerate(mono):
        emit(n.onset, REST, True)
        offset = min(n.offset, n.onset + grid.max_s)
        emit(offset, int(pitch[i]), False)
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def tokens_2d_to_notes(tokens, vocab: PitchVocab | None = None,
                       grid: DurationGrid | None = None) -> list[Note]:
    """Notes of a 2D token sequence (inverse of :func:`notes_to_tokens_2d`).

    Time advances by each row's duration; pitch rows become notes, ``REST`` rows gaps;
    rows with a special pitch token other than ``REST`` (PAD, BOS, EOS, HOLD) or the
    duration token ``DUR_PAD`` are skipped without advancing time.

    Args:
        tokens: int array of shape ``(T, 2)`` (duration token, pitch token).
        vocab: pitch vocabulary used to encode.
        grid: duration grid used to encode.

    Returns:
        Notes sorted by onset, one per pitch row.

    Used in: book/part2/07_lstm_tokens.md
    """
    vocab = vocab or PitchVocab()
    grid = grid or DurationGrid()
    t = np.asarray(tokens, dtype=np.int64).reshape(-1, 2)
    notes: list[Note] = []
    now = 0.0
    for d_tok, p_tok in t:
        if d_tok == DUR_PAD or not (p_tok == REST or vocab.is_pitch(p_tok)):
            continue
        d = grid.decode(int(d_tok))
        if p_tok != REST:
            notes.append(_note(now, now + d, vocab.decode(int(p_tok))))
        now += d
    return notes


def joint_ids(tokens_2d, grid: DurationGrid | None = None) -> np.ndarray:
    """One joint id per 2D row: ``pitch_token * grid.n_tokens + duration_token``.

    The joint vocabulary has ``vocab.size * grid.n_tokens`` ids; ``PAD`` rows (0, 0) map to 0.

    Args:
        tokens_2d: int array of shape ``(T, 2)``.
        grid: duration grid used to encode.

    Returns:
        Int64 array of shape ``(T,)``.
    """
    grid = grid or DurationGrid()
    t = np.asarray(tokens_2d, dtype=np.int64).reshape(-1, 2)
    return t[:, 1] * grid.n_tokens + t[:, 0]


def split_joint_ids(ids, grid: DurationGrid | None = None) -> np.ndarray:
    """Inverse of :func:`joint_ids`: shape ``(T,)`` to ``(T, 2)``."""
    grid = grid or DurationGrid()
    i = np.asarray(ids, dtype=np.int64).ravel()
    return np.stack([i % grid.n_tokens, i // grid.n_tokens], axis=1)


# ----------------------------------------------------------------------------- token specification


@dataclass(frozen=True)
class TokenSpec:
    """How notes become one token sequence and back.

    Attributes:
        fmt: ``"1d"`` (the sounding note every ``1 / rate_hz`` s) or ``"2d"`` ((duration, pitch)
            rows, one per note or rest).
        rate_hz: frames per second of 1D tokens.
        hold: 1D tokens write ``HOLD`` after a note's first frame.
        resolution_cents, f_min_hz, f_max_hz: the :class:`PitchVocab`.
        dur_kind, dur_min_s, dur_max_s, dur_bins: the :class:`DurationGrid`.

    Used in: book/part2/07_lstm_tokens.md
    """

    fmt: str = "1d"
    rate_hz: float = 8.0
    hold: bool = False
    resolution_cents: float = 50.0
    f_min_hz: float = 55.0
    f_max_hz: float = 1100.0
    dur_kind: str = "log"
    dur_min_s: float = 1.0 / 32.0
    dur_max_s: float = 4.0
    dur_bins: int = 32

    def __post_init__(self):
        if self.fmt not in ("1d", "2d"):
            raise ConfigError(f"token format {self.fmt!r} is not '1d' or '2d'")

    @property
    def vocab(self) -> PitchVocab:
        """The pitch vocabulary."""
        return PitchVocab(self.resolution_cents, self.f_min_hz, self.f_max_hz)

    @property
    def grid(self) -> DurationGrid:
        """The duration grid (2D tokens)."""
        return DurationGrid(self.dur_kind, self.dur_min_s, self.dur_max_s, self.dur_bins)

    @property
    def dur_vocab_size(self) -> int:
        """Size of the duration stream (0 for 1D tokens)."""
        return self.grid.n_tokens if self.fmt == "2d" else 0

    def to_dict(self) -> dict:
        """Plain dict of every field (JSON-able)."""
        return dataclasses.asdict(self)

    def bos(self) -> np.ndarray:
        """The one-token prompt ``[BOS]`` (``[(DUR_PAD, BOS)]`` for 2D)."""
        return np.array([[DUR_PAD, BOS]] if self.fmt == "2d" else [BOS], dtype=np.int64)

    def fold(self, notes: list[Note]) -> list[Note]:
        """The notes with pitches outside the vocabulary moved by octaves into it."""
        lo, hi = self.vocab.pitches_hz()[[0, -1]]
        out = []
        for n in notes:
            f = n.freq_hz
            while f < lo * 2 ** (-self.resolution_cents / 2400):
                f *= 2.0
            while f > hi * 2 ** (self.resolution_cents / 2400):
                f /= 2.0
            out.append(n if f == n.freq_hz else dataclasses.replace(n, freq_hz=f))
        return out

    def encode(self, notes: list[Note], bos: bool = True) -> np.ndarray:
        """Token sequence of ``notes``: ``(L,)`` for 1D, ``(L, 2)`` for 2D; ``BOS`` first.

        1D: :func:`notes_to_tokens_1d`; 2D: :func:`notes_to_tokens_2d`.
        """
        if self.fmt == "1d":
            t = notes_to_tokens_1d(notes, self.rate_hz, self.vocab, hold=self.hold)
        else:
            t = notes_to_tokens_2d(notes, self.vocab, self.grid)
        return np.concatenate([self.bos(), t]) if bos else t

    def decode(self, tokens) -> list[Note]:
        """Notes of a token sequence (special tokens are silent, or skipped in 2D)."""
        if self.fmt == "1d":
            return tokens_1d_to_notes(tokens, self.rate_hz, self.vocab, hold=self.hold)
        return tokens_2d_to_notes(tokens, self.vocab, self.grid)

    def seconds_per_token(self, tokens) -> np.ndarray:
        """Seconds of music each token stands for, shape ``(L,)`` (0 for BOS/PAD rows in 2D)."""
        t = np.asarray(tokens)
        if self.fmt == "1d":
            return np.full(len(t), 1.0 / self.rate_hz)
        p = t[:, 1]
        ok = (t[:, 0] != DUR_PAD) & ((p == REST) | self.vocab.is_pitch(p))
        return np.where(ok, self.grid.decode(t[:, 0]), 0.0)

    def seconds(self, tokens) -> float:
        """Seconds of music a token sequence lasts."""
        return float(self.seconds_per_token(tokens).sum())


# ----------------------------------------------------------------------------- note lists


def transpose(notes: list[Note], from_hz: float, to_hz: float) -> list[Note]:
    """The notes moved by the interval ``to_hz / from_hz`` (ornament pitches too).

    Used in: book/part2/07_lstm_tokens.md
    """
    r = float(to_hz) / float(from_hz)
    out = []
    for n in notes:
        orn = n.ornament
        if orn and "from_hz" in orn:
            orn = {**orn, "from_hz": orn["from_hz"] * r}
        out.append(dataclasses.replace(n, freq_hz=n.freq_hz * r, ornament=orn))
    return out


def shift(notes: list[Note], dt: float) -> list[Note]:
    """The notes moved by ``dt`` seconds (notes ending before 0 dropped, onsets cut at 0).

    Used in: book/part2/07_lstm_tokens.md
    """
    out = []
    for n in notes:
        on, off = n.onset + dt, n.offset + dt
        if off > 0:
            out.append(dataclasses.replace(n, onset=max(on, 0.0), offset=off))
    return out


def crop(notes: list[Note], start: float, end: float) -> list[Note]:
    """The notes between ``start`` and ``end`` s (cut at the edges), moved to start at 0.

    Used in: book/part2/07_lstm_tokens.md
    """
    out = []
    for n in notes:
        on, off = max(n.onset, start), min(n.offset, end)
        if off - on > 1e-6:
            out.append(dataclasses.replace(n, onset=on - start, offset=off - start))
    return out
