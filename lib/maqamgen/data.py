"""Loaders: the user's recordings, note JSON, MIDI and the Bach chorales.

* :class:`AudioFolder` -- a folder of recordings (any format soundfile reads), recursively,
  with an optional labels CSV ``file,maqam,tonic_hz``; a torch ``Dataset``.
* :func:`read_note_folder` / :class:`NoteFiles` -- note JSON files in the report's format
  (:mod:`maqamgen.notes`); the ``Dataset`` yields ``(N, 5)`` note tensors.
* :func:`read_midi` / :func:`write_midi` -- MIDI with microtonal pitch bends (``mido``).
* :func:`bach_chorales` -- the chorales of music21's offline corpus, cached under
  ``data/cache/bach``.
* :func:`synthetic_corpus` -- the synthetic taqsim corpus (:mod:`maqamgen.corpus`).

Every malformed input raises a :class:`~maqamgen.errors.MaqamgenError` subclass naming the
file (and the row or message where there is one).

Used in: book/part1/02_maqam_estimation.md, book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from maqamgen import audio, maqam as mq
from maqamgen.runtime import cache_dir
from maqamgen import runtime
from maqamgen.errors import AudioError, ConfigError, NotesError
from maqamgen.notes import DEFAULT_VELOCITY, Note, check_notes, read_notes

try:  # torch is heavy: the Datasets subclass it when it is there, plain classes otherwise
    from torch.utils.data import Dataset as _Dataset
except ImportError:  # pragma: no cover - torch is a dependency of the book
    _Dataset = object

LABEL_COLUMNS = ("file", "maqam", "tonic_hz")
"""Header of a labels CSV (further columns are ignored)."""

_EXTENSION_ALIASES = {".aif": "AIFF", ".oga": "OGG", ".opus": "OGG"}


def _clip(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, so that a message stays one short line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- audio folder


def audio_extensions() -> tuple[str, ...]:
    """File extensions (lower case, with the dot) of every format libsndfile reads."""
    formats = set(sf.available_formats()) - {"RAW"}  # headerless RAW needs its layout given
    exts = {f".{k.lower()}" for k in formats}
    exts |= {alias for alias, fmt in _EXTENSION_ALIASES.items() if fmt in formats}
    return tuple(sorted(exts))


def find_audio(root: str | Path) -> list[Path]:
    """Every audio file under ``root`` (recursively, hidden files and folders skipped), sorted.

    Raises:
        AudioError: ``root`` is missing or not a folder.
    """
    r = Path(root)
    if not r.is_dir():
        raise AudioError("no such folder" if not r.exists() else "not a folder", r)
    exts = set(audio_extensions())
    out = []
    for dirpath, dirnames, filenames in os.walk(r):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in exts]
    return sorted(out)


def read_labels(csv_path: str | Path, root: str | Path | None = None) -> dict[Path, tuple[str, float | None]]:
    """Read a labels CSV: ``file,maqam,tonic_hz`` with a header row.

    ``file`` is relative to ``root`` (default: the CSV's folder) or absolute; ``maqam`` a
    known maqam name (case ignored); ``tonic_hz`` a positive frequency in Hz or empty.

    Args:
        csv_path: the CSV file.
        root: folder the ``file`` column is relative to.

    Returns:
        ``{resolved path: (maqam name, tonic_hz or None)}``.

    Raises:
        ConfigError: naming the CSV and the row (line number): missing file, no or wrong
            header, a short row, unknown maqam, bad tonic, a duplicate or missing audio file.
    """
    p = Path(csv_path)
    if not p.is_file():
        raise ConfigError("labels CSV not found" if not p.exists() else "labels CSV is not a file", p)
    base = Path(root) if root is not None else p.parent
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ConfigError(f"cannot read the labels CSV ({e.strerror or e})", p) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"the labels CSV is not UTF-8 text (byte {e.start})", p) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []  # (line number where the row ends, cells)
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise ConfigError(f"line {reader.line_num}: not valid CSV ({e})", p) from None
    if not rows or [c.strip().lower() for c in rows[0][1][:3]] != list(LABEL_COLUMNS):
        got = _clip(",".join(rows[0][1])) if rows else "(empty file)"
        raise ConfigError(f"line 1: the header must be {','.join(LABEL_COLUMNS)}, got {got!r}", p)
    out: dict[Path, tuple[str, float | None]] = {}
    for line, row in rows[1:]:
        if not any(c.strip() for c in row):
            continue
        if len(row) < 3:
            raise ConfigError(f"line {line}: expected 3 columns (file,maqam,tonic_hz), got {len(row)}", p)
        file, name, tonic = (c.strip() for c in row[:3])
        try:
            maqam = mq.get_maqam(name).name
        except ConfigError as e:
            problem = str(e) if len(name) <= 60 else f"unknown maqam {_clip(name)!r}"
            raise ConfigError(f"line {line}: {problem}", p) from None
        f_hz: float | None = None
        if tonic:
            try:
                f_hz = float(tonic)
            except ValueError:
                f_hz = float("nan")
            if not math.isfinite(f_hz) or f_hz <= 0:
                raise ConfigError(f"line {line}: tonic_hz {_clip(tonic)!r} is not a positive frequency in Hz", p)
        try:
            path = (base / file).resolve()
            found = bool(file) and path.is_file()
        except (OSError, ValueError):  # a NUL byte, a name too long, a loop of links
            found = False
        if not found:
            raise ConfigError(f"line {line}: audio file {_clip(file)!r} not found (looked in {base})", p)
        if path in out:
            raise ConfigError(f"line {line}: {_clip(file)!r} is listed twice", p)
        out[path] = (maqam, f_hz)
    return out


class AudioFolder(_Dataset):
    """A folder of recordings as a torch ``Dataset``.

    Args:
        root: folder searched recursively for audio files (:func:`find_audio`).
        labels_csv: optional labels CSV (:func:`read_labels`), paths relative to ``root``;
            files it does not list get ``maqam=None, tonic_hz=None``.
        sr: resample to this rate in Hz; ``None`` keeps each file's rate.

    Item ``i``: ``{"audio": float32 tensor (S,), "sr": int Hz, "path": str,
    "maqam": str | None, "tonic_hz": float | None}``.

    Raises:
        AudioError: missing folder or no audio in it; on access, an unreadable file (the
            error of :func:`maqamgen.audio.load_audio`, naming it).
        ConfigError: a bad labels CSV.
    """

    def __init__(self, root: str | Path, labels_csv: str | Path | None = None, sr: int | None = None):
        self.root = Path(root)
        self.sr = sr
        self.files = find_audio(self.root)
        if not self.files:
            raise AudioError(f"no audio files ({', '.join(audio_extensions()[:6])}, ...) in the folder",
                             self.root)
        self.labels = read_labels(labels_csv, self.root) if labels_csv is not None else {}

    def __len__(self) -> int:
        return len(self.files)

    def label(self, i: int) -> tuple[str | None, float | None]:
        """``(maqam, tonic_hz)`` of file ``i`` (``None`` where unlabelled)."""
        return self.labels.get(self.files[i].resolve(), (None, None))

    def __getitem__(self, i: int) -> dict:
        import torch

        y, sr = audio.load_audio(self.files[i], sr=self.sr)
        maqam, tonic = self.label(i)
        return {"audio": torch.from_numpy(y), "sr": sr, "path": str(self.files[i]),
                "maqam": maqam, "tonic_hz": tonic}


# ----------------------------------------------------------------------------- note JSON


def notes_array(notes: list[Note]) -> np.ndarray:
    """Notes as an array ``[onset_s, offset_s, freq_hz, cents_dev, velocity]``, shape (N, 5).
    """
    return np.array([[n.onset, n.offset, n.freq_hz, n.cents_dev, n.velocity] for n in notes],
                    dtype=np.float64).reshape(-1, 5)


def read_note_folder(root: str | Path, pattern: str = "*.json") -> list[tuple[Path, list[Note], dict]]:
    """Read every note JSON file under ``root`` (recursively).

    Args:
        root: folder (or a single ``.json`` file).
        pattern: glob of the files.

    Returns:
        ``[(path, notes, meta), ...]`` sorted by path.

    Raises:
        NotesError: missing folder, no files, or a malformed file (naming it and the row).
    """
    r = Path(root)
    if r.is_file():
        return [(r, *read_notes(r))]
    if not r.is_dir():
        raise NotesError("no such folder or file", r)
    files = sorted(f for f in r.rglob(pattern) if f.is_file() and not f.name.startswith("."))
    if not files:
        raise NotesError(f"no note files ({pattern}) in the folder", r)
    return [(f, *read_notes(f)) for f in files]


class NoteFiles(_Dataset):
    """Note JSON files as a torch ``Dataset`` of whole pieces (read once, kept in memory).

    Args:
        paths: note files or folders (see :func:`read_note_folder`).
        corrected: take ``notes_corrected`` (pitches snapped to the nominal scale;
            :func:`maqamgen.notes.read_notes_corrected`) instead of ``notes``.
        sort: sort each piece's notes by onset (files need not be sorted).

    Item ``i``: ``{"notes": float32 tensor (N, 5) [onset_s, offset_s, freq_hz, cents_dev,
    velocity], "path": str, "maqam": str | None, "tonic_hz": float | None}``.
    """

    def __init__(self, paths, corrected: bool = False, sort: bool = True):
        from maqamgen.notes import read_notes_corrected

        if isinstance(paths, (str, Path)):
            paths = [paths]
        self.items = []
        for p in paths:
            for f, notes, meta in read_note_folder(p):
                if corrected:
                    notes, meta = read_notes_corrected(f)
                if sort:
                    notes = sorted(notes, key=lambda n: (n.onset, n.freq_hz))
                self.items.append((f, notes_array(notes), meta))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        import torch

        f, arr, meta = self.items[i]
        return {"notes": torch.from_numpy(arr.astype(np.float32)), "path": str(f),
                "maqam": meta.get("maqam"), "tonic_hz": meta.get("tonic_hz")}


# ----------------------------------------------------------------------------- MIDI

PITCHWHEEL_MAX = 8192
"""Pitch-wheel steps from centre to either end (values -8192..8191)."""


def midi_to_hz(midi, bend_cents=0.0, a4_hz: float = mq.A4_HZ):
    """Frequency of MIDI note ``midi`` bent by ``bend_cents``, Hz: ``a4 2**((m - 69)/12 + c/1200)``."""
    return a4_hz * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0 + np.asarray(bend_cents) / 1200.0)


def hz_to_midi(freq_hz, a4_hz: float = mq.A4_HZ):
    """Fractional MIDI note number of a frequency: ``69 + 12 log2(f / a4)``."""
    return 69.0 + 12.0 * np.log2(np.asarray(freq_hz, dtype=float) / a4_hz)


def bend_to_cents(value: int, bend_range_semitones: float = 2.0) -> float:
    """Pitch-wheel value (-8192..8191) in cents, for a wheel range of +-``bend_range_semitones``."""
    return 100.0 * bend_range_semitones * value / PITCHWHEEL_MAX


def cents_to_bend(cents_value: float, bend_range_semitones: float = 2.0) -> int:
    """Nearest pitch-wheel value for ``cents_value`` (clipped to -8192..8191)."""
    v = int(round(cents_value / (100.0 * bend_range_semitones) * PITCHWHEEL_MAX))
    return max(-PITCHWHEEL_MAX, min(PITCHWHEEL_MAX - 1, v))


def _open_midi(path: Path):
    import mido

    if not path.exists():
        raise NotesError("no such file", path)
    if path.is_dir():
        raise NotesError("is a directory, not a MIDI file", path)
    try:
        mid = mido.MidiFile(str(path), clip=True)
    except MemoryError:
        raise NotesError("not a readable MIDI file (it asks for more memory than there is)", path) from None
    except Exception as e:  # mido raises many kinds (KeySignatureError, EOFError, ...) on bad bytes
        raise NotesError(f"not a readable MIDI file ({_short_reason(e)})", path) from None
    division = mid.ticks_per_beat
    if division == 0:
        raise NotesError("not a readable MIDI file (its header gives 0 ticks per beat)", path)
    if division < 0 or division >= 0x8000:  # the top bit marks SMPTE frames per second (mido reads
        # it as a negative number and cannot time it)
        raise NotesError("SMPTE time division (frames per second) is not supported; "
                         "save the file with ticks per beat", path)
    return mid


def _short_reason(e: BaseException) -> str:
    """``Type: message``, one line of at most 160 characters."""
    text = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")
    return f"{type(e).__name__}: {text[:160]}" if text else type(e).__name__


def read_midi(path: str | Path, bend_range_semitones: float = 2.0, skip_drums: bool = True) -> list[Note]:
    """Read the notes of a MIDI file, with microtonal pitch from pitch bends.

    Tracks are merged; times are in seconds, honouring every tempo change (``mido``'s
    playback timing). Note-ons are paired with the next note-off (or velocity-0 note-on) of
    the same channel and key, first in first out; notes still sounding at the end stop at
    the file's end; zero-length notes are dropped. A note's pitch is its key bent by the
    channel's pitch wheel at its onset (later bends are ignored).

    Args:
        path: ``.mid`` / ``.midi`` file.
        bend_range_semitones: pitch-wheel range, +-semitones (General MIDI default 2).
        skip_drums: ignore channel 10 (index 9), General MIDI percussion.

    Returns:
        Notes sorted by onset: ``freq_hz`` including the bend, ``cents_dev`` = deviation
        from the nearest 12-TET pitch, ``velocity`` = MIDI velocity / 127.

    Raises:
        NotesError: naming the file: missing, not a MIDI file, truncated, or no notes.

    Used in: book/part2/07_lstm_tokens.md
    """
    p = Path(path)
    if not 0 < bend_range_semitones <= 48:
        raise ConfigError(f"bend_range_semitones={bend_range_semitones} must be in (0, 48]")
    mid = _open_midi(p)
    bend = [0] * 16
    sounding: dict[tuple[int, int], list[tuple[float, float, int]]] = {}
    rows: list[tuple[float, float, float, int, int]] = []  # onset, offset, bend cents, key, velocity
    try:  # mido's merged playback order, times in seconds (it parses lazily: errors show here)
        messages = list(mid)
    except MemoryError:
        raise NotesError("corrupt MIDI data (it asks for more memory than there is)", p) from None
    except Exception as e:
        raise NotesError(f"corrupt MIDI data ({_short_reason(e)})", p) from None
    t = 0.0
    try:
        for msg in messages:
            t += msg.time
            if msg.type == "pitchwheel":
                bend[msg.channel] = msg.pitch
            elif msg.type in ("note_on", "note_off"):
                if skip_drums and msg.channel == 9:
                    continue
                key = (msg.channel, msg.note)
                if msg.type == "note_on" and msg.velocity > 0:
                    c = bend_to_cents(bend[msg.channel], bend_range_semitones)
                    sounding.setdefault(key, []).append((t, c, msg.velocity))
                elif sounding.get(key):
                    onset, c, vel = sounding[key].pop(0)
                    rows.append((onset, t, c, msg.note, vel))
    except (EOFError, ValueError, KeyError, IndexError, TypeError, ArithmeticError) as e:
        raise NotesError(f"corrupt MIDI data ({_short_reason(e)})", p) from None
    for (_ch, note), started in sounding.items():
        rows += [(onset, t, c, note, vel) for onset, c, vel in started]
    notes = []
    for onset, offset, c, key, vel in sorted(rows):
        if offset - onset <= 1e-9:
            continue
        f = float(midi_to_hz(key, c))
        notes.append(Note(round(onset, 6), round(offset, 6), f, float(mq.cents_from_12tet(f)),
                          max(vel, 1) / 127.0))
    if not notes:
        raise NotesError("no notes in the MIDI file", p)
    return check_notes(notes, p)


def _free_channel(busy_until: dict[int, float], onset: float) -> int | None:
    """A channel (not 9, the drums) free at ``onset``: the one released longest ago."""
    free = [ch for ch in range(16) if ch != 9 and busy_until.get(ch, -1.0) <= onset]
    return min(free, key=lambda ch: (busy_until.get(ch, -1.0), ch)) if free else None


def write_midi(path: str | Path, notes: list[Note], bend_range_semitones: float = 2.0,
               tempo_bpm: float = 120.0, ticks_per_beat: int = 960) -> Path:
    """Write notes to a standard MIDI file, microtonal pitches as key + pitch bend.

    Each note is the nearest MIDI key bent by the remaining cents, on a channel of its own
    while it sounds (15 channels, 10 skipped), so overlapping notes keep their own bends. The
    bend is sent just before the note-on. Times are quantised to the tick (``60 /
    (tempo_bpm * ticks_per_beat)`` s: 0.52 ms by default); pitches to the wheel step
    (``100 * range / 8192`` cents: 0.024 cent by default).

    Args:
        path: the ``.mid`` file (written atomically).
        notes: the notes (validated; ornaments are not written).
        bend_range_semitones: pitch-wheel range the reader must assume, +-semitones.
        tempo_bpm: tempo written to the file.
        ticks_per_beat: MIDI resolution.

    Returns:
        The path written.

    Raises:
        NotesError: invalid notes, a pitch outside MIDI keys 0..127, more than 15 notes
            sounding at once, or a failed write (naming the file).

    Used in: book/part2/07_lstm_tokens.md
    """
    import mido

    p = Path(path)
    notes = check_notes(list(notes), p)
    tick_s = 60.0 / (tempo_bpm * ticks_per_beat)
    events = []  # (tick, order, message); at one tick: offs, then bends, then ons
    busy_until: dict[int, float] = {}
    for i, n in enumerate(sorted(notes, key=lambda n: (n.onset, n.offset))):
        m = float(hz_to_midi(n.freq_hz))
        key = int(round(m))
        if not 0 <= key <= 127:
            raise NotesError(f"note at {n.onset} s: {n.freq_hz:.2f} Hz is outside MIDI keys 0..127", p)
        on, off = int(round(n.onset / tick_s)), int(round(n.offset / tick_s))
        off = max(off, on + 1)
        ch = _free_channel(busy_until, on * tick_s)
        if ch is None:
            raise NotesError(f"note at {n.onset} s: more than 15 notes sound at once", p)
        busy_until[ch] = off * tick_s
        vel = max(1, min(127, int(round(n.velocity * 127))))
        bend = cents_to_bend(100.0 * (m - key), bend_range_semitones)
        events += [(on, 1, mido.Message("pitchwheel", channel=ch, pitch=bend)),
                   (on, 2, mido.Message("note_on", channel=ch, note=key, velocity=vel)),
                   (off, 0, mido.Message("note_off", channel=ch, note=key, velocity=0))]
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0)])
    last = 0
    for tick, _order, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat, tracks=[track])
    if not p.parent.is_dir():
        raise NotesError(f"folder {p.parent} does not exist", p)
    try:
        with runtime.atomic_path(p) as tmp:
            mid.save(tmp)
    except OSError as e:
        raise NotesError(f"cannot write: {e.strerror or e}", p) from None
    return p


# ----------------------------------------------------------------------------- Bach chorales

BACH_BPM = 80.0
"""Default tempo of the chorales in quarter notes per minute (the scores give none)."""


def _chorale_events(name: str, part: str) -> list[list[float]]:
    """Parse one chorale with music21: ``[[onset_ql, offset_ql, midi], ...]`` (quarter lengths).

    ``part="soprano"`` takes the first part (the soprano in the Bach corpus), ``"all"`` every
    part; ties are merged, rests and grace notes skipped, chords split into their pitches.
    """
    from music21 import corpus

    score = corpus.parse(name)
    parts = list(score.parts)
    if not parts:
        return []
    chosen = parts[:1] if part == "soprano" else parts
    rows = []
    for pt in chosen:
        for el in pt.stripTies().flatten().notes:
            ql = float(el.duration.quarterLength)
            if ql <= 0:
                continue
            on = float(el.getOffsetInHierarchy(pt))
            for pitch in getattr(el, "pitches", ()):
                rows.append([on, on + ql, float(pitch.ps)])
    return sorted(rows)


def _bach_cache_path(part: str) -> Path:
    from importlib.metadata import version  # not music21.__version__: importing music21 takes seconds

    return cache_dir("bach") / f"chorales-{part}-music21-{version('music21')}.json"


def _chorale_names() -> list[str]:
    from music21.corpus.chorales import Iterator

    return [str(n) for n in Iterator(returnType="filename")]


def _read_bach_cache(path: Path) -> dict:
    """``{"names": [...], "chorales": {name: events}}`` from the cache (empty if unreadable)."""
    try:
        obj = json.loads(path.read_text())
        if isinstance(obj.get("names"), list) and isinstance(obj.get("chorales"), dict):
            return obj
    except (OSError, ValueError, AttributeError):
        pass
    return {"names": [], "chorales": {}}


def bach_chorales(n: int | None = None, part: str = "soprano", bpm: float = BACH_BPM,
                  workers: int = 1) -> list[tuple[str, list[Note]]]:
    """The Bach chorales of music21's offline corpus as note lists.

    Parsing is slow, so the parsed chorales (onsets in quarter lengths, MIDI pitches) are
    cached as JSON under ``data/cache/bach/``; later calls only convert to seconds.

    Args:
        n: the first ``n`` chorales of ``music21.corpus.chorales.Iterator()`` (Riemenschneider
            order, 371 in all); ``None`` = all.
        part: ``"soprano"`` (the melody) or ``"all"`` (every voice, overlapping).
        bpm: tempo in quarter notes per minute.
        workers: processes parsing the chorales not yet cached.

    Returns:
        ``[(name, notes), ...]``: name like ``"bach/bwv269"``; notes sorted by onset, 12-TET
        pitches (``cents_dev`` 0), velocity the default.

    Raises:
        ConfigError: bad ``part``, ``n`` or ``bpm``.

    Used in: book/part2/07_lstm_tokens.md
    """
    if part not in ("soprano", "all"):
        raise ConfigError(f"part={part!r} must be 'soprano' or 'all'")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"n={n!r} must be a positive integer or None")
    if not 0 < bpm <= 1000:
        raise ConfigError(f"bpm={bpm} must be in (0, 1000]")
    path = _bach_cache_path(part)
    store = _read_bach_cache(path)
    all_names = store["names"] or _chorale_names()
    names = all_names if n is None else all_names[:n]
    cached: dict[str, list] = store["chorales"]
    todo = [nm for nm in names if nm not in cached]
    if todo:
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                parsed = list(pool.map(_chorale_events, todo, [part] * len(todo), chunksize=4))
        else:
            parsed = [_chorale_events(nm, part) for nm in todo]
        cached.update(zip(todo, parsed))
        runtime.atomic_write(path, json.dumps({"names": all_names, "chorales": cached}))
    spq = 60.0 / bpm
    out = []
    for nm in names:
        notes = [Note(round(on * spq, 6), round(off * spq, 6), float(midi_to_hz(m)), 0.0, DEFAULT_VELOCITY)
                 for on, off, m in cached[nm]]
        if notes:
            out.append((nm, notes))
    return out


# ----------------------------------------------------------------------------- synthetic corpus


def synthetic_corpus(profile: str = "book"):
    """The synthetic taqsim corpus of a profile (:func:`maqamgen.corpus.load`).
    """
    from maqamgen import corpus

    return corpus.load(profile)
