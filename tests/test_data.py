"""Loaders: audio folders with labels, note JSON, MIDI round trips, Bach chorales."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from maqamgen import data as D, maqam as mq
from maqamgen.errors import AudioError, ConfigError, MaqamgenError, NotesError
from maqamgen.notes import Note, read_notes_corrected, write_notes

SR = 8000


def _tone(seconds=0.25, f=220.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "recordings"
    (root / "sub" / "deeper").mkdir(parents=True)
    sf.write(root / "a.wav", _tone(), SR)
    sf.write(root / "sub" / "b.flac", _tone(f=330.0), SR)
    sf.write(root / "sub" / "deeper" / "c.ogg", _tone(f=440.0), SR)
    (root / "notes.txt").write_text("not audio")
    (root / ".hidden.wav").write_bytes(b"")
    return root


def _csv(root, text, name="labels.csv"):
    p = root / name
    p.write_text(text)
    return p


def test_audio_folder_recursive_with_labels(folder):
    labels = _csv(folder, "file,maqam,tonic_hz\na.wav,Hijaz,146.83\nsub/b.flac,rast,\n")
    ds = D.AudioFolder(folder, labels, sr=16000)
    assert len(ds) == 3
    assert [p.name for p in ds.files] == ["a.wav", "b.flac", "c.ogg"]
    item = ds[0]
    assert item["maqam"] == "hijaz" and item["tonic_hz"] == 146.83 and item["sr"] == 16000
    assert item["audio"].dtype.is_floating_point and tuple(item["audio"].shape) == (4000,)
    assert ds[1]["maqam"] == "rast" and ds[1]["tonic_hz"] is None
    assert ds[2]["maqam"] is None and ds[2]["path"].endswith("c.ogg")


@pytest.mark.parametrize("text, match", [
    ("a.wav,hijaz,146.83\n", "line 1: the header must be file,maqam,tonic_hz"),
    ("file,maqam,tonic_hz\na.wav,hijazkar,146.83\n", "line 2: unknown maqam 'hijazkar'"),
    ("file,maqam,tonic_hz\na.wav,hijaz,146\nmissing.wav,rast,130\n", "line 3: audio file 'missing.wav' not found"),
    ("file,maqam,tonic_hz\na.wav,hijaz,-3\n", "line 2: tonic_hz '-3'"),
    ("file,maqam,tonic_hz\na.wav,hijaz,abc\n", "line 2: tonic_hz 'abc'"),
    ("file,maqam,tonic_hz\na.wav\n", "line 2: expected 3 columns"),
    ("file,maqam,tonic_hz\na.wav,hijaz,1\na.wav,rast,2\n", "line 3: 'a.wav' is listed twice"),
])
def test_bad_labels_csv_names_file_and_row(folder, text, match):
    labels = _csv(folder, text)
    with pytest.raises(ConfigError, match=match) as e:
        D.AudioFolder(folder, labels)
    assert str(labels) in str(e.value)


def test_unreadable_audio_names_the_file(folder):
    (folder / "sub" / "broken.wav").write_bytes(b"RIFF....WAVEjunk" * 4)
    ds = D.AudioFolder(folder)
    i = [p.name for p in ds.files].index("broken.wav")
    with pytest.raises(AudioError) as e:
        ds[i]
    assert "broken.wav" in str(e.value)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(AudioError, match="no audio files"):
        D.AudioFolder(tmp_path)
    with pytest.raises(AudioError, match="no such folder"):
        D.AudioFolder(tmp_path / "absent")
    with pytest.raises(ConfigError, match="labels CSV not found"):
        D.read_labels(tmp_path / "absent.csv")


# ----------------------------------------------------------------------------- note JSON


def test_notes_corrected_and_note_dataset(tmp_path):
    notes = [Note(0.0, 0.5, 148.0, 14.0, 0.7), Note(0.4, 1.0, 160.0, -3.0, 0.9)]
    meta = {"maqam": "hijaz", "tonic_hz": 146.83, "freqs": [146.83, 155.56],
            "notes_corrected": [[0.0, 0.5, 146.83, 13.7], [0.4, 1.0, 155.56, 48.6]]}
    p = write_notes(tmp_path / "x.json", notes, meta)
    corrected, m = read_notes_corrected(p)
    assert [n.freq_hz for n in corrected] == [146.83, 155.56] and corrected[1].velocity == 0.9
    assert "notes_corrected" not in m and m["freqs"] == [146.83, 155.56]
    ds = D.NoteFiles(tmp_path, corrected=True)
    item = ds[0]
    assert tuple(item["notes"].shape) == (2, 5) and item["maqam"] == "hijaz"
    assert float(item["notes"][1, 2]) == pytest.approx(155.56)


@pytest.mark.parametrize("bad, match", [
    ({}, 'no "notes_corrected" key'),
    ({"notes_corrected": [[0.0, 0.5, 146.83, 0.0], [0.4, 0.3, 150.0, 0.0]]}, r"notes_corrected\[1\]: offset"),
    ({"notes_corrected": [[0.0, 0.5, "x", 0.0]]}, r"notes_corrected\[0\]\[2\]"),
    ({"notes_corrected": [[0.0, 0.5, 146.83]]}, r"notes_corrected\[0\]: expected"),
    ({"notes_corrected": [[0.0, 0.5, 146.83, 0]], "freqs": [146.83, -1]}, r"freqs\[1\]"),
])
def test_bad_notes_corrected(tmp_path, bad, match):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"notes": [[0.0, 0.5, 148.0, 0.0], [0.4, 1.0, 160.0, 0.0]], **bad}))
    with pytest.raises(NotesError, match=match) as e:
        read_notes_corrected(p)
    assert str(p) in str(e.value)


def test_read_note_folder_errors(tmp_path):
    with pytest.raises(NotesError, match="no note files"):
        D.read_note_folder(tmp_path)
    (tmp_path / "broken.json").write_text('{"notes": [[0, 1, 220, 0], [1, 0.5, 220, 0]]}')
    with pytest.raises(NotesError, match=r"broken.json: notes\[1\]"):
        D.read_note_folder(tmp_path)


# ----------------------------------------------------------------------------- MIDI


def _microtonal_notes():
    tonic = 146.83
    cents = [0.0, 142.0, 300.0, 500.0, 700.0, 1000.0, 362.0, -1200.0]
    notes = [Note(round(0.3 * i, 3), round(0.3 * i + 0.45, 3), float(mq.hz(c, tonic)), 0.0, 0.5 + 0.05 * i)
             for i, c in enumerate(cents)]
    notes.append(Note(0.0, 2.4, float(mq.hz(-1200.0 + 15.0, tonic)), 0.0, 0.6))  # overlapping bass drone
    return notes


def test_midi_round_trip_within_one_cent(tmp_path):
    notes = _microtonal_notes()
    p = D.write_midi(tmp_path / "x.mid", notes)
    back = D.read_midi(p)
    assert len(back) == len(notes)
    key = lambda n: (round(n.onset, 2), n.freq_hz)  # noqa: E731
    for a, b in zip(sorted(notes, key=key), sorted(back, key=key)):
        assert abs(mq.cents(b.freq_hz, a.freq_hz)) < 1.0
        assert b.onset == pytest.approx(a.onset, abs=1e-3) and b.offset == pytest.approx(a.offset, abs=1e-3)
        assert b.velocity == pytest.approx(a.velocity, abs=1 / 127)


def test_midi_tempo_changes_and_bend_range(tmp_path):
    import mido

    tr = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=500000, time=0),  # 120 bpm: a beat is 0.5 s
        mido.Message("pitchwheel", channel=0, pitch=4096, time=0),  # +half range
        mido.Message("note_on", note=60, velocity=100, time=0),
        mido.Message("note_off", note=60, velocity=0, time=480),
        mido.MetaMessage("set_tempo", tempo=1000000, time=0),  # 60 bpm: a beat is 1 s
        mido.Message("note_on", note=62, velocity=64, time=0, channel=1),
        mido.Message("note_on", note=62, velocity=0, time=480, channel=1),  # velocity-0 note-off
        mido.Message("note_on", note=64, velocity=64, time=0, channel=9),  # drums: skipped
        mido.Message("note_off", note=64, velocity=0, time=10, channel=9),
    ])
    p = tmp_path / "t.mid"
    mido.MidiFile(ticks_per_beat=480, tracks=[tr]).save(p)
    notes = D.read_midi(p)
    assert [(n.onset, n.offset) for n in notes] == [(0.0, 0.5), (0.5, 1.5)]
    assert mq.cents(notes[0].freq_hz, mq.note_hz("C4")) == pytest.approx(100.0)  # half of +-2 semitones
    assert mq.cents(D.read_midi(p, bend_range_semitones=12)[0].freq_hz, mq.note_hz("C4")) == pytest.approx(600.0)
    assert len(D.read_midi(p, skip_drums=False)) == 3


@pytest.mark.parametrize("content", [b"", b"hello, not a midi file", b"MThd\x00\x00\x00\x06\x00\x01"])
def test_malformed_midi_names_the_file(tmp_path, content):
    p = tmp_path / "bad.mid"
    p.write_bytes(content)
    with pytest.raises(NotesError) as e:
        D.read_midi(p)
    assert str(p) in str(e.value) and isinstance(e.value, MaqamgenError)


def test_midi_without_notes_and_missing(tmp_path):
    import mido

    p = tmp_path / "empty.mid"
    mido.MidiFile(tracks=[mido.MidiTrack([mido.MetaMessage("end_of_track")])]).save(p)
    with pytest.raises(NotesError, match="no notes"):
        D.read_midi(p)
    with pytest.raises(NotesError, match="no such file"):
        D.read_midi(tmp_path / "absent.mid")


def test_write_midi_rejects_too_many_voices(tmp_path):
    chord = [Note(0.0, 1.0, 110.0 * 2 ** (k / 24), 0.0) for k in range(16)]
    with pytest.raises(NotesError, match="more than 15 notes"):
        D.write_midi(tmp_path / "x.mid", chord)


# ----------------------------------------------------------------------------- Bach


def test_bach_chorales_offline_and_cached():
    got = D.bach_chorales(2)
    assert len(got) == 2 and got[0][0].startswith("bach/")
    name, notes = got[0]
    assert len(notes) > 10 and all(n.offset > n.onset for n in notes)
    midi = D.hz_to_midi([n.freq_hz for n in notes])
    np.testing.assert_allclose(midi, np.round(midi), atol=1e-9)  # 12-TET
    assert 55 <= midi.min() and midi.max() <= 84  # a soprano line
    assert D.bach_chorales(2, bpm=40.0)[0][1][-1].offset == pytest.approx(2 * notes[-1].offset)
    with pytest.raises(ConfigError, match="part"):
        D.bach_chorales(2, part="bass")
