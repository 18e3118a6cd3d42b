"""maqamgen.features: patch cutting, normalisation round trip, caching, inversion to audio."""

import numpy as np
import pytest
import torch

from maqamgen import corpus, features
from maqamgen.config import FeatureConfig
from maqamgen.diffusion.stitch import stitch
from maqamgen.errors import ConfigError


@pytest.fixture(scope="module")
def smoke():
    return corpus.load("smoke", progress=False)


def test_cut_patches_positions():
    M = np.arange(3 * 10, dtype=np.float32).reshape(3, 10)
    P, starts = features.cut_patches(M, 4, 3)
    assert P.shape == (3, 3, 4) and starts.tolist() == [0, 3, 6]
    np.testing.assert_array_equal(P[1], M[:, 3:7])
    assert features.cut_patches(M, 11, 1)[0].shape == (0, 3, 11)
    B, st = features.cut_patches(np.stack([M, M + 100]), 4, 3)  # leading axes are kept
    assert B.shape == (2, 3, 3, 4) and np.array_equal(B[1, 2], M[:, 6:10] + 100)
    with pytest.raises(ConfigError):
        features.cut_patches(M, 0, 1)


def test_cut_windows_and_resample_mels():
    x = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 1, 3, 10)
    w = features.cut_windows(x, 4)
    assert w.shape == (4, 1, 3, 4)
    assert torch.equal(w[1], x[0, :, :, 4:8]) and torch.equal(w[2], x[1, :, :, :4])
    assert features.cut_windows(x, 16).shape == x.shape
    assert torch.equal(features.resample_mels(x, 3), x)
    ramp = torch.from_numpy(((np.arange(32) + 1) / 33)[None, None, :, None].repeat(5, -1)).float()
    r = features.resample_mels(ramp, 64)
    assert r.shape == (1, 1, 64, 5)
    target = torch.from_numpy((np.arange(64) + 1) / 65).float()
    inside = (target >= 1 / 33) & (target <= 32 / 33)
    assert torch.allclose(r[0, 0, inside, 0], target[inside], atol=1e-6)


def test_audio_patches_on_the_grid(smoke):
    cfg = FeatureConfig()
    tr = features.load_patches(smoke, "train", cfg)
    clip = smoke.split("train")[0]
    y, sr = smoke.audio(clip)
    x = features.audio_patches(y, sr, cfg, tr.normalizer)
    assert x.shape[1:] == (1, cfg.n_mels, cfg.frames) and x.dtype == torch.float32
    first = tr.x[[i for i, c in enumerate(tr.clip_ids) if c == clip.id][0]]
    assert torch.allclose(x[0], first)  # the first patch of the clip, as load_patches cut it
    assert len(x) == features.clip_mel_db(y, sr, cfg).shape[1] // cfg.frames


def test_normalizer_round_trip_and_clipping():
    n = features.Normalizer(top_db=20.0, range_db=80.0)
    db = np.array([-60.0, -20.0, 20.0, 50.0, -100.0])
    x = n.forward(db)
    np.testing.assert_allclose(x, [-1.0, 0.0, 1.0, 1.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(n.inverse(x[:3]), db[:3], atol=1e-4)
    t = n.forward(torch.tensor(db))
    assert torch.allclose(t, torch.tensor(x, dtype=t.dtype), atol=1e-6)


def test_load_patches_shapes_labels_and_cache(smoke):
    cfg = FeatureConfig()
    tr = features.load_patches(smoke, "train", cfg)
    assert tr.x.shape[1:] == (1, cfg.n_mels, cfg.frames)
    assert float(tr.x.min()) >= -1 and float(tr.x.max()) <= 1
    assert set(tr.labels.tolist()) <= set(range(len(tr.maqamat)))
    te = features.load_patches(smoke, "test", cfg, tr.normalizer)
    assert te.normalizer == tr.normalizer
    again = features.load_patches(smoke, "train", cfg)  # from the cache: identical
    assert torch.equal(again.x, tr.x) and again.clip_ids == tr.clip_ids
    b = tr.balanced(8, seed=1)
    assert len(b) == 8 and len(set(b.labels.tolist())) == min(8, len(set(tr.labels.tolist())))
    assert tr.frames_bank(max_frames=100).shape == (cfg.n_mels, 100)


def test_split_without_patches_is_a_config_error(smoke):
    with pytest.raises(ConfigError, match="no 4096-frame patch"):
        features.load_patches(smoke, "train", FeatureConfig(frames=4096))


def test_to_audio_keeps_the_pitch(smoke):
    """A 220 Hz tone through log-mel patch -> inverse mel -> Griffin-Lim is still at 220 Hz."""
    cfg = FeatureConfig()
    sr = 22050
    t = np.arange(int(1.6 * sr)) / sr
    y = (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    M = features.clip_mel_db(y, sr, cfg)[:, : cfg.frames]
    n = features.fit_normalizer(M, cfg.dynamic_range_db)
    ya = features.to_audio(n.forward(M), n, cfg, sr, n_iter=16)
    assert ya.shape == ((cfg.frames - 1) * cfg.hop_length,) and np.abs(ya).max() <= 0.9 + 1e-6
    spec = np.abs(np.fft.rfft(ya * np.hanning(len(ya))))
    f_peak = np.argmax(spec) * sr / len(ya)
    assert abs(1200 * np.log2(f_peak / 220.0)) < 60


def test_stitch_drops_the_overlap():
    P = torch.arange(2 * 2 * 4, dtype=torch.float32).reshape(2, 1, 2, 4)
    out = stitch(P, overlap=1)
    assert out.shape == (2, 7)
    np.testing.assert_array_equal(out[:, 4:], P[1, 0, :, 1:].numpy())
