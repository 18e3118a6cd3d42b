"""Chapter 4's recipe: the reference DDPM and the schedule x loss x optimizer grid, the reference
model's record on the common results schema, and the ``maqamgen train unet`` / ``generate unet``
commands built on them.

Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md (and the CLI)
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path

import numpy as np

from maqamgen import evaluation, features, metrics, runtime
from maqamgen import train as trainer
from maqamgen.config import DDPMChapterConfig, TrainConfig
from maqamgen.diffusion import run, stitch
from maqamgen.errors import ConfigError

_SPEC_FIELDS = {f.name for f in dataclasses.fields(run.DenoiserSpec)} - {"train"}
_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def base_spec(dcfg: DDPMChapterConfig, seed: int = 0, **changes) -> run.DenoiserSpec:
    """The chapter's reference model, with some fields changed.

    The network is ``dcfg.preset``, the diffusion ``dcfg.base`` with ``T``, ``target`` and
    ``p_uncond``, the training ``dcfg.train`` at ``seed``. ``changes`` name fields of
    :class:`~maqamgen.diffusion.run.DenoiserSpec` (``schedule``, ``loss``, ``preset``, ...) or of
    its :class:`~maqamgen.config.TrainConfig` (``optimizer``, ``steps``, ``batch_size``, ...). An
    SGD model trains at ``dcfg.lr_sgd``; Adam and SGD train without weight decay (``dcfg.train``'s
    is AdamW's decoupled decay), unless ``changes`` say otherwise.

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md (through
    :func:`maqamgen.recipes.ch05_scaling.size_spec`)
    """
    unknown = sorted(set(changes) - _SPEC_FIELDS - _TRAIN_FIELDS)
    if unknown:
        raise ConfigError(f"unknown spec field(s) {unknown}; known: {', '.join(sorted(_SPEC_FIELDS | _TRAIN_FIELDS))}")
    schedule, loss = dcfg.base
    opt = changes.get("optimizer", dcfg.train.optimizer)
    train = dcfg.train.replace(seed=seed, optimizer=opt,
                               lr=dcfg.lr_sgd if opt == "sgd" else dcfg.train.lr,
                               weight_decay=dcfg.train.weight_decay if opt == "adamw" else 0.0)
    train = train.replace(**{k: v for k, v in changes.items() if k in _TRAIN_FIELDS})
    spec = run.DenoiserSpec(net="unet", preset=dcfg.preset, schedule=schedule, T=dcfg.T,
                            target=dcfg.target, loss=loss, p_uncond=dcfg.p_uncond, train=train)
    return dataclasses.replace(spec, **{k: v for k, v in changes.items() if k in _SPEC_FIELDS})


def grid_specs(dcfg: DDPMChapterConfig, seed: int = 0) -> list[run.DenoiserSpec]:
    """The schedule x loss x optimizer grid, each at ``dcfg.grid_steps`` steps.

    ``grid="full"``: every combination of the levels. ``"one_at_a_time"``: the reference
    (``dcfg.base`` with ``dcfg.train.optimizer``), then each other level of one factor with the
    other two at the reference (the levels that appear in the config; the reference levels are
    always included).

    Used in: book/part1/04_unet_ddpm.md
    """
    base = (*dcfg.base, dcfg.train.optimizer)
    if dcfg.grid == "full":
        combos = list(itertools.product(dcfg.grid_schedules, dcfg.grid_losses, dcfg.grid_optimizers))
    elif dcfg.grid == "one_at_a_time":
        combos = [base]
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


def core_metrics(judged: dict, params: int, train_s: float, gen_s_per_audio_s: float,
                 long_mel: np.ndarray, seams, bank: np.ndarray) -> dict:
    """The reference model's core metrics on the common schema (:data:`maqamgen.results.CORE_METRICS`).

    Args:
        judged: :meth:`maqamgen.evaluation.Evaluator.evaluate` of its generated patches (with
            the pitch metrics and intervals).
        params: its parameter count.
        train_s: its training wall time, s.
        gen_s_per_audio_s: seconds of sampling (not Griffin-Lim) per second of audio.
        long_mel: ``(n_mels, T)`` a long generation stitched from windows.
        seams: the frames where ``long_mel``'s windows join.
        bank: ``(n_mels, N)`` real training frames (the hallucination index's reference).

    Returns:
        Every key of :data:`~maqamgen.results.CORE_METRICS`: the evaluator's metrics with their
        intervals, the seam jump ratio and the hallucination index of ``long_mel``, the size and
        the costs.

    Used in: book/part1/04_unet_ddpm.md
    """
    core = evaluation.core_metrics(judged)
    core["seam_jump_ratio"] = metrics.seam_jump_ratio(long_mel, seams)
    core["hallucination_index"] = metrics.hallucination_index(long_mel, bank)["index"]
    core["params"] = int(params)
    core["train_s"] = float(train_s)
    core["gen_s_per_audio_s"] = float(gen_s_per_audio_s)
    return core


def cli_train(profile: str, out_dir: str | Path, resume: bool = False, progress: bool = True,
              force: bool = False, ckpt_every: int | None = None) -> run.Trained:
    """``maqamgen train unet``: the profile's reference model (Chapter 4's base) into ``out_dir``.

    As ``train lstm``: a folder that holds a run needs ``resume`` (continue it from its
    checkpoint) or ``force`` (start afresh: its record goes first, its checkpoint is replaced),
    not both. Checkpoints are written atomically every ``ckpt_every`` steps (default: the
    profile's ``train.ckpt_every``; not part of the model's identity); a killed run continues
    with ``resume`` to the weights of an uninterrupted one.

    Used in: lib/maqamgen/cli.py
    """
    from maqamgen import config, corpus

    p = config.profile(profile)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("output exists and is not a folder", out)
    if resume and force:
        raise ConfigError("--resume continues the run in the folder, --force replaces it: give one")
    if (out / trainer.CHECKPOINT).exists() and not (resume or force):
        raise ConfigError("folder already holds a run; pass --resume to continue it, --force to start "
                          "afresh, or choose another folder", out)
    if force:
        (out / run.RECORD).unlink(missing_ok=True)
    runtime.set_threads(p.ddpm.torch_threads)
    corp = corpus.load(p, progress=progress)
    train_set = features.load_patches(corp, "train", p.ddpm.features)
    spec = base_spec(p.ddpm, seed=p.seed, **({"ckpt_every": int(ckpt_every)} if ckpt_every else {}))
    return run.train_denoiser(spec, train_set, out_dir=out, resume=resume, progress=progress,
                              device="auto")


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
