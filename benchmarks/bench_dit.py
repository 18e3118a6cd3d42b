"""DiT against the latent U-Net on CPU: parameters, training step time and sampling time per window.

The issue's comparison is at matched compute: a DiT preset should cost about what Chapter 6's
latent U-Net (``nets.build("unet", "latent", ...)``) costs per training step. Every model is
built as Chapter 6/8 train it: ``2 x 64 x 64`` latents, 8 maqam labels, the 2-D tonic vector,
inpainting inputs; trained with :class:`maqamgen.diffusion.InpaintingObjective` (eps/MSE,
cosine schedule).

1. Training step (forward + backward + AdamW, batch 16), median over the timed steps, with its
   operations (:func:`maqamgen.diffusion.run.step_flops`) and the rate this CPU runs them at:
   the U-Net's convolutions cost about 13 times a DiT step's operations, and run at another rate,
   so matched wall time is not matched operations (Chapter 8 prints both).
2. Sampling: DDIM with ``SAMPLE_STEPS`` steps and guidance 2 (two network passes per step, as one
   batch) for ``SAMPLE_BATCH`` windows; seconds per window, and how many times faster than real
   time that is (a window is one ``book`` fragment of audio; decoding not counted; issue
   target: at least 5x).

Every time is also printed as a ratio to the U-Net's, measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_dit.py`` (about 2-4 minutes on a 2-core CPU;
``BENCH_THREADS`` sets torch's threads, default 1; ``BENCH_STEPS`` the timed training steps).
"""

from __future__ import annotations

import os
import statistics
import time
import types

import torch

from maqamgen import config, diffusion, nets
from maqamgen.diffusion import run as runner

C, H, W = 2, 64, 64
BATCH = 16
N_CLASSES = 8
SAMPLE_STEPS = 20
SAMPLE_BATCH = 4

MODELS = {
    "unet latent": ("unet", "latent", {}),
    "dit book (time)": ("dit", "book", {}),
    "dit d128x4 (earlier book)": ("dit", "book", {"depth": 4, "mlp_ratio": 4.0}),
    "dit book (patch 8)": ("dit", "book", {"tokenization": "patch", "patch_size": 8, "freq_pos": True}),
    "dit book (patch 4)": ("dit", "book", {"tokenization": "patch", "patch_size": 4, "freq_pos": True}),
    "dit book (time, rope)": ("dit", "book", {"time_pos": "rope"}),
    "dit book (time, rope, conv 3)": ("dit", "book", {"time_pos": "rope", "conv_kernel": 3}),
    "dit matched (time)": ("dit", "matched", {}),
    "dit book d256x6": ("dit", "book", {"d_model": 256, "depth": 6, "n_heads": 8}),
    "dit book d256x8": ("dit", "book", {"d_model": 256, "depth": 8, "n_heads": 8}),
}
"""Label -> (network kind, preset, overrides)."""


def build(kind: str, preset: str, overrides: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    return nets.build(kind, preset, in_channels=C, n_classes=N_CLASSES, cond_dim=2, inpainting=True,
                      **overrides)


def step_gflop(kind: str, preset: str, overrides: dict) -> float:
    """Operations of one training step of the model (batch ``BATCH``), GFLOP."""
    spec = runner.DenoiserSpec(net=kind, preset=preset, target="eps", cond_dim=2,
                               masks=(0.5, 0.25, 0.25), overrides=tuple(sorted(overrides.items())),
                               train=config.TrainConfig(batch_size=BATCH))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, C, H, W, generator=g)
    data = types.SimpleNamespace(
        x=x, maqamat=tuple(f"m{k}" for k in range(N_CLASSES)),
        dataset=lambda: torch.utils.data.TensorDataset(
            x, torch.randint(0, N_CLASSES, (BATCH,), generator=g), torch.randn(BATCH, 2, generator=g)))
    return runner.step_flops(spec, data) / 1e9


def step_seconds(model: torch.nn.Module, steps: int) -> float:
    """Median wall time of one training step (after one warm-up step), s."""
    obj = diffusion.InpaintingObjective(diffusion.make_schedule("cosine", 1000), "eps", "mse", 0.1,
                                        p_generate=0.5, p_prefix=0.25, p_suffix=0.25)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, C, H, W, generator=g)
    y = torch.randint(0, N_CLASSES, (BATCH,), generator=g)
    v = torch.randn(BATCH, 2, generator=g)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        loss = obj(model, (x, y, v))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def sample_seconds(model: torch.nn.Module) -> float:
    """Seconds per window of guided DDIM sampling."""
    model.eval()
    cond = {"label": torch.arange(SAMPLE_BATCH) % N_CLASSES, "vec": torch.zeros(SAMPLE_BATCH, 2)}
    t0 = time.perf_counter()
    diffusion.ddim_sample(model, (SAMPLE_BATCH, C, H, W), diffusion.make_schedule("cosine", 1000),
                          steps=SAMPLE_STEPS, cond=cond, guidance_scale=2.0,
                          generator=torch.Generator().manual_seed(0))
    return (time.perf_counter() - t0) / SAMPLE_BATCH


def main() -> None:
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    steps = int(os.environ.get("BENCH_STEPS", "5"))
    torch.set_num_threads(threads)
    prof = config.profile("book")
    window_s = prof.latent.fragment_frames * prof.latent.features.hop_length / prof.corpus.sr
    print(f"latents {C}x{H}x{W}, batch {BATCH}, {threads} thread(s), {steps} timed steps; "
          f"DDIM-{SAMPLE_STEPS} with guidance, {SAMPLE_BATCH} windows of {window_s:.2f} s")
    rows = {}
    for name, (kind, preset, overrides) in MODELS.items():
        model = build(kind, preset, overrides)
        n = nets.count_parameters(model)
        s = step_seconds(model, steps)
        f = step_gflop(kind, preset, overrides)
        w = sample_seconds(model)
        rows[name] = (n, s, w, f)
        print(f"  {name:<26} {n / 1e6:6.2f} M params  step {s * 1e3:7.0f} ms  "
              f"{f:6.2f} GFLOP ({f / s:4.0f} GFLOP/s)  "
              f"sample {w:6.2f} s/window ({window_s / w:5.1f}x real time)", flush=True)
    n0, s0, w0, f0 = rows["unet latent"]
    print("\nratios to the U-Net 'latent' (same run):")
    for name, (n, s, w, f) in rows.items():
        print(f"  {name:<26} params x{n / n0:5.2f}  step x{s / s0:5.2f}  operations x{f / f0:5.3f}  "
              f"sample x{w / w0:5.2f}")


if __name__ == "__main__":
    main()
