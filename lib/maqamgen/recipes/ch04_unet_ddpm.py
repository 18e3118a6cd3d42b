"""Chapter 4's recipe: the reference DDPM and the schedule x loss x optimizer grid, and the
``maqamgen train unet`` / ``generate unet`` commands built on them.

Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md (and the CLI)
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path

import numpy as np

from maqamgen import features, runtime
from maqamgen import train as trainer
from maqamgen.config import DDPMChapterConfig
from maqamgen.diffusion import run, stitch
from maqamgen.errors import ConfigError


def base_spec(dcfg: DDPMChapterConfig, seed: int = 0, **changes) -> run.DenoiserSpec:
    """The chapter's reference model (``dcfg.base``), with some fields changed."""
    schedule, loss, optimizer = dcfg.base
    spec = run.DenoiserSpec(schedule=schedule, loss=loss, optimizer=optimizer, steps=dcfg.steps,
                       preset=dcfg.preset, widths=tuple(dcfg.widths), T=dcfg.T, target=dcfg.target,
                       p_uncond=dcfg.p_uncond, batch_size=dcfg.batch_size, lr=dcfg.lr, seed=seed)
    spec = dataclasses.replace(spec, **changes)
    if spec.optimizer == "sgd" and "lr" not in changes:
        spec = dataclasses.replace(spec, lr=dcfg.lr_sgd)
    return spec


def grid_specs(dcfg: DDPMChapterConfig, seed: int = 0) -> list[run.DenoiserSpec]:
    """The schedule x loss x optimizer grid, each at ``dcfg.grid_steps`` steps.

    ``grid="full"``: every combination of the levels. ``"one_at_a_time"``: the base, then each
    other level of one factor with the other two at the base (the levels that appear in the
    config; the base levels are always included).
    """
    base = dcfg.base
    if dcfg.grid == "full":
        combos = list(itertools.product(dcfg.grid_schedules, dcfg.grid_losses, dcfg.grid_optimizers))
    elif dcfg.grid == "one_at_a_time":
        combos = [tuple(base)]
        for i, levels in enumerate((dcfg.grid_schedules, dcfg.grid_losses, dcfg.grid_optimizers)):
            for lv in levels:
                c = list(base)
                c[i] = lv
                if tuple(c) not in combos:
                    combos.append(tuple(c))
    else:
        raise ConfigError(f"unknown grid {dcfg.grid!r}; known: one_at_a_time, full")
    return [base_spec(dcfg, seed, schedule=s, loss=l, optimizer=o, steps=dcfg.grid_steps)
            for s, l, o in combos]


def cli_train(profile: str, out_dir: str | Path, resume: bool = False, progress: bool = True) -> run.Trained:
    """``maqamgen train unet``: the profile's reference model (Chapter 4's base) into ``out_dir``.

    Used in: lib/maqamgen/cli.py
    """
    from maqamgen import config, corpus

    p = config.profile(profile)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("output exists and is not a folder", out)
    if (out / trainer.CHECKPOINT).exists() and not resume:
        raise ConfigError("folder already holds a checkpoint; pass --resume to continue it or "
                          "choose another folder", out)
    runtime.set_threads(p.ddpm.torch_threads)
    corp = corpus.load(p, progress=progress)
    train_set = features.load_patches(corp, "train", p.ddpm.features)
    return run.train_denoiser(base_spec(p.ddpm, seed=p.seed), train_set, out_dir=out, resume=resume,
                         progress=progress, device="auto")


def cli_generate(checkpoint: str | Path, seconds: float, output: str | Path, maqam: str | None = None,
                 seed: int = 0, steps: int = 20, method: str = "inpaint",
                 guidance_scale: float = 2.0) -> dict:
    """``maqamgen generate unet``: a stitched log-mel sequence -> Griffin-Lim -> audio file (atomic).

    Used in: lib/maqamgen/cli.py
    """
    from maqamgen import audio

    out = Path(output)
    audio.audio_format(out)  # unknown extension -> AudioError before any work
    if not (np.isfinite(seconds) and 0 < seconds <= 3600):
        raise ConfigError(f"--seconds must be in (0, 3600], got {seconds}")
    if steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    tr = run.load_denoiser(checkpoint)
    if maqam is not None and maqam not in tr.maqamat:
        raise ConfigError(f"unknown maqam {maqam!r}; this model knows: {', '.join(tr.maqamat)}")
    label = -1 if maqam is None else tr.maqamat.index(maqam)
    t0 = time.perf_counter()
    mel, seams = stitch.generate_long(tr, seconds, label, method=method, steps=min(steps, tr.spec.T),
                               guidance_scale=guidance_scale, seed=seed)
    y = features.to_audio(mel, tr.normalizer, tr.fcfg, tr.sr, seed=seed)[: int(round(seconds * tr.sr))]
    audio.save_audio(out, y, tr.sr, normalize=True)
    return {"seconds": len(y) / tr.sr, "patches": len(seams) + 1, "maqam": maqam or "any",
            "wall_s": time.perf_counter() - t0}
