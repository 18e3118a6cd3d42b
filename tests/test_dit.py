"""The Diffusion Transformer (maqamgen.nets.dit) and its encodings (maqamgen.nets.embeddings)."""

import time

import numpy as np
import pytest
import torch

from maqamgen import diffusion, nets
from maqamgen.config import FeatureConfig, TrainConfig
from maqamgen.diffusion import core
from maqamgen.diffusion import run as runner
from maqamgen.errors import ConfigError
from maqamgen.nets import dit, embeddings as E
from maqamgen.notes import Note

pytestmark = pytest.mark.usefixtures("one_thread")

C, H, W = 2, 8, 16  # the "tiny" preset's grid


def tiny(**overrides) -> dit.DiT:
    torch.manual_seed(0)
    return nets.build("dit", "tiny", **overrides)


def wake(model: dit.DiT, seed: int = 1, std: float = 0.1) -> dit.DiT:
    """Give the zero-initialised layers (adaLN modulations, final linear) random weights, as
    training would, so outputs depend on every input."""
    g = torch.Generator().manual_seed(seed)
    layers = [b.adaLN_modulation[-1] for b in model.blocks]
    layers += [model.final_layer.adaLN_modulation[-1], model.final_layer.linear]
    if model.piece_null is not None:
        with torch.no_grad():
            model.piece_null.normal_(0, std, generator=g)
    with torch.no_grad():
        for m in layers:
            m.weight.normal_(0, std, generator=g)
            m.bias.normal_(0, std, generator=g)
    return model.eval()


def batch(B: int = 2, width: int = W, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, H, width, generator=g), torch.randint(0, 1000, (B,), generator=g)


# ----------------------------------------------------------------------------- shapes, init

@pytest.mark.parametrize("tokenization", ["time", "patch"])
@pytest.mark.parametrize("time_pos", ["sincos", "rope", "none"])
def test_shapes_any_width(tokenization, time_pos):
    m = tiny(tokenization=tokenization, time_pos=time_pos, n_classes=3)
    wake(m)
    for width in (16, 24, 8, 40):  # built for 16: computed positions extrapolate
        x, t = batch(width=width)
        y = m(x, t, torch.tensor([0, -1]))
        assert y.shape == x.shape and torch.isfinite(y).all()
    assert m.config.n_tokens(H, 24) == (24 if tokenization == "time" else 4 * 12)


def test_out_channels_and_patch_unpatchify_roundtrip():
    m = tiny(tokenization="patch", out_channels=3)
    x, t = batch()
    assert m(x, t).shape == (2, 3, H, W)
    # unpatchify inverts the patch order: token (r, c) holds the values of patch (r, c)
    p = m.config.patch_size
    tokens = x.unfold(2, p, p).unfold(3, p, p)  # (B, C, H/p, W/p, p, p)
    tokens = tokens.permute(0, 2, 3, 4, 5, 1).reshape(2, -1, p * p * C)
    m2 = tiny(tokenization="patch")
    assert torch.equal(m2.unpatchify(tokens, H, W), x)


def test_zero_init_output_is_zero_and_gradients_flow():
    m = tiny(n_classes=3, cond_dim=2, inpainting=True, ornaments=True, piece_pos=True)
    x, t = batch()
    cond = {"label": torch.tensor([1, 2]), "vec": torch.randn(2, 2),
            "ornaments": torch.randint(0, E.N_ORNAMENTS, (2, W)),
            "start_s": torch.tensor([0.0, 4.0]), "total_s": torch.tensor([30.0, 30.0])}
    y = m(x, t, cond)
    assert torch.equal(y, torch.zeros_like(y))  # adaLN-Zero blocks + zero final layer
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    ((y - x) ** 2).mean().backward()
    assert float(m.final_layer.linear.weight.grad.abs().sum()) > 0
    for _ in range(2):  # zero layers open in turn: final layer, then gates, then the blocks
        opt.step()
        opt.zero_grad()
        ((m(x, t, cond) - x) ** 2).mean().backward()
    for name in ("blocks.0.adaLN_modulation.1.weight", "blocks.0.attn.qkv.weight", "x_embedder.weight",
                 "t_embedder.0.weight", "y_embedder.weight", "ornament_embedder.weight"):
        assert float(dict(m.named_parameters())[name].grad.abs().sum()) > 0, name


# ----------------------------------------------------------------------------- switches

def test_switches_change_parameters_as_expected():
    d = dit.DIT_PRESETS["tiny"].d_model
    base = nets.count_parameters(tiny())
    assert nets.count_parameters(tiny(ornaments=True)) - base == (E.N_ORNAMENTS + 1) * d
    piece = 2 * dit.SECONDS_DIM * d + d + d * d + d + d  # MLP + learned "no position"
    assert nets.count_parameters(tiny(piece_pos=True)) - base == piece
    for switch in ({"time_pos": "rope"}, {"time_pos": "none"}):  # computed: no parameters
        assert nets.count_parameters(tiny(**switch)) == base
    assert (nets.count_parameters(tiny(tokenization="patch", freq_pos=True))
            == nets.count_parameters(tiny(tokenization="patch")))


@pytest.mark.parametrize("tokenization,switches", [
    ("time", [{"time_pos": "sincos"}, {"time_pos": "rope"}, {"time_pos": "none"}]),
    ("patch", [{"time_pos": "sincos"}, {"time_pos": "rope"}, {"time_pos": "none"},
               {"time_pos": "sincos", "freq_pos": True}, {"time_pos": "none", "freq_pos": True}]),
])
def test_position_switches_change_output(tokenization, switches):
    state = wake(tiny(tokenization=tokenization)).state_dict()
    x, t = batch()
    outs = []
    for s in switches:
        m = tiny(tokenization=tokenization, **s)
        m.load_state_dict(state)
        outs.append(m.eval()(x, t))
    for i in range(len(outs)):
        for j in range(i):
            assert not torch.allclose(outs[i], outs[j], atol=1e-5), (switches[i], switches[j])


def test_without_time_positions_the_time_dit_is_permutation_equivariant():
    m = wake(tiny(time_pos="none"))
    x, t = batch()
    perm = torch.randperm(W, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(m(x[..., perm], t), m(x, t)[..., perm], atol=1e-5, rtol=1e-5)
    m = wake(tiny(time_pos="rope"))  # rope: not equivariant, but shift-aware only through q.k
    assert not torch.allclose(m(x[..., perm], t), m(x, t)[..., perm], atol=1e-4)


def test_local_convolution_starts_from_the_plain_mlp_and_breaks_permutation_equivariance():
    cfg = dit.DIT_PRESETS["tiny"]
    hidden = int(cfg.d_model * cfg.mlp_ratio)
    plain = wake(tiny(time_pos="none"))
    assert not any("mlp_conv" in k for k in plain.state_dict())  # old checkpoints load unchanged
    conv = tiny(time_pos="none", conv_kernel=3)
    assert (nets.count_parameters(conv) - nets.count_parameters(plain)
            == cfg.depth * (hidden * 3 + hidden))  # depthwise taps and biases
    missing, unexpected = conv.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all("mlp_conv" in k for k in missing) and missing
    x, t = batch()
    with torch.no_grad():
        for b in conv.blocks:
            b.mlp_conv.weight.zero_()
            b.mlp_conv.bias.zero_()
    conv.eval()
    torch.testing.assert_close(conv(x, t), plain(x, t))  # a zero convolution is the plain MLP
    with torch.no_grad():
        for b in conv.blocks:
            b.mlp_conv.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(2))
    perm = torch.randperm(W, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(conv(x[..., perm], t), conv(x, t)[..., perm], atol=1e-4)
    # any width still works (the convolution pads to keep the token count)
    assert conv(torch.randn(1, C, H, 11), t[:1]).shape == (1, C, H, 11)


# ----------------------------------------------------------------------------- ornaments, piece

def test_ornaments_change_output_after_one_step_and_missing_is_unknown():
    m = tiny(ornaments=True, ornament_dropout=0.0)
    x, t = batch()
    orn_a = torch.zeros(2, W, dtype=torch.long)
    orn_b = torch.randint(1, E.N_ORNAMENTS, (2, W), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    ((m(x, t, {"ornaments": orn_b}) - x) ** 2).mean().backward()
    opt.step()
    m.eval()
    ya, yb = m(x, t, {"ornaments": orn_a}), m(x, t, {"ornaments": orn_b})
    assert float((ya - yb).abs().max().item()) > 1e-4
    missing = m(x, t, {})
    torch.testing.assert_close(missing, m(x, t, None))
    torch.testing.assert_close(missing, m(x, t, {"ornaments": torch.full((2, W), -1)}))
    torch.testing.assert_close(missing, m(x, t, {"ornaments": None}))


def test_ornament_dropout_replaces_whole_samples_in_training_only():
    m = wake(tiny(ornaments=True, ornament_dropout=1.0))
    orn = torch.randint(0, E.N_ORNAMENTS, (3, W), generator=torch.Generator().manual_seed(0))
    m.train()
    assert torch.equal(m.ornament_ids(orn, 3, W), torch.full((3, W), E.N_ORNAMENTS))
    m.eval()
    assert torch.equal(m.ornament_ids(orn, 3, W), orn)
    m = tiny(ornaments=True, ornament_dropout=0.5).train()
    torch.manual_seed(0)
    ids = m.ornament_ids(torch.zeros(400, W, dtype=torch.long), 400, W)
    dropped = (ids == E.N_ORNAMENTS).all(1)
    assert ((ids == 0).all(1) | dropped).all() and 0.35 < float(dropped.float().mean()) < 0.65


def test_patch_tokens_average_the_ornaments_of_their_columns():
    m = wake(tiny(tokenization="patch", ornaments=True))
    orn = torch.tensor([[1, 3] * (W // 2)])
    e = m.ornament_tokens(m.ornament_ids(orn, 1, W), H)  # (1, (H/2)(W/2), d)
    table = m.ornament_embedder.weight
    torch.testing.assert_close(e[0, 0], (table[1] + table[3]) / 2)
    assert e.shape == (1, (H // 2) * (W // 2), m.config.d_model)


@pytest.mark.parametrize("tokenization", ["time", "patch"])
def test_ornament_adaln_starts_as_the_plain_dit_and_then_reads_each_tokens_ornament(tokenization):
    plain = wake(tiny(tokenization=tokenization, ornaments=True))
    m = tiny(tokenization=tokenization, ornaments=True, ornament_adaln=True).eval()
    missing, unexpected = m.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.endswith("token_modulation.weight") for k in missing)
    assert len(missing) == len(m.blocks)
    x, t = batch()
    orn = torch.zeros(2, W, dtype=torch.long)
    orn[:, W // 2:] = E.ORNAMENTS.index("vibrato")
    with torch.no_grad():
        torch.testing.assert_close(m(x, t, {"ornaments": orn}), plain.eval()(x, t, {"ornaments": orn}))
        for b in m.blocks:  # as training would: vibrato tokens get their own modulation
            b.token_modulation.weight[E.ORNAMENTS.index("vibrato")].normal_(
                0, 0.5, generator=torch.Generator().manual_seed(4))
        changed = m(x, t, {"ornaments": orn})
        same = m(x, t, {"ornaments": torch.zeros_like(orn)})
    assert not torch.allclose(changed, plain(x, t, {"ornaments": orn}), atol=1e-4)
    torch.testing.assert_close(same, plain(x, t, {"ornaments": torch.zeros_like(orn)}))


def test_ornament_adaln_needs_the_ornament_input():
    with pytest.raises(ConfigError, match="ornament_adaln needs ornaments"):
        dit.DiTConfig(ornament_adaln=True)


def test_piece_position_changes_output_and_zero_total_is_no_position():
    m = wake(tiny(piece_pos=True))
    with torch.no_grad():
        m.piece_embedder[2].weight.normal_(0, 0.2, generator=torch.Generator().manual_seed(3))
    x, t = batch()
    total = torch.tensor([120.0, 120.0])
    y0 = m(x, t, {"start_s": torch.tensor([0.0, 0.0]), "total_s": total})
    y1 = m(x, t, {"start_s": torch.tensor([30.0, 30.0]), "total_s": total})
    assert float((y0 - y1).abs().max().item()) > 1e-4
    none = m(x, t)
    torch.testing.assert_close(none, m(x, t, {"start_s": torch.zeros(2), "total_s": torch.zeros(2)}))
    assert float((none - y0).abs().max().item()) > 1e-4
    with pytest.raises(ConfigError, match="both start_s and total_s"):
        m(x, t, {"start_s": torch.zeros(2)})


# ----------------------------------------------------------------------------- guidance, inpainting

def test_guidance_through_core_with_dict_condition():
    m = wake(tiny(n_classes=3, cond_dim=2, inpainting=True, ornaments=True, piece_pos=True))
    x, t = batch()
    cond = {"label": torch.tensor([0, 2]), "vec": torch.randn(2, 2),
            "ornaments": torch.randint(0, E.N_ORNAMENTS, (2, W), generator=torch.Generator().manual_seed(1)),
            "start_s": torch.tensor([10.0, 20.0]), "total_s": torch.tensor([60.0, 60.0]),
            "known": x, "mask": torch.ones(1, 1, 1, W)}
    with torch.no_grad():
        y_c = m(x, t, cond)
        null = core.null_cond(cond)
        assert torch.equal(null["ornaments"], torch.full((2, W), -1)) and not null["total_s"].any()
        y_u = m(x, t, null)
        # the null condition is "unknown ornaments, no position, null class, zero vector", same context
        torch.testing.assert_close(y_u, m(x, t, {"label": torch.tensor([-1, -1]), "vec": torch.zeros(2, 2),
                                                  "known": x, "mask": torch.ones(1, 1, 1, W)}))
        assert float((y_c - y_u).abs().max().item()) > 1e-4
        torch.testing.assert_close(core.guided_output(m, x, t, cond, 1.0), y_c, atol=1e-5, rtol=1e-5)
        g = core.guided_output(m, x, t, cond, 3.0)
        torch.testing.assert_close(g, y_u + 3.0 * (y_c - y_u), atol=1e-4, rtol=1e-4)
        # drop_cond (training) nulls the same keys
        dropped = core.drop_cond(cond, 1.0)
        torch.testing.assert_close(m(x, t, dropped), y_u)


def test_inpainting_takes_context_channels():
    m = wake(tiny(inpainting=True))
    assert m.x_embedder.in_features == (2 * C + 1) * H
    assert tiny(inpainting=True, tokenization="patch").x_embedder.in_channels == 2 * C + 1
    x, t = batch()
    mask = torch.zeros(1, 1, 1, W)
    mask[..., : W // 2] = 1
    plain = m(x, t)
    torch.testing.assert_close(plain, m(x, t, {"known": x, "mask": torch.zeros(1, 1, 1, W)}))
    assert float((m(x, t, {"known": x, "mask": mask}) - plain).abs().max().item()) > 1e-4
    with pytest.raises(ConfigError, match="without the known"):
        m(x, t, {"mask": mask})
    with pytest.raises(ConfigError, match="inpainting=False"):
        tiny()(x, t, {"known": x, "mask": mask})


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("overrides,match", [
    ({"tokenization": "frames"}, "unknown DiT tokenization"),
    ({"time_pos": "learned"}, "unknown DiT time_pos"),
    ({"tokenization": "patch", "patch_size": 3}, "multiples of patch_size"),
    ({"d_model": 30, "n_heads": 4}, "not divisible by n_heads"),
    ({"d_model": 30, "n_heads": 6, "time_pos": "rope"}, "even head dimension"),
    ({"freq_pos": True}, "freq_pos needs tokenization='patch'"),
    ({"dropout": 1.0}, "dropout"),
    ({"conv_kernel": 2}, "odd number of taps"),
    ({"conv_kernel": -1}, "odd number of taps"),
    ({"tokenization": "patch", "conv_kernel": 3}, "conv_kernel needs tokenization='time'"),
    ({"widths": (16, 32)}, "unknown DiTConfig field"),
])
def test_bad_configs(overrides, match):
    with pytest.raises(ConfigError, match=match):
        dit.dit_config("tiny", **overrides)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown DiT preset 'huge'"):
        nets.build("dit", "huge")


def test_bad_inputs():
    m = tiny(n_classes=2, ornaments=True)
    x, t = batch()
    cases = [
        (lambda: m(x, t, {"tonic": torch.zeros(2)}), "unknown condition key"),
        (lambda: m(x, t, {"ornaments": torch.full((2, W), E.N_ORNAMENTS)}), "ornament ids must be in"),
        (lambda: m(x, t, {"ornaments": torch.full((2, W), -2)}), "ornament ids must be in"),
        (lambda: m(x, t, {"ornaments": torch.zeros(2, W - 1, dtype=torch.long)}), "one per latent frame"),
        (lambda: m(x, t, {"ornaments": torch.zeros(2, W)}), "integer"),
        (lambda: m(x[:, :, :4], t), "H = 8 rows"),
        (lambda: m(x[:, :1], t), "expected"),
        (lambda: m(x, t, torch.tensor([0, 5])), "out of range"),
        (lambda: m(x, t, torch.zeros(2, 3)), "cond_dim=0"),
        (lambda: m(x, t, {"start_s": torch.zeros(2), "total_s": torch.ones(2)}), "piece_pos=False"),
        (lambda: tiny()(x, t, {"ornaments": torch.zeros(2, W, dtype=torch.long)}), "ornaments=False"),
        (lambda: tiny(tokenization="patch")(x[..., :15], t), "multiples of patch_size"),
    ]
    for call, match in cases:
        with pytest.raises(ConfigError, match=match):
            call()


# ----------------------------------------------------------------------------- embeddings

def test_sincos_and_seconds_embeddings():
    e = E.sincos_1d(torch.arange(5.0), 8)
    assert e.shape == (5, 8) and torch.equal(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert E.sincos_1d(torch.arange(3.0), 7).shape == (3, 7)
    e2 = E.sincos_2d(torch.tensor([1.0]), torch.tensor([2.0]), 8)
    torch.testing.assert_close(e2, torch.cat([E.sincos_1d(torch.tensor([1.0]), 4),
                                              E.sincos_1d(torch.tensor([2.0]), 4)], -1))
    s = E.seconds_embedding(torch.tensor([0.0, 0.05, 100.0]), 16)
    assert s.shape == (3, 16) and float((s[0] - s[1]).abs().max().item()) > 0.5  # 0.1-s resolution
    assert torch.allclose(s.norm(dim=1), torch.full((3,), 8.0 ** 0.5))


def test_rope_scores_depend_only_on_distance():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, 16, generator=g), torch.randn(1, 1, 1, 16, generator=g)

    def score(m, n):
        qm, _ = E.apply_rope(q, q, E.rope_frequencies(16, torch.tensor([float(m)])))
        _, kn = E.apply_rope(k, k, E.rope_frequencies(16, torch.tensor([float(n)])))
        return float((qm * kn).sum())

    assert score(3, 1) == pytest.approx(score(10, 8), abs=1e-5)
    assert score(0, 5) == pytest.approx(score(20, 25), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)
    qr, _ = E.apply_rope(q, k, E.rope_frequencies(16, torch.tensor([7.0])))
    torch.testing.assert_close(qr.norm(), q.norm())  # a rotation
    with pytest.raises(ConfigError, match="even head dimension"):
        E.rope_frequencies(15, torch.arange(3.0))


def test_ornament_frames_on_hand_made_notes():
    assert E.ORNAMENTS == ("none", "vibrato", "slide", "trill", "tremolo") and E.N_ORNAMENTS == 5
    notes = [Note(0.0, 0.4, 220.0, ornament={"type": "vibrato", "rate_hz": 5.5, "depth_cents": 20}),
             Note(0.4, 0.6, 330.0),
             Note(0.6, 1.0, 247.0, ornament={"type": "slide", "from_hz": 220.0, "time_s": 0.08}),
             Note(0.9, 1.2, 262.0, ornament={"type": "tremolo", "rate_hz": 12}),  # overlaps: latest wins
             Note(1.6, 1.8, 294.0, ornament={"type": "trill", "interval_cents": 200, "rate_hz": 8})]
    # frame centres 0.05, 0.15, ..., 1.95 s
    f = E.ornament_frames(notes, 20, 0.1)
    assert f.dtype == torch.int64 and f.shape == (20,)
    assert f.tolist() == [1, 1, 1, 1, 0, 0, 2, 2, 2, 4, 4, 4, 0, 0, 0, 0, 3, 3, 0, 0]
    assert E.ornament_frames(notes, 3, 0.1, offset_s=1.5).tolist() == [0, 3, 3]
    assert E.ornament_frames([], 4, 0.1).tolist() == [0, 0, 0, 0]
    with pytest.raises(ConfigError, match="unknown ornament type"):
        E.ornament_frames([Note(0.0, 1.0, 220.0, ornament={"type": "mordent"})], 4, 0.1)
    with pytest.raises(ConfigError, match="hop_s > 0"):
        E.ornament_frames(notes, 4, 0.0)


# ----------------------------------------------------------------------------- the diffusion runner

def _latent_set(n: int = 12):
    from maqamgen import features
    from maqamgen.recipes.ch06_latent_diffusion import LatentSet

    g = torch.Generator().manual_seed(0)
    return LatentSet(x=torch.randn(n, C, H, W, generator=g), labels=torch.arange(n) % 3,
                     vec=torch.randn(n, 2, generator=g), tonic_hz=np.full(n, 146.83),
                     clip_ids=[f"c{i % 4}" for i in range(n)], starts=np.zeros(n, dtype=np.int64),
                     maqamat=("bayati", "hijaz", "rast"),
                     normalizer=features.Normalizer(top_db=0.0, range_db=80.0),
                     config=FeatureConfig(n_mels=32, frames=64), split="train", sr=22050)


def test_train_denoiser_with_dit_and_reload(tmp_path):
    lat = _latent_set()
    spec = runner.DenoiserSpec(net="dit", preset="tiny", cond_dim=2, masks=(0.5, 0.25, 0.25),
                               train=TrainConfig(steps=5, batch_size=4, ema_decay=0.9, ckpt_every=5,
                                                 log_every=1, device="cpu", progress=False))
    model = runner.train_denoiser(spec, lat, out_dir=tmp_path / "dit", progress=False)
    assert isinstance(model.model, dit.DiT) and model.model.config.inpainting
    assert model.model.config.n_classes == 3 and model.model.config.cond_dim == 2
    assert model.shape == (C, H, W) and np.all(np.isfinite(model.losses["loss"]))
    again = runner.load_denoiser(model.out_dir)
    assert isinstance(again.model, dit.DiT) and again.spec.to_dict() == spec.to_dict()
    for k, v in model.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    x, _ = runner.sample(again, [0, 2], steps=2, vec=np.zeros((2, 2)), clip=None, seed=1)
    assert x.shape == (2, C, H, W) and torch.isfinite(x).all()


def test_tiny_dit_learns_a_toy_task():
    """Denoise class prototypes (x0 target): the loss falls by a clear factor in 300 steps."""
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    protos = torch.randn(3, C, H, W, generator=g)
    m = tiny(n_classes=3, ornaments=True)
    obj = diffusion.DiffusionObjective(diffusion.make_schedule("cosine", 1000), "x0", "mse", 0.0)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for step in range(300):
        y = torch.randint(0, 3, (16,), generator=g)
        orn = torch.randint(0, E.N_ORNAMENTS, (16, W), generator=g)
        loss = obj(m, {"x0": protos[y], "cond": {"label": y, "ornaments": orn}})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = np.mean(losses[:5]), np.mean(losses[-10:])
    assert last < first / 5, (first, last)
    assert time.perf_counter() - t0 < 15
