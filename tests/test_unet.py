"""maqamgen.nets.unet: shapes, size errors, conditioning, determinism, and that it can learn."""

import pytest
import torch

from maqamgen.errors import ConfigError
from maqamgen.nets import count_parameters, parameter_summary
from maqamgen.nets.embeddings import timestep_embedding
from maqamgen.nets.unet import UNET_PRESETS, UNet, UNetConfig, check_input_size, unet_config


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return UNet(unet_config("small", widths=(16, 32, 64), norm_groups=8, head_dim=16))


@pytest.mark.parametrize("H,W", [(4, 4), (8, 32), (32, 8), (16, 20)])
def test_shapes(small, H, W):
    x = torch.randn(2, 1, H, W)
    assert small(x, torch.tensor([0, 999])).shape == x.shape


def test_channels_and_levels():
    net = UNet(UNetConfig(in_channels=3, out_channels=2, widths=(8, 16, 16, 32), n_res_blocks=1,
                          attn_levels=(2, -1), head_dim=8, norm_groups=4))
    assert net(torch.randn(1, 3, 24, 16), torch.tensor([5])).shape == (1, 2, 24, 16)
    # scalar t broadcasts
    assert net(torch.randn(3, 3, 8, 8), 7).shape == (3, 2, 8, 8)


def test_bad_sizes_say_which_work(small):
    with pytest.raises(ConfigError, match=r"input 10x16: H and W must be multiples of 4 for 3 levels.*8 or 12"):
        small(torch.randn(1, 1, 10, 16), torch.tensor([1]))
    with pytest.raises(ConfigError, match="100x64.*multiples of 16 for 5 levels.*96 or 112"):
        check_input_size(100, 64, 5)
    with pytest.raises(ConfigError, match=r"expected \(B, 1, H, W\)"):
        small(torch.randn(1, 2, 8, 8), torch.tensor([1]))
    with pytest.raises(ConfigError, match="known: tiny, small, report"):
        unet_config("huge")
    with pytest.raises(ConfigError, match="unknown UNetConfig field"):
        unet_config("tiny", width=3)


def test_presets_and_parameter_counts():
    assert UNET_PRESETS["report"].widths == (32, 64, 128, 256, 512)
    tiny = UNet(unet_config("tiny"))
    n = count_parameters(tiny)
    assert 50_000 < n < 500_000
    text = parameter_summary(tiny)
    assert "total" in text and f"{n:,}" in text


def test_conditioning_changes_output():
    torch.manual_seed(0)
    net = UNet(unet_config("tiny", n_classes=4, cond_dim=3))
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([10, 10])
    a = net(x, t, torch.tensor([0, 0]))
    b = net(x, t, torch.tensor([1, 1]))
    null = net(x, t, torch.tensor([-1, -1]))
    assert not torch.allclose(a, b) and not torch.allclose(a, null)
    assert torch.allclose(null, net(x, t, None))  # no condition = the learned null class
    assert torch.allclose(null, net(x, t, torch.tensor([4, 4])))  # index n_classes is the null class
    v = net(x, t, {"label": torch.tensor([0, 0]), "vec": torch.ones(2, 3)})
    assert not torch.allclose(a, v)
    assert torch.allclose(a, net(x, t, {"label": torch.tensor([0, 0]), "vec": torch.zeros(2, 3)}))
    assert not torch.allclose(net(x, torch.tensor([10, 10])), net(x, torch.tensor([500, 500])))
    with pytest.raises(ConfigError, match="out of range"):
        net(x, t, torch.tensor([7, 0]))
    with pytest.raises(ConfigError, match="n_classes=0"):
        UNet(unet_config("tiny"))(x, t, torch.tensor([0, 1]))


def test_deterministic_with_seed():
    torch.manual_seed(3)
    a = UNet(unet_config("tiny"))
    torch.manual_seed(3)
    b = UNet(unet_config("tiny"))
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(a(x, torch.tensor([1, 2])), b(x, torch.tensor([1, 2])))


def test_timestep_embedding():
    e = timestep_embedding(torch.tensor([0, 1, 999]), 16)
    assert e.shape == (3, 16)
    assert torch.equal(e[0, :8], torch.ones(8)) and torch.equal(e[0, 8:], torch.zeros(8))
    assert timestep_embedding(torch.tensor([3]), 7).shape == (1, 7)


def test_tiny_unet_overfits_one_batch():
    torch.manual_seed(0)
    net = UNet(unet_config("tiny"))
    x = torch.randn(4, 1, 16, 16)
    t = torch.tensor([10, 200, 500, 900])
    target = torch.randn(4, 1, 16, 16)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss = (net(x, t) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 5, (losses[0], losses[-1])


def test_unet_with_samplers_guidance_and_inpainting():
    from maqamgen import diffusion as D

    torch.manual_seed(0)
    net = UNet(unet_config("tiny", n_classes=3))
    s = D.make_schedule("cosine", 50)
    labels = torch.tensor([0, 2])

    def sample(w):
        return D.ddim_sample(net, (2, 1, 8, 8), s, steps=5, cond=labels, guidance_scale=w,
                             generator=torch.Generator().manual_seed(0))

    a, b, c = sample(3.0), sample(3.0), sample(1.0)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    known = torch.randn(2, 1, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1
    out = D.inpaint(net, known, mask, s, steps=5, cond=labels, guidance_scale=2.0, n_resample=2,
                    jump_length=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[..., :4], known[..., :4])
    assert net.training  # the samplers put the model back in training mode
