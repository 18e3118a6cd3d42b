"""maqamgen.train: bit-exact resume, EMA, LR schedule, optimizers, files, and DDP with 2 processes."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from maqamgen.config import TrainConfig
from maqamgen.errors import ConfigError
from maqamgen import train as T

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_worker import DDP_CFG, regression_data, regression_loss, regression_model  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class NoisyData(torch.utils.data.Dataset):
    """Uses numpy's and python's global RNGs in __getitem__ (augmentation), so resume must restore them."""

    def __init__(self, n=40):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 6, generator=g)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        import random

        jitter = float(np.random.randn()) * 0.01 + random.random() * 0.01
        return self.x[i] + jitter, self.y[i]


def noisy_model():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))


def noisy_loss(model, batch):  # uses the global torch RNG too (like diffusion's t and eps)
    x, y = batch
    return (model(x + 0.01 * torch.randn_like(x)) - y).pow(2).mean()


CFG = TrainConfig(steps=23, batch_size=8, lr=3e-3, optimizer="adamw", warmup_steps=3, ckpt_every=5,
                  log_every=2, ema_decay=0.9, grad_clip=0.5, progress=False)


def _crash_at(k):
    def cb(state):
        if state.step == k:
            raise RuntimeError("injected crash")
    return cb


def _same_run(a: T.TrainResult, b: T.TrainResult, dir_a, dir_b):
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    for k in a.ema.shadow:
        assert torch.equal(a.ema.shadow[k], b.ema.shadow[k]), k
    ca, cb = T.load_checkpoint(dir_a), T.load_checkpoint(dir_b)
    for sa, sb in zip(ca["optimizer"]["state"].values(), cb["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert T.read_losses(dir_a) == T.read_losses(dir_b)


@pytest.mark.parametrize("how", ["crash_mid_epoch", "stop_at_epoch_end"])
def test_resume_is_bit_exact(tmp_path, how):
    ref = T.train(noisy_model(), NoisyData(), noisy_loss, CFG, tmp_path / "a")
    assert ref.step == 23 and len(ref.losses) == 23
    b = tmp_path / "b"
    if how == "crash_mid_epoch":  # 5 batches per epoch; checkpoint at 10, crash at 13
        with pytest.raises(RuntimeError, match="injected"):
            T.train(noisy_model(), NoisyData(), noisy_loss, CFG, b, callbacks=[_crash_at(13)])
        assert T.load_checkpoint(b)["step"] == 10
    else:  # stop exactly at the end of epoch 3 (a step that is not a ckpt_every multiple)
        part = T.train(noisy_model(), NoisyData(), noisy_loss, CFG, b, stop_at=15)
        assert part.step == 15 and T.load_checkpoint(b)["epoch"] == 3
    # a fresh process would build a new model with other weights and other RNG states
    torch.manual_seed(999)
    np.random.seed(999)
    res = T.train(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1)),
                  NoisyData(), noisy_loss, CFG, b, resume=True)
    assert res.step == 23
    _same_run(ref, res, tmp_path / "a", b)
    # resuming a finished run does nothing
    again = T.train(noisy_model(), NoisyData(), noisy_loss, CFG, b, resume=True)
    assert again.losses == [] and torch.equal(again.model[0].weight, res.model[0].weight)


def test_files_and_checkpoint_loading(tmp_path):
    res = T.train(noisy_model(), NoisyData(), noisy_loss, CFG.replace(steps=7), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "losses.csv", "train_config.json"]
    curve = T.read_losses(tmp_path)
    assert curve["step"] == list(range(1, 8)) and len(curve["loss"]) == 7
    assert curve["epoch"][-1] == 1 and all(g > 0 for g in curve["grad_norm"])
    m = noisy_model()
    ckpt = T.load_checkpoint(tmp_path / "checkpoint.pt", m)  # EMA weights by default
    assert ckpt["step"] == 7
    assert torch.equal(m[0].weight, res.ema.shadow["0.weight"])
    assert torch.equal(res.ema_model()[0].weight, res.ema.shadow["0.weight"])
    T.load_checkpoint(tmp_path, m, use_ema=False)
    assert torch.equal(m[0].weight, res.model[0].weight)
    with pytest.raises(ConfigError, match="no checkpoint"):
        T.load_checkpoint(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="lr: 0.003 -> 0.1"):
        T.train(noisy_model(), NoisyData(), noisy_loss, CFG.replace(lr=0.1), tmp_path, resume=True)


def test_lr_schedule():
    cfg = TrainConfig(steps=110, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    f = [T.lr_factor(s, cfg) for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0) and f[10] == pytest.approx(1.0)
    assert f[60] == pytest.approx(0.55) and f[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert T.lr_factor(50, cfg.replace(lr_schedule="constant")) == 1.0
    with pytest.raises(ConfigError, match="known: adam, adamw, sgd"):
        TrainConfig(optimizer="lion")


@pytest.mark.parametrize("opt", ["adam", "adamw", "sgd"])
def test_optimizers_learn(tmp_path, opt):
    cfg = TrainConfig(steps=60, batch_size=16, lr=3e-2 if opt != "sgd" else 5e-2, optimizer=opt,
                      ckpt_every=100, progress=False, ema_decay=None)
    res = T.train(regression_model(), regression_data(), regression_loss, cfg, tmp_path)
    first, last = np.mean([l for _, l in res.losses[:4]]), np.mean([l for _, l in res.losses[-4:]])
    assert last < first / 3, (first, last)
    assert res.ema is None and res.ema_model() is res.model


def test_bad_inputs(tmp_path):
    cfg = CFG.replace(steps=2)
    loader = torch.utils.data.DataLoader(NoisyData(), batch_size=4)
    with pytest.raises(ConfigError, match="batch_size 4 differs"):
        T.train(noisy_model(), loader, noisy_loss, cfg, tmp_path)
    with pytest.raises(ConfigError, match="no batch of 8"):
        T.train(noisy_model(), NoisyData(n=5), noisy_loss, cfg, tmp_path)
    with pytest.raises(ConfigError, match="map-style Dataset"):
        T.train(noisy_model(), iter([1, 2]), noisy_loss, cfg, tmp_path)
    with pytest.raises(FloatingPointError, match="at step 1"):
        T.train(noisy_model(), NoisyData(), lambda m, b: m(b[0]).sum() * float("nan"), cfg, tmp_path)
    # a tensor is a dataset of its rows; a DataLoader with the right batch size is accepted
    x = torch.randn(16, 4)
    res = T.train(nn.Linear(4, 4), x, lambda m, b: (m(b) - b).pow(2).mean(), cfg.replace(batch_size=4),
                  tmp_path / "t")
    assert res.step == 2
    loader = torch.utils.data.DataLoader(NoisyData(), batch_size=8)
    assert T.train(noisy_model(), loader, noisy_loss, cfg, tmp_path / "l").step == 2


def test_progress_bar_switch(monkeypatch):
    info = T.DistInfo()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert T._progress_enabled(TrainConfig(), info)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert not T._progress_enabled(TrainConfig(), info)
    monkeypatch.delenv("TQDM_DISABLE")
    assert not T._progress_enabled(TrainConfig(), T.DistInfo(rank=1, world_size=2))


def test_diffusion_objective_trains_unet(tmp_path):
    from maqamgen import diffusion as D
    from maqamgen.nets.unet import UNet, unet_config

    torch.manual_seed(0)
    net = UNet(unet_config("tiny", n_classes=3))
    data = torch.utils.data.TensorDataset(torch.randn(16, 1, 8, 8), torch.arange(16) % 3)
    obj = D.DiffusionObjective(D.make_schedule("cosine", 100), target="v", p_uncond=0.2)
    cfg = TrainConfig(steps=6, batch_size=8, lr=1e-3, ckpt_every=3, progress=False)
    ref = T.train(net, data, obj, cfg, tmp_path / "a")
    torch.manual_seed(0)  # the same initial weights as the reference run
    with pytest.raises(RuntimeError):
        T.train(UNet(unet_config("tiny", n_classes=3)), data, obj, cfg, tmp_path / "b",
                callbacks=[_crash_at(4)])
    res = T.train(UNet(unet_config("tiny", n_classes=3)), data, obj, cfg, tmp_path / "b", resume=True)
    assert all(torch.equal(a, b) for a, b in zip(ref.model.parameters(), res.model.parameters()))


def test_ddp_two_processes(tmp_path):
    """2 CPU processes (gloo) under torchrun: ranks end in sync and match one process with the same global batch."""
    steps, per_rank = 12, 8
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    env.pop("WORLD_SIZE", None)
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(Path(__file__).parent / "ddp_worker.py"), str(tmp_path / "ddp"), str(steps), str(per_rank)],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert time.time() - t0 < 60
    r0 = torch.load(tmp_path / "ddp" / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "ddp" / "rank1.pt", weights_only=True)
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    ckpt = T.load_checkpoint(tmp_path / "ddp")
    assert ckpt["step"] == steps and ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    curve = T.read_losses(tmp_path / "ddp")
    assert curve["step"] == list(range(1, steps + 1))
    assert np.mean(curve["loss"][-3:]) < np.mean(curve["loss"][:3])
    # one process with the global batch sees the same samples per step (same permutation)
    cfg = TrainConfig(steps=steps, batch_size=2 * per_rank, **DDP_CFG)
    single = T.train(regression_model(seed=0), regression_data(), regression_loss, cfg, tmp_path / "one")
    worst = max((single.model.state_dict()[k] - r0[k]).abs().max().item() for k in r0)
    assert worst < 1e-5, worst
    assert np.allclose(T.read_losses(tmp_path / "one")["loss"], curve["loss"], rtol=1e-4, atol=1e-6)
