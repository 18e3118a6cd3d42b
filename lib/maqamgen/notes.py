"""The report's note JSON format: read, validate, write.

A note file is a JSON object::

    {"notes": [[onset_s, offset_s, freq_hz, cents_dev], ...],
     "velocity": [0.8, ...],            # optional, aligned with "notes", each in (0, 1]
     "ornaments": [null, {"type": "vibrato", "rate_hz": 5.5, "depth_cents": 30}, ...],
     "maqam": "hijaz", "tonic_hz": 146.83, ...}   # any other keys: kept as metadata

``freq_hz`` is the sounding pitch; ``cents_dev`` is the transcriber's deviation, kept as
metadata. Notes may overlap and need not be sorted.

Ornaments (one per note, or ``null``); missing parameters take the defaults in
:data:`ORNAMENT_DEFAULTS`:

* ``{"type": "vibrato", "rate_hz": 5.5, "depth_cents": 30}``: sinusoidal pitch
  modulation, ``depth_cents`` is the peak deviation (the pitch swings +-depth).
* ``{"type": "trill", "interval_cents": 200, "rate_hz": 8}``: alternation with the note
  ``interval_cents`` above; ``rate_hz`` full cycles (main + upper note) per second.
* ``{"type": "tremolo", "rate_hz": 12}``: risha tremolo, ``rate_hz`` plucks per second.
* ``{"type": "slide", "from_hz": 220.0, "time_s": 0.08}``: glide from ``from_hz`` to the
  note's pitch during the first ``time_s`` seconds.

Every problem raises :class:`~maqamgen.errors.NotesError` naming the file and the row.

Used in: book/part1/01_stft_filtering.md
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maqamgen.errors import NotesError
from maqamgen import runtime

MAX_FREQ_HZ = 20_000.0
"""Highest accepted note frequency, in Hz."""

DEFAULT_VELOCITY = 0.8
"""Velocity of a note when the file gives none."""

ORNAMENT_DEFAULTS: dict[str, dict[str, float]] = {
    "vibrato": {"rate_hz": 5.5, "depth_cents": 30.0},
    "trill": {"interval_cents": 200.0, "rate_hz": 8.0},
    "tremolo": {"rate_hz": 12.0},
    "slide": {"time_s": 0.08},  # from_hz is required
}
"""Known ornament types and the defaults of their parameters."""

_REQUIRED = {"slide": ("from_hz",)}
_LIMITS = {  # (low, high, low inclusive): the accepted range of each parameter
    "rate_hz": (0.0, 100.0, False),
    "depth_cents": (0.0, 1200.0, True),
    "interval_cents": (-2400.0, 2400.0, True),
    "from_hz": (0.0, MAX_FREQ_HZ, False),
    "time_s": (0.0, 10.0, False),
}
_RESERVED = ("notes", "velocity", "ornaments")


@dataclass(frozen=True)
class Note:
    """One note.

    Attributes:
        onset: start time in s (>= 0).
        offset: end time in s (> onset); the string is damped shortly after.
        freq_hz: sounding pitch in Hz.
        cents_dev: the transcriber's deviation in cents (metadata; not used to render).
        velocity: loudness in (0, 1].
        ornament: ``None`` or an ornament dict (see the module docstring); not hashed.
    """

    onset: float
    offset: float
    freq_hz: float
    cents_dev: float = 0.0
    velocity: float = DEFAULT_VELOCITY
    ornament: dict | None = field(default=None, hash=False)

    @property
    def duration(self) -> float:
        """``offset - onset`` in s."""
        return self.offset - self.onset


NoteList = list[Note]
"""A list of notes (plain ``list``)."""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _finite(x: Any) -> bool:
    """A number that is finite as a float (an int too large for a float is not)."""
    if not _is_number(x):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _float(x: int | float) -> float:
    """``float(x)``; an int beyond the float range becomes +-inf (then refused as not finite)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _parse_int(text: str) -> int | float:
    """JSON integers: exact up to 300 digits, beyond that a float (inf), never Python's
    "exceeds the limit for integer string conversion" ValueError."""
    return int(text) if len(text) <= 300 else float(text)


def check_ornament(orn: Any, where: str, path: str | Path | None = None) -> dict | None:
    """Validate one ornament and fill in its defaults.

    Args:
        orn: ``None`` or a dict with a ``"type"`` key.
        where: how to name it in a message, e.g. ``"ornaments[3]"``.
        path: file to name in a message.

    Returns:
        ``None`` or a new dict with every parameter of its type, as floats.

    Raises:
        NotesError: not a dict, unknown type, unknown key, missing or bad parameter.
    """
    if orn is None:
        return None
    if not isinstance(orn, dict):
        raise NotesError(f"{where}: an ornament must be null or an object, not {type(orn).__name__}", path)
    kind = orn.get("type")
    if kind not in ORNAMENT_DEFAULTS:
        raise NotesError(f"{where}: unknown ornament type {_show(kind)} "
                         f"(known: {', '.join(sorted(ORNAMENT_DEFAULTS))})", path)
    allowed = set(ORNAMENT_DEFAULTS[kind]) | set(_REQUIRED.get(kind, ()))
    out: dict[str, Any] = {"type": kind}
    for key in sorted(set(orn) - {"type"}):
        if key not in allowed:
            raise NotesError(f"{where}: unknown key {_show(key)} for a {kind} "
                             f"(known: {', '.join(sorted(allowed))})", path)
    for key in _REQUIRED.get(kind, ()):
        if key not in orn:
            raise NotesError(f"{where}: a {kind} needs {key!r}", path)
    for key in sorted(allowed):
        value = orn.get(key, ORNAMENT_DEFAULTS[kind].get(key))
        if not _finite(value):
            raise NotesError(f"{where}: {key} is {_show(value)}, not a finite number", path)
        lo, hi, lo_incl = _LIMITS[key]
        if value > hi or value < lo or (value == lo and not lo_incl):
            raise NotesError(f"{where}: {key}={value} is outside {'[' if lo_incl else '('}{lo}, {hi}]", path)
        out[key] = float(value)
    return out


def check_note(note: Note, i: int, path: str | Path | None = None, key: str = "notes") -> None:
    """Check one note's numbers.

    Args:
        note: the note.
        i: its row index (named in messages as ``notes[i]``).
        path: file to name in messages.
        key: the list it comes from, named in messages (``notes_corrected[i]``).

    Raises:
        NotesError: non-finite number, negative onset, offset <= onset, frequency not in
            (0, 20 kHz], velocity not in (0, 1].
    """
    w = f"{key}[{i}]"
    for name in ("onset", "offset", "freq_hz", "cents_dev", "velocity"):
        v = getattr(note, name)
        if not _finite(v):
            raise NotesError(f"{w}: {name} is {_show(v)}, not a finite number", path)
    if note.onset < 0:
        raise NotesError(f"{w}: onset {note.onset} s is negative", path)
    if note.offset <= note.onset:
        raise NotesError(f"{w}: offset {note.offset} s is not after onset {note.onset} s", path)
    if not 0 < note.freq_hz <= MAX_FREQ_HZ:
        raise NotesError(f"{w}: freq_hz {note.freq_hz} is not in (0, {MAX_FREQ_HZ:.0f}] Hz", path)
    if not 0 < note.velocity <= 1:
        raise NotesError(f"{w}: velocity {note.velocity} is not in (0, 1]", path)


def check_notes(notes: list[Note], path: str | Path | None = None) -> list[Note]:
    """Validate a list of notes and normalise their ornaments.

    Args:
        notes: the notes (a non-empty list of :class:`Note`).
        path: file to name in messages.

    Returns:
        The notes, with each ornament replaced by its validated copy (defaults filled in).

    Raises:
        NotesError: empty list, an item that is not a Note, or any :func:`check_note` /
            :func:`check_ornament` problem.
    """
    if len(notes) == 0:
        raise NotesError("no notes", path)
    out = []
    for i, n in enumerate(notes):
        if not isinstance(n, Note):
            raise NotesError(f"notes[{i}]: expected a Note, got {type(n).__name__}", path)
        check_note(n, i, path)
        orn = check_ornament(n.ornament, f"notes[{i}].ornament", path)
        out.append(n if orn == n.ornament else Note(n.onset, n.offset, n.freq_hz, n.cents_dev, n.velocity, orn))
    return out


def _row(row: Any, i: int, path: str | Path | None, key: str = "notes") -> tuple[float, float, float, float]:
    if not isinstance(row, list) or len(row) != 4:
        got = f"a list of {len(row)}" if isinstance(row, list) else type(row).__name__
        raise NotesError(f"{key}[{i}]: expected [onset_s, offset_s, freq_hz, cents_dev], got {got}", path)
    for j, x in enumerate(row):
        if not _is_number(x):
            raise NotesError(f"{key}[{i}][{j}] is {_show(x)}, not a number", path)
    return _float(row[0]), _float(row[1]), _float(row[2]), _float(row[3])


def _aligned(obj: dict, key: str, n: int, path: str | Path | None) -> list | None:
    if key not in obj or obj[key] is None:
        return None
    values = obj[key]
    if not isinstance(values, list):
        raise NotesError(f'"{key}" must be a list aligned with "notes", not {type(values).__name__}', path)
    if len(values) != n:
        raise NotesError(f'"{key}" has {len(values)} entries but "notes" has {n}', path)
    return values


def parse_notes(obj: Any, path: str | Path = "<memory>") -> tuple[list[Note], dict]:
    """Validate a decoded note JSON object.

    Args:
        obj: the decoded JSON (a dict with a ``"notes"`` list).
        path: name of its source, used in messages.

    Returns:
        ``(notes, meta)``: the notes in file order, and every other top-level key (not
        ``notes``, ``velocity``, ``ornaments``) as a dict.

    Raises:
        NotesError: naming ``path`` and the row, for any malformed part.
    """
    if not isinstance(obj, dict):
        raise NotesError(f"the top level must be a JSON object with a \"notes\" list, not {_json_type(obj)}", path)
    if "notes" not in obj:
        raise NotesError('no "notes" key (expected {"notes": [[onset_s, offset_s, freq_hz, cents_dev], ...]})', path)
    rows = obj["notes"]
    if not isinstance(rows, list):
        raise NotesError(f'"notes" must be a list of [onset_s, offset_s, freq_hz, cents_dev], not {_json_type(rows)}', path)
    if not rows:
        raise NotesError('no notes ("notes" is empty)', path)
    velocities = _aligned(obj, "velocity", len(rows), path)
    ornaments = _aligned(obj, "ornaments", len(rows), path)
    notes = []
    for i, row in enumerate(rows):
        onset, offset, f, dev = _row(row, i, path)
        vel = DEFAULT_VELOCITY
        if velocities is not None:
            vel = velocities[i]
            if not _finite(vel) or not 0 < vel <= 1:
                raise NotesError(f"velocity[{i}] (notes[{i}]) is {_show(vel)}, not a number in (0, 1]", path)
        orn = None if ornaments is None else check_ornament(ornaments[i], f"ornaments[{i}] (notes[{i}])", path)
        note = Note(onset, offset, f, dev, float(vel), orn)
        check_note(note, i, path)
        notes.append(note)
    meta = {k: v for k, v in obj.items() if k not in _RESERVED}
    return notes, meta


def _show(x: Any, limit: int = 60) -> str:
    """``repr(x)`` cut to ``limit`` characters (a huge number or string stays one short line)."""
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 3 * limit:
        return f"an integer of about {int(x.bit_length() * 0.30103) + 1} digits"
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(x: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(x), "a number")


def read_notes(path: str | Path) -> tuple[list[Note], dict]:
    """Read and validate a note JSON file.

    Args:
        path: the ``.json`` file.

    Returns:
        ``(notes, meta)`` as :func:`parse_notes`.

    Raises:
        NotesError: missing or unreadable file, not UTF-8, not JSON (with line and
            column), or any :func:`parse_notes` problem.
    """
    p = Path(path)
    if not p.exists():
        raise NotesError("no such file", p)
    if p.is_dir():
        raise NotesError("is a directory, not a note JSON file", p)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise NotesError(f"cannot read: {e.strerror or e}", p) from None
    except UnicodeDecodeError as e:
        raise NotesError(f"not UTF-8 text (byte {e.start}); expected note JSON", p) from None
    try:
        obj = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        raise NotesError(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}", p) from None
    except RecursionError:
        raise NotesError("not valid JSON: nested too deeply", p) from None
    return parse_notes(obj, p)


def notes_to_obj(notes: list[Note], meta: dict | None = None) -> dict:
    """The JSON object of a note list (inverse of :func:`parse_notes`).

    ``velocity`` is written only when some velocity differs from the default, and
    ``ornaments`` only when some note has one. Keys ``notes``, ``velocity`` and
    ``ornaments`` in ``meta`` are ignored (``notes`` is authoritative).

    Args:
        notes: the notes.
        meta: extra top-level keys.

    Returns:
        A JSON-serialisable dict.
    """
    obj: dict[str, Any] = {"notes": [[n.onset, n.offset, n.freq_hz, n.cents_dev] for n in notes]}
    if any(n.velocity != DEFAULT_VELOCITY for n in notes):
        obj["velocity"] = [n.velocity for n in notes]
    if any(n.ornament is not None for n in notes):
        obj["ornaments"] = [n.ornament for n in notes]
    for k, v in (meta or {}).items():
        if k not in _RESERVED:
            obj[k] = v
    return obj


def _dumps(obj: dict) -> str:
    """JSON text with one list element per line for the per-note lists (diff-friendly)."""
    parts = []
    for k, v in obj.items():
        key = json.dumps(k)
        if k in _RESERVED:
            body = ",\n    ".join(json.dumps(x, allow_nan=False) for x in v)
            parts.append(f"  {key}: [\n    {body}\n  ]")
        else:
            parts.append(f"  {key}: {json.dumps(v, allow_nan=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_notes(path: str | Path, notes: list[Note], meta: dict | None = None) -> Path:
    """Write a note JSON file atomically (temporary file in the same folder, then rename).

    Args:
        path: destination ``.json`` file; its folder must exist.
        notes: the notes (validated first).
        meta: extra top-level keys (JSON-serialisable).

    Returns:
        The path written.

    Raises:
        NotesError: invalid notes, meta not serialisable, or the folder missing/unwritable.
    """
    p = Path(path)
    notes = check_notes(list(notes), p)
    try:
        text = _dumps(notes_to_obj(notes, meta))
    except (TypeError, ValueError) as e:
        raise NotesError(f"cannot write as JSON: {e}", p) from None
    if not p.parent.is_dir():
        raise NotesError(f"folder {p.parent} does not exist", p)
    try:
        runtime.atomic_write(p, text)
    except OSError as e:
        raise NotesError(f"cannot write: {e.strerror or e}", p) from None
    return p


def read_notes_corrected(path: str | Path) -> tuple[list[Note], dict]:
    """Read a note JSON file's ``notes_corrected`` list (pitches snapped to the nominal scale).

    ``notes_corrected`` has the rows of ``notes`` (``[onset_s, offset_s, freq_hz,
    cents_dev]``) and is validated the same way; ``cents_dev`` is the played pitch minus
    the snapped one. Velocities are taken from ``velocity`` when the two lists are aligned.
    ``freqs``, when present, must be a list of pitches in (0, 20 kHz].

    Args:
        path: the ``.json`` file.

    Returns:
        ``(notes_corrected, meta)``: the corrected notes in file order and the file's meta
        (as :func:`read_notes`, without ``notes_corrected``).

    Raises:
        NotesError: any :func:`read_notes` problem, no ``notes_corrected`` key, or a bad
            ``notes_corrected`` row or ``freqs`` entry (naming the file and the row).
    """
    notes, meta = read_notes(path)
    p = Path(path)
    rows = meta.pop("notes_corrected", None)
    if rows is None:
        raise NotesError('no "notes_corrected" key', p)
    if not isinstance(rows, list) or not rows:
        raise NotesError(f'"notes_corrected" must be a non-empty list of [onset_s, offset_s, freq_hz, '
                         f'cents_dev], not {_json_type(rows)}', p)
    out = []
    for i, row in enumerate(rows):
        onset, offset, f, dev = _row(row, i, p, key="notes_corrected")
        vel = notes[i].velocity if len(rows) == len(notes) else DEFAULT_VELOCITY
        note = Note(onset, offset, f, dev, vel)
        check_note(note, i, p, key="notes_corrected")
        out.append(note)
    freqs = meta.get("freqs")
    if freqs is not None:
        if not isinstance(freqs, list):
            raise NotesError(f'"freqs" must be a list of frequencies in Hz, not {_json_type(freqs)}', p)
        for i, f in enumerate(freqs):
            if not _finite(f) or not 0 < f <= MAX_FREQ_HZ:
                raise NotesError(f"freqs[{i}] is {_show(f)}, not a frequency in (0, {MAX_FREQ_HZ:.0f}] Hz", p)
    return out, meta
