"""The report's U-Net (the time-to-quality baseline): shapes, BatchNorm and ReLU blocks, no
attention, labels, errors, and one training step through the one diffusion runner."""

import numpy as np
import pytest
import torch
from torch import nn

from maqamgen import nets
from maqamgen.config import TrainConfig
from maqamgen.diffusion import run
from maqamgen.errors import ConfigError
from maqamgen.nets import report_unet as ru


def test_shapes_blocks_and_no_attention():
    torch.manual_seed(0)
    m = nets.build("report_unet", "tiny", n_classes=3, in_channels=1)
    x = torch.randn(2, 1, 16, 8)
    out = m(x, torch.tensor([3, 7]), torch.tensor([0, -1]))
    assert out.shape == x.shape
    kinds = {type(mod) for mod in m.modules()}
    assert nn.BatchNorm2d in kinds and nn.ReLU in kinds
    assert not any("Attention" in k.__name__ for k in kinds)
    m.eval()
    torch.manual_seed(1)
    a = m(x, torch.tensor([3, 7]), {"label": torch.tensor([0, 2])})
    b = m(x, torch.tensor([3, 7]), {"label": torch.tensor([0, 2])})
    assert torch.equal(a, b)


def test_report_preset_widths_and_size_grows_with_width():
    cfg = ru.report_unet_config("report")
    assert cfg.widths == (32, 64, 128, 256, 512) and cfg.multiple == 16
    small = sum(p.numel() for p in ru.ReportUNet(ru.report_unet_config("tiny")).parameters())
    wide = sum(p.numel() for p in ru.ReportUNet(ru.report_unet_config("tiny", widths=(16, 32))).parameters())
    assert wide > 3 * small


def test_bad_input_is_refused():
    m = ru.ReportUNet(ru.report_unet_config("tiny", n_classes=2))
    with pytest.raises(ConfigError, match="multiples"):
        m(torch.randn(1, 1, 7, 8), torch.tensor([1]))
    with pytest.raises(ConfigError, match="out of range"):
        m(torch.randn(1, 1, 8, 8), torch.tensor([1]), torch.tensor([5]))
    with pytest.raises(ConfigError):
        ru.report_unet_config("huge")
    with pytest.raises(ConfigError, match="label only"):
        ru.report_unet_config("tiny", inpainting=True)


def test_trains_through_the_runner_on_x0(tmp_path):
    from maqamgen import corpus, features
    from maqamgen.config import FeatureConfig

    c = corpus.load("smoke", progress=False)
    fc = FeatureConfig(n_mels=16, frames=16)
    tr = features.load_patches(c, "train", fc)
    spec = run.DenoiserSpec(net="report_unet", preset="tiny", schedule="linear", T=500, target="x0", loss="mse",
                            train=TrainConfig(steps=6, batch_size=4, lr=1e-3, optimizer="adam", warmup_steps=0,
                                              ema_decay=None, log_every=1, device="cpu", progress=False))
    m = run.train_denoiser(spec, tr, out_dir=tmp_path)
    assert len(m.losses["loss"]) == 6 and np.isfinite(m.losses["loss"]).all()
    x, _ = run.sample(m, [0, 1], "ddim", 3, 1.0, seed=0)
    assert x.shape == (2, 1, 16, 16)
