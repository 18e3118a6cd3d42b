"""maqamgen.nets.autoencoder: preset arithmetic, shapes, the KL term, latent scaling, size errors,
determinism, the shared training loop, and that it can learn."""

import pytest
import torch

from maqamgen.config import TrainConfig
from maqamgen.errors import ConfigError
from maqamgen.nets import count_parameters
from maqamgen.nets.autoencoder import (AE_PRESETS, Autoencoder, AutoencoderConfig, autoencoder_config,
                                       autoencoder_loss, check_spectrogram_size, fit_latent_scale,
                                       kl_divergence, reconstruction_loss)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def toy_spectrograms(B=4, F=16, T=32, seed=0):
    """Normalised toy spectrograms in [-1, 1]: three decaying partials per item on a -1 floor."""
    g = torch.Generator().manual_seed(seed)
    f, t = torch.arange(F)[:, None].float(), torch.arange(T)[None].float()
    out = []
    for _ in range(B):
        x = torch.full((F, T), -1.0)
        for _ in range(3):
            row = int(torch.randint(1, F - 1, (1,), generator=g))
            onset = int(torch.randint(0, T // 2, (1,), generator=g))
            env = torch.where(t >= onset, torch.exp(-(t - onset) / 8.0), torch.zeros(1))
            x = torch.maximum(x, -1 + 2 * env * torch.exp(-0.5 * (f - row) ** 2 / 0.36))
        out.append(x)
    return torch.stack(out)[:, None]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Autoencoder(autoencoder_config("tiny"))


def test_preset_latent_shapes():
    # the report's "latent grids near 128 x 128": 128 mel bands x 512 frames (hop 256 at 22050 Hz,
    # 5.94 s) with time / 4 and frequency kept
    assert autoencoder_config("full").latent_shape() == (2, 128, 128)
    assert 512 * 256 / 22050 == pytest.approx(5.94, abs=0.01)
    assert autoencoder_config("book").latent_shape() == (2, 64, 64)
    assert autoencoder_config("tiny").latent_shape() == (2, 16, 16)
    assert autoencoder_config("book").latent_shape(64, 64) == (2, 64, 16)
    assert set(AE_PRESETS) == {"tiny", "book", "full"}


@pytest.mark.parametrize("preset", ["tiny", "book"])
def test_round_trip_shapes(preset):
    torch.manual_seed(0)
    cfg = autoencoder_config(preset)
    net = Autoencoder(cfg).eval()
    x = torch.rand(2, 1, *cfg.input_shape) * 2 - 1
    with torch.no_grad():
        z, mean, logvar = net.encode(x)
        assert z.shape == mean.shape == logvar.shape == (2, *cfg.latent_shape())
        assert net.decode(z).shape == x.shape
        x_hat, _, _ = net(x)
        assert x_hat.shape == x.shape
        assert net(x[:, 0])[0].shape == x.shape  # (B, F, T) gets its channel axis


def test_full_preset_builds_without_weights():
    cfg = autoencoder_config("full")
    with torch.device("meta"):
        net = Autoencoder(cfg)
        z = net.encode(torch.empty(1, 1, *cfg.input_shape))[0]
    assert tuple(z.shape) == (1, 2, 128, 128)
    assert 5e6 < count_parameters(net) < 2e7


def test_frequency_downsampling_is_available():
    net = Autoencoder(autoencoder_config("tiny", freq_down=1))
    assert net.config.latent_shape(16, 32) == (2, 8, 16)
    assert net.encode(torch.zeros(1, 1, 16, 32))[0].shape == (1, 2, 8, 16)
    assert net.decode(torch.zeros(1, 2, 8, 16)).shape == (1, 1, 16, 32)


def test_plain_autoencoder_has_no_kl():
    torch.manual_seed(0)
    net = Autoencoder(autoencoder_config("tiny", kl_weight=0.0)).train()
    assert not net.config.variational
    x = toy_spectrograms()
    z, mean, logvar = net.encode(x)
    assert logvar is None and torch.equal(z, mean)
    assert torch.equal(net.encode(x)[0], z)  # deterministic even in training mode
    loss = autoencoder_loss(net, x)
    assert torch.equal(loss, reconstruction_loss(net(x)[0], x, "l1"))


def test_vae_loss_is_reconstruction_plus_weighted_kl(tiny):
    x = toy_spectrograms()
    tiny.train()
    torch.manual_seed(1)
    loss = autoencoder_loss(tiny, (x, torch.zeros(len(x), dtype=torch.long)))  # (x, labels) batches
    torch.manual_seed(1)
    x_hat, mean, logvar = tiny(x)
    expected = (x_hat - x).abs().mean() + tiny.config.kl_weight * kl_divergence(mean, logvar)
    assert torch.allclose(loss, expected)
    # sampling: training draws z around the mean, eval takes the mean
    assert not torch.equal(tiny.encode(x)[0], tiny.encode(x)[0])
    tiny.eval()
    assert torch.equal(tiny.encode(x)[0], tiny.encode(x)[1])
    assert kl_divergence(torch.zeros(3), torch.zeros(3)) == 0


def test_overfits_one_batch():
    torch.manual_seed(0)
    net = Autoencoder(autoencoder_config("tiny"))
    x = toy_spectrograms()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss = autoencoder_loss(net, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_deterministic_under_a_seed():
    def build_and_encode():
        torch.manual_seed(3)
        net = Autoencoder(autoencoder_config("tiny")).train()
        return net, net.encode(toy_spectrograms())[0]

    (a, za), (b, zb) = build_and_encode(), build_and_encode()
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(za, zb)


def test_trains_through_the_shared_loop(tmp_path):
    from maqamgen.train import train

    cfg = TrainConfig(steps=4, batch_size=2, lr=1e-3, ema_decay=None, progress=False, device="cpu",
                      ckpt_every=4)
    data = toy_spectrograms(B=4)
    runs = []
    for name in ("a", "b"):
        torch.manual_seed(0)
        res = train(Autoencoder(autoencoder_config("tiny")), data, autoencoder_loss, cfg, tmp_path / name)
        runs.append([loss for _, loss in res.losses])
    assert len(runs[0]) == 4 and runs[0] == runs[1]


def test_latent_scale_gives_unit_variance(tiny):
    x = toy_spectrograms(B=8, seed=2)
    tiny.train()
    shift, scale = fit_latent_scale(tiny, x, batch_size=3)
    assert tiny.training  # measured in eval mode, then restored
    z = tiny.eval().to_latent(x)
    assert z.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert z.std(unbiased=False).item() == pytest.approx(1.0, rel=1e-3)
    assert scale == pytest.approx(float(tiny.latent_scale))
    assert shift == pytest.approx(float(tiny.latent_shift))
    assert torch.allclose(tiny.from_latent(z), tiny.decode(tiny.encode(x)[1]), atol=1e-5)
    assert "latent_scale" in tiny.state_dict() and "latent_shift" in tiny.state_dict()


def test_bad_sizes_and_settings_say_what_works(tiny):
    with pytest.raises(ConfigError, match=r"spectrogram 16x31: .*T of 2.*nearest T: 30 or 32"):
        tiny(torch.zeros(1, 1, 16, 31))
    with pytest.raises(ConfigError, match=r"F must be a multiple of 4 .*nearest F: 60 or 64"):
        check_spectrogram_size(62, 64, autoencoder_config("book", freq_down=2))
    with pytest.raises(ConfigError, match=r"expected \(B, 1, F, T\)"):
        tiny(torch.zeros(1, 2, 16, 32))
    with pytest.raises(ConfigError, match=r"latent of shape .*expected \(B, 2"):
        tiny.decode(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ConfigError, match="unknown autoencoder preset 'huge'; known: tiny, book, full"):
        autoencoder_config("huge")
    with pytest.raises(ConfigError, match=r"unknown AutoencoderConfig field\(s\) \['depth'\]"):
        autoencoder_config("tiny", depth=3)
    with pytest.raises(ConfigError, match=r"time_down=3: must be in 0..1 for 2 levels"):
        autoencoder_config("tiny", time_down=3)
    with pytest.raises(ConfigError, match="kl_weight must be >= 0"):
        AutoencoderConfig(kl_weight=-1.0)
    with pytest.raises(ConfigError, match="unknown reconstruction loss 'huber'"):
        AutoencoderConfig(recon_loss="huber")
    with pytest.raises(ConfigError, match="cannot find spectrograms"):
        autoencoder_loss(tiny, {"audio": torch.zeros(1)})
