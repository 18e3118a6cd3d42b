"""A toy regression for tests/test_train.py, and the worker of its DDP test, launched as

    torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py OUT_DIR STEPS BATCH_PER_RANK

Each rank trains the toy with maqamgen.train.train (no DDP code here: train() finds torchrun's
environment) and saves its final weights to OUT_DIR/rank{r}.pt. The loss has no randomness, so a
2-process run and a single-process run with the same global batch agree.
"""

import os
import sys
from pathlib import Path

import torch
from torch import nn

DDP_CFG = dict(lr=1e-2, optimizer="adam", ckpt_every=5, log_every=2, progress=False, ema_decay=0.9)


def regression_data(n: int = 64) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(42)
    x = torch.randn(n, 8, generator=g)
    w = torch.randn(8, 1, generator=g)
    return torch.utils.data.TensorDataset(x, torch.tanh(x @ w))


def regression_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))


def regression_loss(model, batch) -> torch.Tensor:
    x, y = batch
    return (model(x) - y).pow(2).mean()


def main(out_dir: str, steps: int, batch: int) -> None:
    from maqamgen.config import TrainConfig
    from maqamgen.train import train

    torch.set_num_threads(1)
    cfg = TrainConfig(steps=steps, batch_size=batch, **DDP_CFG)
    res = train(regression_model(seed=0), regression_data(), regression_loss, cfg, out_dir)
    rank = int(os.environ["RANK"])
    torch.save({k: v.cpu() for k, v in res.model.state_dict().items()}, Path(out_dir) / f"rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
