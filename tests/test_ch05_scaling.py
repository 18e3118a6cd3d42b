"""Tests of the Chapter 5 helpers (maqamgen.recipes.ch05_scaling): receptive field, padding, profiles."""

import math

import numpy as np
import pytest
import torch

from maqamgen import diffusion, metrics
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
    assert metrics.repetition_profile(loop).min() > 0.99
    assert metrics.repetition_profile(noise).mean() < 0.8
    mixed = np.concatenate([noise[:, :24], loop[:, :24], noise[:, 40:]], axis=1)
    r = metrics.thirds(metrics.repetition_profile(mixed, max_lag=12))
    assert r["middle"] > r["first"] and r["middle"] > r["last"] and r["ratio"] > 1
    # loop_score and repetition_profile read the same self-similarity matrix
    C = metrics.self_similarity(mixed)
    assert np.allclose(np.diag(C), 1.0) and np.allclose(C, C.T)
    X = mixed - mixed.mean(axis=1, keepdims=True)
    X = X / np.linalg.norm(X, axis=0, keepdims=True)
    T = X.shape[1]
    best = max([0.0] + [float(np.mean(np.sum(X[:, :-L] * X[:, L:], axis=0))) for L in range(4, T // 2 + 1)])
    assert metrics.loop_score(mixed) == pytest.approx(best)
    assert metrics.loop_score(loop) > 0.99 and metrics.loop_score(noise) < 0.5

    bank = rng.normal(size=(16, 200))
    assert np.allclose(metrics.frame_distance_profile(bank[None, None, :, :50], bank), 0.0, atol=1e-6)
    far = metrics.frame_distance_profile(torch.from_numpy(bank[None, :, :50] + 10.0), bank)
    assert far.shape == (50,) and far.min() > 5

    # real sequences alike at the ends, different in the middle, of different lengths
    seqs = []
    for i in range(6):
        T = 90 + 9 * i
        s = np.zeros((4, T))
        s[:, T // 3:2 * T // 3] = rng.normal(size=(4, 2 * T // 3 - T // 3))
        seqs.append(s)
    sp = metrics.position_spread(seqs, n_bins=9)
    assert sp.shape == (9,)
    assert sp[0] < 1e-12 and sp[-1] < 1e-12 and sp[4] > 0.05
    # within groups: two groups, each of identical sequences -> no spread at all
    same = [seqs[0], seqs[0], seqs[1], seqs[1]]
    assert np.allclose(metrics.position_spread(same, 9, groups=["a", "a", "b", "b"]), 0.0)
    assert metrics.position_spread(same, 9, groups=["a", "b", "c", "d"]).max() > 0  # no pair: all pooled
    # the spread of the profiles is the spread of the sequences, groups or not
    profs = np.stack([metrics.position_profile(q, 9) for q in seqs])
    groups = [0, 0, 1, 1, 1, 2]
    assert np.array_equal(metrics.profile_spread(profs), sp)
    assert np.array_equal(metrics.profile_spread(profs, groups),
                          metrics.position_spread(seqs, 9, groups=groups))
    t = metrics.thirds([1, 1, 1, 3, 3, 3, 1, 1, 1])
    assert t["middle"] == 3 and t["outer"] == 1 and t["ratio"] == 3
    prof = metrics.position_profile(np.arange(20.0).reshape(2, 10), 5)
    assert prof.shape == (2, 5) and np.allclose(prof[1], [10.5, 12.5, 14.5, 16.5, 18.5])
    assert np.isnan(metrics.position_profile(np.arange(3.0), 5)).sum() == 2


def test_seam_jump_ratio_is_one_definition():
    rng = np.random.default_rng(1)
    S = np.cumsum(rng.normal(size=(8, 120)), axis=1) * 0.1 + rng.normal(size=(8, 120))
    seams = [30, 60, 90]
    r = metrics.seam_jump_ratio(S, seams)
    assert 0.5 < r < 2.0  # no seam there: frames like any other
    pieces = [rng.normal(loc=5.0 * k, size=(8, 30)) for k in range(4)]
    spliced = np.concatenate(pieces, axis=1)
    assert metrics.seam_jump_ratio(spliced, seams) > 3
    sm = metrics.seam_metrics(spliced, seams)
    assert sm["seam_jump_ratio"] == metrics.seam_jump_ratio(spliced, seams)
    assert sm["seam_jump_ratio"] == pytest.approx(sm["seam_jump"] / sm["within_jump"])
    assert sm["step_ratio"] > 3 and set(sm) == {"seam_jump", "within_jump", "seam_jump_ratio",
                                                "seam_step", "within_step", "step_ratio"}
    assert metrics.seam_jump_ratio(spliced, [0, 30, 500]) == metrics.seam_jump_ratio(spliced, [30])
    with pytest.raises(ValueError):
        metrics.seam_jump_ratio(spliced, [0, 120])


class _StubClassifier:
    def embed(self, x):
        return x.float().mean(dim=(1, 2)).numpy().astype(np.float64)  # (N, W): any embedding

    def predict(self, x):
        return np.zeros(len(x), dtype=int)


def test_judge_moves_patches_onto_the_grid_and_labels_every_window():
    from maqamgen import evaluation
    from maqamgen.config import FeatureConfig

    rng = np.random.default_rng(2)
    grid = FeatureConfig(n_mels=8, frames=16)
    ref = type("Ref", (), {"config": grid, "sr": 22050, "maqamat": ("a", "b")})()
    ref_x = torch.from_numpy(rng.normal(size=(6, 1, 8, 16)).astype(np.float32))
    ev = evaluation.Evaluator(classifier=_StubClassifier(), ref=ref, ref_emb=_StubClassifier().embed(ref_x),
                              ref_pcd=np.zeros(0), bank=rng.normal(size=(8, 300)))
    x = torch.from_numpy(rng.normal(size=(3, 1, 4, 48)).astype(np.float32))  # 4 bands, 3 windows each
    j = scaling.judge(ev, x, [0, 1, 0], pitch=False, n_boot=20)
    assert j["n"] == 9 and j["n_samples"] == 3
    assert j["clf_acc"] == pytest.approx(6 / 9)  # label 0 for the windows of patches 0 and 2
    assert j["fd_lo"] <= j["fd_hi"] and j["hallucination_index_lo"] <= j["hallucination_index_hi"]
    assert j["novelty_ratio_lo"] <= j["novelty_ratio_hi"] and j["loop_excess_lo"] <= j["loop_excess_hi"]
    assert "pcd_js" not in j


def test_model_record_follows_the_schema():
    from types import SimpleNamespace
    from maqamgen import results

    judged = {"n": 8, "n_samples": 4, "hallucination_index": 0.1, "hallucination_index_lo": 0.0,
              "hallucination_index_hi": 0.2}
    for k in ("fd", "clf_acc", "nn_dist", "pcd_js", "est_acc"):
        judged.update({k: 0.5, f"{k}_lo": 0.4, f"{k}_hi": 0.6})
    trained = SimpleNamespace(n_params=1234, seconds=12.0)
    core = scaling.model_core(judged, trained, sample_s=2.0, audio_s=8.0, seams=[1.1, 1.3], n_boot=50)
    results.validate({"name": "unet_scaling_64x64", "kind": "model", "metrics": {"core": core}})
    assert core["params"] == 1234 and core["gen_s_per_audio_s"] == 0.25
    assert core["seam_jump_ratio"]["value"] == pytest.approx(1.2) and core["hallucination_index"]["n"] == 4
    assert not any(isinstance(v, dict) and "na" in v for v in core.values())
    whole = scaling.model_core(judged, trained, sample_s=2.0, audio_s=8.0)
    results.validate({"name": "x", "kind": "model", "metrics": {"core": whole}})
    assert "na" in whole["seam_jump_ratio"]


def test_budget():
    assert scaling.batch_for((64, 512), (64, 64), 8, "pixels") == 1
    assert scaling.batch_for((64, 128), (64, 64), 8, "pixels") == 4
    assert scaling.batch_for((64, 512), (64, 64), 8, "patches") == 8
    with pytest.raises(ConfigError):
        scaling.batch_for((64, 64), (64, 64), 8, "flops")


# ----------------------------------------------------------------------------- intervals and verdicts


class _Zero(torch.nn.Module):
    def forward(self, x, t, cond=None):
        return torch.zeros_like(x)


def test_heldout_loss_interval_is_the_heldout_loss_with_bounds():
    sched = diffusion.make_schedule("cosine", 100)
    x0 = torch.zeros(24, 1, 4, 16)
    labels = np.zeros(24, int)
    E = scaling.denoising_error_profile(_Zero(), x0, labels, sched, [10, 50], seed=0, per_sample=True)
    assert E.shape == (2, 24, 16)
    assert np.allclose(E.mean(axis=1), scaling.denoising_error_profile(_Zero(), x0, labels, sched, [10, 50], seed=0))
    v, lo, hi = scaling.heldout_loss_interval(_Zero(), x0, labels, sched, n_t=3, seed=0, n_boot=200)
    assert v == pytest.approx(scaling.heldout_loss(_Zero(), x0, labels, sched, n_t=3, seed=0))
    assert lo <= v <= hi and hi - lo < 0.5
    assert (v, lo, hi) == scaling.heldout_loss_interval(_Zero(), x0, labels, sched, n_t=3, seed=0, n_boot=200)


def test_thirds_and_spread_intervals():
    rng = np.random.default_rng(3)
    P = 1.0 + 0.1 * rng.normal(size=(20, 30))
    P[:, 10:20] += 1.0  # the middle third twice the ends
    t = scaling.thirds_interval(P, n_boot=200, seed=0)
    assert t["n"] == 20 and t["ratio"] == pytest.approx(metrics.thirds(P.mean(0))["ratio"])
    for k in ("first", "middle", "last", "ratio"):
        assert t[f"{k}_lo"] <= t[f"{k}_hi"]
    assert scaling.compare(scaling.bounds(t, "ratio"), 1.0) == 1
    assert t == scaling.thirds_interval(P, n_boot=200, seed=0)
    seqs = [np.zeros((4, 60)) for _ in range(12)]
    for s in seqs:
        s[:, 20:40] = rng.normal(size=(4, 20))  # the middle varies, the ends are all alike
    sp = scaling.spread_interval(seqs, 6, groups=[i % 2 for i in range(12)], n_boot=100, seed=0)
    assert sp["n"] == 12 and sp["ratio_lo"] <= sp["ratio_hi"] and sp["first_hi"] < 1e-12
    assert sp["middle"] == pytest.approx(metrics.thirds(np.repeat(
        metrics.position_spread(seqs, 6, groups=[i % 2 for i in range(12)]), 3))["middle"])
    assert sp == scaling.spread_interval(seqs, 6, groups=[i % 2 for i in range(12)], n_boot=100, seed=0)


def test_hallucination_intervals_and_verdicts():
    rng = np.random.default_rng(4)
    bank = rng.normal(size=(8, 400))
    real = [bank[:, rng.integers(0, 400, 60)] for _ in range(8)]
    bad = []
    for _ in range(6):
        s = bank[:, rng.integers(0, 400, 60)].copy()
        s[:, 20:40] = 6.0 + rng.normal(size=(8, 20))  # a middle far from every real frame
        bad.append(s)
    r = scaling.hallucination_intervals(real, bank, n_boot=200, seed=0)
    b = scaling.hallucination_intervals(bad, bank, n_boot=200, seed=0)
    assert r["n"] == 8 and b["n"] == 6
    for d in (r, b):
        for k in scaling.HI_KEYS:
            assert d[f"{k}_lo"] <= d[k] <= d[f"{k}_hi"]
    assert b == scaling.hallucination_intervals(bad, bank, n_boot=200, seed=0)
    v = scaling.hallucination_verdict(b, r, index="index")
    assert v["appears"] and v["index"] == 1 and v["novelty_vs_1"] == 1 and v["novelty_vs_real"] == 1
    same = scaling.hallucination_verdict(r, r, index="index")
    assert not same["appears"] and same["index"] == 0 and "cannot be told" in same["verdict"]
    text = scaling.count_verdicts({"64x32": v, "64x64": same})
    assert "at 64x32" in text and "at 64x64" in text
    assert scaling.compare((0.0, 1.0), (2.0, 3.0)) == -1 and scaling.compare((0.0, 1.0), 0.5) == 0
    assert scaling.compare((1.1, 1.3), 1.0) == 1 and scaling.compare((np.nan, np.nan), 1.0) == 0


def test_too_few_samples_claim_nothing():
    v, lo, hi = scaling.sample_ci([0.3, 0.5], n_boot=50)
    assert v == pytest.approx(0.4) and np.isnan(lo) and np.isnan(hi)
    v, lo, hi = scaling.sample_ci([0.3, 0.5, 0.4], n_boot=50)
    assert lo <= hi
    rng = np.random.default_rng(5)
    bank = rng.normal(size=(8, 200))
    two = scaling.hallucination_intervals([rng.normal(6.0, 1.0, size=(8, 60)) for _ in range(2)], bank, n_boot=50)
    real = scaling.hallucination_intervals([bank[:, :60], bank[:, 60:120], bank[:, 120:180]], bank, n_boot=50)
    assert np.isnan(two["index_lo"]) and two["n"] == 2
    v = scaling.hallucination_verdict(two, real, index="index")
    assert not v["judged"] and not v["appears"] and "cannot be judged" in v["verdict"]
    assert "fewer than" in scaling.count_verdicts({"64x512": v})
    # one clip per group: the spread pools them, and so do the resamples (a real interval, not a point)
    seqs = [rng.normal(size=(4, 60)) for _ in range(8)]
    sp = scaling.spread_interval(seqs, 6, groups=list("abcdefgh"), n_boot=100, seed=0)
    assert sp["ratio_lo"] < sp["ratio_hi"]
