"""Tests of the Chapter 5 helpers (maqamgen.recipes.ch05_scaling): receptive field, padding, profiles."""

import math

import numpy as np
import pytest
import torch

from maqamgen import diffusion
from maqamgen.recipes import ch05_scaling as scaling
from maqamgen.errors import ConfigError
from maqamgen.nets import unet


@pytest.mark.parametrize("over, H", [
    ({}, 8),  # the tiny preset: 2 levels, 1 residual block
    ({"widths": (8, 8, 8), "n_res_blocks": 2, "norm_groups": 4}, 8),  # 3 levels, 2 blocks
])
def test_receptive_field_matches_gradients(over, H):
    torch.manual_seed(0)
    cfg = unet.unet_config("tiny", **over)
    rf = scaling.receptive_field(cfg)
    assert not rf["global"] and rf["period"] == cfg.multiple
    net = unet.UNet(cfg)
    W = 4 * rf["width"] + 4 * cfg.multiple
    for k in range(rf["period"]):
        p = 2 * rf["width"] + k  # far from both edges: the infinite-line field is measured
        lo, hi, g = scaling.empirical_receptive_field(net, H, W, p)
        back, ahead = rf["offsets"][p % rf["period"]]
        assert (p - lo, hi - p) == (back, ahead)
        assert g.shape == (W,)
    widths = [a + b + 1 for a, b in rf["offsets"]]
    assert rf["width"] == max(widths) and rf["min_width"] == min(widths)


def test_receptive_field_tiny_value_and_height_axis():
    cfg = unet.unet_config("tiny")
    rf = scaling.receptive_field(cfg)
    assert rf["width"] == 61  # 3 + 4 + 2 + 8 + 16 (mid) + 16 + 3 + 8 + 2, measured below too
    net = unet.UNet(cfg)
    lo, hi, _ = scaling.empirical_receptive_field(net, 128, 8, 64, axis=-2)
    assert (64 - lo, hi - 64) == tuple(rf["offsets"][0])


def test_groupnorm_reaches_everything_and_attention_is_global():
    net = unet.UNet(unet.unet_config("tiny"))
    lo, hi, _ = scaling.empirical_receptive_field(net, 8, 160, 80, drop_norm=False)
    assert (lo, hi) == (0, 159)
    rf = scaling.receptive_field(unet.unet_config("small"))
    assert rf["global"] and math.isinf(rf["width"])
    assert not scaling.edge_blind(rf, 512).any()


def test_edge_blind():
    rf = scaling.receptive_field(unet.unet_config("tiny"))
    assert not scaling.edge_blind(rf, 32).any()
    b = scaling.edge_blind(rf, 512)
    p = np.arange(512)
    offs = np.array(rf["offsets"])[p % rf["period"]]
    assert np.array_equal(b, (p >= offs[:, 0]) & (p + offs[:, 1] <= 511))
    assert not b[:30].any() and not b[-29:].any() and b[31:480].all()


def test_circular_padding_is_shift_equivariant():
    torch.manual_seed(0)
    net = unet.UNet(unet.unet_config("tiny", n_classes=2)).eval()
    circ = scaling.with_padding(net, "circular")
    assert net.conv_in.padding_mode == "zeros" and circ.conv_in.padding_mode == "circular"
    x = torch.randn(1, 1, 8, 32)
    t = torch.tensor([100])
    with torch.no_grad():
        a = torch.roll(circ(x, t, torch.tensor([1])), 6, dims=-1)
        b = circ(torch.roll(x, 6, dims=-1), t, torch.tensor([1]))
        c = torch.roll(net(x, t, torch.tensor([1])), 6, dims=-1)
        d = net(torch.roll(x, 6, dims=-1), t, torch.tensor([1]))
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(c, d, atol=1e-3)  # zero padding tells the edges apart


def test_denoising_error_profile_and_heldout_loss():
    class Zero(torch.nn.Module):
        def forward(self, x, t, cond=None):
            return torch.zeros_like(x)

    sched = diffusion.make_schedule("cosine", 100)
    x0 = torch.zeros(64, 1, 4, 16)
    E = scaling.denoising_error_profile(Zero(), x0, np.zeros(64, int), sched, [10, 50], seed=0)
    assert E.shape == (2, 16)
    assert np.allclose(E[0], E[1]) and abs(E.mean() - 1.0) < 0.1  # E[eps^2] = 1 for every t
    assert abs(scaling.heldout_loss(Zero(), x0, np.zeros(64, int), sched, n_t=3) - E.mean()) < 1e-9


def test_profiles_on_constructed_cases():
    rng = np.random.default_rng(0)
    motif = rng.normal(size=(16, 8))
    loop = np.tile(motif, (1, 8))  # period 8
    noise = rng.normal(size=(16, 64))
    assert scaling.repetition_profile(loop).min() > 0.99
    assert scaling.repetition_profile(noise).mean() < 0.8
    mixed = np.concatenate([noise[:, :24], loop[:, :24], noise[:, 40:]], axis=1)
    r = scaling.thirds(scaling.repetition_profile(mixed, max_lag=12))
    assert r["middle"] > r["first"] and r["middle"] > r["last"] and r["ratio"] > 1

    bank = rng.normal(size=(16, 200))
    assert np.allclose(scaling.frame_profile(bank[None, None, :, :50], bank), 0.0, atol=1e-6)
    far = scaling.frame_profile(bank[None, :, :50] + 10.0, bank)
    assert far.shape == (50,) and far.min() > 5

    # real sequences alike at the ends, different in the middle, of different lengths
    seqs = []
    for i in range(6):
        T = 90 + 9 * i
        s = np.zeros((4, T))
        s[:, T // 3:2 * T // 3] = rng.normal(size=(4, 2 * T // 3 - T // 3))
        seqs.append(s)
    sp = scaling.position_spread(seqs, n_bins=9)
    assert sp.shape == (9,)
    assert sp[0] < 1e-12 and sp[-1] < 1e-12 and sp[4] > 0.05
    t = scaling.thirds([1, 1, 1, 3, 3, 3, 1, 1, 1])
    assert t["middle"] == 3 and t["outer"] == 1 and t["ratio"] == 3


def test_windows_resample_and_budget():
    x = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 1, 3, 10)
    w = scaling.windows(x, 4)
    assert w.shape == (4, 1, 3, 4)
    assert torch.equal(w[1], x[0, :, :, 4:8]) and torch.equal(w[2], x[1, :, :, :4])
    assert scaling.windows(x, 16).shape == x.shape
    assert scaling.resample_mels(x, 3) is x or torch.equal(scaling.resample_mels(x, 3), x)
    ramp = torch.from_numpy(((np.arange(32) + 1) / 33)[None, None, :, None].repeat(5, -1)).float()
    r = scaling.resample_mels(ramp, 64)
    assert r.shape == (1, 1, 64, 5)
    target = torch.from_numpy((np.arange(64) + 1) / 65).float()
    inside = (target >= 1 / 33) & (target <= 32 / 33)
    assert torch.allclose(r[0, 0, inside, 0], target[inside], atol=1e-6)
    assert scaling.batch_for((64, 512), (64, 64), 8, "pixels") == 1
    assert scaling.batch_for((64, 128), (64, 64), 8, "pixels") == 4
    assert scaling.batch_for((64, 512), (64, 64), 8, "patches") == 8
    with pytest.raises(ConfigError):
        scaling.batch_for((64, 64), (64, 64), 8, "flops")
