"""U-Net DDPM speed on CPU: training samples/s, and DDIM-50 against DDPM-1000 (speed and quality).

1. Training throughput (forward + backward + AdamW step, class-conditional, eps/MSE loss) at
   64x64 (Chapter 4's patches) and 128x512 (a long high-resolution mel), for the report's
   widths (32, 64, 128, 256, 512) and for the book's preset.
2. Sampling: the wall time of DDIM with 50 steps against ancestral DDPM with 1000 steps on the
   book's U-Net (target: >= 15x), and the quality each reaches with an **oracle** denoiser on
   data whose score is known exactly (x0 ~ N(mu, diag(s^2)): the optimal eps prediction is
   sqrt(1 - ab) (x_t - sqrt(ab) mu) / (ab s^2 + 1 - ab)), so the numbers measure the sampler's
   own discretisation error, not a model's: the relative error of the samples' per-dimension
   mean and standard deviation, and the Frechet distance to the true Gaussian.

Run: ``.venv/bin/python benchmarks/bench_unet.py`` (about 2 minutes on a 2-core CPU; set
``BENCH_THREADS`` to change torch's threads, default 1).
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from maqamgen import config, diffusion, metrics
from maqamgen.nets import unet


def train_rate(cfg: unet.UNetConfig, H: int, W: int, batch: int, steps: int) -> tuple[float, int]:
    """Training samples per second (after one warm-up step) and parameter count."""
    torch.manual_seed(0)
    model = unet.UNet(cfg)
    obj = diffusion.DiffusionObjective(diffusion.make_schedule("cosine", 1000), "eps", "mse", 0.1)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    x = torch.randn(batch, 1, H, W)
    y = torch.randint(0, 8, (batch,))
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        loss = obj(model, (x, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t0), sum(p.numel() for p in model.parameters())


def oracle(mu: torch.Tensor, s: torch.Tensor, schedule: diffusion.Schedule):
    """The exact eps-prediction for x0 ~ N(mu, diag(s^2))."""

    def model(x, t):
        ab = diffusion.alpha_bar_at(schedule, t, x)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s ** 2 + 1 - ab)

    return model


def quality(x: torch.Tensor, mu: torch.Tensor, s: torch.Tensor) -> dict:
    f = x.reshape(len(x), -1).double().numpy()
    m, sd = mu.reshape(-1).double().numpy(), s.reshape(-1).double().numpy()
    return {"mean_err": float(np.abs(f.mean(0) - m).mean() / sd.mean()),
            "std_err": float(np.abs(f.std(0) / sd - 1).mean()),
            "fd": metrics.frechet_distance_gaussian(f.mean(0), np.cov(f, rowvar=False), m, np.diag(sd ** 2))}


def main() -> None:
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    t_all = time.perf_counter()
    book = config.profile("book").ddpm
    presets = {"report (32..512)": unet.unet_config("report", n_classes=8),
               f"book ({book.preset})": unet.unet_config(book.preset, n_classes=8)}
    print(f"torch {torch.__version__}, {threads} thread(s); training: AdamW step, eps/MSE, class-conditional")
    print(f"{'model':22s} {'input':>8s} {'params':>10s} {'batch':>5s} {'samples/s':>10s}")
    for name, cfg in presets.items():
        for (H, W), batch, steps in [((64, 64), 8, 3), ((128, 512), 2, 1)]:
            rate, n = train_rate(cfg, H, W, batch, steps)
            print(f"{name:22s} {H:>3d}x{W:<4d} {n:>10,d} {batch:>5d} {rate:>10.2f}")

    # --- sampling speed on the book's U-Net (untrained weights cost the same)
    torch.manual_seed(0)
    net = unet.UNet(unet.unet_config(book.preset, n_classes=8)).eval()
    sched = diffusion.make_schedule("cosine", 1000)
    shape, cond = (1, 1, 64, 64), torch.tensor([0])
    timing = {}
    for name, fn, steps in [("DDIM-50", diffusion.ddim_sample, 50), ("DDPM-1000", diffusion.ddpm_sample, 1000)]:
        t0 = time.perf_counter()
        fn(net, shape, sched, steps=steps, cond=cond, generator=torch.Generator().manual_seed(0))
        timing[name] = time.perf_counter() - t0
    ratio = timing["DDPM-1000"] / timing["DDIM-50"]
    print(f"\nsampling 1 patch 64x64 with the book U-Net: DDIM-50 {timing['DDIM-50']:.2f} s, "
          f"DDPM-1000 {timing['DDPM-1000']:.2f} s -> DDIM-50 is {ratio:.1f}x faster "
          f"({'meets' if ratio >= 15 else 'MISSES'} the >= 15x target)")

    # --- quality of each sampler with the oracle denoiser (exact score), 2000 samples of 16 dims
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(16, generator=g).double() * 0.5
    s = (0.2 + torch.rand(16, generator=g)).double() * 0.4
    model = oracle(mu, s, sched)
    print(f"\noracle denoiser, x0 ~ N(mu, diag(s^2)) in 16 dims, 2000 samples (errors relative to s):")
    print(f"{'sampler':12s} {'mean_err':>9s} {'std_err':>8s} {'FD':>9s} {'seconds':>8s}")
    for name, fn, steps in [("DDIM-10", diffusion.ddim_sample, 10), ("DDIM-50", diffusion.ddim_sample, 50),
                            ("DDPM-50", diffusion.ddpm_sample, 50), ("DDPM-1000", diffusion.ddpm_sample, 1000)]:
        t0 = time.perf_counter()
        x = fn(model, (2000, 16), sched, steps=steps, generator=torch.Generator().manual_seed(2),
               dtype=torch.float64)
        q = quality(x, mu, s)
        print(f"{name:12s} {q['mean_err']:>9.4f} {q['std_err']:>8.4f} {q['fd']:>9.5f} "
              f"{time.perf_counter() - t0:>8.2f}")
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
