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
    v2, lo2, hi2 = M.bootstrap_ci([0.1, 0.3, np.nan], min_n=3)  # two finite items: no interval
    assert v2 == pytest.approx(0.2) and np.isnan(lo2) and np.isnan(hi2)
    v3, lo3, hi3 = M.bootstrap_ci([0.1, 0.2, 0.3], min_n=3)
    assert lo3 <= v3 <= hi3 and v3 == pytest.approx(0.2)
    p, lo, hi = M.wilson_interval(0, 10)
    assert p == 0 and lo == 0 and 0.2 < hi < 0.35  # Wilson: (0, 0.278)
    p, lo, hi = M.wilson_interval(8, 10)
    assert abs(lo - 0.490) < 0.01 and abs(hi - 0.943) < 0.01

def test_clustered_wilson_widens_for_pieces_that_differ_and_covers():
    from maqamgen import metrics as M

    # equal shares in every piece: nothing between pieces, the plain Wilson interval
    assert M.design_effect([3, 3, 3, 3], [6, 6, 6, 6]) == 1.0
    assert M.clustered_wilson_interval([3, 3, 3, 3], [6] * 4) == pytest.approx(M.wilson_interval(12, 24))
    # seven pieces all right, one all wrong: deff = m / (m - 1) * 6 (every window as its piece)
    assert M.design_effect([6] * 7 + [0], [6] * 8) == pytest.approx(8 / 7 * 6)
    p, lo, hi = M.clustered_wilson_interval([6] * 7 + [0], [6] * 8)
    _, wlo, whi = M.wilson_interval(42, 48)
    assert p == 0.875 and lo < wlo - 0.2 and hi > whi
    # one piece, all right, empty pieces: no spread to measure
    assert M.clustered_wilson_interval([4], [6]) == pytest.approx(M.wilson_interval(4, 6))
    assert M.clustered_wilson_interval([6, 6, 0], [6, 6, 0]) == pytest.approx(M.wilson_interval(12, 12))
    assert all(np.isnan(M.clustered_wilson_interval([], [])))
    with pytest.raises(ValueError, match="0 <= k_i <= n_i"):
        M.design_effect([7], [6])
    with pytest.raises(ValueError, match="one count right per cluster"):
        M.design_effect([1, 2], [6])
    # coverage: 8 pieces of 6 windows whose own shares differ (Beta(4, 1), mean 0.8)
    rng = np.random.default_rng(0)
    hits = {"clustered": 0, "plain": 0}
    for _ in range(400):
        k = rng.binomial(6, rng.beta(4, 1, 8))
        for kind, (_, lo, hi) in (("clustered", M.clustered_wilson_interval(k, [6] * 8)),
                                  ("plain", M.wilson_interval(int(k.sum()), 48))):
            hits[kind] += lo <= 0.8 <= hi
    assert hits["clustered"] / 400 > 0.9 > hits["plain"] / 400 + 0.03


def test_paired_difference_is_tighter_than_the_separate_intervals():
    from maqamgen import metrics as M

    rng = np.random.default_rng(0)
    shared = rng.normal(0.0, 1.0, 24)  # what both conditions of an item share
    a, b = shared + 0.5 + rng.normal(0, 0.1, 24), shared + rng.normal(0, 0.1, 24)
    d, lo, hi = M.paired_difference(a, b, seed=3)
    assert d == pytest.approx(np.mean(a - b)) and 0.3 < lo < d < hi < 0.7
    assert M.separation((lo, hi), 0.0) == 1
    ia, ib = M.bootstrap_ci(a, seed=3)[1:], M.bootstrap_ci(b, seed=3)[1:]
    assert M.separation(ia, ib) == 0  # the items' spread hides what the pairing shows
    assert M.paired_difference(a, b, seed=3) == (d, lo, hi)
    d2, lo2, hi2 = M.paired_difference([1.0, np.nan, 3.0], [0.0, 5.0, np.nan], min_n=2)
    assert d2 == 1.0 and np.isnan(lo2) and np.isnan(hi2)  # one item with both values
    with pytest.raises(ValueError, match="one length"):
        M.paired_difference([1.0, 2.0], [1.0])



def test_moving_average_and_loss_tail():
    from maqamgen import metrics as M

    assert np.allclose(M.moving_average([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
    assert np.allclose(M.moving_average([1, 2], 1), [1, 2])
    t = M.loss_tail([9.0] * 6 + [1.0, 3.0], frac=0.25)
    assert t["final_loss"] == 2.0 and abs(t["loss_cv"] - 0.5) < 1e-12


# ----------------------------------------------------------------------------- symbolic (note-level)


def _scale(cents, dur=0.5, tonic=146.83):
    return [Note(i * dur, (i + 1) * dur, tonic * 2 ** (c / 1200), 0.0) for i, c in enumerate(cents)]


def test_note_pcd_and_interval_histogram():
    notes = _scale([0, 200, 350, 1200, 0])
    p = metrics.note_pcd(notes, 146.83)
    assert p.shape == (24,) and p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(3 / 5) and p[4] == pytest.approx(1 / 5) and p[7] == pytest.approx(1 / 5)
    assert metrics.note_pcd(notes, 146.83, bins=12, weight="count")[0] == pytest.approx(3 / 5)
    assert not metrics.note_pcd([], 146.83).any()
    h, edges = metrics.note_interval_histogram(notes)
    assert h.shape == (49,) and edges.shape == (50,) and h.sum() == 4
    centre = 24  # 0 cents; bins are centred on multiples of 50 cents
    assert h[centre + 4] == 1 and h[centre + 3] == 1 and h[centre + 17] == 1 and h[0] == 1  # -1200: the end bin
    assert metrics.note_interval_histogram(notes[:1])[0].sum() == 0
    # the same histogram as the one of pitch sequences in cents, and symmetric
    h2, _ = metrics.interval_histogram([[0, 200, 350, 1200, 0]], 50.0)
    assert (h == h2).all()
    up, e = metrics.interval_histogram([[0, 1200, 0, -2000]], 100.0, 1200.0)
    assert up[-1] == 1 and up[0] == 2 and e[0] == -1250 and e[-1] == 1250


def test_note_out_of_scale_is_one_minus_scale_adherence():
    hijaz = [0, 100, 400, 500, 700, 800, 1000, 1200]
    assert metrics.note_out_of_scale(_scale(hijaz), "hijaz", 146.83) == 0.0
    assert metrics.note_out_of_scale(_scale([150, 250]), "hijaz", 146.83) == 1.0
    mixed = _scale([0, 150], dur=1.0) + [Note(2.0, 4.0, 146.83, 0.0)]
    assert metrics.note_out_of_scale(mixed, "hijaz", 146.83) == pytest.approx(1 / 4)
    assert metrics.note_out_of_scale(mixed, "hijaz", 146.83, weight="count") == pytest.approx(1 / 3)
    assert np.isnan(metrics.note_out_of_scale([], "hijaz", 146.83))
    assert metrics.scale_adherence([0.0, 150.0, 0.0], "hijaz", weights=[1.0, 1.0, 2.0],
                                   practice=False) == pytest.approx(3 / 4)


def test_js_divergence_bounds_and_empty_input():
    p = np.array([0.5, 0.5, 0, 0])
    assert metrics.js_divergence(p, p) == 0.0
    assert metrics.js_divergence(p, [0, 0, 1, 1]) == pytest.approx(1.0)
    assert 0 < metrics.js_divergence(p, [0.25, 0.25, 0.25, 0.25]) < 1
    with pytest.raises(ValueError):
        metrics.js_divergence(p, [0, 0, 0, 0])



def test_kernel_distance_is_unbiased_and_separates_shifted_sets():
    from maqamgen import metrics

    rng = np.random.default_rng(0)
    ref = rng.normal(size=(400, 8))
    same = [metrics.kernel_distance(rng.normal(size=(16, 8)), ref) for _ in range(200)]
    shifted = [metrics.kernel_distance(rng.normal(size=(16, 8)) + 0.5, ref) for _ in range(200)]
    big = np.mean([metrics.kernel_distance(rng.normal(size=(400, 8)) + 0.5, ref) for _ in range(5)])
    # same distribution: mean ~ 0 at n = 16 (FD would be biased upward there)
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same))
    # shifted: the small-set mean agrees with the large-set value (no size bias)
    assert abs(np.mean(shifted) - big) < 4 * np.std(shifted) / np.sqrt(len(shifted)) + 0.05 * big
    assert big > 10 * np.std(same) / np.sqrt(len(same))
    with pytest.raises(ValueError):
        metrics.kernel_distance(np.zeros((1, 3)), ref[:, :3])


def test_set_interval_floor_none_keeps_negative_bounds():
    from maqamgen import metrics

    vals = np.linspace(-1.0, 1.0, 20)
    v, lo, hi = metrics.set_interval(lambda i: float(np.mean(vals[i])), 20, 200, floor=None)
    assert lo < 0 < hi and v == pytest.approx(0.0, abs=1e-12)
    _, lo0, _ = metrics.set_interval(lambda i: float(np.mean(vals[i])), 20, 200)
    assert lo0 == 0.0


def test_set_interval_min_n_keeps_the_value_without_bounds():
    from maqamgen import metrics

    vals = np.array([0.2, 0.4])
    v, lo, hi = metrics.set_interval(lambda i: float(np.mean(vals[i])), 2, 200, min_n=3)
    assert v == pytest.approx(0.3) and np.isnan(lo) and np.isnan(hi)
    v3, lo3, hi3 = metrics.set_interval(lambda i: float(np.mean(np.r_[vals, 0.9][i])), 3, 200, min_n=3)
    assert np.isfinite(lo3) and lo3 <= v3 <= hi3


def test_validation_plateau_tells_falling_from_flat():
    from maqamgen import metrics

    falling = 1.0 / np.arange(1, 21)
    flat = np.r_[np.linspace(1.0, 0.5, 10), np.full(10, 0.5) + 0.001 * np.sin(np.arange(10))]
    assert not metrics.validation_plateau(falling)["plateau"]
    assert metrics.validation_plateau(falling)["tail_drop"] > 0.1
    p = metrics.validation_plateau(flat)
    assert p["plateau"] and p["val_best"] == pytest.approx(0.499, abs=2e-3)
    assert metrics.validation_plateau([1.0, 0.9])["plateau"] is False


def test_within_variance_share():
    rng = np.random.default_rng(0)
    items = rng.normal(0.0, 1.0, (400, 1))
    # repeats that agree: nothing within; repeats that are pure noise: everything within
    assert metrics.within_variance_share(np.repeat(items, 3, axis=1)) == pytest.approx(0.0, abs=1e-12)
    noise = rng.normal(0.0, 1.0, (400, 3))
    assert metrics.within_variance_share(noise) == pytest.approx(1.0, abs=0.08)
    # item sd 1 and repeat sd 1: half the variance of one measurement lies within items
    assert metrics.within_variance_share(items + noise) == pytest.approx(0.5, abs=0.08)
    assert np.isnan(metrics.within_variance_share(np.ones((3, 2))))
    for bad in (np.ones(4), np.ones((1, 3)), np.ones((3, 1)), np.array([[0.0, np.nan], [1.0, 2.0]])):
        with pytest.raises(ValueError):
            metrics.within_variance_share(bad)


def test_finite_mean_leaves_out_nan_and_inf():
    assert metrics.finite_mean([1.0, np.nan, 3.0, np.inf]) == 2.0
    assert np.isnan(metrics.finite_mean([np.nan, np.nan])) and np.isnan(metrics.finite_mean([]))
