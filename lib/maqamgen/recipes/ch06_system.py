"""Chapter 6's latent system as a run folder: ``maqamgen train latent`` / ``generate latent``.

A *latent system* is the autoencoder, the latent U-Net that generates and continues its latents
(conditioned on the maqam and the tonic), and the way back to audio (Griffin-Lim), in one folder::

    DIR/autoencoder/   checkpoint.pt, losses.csv, ch06.json   (train_autoencoder)
    DIR/latent_unet/   checkpoint.pt, losses.csv, denoiser.json (diffusion.run.train_denoiser)
    DIR/system.json    kind "latent", the profile's LatentChapterConfig, maqamat, sr, decoder

``system.json`` is written (atomically) last: a folder without it is an unfinished run, which
``train_system(..., resume=True)`` continues to the weights of an uninterrupted one.

* :func:`train_system` -- train (or resume) both networks of a profile into a folder.
* :func:`load_system` -- read a folder back, with one clear error for anything else.
* :func:`generate` -- ``seconds`` of a maqam at a tonic: stitched latent windows, decoded, Griffin-Lim.
* :func:`continue_audio` -- a recording followed by its continuation, window after window, by
  mask-conditioned continuation (:func:`maqamgen.diffusion.continue_sample`).
* The run-folder helpers both systems share (Chapter 8's DiT system,
  :mod:`maqamgen.recipes.ch08_system`, is the same folder with a DiT in place of the U-Net):
  :func:`run_settings`, :func:`other_model`, :func:`latent_config_of`,
  :func:`autoencoder_config_of`, :func:`check_seconds`, :func:`check_tonic`, :func:`sampling_steps`,
  :func:`condition`, :func:`fit_length`.

Written for the command line (lib/maqamgen/cli.py); the chapter is book/part1/06_latent_diffusion.md.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from maqamgen import audio, features, runtime
from maqamgen import maqam as mq
from maqamgen import train as trainer
from maqamgen.config import FeatureConfig, LatentChapterConfig, Profile, TrainConfig
from maqamgen.diffusion import run
from maqamgen.errors import AudioError, ConfigError
from maqamgen.nets import autoencoder as ae_mod
from maqamgen.recipes import ch06_latent_diffusion as ch06

SYSTEM_RECORD = "system.json"
"""The record that makes a folder a latent system (written last)."""

SYSTEM_VERSION = 1
"""Format of :data:`SYSTEM_RECORD`; bump it when a folder of an older format cannot be read."""

AE_DIR = "autoencoder"
UNET_DIR = "latent_unet"

MIN_CONTINUE_S = 2.0
"""Shortest recording :func:`continue_audio` continues, s (the estimator and the context need it)."""

MAX_SECONDS = 3600.0
"""Longest generation, s."""

TONIC_RANGE_HZ = (30.0, 1000.0)
"""Tonics outside this range are refused (the corpus's tonics lie around 100-300 Hz)."""


@dataclass
class LatentSystem:
    """A trained latent system.

    Attributes:
        ae: the autoencoder (:class:`maqamgen.nets.autoencoder.Autoencoder`), CPU, eval mode,
            with its latent shift and scale.
        unet: the latent U-Net (:class:`maqamgen.diffusion.run.Trained`, tonic condition, inpainting).
        lcfg: the profile's :class:`maqamgen.config.LatentChapterConfig` it was trained with.
        fcfg: the log-mel grid (``lcfg.features``).
        normalizer: dB <-> [-1, 1] map of the features.
        sr: sample rate, Hz.
        maqamat: the maqam names it knows (label order).
        profile: the profile's name.
        decoder: the way back to audio (``"griffin_lim"``).
        out_dir: the folder.
    """

    ae: nn.Module
    unet: run.Trained
    lcfg: LatentChapterConfig
    fcfg: FeatureConfig
    normalizer: features.Normalizer
    sr: int
    maqamat: tuple[str, ...]
    profile: str
    decoder: str
    out_dir: Path

    @property
    def time_factor(self) -> int:
        """Spectrogram frames per latent frame."""
        return int(self.ae.config.factors[1])

    @property
    def window(self) -> int:
        """Latent frames of one U-Net window."""
        return int(self.unet.shape[-1])


# ----------------------------------------------------------------------------- training


def holds_run(out: Path) -> bool:
    """The folder holds (part of) a latent system or another model's checkpoint."""
    return any((out / p).exists() for p in (SYSTEM_RECORD, trainer.CHECKPOINT, f"{AE_DIR}/{trainer.CHECKPOINT}",
                                            f"{UNET_DIR}/{trainer.CHECKPOINT}"))


def _check_train_folder(out: Path, resume: bool, force: bool) -> None:
    """``train latent``'s rules: a folder that holds a run needs ``resume`` or ``force``, not both;
    another model's run folder is never taken over."""
    if out.exists() and not out.is_dir():
        raise ConfigError("output exists and is not a folder", out)
    if resume and force:
        raise ConfigError("--resume continues the run in the folder, --force replaces it: give one")
    if (out / trainer.CHECKPOINT).exists() or (out / run.RECORD).exists():
        raise ConfigError(f"folder holds a checkpoint of another model ({other_model(out)}), not a "
                          "latent system; choose another folder", out)
    if holds_run(out) and not (resume or force):
        raise ConfigError("folder already holds a run; pass --resume to continue it, --force to start "
                          "afresh, or choose another folder", out)


def other_model(out: Path) -> str:
    """What kind of run folder ``out`` is, in words (for error messages)."""
    if (out / run.RECORD).exists():
        return f"{run.RECORD} of `maqamgen train unet`"
    if (out / "run.json").exists():
        return "run.json of `maqamgen train lstm`"
    return trainer.CHECKPOINT


def train_system(profile: str | Profile, out_dir: str | Path, resume: bool = False,
                 progress: bool | None = None, ckpt_every: int | None = None,
                 force: bool = False) -> LatentSystem:
    """Train the autoencoder and the latent U-Net of a profile into ``out_dir`` (or resume them).

    Args:
        profile: a profile name or :class:`maqamgen.config.Profile`; its ``latent`` config sets
            the autoencoder, the U-Net, their training, and the sampler defaults.
        out_dir: the run folder (created).
        resume: continue an interrupted run (a finished autoencoder is reused).
        progress: progress bars (None: the configs' own).
        ckpt_every: checkpoint every this many steps (None: the configs'); not part of the weights.
        force: start afresh in a folder that holds a run.

    Returns:
        The :class:`LatentSystem`; ``out_dir/system.json`` is written last.

    Raises:
        ConfigError: a folder that holds a run without ``resume`` / ``force``, both, another
            model's run folder, a bad profile.

    Used in: lib/maqamgen/cli.py
    """
    from maqamgen import config, corpus

    p = config.profile(profile) if isinstance(profile, str) else profile
    lcfg = p.latent
    out = Path(out_dir)
    _check_train_folder(out, resume, force)
    if ckpt_every is not None and int(ckpt_every) < 1:
        raise ConfigError(f"ckpt_every must be a positive number of steps, got {ckpt_every}")
    if force:  # the record goes first: a crash now leaves an unfinished run, never a stale system
        (out / SYSTEM_RECORD).unlink(missing_ok=True)
        for sub in (AE_DIR, UNET_DIR):
            shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    runtime.set_threads(lcfg.torch_threads)
    corp = corpus.load(p, progress=bool(progress))
    ae_train = run_settings(lcfg.ae_train, progress, ckpt_every)
    ae = ch06.train_autoencoder(corp, lcfg.features, lcfg.ae_preset, ae_train, lcfg.ae_crop_frames,
                                out_dir=out / AE_DIR, resume=resume, latent_items=lcfg.latent_items)
    lat_train, _ = ch06.encode_fragments(ae, corp, "train", lcfg)
    spec = ch06.latent_spec(lcfg, seed=p.seed)
    spec = dataclasses.replace(spec, train=run_settings(spec.train, None, ckpt_every))
    unet = ch06.train_unet(spec, lat_train, out_dir=out / UNET_DIR, resume=resume, progress=progress,
                           device="auto")
    rec = {"kind": "latent", "version": SYSTEM_VERSION, "profile": p.name, "latent": dataclasses.asdict(lcfg),
           "maqamat": list(lat_train.maqamat), "sr": int(lat_train.sr), "decoder": "griffin_lim",
           "autoencoder": dataclasses.asdict(ae.model.config), "normalizer": ae.normalizer.to_dict(),
           "tonic_hz_range": [float(np.min(lat_train.tonic_hz)), float(np.max(lat_train.tonic_hz))],
           "train_seconds": {"autoencoder": float(ae.seconds), "latent_unet": float(unet.seconds)}}
    runtime.atomic_write(out / SYSTEM_RECORD, json.dumps(rec, indent=1))
    return LatentSystem(ae.model, unet, lcfg, lcfg.features, ae.normalizer, int(lat_train.sr),
                        tuple(lat_train.maqamat), p.name, "griffin_lim", out)


def run_settings(cfg: TrainConfig, progress: bool | None, ckpt_every: int | None) -> TrainConfig:
    """``cfg`` with this run's progress bar and checkpoint interval (neither changes the weights)."""
    changes = {}
    if progress is not None:
        changes["progress"] = bool(progress)
    if ckpt_every is not None:
        changes["ckpt_every"] = int(ckpt_every)
    return cfg.replace(**changes) if changes else cfg


# ----------------------------------------------------------------------------- loading


def latent_config_of(d: dict) -> LatentChapterConfig:
    """:class:`LatentChapterConfig` from its ``dataclasses.asdict`` (lists back to tuples)."""
    def train_cfg(t):
        t = dict(t)
        t["betas"] = tuple(t.get("betas", TrainConfig.betas))
        return TrainConfig(**t)

    d = dict(d)
    d["features"] = FeatureConfig(**d["features"])
    for k in ("ae_train", "vocoder_train", "train"):
        d[k] = train_cfg(d[k])
    return LatentChapterConfig(**d)


def autoencoder_config_of(d: dict) -> ae_mod.AutoencoderConfig:
    """:class:`maqamgen.nets.autoencoder.AutoencoderConfig` from its ``dataclasses.asdict``."""
    return ae_mod.AutoencoderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def load_system(out_dir: str | Path) -> LatentSystem:
    """Read a folder written by :func:`train_system`.

    Raises:
        ConfigError: no such folder; a folder of another model (e.g. ``maqamgen train unet``);
            an unfinished run (no ``system.json``); an unreadable record or checkpoint. The
            message names the folder and what is missing or wrong.

    Used in: lib/maqamgen/cli.py
    """
    out = Path(out_dir)
    if not out.exists():
        raise ConfigError("no such folder", out)
    if not out.is_dir():
        raise ConfigError("is not a folder; give the run folder of `maqamgen train latent`", out)
    rec_path = out / SYSTEM_RECORD
    if not rec_path.exists():
        if (out / trainer.CHECKPOINT).exists() or (out / run.RECORD).exists():
            raise ConfigError(f"holds a checkpoint of another model ({other_model(out)}), not a latent "
                              "system of `maqamgen train latent`", out)
        if (out / AE_DIR).is_dir() or (out / UNET_DIR).is_dir():
            raise ConfigError(f"an unfinished latent system (no {SYSTEM_RECORD}); continue it with "
                              "`maqamgen train latent --resume`", out)
        raise ConfigError(f"not a latent-system folder (no {SYSTEM_RECORD} from `maqamgen train latent`)", out)
    try:
        rec = json.loads(rec_path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"unreadable {SYSTEM_RECORD} ({type(e).__name__}: {str(e)[:120]})", out) from None
    if not isinstance(rec, dict) or rec.get("kind") != "latent":
        kind = rec.get("kind") if isinstance(rec, dict) else type(rec).__name__
        raise ConfigError(f"{SYSTEM_RECORD} is not of a latent system (kind {kind!r})", out)
    if rec.get("version") != SYSTEM_VERSION:
        raise ConfigError(f"{SYSTEM_RECORD} is of format {rec.get('version')!r}, this maqamgen reads "
                          f"{SYSTEM_VERSION}: train the system again", out)
    try:
        lcfg = latent_config_of(rec["latent"])
        ae_cfg = autoencoder_config_of(rec["autoencoder"])
        normalizer = features.Normalizer(**rec["normalizer"])
        maqamat = tuple(str(m) for m in rec["maqamat"])
        sr, decoder, prof = int(rec["sr"]), str(rec["decoder"]), str(rec["profile"])
        if not maqamat or decoder != "griffin_lim":
            raise ValueError(f"maqamat {list(maqamat)}, decoder {decoder!r}")
        ae = ae_mod.Autoencoder(ae_cfg)
    except ConfigError as e:
        raise ConfigError(f"unreadable {SYSTEM_RECORD} ({e})", out) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        what = f"lacks {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {str(e)[:120]}"
        raise ConfigError(f"unreadable {SYSTEM_RECORD} ({what})", out) from None
    if not (out / AE_DIR / trainer.CHECKPOINT).exists():
        raise ConfigError(f"lacks {AE_DIR}/{trainer.CHECKPOINT}", out)
    trainer.load_checkpoint(out / AE_DIR, ae)
    unet = run.load_denoiser(out / UNET_DIR)
    if tuple(unet.maqamat) != maqamat or not unet.spec.inpainting or unet.spec.cond_dim not in ch06.COND_DIMS:
        raise ConfigError(f"{UNET_DIR} is not the latent U-Net of this system", out)
    return LatentSystem(ae.eval(), unet, lcfg, lcfg.features, normalizer, sr, maqamat, prof, decoder, out)


# ----------------------------------------------------------------------------- conditions


def parse_tonic(text: str) -> float:
    """A tonic given as Hz (``146.8``) or a note name (``D3``, ``E-half-flat3``: :func:`maqamgen.maqam.note_hz`).

    Raises:
        ConfigError: neither, or outside :data:`TONIC_RANGE_HZ`.

    Used in: lib/maqamgen/cli.py
    """
    s = str(text).strip()
    try:
        hz = float(s)
    except ValueError:
        try:
            hz = mq.note_hz(s)
        except ConfigError:
            raise ConfigError(f"cannot read tonic {text!r}: give Hz (146.8) or a note name "
                              "(D3, Bb2, E-half-flat3)") from None
    return check_tonic(hz)


def check_tonic(tonic_hz: float) -> float:
    """``tonic_hz`` as a float, or a ConfigError when it is no tonic (outside :data:`TONIC_RANGE_HZ`)."""
    hz = float(tonic_hz)
    lo, hi = TONIC_RANGE_HZ
    if not (np.isfinite(hz) and lo <= hz <= hi):
        raise ConfigError(f"tonic {hz:g} Hz is outside {lo:g}..{hi:g} Hz")
    return hz


def maqam_label(system: LatentSystem, maqam: str) -> int:
    """The label of ``maqam`` in the system (case and surrounding space ignored).

    Raises:
        ConfigError: a maqam the system was not trained on; the message lists those it knows.
    """
    key = str(maqam).strip().lower()
    if key not in system.maqamat:
        raise ConfigError(f"unknown maqam {maqam!r}; this model knows: {', '.join(system.maqamat)}")
    return system.maqamat.index(key)


def usual_tonic_hz(maqam: str) -> float:
    """The maqam's usual oud tonic as played (:attr:`maqamgen.maqam.Maqam.practice_tonic_hz`): the
    centre of the corpus's tonics of that maqam (:func:`maqamgen.corpus.choose_tonic`)."""
    return float(mq.get_maqam(maqam).practice_tonic_hz)


def check_seconds(seconds: float) -> float:
    """``--seconds`` as a float in ``(0, MAX_SECONDS]``, or a ConfigError saying why not."""
    s = float(seconds)
    if not (np.isfinite(s) and 0 < s <= MAX_SECONDS):
        raise ConfigError(f"--seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    return s


def sampling_steps(system, steps: int | None) -> int:
    """``--steps`` (None: the system's ``lcfg.sample_steps``), at least 1, at most the model's ``T``.
    ``system`` is a :class:`LatentSystem` or the DiT system (anything with ``lcfg`` and ``unet``)."""
    n = system.lcfg.sample_steps if steps is None else int(steps)
    if n < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    return min(n, system.unet.spec.T)


def condition(label: int, tonic_hz: float, dim: int = ch06.TONIC_DIM, maqamat=()) -> dict:
    """The batch-1 condition of a generation: maqam label and condition vector of ``dim`` entries
    (:func:`ch06.condition_vector` over the model's ``maqamat``; a checkpoint's ``spec.cond_dim``,
    so older models still run)."""
    return {"label": torch.tensor([int(label)]),
            "vec": torch.from_numpy(ch06.condition_vector([label], maqamat, tonic_hz, dim))}


# ----------------------------------------------------------------------------- generation


def generate(system: LatentSystem, maqam: str, tonic_hz: float | None = None, seconds: float = 30.0,
             method: str = "continue", seed: int = 0, guidance_scale: float = 2.0,
             steps: int | None = None) -> np.ndarray:
    """``seconds`` s of ``maqam`` at ``tonic_hz``: latent windows stitched by ``method``
    (:func:`maqamgen.recipes.ch06_latent_diffusion.generate_piece`, the profile's overlap and
    resampling), decoded by the autoencoder, Griffin-Lim (the profile's iterations).

    Args:
        system: the latent system.
        maqam: a maqam the system knows.
        tonic_hz: the tonic, Hz (default: the maqam's usual tonic, :func:`usual_tonic_hz`).
        seconds: length, s.
        method: :data:`maqamgen.diffusion.stitch.STITCH_METHODS`.
        seed: same seed, same audio.
        guidance_scale: classifier-free guidance weight.
        steps: DDIM steps per window (default: the profile's ``sample_steps``).

    Returns:
        float32 audio, ``round(seconds * sr)`` samples at ``system.sr``, peak 0.9.

    Used in: lib/maqamgen/cli.py
    """
    label = maqam_label(system, maqam)
    tonic = check_tonic(usual_tonic_hz(system.maqamat[label]) if tonic_hz is None else tonic_hz)
    seconds = check_seconds(seconds)
    hop, sr = system.fcfg.hop_length, system.sr
    n = int(round(seconds * sr))
    piece = ch06.generate_piece(system.unet, system.ae, method, seconds + hop / sr, label, tonic,
                                system.lcfg.overlap_frames, sampling_steps(system, steps), guidance_scale,
                                seed, system.lcfg.n_resample)
    y = features.to_audio(torch.from_numpy(piece.mel)[None], system.normalizer, system.fcfg, sr,
                          n_iter=system.lcfg.gl_iter, seed=seed)
    return fit_length(y, n)


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut (or, by less than a frame, zero-padded) to ``n`` samples."""
    return np.pad(y[:n], (0, max(0, n - len(y)))).astype(np.float32)


def _mono(y, sr: int) -> np.ndarray:
    """A mono float32 signal: ``(n,)`` as is, ``(channels, n)`` or ``(n, channels)`` averaged."""
    y = audio.check_audio(np.asarray(y, dtype=np.float32).T if np.ndim(y) == 2 and np.shape(y)[0] > np.shape(y)[1]
                          else y, sr)
    return y.mean(axis=0) if y.ndim == 2 else y


def _resample(y: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling to ``target_sr`` (as :func:`maqamgen.audio.load_audio`)."""
    if sr == target_sr:
        return y
    from math import gcd

    from scipy import signal

    g = gcd(int(sr), int(target_sr))
    return signal.resample_poly(y, target_sr // g, sr // g).astype(np.float32)


def _condition_of(system: LatentSystem, y: np.ndarray, maqam: str | None, tonic_hz: float | None,
                  path) -> tuple[str, float]:
    """The given maqam and tonic, the missing ones estimated from the recording (Chapter 2)."""
    from maqamgen import estimate

    if maqam is not None:
        maqam = system.maqamat[maqam_label(system, maqam)]
    if tonic_hz is not None:
        tonic_hz = check_tonic(tonic_hz)
    if maqam is not None and tonic_hz is not None:
        return maqam, tonic_hz
    if tonic_hz is not None:
        return estimate.estimate_given_tonic(y, system.sr, tonic_hz, maqamat=system.maqamat, path=path).maqam, tonic_hz
    est = estimate.estimate(y, system.sr, maqamat=system.maqamat if maqam is None else (maqam,), path=path)
    return (maqam or est.maqam), float(est.tonic_hz)


def continue_audio(system: LatentSystem, y, sr: int, maqam: str | None = None, tonic_hz: float | None = None,
                   seconds: float = 30.0, seed: int = 0, guidance_scale: float = 2.0, steps: int | None = None,
                   path: str | Path = "<array>") -> tuple[np.ndarray, dict]:
    """A recording followed by ``seconds`` s of its continuation.

    The recording (mono, resampled to ``system.sr``) is cut to its last window's worth of frames
    ending at its end, encoded, and its last ``W // 2`` latent frames (``W``: the U-Net's window)
    are the known prefix of the first window; each later window continues from the previous
    one's last ``lcfg.overlap_frames`` frames (:func:`maqamgen.diffusion.continue_sample`, the
    ``continue`` stitching). The context and the new frames are decoded together, the new ones
    rendered by Griffin-Lim and matched in loudness to the recording's last seconds.

    Args:
        system: the latent system.
        y: the recording, ``(n,)`` or two-dimensional (channels averaged), full scale 1.
        sr: its sample rate, Hz.
        maqam, tonic_hz: the condition; whichever is None is estimated from the recording
            (:func:`maqamgen.estimate.estimate` among the system's maqamat).
        seconds: length of the continuation, s.
        seed, guidance_scale, steps: the sampler (``steps`` default: the profile's).
        path: the recording's name in error messages.

    Returns:
        ``(audio, info)``: float32 at ``system.sr`` (the recording, then the continuation), and
        ``{"maqam", "tonic_hz", "estimated", "input_s", "seconds", "windows"}``.

    Raises:
        AudioError: non-finite or silent samples, a recording shorter than :data:`MIN_CONTINUE_S`.
        EstimationError: no pitched content to estimate the maqam or tonic from.
        ConfigError: an unknown maqam, a bad tonic, seconds or steps.

    Used in: lib/maqamgen/cli.py
    """
    seconds = check_seconds(seconds)
    n_steps = sampling_steps(system, steps)
    try:
        y = _mono(y, sr)
    except AudioError as e:
        raise AudioError(e.problem, path) from None
    if len(y) / sr < MIN_CONTINUE_S:
        raise AudioError(f"recording is {len(y) / sr:.2f} s long; continuing needs at least "
                         f"{MIN_CONTINUE_S:g} s", path)
    y = _resample(y, int(sr), system.sr)
    estimated = [k for k, v in (("maqam", maqam), ("tonic", tonic_hz)) if v is None]
    maqam, tonic = _condition_of(system, y, maqam, tonic_hz, path)
    label = system.maqamat.index(maqam)
    z_ctx = _encode_tail(system, y)
    z, n_windows = _continue_latents(system, z_ctx, _new_latent_frames(system, seconds),
                                     condition(label, tonic, system.unet.spec.cond_dim, system.maqamat),
                                     n_steps, guidance_scale, seed)
    f = system.time_factor
    with torch.no_grad():
        mel = ch06.decode(system.ae, z[None])[0, 0, :, z_ctx.shape[-1] * f:]
    cont = features.to_audio(mel[None], system.normalizer, system.fcfg, system.sr, n_iter=system.lcfg.gl_iter,
                             seed=seed)
    cont = match_loudness(fit_length(cont, int(round(seconds * system.sr))), y[-int(MIN_CONTINUE_S * system.sr):])
    info = {"maqam": maqam, "tonic_hz": tonic, "estimated": estimated, "input_s": len(y) / system.sr,
            "seconds": len(cont) / system.sr, "windows": n_windows}
    return np.concatenate([y, cont]).astype(np.float32), info


def _encode_tail(system: LatentSystem, y: np.ndarray) -> torch.Tensor:
    """Latents ``(C, H, w)`` of the recording's last ``min(W f, whole)`` frames, ending at its end."""
    hop, f, W = system.fcfg.hop_length, system.time_factor, system.window
    T = min(len(y) // hop // f * f, W * f)
    tail = y[len(y) - T * hop:]
    x = ch06.log_mel(tail, system.sr, system.fcfg, system.normalizer, f)
    return ch06.encode(system.ae, torch.from_numpy(x)[None, None])[0]


def _new_latent_frames(system: LatentSystem, seconds: float) -> int:
    """Latent frames whose Griffin-Lim audio lasts at least ``seconds`` (``(T - 1) hop`` samples)."""
    frames = int(np.ceil(seconds * system.sr / system.fcfg.hop_length)) + 1
    return int(np.ceil(frames / system.time_factor))


@torch.no_grad()
def _continue_latents(system: LatentSystem, z_ctx: torch.Tensor, n_new: int, cond: dict, steps: int,
                      guidance_scale: float, seed: int) -> tuple[torch.Tensor, int]:
    """``z_ctx`` followed by at least ``n_new`` generated latent frames, ``(C, H, w + n)``; and the windows."""
    from maqamgen import diffusion

    unet, W = system.unet, system.window
    ov = int(min(max(1, system.lcfg.overlap_frames), W - 1))
    known_n = int(min(z_ctx.shape[-1], max(ov, W // 2)))
    g = torch.Generator().manual_seed(int(seed))
    z = z_ctx.clone()
    n_windows = 0
    while z.shape[-1] - z_ctx.shape[-1] < n_new:
        k = known_n if n_windows == 0 else ov
        known = torch.zeros(1, *unet.shape)
        known[0, ..., :k] = z[..., z.shape[-1] - k:]
        mask = torch.zeros(1, 1, 1, W)
        mask[..., :k] = 1.0
        nxt = diffusion.continue_sample(unet.model, known, mask, unet.schedule, steps=steps,
                                        target=unet.spec.target, cond=cond, guidance_scale=guidance_scale,
                                        generator=g)
        z = torch.cat([z, nxt[0, ..., k:]], dim=-1)
        n_windows += 1
    return z[..., : z_ctx.shape[-1] + n_new], n_windows


def match_loudness(y: np.ndarray, ref: np.ndarray, peak: float = 0.99) -> np.ndarray:
    """``y`` scaled to the RMS of ``ref``, but never above ``peak`` (so nothing clips)."""
    rms_y, rms_ref = float(np.sqrt(np.mean(y ** 2))), float(np.sqrt(np.mean(ref ** 2)))
    top = float(np.max(np.abs(y))) if y.size else 0.0
    if rms_y == 0.0 or top == 0.0:
        return y.astype(np.float32)
    return (y * min(rms_ref / rms_y, peak / top)).astype(np.float32)
