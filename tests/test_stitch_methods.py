"""Stitching of any length from fixed-width windows (Chapter 6): every method of
:func:`maqamgen.diffusion.stitch.generate_stitched`, on dummy denoisers, and
:func:`maqamgen.metrics.overlap_hf_ratio`."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from maqamgen import diffusion, metrics
from maqamgen.diffusion import stitch
from maqamgen.errors import ConfigError

C, H, W = 2, 3, 16
STEPS = 4
SCHEDULE = diffusion.make_schedule("linear", T=100)


def _smooth(x, k=5):
    """Moving average along time (last axis), replicate padding: translation-equivariant."""
    B, c, h, w = x.shape
    y = F.pad(x.reshape(B, c * h, w), (k // 2, k // 2), mode="replicate")
    return F.avg_pool1d(y, k, stride=1).reshape(B, c, h, w)


def _label_shift(cond, x):
    """0.1 * label per sample (the null label -1 and no label give a different output)."""
    lab = cond.get("label") if isinstance(cond, dict) else cond
    if lab is None or lab.is_floating_point():
        return 0.0
    return 0.1 * lab.to(x.dtype).reshape(-1, 1, 1, 1)


class SmoothDenoiser(torch.nn.Module):
    """x0 target: ``x0_hat = smooth(x_t)`` (depends on the window's noise), overridden by
    ``known`` where ``mask`` is 1 when the condition carries them. Records its conditions."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, t, cond=None):
        self.calls.append(cond)
        x0 = _smooth(x) + _label_shift(cond, x)
        if isinstance(cond, dict) and "known" in cond:
            m = cond["mask"].to(x.dtype)
            x0 = m * cond["known"] + (1 - m) * x0
        return x0


class FieldDenoiser(torch.nn.Module):
    """eps target whose ``x0_hat`` is a fixed field of the window's own frames ``f(c, h, i)``."""

    def __init__(self, field):
        super().__init__()
        self.field = field

    def forward(self, x, t, cond=None):
        ab = SCHEDULE.alpha_bar[t].to(x.dtype).reshape(-1, 1, 1, 1)
        return (x - ab.sqrt() * self.field) / (1 - ab).sqrt()


def _periodic_field(n, period=12):
    i = torch.arange(n, dtype=torch.float32)
    return (torch.cos(2 * math.pi * i / period) + 0.3 * torch.arange(C * H).reshape(C, H, 1)
            ).reshape(1, C, H, n)


def _wm(model=None, inpainting=True, target="x0"):
    return stitch.WindowModel(model or SmoothDenoiser(), SCHEDULE, (C, H, W), target, inpainting)


@pytest.mark.parametrize("method", stitch.STITCH_METHODS)
@pytest.mark.parametrize("n_frames", [5, 16, 23, 50])
def test_every_method_gives_the_asked_length(method, n_frames):
    out = stitch.generate_stitched(_wm(), n_frames, method, cond=torch.tensor([1]), steps=STEPS)
    assert out.x.shape == (C, H, n_frames) and torch.isfinite(out.x).all()
    assert out.overlap_frames.shape == (n_frames,) and out.overlap_frames.dtype == bool
    assert all(0 < s < n_frames for s in out.seams)
    assert out.windows[0][0] == 0 and out.windows[-1][1] == n_frames
    assert all(0 <= a < b <= n_frames and b - a <= W for a, b in out.windows)
    assert out.seconds >= 0 and out.patches.shape[1:] == (C, H, W)


@pytest.mark.parametrize("method", stitch.STITCH_METHODS)
def test_same_seed_same_piece_other_seed_another(method):
    kw = dict(cond={"label": torch.tensor([2])}, steps=STEPS, eta=0.5)
    a = stitch.generate_stitched(_wm(), 37, method, seed=3, **kw).x
    b = stitch.generate_stitched(_wm(), 37, method, seed=3, **kw).x
    c = stitch.generate_stitched(_wm(), 37, method, seed=4, **kw).x
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_concat_seams_at_multiples_of_the_width_and_no_overlap():
    out = stitch.generate_stitched(_wm(), 3 * W + 5, "concat", steps=STEPS)
    assert out.seams == [W, 2 * W, 3 * W]
    assert not out.overlap_frames.any()
    assert out.windows == [(0, W), (W, 2 * W), (2 * W, 3 * W), (3 * W, 3 * W + 5)]
    assert torch.equal(out.x, torch.cat(list(out.patches), -1)[..., :3 * W + 5])


@pytest.mark.parametrize("method", ["repaint", "continue"])
def test_outpainting_keeps_the_previous_tail_exactly(method):
    ov = 5
    out = stitch.generate_stitched(_wm(), 49, method, overlap=ov, steps=STEPS, n_resample=2,
                                   jump_length=2)
    P = out.patches
    assert len(P) == len(out.windows) == 4  # starts 0, 11, 22, 33
    for k in range(1, len(P)):
        assert torch.equal(P[k][..., :ov], P[k - 1][..., W - ov:])
    for (a, b), p in zip(out.windows, P):
        assert torch.equal(out.x[..., a:b], p[..., :b - a])
    assert out.seams == [11 + ov, 22 + ov, 33 + ov]
    expected = np.zeros(49, bool)
    for a, _ in out.windows[1:]:
        expected[a:a + ov] = True
    assert np.array_equal(out.overlap_frames, expected)


def test_continue_gives_the_model_known_and_mask():
    model = SmoothDenoiser()
    stitch.generate_stitched(_wm(model), 2 * W, "continue", cond=torch.tensor([1]), overlap=4,
                             steps=STEPS)
    masked = [c for c in model.calls if isinstance(c, dict) and "mask" in c]
    assert masked, "continue never passed known/mask"
    c = masked[0]
    # the conditional and the null pass both see the context (shared batch 1, or repeated)
    assert c["known"].shape[1:] == (C, H, W) and c["mask"].shape[1:] == (1, 1, W)
    assert c["mask"][..., :4].eq(1).all() and c["mask"][..., 4:].eq(0).all()
    assert torch.equal(c["label"], torch.tensor([1, diffusion.NULL_LABEL]))


def test_continue_needs_an_inpainting_model():
    with pytest.raises(ConfigError, match="inpainting"):
        stitch.generate_stitched(_wm(inpainting=False), 40, "continue")


def test_crossfade_weights_sum_to_one_and_blend_the_windows():
    for ov in (1, 4, 7):
        w_out, w_in = stitch.crossfade_weights(ov)
        assert torch.allclose(w_out + w_in, torch.ones(ov))
        assert (w_in > 0).all() and (w_in < 1).all() and (torch.diff(w_in) > 0).all()
    starts = stitch.window_starts(52, W, 4)
    assert starts == [0, 12, 24, 36]
    env = stitch.crossfade_envelopes(4, W, 4)
    cover = torch.zeros(52)
    for k, s in enumerate(starts):
        cover[s:s + W] += env[k]
    assert torch.allclose(cover, torch.ones(52))
    ov = 4
    out = stitch.generate_stitched(_wm(), 40, "crossfade", overlap=ov, steps=STEPS)
    P, (w_out, w_in) = out.patches, stitch.crossfade_weights(ov)
    s = out.windows[1][0]
    assert torch.allclose(out.x[..., s:s + ov], w_out * P[0][..., W - ov:] + w_in * P[1][..., :ov])
    assert torch.equal(out.x[..., ov:s], P[0][..., ov:s])
    assert out.seams == [12 + ov // 2, 24 + ov // 2] and out.overlap_frames.sum() == 2 * ov


def test_multidiffusion_reproduces_a_smooth_field_across_windows():
    # windows of W = 16 with overlap 4 start at 0, 12, 24 on 40 frames: a field of period 12
    # is the same function of each window's own frames, so the piece must be that field.
    wm = _wm(FieldDenoiser(_periodic_field(W)), target="eps")
    out = stitch.generate_stitched(wm, 40, "multidiffusion", overlap=4, steps=STEPS,
                                   guidance_scale=1.0)
    assert [a for a, _ in out.windows] == [0, 12, 24]
    assert torch.allclose(out.x, _periodic_field(40)[0], atol=1e-4)
    # a field constant in time, on a length whose last window is shifted: still reproduced
    flat = torch.linspace(-1, 1, C * H).reshape(1, C, H, 1).expand(1, C, H, W)
    out = stitch.generate_stitched(_wm(FieldDenoiser(flat), target="eps"), 45, "multidiffusion",
                                   steps=STEPS)
    assert torch.allclose(out.x, flat[0, ..., :1].expand(C, H, 45), atol=1e-4)


def test_multidiffusion_has_no_seam_where_concat_has_one():
    n = 96
    ratios = {}
    for method in ("concat", "multidiffusion"):
        out = stitch.generate_stitched(_wm(), n, method, steps=STEPS, seed=1)
        S = out.x.reshape(C * H, n).numpy()
        ratios[method] = metrics.seam_jump_ratio(S, out.seams)
    assert ratios["concat"] > 2.0
    assert ratios["multidiffusion"] < 1.5
    assert ratios["multidiffusion"] < ratios["concat"] / 2


def test_multidiffusion_overlap_frames_and_seams():
    out = stitch.generate_stitched(_wm(), 45, "multidiffusion", overlap=4, steps=STEPS)
    starts = [a for a, _ in out.windows]
    assert starts == [0, 12, 24, 29]  # the last window ends at frame 45
    cover = stitch.window_coverage(starts, W, 45)
    assert np.array_equal(out.overlap_frames, cover > 1)
    assert out.seams == [(12 + 16) // 2, (24 + 28) // 2, (29 + 40) // 2]


@pytest.mark.parametrize("kwargs,match", [
    (dict(method="zigzag"), "known: concat, crossfade, repaint, continue, multidiffusion"),
    (dict(method="crossfade", overlap=0), r"\[1, 16\)"),
    (dict(method="multidiffusion", overlap=W), r"\[1, 16\)"),
    (dict(method="repaint", overlap=2.5), r"\[1, 16\)"),
    (dict(method="concat", overlap=3), "without overlap"),
    (dict(method="concat", n_frames=0), "positive int"),
    (dict(method="concat", n_frames=12.0), "positive int"),
    (dict(method="concat", cond=torch.tensor([1, 2])), "batch 1"),
    (dict(method="crossfade", cond={"label": torch.tensor([1, 2])}), "batch 1"),
    (dict(method="concat", cond="hijaz"), "cond must be"),
    (dict(method="repaint", n_resample=0), "n_resample"),
])
def test_bad_arguments_say_what_is_allowed(kwargs, match):
    kw = dict(n_frames=40, steps=STEPS) | kwargs
    with pytest.raises(ConfigError, match=match):
        stitch.generate_stitched(_wm(), **kw)


def test_window_model_checks_its_shape_and_target():
    with pytest.raises(ConfigError, match="C, H, W"):
        stitch.WindowModel(SmoothDenoiser(), SCHEDULE, (3, W))
    with pytest.raises(ConfigError, match="target"):
        stitch.WindowModel(SmoothDenoiser(), SCHEDULE, (C, H, W), target="score")


def test_overlap_hf_ratio():
    rng = np.random.default_rng(0)
    P = np.exp(rng.normal(size=(8, 400))) * np.linspace(2.0, 0.5, 8)[:, None]
    ov = np.zeros(400, bool)
    ov[::5] = True
    stationary = np.tile(np.linspace(3.0, 1.0, 8)[:, None], (1, 400))
    assert metrics.overlap_hf_ratio(stationary, ov) == pytest.approx(1.0)
    assert metrics.overlap_hf_ratio(P, ov) == pytest.approx(1.0, abs=0.25)
    damped = P.copy()
    damped[4:, ov] *= 0.25  # top half of the rows attenuated 6 dB in the overlap frames
    assert metrics.overlap_hf_ratio(damped, ov) < 0.5
    damped_low = P.copy()
    damped_low[:4, ov] *= 0.25  # low rows only: the measure does not see it
    assert metrics.overlap_hf_ratio(damped_low, ov) == pytest.approx(metrics.overlap_hf_ratio(P, ov))
    assert math.isnan(metrics.overlap_hf_ratio(np.zeros((8, 400)), ov))
    for frames in (np.zeros(400, bool), np.ones(400, bool)):
        with pytest.raises(ConfigError, match="overlap"):
            metrics.overlap_hf_ratio(P, frames)
    with pytest.raises(ConfigError, match="non-negative"):
        metrics.overlap_hf_ratio(-P, ov)
    with pytest.raises(ConfigError, match="hf_fraction"):
        metrics.overlap_hf_ratio(P, ov, hf_fraction=0.0)
    with pytest.raises(ConfigError, match=r"\(F, N\)"):
        metrics.overlap_hf_ratio(P, ov[:-1])


def test_overlap_hf_ratio_takes_a_stitched_piece():
    # end to end: Stitched.overlap_frames is what the measure takes
    out = stitch.generate_stitched(_wm(), 96, "multidiffusion", steps=STEPS, seed=2)
    power = out.x.reshape(C * H, 96).numpy() ** 2
    assert out.overlap_frames.any() and not out.overlap_frames.all()
    assert np.isfinite(metrics.overlap_hf_ratio(power, out.overlap_frames))


# ------------------------------------------------------------------ per-window conditions (Ch. 8)

N_WC = 45  # frames of the pieces below: several windows for every method


def _piece_labels(n):
    """Per-frame ornament labels of a piece (and past its end): frame i gets i % 5."""
    return (torch.arange(n + W) % 5)[None]


def _window_cond(labels, total_s=9.0):
    def window_cond(start, end):
        return {"ornaments": labels[:, start:end], "start_s": torch.tensor([float(start)]),
                "total_s": torch.tensor([total_s])}
    return window_cond


@pytest.mark.parametrize("method", stitch.STITCH_METHODS)
def test_window_cond_gives_each_window_its_own_slice(method):
    model = SmoothDenoiser()
    labels = _piece_labels(N_WC)
    out = stitch.generate_stitched(_wm(model), N_WC, method, cond={"label": torch.tensor([1])},
                                   overlap=None if method == "concat" else 5,
                                   steps=STEPS, window_cond=_window_cond(labels))
    seen = set()
    for c in model.calls:
        B = c["label"].shape[0] // 2  # the conditional half, then guidance's null half
        assert torch.equal(c["label"], torch.tensor([1] * B + [diffusion.NULL_LABEL] * B))
        for j in range(B):
            s = int(c["start_s"][j])
            assert torch.equal(c["ornaments"][j], labels[0, s:s + W]) and float(c["total_s"][j]) == 9.0
            seen.add(s)
        assert c["ornaments"][B:].eq(diffusion.NULL_LABEL).all()  # the null condition: unknown
        assert c["start_s"][B:].eq(0).all() and c["total_s"][B:].eq(0).all()  # and no position
    assert seen == {a for a, _ in out.windows}
    if method == "multidiffusion":  # the windows go through the network as one batch
        assert all(c["label"].shape[0] == 2 * len(out.windows) for c in model.calls)


@pytest.mark.parametrize("method", stitch.STITCH_METHODS)
def test_window_cond_none_or_empty_changes_nothing(method):
    kw = dict(cond=torch.tensor([2]), steps=STEPS, eta=0.5, seed=1)
    a = stitch.generate_stitched(_wm(), 37, method, **kw).x
    b = stitch.generate_stitched(_wm(), 37, method, window_cond=None, **kw).x
    c = stitch.generate_stitched(_wm(), 37, method, window_cond=lambda s, e: {}, **kw).x
    assert torch.equal(a, b) and torch.equal(a, c)


def test_window_cond_reaches_the_model_without_a_piece_condition():
    model = SmoothDenoiser()
    labels = _piece_labels(30)
    stitch.generate_stitched(_wm(model), 30, "continue", overlap=4, steps=STEPS, guidance_scale=1.0,
                             window_cond=_window_cond(labels))
    assert all(set(c) == {"ornaments", "start_s", "total_s", "known", "mask"} for c in model.calls[STEPS:])
    assert torch.equal(model.calls[-1]["ornaments"], labels[:, 24:24 + W])  # the third window starts at 2 (W - 4)


@pytest.mark.parametrize("bad, match", [
    (lambda s, e: [s, e], "window_cond must return a dict"),
    (lambda s, e: {"ornaments": torch.zeros(2, e - s, dtype=torch.long)}, "batch 1"),
    (lambda s, e: {"start_s": torch.tensor([float(s)])} if s == 0 else {}, "same keys"),
])
def test_window_cond_bad_returns_say_what_is_wrong(bad, match):
    with pytest.raises(ConfigError, match=match):
        stitch.generate_stitched(_wm(), 40, "multidiffusion", overlap=4, steps=STEPS, window_cond=bad)
