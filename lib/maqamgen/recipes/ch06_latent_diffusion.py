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

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from maqamgen import estimate, features, metrics, runtime
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
