"""The in-domain classifier (Frechet-distance embedding) and the distribution metrics."""

import numpy as np
import pytest
import torch

from maqamgen import classifier, corpus, features, metrics
from maqamgen.config import FeatureConfig


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_frechet_distance_known_cases():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # N(0, I) vs N(m, I): d^2 = |m|^2
    b = rng.normal(size=(4000, 3)) + np.array([2.0, 0.0, 0.0])
    assert metrics.frechet_distance(a, b) == pytest.approx(4.0, rel=0.1)
    # N(0, I) vs N(0, 4 I) in D dims: d^2 = D (1 + 4 - 2 * 2) = D
    assert metrics.frechet_distance_gaussian(np.zeros(3), np.eye(3), np.zeros(3), 4 * np.eye(3)) == pytest.approx(3.0, abs=1e-4)
    from scipy import linalg  # the textbook formula, with scipy's sqrtm

    x, y = a[:300], b[:300]
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(cx + cy - 2 * linalg.sqrtm(cx @ cy).real)
    assert metrics.frechet_distance(x, y) == pytest.approx(ref, rel=1e-4)


def test_pcd_divergence_and_accuracy():
    p = np.zeros((3, 72)); p[:, 10] = 1.0
    q = np.zeros((2, 72)); q[:, 40] = 1.0
    assert metrics.pcd_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    assert metrics.pcd_divergence(p, q) == pytest.approx(1.0)  # disjoint: 1 bit
    assert metrics.pcd_divergence(np.zeros((2, 72)), q) == 1.0  # nothing voiced
    assert metrics.maqam_accuracy(["rast", None, "saba"], ["rast", "rast", "hijaz"]) == pytest.approx(1 / 3)


def test_classifier_trains_caches_and_embeds(tmp_path):
    c = corpus.load("smoke", progress=False)
    cfg = FeatureConfig()
    tr = features.load_patches(c, "train", cfg)
    va = features.load_patches(c, "validation", cfg, tr.normalizer)
    clf = classifier.get_classifier(tr, va, steps=6, batch_size=8)
    assert 0.0 <= clf.accuracy <= 1.0 and clf.info["steps"] == 6
    e = clf.embed(va.x[:5])
    assert e.shape == (5, classifier.EMBED_DIM) and np.isfinite(e).all()
    again = classifier.get_classifier(tr, va, steps=6, batch_size=8)  # cached: same weights
    np.testing.assert_allclose(again.embed(va.x[:5]), e, atol=1e-6)
    assert clf.predict(va.x[:5]).shape == (5,)


def test_classifier_learns_a_separable_problem(tmp_path, monkeypatch):
    """Two classes of patches (energy in the low or the high bands) are told apart."""
    monkeypatch.setattr(classifier, "cache_dir", lambda *p: tmp_path.joinpath(*p))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 16, 16, generator=g) * 0.2 - 1
    y = torch.arange(64) % 2
    x[y == 0, :, :8] += 1.0
    x[y == 1, :, 8:] += 1.0
    ps = features.PatchSet(x=x, labels=y, clip_ids=[str(i) for i in range(64)], starts=np.zeros(64, int),
                           maqamat=("low", "high"), normalizer=features.Normalizer(0.0, 80.0),
                           config=FeatureConfig(n_mels=16, frames=16), split="train", sr=22050)
    clf = classifier.get_classifier(ps, ps, steps=40, batch_size=16, lr=5e-3)
    assert clf.accuracy > 0.9


def test_set_interval_is_centred_on_the_estimate_and_seeded():

    rng = np.random.default_rng(0)
    ref = rng.normal(size=(16, 8))
    gen = rng.normal(size=(16, 8)) + 0.5
    fd = lambda i: metrics.frechet_distance(gen[i], ref)  # noqa: E731
    v, lo, hi = metrics.set_interval(fd, len(gen), n_boot=200, seed=1)
    assert v == pytest.approx(metrics.frechet_distance(gen, ref))
    assert 0.0 <= lo <= v <= hi
    assert metrics.set_interval(fd, len(gen), n_boot=200, seed=1) == (v, lo, hi)
    # for a mean (unbiased) it matches the percentile bootstrap of metrics
    x = rng.normal(size=40) + 3.0  # (the interval is clipped at 0: for non-negative statistics)
    v2, lo2, hi2 = metrics.set_interval(lambda i: float(x[i].mean()), 40, n_boot=2000, seed=0)
    b = metrics.bootstrap_ci(x, n_boot=2000, seed=0)
    assert v2 == pytest.approx(b[0]) and lo2 == pytest.approx(b[1], abs=0.05) and hi2 == pytest.approx(b[2], abs=0.05)
    assert all(np.isnan(metrics.set_interval(fd, 0)))


def test_format_intervals_reads_value_lo_hi():
    import pandas as pd

    from maqamgen import evaluation

    df = pd.DataFrame({"fd": [1.0, 2.5], "fd_lo": [0.5, 2.0], "fd_hi": [1.5, 3.0], "steps": [3, 4]})
    out = evaluation.format_intervals(df, digits=1)
    assert list(out.columns) == ["fd", "steps"]
    assert list(out["fd"]) == ["1.0 [0.5, 1.5]", "2.5 [2.0, 3.0]"]
