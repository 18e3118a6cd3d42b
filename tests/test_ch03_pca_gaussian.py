"""Chapter 3 helpers: patches, note windows, truncation, Gaussian conditioning and the new metrics."""

import numpy as np
import pytest

from maqamgen import config, corpus, features, gaussian, metrics, results
from maqamgen.recipes import ch03_pca_gaussian as pcagen
from maqamgen.notes import Note


@pytest.fixture(scope="module")
def smoke_corpus():
    return corpus.load("smoke", progress=False)


def test_patch_vectors_use_the_library_cutter_and_mel(smoke_corpus):
    cfg = config.profile("smoke")
    feat = pcagen.feature_config(cfg)
    assert (feat.n_mels, feat.frames, feat.patch_stride) == (cfg.pca.n_mels, cfg.pca.patch_frames, cfg.pca.patch_hop)
    ps = pcagen.corpus_patches(smoke_corpus, "validation", feat, cache=False)
    clip = smoke_corpus.split("validation")[0]
    y, sr = smoke_corpus.audio(clip)
    P, starts = features.cut_patches(features.clip_mel_db(y, sr, feat), feat.frames, feat.patch_stride)
    first = ps.clip == 0
    assert np.array_equal(ps.X[first], P.reshape(len(P), -1)) and np.array_equal(ps.start[first], starts)
    assert ps.images(np.flatnonzero(first)).shape == (len(P), feat.n_mels, feat.frames)
    bank = ps.frames_bank(max_frames=50, seed=1)
    assert bank.shape == (feat.n_mels, 50) and np.array_equal(bank, ps.frames_bank(max_frames=50, seed=1))


def test_transpose_moves_the_pitch_class():
    sr = 8000
    t = np.arange(sr) / sr
    y = np.sin(2 * np.pi * 200.0 * t)
    out, factor = pcagen.transpose_to_tonic(y, sr, 200.0, 440.0)  # 220 Hz pitch class, folded
    assert factor == pytest.approx(1.1, abs=0.01)
    f = np.fft.rfftfreq(out.size, 1 / sr)[np.argmax(np.abs(np.fft.rfft(out)))]
    assert f == pytest.approx(200.0 * factor, abs=2.0)


def test_note_windows_round_trip():
    notes = [Note(onset=i * 0.5, offset=i * 0.5 + 0.25 * (i + 1), freq_hz=100.0 * 2 ** (i / 12)) for i in range(6)]
    W = pcagen.note_windows(notes, 100.0, 4, hop=2)
    assert W.shape == (2, 8)
    c, ld = pcagen.split_window(W)
    assert np.allclose(c[0], [0, 100, 200, 300]) and np.allclose(2 ** ld[1], [0.75, 1.0, 1.25, 1.5])
    assert np.allclose(pcagen.join_window(c, ld), W)
    assert pcagen.note_windows(notes[:3], 100.0, 4).shape == (0, 8)


def test_corpus_note_windows(smoke_corpus):
    clip = smoke_corpus.split("train")[0]
    W = pcagen.corpus_note_windows(smoke_corpus, "train", clip.maqam, 4, hop=2)
    notes, meta = smoke_corpus.notes(clip)
    first = pcagen.note_windows(notes, meta["tonic_hz"], 4, 2)
    assert W.shape[1] == 8 and np.allclose(W[: len(first)], first)
    assert pcagen.corpus_note_windows(smoke_corpus, "train", "no such maqam", 4).shape == (0, 8)


def test_truncate_matches_fit():
    X = np.random.default_rng(0).standard_normal((50, 6)) @ np.diag([5, 3, 2, 1, 0.5, 0.1])
    full = gaussian.fit(X)
    for k in (1, 3, 5):
        a, b = pcagen.truncate(full, k), gaussian.fit(X, k=k)
        assert a.sigma2 == pytest.approx(b.sigma2)
        assert np.allclose(gaussian.log_likelihood(a, X), gaussian.log_likelihood(b, X))
    assert pcagen.n_components(np.array([5.0, 3.0, 1.0, 1.0]), 0.8) == 2


def test_conditional_sample_matches_the_gaussian_formula():
    rng = np.random.default_rng(1)
    d, k = 4, 2
    E, _ = np.linalg.qr(rng.standard_normal((d, k)))
    g = gaussian.PCAGaussian(mu_hat=np.array([1.0, -1.0, 0.5, 2.0]), E=E, Lambda=np.array([4.0, 1.0]),
                             sigma2=0.2, total_variance=5.0 + 0.4, n_train=100)
    Sigma = E @ np.diag(g.Lambda) @ E.T + g.sigma2 * np.eye(d)
    a, b = np.array([0, 2]), np.array([1, 3])
    x_a = np.array([2.0, 0.0])
    mean = g.mu_hat[b] + Sigma[np.ix_(b, a)] @ np.linalg.solve(Sigma[np.ix_(a, a)], x_a - g.mu_hat[a])
    cov = Sigma[np.ix_(b, b)] - Sigma[np.ix_(b, a)] @ np.linalg.solve(Sigma[np.ix_(a, a)], Sigma[np.ix_(a, b)])
    S = pcagen.conditional_sample(g, x_a, a, n=100_000, seed=0, residual=True)
    assert np.allclose(S[:, a], x_a)
    assert np.allclose(S[:, b].mean(axis=0), mean, atol=0.02)
    assert np.allclose(np.cov(S[:, b].T), cov, atol=0.02)


def test_chains_have_the_right_length_and_overlap():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 3 * 5)).cumsum(axis=1)
    g = gaussian.fit(X, k=10)
    mel, seams = pcagen.chain_patches(g, (3, 5), n_patches=4, overlap=2, seed=0)
    assert mel.shape == (3, 5 + 3 * 3) and seams == [5, 8, 11]
    mel0, _ = pcagen.chain_patches(g, (3, 5), n_patches=3, overlap=0)
    assert mel0.shape == (3, 15)
    gw = gaussian.fit(rng.standard_normal((60, 8)), k=6)
    assert pcagen.chain_vectors(gw, 3, overlap=2).shape == (4 + 2 * 2, 2)


def test_metrics():
    p = np.array([0.2, 0.3, 0.5])
    assert metrics.js_divergence(p, p) == 0.0
    assert metrics.js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    x = np.random.default_rng(3).standard_normal((5, 200))
    r = metrics.frame_autocorrelation(x, 3)
    assert r[0] == pytest.approx(1.0) and abs(r[1]) < 0.1
    smooth = np.repeat(np.random.default_rng(4).standard_normal((4, 10)), 20, axis=1)
    assert metrics.seam_jump_ratio(smooth, [20, 40, 60]) > 5
    Y = np.random.default_rng(5).standard_normal((2000, 3))
    assert metrics.frechet_distance(Y, Y) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(Y, Y + 2.0) == pytest.approx(12.0, rel=1e-3)
    assert metrics.scale_adherence([0.0, 10.0, 1200.0 + 700.0, 650.0], "rast") == pytest.approx(0.75)
    counts, edges = metrics.interval_histogram([[0, 100, 300]], bin_cents=100, max_cents=300)
    assert counts.sum() == 2 and edges.size == counts.size + 1


def test_log_likelihood_curve_matches_gaussian():
    X = np.random.default_rng(6).standard_normal((40, 8)) @ np.diag([4, 3, 2, 1, 1, 0.5, 0.3, 0.1])
    full = gaussian.fit(X)
    ks = [1, 3, 6]
    ref = [gaussian.log_likelihood(pcagen.truncate(full, k), X[:10]).mean() / 8 for k in ks]
    assert np.allclose(pcagen.log_likelihood_curve(full, X[:10], ks), ref)




def test_model_record_follows_the_schema(tmp_path, monkeypatch):
    """The PCA Gaussian's core metrics, built from tiny per-sample inputs, are a valid model record."""
    judged = {"n": 6, "fd": 1.5, "fd_lo": 1.0, "fd_hi": 2.5, "clf_acc": 0.5, "clf_acc_lo": 0.2,
              "clf_acc_hi": 0.8, "nn_dist": 0.3, "nn_dist_lo": 0.25, "nn_dist_hi": 0.35}
    rng = np.random.default_rng(0)
    pcds_gen, pcds_real = rng.random((5, 72)), rng.random((4, 72))
    g = gaussian.fit(rng.standard_normal((20, 6)), k=2)
    core = pcagen.model_core(judged, [True, False, False, True], pcds_gen, pcds_real,
                             seam_ratios=[1.8, 2.2, 2.0], halluc=[0.1, 0.0, 0.2],
                             params=pcagen.n_params(g), train_s=0.5, gen_s=1.0, audio_s=20.0, n_boot=50)
    assert set(core) == set(results.CORE_METRICS)
    assert not any(isinstance(v, dict) and "na" in v for v in core.values())
    assert core["maqam_acc_estimator"]["value"] == 0.5 and core["maqam_acc_estimator"]["n"] == 4
    assert core["fd"]["lo"] == 1.0 and core["gen_s_per_audio_s"] == pytest.approx(0.05)
    assert core["params"] == 6 + 6 * 2 + 2 + 1
    iv = core["pcd_js_audio"]
    assert iv["value"] == pytest.approx(metrics.pcd_divergence(pcds_gen, pcds_real)) and iv["lo"] <= iv["hi"]
    monkeypatch.setattr(results, "repo_root", lambda: tmp_path)
    results.save_model("unit", "pca_gaussian", core, {"note": "test"}, chapter="03_pca_gaussian")
    row = results.table("unit").loc["pca_gaussian"]
    assert row["seam_jump_ratio"] == pytest.approx(2.0) and row["chapter"] == "03_pca_gaussian"
