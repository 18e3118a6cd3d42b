"""Round-trip measures of Chapter 6: pitch fidelity against ground-truth notes and the
multi-resolution STFT distance (maqamgen.metrics, section "round trips")."""

import numpy as np
import pytest
import torch

from maqamgen import metrics
from maqamgen.nets import vocoder
from maqamgen.notes import Note

NOTES = [Note(0.0, 1.0, 200.0), Note(1.0, 2.0, 300.0)]
TIMES = np.arange(0.0, 2.5, 0.01)


def _truth_track(cents_off=0.0):
    f = metrics.note_pitch_at(TIMES, NOTES) * 2 ** (cents_off / 1200)
    return TIMES, f


def test_note_pitch_at_latest_onset_and_silence():
    f = metrics.note_pitch_at([0.5, 1.0, 1.5, 2.2], NOTES + [Note(1.4, 1.6, 400.0)])
    assert f[0] == 200.0 and f[1] == 300.0 and f[2] == 400.0 and np.isnan(f[3])
    rows = metrics.note_pitch_at([0.5], [(0.0, 1.0, 123.0)])
    assert rows[0] == 123.0


def test_note_pitch_at_follows_vibrato():
    n = Note(0.0, 2.0, 200.0, ornament={"type": "vibrato", "rate_hz": 5.0, "depth_cents": 30.0})
    f = metrics.note_pitch_at(TIMES[:200], [n])
    c = 1200 * np.log2(f / 200.0)
    assert np.max(np.abs(c)) == pytest.approx(30.0, abs=1e-6)
    assert np.all(metrics.note_pitch_at(TIMES[:200], [n], follow_ornaments=False) == 200.0)


def test_pitch_fidelity_exact_and_detuned():
    r = metrics.pitch_fidelity(_truth_track(), NOTES)
    assert r["within"] == 1.0 and r["median_abs_cents"] < 1e-9 and r["n_frames"] == 200
    assert r["voiced_recall"] == 1.0 and r["octave_share"] == 0.0
    r = metrics.pitch_fidelity(_truth_track(10.0), NOTES)
    assert r["within"] == 1.0 and r["median_abs_cents"] == pytest.approx(10.0)
    r = metrics.pitch_fidelity(_truth_track(20.0), NOTES)
    assert r["within"] == 0.0 and r["median_abs_cents"] == pytest.approx(20.0)
    assert metrics.pitch_fidelity(_truth_track(20.0), NOTES, tol_cents=25.0)["within"] == 1.0


def test_pitch_fidelity_octave_errors_counted_and_reported_apart():
    t, f = _truth_track()
    f = f.copy()
    f[:50] *= 2.0  # 50 of the 200 note frames an octave up
    r = metrics.pitch_fidelity((t, f), NOTES)
    assert r["within"] == pytest.approx(0.75)
    assert r["octave_share"] == pytest.approx(0.25)


def test_pitch_fidelity_unvoiced_frames_and_offset():
    t, f = _truth_track()
    f = f.copy()
    f[100:] = np.nan  # second note unvoiced
    r = metrics.pitch_fidelity((t, f), NOTES)
    assert r["n_frames"] == 100 and r["voiced_recall"] == pytest.approx(0.5) and r["within"] == 1.0
    # a fragment cut 1 s into the clip: its time 0 is the clip's 1 s
    r = metrics.pitch_fidelity((TIMES[:100], np.full(100, 300.0)), NOTES, offset_s=1.0)
    assert r["within"] == 1.0
    empty = metrics.pitch_fidelity((TIMES, np.full(TIMES.shape, np.nan)), NOTES)
    assert np.isnan(empty["within"]) and empty["n_frames"] == 0 and empty["voiced_recall"] == 0.0


def test_pitch_fidelity_takes_a_pitch_track():
    from maqamgen.estimate import PitchTrack

    t, f = _truth_track()
    tr = PitchTrack(times=t, f0_hz=f, voiced_prob=np.where(np.isfinite(f), 1.0, 0.0), hop_s=0.01)
    assert metrics.pitch_fidelity(tr, NOTES)["within"] == 1.0


def _tone(f=220.0, sr=22050, s=1.0, seed=0):
    t = np.arange(int(sr * s)) / sr
    rng = np.random.default_rng(seed)
    return (0.5 * np.sin(2 * np.pi * f * t) + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)


def test_mrstft_distance_is_the_vocoder_loss():
    y = _tone()
    assert metrics.multi_resolution_stft_distance(y, y) == pytest.approx(0.0, abs=1e-9)
    y_hat = _tone(233.0, seed=1)
    d = metrics.multi_resolution_stft_distance(y_hat, y, match_rms=False)
    ref = float(vocoder.multi_resolution_stft_loss(torch.from_numpy(y_hat).double()[None],
                                                   torch.from_numpy(y).double()[None]))
    assert d == pytest.approx(ref, rel=1e-9)
    assert d > 0.5


def test_mrstft_distance_gain_length_and_torch():
    y = _tone()
    # a pure gain change costs nothing with match_rms, something without
    assert metrics.multi_resolution_stft_distance(0.3 * y, y) < 1e-4
    assert metrics.multi_resolution_stft_distance(0.3 * y, y, match_rms=False) > 0.5
    # lengths: cut to the shorter; torch tensors accepted
    d = metrics.multi_resolution_stft_distance(torch.from_numpy(y[:-512]), y)
    assert d == pytest.approx(0.0, abs=1e-9)
    # another sample rate: resolutions scaled to the same durations
    y16 = _tone(sr=16000)
    assert metrics.multi_resolution_stft_distance(y16, y16, sr=16000) == pytest.approx(0.0, abs=1e-9)
    assert metrics.multi_resolution_stft_distance(_tone(250.0, sr=16000), y16, sr=16000) > 0.5
