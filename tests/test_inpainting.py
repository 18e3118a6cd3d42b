"""Mask-conditioned inpainting (Stable Audio's inpainting training): the U-Net's context channels,
context-preserving guidance, random time masks, the region-only loss, and that it learns to continue."""

import pytest
import torch

from maqamgen import diffusion as D
from maqamgen.errors import ConfigError
from maqamgen.nets import build
from maqamgen.nets.unet import UNet, unet_config

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _inpainting_unet(seed=0, **kw):
    torch.manual_seed(seed)
    return build("unet", "tiny", in_channels=2, n_classes=3, inpainting=True, **kw)


def _prefix_mask(W=16, k=8):
    m = torch.zeros(1, 1, 1, W)
    m[..., :k] = 1
    return m


def test_inpainting_unet_shapes_and_context():
    net = _inpainting_unet()
    assert net.conv_in.in_channels == 5 and net.conv_out.out_channels == 2
    x, t = torch.randn(2, 2, 8, 16), torch.tensor([3, 40])
    known, label = torch.randn(2, 2, 8, 16), torch.tensor([0, 2])
    m = _prefix_mask()
    out = net(x, t, {"label": label, "known": known, "mask": m})
    assert out.shape == x.shape
    # (B, 1, 1, W) and (B, 1, H, W) masks give the same as a shared (1, 1, 1, W) one
    assert torch.allclose(out, net(x, t, {"label": label, "known": known, "mask": m.expand(2, 1, 1, 16)}))
    assert torch.allclose(out, net(x, t, {"label": label, "known": known, "mask": m.expand(2, 1, 8, 16)}))
    # only the known part of `known` is seen
    other = known.clone()
    other[..., 8:] = 5.0
    assert torch.allclose(out, net(x, t, {"label": label, "known": other, "mask": m}))
    assert not torch.allclose(out, net(x, t, {"label": label, "known": known + 1, "mask": m}))
    # no context (or a plain label condition) = pure generation = an all-zero mask
    gen = net(x, t, label)
    assert torch.allclose(gen, net(x, t, {"label": label}))
    assert torch.allclose(gen, net(x, t, {"label": label, "known": known, "mask": torch.zeros(1, 1, 1, 16)}))
    assert torch.allclose(gen, net(x, t, {"label": label, "known": known}))
    assert net(x, 5).shape == x.shape
    # embed ignores the context but still refuses other keys
    assert torch.equal(net.embed(t, {"label": label, "known": known, "mask": m}), net.embed(t, label))
    with pytest.raises(ConfigError, match=r"unknown condition key\(s\) \['prefix'\]"):
        net(x, t, {"label": label, "prefix": known})


def test_inpainting_bad_shapes_say_which():
    net = _inpainting_unet()
    x, t = torch.randn(2, 2, 8, 16), torch.tensor([3, 40])
    with pytest.raises(ConfigError, match=r"known data of shape \(2, 2, 8, 8\).*\(2, 2, 8, 16\)"):
        net(x, t, {"known": torch.randn(2, 2, 8, 8), "mask": _prefix_mask()})
    with pytest.raises(ConfigError, match=r"mask of shape \(1, 1, 1, 8\).*\(2, 1, 8, 16\)"):
        net(x, t, {"known": torch.randn(2, 2, 8, 16), "mask": _prefix_mask(8, 4)})
    with pytest.raises(ConfigError, match=r"mask of shape \(2, 2, 8, 16\)"):
        net(x, t, {"known": torch.randn(2, 2, 8, 16), "mask": torch.ones(2, 2, 8, 16)})
    with pytest.raises(ConfigError, match="mask without the known data"):
        net(x, t, {"mask": _prefix_mask()})
    with pytest.raises(ConfigError, match=r"expected \(B, 2, H, W\)"):
        net(torch.randn(2, 5, 8, 16), t)


def test_plain_unet_unchanged_and_refuses_context():
    torch.manual_seed(0)
    old = UNet(unet_config("tiny", in_channels=2, n_classes=3))  # built the old way
    torch.manual_seed(0)
    new = build("unet", "tiny", in_channels=2, n_classes=3, inpainting=False)
    assert [(k, v.shape) for k, v in old.state_dict().items()] == \
        [(k, v.shape) for k, v in new.state_dict().items()]  # old checkpoints load
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))
    x, t, label = torch.randn(2, 2, 8, 16), torch.tensor([3, 40]), torch.tensor([0, 1])
    assert torch.equal(old(x, t, label), new(x, t, {"label": label}))
    assert new.conv_in.in_channels == 2
    for ctx in ({"known": x, "mask": _prefix_mask()}, {"known": x}, {"mask": _prefix_mask()}):
        with pytest.raises(ConfigError, match="inpainting=False"):
            new(x, t, {"label": label, **ctx})
    # the inpainting U-Net has the same parameters except a wider conv_in
    inp = _inpainting_unet()
    shapes = {k: v.shape for k, v in inp.state_dict().items()}
    assert list(shapes) == list(new.state_dict())
    assert shapes["conv_in.weight"] == (16, 5, 3, 3)


def test_guidance_and_dropout_keep_the_context():
    known, m = torch.randn(3, 2, 8, 16), _prefix_mask()
    cond = {"label": torch.tensor([0, 1, 2]), "vec": torch.randn(3, 4), "known": known, "mask": m}
    n = D.null_cond(cond)
    assert torch.equal(n["label"], torch.full((3,), D.NULL_LABEL)) and torch.equal(n["vec"], torch.zeros(3, 4))
    assert n["known"] is known and n["mask"] is m
    dropped = D.drop_cond(cond, 1.0)
    assert torch.equal(dropped["label"], torch.full((3,), D.NULL_LABEL))
    assert dropped["known"] is known and dropped["mask"] is m
    only_ctx = {"known": known, "mask": m}
    assert D.drop_cond(only_ctx, 1.0) is only_ctx
    assert D.CONTEXT_KEYS == ("known", "mask")
    # guided batch of 2B: both halves see the same context (a batch-1 mask stays shared)
    seen = {}

    def model(x, t, c):
        seen.update(c)
        return (c["label"] != D.NULL_LABEL).to(x.dtype).reshape(-1, 1, 1, 1) * c["known"]

    x, t = torch.zeros(3, 2, 8, 16), torch.zeros(3, dtype=torch.long)
    out = D.guided_output(model, x, t, cond, 3.0)
    assert seen["known"].shape == (6, 2, 8, 16) and torch.equal(seen["known"][3:], known)
    assert seen["mask"] is m
    assert torch.allclose(out, 3.0 * known)
    assert torch.equal(D.guided_output(model, x, t, cond, 0.0), torch.zeros_like(x))
    # a per-sample mask is concatenated like any other entry
    D.guided_output(model, x, t, {**cond, "mask": m.expand(3, 1, 1, 16)}, 2.0)
    assert seen["mask"].shape == (6, 1, 1, 16)


def test_ddim_sample_with_context_on_an_inpainting_unet():
    net = _inpainting_unet()
    s = D.make_schedule("cosine", 50)
    known = torch.randn(2, 2, 8, 16)
    cond = {"label": torch.tensor([0, 2]), "known": known, "mask": _prefix_mask()}

    def sample(w):
        return D.ddim_sample(net, (2, 2, 8, 16), s, steps=4, cond=cond, guidance_scale=w,
                             generator=torch.Generator().manual_seed(0))

    a, b = sample(2.0), sample(2.0)
    assert a.shape == (2, 2, 8, 16) and torch.equal(a, b)
    plain = D.ddim_sample(net, (2, 2, 8, 16), s, steps=4, cond=cond["label"], guidance_scale=2.0,
                          generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(a, plain)  # the context changes the sample


def _kinds(masks):
    """Classify (B, 1, 1, W) masks: generate / prefix / suffix / infill."""
    m = masks[:, 0, 0]
    first, last = m[:, 0] == 1, m[:, -1] == 1
    return {"generate": (m.sum(1) == 0).float().mean().item(),
            "prefix": (first & ~last).float().mean().item(),
            "suffix": (~first & last).float().mean().item(),
            "infill": (first & last).float().mean().item()}


def test_random_time_masks_proportions_and_seed():
    W = 40
    m = D.random_time_masks(8000, W, torch.Generator().manual_seed(0))
    assert m.shape == (8000, 1, 1, W) and m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    kinds = _kinds(m)
    for name, p in {"generate": 0.25, "prefix": 0.5, "suffix": 0.1, "infill": 0.15}.items():
        assert abs(kinds[name] - p) < 0.02, (name, kinds)
    assert abs(sum(kinds.values()) - 1) < 1e-6
    row = m[:, 0, 0]
    known = row.sum(1)
    prefix = (row[:, 0] == 1) & (row[:, -1] == 0)
    # a prefix is contiguous from frame 0, k in [ceil(0.1 W), floor(0.75 W)] = [4, 30], all k seen
    assert torch.equal(row[prefix].cumprod(1).sum(1), known[prefix])
    assert known[prefix].min() == 4 and known[prefix].max() == 30
    assert abs(known[prefix].mean().item() - 17) < 0.5
    infill = (row[:, 0] == 1) & (row[:, -1] == 1)
    gap = W - known[infill]
    assert gap.min() >= 4 and gap.max() <= 30
    # the generated span of an infill is one interior stretch
    assert ((row[infill][:, 1:] - row[infill][:, :-1]).abs().sum(1) == 2).all()
    # deterministic with a seeded generator; the global RNG when none
    assert torch.equal(D.random_time_masks(64, W, torch.Generator().manual_seed(3)),
                       D.random_time_masks(64, W, torch.Generator().manual_seed(3)))
    assert not torch.equal(D.random_time_masks(64, W, torch.Generator().manual_seed(3)),
                           D.random_time_masks(64, W, torch.Generator().manual_seed(4)))
    torch.manual_seed(5)
    a = D.random_time_masks(64, W)
    torch.manual_seed(5)
    assert torch.equal(a, D.random_time_masks(64, W))
    only = D.random_time_masks(100, 16, torch.Generator().manual_seed(0), p_generate=1.0, p_prefix=0.0,
                               p_suffix=0.0)
    assert only.sum() == 0
    with pytest.raises(ConfigError, match="sum to at most 1"):
        D.random_time_masks(4, 16, p_generate=0.6, p_prefix=0.6)
    with pytest.raises(ConfigError, match="min_frac"):
        D.random_time_masks(4, 16, min_frac=0.8, max_frac=0.5)
    with pytest.raises(ConfigError, match="width >= 3"):
        D.random_time_masks(4, 2)


def test_objective_batches_and_region_loss():
    s = D.make_schedule("linear", 1000)
    x0 = torch.randn(4, 2, 8, 16)
    seen = {}

    def spy(x, t, cond=None):
        seen["cond"] = cond
        return torch.zeros_like(x)

    label, vec = torch.tensor([0, 1, 2, 0]), torch.randn(4, 3)
    D.DiffusionObjective(s)(spy, (x0, label, vec))
    assert set(seen["cond"]) == {"label", "vec"} and seen["cond"]["vec"] is vec
    D.DiffusionObjective(s)(spy, (x0, label))
    assert seen["cond"] is label
    with pytest.raises(ConfigError, match="got 4 items"):
        D.DiffusionObjective(s)(spy, (x0, label, vec, vec))

    obj = D.InpaintingObjective(s, target="x0", p_uncond=1.0)
    obj(spy, (x0, label))
    c = seen["cond"]
    assert set(c) == {"label", "known", "mask"} and c["known"] is x0 and c["mask"].shape == (4, 1, 1, 16)
    assert torch.equal(c["label"], torch.full((4,), D.NULL_LABEL))  # dropped label, context kept
    obj(spy, x0)
    assert set(seen["cond"]) == {"known", "mask"}

    # a model exact where the mask is 0 and wrong where it is 1: loss 0 in every target
    def exact_where_generated(target):
        def model(x, t, cond):
            eps = D.predict_eps_from_x0(x, t, x0, s)
            right = D.training_target(x0, eps, t, s, target)
            return right + 100.0 * cond["mask"]
        return model

    for target in D.TARGETS:
        obj = D.InpaintingObjective(s, target=target, generator=torch.Generator().manual_seed(0))
        for _ in range(3):
            assert obj(exact_where_generated(target), x0).item() < 1e-6
        ctx = {"mask": _prefix_mask()}  # the same model scored on every element: large
        assert D.diffusion_loss(exact_where_generated(target), x0, s, target, cond=ctx) > 1e3
        assert D.diffusion_loss(exact_where_generated(target), x0, s, target, cond=ctx,
                                weight=1 - ctx["mask"]) < 1e-6

    # an all-zero mask gives the plain loss; the weighted mean counts the generated region only
    zero = lambda x, t, c=None: torch.zeros_like(x)  # noqa: E731
    gen_only = D.InpaintingObjective(s, p_generate=1.0, p_prefix=0.0, p_suffix=0.0,
                                     generator=torch.Generator().manual_seed(1))
    a = gen_only(zero, x0)
    b = D.diffusion_loss(zero, x0, s, generator=_after_masks(1, 4, 16))
    assert torch.allclose(a, b)
    eps = torch.randn_like(x0)
    t = torch.full((4,), 10)
    w = torch.zeros(4, 1, 1, 16)
    w[..., 12:] = 1
    loss = D.diffusion_loss(zero, x0, s, t=t, eps=eps, weight=w)
    assert torch.allclose(loss, eps[..., 12:].pow(2).mean())
    assert D.diffusion_loss(zero, x0, s, t=t, eps=eps, weight=torch.zeros(1)) == 0
    with pytest.raises(ConfigError, match=r"loss weight of shape \(3,\)"):
        D.diffusion_loss(zero, x0, s, t=t, eps=eps, weight=torch.ones(3))


def _after_masks(seed, B, W):
    """A generator in the state InpaintingObjective leaves it in after drawing its masks."""
    g = torch.Generator().manual_seed(seed)
    D.random_time_masks(B, W, g, p_generate=1.0, p_prefix=0.0, p_suffix=0.0)
    return g


def test_continue_sample_keeps_the_known_region():
    net = _inpainting_unet()
    s = D.make_schedule("cosine", 50)
    known = torch.randn(2, 2, 8, 16)
    m = _prefix_mask(16, 6)
    kw = dict(steps=5, target="x0", cond=torch.tensor([1, 2]), guidance_scale=2.0)
    out = D.continue_sample(net, known, m, s, generator=torch.Generator().manual_seed(0), **kw)
    assert out.shape == known.shape and torch.equal(out[..., :6], known[..., :6])
    assert not torch.allclose(out[..., 6:], known[..., 6:])
    again = D.continue_sample(net, known, m, s, generator=torch.Generator().manual_seed(0), **kw)
    assert torch.equal(out, again)
    # the same as ddim_sample with the context in the condition, then the paste
    raw = D.ddim_sample(net, known.shape, s, generator=torch.Generator().manual_seed(0),
                        **{**kw, "cond": {"label": torch.tensor([1, 2]), "known": known, "mask": m}})
    assert torch.equal(out[..., 6:], raw[..., 6:])
    # stochastic DDIM with an infill mask (B, 1, 1, W)
    infill = torch.ones(2, 1, 1, 16)
    infill[..., 5:11] = 0
    out = D.continue_sample(net, known, infill, s, steps=5, eta=1.0, clip_x0=3.0,
                            generator=torch.Generator().manual_seed(1))
    assert torch.equal(out * infill, known * infill)
    with pytest.raises(ConfigError, match="does not broadcast"):
        D.continue_sample(net, known, torch.ones(3, 1, 1, 16), s, steps=2)
    with pytest.raises(ConfigError, match="inpainting=False"):
        D.continue_sample(build("unet", "tiny", in_channels=2), known, m, s, steps=2)


def _toy_set(n, seed):
    """Items whose second half (in time) repeats the first: (n, 2, 8, 16)."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randn(n, 2, 8, 8, generator=g)
    first = first + torch.roll(first, 1, -1)
    first = first / first.std()
    return torch.cat([first, first], -1)


def _fit(net, objective, data, steps=150):
    torch.manual_seed(1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = objective(net, data[torch.randint(0, len(data), (16,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def test_inpainting_training_learns_to_continue():
    data = _toy_set(64, 0)
    s = D.make_schedule("cosine", 100)
    inp = _fit(_inpainting_unet(), D.InpaintingObjective(
        s, target="x0", p_generate=0.1, p_prefix=0.9, p_suffix=0.0, min_frac=0.5, max_frac=0.5), data)
    torch.manual_seed(0)
    plain = _fit(build("unet", "tiny", in_channels=2, n_classes=3), D.DiffusionObjective(s, target="x0"), data)
    x, m = data[:8], _prefix_mask(16, 8)
    cont = D.continue_sample(inp, x, m, s, steps=20, target="x0", generator=torch.Generator().manual_seed(0))
    repaint = D.inpaint(plain, x, m, s, steps=20, target="x0", generator=torch.Generator().manual_seed(0))
    mse_inp = (cont[..., 8:] - x[..., 8:]).pow(2).mean().item()
    mse_repaint = (repaint[..., 8:] - x[..., 8:]).pow(2).mean().item()
    assert torch.equal(cont[..., :8], x[..., :8])
    print(f"continued-half MSE: inpainting {mse_inp:.3f}, RePaint with a plain U-Net {mse_repaint:.3f}")
    assert mse_inp < 1.0 and mse_inp < 0.6 * mse_repaint, (mse_inp, mse_repaint)
