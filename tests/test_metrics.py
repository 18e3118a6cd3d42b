"""Measurements of Chapters 1 and 2 on constructed cases where the answer is known."""

import numpy as np
import pytest

from maqamgen import metrics
from maqamgen.estimate import PitchTrack
from maqamgen.notes import Note


def test_tonic_correct_is_octave_equivalent_with_tolerance():
    assert metrics.tonic_correct(220.0, 110.0)
    assert metrics.tonic_correct(146.83 * 2 ** (40 / 1200), 146.83)
    assert not metrics.tonic_correct(146.83 * 2 ** (60 / 1200), 146.83)
    assert not metrics.tonic_correct(196.0, 130.81)  # a fifth away
    assert metrics.interval_cents_mod_octave(130.81 * 1.5, 130.81) == pytest.approx(-498.04, abs=0.1)


def test_classify_peaks_against_played_notes():
    notes = [Note(0.0, 1.0, 100.0), Note(1.0, 2.0, 150.0)]
    labels = metrics.classify_peaks([100.5, 300.0, 450.0, 137.0, 150.0], notes)
    assert labels == ["fundamental", "harmonic", "harmonic", "other", "fundamental"]


def test_confusion_matrix_counts():
    C = metrics.confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert C.tolist() == [[1, 1], [0, 1]]


def test_crop_track_keeps_the_end_or_the_start():
    t = np.arange(100) * 0.1
    tr = PitchTrack(times=t, f0_hz=np.linspace(100, 200, 100), voiced_prob=np.ones(100), hop_s=0.1)
    end = metrics.crop_track(tr, 2.0, "end")
    assert end.f0_hz[-1] == 200 and end.times[0] == 0 and len(end.times) == 21
    start = metrics.crop_track(tr, 2.0, "start")
    assert start.f0_hz[0] == 100 and len(start.times) == 21


def test_partial_mask_and_contrast_on_a_pure_tone():
    from maqamgen import audio

    sr, n_fft, hop = 8000, 1024, 256
    t = np.arange(sr) / sr
    y = 0.5 * np.sin(2 * np.pi * 500 * t) + 0.001 * np.random.default_rng(0).standard_normal(sr)
    F = audio.stft_db(y.astype(np.float32), sr, n_fft=n_fft, hop_length=hop)
    mask = metrics.partial_mask(F.shape, [Note(0.0, 1.0, 500.0)], sr, n_fft, hop, n_harmonics=1)
    band = metrics.band_mask(F.shape, sr, n_fft, fmin=50, fmax=2000)
    assert mask.sum() > 0 and metrics.partial_contrast_db(F, mask, band) > 40
    assert metrics.partials_kept(audio.theta_alpha(F, -20.0), mask, float(F.min())) > 0.9
    noisy = metrics.add_noise(y.astype(np.float32), 0.0, seed=1)
    assert np.var(noisy - y) == pytest.approx(np.mean(y ** 2), rel=0.05)


def test_intervals_cover_the_truth_and_are_seeded():
    from maqamgen import metrics as M

    v, lo, hi = M.bootstrap_ci(np.arange(100.0), seed=1)
    assert v == 49.5 and lo < 49.5 < hi and hi - lo < 15
    assert M.bootstrap_ci(np.arange(100.0), seed=1) == (v, lo, hi)
    assert all(np.isnan(M.bootstrap_ci([])))
    p, lo, hi = M.wilson_interval(0, 10)
    assert p == 0 and lo == 0 and 0.2 < hi < 0.35  # Wilson: (0, 0.278)
    p, lo, hi = M.wilson_interval(8, 10)
    assert abs(lo - 0.490) < 0.01 and abs(hi - 0.943) < 0.01


def test_moving_average_and_loss_tail():
    from maqamgen import metrics as M

    assert np.allclose(M.moving_average([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
    assert np.allclose(M.moving_average([1, 2], 1), [1, 2])
    t = M.loss_tail([9.0] * 6 + [1.0, 3.0], frac=0.25)
    assert t["final_loss"] == 2.0 and abs(t["loss_cv"] - 0.5) < 1e-12
