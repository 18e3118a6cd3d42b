"""Chapter 8 helpers: the Diffusion Transformer on Chapter 6's latents, its ablations, and
ornament control.

* :func:`dit_spec` -- the DiT of a chapter config as a :class:`maqamgen.diffusion.run.DenoiserSpec`
  (Chapter 6's schedule, masks and tonic condition; the DiT's encodings as network overrides).
* :func:`condition_keys` -- the condition keys a DiT of that spec takes (ornaments, piece position).
* :func:`train_dit` -- trains it through the one diffusion runner on a
  :class:`maqamgen.recipes.ch06_latent_diffusion.LatentSet` that yields those keys.
* :func:`asked_ornaments`, :func:`ornament_control` -- generate fragments asking for an ornament in
  a span (and "none" elsewhere), detect ornaments in the audio (:mod:`maqamgen.ornaments`) and
  score the control (:func:`maqamgen.ornaments.control_score`).
* :func:`token_features`, :func:`ornament_probe` -- how the ornament encoding shapes the latent
  space: a linear probe of the per-frame ornament class from a DiT's token features (the model
  not told the ornaments), against the same probe on the noisy latent frames themselves.
* :func:`judge_model` -- one model's row of the chapter's tables: Frechet distance and accuracies
  on Chapter 4's grid, fragment-level maqam and intonation (:func:`judged_fragments`, also used
  to ask the models at other tonics), seams, hallucination and the maqam read in windows of long
  pieces.
* :func:`window_confusion` -- the windows' readings by asked maqam: which maqam a generator
  misses, and what it is read as instead.
* :func:`window_ceiling` -- that window measure on real audio through the same decoder (Chapter
  6's record, or measured).
* :func:`real_control_ceiling`, :func:`ornament_census` -- why control falls short: the F1 of real
  fragments asked for their own ornaments in the original audio, through Griffin-Lim and after
  the decoder, and how much of each ornament (and how much voiced audio) a set of fragments
  carries whatever was asked.
* :func:`frame_change`, :func:`frame_change_by_ornament` -- how much a latent changes from frame
  to frame, per fragment and, for real latents, by the ornament label of the frames: where the
  census looks for vibrato in the latent itself.
* :func:`decoded_detections` -- generated mels to audio, pitch track and detected ornaments, once
  per content (the control and the census read the same "not told" fragments);
  :func:`detection_draws` -- the same over several Griffin-Lim draws (random initial phases), whose
  scores the control and the ceiling average per fragment; :func:`draw_count` checks their number
  and :func:`draw_seed` seeds each draw.

Written for Chapter 8 (book/part3/08_dit.md).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from maqamgen import audio, features, metrics, ornaments, runtime, trackers
from maqamgen.diffusion import run
from maqamgen.errors import ConfigError
from maqamgen.nets.embeddings import ORNAMENTS
from maqamgen.recipes import ch06_latent_diffusion as ch06


MIN_PIECES = ch06.MIN_PIECES
"""Fewest long pieces whose bootstrap interval the chapter reports (Chapter 6's rule,
:data:`maqamgen.recipes.ch06_latent_diffusion.MIN_PIECES`)."""


def reference_overrides(dcfg) -> tuple:
    """The reference DiT's network settings from the chapter config (tokenization, encodings)."""
    out = [("tokenization", dcfg.tokenization), ("time_pos", dcfg.time_pos), ("piece_pos", bool(dcfg.piece_pos)),
           ("ornaments", bool(dcfg.ornaments)), ("ornament_adaln", bool(dcfg.ornaments and dcfg.ornament_adaln)),
           ("conv_kernel", int(dcfg.conv_kernel) if dcfg.tokenization == "time" else 0),
           ("scale_profile", bool(dcfg.scale_profile))]
    if dcfg.tokenization == "patch":
        out.append(("patch_size", int(dcfg.patch_size)))
    return tuple(out)


def dit_spec(dcfg, lcfg, latent_shape, changes=(), steps: int | None = None, seed: int = 0) -> run.DenoiserSpec:
    """The DiT of the chapter configs ``dcfg`` (:class:`maqamgen.config.DiTChapterConfig`) and ``lcfg``
    (Chapter 6's :class:`maqamgen.config.LatentChapterConfig`: schedule, target, loss, guidance drop,
    inpainting masks), sized for latents of ``latent_shape`` ``(C, H, W)``.

    Args:
        changes: ``((field, value), ...)`` network fields changed from the reference (an ablation).
        steps: optimizer steps (default ``dcfg.train.steps``).
        seed: the training seed.
    """
    base = dict(reference_overrides(dcfg))
    base.update(dict(changes))
    # the asked scale is a condition of the data, not a field of the network
    cond_dim = ch06.SCALE_COND_DIM if base.pop("scale_profile", False) else ch06.TONIC_DIM
    if not base.get("ornaments"):  # no ornament input: nothing for the blocks to read either
        base["ornament_adaln"] = False
    if base.get("tokenization") == "patch":
        base.setdefault("patch_size", int(dcfg.patch_size))
        if "conv_kernel" not in dict(changes):  # patch tokens' neighbours are not neighbouring frames
            base["conv_kernel"] = 0
    base["input_size"] = (int(latent_shape[1]), int(latent_shape[2]))
    train = dcfg.train.replace(seed=int(seed), **({"steps": int(steps)} if steps is not None else {}))
    if train.warmup_steps >= train.steps:
        train = train.replace(warmup_steps=max(0, train.steps // 10))
    return run.DenoiserSpec(net="dit", preset=dcfg.preset, schedule=lcfg.schedule, T=lcfg.T, target=lcfg.target,
                            loss=lcfg.loss, p_uncond=lcfg.p_uncond, cond_dim=cond_dim,
                            masks=(lcfg.p_generate, lcfg.p_prefix, lcfg.p_suffix),
                            overrides=tuple(sorted(base.items())), train=train)


def condition_keys(spec: run.DenoiserSpec) -> tuple:
    """The extra condition keys the spec's DiT takes: ``ornaments`` and/or ``start_s``, ``total_s``."""
    o = dict(spec.overrides)
    keys = ("ornaments",) if o.get("ornaments") else ()
    return keys + (("start_s", "total_s") if o.get("piece_pos") else ())


def training_set(spec: run.DenoiserSpec, latents: ch06.LatentSet) -> ch06.LatentSet:
    """``latents`` as the DiT of ``spec`` trains on them: with the condition keys it takes and the
    condition vector of its ``cond_dim`` (the asked scale too, where it has one)."""
    return latents.with_keys(condition_keys(spec)).with_cond_dim(spec.cond_dim)


def train_dit(spec: run.DenoiserSpec, latents: ch06.LatentSet, out_dir=None, resume: bool = False,
              progress: bool | None = None) -> run.Trained:
    """Train (or load from the cache) the DiT of ``spec`` on ``latents`` (:func:`training_set`)."""
    return run.train_denoiser(spec, training_set(spec, latents), out_dir=out_dir, resume=resume,
                              progress=progress)


def asked_ornaments(kind: str, span: tuple[float, float], n_frames: int) -> torch.Tensor:
    """``(n_frames,)`` int64 ornament classes asking for ``kind`` on the frames in ``span`` (fractions
    of the window, ``[start, end)``) and for no ornament (class 0, ``none``) elsewhere."""
    if kind not in ORNAMENTS or kind == "none":
        raise ConfigError(f"unknown ornament {kind!r}; choose from {', '.join(ORNAMENTS[1:])}")
    a, b = float(span[0]), float(span[1])
    if not 0.0 <= a < b <= 1.0:
        raise ConfigError(f"an ornament span is (start, end) with 0 <= start < end <= 1, got {span}")
    out = torch.zeros(int(n_frames), dtype=torch.int64)
    out[int(round(a * n_frames)):int(round(b * n_frames))] = ORNAMENTS.index(kind)
    return out


_DETECTED: dict = {}
"""The last few results of :func:`decoded_detections`, keyed by the mels' content and settings."""
_DETECTED_KEEP = 8


def decoded_detections(mels, normalizer, fcfg, sr: int, gl_iter: int = 32, seed: int = 0) -> list:
    """For each normalised mel (fragment ``i``): its audio by Griffin-Lim (seed ``seed + i``), the
    FCPE track of that audio and the ornaments :func:`maqamgen.ornaments.detect` finds in it.

    ``mels`` is ``(N, F, T)`` or ``(N, 1, F, T)`` (array or tensor). The same mels (by content,
    either shape) with the same settings are turned to audio and tracked once per process: the
    chapter reads the fragments generated "not told" for each ornament kind and for the census,
    and these are the same fragments. The :data:`_DETECTED_KEEP` results last used are kept
    (about 8 MB each for 16 fragments of 6 s).

    Returns:
        ``[(audio, track, detections), ...]``, one per fragment, in order (shared: read only).
    """
    x = mels.detach().cpu().numpy() if isinstance(mels, torch.Tensor) else np.asarray(mels)
    x = np.ascontiguousarray(x, dtype=np.float32)
    x = x.reshape(len(x), x.shape[-2], x.shape[-1]) if x.size else x.reshape(0, 0, 0)
    key = (runtime.digest(x.tobytes(), n=64), x.shape, repr(normalizer.to_dict()), repr(fcfg),
           int(sr), int(gl_iter), int(seed))
    if key not in _DETECTED:
        out = []
        for i, m in enumerate(x):
            y = features.to_audio(m, normalizer, fcfg, sr, n_iter=gl_iter, seed=seed + i)
            tr = trackers.fcpe_track(y, sr)
            out.append((y, tr, ornaments.detect(tr, y, sr)))
        while len(_DETECTED) >= _DETECTED_KEEP:
            _DETECTED.pop(next(iter(_DETECTED)))
        _DETECTED[key] = out
    _DETECTED[key] = _DETECTED.pop(key)  # the last used goes to the end
    return _DETECTED[key]


GL_DRAW_SEED_STEP = 1000
"""Seed offset between Griffin-Lim draws: draw ``d`` of fragment ``i`` is seeded ``seed + d * 1000 + i``
(draw 0 is :func:`decoded_detections`'s own seeding)."""


def draw_count(draws) -> int:
    """The number of Griffin-Lim draws ``draws`` as an ``int``, checked (the library's one check
    of a positive integer setting, :func:`maqamgen.audio._check_positive_int`).

    Raises:
        ConfigError: not a positive integer (``True``, ``2.5``, ``0``, ``"3"``).
    """
    return audio._check_positive_int("draws", draws)


def draw_seed(seed: int, draw: int, i: int) -> int:
    """The Griffin-Lim seed of draw ``draw`` of fragment ``i``: ``seed + draw * GL_DRAW_SEED_STEP + i``."""
    return int(seed) + int(draw) * GL_DRAW_SEED_STEP + int(i)


def detection_draws(mels, normalizer, fcfg, sr: int, gl_iter: int = 32, seed: int = 0, draws: int = 1) -> list:
    """:func:`decoded_detections` over ``draws`` Griffin-Lim draws of the same mels.

    Griffin-Lim starts from a random phase, and the audio it ends at, hence the pitch track and
    the ornaments found, depend on that draw: on the ``book`` validation fragments of the ceiling,
    four draws of the same autoencoder mels gave a mean vibrato F1 of 0.58 to 0.73, and the draw
    carried 41 % (real fragments) to 75 % (the DiT not told) of the variance of one fragment's F1
    (2026-12-07, ``DiTChapterConfig.gl_draws``). A score averaged over the draws of each fragment
    measures the mels, not the vocoder's luck.

    Returns:
        ``[[(audio, track, detections) for each draw] for each fragment]`` (shared: read only).

    Raises:
        ConfigError: ``draws`` not a positive integer (:func:`draw_count`).
    """
    per = [decoded_detections(mels, normalizer, fcfg, sr, gl_iter, draw_seed(seed, d, 0))
           for d in range(draw_count(draws))]
    return [list(f) for f in zip(*per)]


@torch.no_grad()
def sample_latents(trained: run.Trained, labels, tonic_hz, extra: dict | None = None, steps: int = 10,
                   guidance_scale: float = 2.0, seed: int = 0) -> torch.Tensor:
    """DDIM latents ``(N, *trained.shape)`` of the given maqam labels and tonics, with extra condition
    entries (e.g. ``{"ornaments": (N, w) int64}``), from a generator seeded ``seed``: the same
    arguments give the same latents."""
    from maqamgen import diffusion

    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    cond = {"label": labels,
            "vec": torch.from_numpy(ch06.condition_vector(labels.numpy(), trained.maqamat, tonic_hz,
                                                         trained.spec.cond_dim))}
    cond.update(extra or {})
    g = torch.Generator().manual_seed(int(seed))
    return diffusion.ddim_sample(trained.model, (len(labels), *trained.shape), trained.schedule, steps=steps,
                                 target=trained.spec.target, cond=cond, guidance_scale=guidance_scale,
                                 generator=g)


@torch.no_grad()
def sample_with(trained: run.Trained, ae, labels, tonic_hz, extra: dict | None = None, steps: int = 10,
                guidance_scale: float = 2.0, seed: int = 0) -> tuple[torch.Tensor, float]:
    """:func:`sample_latents`, decoded: ``(mel (N, 1, F, T), seconds)`` (sampling and decoding)."""
    t0 = time.perf_counter()
    z = sample_latents(trained, labels, tonic_hz, extra, steps, guidance_scale, seed)
    mel = ch06.decode(ae, z)
    return mel, time.perf_counter() - t0


def ornament_control(trained: run.Trained, ae, labels, tonic_hz, kind: str, span: tuple[float, float],
                     normalizer, fcfg, sr: int, steps: int = 10, guidance_scale: float = 2.0,
                     gl_iter: int = 32, seed: int = 0, ask: bool = True, draws: int = 1) -> dict:
    """Ask for ``kind`` in ``span`` of each fragment (and none elsewhere), detect the ornaments of the
    decoded audio and score the control.

    With ``ask=False`` nothing is asked (the model's ornament input is "unknown"): the score of an
    uninformed model against the same span, the baseline. Each fragment is turned to audio
    ``draws`` times (:func:`detection_draws`) and its scores are the means over the draws.

    Returns:
        ``f1``, ``precision``, ``recall`` (means over fragments of
        :func:`maqamgen.ornaments.control_score` for ``kind``; NaN-safe) with ``f1_lo``/``f1_hi``
        (bootstrap over fragments), ``n``, ``detected_s`` (mean seconds of ``kind`` detected per
        fragment), ``draws``, the per-fragment ``f1_each`` and ``f1_draws`` (per fragment, the F1
        of each draw).

    Raises:
        ConfigError: ``draws`` not a positive integer (checked before sampling); a DiT
            asked for ornaments that was trained without the ornament encoding.
    """
    draws = draw_count(draws)
    labels = np.asarray(labels)
    W = int(trained.shape[-1])
    extra = None
    if ask:
        if "ornaments" not in condition_keys(trained.spec):
            raise ConfigError("this DiT was trained without the ornament encoding: it cannot be asked for ornaments")
        extra = {"ornaments": asked_ornaments(kind, span, W)[None].repeat(len(labels), 1)}
    mel, _ = sample_with(trained, ae, labels, tonic_hz, extra, steps, guidance_scale, seed)
    dur = mel.shape[-1] * fcfg.hop_length / sr
    asked = [(kind, span[0] * dur, span[1] * dur)]
    f1, f1_draws, prec, rec, det = [], [], [], [], []
    for frag in detection_draws(mel, normalizer, fcfg, sr, gl_iter, seed, draws):
        sc = [ornaments.control_score(dets, asked, len(y) / sr, kinds=(kind,))[kind] for y, _, dets in frag]
        f1_draws.append([float(np.nan_to_num(c["f1"], nan=0.0)) for c in sc])
        f1.append(float(np.mean(f1_draws[-1])))
        prec.append(metrics.finite_mean([c["precision"] for c in sc]))
        rec.append(metrics.finite_mean([c["recall"] for c in sc]))
        det.append(float(np.mean([sum(d.end_s - d.start_s for d in dets if d.kind == kind)
                                  for _, _, dets in frag])))
    v, lo, hi = metrics.bootstrap_ci(f1, seed=seed)
    return {"kind": kind, "asked": bool(ask), "n": len(f1), "f1": v, "f1_lo": lo, "f1_hi": hi,
            "precision": metrics.finite_mean(prec), "recall": metrics.finite_mean(rec),
            "detected_s": float(np.mean(det)), "draws": draws, "f1_each": f1, "f1_draws": f1_draws}


def judged_labels(maqamat, tonic_of: dict, n: int) -> tuple[np.ndarray, list]:
    """The conditions :func:`judged_fragments` asks: ``n`` labels, the maqamat in turn, and each
    one's tonic ``tonic_of[maqam]``."""
    labels = np.arange(int(n)) % len(maqamat)
    return labels, [tonic_of[maqamat[k]] for k in labels]


def judged_fragments(trained: run.Trained, ae, tonic_of: dict, dcfg, lcfg, guidance_scale: float = 2.0,
                     seed: int = 0) -> tuple:
    """``dcfg.n_eval`` fragments, the maqamat in turn, each asked at ``tonic_of[maqam]``, generated
    (:func:`sample_latents`, seed ``seed + 1``: :func:`judged_labels` and that seed give back
    the same latents) and judged whole through Griffin-Lim
    (:func:`maqamgen.recipes.ch06_latent_diffusion.judge_fragments`: the estimator with the asked
    tonic given, and FCPE intonation).

    Returns:
        ``(mel, labels, seconds, judged)``: the decoded mels, their labels, the sampling wall time
        and the judge's dict (``acc`` with Wilson bounds, ``in_scale`` with bootstrap bounds, ...).
    """
    maqamat = trained.maqamat
    labels, tonics = judged_labels(maqamat, tonic_of, dcfg.n_eval)
    mel, gen_s = sample_with(trained, ae, labels, tonics, None, lcfg.sample_steps, guidance_scale, seed + 1)
    fr = ch06.judge_fragments(mel, labels, tonics, trained.normalizer, lcfg.features, trained.sr, maqamat,
                              lcfg.gl_iter, lcfg.tol_cents, seed)
    return mel, labels, gen_s, fr


def judge_model(name: str, trained: run.Trained, ae, ev, dcfg, lcfg, tonic_of: dict, bank: np.ndarray,
                guidance_scale: float = 2.0, seed: int = 0, to_eval_grid=None, pieces: bool = True,
                windows: bool = False) -> dict:
    """One model's row: the common metrics of its generated fragments and long pieces.

    Args:
        name: the row's name.
        trained: the DiT (or Chapter 6's latent U-Net).
        ae: the autoencoder.
        ev: Chapter 4's :class:`maqamgen.evaluation.Evaluator` (Frechet distance, classifier).
        dcfg, lcfg: Chapter 8's and Chapter 6's configs.
        tonic_of: ``{maqam: tonic_hz}`` asked for each maqam.
        bank: real training frames (normalised like the mels) for the hallucination index.
        guidance_scale, seed: the sampler.
        to_eval_grid: maps the autoencoder's normalised mels to the evaluator's normalisation.
        pieces: also generate ``dcfg.n_pieces`` long pieces (MultiDiffusion) for seams and hallucination.
        windows: also read the asked maqam in every ``lcfg.window_seconds``-s window of the pieces
            (Griffin-Lim, then :func:`maqamgen.recipes.ch06_latent_diffusion.window_maqam`, the
            estimator with the asked tonic given), as Chapter 6 judges its stitched pieces.

    Returns:
        A flat dict: ``fd`` (with bounds), ``clf_acc``, ``frag_acc`` (the estimator, tonic given,
        whole fragments), ``in_scale`` (FCPE), ``seam_jump_ratio`` and ``hallucination_index`` of the
        pieces (mean with bounds) and ``piece_x_real_time`` (their audio seconds per generation
        second, stitching and decoding included), ``params``, ``train_s``, ``gen_s_per_audio_s``
        (fragments); with ``windows``,
        ``window_acc`` (share of windows read as the asked maqam, pooled over the pieces, with the
        Wilson bounds of its effective size: :func:`maqamgen.metrics.clustered_wilson_interval`,
        as the windows of one piece are not independent), ``window_deff`` (the design effect that
        shrank it), ``n_windows`` and ``window_reads``, a tuple of ``(asked, read)`` maqam
        names, one per window (``read`` is ``None`` where a window had too little pitch; not a
        scalar: take it out before making a table of rows).
    """
    from maqamgen.recipes import ch05_scaling as ch05

    maqamat, sr, fcfg = trained.maqamat, trained.sr, lcfg.features
    mel, labels, gen_s, fr = judged_fragments(trained, ae, tonic_of, dcfg, lcfg, guidance_scale, seed)
    jd = ch05.judge(ev, to_eval_grid(mel) if to_eval_grid else mel, labels, pitch=False)
    frag_s = mel.shape[-1] * fcfg.hop_length / sr
    row = {"model": name, "params": int(trained.n_params), "train_s": float(trained.seconds),
           "fd": jd["fd"], "fd_lo": jd["fd_lo"], "fd_hi": jd["fd_hi"],
           "clf_acc": jd["clf_acc"], "clf_acc_lo": jd["clf_acc_lo"], "clf_acc_hi": jd["clf_acc_hi"],
           "frag_acc": fr["acc"], "frag_acc_lo": fr["acc_lo"], "frag_acc_hi": fr["acc_hi"],
           "in_scale": fr["in_scale"], "in_scale_lo": fr["in_scale_lo"], "in_scale_hi": fr["in_scale_hi"],
           "gen_s_per_audio_s": gen_s / (len(labels) * frag_s)}
    if pieces:
        seams, hal, oks, rtf, reads = [], [], [], [], []
        for k in range(dcfg.n_pieces):
            m = maqamat[k % len(maqamat)]
            p = ch06.generate_piece(trained, ae, "multidiffusion", lcfg.piece_seconds, maqamat.index(m), tonic_of[m],
                                    lcfg.overlap_frames, lcfg.sample_steps, guidance_scale, seed + k)
            seams.append(metrics.seam_jump_ratio(p.mel, p.seams) if p.seams else float("nan"))
            hal.append(metrics.hallucination_index(p.mel, bank)["index"])
            rtf.append(p.audio_s / p.gen_s)
            if windows:
                y = features.to_audio(p.mel, trained.normalizer, fcfg, sr, n_iter=lcfg.gl_iter, seed=seed + k)
                w = ch06.window_maqam(y, sr, m, tonic_of[m], lcfg.window_seconds, maqamat)
                oks.append(w["given_ok"])
                reads += [(m, r) for r in w["given"]]
        if windows:
            row["window_reads"] = tuple(reads)
            right, n = [sum(o) for o in oks], [len(o) for o in oks]  # per piece
            row["window_acc"], row["window_acc_lo"], row["window_acc_hi"] = (
                metrics.clustered_wilson_interval(right, n))
            row["n_windows"], row["window_deff"] = sum(n), metrics.design_effect(right, n)
        for key, v in (("seam_jump_ratio", seams), ("hallucination_index", hal)):
            row[key], row[f"{key}_lo"], row[f"{key}_hi"] = metrics.bootstrap_ci(v, seed=seed, min_n=MIN_PIECES)
        row["piece_x_real_time"] = float(np.mean(rtf))
    return row



@torch.no_grad()
def token_features(trained: run.Trained | None, lat: ch06.LatentSet, t: int, seed: int = 0,
                   n: int | None = None, batch: int = 64) -> dict:
    """Per-frame features of latent fragments noised to step ``t`` (fixed noise from ``seed``).

    With a DiT of time tokens (one per latent frame): its token features after the last block
    (:meth:`maqamgen.nets.dit.DiT.features`), conditioned on the fragment's maqam and tonic (and
    its place in the clip, when the model takes it) with the ornaments **unknown** (``-1``): what
    the model itself reads from the audio. With ``trained=None``: the noisy latent frame itself
    (``C x H`` numbers), the probe's baseline.

    Args:
        lat: latents with their per-frame ornament labels.
        t: diffusion step of the noise.
        n: the first ``n`` fragments of a fixed random order (None: all).

    Returns:
        ``{"X": (n W, D), "y": (n W,) ornament classes, "group": (n W,) fragment index}``.

    Raises:
        ConfigError: a DiT with 2D patches (its tokens are not frames), or latents without labels.
    """
    from maqamgen import diffusion

    if lat.ornaments is None:
        raise ConfigError("these latents carry no ornament labels (encode_fragments adds them)")
    if trained is not None and dict(trained.spec.overrides).get("tokenization", "time") != "time":
        raise ConfigError("the probe reads one token per latent frame: it needs a DiT with time tokens")
    g = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(lat), generator=g)
    idx = order[: (len(lat) if n is None else min(int(n), len(lat)))]
    keys = condition_keys(trained.spec) if trained is not None else ()
    if trained is not None:
        lat = lat.with_cond_dim(trained.spec.cond_dim)
    feats, ys, groups = [], [], []
    for b0 in range(0, len(idx), batch):
        ii = idx[b0:b0 + batch]
        x0 = lat.x[ii]
        eps = torch.randn(x0.shape, generator=g)
        sched = trained.schedule if trained is not None else diffusion.make_schedule("cosine", max(t + 1, 1000))
        tt = torch.full((len(ii),), int(t), dtype=torch.long)
        xt = diffusion.q_sample(x0, tt, eps, sched)
        if trained is None:
            f = xt.flatten(1, 2).transpose(1, 2)  # (B, W, C H)
        else:
            cond = {"label": lat.labels[ii], "vec": lat.vec[ii]}
            if "ornaments" in keys:
                cond["ornaments"] = torch.full_like(lat.ornaments[ii], -1)
            if "start_s" in keys:
                cond["start_s"], cond["total_s"] = lat.start_s[ii], lat.total_s[ii]
            f = trained.model.features(xt, tt, cond)
        feats.append(f.reshape(-1, f.shape[-1]).double().numpy())
        ys.append(lat.ornaments[ii].reshape(-1).numpy())
        groups.append(np.repeat(ii.numpy(), f.shape[1]))
    return {"X": np.concatenate(feats), "y": np.concatenate(ys), "group": np.concatenate(groups)}


def ornament_probe(train: dict, test: dict, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """A linear probe of the ornament class: multinomial logistic regression (standardised
    features, classes weighted by their inverse frequency) fitted on ``train`` and scored on
    ``test`` (both :func:`token_features`).

    Returns:
        ``bal_acc`` (balanced accuracy: mean per-class recall over the classes present in
        ``test``; chance is 1 / classes) with ``bal_acc_lo``/``bal_acc_hi`` (bootstrap over the test
        fragments, :func:`maqamgen.metrics.set_interval`), ``recall`` per ornament name, ``n_frames``,
        ``n_fragments``, ``chance``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, class_weight="balanced"))
    clf.fit(train["X"], train["y"])
    pred = clf.predict(test["X"])
    y, grp = test["y"], test["group"]
    classes = np.unique(y)
    frags = np.unique(grp)
    rows_of = {f: np.flatnonzero(grp == f) for f in frags}

    def bal_acc(ix) -> float:
        rows = np.concatenate([rows_of[frags[i]] for i in ix])
        rec = [np.mean(pred[rows][y[rows] == k] == k) for k in classes if np.any(y[rows] == k)]
        return float(np.mean(rec)) if rec else float("nan")

    v, lo, hi = metrics.set_interval(bal_acc, len(frags), n_boot, level, seed, floor=None)
    recall = {ORNAMENTS[int(k)]: float(np.mean(pred[y == k] == k)) for k in classes}
    return {"bal_acc": v, "bal_acc_lo": lo, "bal_acc_hi": hi, "recall": recall, "n_frames": int(len(y)),
            "n_fragments": int(len(frags)), "chance": 1.0 / len(classes)}


def window_confusion(reads) -> "pd.DataFrame":
    """Per asked maqam, how the windows of :func:`judge_model`'s ``window_reads`` were read.

    Args:
        reads: ``(asked, read)`` maqam names, one per window (``read`` ``None``: too little pitch).

    Returns:
        A table indexed by the asked maqam (in order of first appearance) with ``n`` (windows),
        ``right`` (read as asked), ``share`` with its Wilson bounds ``share_lo``/``share_hi``,
        ``misread_as`` (the most frequent other reading; ``"no pitch"`` for ``None``, ``""``
        when every window was read right) and ``misread_n`` (how many windows read so).
    """
    import pandas as pd

    rows = {}
    for a, r in reads:
        rows.setdefault(a, []).append("no pitch" if r is None else r)
    out = []
    for a, rr in rows.items():
        right = sum(r == a for r in rr)
        wrong = [r for r in rr if r != a]
        top = max(dict.fromkeys(wrong), key=wrong.count) if wrong else ""
        p, lo, hi = metrics.wilson_interval(right, len(rr))
        out.append({"asked": a, "n": len(rr), "right": right, "share": p, "share_lo": lo,
                    "share_hi": hi, "misread_as": top, "misread_n": wrong.count(top) if wrong else 0})
    cols = ["n", "right", "share", "share_lo", "share_hi", "misread_as", "misread_n"]
    return pd.DataFrame(out, columns=["asked", *cols]).set_index("asked")


def window_ceiling(corp, ae, lcfg, maqamat, profile: str | None = None) -> dict:
    """The ceiling of the window measure: real ``lcfg.window_seconds``-s windows read by the
    estimator (tonic given) from the original audio and after the autoencoder and Griffin-Lim.

    Chapter 6 measures it (:func:`maqamgen.recipes.ch06_latent_diffusion.real_window_ceiling`) and
    records it; when that record of ``profile`` is of the same corpus it is read back, otherwise it
    is measured here the same way.

    Returns:
        ``{"original": row, "round_trip": row}``, each row ``acc``, ``acc_lo``, ``acc_hi`` (Wilson)
        and ``windows``, with ``"source"``: ``"chapter 6"`` or ``"measured"``.
    """
    from maqamgen import results

    rec = results.load(profile, "06_latent_diffusion") if profile else None
    ceil = (rec or {}).get("metrics", {}).get("ceiling")
    if rec and rec.get("corpus") == corp.hash and ceil and {"original", "round_trip"} <= set(ceil):
        return {**{k: dict(ceil[k]) for k in ("original", "round_trip")}, "source": "chapter 6"}
    c = ch06.real_window_ceiling(corp, ae, lcfg.window_seconds, lcfg.gl_iter, maqamat=maqamat)
    return {**ch06.ceiling_rows(c), "source": "measured"}


def time_blurred(z: torch.Tensor, kernel=(0.25, 0.5, 0.25)) -> torch.Tensor:
    """Latents ``(N, C, H, W)`` convolved along time (the last axis) with ``kernel`` (odd length,
    edges replicated): the same fragments without their fastest frame-to-frame changes. Chapter 8
    decodes blurred real latents to ask whether an ornament lives in that detail."""
    k = torch.as_tensor(kernel, dtype=z.dtype)
    if k.ndim != 1 or len(k) % 2 == 0:
        raise ConfigError(f"a time kernel has an odd number of taps, got {tuple(kernel)}")
    N, C, H, W = z.shape
    x = torch.nn.functional.pad(z.reshape(N * C, H, W), (len(k) // 2,) * 2, mode="replicate")
    return torch.nn.functional.conv1d(x.reshape(-1, 1, x.shape[-1]), k.view(1, 1, -1)).reshape(N, C, H, W)


def frame_change(z: torch.Tensor) -> np.ndarray:
    """How much each latent fragment ``(N, C, H, W)`` (time last) changes from one frame to the next:
    ``mean_{c,h,t} (z[c,h,t+1] - z[c,h,t])**2``, one value per fragment (float64). On Chapter 6's
    latents, scaled to unit variance, frames drawn independently give about 2 and a held frame 0."""
    return _frame_steps(z).mean(dim=1).numpy()


def _frame_steps(z) -> torch.Tensor:
    """``(N, W - 1)`` float64: the squared change of each pair of neighbouring frames of latents
    ``(N, C, H, W)``, averaged over channels and bands."""
    z = torch.as_tensor(z)
    if z.ndim != 4 or z.shape[-1] < 2:
        raise ConfigError(f"frame change needs latents (N, C, H, W) with W >= 2 frames, got {tuple(z.shape)}")
    return (z[..., 1:] - z[..., :-1]).double().pow(2).mean(dim=(1, 2))


def frame_change_by_ornament(z: torch.Tensor, ornament_ids: torch.Tensor, n_boot: int = 1000,
                             seed: int = 0) -> dict:
    """:func:`frame_change` of real latents, split by the ornament label of the frames: for each
    class of :data:`maqamgen.nets.embeddings.ORNAMENTS`, the squared change over the pairs of
    neighbouring frames that both carry it (a note's body, not its edges).

    Args:
        z: ``(N, C, H, W)`` latents.
        ornament_ids: ``(N, W)`` int64 ornament class of every frame (``LatentSet.ornaments``).

    Returns:
        ``{kind: {"change", "change_lo", "change_hi", "pairs", "fragments"}}``: the mean over
        fragments of each fragment's mean change on that class's pairs, with a bootstrap interval
        over those fragments; NaN for a class no pair carries.
    """
    d, o = _frame_steps(z), torch.as_tensor(ornament_ids)  # d: (N, W - 1)
    if o.shape != (d.shape[0], d.shape[1] + 1):
        raise ConfigError(f"ornament ids {tuple(o.shape)} do not match latents {tuple(z.shape)}: "
                          "one class per fragment and frame")
    out = {}
    for k, kind in enumerate(ORNAMENTS):
        both = (o[:, 1:] == k) & (o[:, :-1] == k)
        n = both.sum(dim=1)
        per = ((d * both).sum(dim=1)[n > 0] / n[n > 0]).numpy()
        v, lo, hi = metrics.bootstrap_ci(per, n_boot=n_boot, seed=seed)
        out[kind] = {"change": float(v), "change_lo": float(lo), "change_hi": float(hi),
                     "pairs": int(n.sum()), "fragments": int((n > 0).sum())}
    return out


def ornament_census(mels, normalizer, fcfg, sr: int, gl_iter: int = 32, seed: int = 0,
                    n_boot: int = 1000) -> dict:
    """What ornaments a set of fragments carries, whatever was asked: each normalised mel through
    Griffin-Lim, FCPE (:func:`maqamgen.trackers.fcpe_track`) and :func:`maqamgen.ornaments.detect`.

    Returns:
        ``voiced`` (mean share of voiced FCPE frames), ``<kind>_s`` (mean seconds detected per
        fragment, each ornament kind), each with ``_lo``/``_hi`` (bootstrap over fragments), and ``n``.
    """
    kinds = [k for k in ORNAMENTS if k != "none"]
    voiced, secs = [], {k: [] for k in kinds}
    for _, tr, dets in decoded_detections(mels, normalizer, fcfg, sr, gl_iter, seed):
        voiced.append(float(np.mean(np.isfinite(tr.f0_hz))) if len(tr.f0_hz) else 0.0)
        for k in kinds:
            secs[k].append(sum(d.end_s - d.start_s for d in dets if d.kind == k))
    out = {"n": len(mels)}
    for name, values in (("voiced", voiced), *((f"{k}_s", secs[k]) for k in kinds)):
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = metrics.bootstrap_ci(values, n_boot=n_boot,
                                                                               seed=seed)
    return out


def real_control_ceiling(corp, frags, lat: ch06.LatentSet, ae, kinds=("vibrato", "slide"), n: int = 24,
                         gl_iter: int = 32, seed: int = 0, n_boot: int = 1000, generators: dict | None = None,
                         steps: int = 10, guidance_scale: float = 2.0, draws: int = 1) -> dict:
    """The ceiling of ornament control: real fragments "asked" for the ornaments they carry.

    For ``n`` fragments of ``frags`` (a fixed random order; those with a labelled ornament of the
    kind count for that kind), the labelled ornament spans of the corpus notes
    (:func:`maqamgen.ornaments.note_labels`) are the asked spans, and
    :func:`maqamgen.ornaments.control_score` scores the ornaments detected in (a) the original audio
    of the fragment (the detector's own ceiling), (b) its log-mel turned to audio by Griffin-Lim
    (what the spectrogram and the vocoder keep) and (c) its latent (``lat``, the same fragments
    encoded) decoded by the autoencoder and turned to audio by Griffin-Lim, the path every
    generated fragment takes. A generator asked for exactly what a real fragment holds can score
    at most about (c); (b) - (c) is what the autoencoder loses.

    ``generators`` are then asked for the same plans: each DiT (it must take the ``ornaments``
    condition) generates one fragment per real one, with that fragment's maqam, its clip's tonic
    and its per-frame ornament labels (``lat.ornaments``, as in training), and again with the same
    prompts and noise not told (ornaments "unknown"). Both are decoded like (c) and scored
    against the real fragment's labelled spans. Unlike :func:`ornament_control`, which asks for
    one ornament over a fixed span (longer than any training note's: the ``book`` corpus's slides
    last about 0.3 s, its vibratos about 0.8 s), this asks for plans the model has seen the like of.

    Args:
        corp: the corpus the fragments come from.
        frags: the fragments (:class:`maqamgen.features.PatchSet` of
            :func:`maqamgen.recipes.ch06_latent_diffusion.encode_fragments`).
        lat: their latents, same order.
        ae: the autoencoder (:class:`maqamgen.recipes.ch06_latent_diffusion.TrainedNet`).
        generators: ``{name: run.Trained}`` DiTs asked for the real plans (none by default).
        steps, guidance_scale: their sampler (seed ``seed``).
        draws: Griffin-Lim draws of every decoded row (:func:`detection_draws`; fragment ``j`` of
            the real rows is seeded :func:`draw_seed` ``(seed, d, j)``); a fragment's F1 is the
            mean over its draws. The original audio needs none.

    Returns:
        ``{kind: {"original": {"f1", "f1_lo", "f1_hi", "n"}, "griffin-lim": {...},
        "autoencoder": {...}, "<name>, asked": {...}, "<name>, not told": {...}}}``: frame F1 per
        fragment holding the kind, averaged, with a bootstrap interval over those fragments; each
        ``"<name>, asked"`` entry also holds ``diff``, ``diff_lo``, ``diff_hi``, the paired
        difference asked minus not told (:func:`maqamgen.metrics.paired_difference`).

    Raises:
        ConfigError: a generator that does not take the ornament condition.
    """
    draws = draw_count(draws)
    generators = dict(generators or {})
    for name, g in generators.items():
        if "ornaments" not in condition_keys(g.spec):
            raise ConfigError(f"{name} was trained without the ornament encoding: it cannot be asked for ornaments")
    sr = int(corp.config["sr"])
    fcfg = frags.config
    hop_s = fcfg.hop_length / sr
    dur = frags.x.shape[-1] * hop_s
    clips = {c.id: c for c in corp.clips}
    order = np.random.default_rng(seed).permutation(len(frags))[: int(n)]
    idx = torch.as_tensor(order, dtype=torch.long)
    rec = ch06.decode(ae.model, lat.x[idx]) if len(order) else None
    rows = ("original", "griffin-lim", "autoencoder",
            *(f"{g}, {a}" for g in generators for a in ("asked", "not told")))
    scores = {k: {r: [] for r in rows} for k in kinds}
    plans = []
    for i in order:
        clip = clips[frags.clip_ids[i]]
        st = float(frags.starts[i]) * hop_s
        plans.append([(d.kind, max(d.start_s - st, 0.0), min(d.end_s - st, dur))
                      for d in ornaments.note_labels(corp.notes(clip)[0])
                      if d.kind in kinds and d.end_s > st and d.start_s < st + dur])
    held = [j for j, p in enumerate(plans) if p]  # the fragments that hold a kind scored

    def score(row: str, found, plan) -> None:
        """The F1 of each kind the plan holds, averaged over the draws ``found`` (``[(detections,
        seconds), ...]``), into ``scores[kind][row]``."""
        sc = [ornaments.control_score(dets, plan, seconds, kinds=kinds) for dets, seconds in found]
        for k in kinds:
            if any(x[0] == k for x in plan):
                scores[k][row].append(float(np.mean([np.nan_to_num(c[k]["f1"], nan=0.0) for c in sc])))

    sel = idx[torch.as_tensor(held, dtype=torch.long)]
    for name, g in (generators.items() if held else ()):
        for a, extra in (("asked", {"ornaments": lat.ornaments[sel]}), ("not told", None)):
            mel, _ = sample_with(g, ae.model, lat.labels[sel].numpy(), lat.tonic_hz[sel.numpy()], extra,
                                 steps, guidance_scale, seed)
            for j, frag in zip(held, detection_draws(mel, frags.normalizer, fcfg, sr, gl_iter, seed, draws)):
                score(f"{name}, {a}", [(dets, len(y) / sr) for y, _, dets in frag], plans[j])

    for j in held:
        i = order[j]
        st = float(frags.starts[i]) * hop_s
        y, _ = corp.audio(clips[frags.clip_ids[i]])
        y = np.asarray(y[int(round(st * sr)):int(round((st + dur) * sr))])
        score("original", [(ornaments.detect(trackers.fcpe_track(y, sr), y, sr), len(y) / sr)], plans[j])
    # all n in order, so that fragment j's draw d is seeded draw_seed(seed, d, j)
    for name, mels in ((("griffin-lim", frags.x[idx]), ("autoencoder", rec)) if held else ()):
        per = detection_draws(mels, frags.normalizer, fcfg, sr, gl_iter, seed, draws)
        for j in held:
            score(name, [(dets, len(y) / sr) for y, _, dets in per[j]], plans[j])
    out = {}
    for k in kinds:
        out[k] = {}
        for name, v in scores[k].items():
            f1, lo, hi = (metrics.bootstrap_ci(v, n_boot=n_boot, seed=seed) if v else (float("nan"),) * 3)
            out[k][name] = {"f1": f1, "f1_lo": lo, "f1_hi": hi, "n": len(v)}
        for g in generators:
            a, b = scores[k][f"{g}, asked"], scores[k][f"{g}, not told"]
            d = (metrics.paired_difference(a, b, n_boot=n_boot, seed=seed) if a else (float("nan"),) * 3)
            out[k][f"{g}, asked"].update(zip(("diff", "diff_lo", "diff_hi"), d))
    return out
