"""Chapter 8's DiT system as a run folder: ``maqamgen train dit`` / ``generate dit``.

A *DiT system* is Chapter 6's autoencoder, the Diffusion Transformer that generates its latents
(conditioned on the maqam, the tonic, per-frame ornaments and the window's place in the piece),
and the way back to audio (Griffin-Lim), in one folder::

    DIR/autoencoder/   checkpoint.pt, losses.csv, ch06.json    (Chapter 6's train_autoencoder)
    DIR/dit/           checkpoint.pt, losses.csv, denoiser.json (diffusion.run.train_denoiser)
    DIR/system.json    kind "dit", the profile's latent and DiT configs, maqamat, sr, decoder

``system.json`` is written (atomically) last: a folder without it is an unfinished run, which
``train_system(..., resume=True)`` continues to the weights of an uninterrupted one. The
autoencoder, the folder rules and the conditions are Chapter 6's
(:mod:`maqamgen.recipes.ch06_system`); the DiT is :func:`maqamgen.recipes.ch08_dit.dit_spec`.

* :func:`train_system` -- train (or resume) the autoencoder and the DiT of a profile into a folder.
* :func:`load_system` -- read a folder back, with one clear error for anything else.
* :func:`piece_ornaments` -- per-latent-frame ornament labels of a whole piece from an ornament spec.
* :func:`window_conditions` -- each window's slice of them and its place in the piece.
* :func:`generate` -- ``seconds`` of a maqam at a tonic, with ornaments where asked: stitched
  latent windows, decoded, Griffin-Lim.

Written for the command line (lib/maqamgen/cli.py); the chapter is book/part3/08_dit.md.
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

from maqamgen import features, ornaments, runtime
from maqamgen import train as trainer
from maqamgen.config import FeatureConfig, LatentChapterConfig, Profile
from maqamgen.diffusion import run
from maqamgen.errors import ConfigError
from maqamgen.nets import autoencoder as ae_mod
from maqamgen.nets.embeddings import ORNAMENTS
from maqamgen.recipes import ch06_latent_diffusion as ch06
from maqamgen.recipes import ch06_system as s6
from maqamgen.recipes import ch08_dit as ch08

SYSTEM_RECORD = s6.SYSTEM_RECORD
"""The record that makes a folder a system (written last); its ``kind`` is ``"dit"``."""

SYSTEM_VERSION = 1
"""Format of a DiT system's :data:`SYSTEM_RECORD`."""

KIND = "dit"
AE_DIR = s6.AE_DIR
DIT_DIR = "dit"

UNKNOWN_ORNAMENT = -1
"""The label of a frame whose ornament is not asked (the DiT's "unknown")."""


@dataclass
class DiTSystem:
    """A trained DiT system.

    Attributes:
        ae: the autoencoder (:class:`maqamgen.nets.autoencoder.Autoencoder`), CPU, eval mode.
        dit: the DiT (:class:`maqamgen.diffusion.run.Trained`: tonic condition, inpainting, and
            the condition keys of :func:`maqamgen.recipes.ch08_dit.condition_keys`).
        lcfg: the profile's :class:`maqamgen.config.LatentChapterConfig` (sampler, overlap, Griffin-Lim).
        fcfg: the log-mel grid (``lcfg.features``).
        normalizer: dB <-> [-1, 1] map of the features.
        sr: sample rate, Hz.
        maqamat: the maqam names it knows (label order).
        profile: the profile's name.
        decoder: the way back to audio (``"griffin_lim"``).
        out_dir: the folder.
        torch_threads: torch threads it was trained with (the DiT chapter's; 0: torch's default).
    """

    ae: nn.Module
    dit: run.Trained
    lcfg: LatentChapterConfig
    fcfg: FeatureConfig
    normalizer: features.Normalizer
    sr: int
    maqamat: tuple[str, ...]
    profile: str
    decoder: str
    out_dir: Path
    torch_threads: int = 1

    @property
    def unet(self) -> run.Trained:
        """The window denoiser under the latent system's name (Chapter 6's helpers read it)."""
        return self.dit

    @property
    def time_factor(self) -> int:
        """Spectrogram frames per latent frame."""
        return int(self.ae.config.factors[1])

    @property
    def window(self) -> int:
        """Latent frames of one DiT window, ``W``."""
        return int(self.dit.shape[-1])

    @property
    def latent_hop_s(self) -> float:
        """Seconds per latent frame: the spectrogram hop times the time factor."""
        return self.fcfg.hop_length * self.time_factor / self.sr

    @property
    def keys(self) -> tuple:
        """The extra condition keys the DiT takes (``ornaments``, ``start_s``, ``total_s``)."""
        return ch08.condition_keys(self.dit.spec)


# ----------------------------------------------------------------------------- training


def holds_run(out: Path) -> bool:
    """The folder holds (part of) a DiT system."""
    return any((out / p).exists() for p in (SYSTEM_RECORD, f"{AE_DIR}/{trainer.CHECKPOINT}",
                                            f"{DIT_DIR}/{trainer.CHECKPOINT}"))


def _record_kind(out: Path) -> str | None:
    """The ``kind`` of the folder's :data:`SYSTEM_RECORD` (None: none, or unreadable)."""
    try:
        rec = json.loads((out / SYSTEM_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return rec.get("kind") if isinstance(rec, dict) else None


def other_model(out: Path) -> str | None:
    """What other model's run folder ``out`` is, in words; None when it is none."""
    if (out / trainer.CHECKPOINT).exists() or (out / run.RECORD).exists():
        return s6.other_model(out)
    if (out / s6.UNET_DIR).is_dir() or _record_kind(out) == "latent":
        return "a latent system of `maqamgen train latent`"
    return None


def _check_train_folder(out: Path, resume: bool, force: bool) -> None:
    """``train dit``'s rules (those of ``train latent``): a folder that holds a run needs ``resume``
    or ``force``, not both; another model's run folder is never taken over."""
    if out.exists() and not out.is_dir():
        raise ConfigError("output exists and is not a folder", out)
    if resume and force:
        raise ConfigError("--resume continues the run in the folder, --force replaces it: give one")
    other = other_model(out)
    if other is not None:
        raise ConfigError(f"folder holds another model ({other}), not a DiT system; choose another folder", out)
    if holds_run(out) and not (resume or force):
        raise ConfigError("folder already holds a run; pass --resume to continue it, --force to start "
                          "afresh, or choose another folder", out)


def train_system(profile: str | Profile, out_dir: str | Path, resume: bool = False,
                 progress: bool | None = None, ckpt_every: int | None = None,
                 force: bool = False) -> DiTSystem:
    """Train the autoencoder and the reference DiT of a profile into ``out_dir`` (or resume them).

    The autoencoder is Chapter 6's (same profile, same weights as ``train latent``'s); the
    training latents carry the DiT's condition keys (ornament labels of the corpus's notes, the
    fragment's place in its clip); the DiT is :func:`maqamgen.recipes.ch08_dit.dit_spec` of
    ``profile.dit`` and ``profile.latent``.

    Args:
        profile: a profile name or :class:`maqamgen.config.Profile`.
        out_dir: the run folder (created).
        resume: continue an interrupted run (a finished autoencoder is reused).
        progress: progress bars (None: the configs' own).
        ckpt_every: checkpoint every this many steps (None: the configs'); not part of the weights.
        force: start afresh in a folder that holds a run.

    Returns:
        The :class:`DiTSystem`; ``out_dir/system.json`` is written last.

    Raises:
        ConfigError: a folder that holds a run without ``resume`` / ``force``, both, another
            model's run folder (a latent system too), a bad profile or ``ckpt_every``.

    Used in: lib/maqamgen/cli.py
    """
    from maqamgen import config, corpus

    p = config.profile(profile) if isinstance(profile, str) else profile
    lcfg, dcfg = p.latent, p.dit
    out = Path(out_dir)
    _check_train_folder(out, resume, force)
    if ckpt_every is not None and int(ckpt_every) < 1:
        raise ConfigError(f"ckpt_every must be a positive number of steps, got {ckpt_every}")
    if force:  # the record goes first: a crash now leaves an unfinished run, never a stale system
        (out / SYSTEM_RECORD).unlink(missing_ok=True)
        for sub in (AE_DIR, DIT_DIR):
            shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    runtime.set_threads(lcfg.torch_threads)
    corp = corpus.load(p, progress=bool(progress))
    ae = ch06.train_autoencoder(corp, lcfg.features, lcfg.ae_preset, s6.run_settings(lcfg.ae_train, progress,
                                                                                     ckpt_every),
                                lcfg.ae_crop_frames, out_dir=out / AE_DIR, resume=resume,
                                latent_items=lcfg.latent_items)
    lat_train, _ = ch06.encode_fragments(ae, corp, "train", lcfg)
    spec = ch08.dit_spec(dcfg, lcfg, tuple(lat_train.x.shape[1:]), seed=p.seed)
    spec = dataclasses.replace(spec, train=s6.run_settings(spec.train, None, ckpt_every))
    runtime.set_threads(dcfg.torch_threads)
    dit = run.train_denoiser(spec, ch08.training_set(spec, lat_train), out_dir=out / DIT_DIR,
                             resume=resume, progress=progress, device="auto")
    rec = {"kind": KIND, "version": SYSTEM_VERSION, "profile": p.name, "latent": dataclasses.asdict(lcfg),
           "dit": dataclasses.asdict(dcfg), "condition_keys": list(ch08.condition_keys(spec)),
           "maqamat": list(lat_train.maqamat), "sr": int(lat_train.sr), "decoder": "griffin_lim",
           "autoencoder": dataclasses.asdict(ae.model.config), "normalizer": ae.normalizer.to_dict(),
           "tonic_hz_range": [float(np.min(lat_train.tonic_hz)), float(np.max(lat_train.tonic_hz))],
           "train_seconds": {"autoencoder": float(ae.seconds), "dit": float(dit.seconds)}}
    runtime.atomic_write(out / SYSTEM_RECORD, json.dumps(rec, indent=1))
    return DiTSystem(ae.model.eval(), dit, lcfg, lcfg.features, ae.normalizer, int(lat_train.sr),
                     tuple(lat_train.maqamat), p.name, "griffin_lim", out, int(dcfg.torch_threads))


# ----------------------------------------------------------------------------- loading


def _missing_record(out: Path) -> ConfigError:
    """The error for a folder without :data:`SYSTEM_RECORD`: another model, unfinished, or nothing."""
    other = other_model(out)
    if other is not None:
        return ConfigError(f"holds a checkpoint of another model ({other}), not a DiT system of "
                           "`maqamgen train dit`", out)
    if (out / AE_DIR).is_dir() or (out / DIT_DIR).is_dir():
        return ConfigError(f"an unfinished DiT system (no {SYSTEM_RECORD}); continue it with "
                           "`maqamgen train dit --resume`", out)
    return ConfigError(f"not a DiT-system folder (no {SYSTEM_RECORD} from `maqamgen train dit`)", out)


def _read_record(out: Path) -> dict:
    """The folder's :data:`SYSTEM_RECORD`, checked to be a DiT system's of this format."""
    try:
        rec = json.loads((out / SYSTEM_RECORD).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"unreadable {SYSTEM_RECORD} ({type(e).__name__}: {str(e)[:120]})", out) from None
    kind = rec.get("kind") if isinstance(rec, dict) else type(rec).__name__
    if kind == "latent":
        raise ConfigError("holds another model (a latent system of `maqamgen train latent`), not a DiT "
                          "system of `maqamgen train dit`", out)
    if kind != KIND:
        raise ConfigError(f"{SYSTEM_RECORD} is not of a DiT system (kind {kind!r})", out)
    if rec.get("version") != SYSTEM_VERSION:
        raise ConfigError(f"{SYSTEM_RECORD} is of format {rec.get('version')!r}, this maqamgen reads "
                          f"{SYSTEM_VERSION}: train the system again", out)
    return rec


def load_system(out_dir: str | Path) -> DiTSystem:
    """Read a folder written by :func:`train_system`.

    Raises:
        ConfigError: no such folder; a folder of another model (``maqamgen train unet``, a latent
            system of ``maqamgen train latent`` or its ``latent_unet`` folder); an unfinished run
            (no ``system.json``); an unreadable record or checkpoint. The message names the folder
            and what is missing or wrong.

    Used in: lib/maqamgen/cli.py
    """
    out = Path(out_dir)
    if not out.exists():
        raise ConfigError("no such folder", out)
    if not out.is_dir():
        raise ConfigError("is not a folder; give the run folder of `maqamgen train dit`", out)
    if not (out / SYSTEM_RECORD).exists():
        raise _missing_record(out)
    rec = _read_record(out)
    try:
        lcfg = s6.latent_config_of(rec["latent"])
        ae = ae_mod.Autoencoder(s6.autoencoder_config_of(rec["autoencoder"]))
        normalizer = features.Normalizer(**rec["normalizer"])
        maqamat = tuple(str(m) for m in rec["maqamat"])
        sr, decoder, prof = int(rec["sr"]), str(rec["decoder"]), str(rec["profile"])
        threads = int(rec["dit"]["torch_threads"])
        if not maqamat or decoder != "griffin_lim":
            raise ValueError(f"maqamat {list(maqamat)}, decoder {decoder!r}")
    except ConfigError as e:
        raise ConfigError(f"unreadable {SYSTEM_RECORD} ({e})", out) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        what = f"lacks {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {str(e)[:120]}"
        raise ConfigError(f"unreadable {SYSTEM_RECORD} ({what})", out) from None
    if not (out / AE_DIR / trainer.CHECKPOINT).exists():
        raise ConfigError(f"lacks {AE_DIR}/{trainer.CHECKPOINT}", out)
    trainer.load_checkpoint(out / AE_DIR, ae)
    dit = run.load_denoiser(out / DIT_DIR)
    if (dit.spec.net != "dit" or tuple(dit.maqamat) != maqamat or not dit.spec.inpainting
            or dit.spec.cond_dim not in ch06.COND_DIMS):
        raise ConfigError(f"{DIT_DIR} is not the DiT of this system", out)
    return DiTSystem(ae.eval(), dit, lcfg, lcfg.features, normalizer, sr, maqamat, prof, decoder, out, threads)


# ----------------------------------------------------------------------------- conditions


def piece_ornaments(asked: list[tuple[str, float, float]] | None, n_frames: int, hop_s: float) -> torch.Tensor:
    """Per-latent-frame ornament labels of a piece: ``(n_frames,)`` int64 into :data:`ORNAMENTS`.

    Frame ``i`` (centre ``t_i = (i + 1/2) hop_s``, as :func:`maqamgen.nets.embeddings.ornament_frames`)
    gets the kind of the last asked span ``[start, end)`` holding ``t_i``; a span holding no frame
    centre (shorter than a frame) labels the frame holding its middle. Frames outside every span
    are ``none`` (0) when ornaments are asked (even none at all: ``asked == []``), and unknown
    (:data:`UNKNOWN_ORNAMENT`, -1) everywhere when ``asked`` is None.

    Args:
        asked: ``(kind, start_s, end_s)`` spans (:func:`maqamgen.ornaments.parse_ornament_spec`), or None.
        n_frames: latent frames to label (the piece, and past its end for the last window).
        hop_s: seconds per latent frame.

    Returns:
        ``(n_frames,)`` int64.
    """
    if asked is None:
        return torch.full((int(n_frames),), UNKNOWN_ORNAMENT, dtype=torch.int64)
    t = (torch.arange(int(n_frames), dtype=torch.float64) + 0.5) * float(hop_s)
    out = torch.zeros(int(n_frames), dtype=torch.int64)
    for kind, a, b in asked:
        inside = (t >= a) & (t < b)
        if not bool(inside.any()):
            inside = torch.zeros_like(inside)
            inside[min(int((a + b) / 2 / hop_s), int(n_frames) - 1)] = True
        out[inside] = ORNAMENTS.index(kind)
    return out


def window_conditions(labels: torch.Tensor, hop_s: float, total_s: float, keys: tuple):
    """The ``window_cond`` of :func:`maqamgen.diffusion.stitch.generate_stitched` for a DiT taking ``keys``.

    The window on latent frames ``[start, end)`` gets ``ornaments`` = ``labels[start:end]``
    ``(1, W)`` and its place in the piece, ``start_s = start hop_s`` and ``total_s`` ``(1,)`` s --
    each only when the DiT takes it (:func:`maqamgen.recipes.ch08_dit.condition_keys`).

    Args:
        labels: ``(n,)`` per-frame labels of the piece (:func:`piece_ornaments`), ``n`` at least
            the last window's end.
        hop_s: seconds per latent frame.
        total_s: the piece's length, s.
        keys: the DiT's condition keys.

    Returns:
        A callable ``(start, end) -> dict``.
    """
    def window_cond(start: int, end: int) -> dict:
        out = {}
        if "ornaments" in keys:
            out["ornaments"] = labels[None, start:end]
        if "start_s" in keys:
            out["start_s"] = torch.tensor([start * hop_s], dtype=torch.float32)
            out["total_s"] = torch.tensor([total_s], dtype=torch.float32)
        return out

    return window_cond


# ----------------------------------------------------------------------------- generation


def generate(system: DiTSystem, maqam: str, tonic_hz: float | None = None, seconds: float = 60.0,
             ornaments_spec: str | None = None, method: str = "multidiffusion", seed: int = 0,
             guidance_scale: float = 2.0, steps: int | None = None) -> np.ndarray:
    """``seconds`` s of ``maqam`` at ``tonic_hz``, with the ornaments asked where asked: DiT latent
    windows stitched by ``method`` (each window told its slice of the piece's ornament labels
    and its place in the piece), decoded by the autoencoder, Griffin-Lim.

    Args:
        system: the DiT system.
        maqam: a maqam the system knows.
        tonic_hz: the tonic, Hz (default: the maqam's usual tonic).
        seconds: length, s.
        ornaments_spec: ``"vibrato@2-4,slide@6"`` (:func:`maqamgen.ornaments.parse_ornament_spec`):
            those ornaments in those spans, none elsewhere; None: the ornaments are left to the
            model (unknown).
        method: :data:`maqamgen.diffusion.stitch.STITCH_METHODS`.
        seed: same seed, same audio.
        guidance_scale: classifier-free guidance weight (guidance drops the ornaments and the
            position with the maqam and tonic).
        steps: DDIM steps per window (default: the profile's ``sample_steps``).

    Returns:
        float32 audio, ``round(seconds * sr)`` samples at ``system.sr``.

    Raises:
        ConfigError: an unknown maqam, a bad tonic, seconds, steps or method; a malformed spec, an
            unknown ornament, a span outside the piece; ornaments asked of a DiT without the
            ornament encoding.

    Used in: lib/maqamgen/cli.py
    """
    from maqamgen.diffusion import stitch

    label = s6.maqam_label(system, maqam)
    tonic = s6.check_tonic(s6.usual_tonic_hz(system.maqamat[label]) if tonic_hz is None else tonic_hz)
    seconds = s6.check_seconds(seconds)
    n_steps = s6.sampling_steps(system, steps)
    asked = None if ornaments_spec is None else ornaments.parse_ornament_spec(ornaments_spec, seconds)
    if asked is not None and "ornaments" not in system.keys:
        raise ConfigError("this DiT was trained without the ornament encoding: it cannot be asked for ornaments")
    hop, sr, f, W = system.fcfg.hop_length, system.sr, system.time_factor, system.window
    n_latent = int(np.ceil(np.ceil((seconds + hop / sr) * sr / hop) / f))
    labels = piece_ornaments(asked, n_latent + W, system.latent_hop_s)
    cond = s6.condition(label, tonic, system.dit.spec.cond_dim, system.maqamat)
    st = stitch.generate_stitched(ch06.window_model(system.dit), n_latent, method, cond=cond,
                                  overlap=None if method == "concat" else int(system.lcfg.overlap_frames),
                                  steps=n_steps, guidance_scale=guidance_scale, seed=seed,
                                  n_resample=system.lcfg.n_resample,
                                  window_cond=window_conditions(labels, system.latent_hop_s, seconds, system.keys))
    with torch.no_grad():
        mel = ch06.decode(system.ae, st.x[None])[0, 0]
    y = features.to_audio(mel[None], system.normalizer, system.fcfg, sr, n_iter=system.lcfg.gl_iter, seed=seed)
    return s6.fit_length(y, int(round(seconds * sr)))
