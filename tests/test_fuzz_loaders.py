"""Fuzzed loaders (issue 10, item 4): the note-JSON reader, the MIDI reader, the labels CSV and the
audio loader, fed random bytes, truncated headers, NaN/inf, huge or negative times, wrong types,
empty lists and very long files. Each either loads or raises the library's typed error (a
:class:`maqamgen.errors.MaqamgenError`): never another exception, a hang or a crash.

Hypothesis runs derandomized (the same examples on every run, no example database) with the
example counts of :data:`EXAMPLES`; each example must finish within :data:`LIMIT_S` seconds.
``pytest -s tests/test_fuzz_loaders.py`` prints how many examples each test ran;
``MAQAMGEN_FUZZ_SCALE=20`` multiplies the counts for a deeper search.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from maqamgen import audio, data
from maqamgen import maqam as mq
from maqamgen import notes as notes_io
from maqamgen.errors import MaqamgenError

EXAMPLES = {"notes_json": 300, "notes_bytes": 150, "midi_bytes": 150, "midi_events": 250,
            "midi_mutated": 150, "labels": 250, "audio_bytes": 100, "audio_wav": 200,
            "audio_mutated": 120}
"""Hypothesis examples per test (the counts the report quotes)."""

LIMIT_S = 10.0
"""Longest one example may take (a hang is a failure)."""

SEEN: Counter = Counter()


SCALE = float(os.environ.get("MAQAMGEN_FUZZ_SCALE", "1"))
"""Multiplies every example count (e.g. 20 for a deeper search; still derandomized)."""


def fuzz(name: str):
    return settings(max_examples=max(1, int(EXAMPLES[name] * SCALE)), derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print("\nhypothesis examples run: " + ", ".join(f"{k} {v}" for k, v in sorted(SEEN.items())))


@contextlib.contextmanager
def time_limit(seconds: float = LIMIT_S):
    def on_alarm(signum, frame):
        raise TimeoutError(f"a loader took more than {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def loads_or_typed_error(name: str, fn, *args, **kwargs):
    """Call a loader: it returns, or raises a MaqamgenError whose message names something on one line."""
    with time_limit():
        try:
            return fn(*args, **kwargs)
        except MaqamgenError as e:
            msg = str(e)
            assert msg and "\n" not in msg.strip(), msg
            return None


# ----------------------------------------------------------------------------- strategies

NUMBERS = st.one_of(
    st.integers(min_value=-10, max_value=2000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=600),
    st.sampled_from([0, -0.0, -1, 1e308, -1e308, 5e-324, 10 ** 30, -(10 ** 30), 10 ** 400, 2 ** 63]),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)
ROW = st.one_of(st.lists(NUMBERS, min_size=4, max_size=4), st.lists(NUMBERS, max_size=6), JSON)
ORNAMENT = st.one_of(
    st.none(), JSON,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["vibrato", "trill", "tremolo", "slide", "glissando", "", None])},
        optional={"rate_hz": NUMBERS, "depth_cents": NUMBERS, "interval_cents": NUMBERS,
                  "from_hz": NUMBERS, "time_s": NUMBERS, "extra": JSON}))
NOTE_OBJ = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"notes": st.one_of(st.lists(ROW, max_size=12), JSON)},
        optional={"velocity": st.one_of(st.lists(NUMBERS | JSON, max_size=12), JSON),
                  "ornaments": st.one_of(st.lists(ORNAMENT, max_size=12), JSON),
                  "notes_corrected": st.one_of(st.lists(ROW, max_size=12), JSON),
                  "freqs": st.one_of(st.lists(NUMBERS | JSON, max_size=12), JSON),
                  "maqam": JSON, "tonic_hz": JSON}))


def _json_text(obj) -> str:
    return json.dumps(obj, allow_nan=True, default=str)


# ----------------------------------------------------------------------------- note JSON


@fuzz("notes_json")
@given(obj=NOTE_OBJ, cut=st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
       bom=st.booleans())
def test_note_json_reader(tmp_path, obj, cut, bom):
    SEEN["notes_json"] += 1
    text = _json_text(obj)
    if cut is not None:
        text = text[:cut]
    path = tmp_path / "notes.json"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))
    got = loads_or_typed_error("notes_json", notes_io.read_notes, path)
    if got is not None:
        notes, meta = got
        assert notes and all(math.isfinite(n.onset) and n.offset > n.onset >= 0 for n in notes)
        assert all(0 < n.freq_hz <= notes_io.MAX_FREQ_HZ and 0 < n.velocity <= 1 for n in notes)
    loads_or_typed_error("notes_json", notes_io.read_notes_corrected, path)
    loads_or_typed_error("notes_json", data.NoteFiles, path, corrected=bool(cut))


@fuzz("notes_bytes")
@given(blob=st.one_of(st.binary(max_size=3000),
                      st.binary(max_size=200).map(lambda b: b'{"notes": [[0, 1, 220, 0], ' + b)))
def test_note_json_reader_random_bytes(tmp_path, blob):
    SEEN["notes_bytes"] += 1
    path = tmp_path / "notes.json"
    path.write_bytes(blob)
    loads_or_typed_error("notes_bytes", notes_io.read_notes, path)
    loads_or_typed_error("notes_bytes", data.read_note_folder, tmp_path)


@pytest.mark.parametrize("text, problem", [
    ("[" * 200_000, "nested too deeply"),
    ('{"notes": [[0, 1, ' + "9" * 5000 + ', 0]]}', "notes[0]"),
    ('{"notes": [[0, ' + "9" * 400 + ', 220, 0]]}', "notes[0]"),
    ('{"notes": [[0, 1, 220, 0]], "velocity": [' + "1" * 400 + "]}", "velocity[0]"),
    ('{"notes": [[-1e400, 1, 220, 0]]}', "not a finite number"),
    ('{"notes": [[0, 1e400, 220, 0]]}', "not a finite number"),
    ('{"notes": [[0, NaN, 220, 0]]}', "not a finite number"),
    ('{"notes": [[0, 1, 220, 0]], "ornaments": [{"type": "vibrato", "rate_hz": ' + "7" * 400 + "}]}",
     "ornaments[0]"),
])
def test_note_json_edge_cases(tmp_path, text, problem):
    path = tmp_path / "edge.json"
    path.write_text(text)
    with time_limit(), pytest.raises(MaqamgenError, match=None) as ei:
        notes_io.read_notes(path)
    assert problem in str(ei.value) and str(path) in str(ei.value)


def test_note_json_very_long_file(tmp_path):
    rng = np.random.default_rng(0)
    on = np.cumsum(rng.uniform(0.01, 0.3, 200_000))
    rows = [[float(a), float(a) + 0.2, float(f), 0.0] for a, f in zip(on, rng.uniform(50, 2000, len(on)))]
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"notes": rows}))
    with time_limit(60):
        notes, _ = notes_io.read_notes(path)
    assert len(notes) == 200_000
    path.write_text(json.dumps({"notes": rows[:-1] + [[0, 1, -5, 0]]}))
    with pytest.raises(MaqamgenError, match=r"notes\[199999\]"):
        notes_io.read_notes(path)


# ----------------------------------------------------------------------------- MIDI


def _varlen(n: int) -> bytes:
    n &= 0x0FFFFFFF
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


EVENT = st.one_of(
    st.tuples(st.sampled_from([0x80, 0x90]), st.integers(0, 15), st.integers(0, 127), st.integers(0, 127))
    .map(lambda t: bytes([t[0] | t[1], t[2], t[3]])),
    st.tuples(st.integers(0, 15), st.integers(0, 127), st.integers(0, 127))
    .map(lambda t: bytes([0xE0 | t[0], t[1], t[2]])),  # pitch wheel
    st.binary(min_size=3, max_size=3).map(lambda b: b"\xff\x51\x03" + b),  # tempo, 0 included
    st.binary(min_size=1, max_size=8).map(lambda b: b"\xff" + b),  # any meta, length byte included
    st.binary(min_size=0, max_size=6).map(lambda b: b"\xf0" + _varlen(len(b)) + b),  # sysex
    st.binary(min_size=1, max_size=4),  # running status / garbage
)
DELTA = st.one_of(st.integers(0, 500), st.sampled_from([0, 0x0FFFFFFF, 0x7F, 0x80, 0x3FFF]))


@st.composite
def midi_files(draw):
    fmt = draw(st.sampled_from([0, 1, 2, 7]))
    division = draw(st.one_of(st.integers(0, 0x7FFF), st.just(0), st.integers(0x8000, 0xFFFF)))
    tracks = draw(st.lists(st.lists(st.tuples(DELTA, EVENT), max_size=30), min_size=0, max_size=3))
    ntracks = draw(st.one_of(st.just(len(tracks)), st.integers(0, 5)))
    out = b"MThd" + struct.pack(">IHHH", 6, fmt, ntracks, division)
    for events in tracks:
        body = b"".join(_varlen(d) + e for d, e in events)
        if draw(st.booleans()):
            body += b"\x00\xff\x2f\x00"
        length = draw(st.one_of(st.just(len(body)), st.integers(0, 2 ** 32 - 1)))
        out += b"MTrk" + struct.pack(">I", length) + body
    return out


@fuzz("midi_bytes")
@given(blob=st.one_of(st.binary(max_size=2000),
                      st.binary(max_size=300).map(lambda b: b"MThd\x00\x00\x00\x06" + b)))
def test_midi_reader_random_bytes(tmp_path, blob):
    SEEN["midi_bytes"] += 1
    path = tmp_path / "f.mid"
    path.write_bytes(blob)
    loads_or_typed_error("midi_bytes", data.read_midi, path)


@fuzz("midi_events")
@given(blob=midi_files(), cut=st.one_of(st.none(), st.integers(0, 400)))
def test_midi_reader_fuzzed_events(tmp_path, blob, cut):
    SEEN["midi_events"] += 1
    path = tmp_path / "f.mid"
    path.write_bytes(blob if cut is None else blob[:cut])
    got = loads_or_typed_error("midi_events", data.read_midi, path)
    if got is not None:
        assert got and all(math.isfinite(n.onset) and n.offset > n.onset >= 0 for n in got)


@pytest.fixture(scope="module")
def valid_midi_bytes(tmp_path_factory) -> bytes:
    from maqamgen.notes import Note

    notes = [Note(0.25 * i, 0.25 * i + 0.4, 220.0 * 2 ** (i / 24), 0.0, 0.5 + 0.01 * i) for i in range(24)]
    path = data.write_midi(tmp_path_factory.mktemp("midi") / "ok.mid", notes)
    return path.read_bytes()


@fuzz("midi_mutated")
@given(edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10 ** 6)))
def test_midi_reader_mutated_valid_file(tmp_path, valid_midi_bytes, edits, cut):
    SEEN["midi_mutated"] += 1
    blob = bytearray(valid_midi_bytes)
    for pos, value in edits:
        blob[pos % len(blob)] = value
    if cut is not None:
        blob = blob[: cut % (len(blob) + 1)]
    path = tmp_path / "f.mid"
    path.write_bytes(bytes(blob))
    loads_or_typed_error("midi_mutated", data.read_midi, path)


@pytest.mark.parametrize("blob, problem", [
    # found by the fuzzing: a 0 time division divided by zero inside mido
    (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00MTrk\x00\x00\x00\x03\x01\xf0\x00", "0 ticks per beat"),
    # found by the fuzzing: mido's KeySignatureError (not a ValueError) on a bad key signature
    (b"MThd\x00\x00\x00\x06\x00\x00\x00\x02\x00\x60MTrk\x00\x00\x00\x08\x00\x80\x00\x00\x00\xffY\x02"
     b"MTrk\x00\x00\x00\x00", "KeySignatureError"),
    (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\xe7\x28MTrk\x00\x00\x00\x00", "SMPTE"),
])
def test_midi_regressions(tmp_path, blob, problem):
    path = tmp_path / "f.mid"
    path.write_bytes(blob)
    with pytest.raises(MaqamgenError, match=problem):
        data.read_midi(path)


def test_midi_very_long_file(tmp_path):
    from maqamgen.notes import Note

    notes = [Note(0.01 * i, 0.01 * i + 0.005, 220.0, 0.0) for i in range(50_000)]
    path = data.write_midi(tmp_path / "long.mid", notes)
    with time_limit(60):
        assert len(data.read_midi(path)) == 50_000


# ----------------------------------------------------------------------------- labels CSV

MAQAM_NAMES = sorted(mq.MAQAMAT) if hasattr(mq, "MAQAMAT") else ["rast", "hijaz", "bayati", "saba"]
CELL = st.one_of(st.text(max_size=10), st.sampled_from(["", " ", '"', '""', "\x00", "a\nb", "\r", ","]))
FILE = st.one_of(st.sampled_from(["a.wav", "sub/b.wav", "./a.wav", "missing.wav", "", "sub", "..", "/",
                                  "a.wav\x00x", "x" * 5000, "sub/../a.wav"]), CELL)
MAQAM = st.one_of(st.sampled_from(MAQAM_NAMES + [m.upper() for m in MAQAM_NAMES] + ["", "jiharkah?"]), CELL)
TONIC = st.one_of(st.sampled_from(["", "nan", "NaN", "inf", "-inf", "-1", "0", "1e400", "220", "146.83",
                                   " 220 ", "9" * 5000, "0x10", "1_000"]), CELL)


def _csv_text(rows) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


@st.composite
def labels_files(draw):
    kind = draw(st.sampled_from(["rows", "rows", "rows", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=600))
    if kind == "text":
        head = draw(st.sampled_from(["", "file,maqam,tonic_hz\n"]))
        return (head + draw(st.text(max_size=400))).encode("utf-8", "surrogatepass")
    header = draw(st.one_of(st.just(["file", "maqam", "tonic_hz"]), st.just(["FILE", " Maqam", "tonic_hz", "x"]),
                            st.lists(CELL, max_size=4)))
    rows = draw(st.lists(st.one_of(st.tuples(FILE, MAQAM, TONIC).map(list),
                                   st.lists(st.one_of(FILE, MAQAM, TONIC), max_size=5)), max_size=8))
    return _csv_text([header, *rows]).encode("utf-8", "surrogatepass")


@pytest.fixture
def label_root(tmp_path) -> Path:
    (tmp_path / "sub").mkdir()
    for name in ("a.wav", "sub/b.wav"):
        (tmp_path / name).write_bytes(b"RIFF")
    return tmp_path


@fuzz("labels")
@given(blob=labels_files())
def test_labels_csv_reader(label_root, blob):
    SEEN["labels"] += 1
    path = label_root / "labels.csv"
    path.write_bytes(blob)
    got = loads_or_typed_error("labels", data.read_labels, path, label_root)
    if got is not None:
        for f, (name, tonic) in got.items():
            assert f.is_file() and name in MAQAM_NAMES or name
            assert tonic is None or (math.isfinite(tonic) and tonic > 0)


def test_labels_csv_very_long_file(label_root):
    body = "file,maqam,tonic_hz\n" + "".join(f"a.wav,{MAQAM_NAMES[0]},220\n" if i == 0 else "\n"
                                             for i in range(300_000))
    path = label_root / "labels.csv"
    path.write_text(body + "a.wav,rast,\n")
    with time_limit(60), pytest.raises(MaqamgenError, match="line 300002: 'a.wav' is listed twice"):
        data.read_labels(path, label_root)
    path.write_text("file,maqam,tonic_hz\n" + "a.wav,rast," + "1" * 200_000 + "\n")
    with time_limit(60), pytest.raises(MaqamgenError, match="line 2"):
        data.read_labels(path, label_root)


# ----------------------------------------------------------------------------- audio


def wav_bytes(samples: bytes, sr: int, channels: int = 1, bits: int = 16, fmt: int = 1,
              data_len: int | None = None, riff_len: int | None = None, fmt_len: int | None = None) -> bytes:
    """A RIFF/WAVE file with every header field given (lies included)."""
    block = (channels * bits // 8) & 0xFFFF
    fmt_chunk = struct.pack("<HHIIHH", fmt & 0xFFFF, channels & 0xFFFF, sr & 0xFFFFFFFF,
                            (sr * block) & 0xFFFFFFFF, block, bits & 0xFFFF)
    n = len(samples) if data_len is None else data_len
    body = (b"WAVE" + b"fmt " + struct.pack("<I", (len(fmt_chunk) if fmt_len is None else fmt_len) & 0xFFFFFFFF)
            + fmt_chunk + b"data" + struct.pack("<I", n & 0xFFFFFFFF) + samples)
    return b"RIFF" + struct.pack("<I", (len(body) if riff_len is None else riff_len) & 0xFFFFFFFF) + body


SAMPLE_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                          st.floats(-1, 1, width=32), st.sampled_from([0.0, 1e-9, 0.5, -1.0, 1e30]))


@st.composite
def wav_files(draw):
    fmt = draw(st.sampled_from([1, 1, 3, 3, 2, 0, 0xFFFE, 7]))
    bits = draw(st.sampled_from([16, 32, 8, 24, 64, 0, 13]) if fmt == 1 else st.sampled_from([32, 64, 16]))
    channels = draw(st.one_of(st.integers(1, 2), st.sampled_from([0, 3, 255, 1024, 65535])))
    sr = draw(st.one_of(st.sampled_from([22050, 44100, 8000, 48000]),
                        st.sampled_from([0, 1, 7, 999, 999_983, 383_987, 2 ** 31 - 1, 2 ** 32 - 1]),
                        st.integers(1, 2 ** 32 - 1)))
    if fmt == 3 and bits in (32, 64):
        vals = draw(st.lists(SAMPLE_VALUES, max_size=300))
        samples = np.asarray(vals, dtype="<f4" if bits == 32 else "<f8").tobytes()
    else:
        samples = draw(st.binary(max_size=1200))
    lie = lambda: st.one_of(st.none(), st.integers(0, 2 ** 32 - 1))  # noqa: E731
    return wav_bytes(samples, sr, channels, bits, fmt, draw(lie()), draw(lie()),
                     draw(st.one_of(st.none(), st.sampled_from([0, 14, 18, 40, 2 ** 31]))))


def _load_every_way(name: str, path: Path):
    got = loads_or_typed_error(name, audio.load_audio, path)
    if got is not None:
        y, sr = got
        assert y.dtype == np.float32 and y.ndim == 1 and len(y) and np.isfinite(y).all()
        assert audio.MIN_FILE_SR <= sr <= audio.MAX_FILE_SR
    loads_or_typed_error(name, audio.load_audio, path, sr=22050)
    loads_or_typed_error(name, audio.load_audio, path, mono=False, allow_silent=True)


@fuzz("audio_bytes")
@given(blob=st.one_of(st.binary(min_size=1, max_size=3000),
                      st.binary(max_size=400).map(lambda b: b"RIFF\x00\x10\x00\x00WAVEfmt " + b),
                      st.binary(max_size=400).map(lambda b: b"fLaC" + b),
                      st.binary(max_size=400).map(lambda b: b"OggS" + b),
                      st.binary(max_size=400).map(lambda b: b"FORM\x00\x00\x10\x00AIFF" + b)),
       ext=st.sampled_from([".wav", ".flac", ".ogg", ".aiff", ".mp3", ""]))
def test_audio_loader_random_bytes(tmp_path, blob, ext):
    SEEN["audio_bytes"] += 1
    path = tmp_path / f"x{ext}"
    path.write_bytes(blob)
    _load_every_way("audio_bytes", path)


@fuzz("audio_wav")
@given(blob=wav_files(), cut=st.one_of(st.none(), st.integers(0, 100)))
def test_audio_loader_fuzzed_wav_headers(tmp_path, blob, cut):
    SEEN["audio_wav"] += 1
    path = tmp_path / "x.wav"
    path.write_bytes(blob if cut is None else blob[:cut])
    _load_every_way("audio_wav", path)


@pytest.fixture(scope="module")
def valid_audio(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("audio")
    t = np.arange(4410) / 22050
    y = (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    out = {}
    for ext, sub in ((".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS"), (".wav", "FLOAT")):
        sf.write(d / f"ok{ext}", y, 22050, subtype=sub)
        out[f"{ext}:{sub}"] = (d / f"ok{ext}").read_bytes()
    return out


@fuzz("audio_mutated")
@given(which=st.sampled_from([".wav:PCM_16", ".flac:PCM_16", ".ogg:VORBIS", ".wav:FLOAT"]),
       edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), max_size=6),
       head_only=st.booleans(), cut=st.one_of(st.none(), st.integers(0, 10 ** 6)))
def test_audio_loader_mutated_valid_files(tmp_path, valid_audio, which, edits, head_only, cut):
    SEEN["audio_mutated"] += 1
    blob = bytearray(valid_audio[which])
    span = min(len(blob), 64) if head_only else len(blob)
    for pos, value in edits:
        blob[pos % span] = value
    if cut is not None:
        blob = blob[: cut % (len(blob) + 1)]
    assume(len(blob) > 0)
    path = tmp_path / f"x{which.split(':')[0]}"
    path.write_bytes(bytes(blob))
    _load_every_way("audio_mutated", path)


def test_audio_very_long_file(tmp_path):
    sr = 8000
    y = (0.3 * np.sin(2 * np.pi * 200 * np.arange(sr * 1200) / sr)).astype(np.float32)  # 20 minutes
    sf.write(tmp_path / "long.flac", y, sr, subtype="PCM_16")
    with time_limit(60):
        z, r = audio.load_audio(tmp_path / "long.flac")
    assert r == sr and len(z) == len(y)


@pytest.mark.parametrize("sr", [0, 1, 999, 999_983 * 2, 2 ** 31 - 1])
def test_audio_implausible_sample_rates_are_refused(tmp_path, sr):
    x = (np.sin(np.arange(4000) * 0.05) * 10000).astype("<i2").tobytes()
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(x, sr))
    with time_limit(), pytest.raises(MaqamgenError, match=None) as ei:
        audio.load_audio(path, sr=22050)
    assert str(path) in str(ei.value)
