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
  on Chapter 4's grid, fragment-level maqam and intonation, seams and hallucination of long
  pieces, ornament control.

Written for Chapter 8 (book/part3/08_dit.md).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from maqamgen import features, metrics, ornaments, trackers
from maqamgen.diffusion import run
from maqamgen.errors import ConfigError
from maqamgen.nets.embeddings import ORNAMENTS
from maqamgen.recipes import ch06_latent_diffusion as ch06


MIN_PIECES = 3
"""Fewest long pieces whose bootstrap interval the chapter reports (``min_n`` of
:func:`maqamgen.metrics.bootstrap_ci`): a bootstrap over two pieces only spans their two values,
so under this the bounds are NaN and no separation can be claimed."""


def reference_overrides(dcfg) -> tuple:
    """The reference DiT's network settings from the chapter config (tokenization, encodings)."""
    out = [("tokenization", dcfg.tokenization), ("time_pos", dcfg.time_pos), ("piece_pos", bool(dcfg.piece_pos)),
           ("ornaments", bool(dcfg.ornaments))]
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
    if base.get("tokenization") == "patch" and "patch_size" not in base:
        base["patch_size"] = int(dcfg.patch_size)
    base["input_size"] = (int(latent_shape[1]), int(latent_shape[2]))
    train = dcfg.train.replace(seed=int(seed), **({"steps": int(steps)} if steps is not None else {}))
    if train.warmup_steps >= train.steps:
        train = train.replace(warmup_steps=max(0, train.steps // 10))
    return run.DenoiserSpec(net="dit", preset=dcfg.preset, schedule=lcfg.schedule, T=lcfg.T, target=lcfg.target,
                            loss=lcfg.loss, p_uncond=lcfg.p_uncond, cond_dim=2,
                            masks=(lcfg.p_generate, lcfg.p_prefix, lcfg.p_suffix),
                            overrides=tuple(sorted(base.items())), train=train)


def condition_keys(spec: run.DenoiserSpec) -> tuple:
    """The extra condition keys the spec's DiT takes: ``ornaments`` and/or ``start_s``, ``total_s``."""
    o = dict(spec.overrides)
    keys = ("ornaments",) if o.get("ornaments") else ()
    return keys + (("start_s", "total_s") if o.get("piece_pos") else ())


def train_dit(spec: run.DenoiserSpec, latents: ch06.LatentSet, out_dir=None, resume: bool = False,
              progress: bool | None = None) -> run.Trained:
    """Train (or load from the cache) the DiT of ``spec`` on ``latents``, fed the condition keys it takes."""
    return run.train_denoiser(spec, latents.with_keys(condition_keys(spec)), out_dir=out_dir, resume=resume,
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


@torch.no_grad()
def sample_with(trained: run.Trained, ae, labels, tonic_hz, extra: dict | None = None, steps: int = 10,
                guidance_scale: float = 2.0, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Generate fragments of the given maqam labels and tonics with extra condition entries
    (e.g. ``{"ornaments": (N, w) int64}``) and decode them: ``(mel (N, 1, F, T), seconds)``."""
    from maqamgen import diffusion

    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    cond = {"label": labels,
            "vec": torch.from_numpy(ch06.tonic_vector(np.broadcast_to(tonic_hz, labels.shape)))}
    cond.update(extra or {})
    g = torch.Generator().manual_seed(int(seed))
    t0 = time.perf_counter()
    z = diffusion.ddim_sample(trained.model, (len(labels), *trained.shape), trained.schedule, steps=steps,
                              target=trained.spec.target, cond=cond, guidance_scale=guidance_scale, generator=g)
    mel = ch06.decode(ae, z)
    return mel, time.perf_counter() - t0


def ornament_control(trained: run.Trained, ae, labels, tonic_hz, kind: str, span: tuple[float, float],
                     normalizer, fcfg, sr: int, steps: int = 10, guidance_scale: float = 2.0,
                     gl_iter: int = 32, seed: int = 0, ask: bool = True) -> dict:
    """Ask for ``kind`` in ``span`` of each fragment (and none elsewhere), detect the ornaments of the
    decoded audio and score the control.

    With ``ask=False`` nothing is asked (the model's ornament input is "unknown"): the score of an
    uninformed model against the same span, the baseline.

    Returns:
        ``f1``, ``precision``, ``recall`` (means over fragments of
        :func:`maqamgen.ornaments.control_score` for ``kind``; NaN-safe) with ``f1_lo``/``f1_hi``
        (bootstrap over fragments), ``n``, ``detected_s`` (mean seconds of ``kind`` detected per
        fragment) and the per-fragment ``f1_each``.
    """
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
    f1, prec, rec, det = [], [], [], []
    for i, m in enumerate(mel):
        y = features.to_audio(m, normalizer, fcfg, sr, n_iter=gl_iter, seed=seed + i)
        dets = ornaments.detect(trackers.fcpe_track(y, sr), y, sr)
        sc = ornaments.control_score(dets, asked, len(y) / sr, kinds=(kind,))[kind]
        f1.append(float(np.nan_to_num(sc["f1"], nan=0.0)))
        prec.append(sc["precision"])
        rec.append(sc["recall"])
        det.append(sum(d.end_s - d.start_s for d in dets if d.kind == kind))
    v, lo, hi = metrics.bootstrap_ci(f1, seed=seed)
    return {"kind": kind, "asked": bool(ask), "n": len(f1), "f1": v, "f1_lo": lo, "f1_hi": hi,
            "precision": float(np.nanmean(prec)) if np.isfinite(prec).any() else float("nan"),
            "recall": float(np.nanmean(rec)) if np.isfinite(rec).any() else float("nan"),
            "detected_s": float(np.mean(det)), "f1_each": f1}


def judge_model(name: str, trained: run.Trained, ae, ev, dcfg, lcfg, tonic_of: dict, bank: np.ndarray,
                guidance_scale: float = 2.0, seed: int = 0, to_eval_grid=None, pieces: bool = True) -> dict:
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

    Returns:
        A flat dict: ``fd`` (with bounds), ``clf_acc``, ``frag_acc`` (the estimator, tonic given,
        whole fragments), ``in_scale`` (FCPE), ``seam_jump_ratio`` and ``hallucination_index`` of the
        pieces (mean with bounds), ``params``, ``train_s``, ``gen_s_per_audio_s``.
    """
    from maqamgen.recipes import ch05_scaling as ch05

    maqamat, sr, fcfg = trained.maqamat, trained.sr, lcfg.features
    labels = np.arange(dcfg.n_eval) % len(maqamat)
    tonics = [tonic_of[maqamat[k]] for k in labels]
    mel, gen_s = sample_with(trained, ae, labels, tonics, None, lcfg.sample_steps, guidance_scale, seed + 1)
    jd = ch05.judge(ev, to_eval_grid(mel) if to_eval_grid else mel, labels, pitch=False)
    fr = ch06.judge_fragments(mel, labels, tonics, trained.normalizer, fcfg, sr, maqamat, lcfg.gl_iter,
                              lcfg.tol_cents, seed)
    frag_s = mel.shape[-1] * fcfg.hop_length / sr
    row = {"model": name, "params": int(trained.n_params), "train_s": float(trained.seconds),
           "fd": jd["fd"], "fd_lo": jd["fd_lo"], "fd_hi": jd["fd_hi"],
           "clf_acc": jd["clf_acc"], "clf_acc_lo": jd["clf_acc_lo"], "clf_acc_hi": jd["clf_acc_hi"],
           "frag_acc": fr["acc"], "frag_acc_lo": fr["acc_lo"], "frag_acc_hi": fr["acc_hi"],
           "in_scale": fr["in_scale"], "in_scale_lo": fr["in_scale_lo"], "in_scale_hi": fr["in_scale_hi"],
           "gen_s_per_audio_s": gen_s / (len(labels) * frag_s)}
    if pieces:
        seams, hal = [], []
        for k in range(dcfg.n_pieces):
            m = maqamat[k % len(maqamat)]
            p = ch06.generate_piece(trained, ae, "multidiffusion", lcfg.piece_seconds, maqamat.index(m), tonic_of[m],
                                    lcfg.overlap_frames, lcfg.sample_steps, guidance_scale, seed + k)
            seams.append(metrics.seam_jump_ratio(p.mel, p.seams) if p.seams else float("nan"))
            hal.append(metrics.hallucination_index(p.mel, bank)["index"])
        for key, v in (("seam_jump_ratio", seams), ("hallucination_index", hal)):
            row[key], row[f"{key}_lo"], row[f"{key}_hi"] = metrics.bootstrap_ci(v, seed=seed, min_n=MIN_PIECES)
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
