"""The `maqamgen` command end to end, in a subprocess: real exit codes, no tracebacks."""

import subprocess
import sys

import pytest
import soundfile as sf

from maqamgen import notes as notes_io
from maqamgen import synth


def run(*args):
    return subprocess.run([sys.executable, "-m", "maqamgen.cli", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_synth_renders_a_nine_minute_2800_note_performance_in_one_call(tmp_path):
    notes, meta = synth.performance(540, 2800, seed=3)
    src = notes_io.write_notes(tmp_path / "taqsim.json", notes, meta)
    out = tmp_path / "taqsim.wav"
    proc = run("synth", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    info = sf.info(out)
    assert info.samplerate == 22050 and 530 < info.duration < 545
    assert "2800 notes" in proc.stdout


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    ("", "not valid JSON"),
    ('{"notes": [[0, 1, "high", 0]]}', "notes[0]"),
    ('{"notes": []}', "no notes"),
])
def test_bad_notes_exit_2_with_one_line(tmp_path, content, problem):
    src = tmp_path / "in.json"
    if content is not None:
        src.write_text(content)
    proc = run("synth", str(src), "-o", str(tmp_path / "out.wav"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maqamgen: error: ") and str(src) in lines[0]
    assert problem in lines[0]
    assert not (tmp_path / "out.wav").exists()


def test_existing_output_survives_a_failed_render(tmp_path):
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    src = tmp_path / "bad.json"
    src.write_text('{"notes": [[1, 0.5, 220, 0]]}')
    assert run("synth", str(src), "-o", str(out)).returncode == 2
    assert out.read_bytes() == b"precious"


def test_unknown_profile_one_line():
    proc = run("book", "--profile", "huge", "--no-html")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "maqamgen: error: unknown profile 'huge'; known profiles: smoke, book, full"
