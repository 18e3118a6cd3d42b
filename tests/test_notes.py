"""The note JSON format: every malformed case raises NotesError naming the file and the row."""

from __future__ import annotations

import json
import os

import pytest

from maqamgen.errors import MaqamgenError, NotesError
from maqamgen.notes import Note, check_notes, parse_notes, read_notes, write_notes

GOOD_ROWS = [[0.0, 0.2, 146.83, 0.0], [0.15, 0.4, 155.56, -3.5], [0.4, 0.9, 185.0, 2.0]]


def _write(tmp_path, obj, name="notes.json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def _error(tmp_path, obj, name="notes.json") -> str:
    p = _write(tmp_path, obj, name)
    with pytest.raises(NotesError) as e:
        read_notes(p)
    msg = str(e.value)
    assert str(p) in msg, msg
    assert isinstance(e.value, MaqamgenError)
    return msg


def test_read_good_file_keeps_extra_keys(tmp_path):
    obj = {"notes": GOOD_ROWS, "maqam": "hijaz", "tonic_hz": 146.83, "notes_corrected": [[1, 2]]}
    notes, meta = read_notes(_write(tmp_path, obj))
    assert len(notes) == 3
    assert notes[1] == Note(0.15, 0.4, 155.56, -3.5, 0.8, None)
    assert meta == {"maqam": "hijaz", "tonic_hz": 146.83, "notes_corrected": [[1, 2]]}


def test_integer_numbers_are_accepted(tmp_path):
    notes, _ = read_notes(_write(tmp_path, {"notes": [[0, 1, 220, 0]]}))
    assert notes[0].offset == 1.0 and isinstance(notes[0].freq_hz, float)


def test_velocity_and_ornament_defaults(tmp_path):
    obj = {"notes": GOOD_ROWS, "velocity": [0.5, 1, 0.25],
           "ornaments": [None, {"type": "vibrato"}, {"type": "slide", "from_hz": 150.0}]}
    notes, meta = read_notes(_write(tmp_path, obj))
    assert [n.velocity for n in notes] == [0.5, 1.0, 0.25]
    assert notes[1].ornament == {"type": "vibrato", "rate_hz": 5.5, "depth_cents": 30.0}
    assert notes[2].ornament == {"type": "slide", "from_hz": 150.0, "time_s": 0.08}
    assert "velocity" not in meta and "ornaments" not in meta


def test_missing_file(tmp_path):
    with pytest.raises(NotesError, match="no such file") as e:
        read_notes(tmp_path / "absent.json")
    assert "absent.json" in str(e.value)


def test_directory(tmp_path):
    with pytest.raises(NotesError, match="directory"):
        read_notes(tmp_path)


def test_not_json_says_line_and_column(tmp_path):
    msg = _error(tmp_path, '{"notes": [\n  [0, 1, 220, 0]\n  [1, 2, 230, 0]\n]}')
    assert "not valid JSON" in msg and "line 3, column 3" in msg


def test_empty_file(tmp_path):
    assert "line 1, column 1" in _error(tmp_path, "")


def test_not_utf8(tmp_path):
    p = tmp_path / "bin.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(NotesError, match="UTF-8") as e:
        read_notes(p)
    assert str(p) in str(e.value)


def test_top_level_not_object(tmp_path):
    assert "top level must be a JSON object" in _error(tmp_path, GOOD_ROWS)


def test_no_notes_key(tmp_path):
    assert 'no "notes" key' in _error(tmp_path, {"freqs": [1, 2]})


def test_notes_not_a_list(tmp_path):
    assert '"notes" must be a list' in _error(tmp_path, {"notes": {"a": 1}})


def test_empty_notes(tmp_path):
    assert "no notes" in _error(tmp_path, {"notes": []})


@pytest.mark.parametrize("row, what", [
    (5, "got int"),
    ([0.0, 1.0, 220.0], "got a list of 3"),
    ([0.0, 1.0, 220.0, 0.0, 9.0], "got a list of 5"),
    ([0.0, "1.0", 220.0, 0.0], "notes[1][1] is '1.0', not a number"),
    ([0.0, 1.0, True, 0.0], "notes[1][2] is True, not a number"),
    ([0.0, 1.0, None, 0.0], "not a number"),
])
def test_row_not_four_numbers(tmp_path, row, what):
    msg = _error(tmp_path, {"notes": [GOOD_ROWS[0], row]})
    assert "notes[1]" in msg and what in msg, msg


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_number(tmp_path, token):
    text = '{"notes": [[0, 1, 220, 0], [1, 2, %s, 0]]}' % token
    msg = _error(tmp_path, text)
    assert "notes[1]" in msg and "not a finite number" in msg


@pytest.mark.parametrize("row, what", [
    ([1.0, 1.0, 220.0, 0.0], "offset 1.0 s is not after onset 1.0 s"),
    ([1.0, 0.5, 220.0, 0.0], "is not after onset"),
    ([-0.1, 0.5, 220.0, 0.0], "onset -0.1 s is negative"),
    ([0.0, 0.5, 0.0, 0.0], "freq_hz 0.0 is not in (0, 20000] Hz"),
    ([0.0, 0.5, -220.0, 0.0], "freq_hz -220.0"),
    ([0.0, 0.5, 20000.5, 0.0], "freq_hz 20000.5"),
])
def test_bad_values(tmp_path, row, what):
    msg = _error(tmp_path, {"notes": [GOOD_ROWS[0], GOOD_ROWS[1], row]})
    assert "notes[2]" in msg and what in msg, msg


def test_velocity_wrong_length(tmp_path):
    msg = _error(tmp_path, {"notes": GOOD_ROWS, "velocity": [0.5, 0.5]})
    assert '"velocity" has 2 entries but "notes" has 3' in msg


def test_velocity_not_a_list(tmp_path):
    assert '"velocity" must be a list' in _error(tmp_path, {"notes": GOOD_ROWS, "velocity": 0.5})


@pytest.mark.parametrize("v", [0, 1.5, -0.2, "loud"])
def test_velocity_out_of_range(tmp_path, v):
    msg = _error(tmp_path, {"notes": GOOD_ROWS, "velocity": [0.5, v, 0.5]})
    assert "velocity[1]" in msg and "notes[1]" in msg and "(0, 1]" in msg


def test_ornaments_wrong_length(tmp_path):
    msg = _error(tmp_path, {"notes": GOOD_ROWS, "ornaments": [None]})
    assert '"ornaments" has 1 entries but "notes" has 3' in msg


@pytest.mark.parametrize("orn, what", [
    ({"type": "wobble"}, "unknown ornament type 'wobble' (known: slide, tremolo, trill, vibrato)"),
    ({"rate_hz": 5}, "unknown ornament type None"),
    ("vibrato", "must be null or an object"),
    ({"type": "vibrato", "rate": 5}, "unknown key 'rate' for a vibrato"),
    ({"type": "slide"}, "a slide needs 'from_hz'"),
    ({"type": "slide", "from_hz": -5}, "from_hz=-5 is outside"),
    ({"type": "trill", "rate_hz": "fast"}, "rate_hz is 'fast', not a finite number"),
    ({"type": "tremolo", "rate_hz": 0}, "rate_hz=0 is outside"),
])
def test_bad_ornaments(tmp_path, orn, what):
    msg = _error(tmp_path, {"notes": GOOD_ROWS, "ornaments": [None, None, orn]})
    assert "ornaments[2]" in msg and "notes[2]" in msg and what in msg, msg


def test_parse_notes_names_memory():
    with pytest.raises(NotesError, match="^<memory>: no notes"):
        parse_notes({"notes": []})


def test_check_notes_on_constructed_notes():
    with pytest.raises(NotesError, match=r"notes\[1\]: offset"):
        check_notes([Note(0, 1, 220), Note(2, 1, 220)])
    with pytest.raises(NotesError, match=r"notes\[0\]: velocity"):
        check_notes([Note(0, 1, 220, velocity=0.0)])
    with pytest.raises(NotesError, match=r"notes\[0\]\.ornament: unknown ornament type"):
        check_notes([Note(0, 1, 220, ornament={"type": "bend"})])


def test_round_trip_is_exact(tmp_path):
    notes = [Note(0.0, 0.123456789, 146.83, 1.5, 0.8, None),
             Note(0.1, 0.5, 155.5609661, -3.25, 0.61, {"type": "trill", "interval_cents": 150.0, "rate_hz": 6.0}),
             Note(0.4, 1.7, 184.9942, 0.0, 1.0, {"type": "vibrato", "rate_hz": 5.5, "depth_cents": 30.0})]
    meta = {"maqam": "hijaz", "tonic_hz": 146.83, "notes": "ignored"}
    p = write_notes(tmp_path / "out.json", notes, meta)
    back, meta2 = read_notes(p)
    assert back == notes
    assert [n.ornament for n in back] == [n.ornament for n in notes]
    assert meta2 == {"maqam": "hijaz", "tonic_hz": 146.83}
    assert os.listdir(tmp_path) == ["out.json"]  # no temporary file left behind


def test_write_without_velocity_or_ornaments_writes_only_notes(tmp_path):
    p = write_notes(tmp_path / "plain.json", [Note(0, 1, 220)])
    assert set(json.loads(p.read_text())) == {"notes"}


def test_write_refuses_invalid_notes_and_missing_folder(tmp_path):
    with pytest.raises(NotesError, match="no notes"):
        write_notes(tmp_path / "x.json", [])
    with pytest.raises(NotesError, match="does not exist"):
        write_notes(tmp_path / "nope" / "x.json", [Note(0, 1, 220)])
    with pytest.raises(NotesError, match="cannot write as JSON"):
        write_notes(tmp_path / "x.json", [Note(0, 1, 220)], {"bad": object()})
    assert not list(tmp_path.iterdir())


def test_write_replaces_existing_file(tmp_path):
    p = tmp_path / "n.json"
    p.write_text("old")
    write_notes(p, [Note(0, 1, 220)])
    assert read_notes(p)[0] == [Note(0.0, 1.0, 220.0)]
