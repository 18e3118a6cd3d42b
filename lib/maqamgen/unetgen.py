"""Recipes of Chapter 4 and of ``maqamgen train unet`` / ``generate unet``: a class-conditional
U-Net DDPM on normalised log-mel patches, trained, cached, sampled, stitched and judged.

* :class:`VariantSpec` -- one trained model: noise schedule, loss, optimizer, size, steps.
* :func:`train_variant` -- trains it with :func:`maqamgen.train.train` and
  :class:`maqamgen.diffusion.DiffusionObjective` (classifier-free guidance: the label is dropped
  with probability ``p_uncond``), cached under ``data/cache/ddpm/<hash of spec and data>``.
* :func:`sample` -- DDIM or DDPM samples of given maqam labels, with guidance.
* :func:`generate_long` -- longer than one patch: independent patches concatenated, or each new
  patch outpainted from the previous one's tail with :func:`maqamgen.diffusion.inpaint`.
* :class:`Evaluator` -- the held-out metrics: Frechet distance in the in-domain classifier's
  embedding, pitch-class-distribution JS divergence, maqam accuracy by the classifier and by the
  Chapter 2 estimator (on Griffin-Lim audio), and distance to the nearest real frame.

Used in: book/part1/04_unet_ddpm.md (and the CLI: ``maqamgen train unet``, ``generate unet``)
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from maqamgen import classifier as clf_mod
from maqamgen import diffusion, features, metrics
from maqamgen import train as trainer
from maqamgen.config import DDPMChapterConfig, FeatureConfig, TrainConfig, cache_dir
from maqamgen.errors import ConfigError
from maqamgen.nets import unet as unet_mod

RECORD = "unetgen.json"
"""The file beside ``checkpoint.pt`` that makes a run folder loadable by :func:`load_trained`."""

UNETGEN_VERSION = 1

ADAMW_WEIGHT_DECAY = 0.01
"""Decoupled weight decay of AdamW (Adam and SGD get none: with 0 AdamW would equal Adam)."""


@dataclass(frozen=True)
class VariantSpec:
    """One DDPM model to train.

    Attributes:
        schedule: noise schedule (``linear``, ``cosine``, ``sigmoid``).
        loss: ``mse`` or ``mae``.
        optimizer: ``adam``, ``adamw`` or ``sgd`` (momentum 0.9).
        steps: optimizer steps.
        preset: U-Net preset; ``widths``: override (empty: the preset's).
        T: diffusion steps; ``target``: ``eps``, ``x0`` or ``v``.
        p_uncond: classifier-free-guidance label-drop probability.
        batch_size, lr: training batch and peak learning rate.
        seed: training seed.
    """

    schedule: str = "cosine"
    loss: str = "mse"
    optimizer: str = "adamw"
    steps: int = 600
    preset: str = "tiny"
    widths: tuple[int, ...] = ()
    T: int = 1000
    target: str = "eps"
    p_uncond: float = 0.1
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0

    @property
    def label(self) -> str:
        """``schedule/loss/optimizer``."""
        return f"{self.schedule}/{self.loss}/{self.optimizer}"

    def unet_config(self, n_classes: int) -> unet_mod.UNetConfig:
        over = {"n_classes": n_classes}
        if self.widths:
            over["widths"] = tuple(self.widths)
        return unet_mod.unet_config(self.preset, **over)

    def train_config(self, progress: bool = False, device: str = "cpu") -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           optimizer=self.optimizer, warmup_steps=min(50, self.steps // 10),
                           weight_decay=ADAMW_WEIGHT_DECAY if self.optimizer == "adamw" else 0.0,
                           grad_clip=1.0, ema_decay=0.995, ckpt_every=max(self.steps, 1),
                           log_every=5, seed=self.seed, progress=progress, device=device)

    def make_schedule(self) -> diffusion.Schedule:
        return diffusion.make_schedule(self.schedule, self.T)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def base_spec(dcfg: DDPMChapterConfig, seed: int = 0, **changes) -> VariantSpec:
    """The chapter's reference model (``dcfg.base``), with some fields changed."""
    schedule, loss, optimizer = dcfg.base
    spec = VariantSpec(schedule=schedule, loss=loss, optimizer=optimizer, steps=dcfg.steps,
                       preset=dcfg.preset, widths=tuple(dcfg.widths), T=dcfg.T, target=dcfg.target,
                       p_uncond=dcfg.p_uncond, batch_size=dcfg.batch_size, lr=dcfg.lr, seed=seed)
    spec = dataclasses.replace(spec, **changes)
    if spec.optimizer == "sgd" and "lr" not in changes:
        spec = dataclasses.replace(spec, lr=dcfg.lr_sgd)
    return spec


def grid_specs(dcfg: DDPMChapterConfig, seed: int = 0) -> list[VariantSpec]:
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


def data_digest(train_set: features.PatchSet) -> str:
    """Short hash of a training patch set (clips, feature settings, normaliser, values)."""
    blob = json.dumps({"cfg": dataclasses.asdict(train_set.config), "ids": sorted(set(train_set.clip_ids)),
                       "n": len(train_set), "norm": train_set.normalizer.to_dict(),
                       "sum": round(float(train_set.x.double().sum()), 3)}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def run_digest(spec: VariantSpec, train_set: features.PatchSet) -> str:
    """Cache key of a trained model: the spec, the data and :data:`UNETGEN_VERSION`."""
    blob = json.dumps({"spec": spec.to_dict(), "data": data_digest(train_set), "v": UNETGEN_VERSION},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass
class Trained:
    """A trained DDPM and everything needed to sample and invert it.

    Attributes:
        spec: what was trained.
        model: the EMA weights, on CPU, in eval mode.
        schedule: the noise schedule.
        losses: the loss curve (:func:`maqamgen.train.read_losses`).
        seconds: training wall time, s (of the run that made the checkpoint).
        maqamat: label names.
        normalizer, fcfg, sr: the features it was trained on.
        out_dir: the run folder.
        cached: loaded from the cache rather than trained in this call.
    """

    spec: VariantSpec
    model: unet_mod.UNet
    schedule: diffusion.Schedule
    losses: dict
    seconds: float
    maqamat: tuple[str, ...]
    normalizer: features.Normalizer
    fcfg: FeatureConfig
    sr: int
    out_dir: Path
    cached: bool = False

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def _record(spec, train_set, seconds, steps) -> dict:
    return {"version": UNETGEN_VERSION, "spec": spec.to_dict(), "steps_done": steps,
            "seconds": seconds, "maqamat": list(train_set.maqamat),
            "normalizer": train_set.normalizer.to_dict(),
            "features": dataclasses.asdict(train_set.config), "sr": train_set.sr,
            "n_train": len(train_set), "data": data_digest(train_set)}


def load_trained(out_dir: str | Path) -> Trained:
    """Load a run folder written by :func:`train_variant` (``checkpoint.pt`` + ``unetgen.json``).

    Raises:
        ConfigError: not such a folder.
    """
    out = Path(out_dir)
    rec_path = out / RECORD
    if not out.is_dir() or not rec_path.exists() or not (out / trainer.CHECKPOINT).exists():
        raise ConfigError("not a trained U-Net folder (needs checkpoint.pt and unetgen.json from "
                          "`maqamgen train unet`)", out)
    try:
        rec = json.loads(rec_path.read_text())
        spec = VariantSpec(**{**rec["spec"], "widths": tuple(rec["spec"]["widths"])})
        fcfg = FeatureConfig(**rec["features"])
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"unreadable {RECORD} ({e})", out) from None
    model = unet_mod.UNet(spec.unet_config(len(rec["maqamat"])))
    trainer.load_checkpoint(out, model)
    return Trained(spec=spec, model=model.eval(), schedule=spec.make_schedule(),
                   losses=trainer.read_losses(out), seconds=float(rec["seconds"]),
                   maqamat=tuple(rec["maqamat"]), normalizer=features.Normalizer(**rec["normalizer"]),
                   fcfg=fcfg, sr=int(rec["sr"]), out_dir=out, cached=True)


def train_variant(spec: VariantSpec, train_set: features.PatchSet, out_dir: str | Path | None = None,
                  resume: bool = False, progress: bool = False, device: str = "cpu") -> Trained:
    """Train one DDPM (or load it from the cache when the same spec and data were trained before).

    Args:
        spec: the model.
        train_set: training patches (their labels are the maqam condition).
        out_dir: run folder; default ``data/cache/ddpm/<run_digest>`` (then a finished run is
            reused). With an explicit folder, ``resume=True`` continues an interrupted run.
        resume: continue from the folder's checkpoint.
        progress: progress bar.
        device: ``cpu``, ``cuda`` or ``auto``.

    Returns:
        The :class:`Trained` model.

    Used in: book/part1/04_unet_ddpm.md
    """
    cached_dir = out_dir is None
    out = Path(out_dir) if out_dir is not None else cache_dir("ddpm", run_digest(spec, train_set))
    rec_path = out / RECORD
    if rec_path.exists() and (out / trainer.CHECKPOINT).exists() and (cached_dir or resume):
        rec = json.loads(rec_path.read_text())
        if rec.get("steps_done") == spec.steps and rec.get("spec") == json.loads(json.dumps(spec.to_dict())):
            return load_trained(out)
    torch.manual_seed(spec.seed)
    model = unet_mod.UNet(spec.unet_config(len(train_set.maqamat)))
    schedule = spec.make_schedule()
    objective = diffusion.DiffusionObjective(schedule, spec.target, spec.loss, spec.p_uncond)
    prev_seconds = 0.0
    if resume and rec_path.exists():
        prev_seconds = float(json.loads(rec_path.read_text()).get("seconds", 0.0))
    res = trainer.train(model, train_set.dataset(), objective, spec.train_config(progress, device),
                        out, resume=resume)
    seconds = prev_seconds + res.seconds
    trainer.atomic_write_bytes(rec_path, json.dumps(_record(spec, train_set, seconds, res.step),
                                                    indent=1).encode())
    return Trained(spec=spec, model=res.ema_model().cpu().eval(), schedule=schedule,
                   losses=trainer.read_losses(out), seconds=seconds, maqamat=train_set.maqamat,
                   normalizer=train_set.normalizer, fcfg=train_set.config, sr=train_set.sr,
                   out_dir=out, cached=False)


def sample(trained: Trained, labels, sampler: str = "ddim", steps: int = 20,
           guidance_scale: float = 2.0, seed: int = 0, batch: int = 64,
           return_trajectory: bool = False):
    """Generate normalised log-mel patches of the given maqam labels.

    Args:
        trained: the model.
        labels: ``(N,)`` maqam indices (``-1``: unconditional).
        sampler: ``ddim`` (deterministic, eta 0) or ``ddpm`` (ancestral; respaced when ``steps < T``).
        steps: reverse steps.
        guidance_scale: classifier-free guidance weight (1: plain conditional).
        seed: seeds the noise (same seed, same samples).
        batch: samples per network call.
        return_trajectory: also return the trajectory of the first batch (list of ``x_t``).

    Returns:
        ``(x, seconds)``: ``(N, 1, n_mels, frames)`` samples clipped to [-1, 1] and the wall
        time; with ``return_trajectory``, ``(x, seconds, trajectory)``.

    Used in: book/part1/04_unet_ddpm.md
    """
    if sampler not in ("ddim", "ddpm"):
        raise ConfigError(f"unknown sampler {sampler!r}; known: ddim, ddpm")
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    shape = (1, trained.fcfg.n_mels, trained.fcfg.frames)
    g = torch.Generator().manual_seed(int(seed))
    out, traj = [], None
    t0 = time.perf_counter()
    for i in range(0, len(labels), batch):
        lab = labels[i:i + batch]
        kw = dict(target=trained.spec.target, cond=lab, guidance_scale=guidance_scale, generator=g,
                  clip_x0=1.0, return_trajectory=return_trajectory and traj is None)
        fn = diffusion.ddim_sample if sampler == "ddim" else diffusion.ddpm_sample
        r = fn(trained.model, (len(lab), *shape), trained.schedule, steps=steps, **kw)
        if kw["return_trajectory"]:
            r, traj = r
        out.append(r.clamp(-1, 1))
    x = torch.cat(out) if out else torch.zeros((0, *shape))
    seconds = time.perf_counter() - t0
    return (x, seconds, traj) if return_trajectory else (x, seconds)


def generate_long(trained: Trained, seconds: float, label: int = -1, method: str = "inpaint",
                  overlap: int | None = None, steps: int = 20, guidance_scale: float = 2.0,
                  seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """A log-mel sequence of at least ``seconds``, stitched from patches.

    ``method="concat"``: independent patches side by side. ``"inpaint"``: each patch after the
    first is outpainted: its first ``overlap`` frames are held to the previous patch's last
    ``overlap`` frames (:func:`maqamgen.diffusion.inpaint`, DDIM), so the continuation starts
    where the previous one ended; the repeated frames are dropped when stitching.

    Returns:
        ``(mel, seams)``: normalised ``(n_mels, n_frames)`` and the frame indices where a new
        patch's own content starts.

    Used in: book/part1/04_unet_ddpm.md, 05_scaling_hallucination.md
    """
    if method not in ("concat", "inpaint"):
        raise ConfigError(f"unknown stitching method {method!r}; known: concat, inpaint")
    if not (np.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"seconds must be a positive number, got {seconds}")
    f = trained.fcfg
    W = f.frames
    ov = (W // 4 if overlap is None else int(overlap)) if method == "inpaint" else 0
    if not 0 <= ov < W:
        raise ConfigError(f"overlap must be in [0, {W}), got {ov}")
    need = int(np.ceil(seconds * trained.sr / f.hop_length)) + 1
    n_patches = 1 + max(0, int(np.ceil((need - W) / (W - ov))))
    g = torch.Generator().manual_seed(int(seed))
    lab = torch.tensor([int(label)], dtype=torch.long)
    shape = (1, 1, f.n_mels, W)
    kw = dict(target=trained.spec.target, cond=lab, guidance_scale=guidance_scale, generator=g,
              clip_x0=1.0)
    patches = [diffusion.ddim_sample(trained.model, shape, trained.schedule, steps=steps, **kw).clamp(-1, 1)]
    mask = torch.zeros(1, 1, 1, W)
    mask[..., :ov] = 1.0
    for _ in range(n_patches - 1):
        if method == "concat":
            nxt = diffusion.ddim_sample(trained.model, shape, trained.schedule, steps=steps, **kw)
        else:
            known = torch.zeros(shape)
            known[..., :ov] = patches[-1][..., W - ov:]
            nxt = diffusion.inpaint(trained.model, known, mask, trained.schedule, steps=steps, **kw)
        patches.append(nxt.clamp(-1, 1))
    mel = features.stitch(torch.cat(patches), overlap=ov)
    seams = [W + k * (W - ov) for k in range(n_patches - 1)]
    return mel, seams


# ----------------------------------------------------------------------------- evaluation


def audio_measures(y: np.ndarray, sr: int, maqamat) -> dict:
    """Pitch track of ``y`` -> its PCD and the Chapter 2 estimator's maqam (None if it cannot judge)."""
    from maqamgen import estimate

    track = estimate.pitch_track(y, sr)
    pcd = estimate.pitch_class_distribution(track.f0_hz, track.voiced_prob)
    try:
        est = estimate.estimate(y, sr, maqamat=maqamat, track=track).maqam
    except estimate.EstimationError:
        est = None
    return {"pcd": pcd, "estimate": est, "voiced_s": float(track.voiced_seconds)}


@dataclass
class Evaluator:
    """Held-out metrics of generated patches against real ones.

    Built once per chapter run: the classifier (trained on ``train_set``), the reference
    (``n_ref`` balanced patches of the held-out ``ref_set``: their embeddings, and the PCDs of
    their Griffin-Lim audio), and a bank of real training frames.

    Attributes:
        classifier: the in-domain classifier.
        ref: the reference patches.
        ref_emb: their embeddings ``(n_ref, D)``.
        ref_pcd: PCDs of their Griffin-Lim audio ``(n_ref, bins)``.
        bank: real training frames ``(n_mels, N)``.
        gl_iter: Griffin-Lim iterations.
    """

    classifier: clf_mod.Classifier
    ref: features.PatchSet
    ref_emb: np.ndarray
    ref_pcd: np.ndarray
    bank: np.ndarray
    gl_iter: int = 32
    seed: int = 0
    cache: dict = field(default_factory=dict)

    @classmethod
    def build(cls, train_set, ref_set, heldout_set, n_ref: int = 64, classifier_steps: int = 400,
              gl_iter: int = 32, seed: int = 0) -> "Evaluator":
        """Train/load the classifier (validated on ``heldout_set``) and measure the reference."""
        clf = clf_mod.get_classifier(train_set, heldout_set, steps=classifier_steps, seed=seed)
        ref = ref_set.balanced(n_ref, seed=seed)
        ev = cls(classifier=clf, ref=ref, ref_emb=clf.embed(ref.x), ref_pcd=np.zeros(0),
                 bank=train_set.frames_bank(seed=seed), gl_iter=gl_iter, seed=seed)
        ev.ref_pcd = np.stack([m["pcd"] for m in ev._audio_measures(ref.x)])
        return ev

    def to_audio(self, x) -> np.ndarray:
        r = self.ref
        return features.to_audio(x, r.normalizer, r.config, r.sr, n_iter=self.gl_iter, seed=self.seed)

    def _audio_measures(self, x) -> list[dict]:
        return [audio_measures(self.to_audio(xi), self.ref.sr, self.ref.maqamat) for xi in x]

    def evaluate(self, x: torch.Tensor, labels, pitch: bool = True) -> dict:
        """Metrics of patches ``x`` ``(N, 1, H, W)`` meant to be of maqam ``labels`` ``(N,)``.

        Returns:
            ``fd``: Frechet distance to the reference in the classifier's embedding;
            ``clf_acc``: the classifier's accuracy against ``labels``;
            ``nn_dist``: mean distance of a frame to the nearest real training frame (normalised units);
            with ``pitch``: ``pcd_js`` (JS divergence, bits, of the mean PCD of the Griffin-Lim
            audio against the reference's), ``est_acc`` (Chapter 2 estimator's accuracy
            against ``labels``), ``voiced_s`` (mean voiced seconds per patch).
        """
        labels = np.asarray(labels)
        out = {"fd": metrics.frechet_distance(self.classifier.embed(x), self.ref_emb),
               "clf_acc": float(np.mean(self.classifier.predict(x) == labels)),
               "nn_dist": float(np.mean([metrics.nearest_frame_distance(xi[0].numpy(), self.bank).mean()
                                         for xi in x]))}
        if pitch:
            m = self._audio_measures(x)
            names = self.ref.maqamat
            out["pcd_js"] = metrics.pcd_divergence(np.stack([r["pcd"] for r in m]), self.ref_pcd)
            out["est_acc"] = metrics.maqam_accuracy([r["estimate"] for r in m],
                                                    [names[int(k)] for k in labels])
            out["voiced_s"] = float(np.mean([r["voiced_s"] for r in m]))
        return out


# ----------------------------------------------------------------------------- CLI recipes


def cli_train(profile: str, out_dir: str | Path, resume: bool = False, progress: bool = True) -> Trained:
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
    if p.ddpm.torch_threads:
        torch.set_num_threads(p.ddpm.torch_threads)
    corp = corpus.load(p, progress=progress)
    train_set = features.load_patches(corp, "train", p.ddpm.features)
    return train_variant(base_spec(p.ddpm, seed=p.seed), train_set, out_dir=out, resume=resume,
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
    tr = load_trained(checkpoint)
    if maqam is not None and maqam not in tr.maqamat:
        raise ConfigError(f"unknown maqam {maqam!r}; this model knows: {', '.join(tr.maqamat)}")
    label = -1 if maqam is None else tr.maqamat.index(maqam)
    t0 = time.perf_counter()
    mel, seams = generate_long(tr, seconds, label, method=method, steps=min(steps, tr.spec.T),
                               guidance_scale=guidance_scale, seed=seed)
    y = features.to_audio(mel, tr.normalizer, tr.fcfg, tr.sr, seed=seed)[: int(round(seconds * tr.sr))]
    audio.save_audio(out, y, tr.sr, normalize=True)
    return {"seconds": len(y) / tr.sr, "patches": len(seams) + 1, "maqam": maqam or "any",
            "wall_s": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- figures


def plot_patch(ax, x, fcfg: FeatureConfig, sr: int, title: str | None = None, vmin: float = -1.0,
               vmax: float = 1.0, yticks: bool = True):
    """Draw a normalised log-mel patch ``(n_mels, frames)`` (or ``(1, n_mels, frames)``) on ``ax``.

    Time in seconds on x; mel bands on y, labelled with their centre frequencies in Hz.

    Used in: book/part1/04_unet_ddpm.md
    """
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = a.reshape(a.shape[-2], a.shape[-1])
    secs = a.shape[1] * fcfg.hop_length / sr
    img = ax.imshow(a, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                    extent=(0, secs, -0.5, a.shape[0] - 0.5), interpolation="nearest")
    if yticks:
        lo, hi = (2595.0 * np.log10(1.0 + f / 700.0) for f in (fcfg.f_min, fcfg.f_max))  # HTK mel
        centres = [700.0 * (10 ** ((lo + (hi - lo) * (k + 1) / (fcfg.n_mels + 1)) / 2595.0) - 1.0)
                   for k in range(fcfg.n_mels)]
        ticks = np.linspace(0, fcfg.n_mels - 1, 4).round().astype(int)
        ax.set_yticks(ticks, [f"{centres[k]:.0f}" for k in ticks])
        ax.set_ylabel("Hz (mel)")
    else:
        ax.set_yticks([])
    ax.set_xlabel("s")
    if title:
        ax.set_title(title, fontsize=9)
    return img
