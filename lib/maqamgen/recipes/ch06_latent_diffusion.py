"""Chapter 6 helpers: the autoencoder and the learned vocoder trained on the corpus, and the
round trip audio -> log-mel -> (autoencoder) -> audio judged against the ground truth.

* :func:`train_autoencoder` -- :class:`maqamgen.nets.autoencoder.Autoencoder` from a preset on
  normalised log-mel crops of the training clips (:func:`maqamgen.features.load_patches`), through
  :func:`maqamgen.train.train`; latents scaled to unit variance
  (:func:`maqamgen.nets.autoencoder.fit_latent_scale`); cached by content under
  ``data/cache/ch06/ae/<key>``.
* :func:`train_vocoder` -- :class:`maqamgen.nets.vocoder.Vocoder` from a preset on audio crops of the
  training clips (its features computed from the audio, on the same mel grid and normalisation
  as the autoencoder's input), cached under ``data/cache/ch06/vocoder/<key>``.
* :func:`round_trip` -- one signal through the features, optionally the autoencoder, and back to
  audio by Griffin-Lim (:func:`maqamgen.features.to_audio`) or the vocoder.
* :func:`heldout_fragments`, :func:`round_trip_table` -- held-out fragments of ``seconds`` s and,
  for the original and each round trip, pitch fidelity (:func:`maqamgen.metrics.pitch_fidelity`),
  multi-resolution STFT distance (:func:`maqamgen.metrics.multi_resolution_stft_distance`) and
  the Chapter 2 estimator's maqam accuracy, known tonic and free
  (:func:`maqamgen.estimate.estimate_given_tonic`, :func:`maqamgen.estimate.estimate`), each
  with its interval.

Cache keys: the model config, the training config (without its run-only fields), a digest of the
training data, the code digest (AST, docstrings excluded) of the network module and of the
training loop, and :data:`RECIPE_VERSION` (bump it when this recipe's data preparation changes).

Written for Chapter 6 (book/part1/06_latent_diffusion.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from maqamgen import estimate, features, metrics, runtime, trackers
from maqamgen import maqam as mq
from maqamgen import train as trainer
from maqamgen.config import FeatureConfig, TrainConfig
from maqamgen.errors import ConfigError
from maqamgen.nets import autoencoder as ae_mod
from maqamgen.nets import vocoder as voc_mod

RECIPE_VERSION = 1
"""Part of every cache key of this recipe; bump it when cached models must be retrained."""

RECORD = "ch06.json"
"""The record written beside ``checkpoint.pt`` in a run folder."""

_RUN_ONLY = ("progress", "device", "num_workers", "ckpt_every", "log_every")

DECODERS = ("griffin_lim", "vocoder")
"""Ways back to audio known to :func:`round_trip`."""


# ----------------------------------------------------------------------------- caching


def _code_digest(*modules) -> str:
    """Digest of the code of ``modules`` (AST, docstrings and comments excluded:
    :func:`maqamgen.runtime.code_digest`, the one the book's cache keys use)."""
    return runtime.digest([runtime.code_digest(m.__file__) for m in modules])


def _train_dict(cfg: TrainConfig) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k not in _RUN_ONLY}


def _cache_lock(out: Path, cached_dir: bool):
    """:func:`maqamgen.runtime.locked` on a cache entry's folder (two processes asking for the same
    network at once: one trains it, the other then reads it); no lock for a folder the caller chose."""
    return runtime.locked(out) if cached_dir else contextlib.nullcontext()


def _cached(out: Path, key_blob: dict, steps: int) -> dict | None:
    rec_path = out / RECORD
    if not (rec_path.exists() and (out / trainer.CHECKPOINT).exists()):
        return None
    try:
        rec = json.loads(rec_path.read_text())
    except ValueError:
        return None
    if rec.get("steps_done") != steps or rec.get("key") != json.loads(json.dumps(key_blob, default=str)):
        return None
    return rec


@dataclass
class TrainedNet:
    """A trained network of this chapter and what it was trained on.

    Attributes:
        model: the EMA weights (or raw weights without EMA), on CPU, in eval mode.
        normalizer: the dB <-> [-1, 1] map of its features (fitted on the training split).
        fcfg: the log-mel settings of its features.
        sr: sample rate, Hz.
        losses: the loss curve (:func:`maqamgen.train.read_losses`).
        seconds: training wall time, s.
        out_dir: the run folder.
        cached: loaded from the cache rather than trained in this call.
        n_train: training items (crops).
    """

    model: nn.Module
    normalizer: features.Normalizer
    fcfg: FeatureConfig
    sr: int
    losses: dict
    seconds: float
    out_dir: Path
    cached: bool
    n_train: int

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def _finish(out, key_blob, norm, fcfg, sr, seconds, n_train, extra=None) -> dict:
    """Write the run's record (the cache key, steps done, wall time, features) beside its checkpoint."""
    rec = {"version": RECIPE_VERSION, "key": json.loads(json.dumps(key_blob, default=str)),
           "steps_done": int(key_blob["train"]["steps"]), "seconds": float(seconds),
           "normalizer": norm.to_dict(), "features": dataclasses.asdict(fcfg), "sr": int(sr),
           "n_train": int(n_train), **(extra or {})}
    runtime.atomic_write(out / RECORD, json.dumps(rec, indent=1))
    return rec


# ----------------------------------------------------------------------------- the autoencoder


def crop_config(fcfg: FeatureConfig, crop_frames: int, crop_stride: int | None = None) -> FeatureConfig:
    """``fcfg`` with patches of ``crop_frames`` frames every ``crop_stride`` (default: half) frames:
    the training crops of a fully convolutional network."""
    return dataclasses.replace(fcfg, frames=int(crop_frames),
                               patch_stride=int(crop_stride or max(1, crop_frames // 2)))


def train_autoencoder(corp, fcfg: FeatureConfig, preset: str = "book", train_cfg: TrainConfig | None = None,
                      crop_frames: int = 64, crop_stride: int | None = None, overrides: dict | None = None,
                      out_dir: str | Path | None = None, resume: bool = False,
                      latent_items: int = 512) -> TrainedNet:
    """Train the autoencoder of preset ``preset`` on log-mel crops of the training split (or load it).

    Args:
        corp: a :class:`maqamgen.corpus.Corpus`.
        fcfg: log-mel settings (bands, hop, band edges, dynamic range); ``frames`` and
            ``patch_stride`` are replaced by ``crop_frames`` and ``crop_stride``.
        preset: :data:`maqamgen.nets.autoencoder.AE_PRESETS` name.
        train_cfg: the training run (default ``TrainConfig()``).
        crop_frames: frames per training crop (a multiple of the preset's time factor).
        crop_stride: frames between crops of a clip (default ``crop_frames // 2``).
        overrides: fields of the preset to change (e.g. ``{"kl_weight": 0.0}``).
        out_dir: run folder (default ``data/cache/ch06/ae/<key>``: a finished run is reused);
            with an explicit folder, ``resume=True`` continues an interrupted run.
        resume: continue from the folder's checkpoint.
        latent_items: training crops used by :func:`maqamgen.nets.autoencoder.fit_latent_scale`.

    Returns:
        A :class:`TrainedNet` whose model has its latent shift and scale set.
    """
    train_cfg = train_cfg or TrainConfig()
    ae_cfg = ae_mod.autoencoder_config(preset, **dict(overrides or {}))
    ccfg = crop_config(fcfg, crop_frames, crop_stride)
    ae_cfg.latent_shape(ccfg.n_mels, ccfg.frames)  # raises a clear ConfigError for bad sizes
    data = features.load_patches(corp, "train", ccfg)
    from maqamgen.diffusion.run import data_digest

    key_blob = {"kind": "autoencoder", "model": dataclasses.asdict(ae_cfg), "train": _train_dict(train_cfg),
                "data": data_digest(data), "latent_items": int(latent_items),
                "code": _code_digest(ae_mod, trainer), "v": RECIPE_VERSION}
    cached_dir = out_dir is None
    out = Path(out_dir) if out_dir is not None else runtime.cache_dir("ch06", "ae", runtime.digest(key_blob))
    torch.manual_seed(train_cfg.seed)  # the initial weights are part of the seeded run
    model = ae_mod.Autoencoder(ae_cfg)
    with _cache_lock(out, cached_dir):  # two processes asking at once train it once
        rec = _cached(out, key_blob, train_cfg.steps) if (cached_dir or resume) else None
        if rec is not None:
            trainer.load_checkpoint(out, model)
            return TrainedNet(model.eval(), data.normalizer, ccfg, data.sr, trainer.read_losses(out),
                              float(rec["seconds"]), out, True, len(data))
        t0 = time.time()
        res = trainer.train(model, data.dataset(), ae_mod.autoencoder_loss, train_cfg, out, resume=resume)
        net = res.ema_model().cpu().eval()
        ae_mod.fit_latent_scale(net, data, max_items=latent_items)
        # the scaled buffers travel with the checkpoint's weights: store them in the EMA and raw weights
        ck = trainer.read_checkpoint(out / trainer.CHECKPOINT)
        for part in (ck.get("ema") or {}).get("shadow"), ck.get("model"):
            if isinstance(part, dict):
                part["latent_shift"] = net.latent_shift.detach().clone()
                part["latent_scale"] = net.latent_scale.detach().clone()
        trainer.save_checkpoint(out / trainer.CHECKPOINT, ck)
        seconds = time.time() - t0
        _finish(out, key_blob, data.normalizer, ccfg, data.sr, seconds, len(data),
                {"latent_shift": float(net.latent_shift), "latent_scale": float(net.latent_scale)})
        return TrainedNet(net, data.normalizer, ccfg, data.sr, trainer.read_losses(out), seconds, out,
                          False, len(data))


# ----------------------------------------------------------------------------- the vocoder


def vocoder_features_config(preset: str, fcfg: FeatureConfig, normalizer: features.Normalizer, sr: int,
                            **overrides) -> voc_mod.VocoderConfig:
    """The vocoder preset reading the chapter's log-mel features: bands, hop, mel FFT, band edges
    and normalisation taken from ``fcfg`` and ``normalizer`` (so the autoencoder's output is its input)."""
    fixed = dict(n_mels=fcfg.n_mels, hop_length=fcfg.hop_length, mel_n_fft=fcfg.n_fft, f_min=fcfg.f_min,
                 f_max=fcfg.f_max, top_db=normalizer.top_db, range_db=normalizer.range_db, sr=int(sr))
    base = voc_mod.VOCODER_PRESETS[preset] if preset in voc_mod.VOCODER_PRESETS else None
    if base is not None and base.n_fft < 2 * fcfg.hop_length:
        fixed["n_fft"] = 4 * fcfg.hop_length
    return voc_mod.vocoder_config(preset, **{**fixed, **overrides})


def audio_crops(corp, split: str, samples: int, stride: int) -> torch.Tensor:
    """Crops of ``samples`` samples every ``stride`` samples of every clip of ``split``:
    ``(N, samples)`` float32 (clips in corpus order, crops in time order)."""
    rows = []
    for clip in corp.split(split):
        y, _ = corp.audio(clip)
        for s in range(0, len(y) - samples + 1, stride):
            rows.append(np.asarray(y[s:s + samples], dtype=np.float32))
    if not rows:
        raise ConfigError(f"split {split!r} has no clip of {samples} samples")
    return torch.from_numpy(np.stack(rows))


def train_vocoder(corp, fcfg: FeatureConfig, normalizer: features.Normalizer, preset: str = "book",
                  train_cfg: TrainConfig | None = None, crop_frames: int = 32, crop_stride: int | None = None,
                  overrides: dict | None = None, out_dir: str | Path | None = None,
                  resume: bool = False) -> TrainedNet:
    """Train the vocoder of preset ``preset`` on (log-mel, audio) pairs of the training split (or load it).

    The features are computed from each audio crop by :meth:`maqamgen.nets.vocoder.Vocoder.features`
    on the grid of ``fcfg`` with ``normalizer`` (:func:`vocoder_features_config`), the loss is
    :func:`maqamgen.nets.vocoder.vocoder_loss`.

    Args:
        corp: a :class:`maqamgen.corpus.Corpus`.
        fcfg: log-mel settings (the autoencoder's).
        normalizer: the autoencoder's normaliser (:attr:`TrainedNet.normalizer`).
        preset: :data:`maqamgen.nets.vocoder.VOCODER_PRESETS` name.
        train_cfg: the training run (default ``TrainConfig()``).
        crop_frames: frames per training crop (``crop_frames * hop`` samples).
        crop_stride: frames between crops (default ``crop_frames // 2``).
        overrides: other fields of the vocoder preset.
        out_dir, resume: as :func:`train_autoencoder` (default folder ``data/cache/ch06/vocoder/<key>``).

    Returns:
        A :class:`TrainedNet`.
    """
    train_cfg = train_cfg or TrainConfig()
    sr = int(corp.config["sr"])
    vcfg = vocoder_features_config(preset, fcfg, normalizer, sr, **dict(overrides or {}))
    hop = vcfg.hop_length
    stride = int(crop_stride or max(1, crop_frames // 2))
    data = audio_crops(corp, "train", int(crop_frames) * hop, stride * hop)
    key_blob = {"kind": "vocoder", "model": dataclasses.asdict(vcfg), "train": _train_dict(train_cfg),
                "data": {"corpus": corp.hash, "ids": [c.id for c in corp.split("train")],
                         "crop": [int(crop_frames), stride], "n": len(data)},
                "code": _code_digest(voc_mod, trainer), "v": RECIPE_VERSION}
    cached_dir = out_dir is None
    out = Path(out_dir) if out_dir is not None else runtime.cache_dir("ch06", "vocoder", runtime.digest(key_blob))
    torch.manual_seed(train_cfg.seed)
    model = voc_mod.Vocoder(vcfg)
    ccfg = crop_config(fcfg, crop_frames, stride)
    with _cache_lock(out, cached_dir):  # two processes asking at once train it once
        rec = _cached(out, key_blob, train_cfg.steps) if (cached_dir or resume) else None
        if rec is not None:
            trainer.load_checkpoint(out, model)
            return TrainedNet(model.eval(), normalizer, ccfg, sr, trainer.read_losses(out),
                              float(rec["seconds"]), out, True, len(data))
        t0 = time.time()
        res = trainer.train(model, data, voc_mod.vocoder_loss, train_cfg, out, resume=resume)
        net = res.ema_model().cpu().eval()
        seconds = time.time() - t0
        _finish(out, key_blob, normalizer, ccfg, sr, seconds, len(data))
        return TrainedNet(net, normalizer, ccfg, sr, trainer.read_losses(out), seconds, out, False, len(data))


# ----------------------------------------------------------------------------- the round trip


def log_mel(y: np.ndarray, sr: int, fcfg: FeatureConfig, normalizer: features.Normalizer,
            multiple: int = 1) -> np.ndarray:
    """Normalised log-mel of a signal on the vocoder's frame grid: ``N`` samples give
    ``N // hop`` frames (the centred frames of :func:`maqamgen.features.clip_mel_db` without the
    last), cut to a multiple of ``multiple`` frames. ``(n_mels, T)`` float32 in [-1, 1]."""
    x = normalizer.forward(features.clip_mel_db(np.asarray(y, dtype=np.float32), sr, fcfg))
    T = (len(y) // fcfg.hop_length) // multiple * multiple
    if T < 1:
        raise ConfigError(f"a signal of {len(y)} samples gives no {multiple}-frame block at hop {fcfg.hop_length}")
    return x[:, :T]


@torch.no_grad()
def round_trip(y: np.ndarray, sr: int, fcfg: FeatureConfig, normalizer: features.Normalizer,
               autoencoder: nn.Module | None = None, decoder: str | nn.Module = "griffin_lim",
               gl_iter: int = 32, seed: int = 0) -> np.ndarray:
    """Audio -> normalised log-mel -> (autoencoder encode / decode) -> audio.

    Args:
        y: mono audio at ``sr``, ``N`` samples.
        sr: sample rate, Hz.
        fcfg: log-mel settings (the autoencoder's and the vocoder's).
        normalizer: dB <-> [-1, 1] map.
        autoencoder: an :class:`maqamgen.nets.autoencoder.Autoencoder` (its mean latent is decoded),
            or None to go straight from the features back to audio (the decoder's own ceiling).
        decoder: ``"griffin_lim"`` (:func:`maqamgen.features.to_audio`, ``gl_iter`` iterations,
            peak-normalised) or a :class:`maqamgen.nets.vocoder.Vocoder` (its ``hop_length`` must
            be ``fcfg.hop_length``).
        gl_iter: Griffin-Lim iterations.
        seed: Griffin-Lim's initial phase seed.

    Returns:
        float32 audio of ``T hop`` samples (vocoder) or ``(T - 1) hop`` (Griffin-Lim), with ``T``
        the frames kept (``N // hop`` cut to a multiple of the autoencoder's time factor).
    """
    multiple = autoencoder.config.factors[1] if autoencoder is not None else 1
    x = torch.from_numpy(log_mel(y, sr, fcfg, normalizer, multiple))[None, None]
    if autoencoder is not None:
        z = autoencoder.encode(x, sample=False)[0]
        x = autoencoder.decode(z).clamp(-1.0, 1.0)
    if isinstance(decoder, str):
        if decoder != "griffin_lim":
            raise ConfigError(f"unknown decoder {decoder!r}; known: {', '.join(DECODERS)} (or a Vocoder)")
        return features.to_audio(x[0], normalizer, fcfg, sr, n_iter=gl_iter, seed=seed)
    if getattr(decoder, "config", None) is None or decoder.config.hop_length != fcfg.hop_length:
        raise ConfigError("the vocoder's hop_length must equal the features' hop_length")
    return decoder(x[:, 0]).squeeze(0).cpu().numpy().astype(np.float32)


@dataclass(frozen=True)
class Fragment:
    """A held-out fragment: ``clip`` (a :class:`maqamgen.corpus.Clip`), its audio ``y`` from
    ``start_s`` for ``len(y) / sr`` seconds, and the clip's notes (clip time)."""

    clip: object
    start_s: float
    y: np.ndarray
    notes: tuple


def heldout_fragments(corp, n: int, seconds: float = 6.0, split: str = "test",
                      hop_length: int = 512, multiple: int = 4) -> list[Fragment]:
    """``n`` fragments of about ``seconds`` s from the clips of ``split``, deterministic.

    Each clip is cut into side-by-side fragments from its start. The clips are ordered
    round-robin over the maqamat (the first clip of each maqam, then the second of each, ...) and
    the fragments taken one clip after another (every clip's first fragment, then the second
    ones), so ``n`` fragments cover as many maqamat, then clips, as possible. Fragments hold
    ``floor(seconds sr / hop / multiple) multiple hop`` samples: whole frames, a whole number
    of autoencoder columns.

    Raises:
        ConfigError: no clip of ``split`` is that long.
    """
    sr = int(corp.config["sr"])
    T = int(seconds * sr / hop_length) // multiple * multiple
    N = T * hop_length
    if T < multiple:
        raise ConfigError(f"{seconds} s is shorter than one {multiple}-frame block")
    by_maqam: dict[str, list] = {}
    for clip in corp.split(split):
        k = int(clip.seconds * sr) // N
        if k:
            by_maqam.setdefault(clip.maqam, []).append((clip, k))
    per_clip = [lst[r] for r in range(max((len(v) for v in by_maqam.values()), default=0))
                for lst in by_maqam.values() if r < len(lst)]
    if not per_clip:
        raise ConfigError(f"no clip of split {split!r} is {N / sr:.2f} s long")
    out: list[Fragment] = []
    j = 0
    while len(out) < n and any(k > j for _, k in per_clip):
        for clip, k in per_clip:
            if j < k and len(out) < n:
                y, _ = corp.audio(clip)
                notes, _ = corp.notes(clip)
                out.append(Fragment(clip, j * N / sr, np.asarray(y[j * N:(j + 1) * N], np.float32), tuple(notes)))
        j += 1
    return out


def judge_audio(y: np.ndarray, sr: int, frag: Fragment, maqamat=None, tol_cents: float = 15.0,
                reference: np.ndarray | None = None) -> dict:
    """One signal of a fragment judged: pitch fidelity against the clip's notes, maqam by the
    known-tonic and the free estimator, and the MR-STFT distance to ``reference`` (NaN without).

    Returns:
        ``{"within", "median_abs_cents", "octave_share", "voiced_recall", "n_frames",
        "maqam_given_tonic", "maqam_free", "correct_given_tonic", "correct_free", "mrstft"}``;
        audio with too little pitch gets maqam ``None`` (counted wrong).
    """
    track = estimate.pitch_track(y, sr)
    pf = metrics.pitch_fidelity(track, frag.notes, tol_cents=tol_cents, offset_s=frag.start_s)
    out = {k: pf[k] for k in ("within", "median_abs_cents", "octave_share", "voiced_recall", "n_frames")}
    try:
        given = estimate.estimate_given_tonic(y, sr, frag.clip.tonic_hz, maqamat=maqamat, track=track).maqam
    except estimate.EstimationError:
        given = None
    try:
        free = estimate.estimate(y, sr, maqamat=maqamat, track=track).maqam
    except estimate.EstimationError:
        free = None
    out.update(maqam_given_tonic=given, maqam_free=free, correct_given_tonic=given == frag.clip.maqam,
               correct_free=free == frag.clip.maqam,
               mrstft=(metrics.multi_resolution_stft_distance(y, reference, sr)
                       if reference is not None else float("nan")))
    return out


@dataclass
class RoundTripTable:
    """What :func:`round_trip_table` returns.

    Attributes:
        summary: one row per system (``original`` first): ``n``; ``within`` (share of voiced
            note frames within the tolerance; mean over fragments) with ``within_lo``,
            ``within_hi`` (bootstrap over fragments); ``median_abs_cents`` (median over fragments
            of each fragment's median) with its bootstrap interval; ``mrstft`` (mean) with its
            bootstrap interval; ``acc_given_tonic`` and ``acc_free`` with Wilson intervals
            (``_lo``, ``_hi``); ``voiced_recall``, ``octave_share`` (means); ``seconds`` (wall
            time of decoding and judging that system).
        fragments: one row per (system, fragment): the measures of :func:`judge_audio` plus
            ``system``, ``clip``, ``maqam``, ``start_s``.
        audio: ``{system: [audio per fragment]}`` for listening tables.
    """

    summary: "object"
    fragments: "object"
    audio: dict


def round_trip_table(corp, systems: dict, fcfg: FeatureConfig, normalizer: features.Normalizer,
                     n: int = 16, seconds: float = 6.0, split: str = "test", gl_iter: int = 32,
                     tol_cents: float = 15.0, n_boot: int = 1000, maqamat=None,
                     keep_audio: bool = False) -> RoundTripTable:
    """The round-trip table: the original and every system on the same held-out fragments.

    Args:
        corp: a :class:`maqamgen.corpus.Corpus`.
        systems: ``{name: (autoencoder or None, decoder)}`` with ``decoder`` ``"griffin_lim"`` or a
            Vocoder (see :func:`round_trip`), e.g. ``{"GL": (None, "griffin_lim"), "AE + GL": (ae,
            "griffin_lim"), "AE + vocoder": (ae, voc)}``.
        fcfg: log-mel settings of the systems.
        normalizer: their dB <-> [-1, 1] map.
        n: fragments.
        seconds: fragment length, s (6 for the report's fragments).
        split: held-out split.
        gl_iter: Griffin-Lim iterations.
        tol_cents: pitch tolerance, cents (15 in the issue's target).
        n_boot: bootstrap resamples of the intervals.
        maqamat: the estimator's candidates (default: its own list).
        keep_audio: keep every decoded signal in :attr:`RoundTripTable.audio`.

    Returns:
        A :class:`RoundTripTable`.
    """
    import pandas as pd

    multiple = max([a.config.factors[1] for a, _ in systems.values() if a is not None] + [1])
    frags = heldout_fragments(corp, n, seconds, split, fcfg.hop_length, multiple)
    sr = int(corp.config["sr"])
    rows, audio_out, timing = [], {}, {}
    for name, (ae, dec) in [("original", (None, None)), *systems.items()]:
        t0 = time.time()
        for i, fr in enumerate(frags):
            y = fr.y if dec is None else round_trip(fr.y, sr, fcfg, normalizer, ae, dec, gl_iter, seed=i)
            r = judge_audio(y, sr, fr, maqamat, tol_cents, reference=None if dec is None else fr.y)
            if dec is None:
                r["mrstft"] = 0.0
            rows.append({"system": name, "clip": fr.clip.id, "maqam": fr.clip.maqam, "start_s": fr.start_s, **r})
            if keep_audio:
                audio_out.setdefault(name, []).append(y)
        timing[name] = time.time() - t0
    frame = pd.DataFrame(rows)
    summary = []
    for name in frame["system"].unique():
        g = frame[frame["system"] == name]
        w, wlo, whi = metrics.bootstrap_ci(g["within"], n_boot=n_boot)
        m, mlo, mhi = metrics.bootstrap_ci(g["median_abs_cents"], stat=np.median, n_boot=n_boot)
        d, dlo, dhi = metrics.bootstrap_ci(g["mrstft"], n_boot=n_boot)
        a, alo, ahi = metrics.wilson_interval(int(g["correct_given_tonic"].sum()), len(g))
        f, flo, fhi = metrics.wilson_interval(int(g["correct_free"].sum()), len(g))
        summary.append({"system": name, "n": len(g), "within": w, "within_lo": wlo, "within_hi": whi,
                        "median_abs_cents": m, "median_abs_cents_lo": mlo, "median_abs_cents_hi": mhi,
                        "mrstft": d, "mrstft_lo": dlo, "mrstft_hi": dhi,
                        "acc_given_tonic": a, "acc_given_tonic_lo": alo, "acc_given_tonic_hi": ahi,
                        "acc_free": f, "acc_free_lo": flo, "acc_free_hi": fhi,
                        "voiced_recall": float(np.nanmean(g["voiced_recall"])),
                        "octave_share": float(np.nanmean(g["octave_share"])), "seconds": timing[name]})
    return RoundTripTable(pd.DataFrame(summary).set_index("system"), frame, audio_out)


def format_table(summary, digits: int = 2) -> str:
    """The summary of :func:`round_trip_table` as plain text: ``value [lo, hi]`` per measure."""
    cols = [("within", "within ±tol"), ("median_abs_cents", "|err| cents"), ("mrstft", "MR-STFT"),
            ("acc_given_tonic", "acc (tonic)"), ("acc_free", "acc (free)")]
    lines = ["system".ljust(16) + "".join(h.rjust(22) for _, h in cols) + "n".rjust(5) + "s".rjust(8)]
    for name, r in summary.iterrows():
        cells = "".join(f"{r[c]:.{digits}f} [{r[c + '_lo']:.{digits}f}, {r[c + '_hi']:.{digits}f}]".rjust(22)
                        for c, _ in cols)
        lines.append(str(name).ljust(16) + cells + f"{int(r['n']):5d}" + f"{r['seconds']:8.1f}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- latent diffusion

TONIC_REF_HZ = 196.0
"""Reference pitch (G3) of the tonic condition: :func:`tonic_vector` is cents above it / 1200."""


TONIC_HARMONICS = (1, 2, 3, 4, 6, 12)
"""Cycles per octave of the Fourier features of the tonic condition (:func:`tonic_vector`)."""

TONIC_DIM = 2 + 2 * len(TONIC_HARMONICS)
"""Size of the tonic condition vector (``cond_dim`` of the latent U-Net and the DiT)."""

TONIC_DIMS = (2, TONIC_DIM)
"""Sizes of tonic vector a model may take: 2 (the bare ``[c, 1]`` of models trained before the
Fourier features) or :data:`TONIC_DIM`."""


def tonic_vector(tonic_hz, dim: int = TONIC_DIM) -> np.ndarray:
    """The tonic condition of the latent models: ``(N, dim)`` rows ``[c, 1, sin(2 pi k c),
    cos(2 pi k c) for k in TONIC_HARMONICS]`` with ``c = cents(tonic / G3) / 1200``.

    The second entry says "a tonic is given": classifier-free guidance's null condition (all
    zeros) is then distinct from every real tonic, including G3 itself. The Fourier features
    (as a timestep embedding is to ``t``) let the network tell tonics a semitone apart and see
    the pitch class of the tonic (``k = 1`` cycle per octave) directly; with the bare ``[c, 1]``
    its conditioning MLP nearly ignored the tonic. Measured at ``book`` on the Chapter 8 DiT
    (32 fragments, tonic given): share of voiced frames on the maqam's degrees at the asked
    tonic 0.35 [0.28, 0.43] against 0.24 [0.19, 0.29] with ``[c, 1]``; at the maqam's most
    frequent training tonic 0.45 [0.41, 0.48] against 0.34 [0.31, 0.36].

    Args:
        tonic_hz: tonics, Hz (any shape; flattened).
        dim: :data:`TONIC_DIM`, or 2 for the bare ``[c, 1]`` of models trained before the
            Fourier features (their checkpoints say ``cond_dim=2``).

    Raises:
        ConfigError: a tonic that is not a positive frequency, or another ``dim``.
    """
    hz = np.atleast_1d(np.asarray(tonic_hz, dtype=np.float64)).reshape(-1)
    if not np.all(np.isfinite(hz) & (hz > 0)):
        raise ConfigError(f"tonics must be positive frequencies in Hz, got {hz.tolist()}")
    if int(dim) not in TONIC_DIMS:
        raise ConfigError(f"a tonic condition has {TONIC_DIMS[1]} entries (or 2 for older models), not {dim}")
    c = np.log2(hz / TONIC_REF_HZ)
    cols = [c, np.ones_like(c)]
    if int(dim) != 2:
        for k in TONIC_HARMONICS:
            cols += [np.sin(2 * np.pi * k * c), np.cos(2 * np.pi * k * c)]
    return np.stack(cols, axis=1).astype(np.float32)


SCALE_COND_DIM = TONIC_DIM + mq.SCALE_PROFILE_BINS
"""Size of the condition vector that also holds the asked scale (:func:`condition_vector`)."""

COND_DIMS = (*TONIC_DIMS, SCALE_COND_DIM)
"""Sizes of condition vector a latent model may take (its checkpoint's ``spec.cond_dim``)."""


def condition_vector(labels, maqamat, tonic_hz, dim: int = TONIC_DIM) -> np.ndarray:
    """The continuous condition of a latent model with ``cond_dim`` ``dim``: :func:`tonic_vector`
    (``dim`` 2 or :data:`TONIC_DIM`), or, for :data:`SCALE_COND_DIM`, the tonic vector followed by
    the asked maqam's absolute pitch classes at that tonic (:func:`maqamgen.maqam.scale_profile`).

    Args:
        labels: maqam indices into ``maqamat`` (any shape; flattened).
        maqamat: the model's maqam names.
        tonic_hz: tonics, Hz, broadcast against ``labels``.
        dim: the model's ``spec.cond_dim``.

    Returns:
        ``(N, dim)`` float32.

    Raises:
        ConfigError: a label out of range, a tonic that is not a positive frequency, or another ``dim``.
    """
    labels = np.atleast_1d(np.asarray(labels, dtype=np.int64)).reshape(-1)
    hz = np.broadcast_to(np.asarray(tonic_hz, dtype=np.float64), labels.shape)
    if int(dim) != SCALE_COND_DIM:
        return tonic_vector(hz, dim)
    if labels.size and (labels.min() < 0 or labels.max() >= len(maqamat)):
        raise ConfigError(f"maqam labels must lie in 0..{len(maqamat) - 1}, got {sorted(set(labels.tolist()))}")
    scale = np.zeros((labels.size, mq.SCALE_PROFILE_BINS), np.float32)
    for r, (k, t) in enumerate(zip(labels, hz)):
        scale[r] = mq.scale_profile(maqamat[k], float(t))
    return np.concatenate([tonic_vector(hz), scale], axis=1)


@dataclass
class LatentSet:
    """Latent grids of fragments with their conditions: what :func:`maqamgen.diffusion.run.train_denoiser`
    trains the latent U-Net on (the fields it reads are those of :class:`maqamgen.features.PatchSet`).

    Attributes:
        x: ``(N, C, H, W)`` scaled latents (unit variance) of the fragments.
        labels: ``(N,)`` maqam indices.
        vec: ``(N, TONIC_DIM)`` tonic conditions (:func:`tonic_vector`).
        tonic_hz: ``(N,)`` the clips' tonics, Hz.
        clip_ids, starts, maqamat, normalizer, config, split, sr: as the fragments' :class:`PatchSet`
            (``config.frames`` is the fragment length in spectrogram frames).
        ornaments: ``(N, w)`` int64 ornament class of every latent frame
            (:func:`maqamgen.nets.embeddings.ornament_frames` of the clip's notes; 0 = none).
        start_s: ``(N,)`` the fragment's start in its clip, s.
        total_s: ``(N,)`` the clip's length, s.
        cond_keys: extra condition keys :meth:`dataset` yields (``ornaments``, ``start_s``,
            ``total_s``: the DiT's); empty for the U-Net's ``(x, label, vec)`` triples.
    """

    x: torch.Tensor
    labels: torch.Tensor
    vec: torch.Tensor
    tonic_hz: np.ndarray
    clip_ids: list
    starts: np.ndarray
    maqamat: tuple
    normalizer: features.Normalizer
    config: FeatureConfig
    split: str
    sr: int
    ornaments: torch.Tensor | None = None
    start_s: torch.Tensor | None = None
    total_s: torch.Tensor | None = None
    cond_keys: tuple = ()

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def with_keys(self, keys) -> "LatentSet":
        """The same latents, whose :meth:`dataset` also yields the condition keys ``keys``."""
        keys = tuple(keys)
        unknown = set(keys) - {"ornaments", "start_s", "total_s"}
        if unknown:
            raise ConfigError(f"unknown condition key(s) {sorted(unknown)}; known: ornaments, start_s, total_s")
        if keys and self.ornaments is None:
            raise ConfigError("these latents carry no ornament or position labels (encode_fragments adds them)")
        return dataclasses.replace(self, cond_keys=keys)

    def with_cond_dim(self, dim: int) -> "LatentSet":
        """The same latents with :attr:`vec` the :func:`condition_vector` of a model with ``cond_dim`` ``dim``."""
        if int(dim) == self.vec.shape[-1]:
            return self
        return dataclasses.replace(self, vec=torch.from_numpy(
            condition_vector(self.labels.numpy(), self.maqamat, self.tonic_hz, dim)))

    def dataset(self) -> torch.utils.data.Dataset:
        """``(latent, label, tonic vector)`` triples for :func:`maqamgen.train.train`; with
        :attr:`cond_keys`, ``{"x0": latent, "cond": {"label", "vec", *cond_keys}}`` items."""
        if not self.cond_keys:
            return torch.utils.data.TensorDataset(self.x, self.labels, self.vec)
        return _ConditionedLatents(self)


class _ConditionedLatents(torch.utils.data.Dataset):
    """:meth:`LatentSet.dataset` with extra condition keys (dict items; the default collate stacks them)."""

    def __init__(self, s: LatentSet):
        self.s = s

    def __len__(self) -> int:
        return len(self.s)

    def __getitem__(self, i):
        s = self.s
        cond = {"label": s.labels[i], "vec": s.vec[i]}
        for k in s.cond_keys:
            cond[k] = getattr(s, k)[i]
        return {"x0": s.x[i], "cond": cond}


def fragment_config(lcfg) -> FeatureConfig:
    """The chapter's log-mel grid with fragments of ``lcfg.fragment_frames`` every ``lcfg.fragment_stride``."""
    return dataclasses.replace(lcfg.features, frames=int(lcfg.fragment_frames),
                               patch_stride=int(lcfg.fragment_stride))


@torch.no_grad()
def encode(ae: nn.Module, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Normalised log-mel ``(N, 1, F, T)`` -> scaled latents ``(N, C, F / f, T / t)`` (the mean)."""
    return torch.cat([ae.to_latent(x[i:i + batch]) for i in range(0, len(x), batch)]) if len(x) else x


@torch.no_grad()
def decode(ae: nn.Module, z: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Scaled latents ``(N, C, h, w)`` -> normalised log-mel ``(N, 1, F, T)`` clamped to [-1, 1]."""
    return torch.cat([ae.from_latent(z[i:i + batch]).clamp(-1.0, 1.0) for i in range(0, len(z), batch)])


def encoded_patches(ae: TrainedNet, ps: features.PatchSet, corpus_hash: str) -> torch.Tensor:
    """:func:`encode` of the patches ``ps``, cached: ``data/cache/ch06/latents/<key>.npy``, keyed
    by the autoencoder's checkpoint (its bytes), the corpus, the split and the patch settings, so
    that every chapter after the first reads what the first encoded (Chapter 8 reads Chapter 6's;
    encoding the ``book`` training fragments takes about 25 s). Without a checkpoint file in
    ``ae.out_dir`` it encodes every time. A cache entry is plain arrays; a damaged one is encoded
    again.
    """
    ckpt = Path(ae.out_dir) / trainer.CHECKPOINT if ae.out_dir is not None else None
    if ckpt is None or not ckpt.is_file() or len(ps) == 0:
        return encode(ae.model, ps.x)
    key = runtime.digest({"ae": runtime.digest(ckpt.read_bytes(), 32), "corpus": corpus_hash,
                          "split": ps.split, "config": dataclasses.asdict(ps.config),
                          "norm": ps.normalizer.to_dict(),
                          "n": len(ps)}, 16)
    path = runtime.cache_dir("ch06", "latents") / f"{key}.npy"
    if path.exists():
        try:
            z = torch.from_numpy(np.load(path, allow_pickle=False))
            if z.dtype == torch.float32 and z.ndim == 4 and len(z) == len(ps):
                return z
        except (OSError, ValueError):  # a damaged cache entry is encoded again, never trusted
            pass
    z = encode(ae.model, ps.x)
    with runtime.atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, z.numpy())
    return z


def encode_fragments(ae: TrainedNet, corp, split: str, lcfg) -> tuple[LatentSet, features.PatchSet]:
    """The fragments of ``split`` (:func:`fragment_config`, the autoencoder's normaliser) and their latents.

    Returns:
        ``(latents, fragments)``.
    """
    from maqamgen.nets.embeddings import ornament_frames

    ps = features.load_patches(corp, split, fragment_config(lcfg), ae.normalizer)
    z = encoded_patches(ae, ps, corp.hash)
    clips = {c.id: c for c in corp.split(split)}
    hz = np.array([float(clips[c].tonic_hz) for c in ps.clip_ids], dtype=np.float64)
    vec = torch.from_numpy(tonic_vector(hz)) if len(hz) else torch.zeros(0, TONIC_DIM)
    hop_s = ps.config.hop_length / ps.sr
    lat_hop_s = hop_s * ae.model.config.factors[1]
    notes = {c: corp.notes(clips[c])[0] for c in set(ps.clip_ids)}
    start_s = torch.tensor(np.asarray(ps.starts, dtype=np.float64) * hop_s, dtype=torch.float32)
    total_s = torch.tensor([float(clips[c].seconds) for c in ps.clip_ids], dtype=torch.float32)
    W = int(z.shape[-1])
    orn = (torch.stack([ornament_frames(notes[c], W, lat_hop_s, float(t0)) for c, t0 in zip(ps.clip_ids, start_s)])
           if len(ps) else torch.zeros(0, W, dtype=torch.int64))
    return LatentSet(z, ps.labels, vec, hz, list(ps.clip_ids), ps.starts, ps.maqamat, ps.normalizer,
                     ps.config, split, ps.sr, orn, start_s, total_s), ps


def training_tonics(lat: LatentSet) -> dict:
    """``{maqam: tonic_hz}``: the tonic each maqam is played on most often in ``lat`` (fragments
    counted; a tie goes to the lower tonic). Asking a model for a maqam at this tonic asks for a
    condition it saw most; a held-out clip's tonic may be one it never saw with that maqam
    (:func:`pair_counts`).

    Used in: book/part3/08_dit.md
    """
    counts: dict = {}
    for k, hz in zip(np.asarray(lat.labels), np.asarray(lat.tonic_hz, dtype=float)):
        key = (lat.maqamat[int(k)], round(float(hz), 2))
        counts[key] = counts.get(key, 0) + 1
    best: dict = {}
    for (m, hz), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1])):
        best.setdefault(m, hz)
    return best


def pair_counts(lat: LatentSet, tonic_of: dict, tol_cents: float = 5.0) -> dict:
    """``{maqam: n}``: how many fragments of ``lat`` are of that maqam at ``tonic_of[maqam]``
    (within ``tol_cents``), i.e. how often the model was trained on the condition it is asked.

    Used in: book/part3/08_dit.md
    """
    hz = np.asarray(lat.tonic_hz, dtype=float)
    labels = np.asarray(lat.labels)
    out = {}
    for m, t in tonic_of.items():
        if m not in lat.maqamat:
            raise ConfigError(f"unknown maqam {m!r}; this set has {', '.join(lat.maqamat)}")
        same = labels == lat.maqamat.index(m)
        out[m] = int(np.sum(same & (np.abs(1200 * np.log2(hz / float(t))) <= tol_cents)))
    return out


def latent_spec(lcfg, seed: int = 0):
    """The latent U-Net of the chapter config ``lcfg``: a :class:`maqamgen.diffusion.run.DenoiserSpec`
    with the tonic condition, and the asked scale where ``lcfg.scale_profile`` (``cond_dim``
    :data:`SCALE_COND_DIM`, else :data:`TONIC_DIM`), and inpainting-mask training."""
    from maqamgen.diffusion import run

    cond_dim = SCALE_COND_DIM if lcfg.scale_profile else TONIC_DIM
    return run.DenoiserSpec(net="unet", preset=lcfg.preset, schedule=lcfg.schedule, T=lcfg.T,
                            target=lcfg.target, loss=lcfg.loss, p_uncond=lcfg.p_uncond, cond_dim=cond_dim,
                            masks=(lcfg.p_generate, lcfg.p_prefix, lcfg.p_suffix),
                            train=lcfg.train.replace(seed=int(seed)))


def train_unet(spec, latents: LatentSet, **kw):
    """Train (or load from the cache) the latent U-Net of ``spec`` (:func:`latent_spec`) on
    ``latents``, given the condition vector of its ``cond_dim``
    (:meth:`LatentSet.with_cond_dim`); ``kw`` go to :func:`maqamgen.diffusion.run.train_denoiser`
    (``out_dir``, ``resume``, ``progress``, ``device``)."""
    from maqamgen.diffusion import run

    return run.train_denoiser(spec, latents.with_cond_dim(spec.cond_dim), **kw)


def sample_fragments(trained, ae: nn.Module, labels, tonic_hz, steps: int = 10,
                     guidance_scale: float = 2.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Generate fragments of the given maqam labels and tonics and decode them.

    Returns:
        ``(mel, z, seconds)``: normalised log-mel ``(N, 1, F, T)``, the latents, and the wall time
        of sampling and decoding (Griffin-Lim not included).
    """
    from maqamgen.diffusion import run

    labels = np.asarray(labels)
    z, seconds = run.sample(trained, labels, "ddim", steps, guidance_scale, seed,
                            vec=condition_vector(labels, trained.maqamat, tonic_hz, trained.spec.cond_dim),
                            clip=None)
    t0 = time.perf_counter()
    mel = decode(ae, z)
    return mel, z, seconds + time.perf_counter() - t0


def window_model(trained, width: int | None = None):
    """The latent U-Net (or DiT) as a :class:`maqamgen.diffusion.stitch.WindowModel`; its window is
    one training fragment, or ``width`` latent frames (a longer context than it was trained on:
    the networks are convolutional or attend over any number of time tokens)."""
    from maqamgen.diffusion import stitch

    shape = tuple(trained.shape)
    if width is not None:
        if int(width) < 1:
            raise ConfigError(f"a window is at least one latent frame wide, got {width}")
        shape = (*shape[:-1], int(width))
    return stitch.WindowModel(model=trained.model, schedule=trained.schedule, shape=shape,
                              target=trained.spec.target, inpainting=trained.spec.inpainting)


MIN_PIECES = 3
"""Fewest long pieces whose bootstrap interval is reported (``min_n`` of
:func:`maqamgen.metrics.bootstrap_ci`): a bootstrap over two pieces only spans their two values,
so under this the bounds are NaN and no separation can be claimed."""


@dataclass
class Piece:
    """A long generation stitched from fragments and decoded.

    Attributes:
        method: stitching method (:data:`maqamgen.diffusion.stitch.STITCH_METHODS`).
        label, maqam, tonic_hz: the condition.
        seed: the noise seed.
        mel: normalised log-mel ``(F, frames)``.
        seams: spectrogram frames where a window's own content begins (or a blend's centre).
        overlap: ``(frames,)`` bool, frames made by blending or shared between windows.
        gen_s: wall time of sampling and decoding to log-mel, s.
        audio_s: the length it stands for, s.
    """

    method: str
    label: int
    maqam: str
    tonic_hz: float
    seed: int
    mel: np.ndarray
    seams: list
    overlap: np.ndarray
    gen_s: float
    audio_s: float


def generate_piece(trained, ae: nn.Module, method: str, seconds: float, label: int, tonic_hz: float,
                   overlap: int, steps: int = 10, guidance_scale: float = 2.0, seed: int = 0,
                   n_resample: int = 1, window: int | None = None) -> Piece:
    """A piece of at least ``seconds`` s: latent windows stitched by ``method``, then decoded at once
    (the decoder is convolutional: the whole latent sequence goes through it in one call).

    Args:
        trained: the latent U-Net (:func:`maqamgen.diffusion.run.train_denoiser` of :func:`latent_spec`).
        ae: the autoencoder.
        method: a stitching method of :func:`maqamgen.diffusion.stitch.generate_stitched`.
        seconds: length, s.
        label, tonic_hz: the condition.
        overlap: latent frames shared by consecutive windows (ignored by ``concat``).
        steps, guidance_scale, seed, n_resample: the sampler.
        window: latent frames per window (None: the training fragment's).
    """
    from maqamgen.diffusion import stitch

    if not (np.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"seconds must be a positive number, got {seconds}")
    f = ae.config.factors[1]
    hop, sr = trained.fcfg.hop_length, trained.sr
    n_latent = int(np.ceil(np.ceil(seconds * sr / hop) / f))
    cond = {"label": torch.tensor([int(label)]),
            "vec": torch.from_numpy(condition_vector([label], trained.maqamat, tonic_hz, trained.spec.cond_dim))}
    st = stitch.generate_stitched(window_model(trained, window), n_latent, method, cond=cond,
                                  overlap=None if method == "concat" else int(overlap), steps=steps,
                                  guidance_scale=guidance_scale, seed=seed, n_resample=n_resample)
    t0 = time.perf_counter()
    mel = decode(ae, st.x[None])[0, 0].numpy()
    gen_s = float(st.seconds) + time.perf_counter() - t0
    return Piece(method, int(label), trained.maqamat[int(label)], float(tonic_hz), int(seed), mel,
                 [int(s) * f for s in st.seams], np.repeat(np.asarray(st.overlap_frames, bool), f),
                 gen_s, mel.shape[1] * hop / sr)


def _window_tracks(track, window_s: float):
    """The pitch track cut into consecutive windows of ``window_s`` s (the last partial one dropped)."""
    n = int(np.floor((track.times[-1] + track.hop_s) / window_s)) if len(track.times) else 0
    out = []
    for k in range(n):
        keep = (track.times >= k * window_s) & (track.times < (k + 1) * window_s)
        out.append(dataclasses.replace(track, times=track.times[keep] - k * window_s,
                                       f0_hz=track.f0_hz[keep], voiced_prob=track.voiced_prob[keep]))
    return out


def window_maqam(y: np.ndarray, sr: int, maqam: str, tonic_hz: float, window_s: float,
                 maqamat=None, track=None) -> dict:
    """The Chapter 2 estimator on each ``window_s``-s window of ``y`` (one pYIN track, cut).

    Returns:
        ``given_ok`` (the asked maqam read with the asked tonic given), ``free_ok`` (read with no
        tonic given) and ``tonic_ok`` (the free estimate's tonic within 50 cents of the asked one,
        octaves ignored), each a bool list with one entry per window (a window with too little
        pitch counts as wrong), and ``given``, the maqam read with the tonic given in each window
        (``None`` where there was too little pitch).
    """
    track = track if track is not None else estimate.pitch_track(y, sr)
    out = {"given_ok": [], "free_ok": [], "tonic_ok": [], "given": []}
    for tw in _window_tracks(track, window_s):
        try:
            g = estimate.estimate_given_tonic(None, sr, tonic_hz, maqamat=maqamat, track=tw).maqam
        except estimate.EstimationError:
            g = None
        try:
            e = estimate.estimate(None, sr, maqamat=maqamat, track=tw)
            free, t_ok = e.maqam, bool(metrics.tonic_correct(e.tonic_hz, tonic_hz, 50.0))
        except estimate.EstimationError:
            free, t_ok = None, False
        out["given_ok"].append(g == maqam)
        out["given"].append(g)
        out["free_ok"].append(free == maqam)
        out["tonic_ok"].append(t_ok)
    return out


def judge_piece(piece: Piece, y: np.ndarray, sr: int, normalizer: features.Normalizer, bank: np.ndarray,
                window_s: float = 10.0, maqamat=None, tol_cents: float = 15.0) -> dict:
    """Every stitching measure of one piece.

    Args:
        piece: the piece (:func:`generate_piece`).
        y: its audio (Griffin-Lim of ``piece.mel``).
        sr: sample rate, Hz.
        normalizer: dB <-> [-1, 1] map of the mel.
        bank: real training frames (normalised) for the hallucination index.
        window_s: window of the maqam measures, s.
        maqamat: the estimator's candidates.
        tol_cents: tolerance of the intonation measure, cents.

    Returns:
        ``in_scale_pyin`` and ``in_scale_fcpe`` (:func:`maqamgen.trackers.intonation`: share of
        voiced frames within ``tol_cents`` of a degree of the asked maqam at the asked tonic, by
        the book's pYIN and by the pretrained FCPE), ``seam_jump_ratio`` (:func:`maqamgen.metrics.seam_jump_ratio`, NaN without seams),
        ``hf_ratio`` (:func:`maqamgen.metrics.overlap_hf_ratio` of overlap frames, NaN without),
        ``window_acc`` / ``free_acc`` / ``tonic_acc`` (shares of windows, :func:`window_maqam`)
        with ``n_windows`` and the per-window lists, ``loop_score``, ``hallucination_index`` with
        ``novelty_ratio`` and ``loop_excess`` (:func:`maqamgen.metrics.hallucination_index`),
        ``gen_s`` and ``rtf`` (seconds of audio per second of generation).
    """
    S = piece.mel
    seam = metrics.seam_jump_ratio(S, piece.seams) if piece.seams else float("nan")
    ov = np.asarray(piece.overlap[:S.shape[1]], bool)
    if ov.any() and not ov.all():
        power = 10.0 ** (features.to_db(S, normalizer) / 10.0)
        hf = metrics.overlap_hf_ratio(power, ov)
    else:
        hf = float("nan")
    track = estimate.pitch_track(y, sr)
    w = window_maqam(y, sr, piece.maqam, piece.tonic_hz, window_s, maqamat, track=track)
    in_scale = {"pyin": trackers.intonation(track, piece.maqam, piece.tonic_hz, tol_cents)["within"],
                "fcpe": trackers.intonation(trackers.fcpe_track(y, sr), piece.maqam, piece.tonic_hz,
                                            tol_cents)["within"]}
    n_w = len(w["given_ok"])
    share = (lambda v: float(np.mean(v)) if len(v) else float("nan"))
    hal = metrics.hallucination_index(S, bank)
    return {"method": piece.method, "maqam": piece.maqam, "seed": piece.seed,
            "seam_jump_ratio": float(seam), "hf_ratio": float(hf),
            "window_acc": share(w["given_ok"]), "free_acc": share(w["free_ok"]),
            "tonic_acc": share(w["tonic_ok"]), "n_windows": n_w, **w,
            "in_scale_pyin": float(in_scale["pyin"]), "in_scale_fcpe": float(in_scale["fcpe"]),
            "loop_score": float(metrics.loop_score(S)), "hallucination_index": float(hal["index"]),
            "novelty_ratio": float(hal["novelty_ratio"]), "loop_excess": float(hal["loop_excess"]),
            "gen_s": piece.gen_s, "rtf": piece.audio_s / piece.gen_s if piece.gen_s > 0 else float("nan")}


def stitching_summary(judged, n_boot: int = 1000, seed: int = 0):
    """One row per stitching method from :func:`judge_piece` rows: means over pieces with bootstrap
    intervals (seam ratio, HF ratio, loop score, hallucination index, real-time factor; NaN bounds
    from fewer than :data:`MIN_PIECES` pieces) and window shares pooled over every window of the
    method's pieces, with the Wilson intervals of their effective sizes
    (:func:`maqamgen.metrics.clustered_wilson_interval`: one piece's windows are not independent).

    Returns:
        A pandas DataFrame indexed by method: ``<key>``, ``<key>_lo``, ``<key>_hi``, ``n_pieces``,
        ``n_windows``.
    """
    import pandas as pd

    df = pd.DataFrame(list(judged))
    rows = []
    for method, g in df.groupby("method", sort=False):
        r = {"method": method, "n_pieces": len(g)}
        for key in ("seam_jump_ratio", "hf_ratio", "in_scale_pyin", "in_scale_fcpe", "loop_score",
                    "hallucination_index", "rtf"):
            v = g[key].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            if len(v):
                r[key], r[f"{key}_lo"], r[f"{key}_hi"] = metrics.bootstrap_ci(v, n_boot=n_boot, seed=seed,
                                                                              min_n=MIN_PIECES)
            else:
                r[key] = r[f"{key}_lo"] = r[f"{key}_hi"] = float("nan")
        for key, col in (("window_acc", "given_ok"), ("free_acc", "free_ok"), ("tonic_acc", "tonic_ok")):
            k = [sum(bool(o) for o in lst) for lst in g[col]]
            n = [len(lst) for lst in g[col]]
            r["n_windows"] = int(sum(n))
            r[key], r[f"{key}_lo"], r[f"{key}_hi"] = metrics.clustered_wilson_interval(k, n)
        rows.append(r)
    return pd.DataFrame(rows).set_index("method")


def real_window_ceiling(corp, ae: TrainedNet, window_s: float, gl_iter: int = 32, split: str = "test",
                        maqamat=None, n: int | None = None) -> dict:
    """The ceiling of :func:`window_maqam`: real ``window_s``-s windows of ``split`` read by the
    estimator from the original audio and after the round trip through the autoencoder and
    Griffin-Lim (the path every generated piece takes to audio).

    Returns:
        ``{"original": {...}, "round_trip": {...}}``, each with ``given_ok``, ``free_ok``,
        ``tonic_ok`` lists over the windows (one window from the start of each clip long enough).
    """
    sr = int(corp.config["sr"])
    frags = heldout_fragments(corp, n or 10 ** 6, window_s, split, ae.fcfg.hop_length, ae.model.config.factors[1])
    frags = [f for f in frags if f.start_s == 0.0]
    out = {"original": {"given_ok": [], "free_ok": [], "tonic_ok": []},
           "round_trip": {"given_ok": [], "free_ok": [], "tonic_ok": []}}
    for i, fr in enumerate(frags):
        for kind, y in (("original", fr.y),
                        ("round_trip", round_trip(fr.y, sr, ae.fcfg, ae.normalizer, ae.model, "griffin_lim",
                                                  gl_iter, seed=i))):
            w = window_maqam(y, sr, fr.clip.maqam, fr.clip.tonic_hz, len(y) / sr - 1e-3, maqamat)
            for k in out[kind]:
                out[kind][k].extend(w[k][:1])
    return out


def ceiling_rows(ceiling: dict) -> dict:
    """The rows of the window ceiling (:func:`real_window_ceiling`) as the results store keeps them:
    per kind (``original``, ``round_trip``) the accuracy with the asked maqam and tonic given,
    ``acc`` with its Wilson interval ``acc_lo``, ``acc_hi`` (NaN where there is no window), and
    ``windows``.

    Used in: book/part1/06_latent_diffusion.md
    """
    rows = {}
    for kind, w in ceiling.items():
        ok = list(w["given_ok"])
        acc = metrics.wilson_interval(int(sum(ok)), len(ok))
        rows[kind] = {"windows": len(ok), "acc": acc[0], "acc_lo": acc[1], "acc_hi": acc[2]}
    return rows


def judge_fragments(mels, labels, tonic_hz, normalizer: features.Normalizer, fcfg: FeatureConfig, sr: int,
                    maqamat, gl_iter: int = 32, tol_cents: float = 15.0, seed: int = 0) -> dict:
    """Whole fragments (about 6 s: long enough to carry the maqam) judged through Griffin-Lim.

    Per fragment: the Chapter 2 estimator with the asked tonic given
    (:func:`maqamgen.estimate.estimate_given_tonic`) and the intonation of the pretrained FCPE
    track (:func:`maqamgen.trackers.intonation`: share of voiced frames within ``tol_cents`` of a
    degree of the asked maqam at the asked tonic).

    One Griffin-Lim draw (random initial phase) per fragment is enough here, unlike Chapter 8's
    ornament F1 (:func:`maqamgen.recipes.ch08_dit.detection_draws`). Measured at ``book``
    (2026-12-07, Intel AVX-512 machine; the 32 fragments Chapter 8 judges of each model and 32
    validation fragments through the autoencoder; ``seed`` 0, 1000 and 2000): the maqam read
    right 7 / 7 / 6 times of 32 (latent U-Net), 20 / 19 / 21 (DiT) and 29 / 29 / 29 (real); the
    draw carried 3 % to 5 % of the variance of one fragment's in-scale share.

    Args:
        mels: ``(N, 1, F, T)`` or ``(N, F, T)`` normalised log-mels.
        labels: ``(N,)`` maqam indices into ``maqamat``.
        tonic_hz: ``(N,)`` asked tonics, Hz.
        normalizer, fcfg, sr: the mels' normaliser and grid, the sample rate.
        maqamat: label names.
        gl_iter, seed: Griffin-Lim.
        tol_cents: intonation tolerance, cents.

    Returns:
        ``acc`` with ``acc_lo``/``acc_hi`` (Wilson), ``in_scale`` with ``in_scale_lo``/``in_scale_hi``
        (bootstrap over fragments; fragments without voiced frames left out), ``n``, and the
        per-fragment lists ``ok`` and ``in_scale_each``.
    """
    mels = np.asarray(mels.detach().cpu() if isinstance(mels, torch.Tensor) else mels)
    mels = mels.reshape(len(mels), mels.shape[-2], mels.shape[-1])
    tonic_hz = np.broadcast_to(np.asarray(tonic_hz, dtype=float), (len(mels),))
    ok, scale = [], []
    for i, (m, k, t) in enumerate(zip(mels, np.asarray(labels, int), tonic_hz)):
        y = features.to_audio(m, normalizer, fcfg, sr, n_iter=gl_iter, seed=seed + i)
        try:
            ok.append(estimate.estimate_given_tonic(y, sr, float(t), maqamat=maqamat).maqam == maqamat[k])
        except estimate.EstimationError:
            ok.append(False)
        scale.append(float(trackers.intonation(trackers.fcpe_track(y, sr), maqamat[k], float(t), tol_cents)["within"]))
    acc = metrics.wilson_interval(int(sum(ok)), len(ok)) if ok else (float("nan"),) * 3
    v = np.asarray(scale, float)
    v = v[np.isfinite(v)]
    sc = metrics.bootstrap_ci(v, seed=seed) if len(v) else (float("nan"),) * 3
    return {"n": len(ok), "acc": acc[0], "acc_lo": acc[1], "acc_hi": acc[2], "in_scale": sc[0],
            "in_scale_lo": sc[1], "in_scale_hi": sc[2], "ok": ok, "in_scale_each": scale}
