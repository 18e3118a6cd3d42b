"""The oud synthesizer: pitch, ornaments, decay, determinism, files, CLI, speed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

from maqamgen import cli, synth
from maqamgen import maqam as mq
from maqamgen.errors import AudioError, ConfigError, NotesError
from maqamgen.notes import Note, write_notes

SR = 22050


def _peak_hz(y: np.ndarray, sr: int, guess: float) -> float:
    """Frequency of the largest spectral peak within a semitone of ``guess`` (Hz).

    Hann window, 8x zero padding, parabolic interpolation of the log magnitude.
    """
    n = 8 * len(y)
    mag = np.abs(np.fft.rfft(y * np.hanning(len(y)), n))
    f = np.fft.rfftfreq(n, 1 / sr)
    band = np.flatnonzero((f > guess * 2 ** (-1 / 12)) & (f < guess * 2 ** (1 / 12)))
    i = band[np.argmax(mag[band])]
    a, b, c = np.log(mag[i - 1:i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


def _inst_hz(y: np.ndarray, sr: int, fc: float, bw_hz: float = 60.0) -> np.ndarray:
    """Instantaneous frequency (Hz) of the partial near ``fc``, shape (len(y) - 1,).

    Complex demodulation: shift ``fc`` to 0 Hz, low-pass at ``bw_hz`` (zero phase), then
    the derivative of the unwrapped phase.
    """
    z = y * np.exp(-2j * np.pi * fc * np.arange(len(y)) / sr)
    sos = signal.butter(4, bw_hz, fs=sr, output="sos")
    z = signal.sosfiltfilt(sos, z.real) + 1j * signal.sosfiltfilt(sos, z.imag)
    return fc + np.diff(np.unwrap(np.angle(z))) * sr / (2 * np.pi)


def _band_amp(y: np.ndarray, sr: int, f: float) -> float:
    """Magnitude of the Hann-windowed spectrum of ``y`` at the bin nearest ``f``."""
    mag = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(mag[int(round(f * len(y) / sr))])


def test_output_shape_dtype_peak():
    notes, _ = synth.phrase("hijaz", seconds=4.0, seed=1)
    y = synth.render(notes)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) >= int(max(n.offset for n in notes) * SR)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) == pytest.approx(0.9, abs=1e-4)


def test_same_seed_is_bit_identical_other_seed_differs():
    notes, _ = synth.phrase("bayati", seconds=3.0, seed=2)
    a = synth.render(notes, seed=7)
    b = synth.render(notes, seed=7)
    c = synth.render(notes, seed=8)
    assert np.array_equal(a, b)
    assert a.shape == c.shape and not np.array_equal(a, c)


@pytest.mark.parametrize("f0", [65.41, 146.83, 261.63, 523.25])
def test_fundamental_at_requested_pitch(f0):
    y = synth.render([Note(0.0, 1.5, f0)])
    est = _peak_hz(y[:int(1.4 * SR)], SR, f0)
    assert abs(mq.cents(est, f0)) < 5.0


def test_quarter_tone_pitch():
    a3 = 220.0
    note = synth.note_at_cents(0.0, 1.5, 150.0, a3)  # three quarter tones above A3
    assert note.freq_hz == pytest.approx(a3 * 2 ** (150 / 1200))
    assert abs(note.cents_dev) == pytest.approx(50.0)
    y = synth.render([note])
    est = _peak_hz(y[:int(1.4 * SR)], SR, note.freq_hz)
    assert abs(mq.cents(est, note.freq_hz)) < 5.0
    assert abs(mq.cents(est, a3 * 2 ** (100 / 1200))) > 40  # not the 12-TET neighbours
    assert abs(mq.cents(est, a3 * 2 ** (200 / 1200))) > 40


def test_vibrato_modulates_pitch_at_its_rate():
    f0, rate, depth = 220.0, 5.5, 40.0
    y = synth.render([Note(0.0, 2.5, f0, ornament={"type": "vibrato", "rate_hz": rate, "depth_cents": depth})],
                     body=False)
    inst = _inst_hz(y, SR, f0)[int(0.3 * SR):int(2.3 * SR)]  # after the fade-in, before the offset
    dev = mq.cents(np.clip(inst, 1.0, None), f0)
    dev -= dev.mean()
    spec = np.abs(np.fft.rfft(dev * np.hanning(len(dev)), 16 * len(dev)))
    freqs = np.fft.rfftfreq(16 * len(dev), 1 / SR)
    keep = (freqs > 1.0) & (freqs < 30.0)
    assert freqs[keep][np.argmax(spec[keep])] == pytest.approx(rate, abs=0.25)
    swing = np.percentile(dev, 95) - np.percentile(dev, 5)
    assert 1.2 * depth < swing < 2.4 * depth  # +-depth peak deviation
    steady = synth.render([Note(0.0, 2.5, f0)], body=False)
    dev0 = mq.cents(np.clip(_inst_hz(steady, SR, f0)[int(0.3 * SR):int(2.3 * SR)], 1.0, None), f0)
    assert np.percentile(dev0, 95) - np.percentile(dev0, 5) < 3.0


def test_slide_glides_into_the_note():
    y = synth.render([Note(0.0, 1.0, 220.0, ornament={"type": "slide", "from_hz": 196.0, "time_s": 0.15})],
                     body=False)
    inst = _inst_hz(y, SR, 208.0)
    early = np.median(inst[int(0.01 * SR):int(0.03 * SR)])
    late = np.median(inst[int(0.3 * SR):int(0.8 * SR)])
    assert abs(mq.cents(early, 196.0)) < 40
    assert abs(mq.cents(late, 220.0)) < 5


def test_trill_alternates_with_upper_note():
    f0 = 220.0
    y = synth.render([Note(0.0, 2.0, f0, ornament={"type": "trill", "interval_cents": 200.0, "rate_hz": 6.0})],
                     body=False)
    inst = _inst_hz(y, SR, f0 * 2 ** (100 / 1200))[int(0.1 * SR):int(1.9 * SR)]
    c = mq.cents(np.clip(inst, 1.0, None), f0)
    upper = np.mean(np.abs(c - 200) < 40)
    main = np.mean(np.abs(c) < 40)
    assert 0.3 < upper < 0.6 and 0.3 < main < 0.6


def test_tremolo_replucks():
    rate = 12.0
    y = synth.render([Note(0.0, 1.0, 220.0, ornament={"type": "tremolo", "rate_hz": rate})], body=False)
    env = np.abs(signal.hilbert(y))[: SR]
    hop = SR // 200  # 5 ms frames
    frames = env[: len(env) // hop * hop].reshape(-1, hop).max(axis=1)
    peaks, _ = signal.find_peaks(frames, prominence=0.03 * frames.max(), distance=8)
    assert abs(len(peaks) - rate) <= 2


def test_a_note_decays():
    y = synth.render([Note(0.0, 1.0, 196.0)], body=False)
    n = int(0.1 * SR)
    first, last = np.sum(y[:n] ** 2), np.sum(y[SR - n:SR] ** 2)
    assert last < 0.5 * first
    tail = y[int(1.0 * SR) + int(synth.RELEASE_S * SR) - 50:]
    assert np.max(np.abs(tail)) < 0.01 * np.max(np.abs(y))  # damped after the offset


def test_two_overlapping_notes_both_sound():
    a, b = 220.0, 293.66
    y = synth.render([Note(0.0, 1.2, a), Note(0.3, 1.2, b)])
    seg = y[int(0.4 * SR):int(1.1 * SR)]
    for f in (a, b):
        assert abs(mq.cents(_peak_hz(seg, SR, f), f)) < 5.0
    alone = synth.render([Note(0.0, 1.2, a)])[int(0.4 * SR):int(1.1 * SR)]
    assert _band_amp(seg, SR, b) > 10 * _band_amp(alone, SR, b)


def test_high_partials_decay_faster():
    f0 = 110.0
    y = synth.render([Note(0.0, 1.2, f0)], body=False)
    early, late = y[int(0.05 * SR):int(0.25 * SR)], y[int(0.8 * SR):int(1.0 * SR)]
    drop = {k: _band_amp(late, SR, k * f0) / _band_amp(early, SR, k * f0) for k in (1, 2, 5)}
    assert drop[5] < drop[2] < drop[1] < 1.0


def test_louder_is_brighter():
    def centroid(vel):
        y = synth.render([Note(0.0, 0.5, 146.83, velocity=vel)], body=False)[: SR // 4]
        mag = np.abs(np.fft.rfft(y))
        return np.sum(mag * np.fft.rfftfreq(len(y), 1 / SR)) / np.sum(mag)
    assert centroid(1.0) > 1.2 * centroid(0.3)


def test_body_resonance_changes_the_sound():
    dry = synth.render([Note(0.0, 0.5, 146.83)], body=False)
    wet = synth.render([Note(0.0, 0.5, 146.83)], body=True)
    assert len(wet) == len(dry) + len(synth.body_ir(SR)) - 1
    assert not np.allclose(wet[: len(dry)], dry, atol=0.05)
    ir = synth.body_ir(SR)
    mag = np.abs(np.fft.rfft(ir, 1 << 15))
    f = np.fft.rfftfreq(1 << 15, 1 / SR)
    low = (f > 80) & (f < 160)
    assert 100 < f[low][np.argmax(mag[low])] < 135  # the Helmholtz air mode


def test_other_sample_rates():
    for sr in (16000, 44100):
        y = synth.render([Note(0.0, 1.0, 196.0)], sr=sr)
        assert abs(mq.cents(_peak_hz(y[: int(0.9 * sr)], sr, 196.0), 196.0)) < 5.0
        assert len(y) > sr


def test_errors():
    with pytest.raises(AudioError, match="Nyquist"):
        synth.render([Note(0.0, 1.0, 12000.0)], sr=22050)
    with pytest.raises(AudioError, match="sample rate"):
        synth.render([Note(0.0, 1.0, 220.0)], sr=100)
    with pytest.raises(NotesError, match=r"notes\[0\]"):
        synth.render([Note(1.0, 0.5, 220.0)])
    assert synth.render([]).shape == (0,)


def test_tuning_and_range():
    assert synth.OUD_TUNING_HZ == pytest.approx((65.41, 87.31, 110.0, 146.83, 196.0, 261.63))
    assert synth.OUD_RANGE_HZ[0] == synth.OUD_TUNING_HZ[0]
    assert synth.OUD_RANGE_HZ[1] == pytest.approx(4 * 261.63)


def test_phrase_is_in_the_maqam_and_ends_on_the_tonic():
    for name in ("hijaz", "rast", "saba"):
        notes, meta = synth.phrase(name, seconds=8.0, seed=3)
        m = mq.get_maqam(name)
        assert meta["maqam"] == name and meta["tonic_hz"] == m.tonic_hz
        rel = np.mod(np.round(mq.cents([n.freq_hz for n in notes], m.tonic_hz), 1), 1200.0)
        assert set(rel) <= set(m.degrees_cents)
        assert notes[-1].freq_hz == pytest.approx(m.tonic_hz, rel=1e-4)
        assert notes[-1].duration == max(n.duration for n in notes)
        assert 6.0 < notes[-1].offset < 10.0
        kinds = {n.ornament["type"] for n in notes if n.ornament}
        assert kinds == {"vibrato", "slide", "trill", "tremolo"}
        steps = np.abs(np.diff(meta["degree"]))
        assert np.mean(steps <= 1) > 0.5  # mostly stepwise
    again, _ = synth.phrase("saba", seconds=8.0, seed=3)
    assert again == notes
    plain, _ = synth.phrase("hijaz", seconds=8.0, seed=3, ornaments=False)
    assert all(n.ornament is None for n in plain)
    with pytest.raises(ConfigError, match="known maqamat"):
        synth.phrase("nope")


def test_render_notes_file_formats(tmp_path):
    notes, meta = synth.phrase("rast", seconds=2.0, seed=0)
    src = write_notes(tmp_path / "p.json", notes, meta)
    import soundfile as sf

    for ext in (".wav", ".flac", ".ogg"):
        info = synth.render_notes_file(src, tmp_path / f"p{ext}", sr=16000)
        data, sr = sf.read(tmp_path / f"p{ext}")
        assert sr == 16000 and data.ndim == 1 and len(data) / sr == pytest.approx(info["seconds"], abs=1e-3)
        assert info["n_notes"] == len(notes) and info["realtime_factor"] > 1
    with pytest.raises(AudioError, match="unsupported audio extension '.mp3'"):
        synth.render_notes_file(src, tmp_path / "p.mp3")
    synth.render_notes_file(src, tmp_path / "new" / "p.wav")  # missing folders are created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "p.flac", "p.json", "p.ogg", "p.wav"]
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["p.wav"]


def test_cli_synth(tmp_path, capsys):
    notes, meta = synth.phrase("hijaz", seconds=2.0, seed=0)
    src = write_notes(tmp_path / "notes.json", notes, meta)
    out = tmp_path / "out.wav"
    assert cli.main(["synth", str(src), "-o", str(out)]) == 0
    assert out.stat().st_size > 44
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("content, what", [
    (None, "no such file"),
    ('{"notes": [[0, 1, 220, 0],]}', "not valid JSON"),
    ('{"notes": [[0, 1, 220, 0], [1, 0.5, 220, 0]]}', "notes[1]"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, content, what):
    src = tmp_path / "bad.json"
    if content is not None:
        src.write_text(content)
    assert cli.main(["synth", str(src), "-o", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(src) in err and what in err
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.slow
def test_full_performance_renders_in_one_call(tmp_path):
    notes, meta = synth.performance(540, 2800)
    assert len(notes) == 2800 and max(n.offset for n in notes) <= 540
    freqs = np.array([n.freq_hz for n in notes])
    assert freqs.min() >= 55 and freqs.max() <= 700
    onsets = np.array([n.onset for n in notes])
    offsets = np.array([n.offset for n in notes])
    assert np.all(np.diff(onsets) >= 0)
    assert np.sum(offsets[:-1] > onsets[1:]) > 100  # overlapping notes
    y = synth.render(notes)
    assert 537 < len(y) / SR < 541
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) == pytest.approx(0.9, abs=1e-4)
    write_notes(tmp_path / "perf.json", notes, meta)
    assert json.loads((tmp_path / "perf.json").read_text())["sections"] == meta["sections"]
