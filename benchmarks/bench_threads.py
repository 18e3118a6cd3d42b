"""One torch thread against two on this CPU, for the work the book's chapters spend their time on.

``runtime.set_threads`` is the one threads setting, and each chapter's config names its count
(``torch_threads``). One thread wins when other jobs share the two cores (``bench_lstm.py``);
on a machine the book has to itself, two may win. This benchmark times, in one run and on the
same inputs, each workload at one thread and at two and prints the ratio:

1. a training step (forward, backward, AdamW; batch 16) of Chapter 4's U-Net on ``64 x 64``
   mel patches, of Chapter 6's latent U-Net and of Chapter 8's DiT on ``2 x 64 x 64`` latents
   (inpainting inputs, tonic vector, v target), each built from the ``book`` profile;
2. guided DDIM sampling (10 steps) of four latent windows with the DiT;
3. Griffin-Lim (32 iterations) of one 5.9-s mel, and the FCPE pitch track of its audio.

Run: ``.venv/bin/python benchmarks/bench_threads.py`` (about 2 minutes on a 2-core CPU;
``BENCH_STEPS`` sets the timed training steps, default 8). Run it alone: a second job on the
cores is what makes one thread win.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import torch

from maqamgen import config, diffusion, features, nets, runtime, trackers
from maqamgen.recipes import ch06_latent_diffusion as ch06

N_CLASSES = 8
BATCH = 16


def training_step(kind: str, preset: str, shape: tuple[int, int, int], inpainting: bool, steps: int):
    """A closure timing the median training step of a freshly built network (seeded)."""
    torch.manual_seed(0)
    cond_dim = ch06.TONIC_DIM if inpainting else 0
    model = nets.build(kind, preset, in_channels=shape[0], n_classes=N_CLASSES, cond_dim=cond_dim,
                       inpainting=inpainting)
    sched = diffusion.make_schedule("cosine", 1000)
    obj = (diffusion.InpaintingObjective(sched, "v", "mse", 0.1, p_generate=0.25, p_prefix=0.5,
                                         p_suffix=0.1)
           if inpainting else diffusion.DiffusionObjective(sched, "eps", "mse", 0.1))
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, *shape, generator=g)
    y = torch.randint(0, N_CLASSES, (BATCH,), generator=g)
    batch = (x, y, torch.randn(BATCH, cond_dim, generator=g)) if inpainting else (x, y)

    def run() -> float:
        times = []
        for i in range(steps + 1):
            t0 = time.perf_counter()
            loss = obj(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return run


def dit_sampling():
    """A closure timing guided DDIM-10 of four windows with the ``book`` DiT."""
    torch.manual_seed(0)
    model = nets.build("dit", "book", in_channels=2, n_classes=N_CLASSES, cond_dim=ch06.TONIC_DIM,
                       inpainting=True).eval()
    cond = {"label": torch.arange(4) % N_CLASSES, "vec": torch.zeros(4, ch06.TONIC_DIM)}

    @torch.no_grad()
    def run() -> float:
        t0 = time.perf_counter()
        diffusion.ddim_sample(model, (4, 2, 64, 64), diffusion.make_schedule("cosine", 1000), steps=10,
                              target="v", cond=cond, guidance_scale=2.0,
                              generator=torch.Generator().manual_seed(0))
        return time.perf_counter() - t0

    return run


def griffin_lim_and_fcpe(sr: int, fcfg):
    """Closures timing Griffin-Lim of one 256-frame mel and FCPE on its audio (a harmonic tone)."""
    t = np.arange(int(256 * fcfg.hop_length)) / sr
    y = sum(np.sin(2 * np.pi * k * 220.0 * t) / k for k in range(1, 6)).astype(np.float32)
    mel = features.clip_mel_db(y, sr, fcfg)[:, :256]
    norm = features.fit_normalizer(mel, fcfg.dynamic_range_db)
    m = norm.forward(mel)
    def gl() -> float:
        t0 = time.perf_counter()
        features.to_audio(m, norm, fcfg, sr, n_iter=32, seed=0)
        return time.perf_counter() - t0

    def fcpe() -> float:
        t0 = time.perf_counter()
        trackers.fcpe_track(y, sr)
        return time.perf_counter() - t0

    return gl, fcpe


def main() -> None:
    steps = int(os.environ.get("BENCH_STEPS", "8"))
    prof = config.profile("book")
    fcfg = prof.latent.features
    gl, fcpe = griffin_lim_and_fcpe(prof.corpus.sr, fcfg)
    work = {
        "Ch4 U-Net train step": training_step("unet", prof.ddpm.preset, (1, 64, 64), False, steps),
        "Ch6 latent U-Net train step": training_step("unet", prof.latent.preset, (2, 64, 64), True, steps),
        "Ch8 DiT train step": training_step("dit", prof.dit.preset, (2, 64, 64), True, steps * 4),
        "Ch8 DiT DDIM-10, 4 windows": dit_sampling(),
        "Griffin-Lim, 5.9-s mel": gl,
        "FCPE, 5.9 s": fcpe,
    }
    print(f"{os.cpu_count()} CPUs; torch {torch.__version__}; median of {steps} timed training steps")
    print(f"{'workload':<30} {'1 thread':>10} {'2 threads':>10} {'1 / 2':>7}")
    for name, fn in work.items():
        secs = {}
        for n in (1, 2):
            runtime.set_threads(n)
            fn()  # warm-up at this thread count
            secs[n] = min(fn() for _ in range(2))
        print(f"{name:<30} {secs[1] * 1e3:8.0f} ms {secs[2] * 1e3:8.0f} ms {secs[1] / secs[2]:6.2f}x",
              flush=True)


if __name__ == "__main__":
    main()
