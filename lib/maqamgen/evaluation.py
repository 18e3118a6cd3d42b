"""The one evaluator of generated spectrograms and audio (every generative chapter uses it).

* :func:`audio_measures` -- the pitch track of a waveform, its PCD, and the Chapter 2
  estimator's maqam.
* :class:`Evaluator` -- held-out metrics of generated patches against real ones: Frechet
  distance in the in-domain classifier's embedding, audio PCD divergence, maqam accuracy by the
  classifier and by the estimator (through Griffin-Lim), distance to the nearest real frame;
  each with its interval over the judged samples.
* :func:`core_metrics` -- the evaluator's metrics under the keys of the common results schema.
* :func:`format_intervals` -- a table's ``value [lo, hi]`` columns as text.
* :class:`WindowEvaluator` -- the same metrics for material long enough to carry the maqam
  (``maqamgen.judge.WINDOW_S``, 6 s): long or stitched generations
  (:func:`maqamgen.diffusion.stitch.generate_long`), judged through Griffin-Lim by the
  pitch-track judge (:mod:`maqamgen.judge`: >= 90% held-out on real windows); FD in the
  judge's embedding against held-out real windows through the same decoder.
  :func:`judge_long` generates and judges in one call.

Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
book/part1/05_scaling_hallucination.md
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from maqamgen import classifier as clf_mod
from maqamgen import features, judge as judge_mod, metrics, results

CORE_KEYS = {"fd": "fd", "est_acc": "maqam_acc_estimator", "clf_acc": "maqam_acc_classifier",
             "pcd_js": "pcd_js_audio", "nn_dist": "frame_dist"}
"""The evaluator's metric names -> their keys in :data:`maqamgen.results.CORE_METRICS`."""


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
        seed: seeds Griffin-Lim and the bootstrap.
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
        """Train/load the classifier (validated on ``heldout_set``) and measure the reference.

        Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
        """
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

    def measure(self, x: torch.Tensor, labels, pitch: bool = True) -> dict:
        """Per-sample measurements of patches ``x`` ``(N, 1, H, W)`` meant to be of maqam ``labels``.

        Returns:
            ``emb`` ``(N, D)``: classifier embeddings; ``clf_ok`` ``(N,)``: the classifier reads
            the asked maqam; ``nn_dist`` ``(N,)``: mean distance of the patch's frames to the
            nearest real training frame (normalised units); with ``pitch``, from the Griffin-Lim
            audio: ``pcd`` ``(N, bins)``, ``est_ok`` ``(N,)`` (the Chapter 2 estimator reads the
            asked maqam) and ``voiced_s`` ``(N,)``.
        """
        labels = np.asarray(labels)
        out = {"emb": self.classifier.embed(x),
               "clf_ok": self.classifier.predict(x) == labels,
               "nn_dist": np.array([metrics.nearest_frame_distance(xi[0].numpy(), self.bank).mean()
                                    for xi in x])}
        if pitch:
            m = self._audio_measures(x)
            names = self.ref.maqamat
            out["pcd"] = np.stack([r["pcd"] for r in m])
            out["est_ok"] = np.array([r["estimate"] == names[int(k)] for r, k in zip(m, labels)])
            out["voiced_s"] = np.array([r["voiced_s"] for r in m])
        return out

    def summarize(self, m: dict, n_boot: int = 1000, level: float = 0.95) -> dict:
        """The metrics of per-sample measurements ``m`` (:meth:`measure`), with intervals.

        Returns:
            ``n`` (samples) and ``fd``, ``kid``, ``clf_acc``, ``nn_dist``, and, when ``m`` has
            the pitch measurements, ``pcd_js``, ``est_acc``, ``voiced_s``. With ``n_boot > 0``
            each but ``voiced_s`` has ``<key>_lo`` and ``<key>_hi``: FD, KID
            (:func:`maqamgen.metrics.kernel_distance`, unbiased at any set size) and PCD divergence by
            :func:`maqamgen.metrics.set_interval` over the judged samples (the reference is fixed: every row is
            measured against the same one), the accuracies by
            :func:`maqamgen.metrics.wilson_interval`, the frame distance by
            :func:`maqamgen.metrics.bootstrap_ci` of its mean; ``level`` is their coverage.
        """
        out = _summarize_sets(m, self.ref_emb, self.ref_pcd, self.seed, n_boot, level)
        if n_boot:
            out["nn_dist"], out["nn_dist_lo"], out["nn_dist_hi"] = metrics.bootstrap_ci(
                m["nn_dist"], n_boot=n_boot, level=level, seed=self.seed)
        else:
            out["nn_dist"] = float(np.mean(m["nn_dist"]))
        return out

    def evaluate(self, x: torch.Tensor, labels, pitch: bool = True, n_boot: int = 1000,
                 level: float = 0.95) -> dict:
        """Metrics of patches ``x`` ``(N, 1, H, W)`` meant to be of maqam ``labels`` ``(N,)``.

        :meth:`summarize` of :meth:`measure`. The metrics: ``fd``, Frechet distance to the
        reference in the classifier's embedding; ``clf_acc``, the classifier's accuracy against
        ``labels``; ``nn_dist``, mean distance of a frame to the nearest real training frame
        (normalised units); with ``pitch``: ``pcd_js`` (JS divergence, bits, of the mean PCD of
        the Griffin-Lim audio against the reference's), ``est_acc`` (the Chapter 2 estimator's
        accuracy against ``labels``), ``voiced_s`` (mean voiced seconds per patch). With
        ``n_boot > 0``, ``<key>_lo`` / ``<key>_hi`` bound each (not ``voiced_s``).

        Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
        """
        return self.summarize(self.measure(x, labels, pitch), n_boot, level)


def core_metrics(judged: dict) -> dict:
    """The evaluator's metrics (:meth:`Evaluator.evaluate`) under the keys of the common results
    schema (:data:`CORE_KEYS`), each as :func:`maqamgen.results.interval` (or a plain number
    without intervals); a metric that was not measured (no pitch) is marked not applicable.

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
    book/part1/05_scaling_hallucination.md (through their recipes)
    """
    out = {}
    for key, core_key in CORE_KEYS.items():
        if key not in judged:
            out[core_key] = results.not_applicable("not measured (no audio judged)")
        elif f"{key}_lo" in judged:
            out[core_key] = results.interval(judged[key], judged[f"{key}_lo"], judged[f"{key}_hi"],
                                             n=judged.get("n"))
        else:
            out[core_key] = judged[key]
    return out


def format_intervals(df, digits: int = 3):
    """A copy of a table where each column ``c`` with ``c_lo`` and ``c_hi`` beside it reads
    ``value [lo, hi]`` (text, rounded to ``digits``), and the bounds' columns are dropped.

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md,
    book/part2/07_lstm_tokens.md, book/part3/08_dit.md
    """
    out = df.copy()
    for c in list(df.columns):
        lo, hi = f"{c}_lo", f"{c}_hi"
        if lo in df.columns and hi in df.columns:
            out[c] = [f"{v:.{digits}f} [{a:.{digits}f}, {b:.{digits}f}]"
                      for v, a, b in zip(df[c], df[lo], df[hi])]
            out = out.drop(columns=[lo, hi])
    return out


def _summarize_sets(m: dict, ref_emb: np.ndarray, ref_pcd: np.ndarray, seed: int, n_boot: int,
                    level: float) -> dict:
    """FD / PCD divergence (set intervals) and accuracies (Wilson) of per-sample measurements."""
    n = len(m["clf_ok"])
    out = {"n": n}
    emb = m["emb"]
    sets = {"fd": lambda i: metrics.frechet_distance(emb[i], ref_emb),
            "kid": lambda i: metrics.kernel_distance(emb[i], ref_emb)}
    if "pcd" in m:
        sets["pcd_js"] = lambda i: metrics.pcd_divergence(m["pcd"][i], ref_pcd)
    for key, stat in sets.items():
        if n_boot:
            out[key], out[f"{key}_lo"], out[f"{key}_hi"] = metrics.set_interval(
                stat, n, n_boot, level, seed, floor=None if key == "kid" else 0.0)
        else:
            out[key] = float(stat(np.arange(n)))
    for key in ("clf_acc", "est_acc"):
        ok = m.get(key.replace("_acc", "_ok"))
        if ok is None:
            continue
        p, lo, hi = metrics.wilson_interval(int(np.sum(ok)), n, level)
        out[key] = p
        if n_boot:
            out[f"{key}_lo"], out[f"{key}_hi"] = min(lo, p), max(hi, p)
    if "voiced_s" in m:
        out["voiced_s"] = float(np.mean(m["voiced_s"]))
    return out


@dataclass
class WindowEvaluator:
    """Held-out metrics of long generated log-mels (at least ``judge.WINDOW_S``) against real
    windows, judged by the pitch-track judge (:mod:`maqamgen.judge`) through Griffin-Lim.

    A 1.5-s patch carries two or three notes, too few for any judge to read the maqam; a
    model whose patch is shorter than the judge's window is judged on its stitched or long
    generations. The keys are those of :meth:`Evaluator.evaluate` (so :func:`core_metrics`
    applies; ``nn_dist`` is not measured here): ``fd`` in the judge's embedding (its hidden
    layer), ``clf_acc`` the judge's maqam accuracy, ``pcd_js`` and ``est_acc`` (the Chapter 2
    estimator; the known-tonic one when tonics are given).

    Attributes:
        judge: the trained :class:`maqamgen.judge.Judge`.
        ref_emb: embeddings of the held-out real windows, decoded like generated material.
        ref_pcd: their PCDs.
        ref: the reference windows (:func:`maqamgen.judge.clip_windows`).
        normalizer, fcfg, sr: the log-mel settings the generated mels are in.
        gl_iter, seed: Griffin-Lim iterations and seed (also the bootstrap's).
        tonic_known: whether the reference was embedded at its known tonic (generated material
            must then be judged with its asked tonics).
    """

    judge: "judge_mod.Judge"
    ref_emb: np.ndarray
    ref_pcd: np.ndarray
    ref: dict
    normalizer: object
    fcfg: object
    sr: int
    gl_iter: int = 32
    seed: int = 0
    tonic_known: bool = False
    tracks: dict = field(default_factory=dict, repr=False)
    corpus: object = field(default=None, repr=False)

    @classmethod
    def build(cls, corp, fcfg, normalizer, gl_iter: int = 32, ref_split: str = "test",
              tonic_known: bool = False, seed: int = 0, workers: int = 2,
              window_s: float | None = None) -> "WindowEvaluator":
        """Train/load the judge of ``corp`` (:func:`maqamgen.judge.get_judge`, cached) and embed
        the reference: every ``judge.WINDOW_S`` window (every ``judge.EVAL_STRIDE_S``) of the
        ``ref_split`` clips through Griffin-Lim.

        Args:
            corp: the corpus (:func:`maqamgen.corpus.load`).
            fcfg: the generative chapter's log-mel settings (e.g. ``cfg.ddpm.features``).
            normalizer: its training normaliser (``train_set.normalizer``).
            gl_iter: Griffin-Lim iterations (the chapter's ``ddpm_cfg.gl_iter``).
            ref_split: held-out split of the reference windows.
            tonic_known: embed the reference at its clips' tonics (for tonic-conditioned
                generations); otherwise the judge reads the tonic as it does for generations
                conditioned on the maqam only.
            seed: Griffin-Lim and bootstrap seed.
            workers: processes for the one-off pitch tracking of the corpus.
            window_s: the judge's window, s (None: ``judge.WINDOW_S``).
        """
        w = judge_mod.WINDOW_S if window_s is None else float(window_s)
        j = judge_mod.get_judge(corp, fcfg, normalizer, gl_iter=gl_iter, workers=workers, window_s=w)
        tracks = judge_mod.corpus_tracks(corp, fcfg, normalizer, gl_iter, workers)
        ref = judge_mod.clip_windows(corp, tracks, ref_split, "gl", window_s=w)
        t = ref["tonic_hz"] if tonic_known else None
        return cls(judge=j, ref_emb=j.embed(ref["raw"], t), ref_pcd=np.stack([r.pcd for r in ref["raw"]]),
                   ref=ref, normalizer=normalizer, fcfg=fcfg, sr=int(corp.config["sr"]),
                   gl_iter=gl_iter, seed=seed, tonic_known=tonic_known, tracks=tracks, corpus=corp)

    def to_audio(self, mel) -> np.ndarray:
        """A normalised log-mel ``(n_mels, T)`` -> audio through Griffin-Lim."""
        return features.to_audio(mel, self.normalizer, self.fcfg, self.sr, n_iter=self.gl_iter,
                                 seed=self.seed)

    def measure_tracks(self, tracks: list, labels, tonic_hz=None) -> dict:
        """Per-sample measurements of pitch tracks meant to be of maqam ``labels``.

        Each track is judged by :meth:`maqamgen.judge.Judge.judge_track` (windows of
        ``WINDOW_S``, posteriors averaged; a shorter track is one window).

        Returns:
            ``emb`` ``(N, HIDDEN)``, ``clf_ok`` ``(N,)`` (the judge reads the asked maqam),
            ``pred`` ``(N,)`` (its label), ``pcd`` ``(N, 72)``, ``est_ok`` ``(N,)`` (the
            Chapter 2 estimator; given the tonic when ``tonic_hz`` is), ``voiced_s`` ``(N,)``.
        """
        from maqamgen import estimate

        labels = np.asarray(labels, dtype=int)
        tonics = [None] * len(tracks) if tonic_hz is None else list(np.broadcast_to(tonic_hz, (len(tracks),)))
        names = self.judge.maqamat
        emb, pred, pcd, est, voiced = [], [], [], [], []
        for tr, t in zip(tracks, tonics):
            r = self.judge.judge_track(tr, t)
            emb.append(r["emb"])
            pred.append(names.index(r["maqam"]))
            pcd.append(estimate.pitch_class_distribution(tr.f0_hz, tr.voiced_prob))
            voiced.append(tr.voiced_seconds)
            try:
                e = (estimate.estimate(None, self.sr, maqamat=names, track=tr) if t is None else
                     estimate.estimate_given_tonic(None, self.sr, float(t), maqamat=names, track=tr))
                est.append(e.maqam)
            except estimate.EstimationError:
                est.append(None)
        pred = np.asarray(pred, dtype=int)
        return {"emb": np.asarray(emb).reshape(len(tracks), -1), "pred": pred, "clf_ok": pred == labels,
                "pcd": np.asarray(pcd).reshape(len(tracks), -1),
                "est_ok": np.array([e == names[k] for e, k in zip(est, labels)]),
                "voiced_s": np.asarray(voiced, dtype=float)}

    def measure(self, mels, labels, tonic_hz=None) -> dict:
        """Per-sample measurements of normalised log-mels ``mels`` (each ``(n_mels, T)``, ``T``
        frames for at least ``WINDOW_S``; a list or an ``(N, n_mels, T)`` array) meant to be of
        maqam ``labels``: Griffin-Lim, the pitch track, then :meth:`measure_tracks`."""
        from maqamgen import estimate

        tracks = [judge_mod.track(self.to_audio(np.asarray(m)), self.sr) for m in mels]
        return self.measure_tracks(tracks, labels, tonic_hz)

    def summarize(self, m: dict, n_boot: int = 1000, level: float = 0.95) -> dict:
        """The metrics of measurements ``m`` with intervals, as :meth:`Evaluator.summarize`
        (``fd``, ``clf_acc``, ``pcd_js``, ``est_acc``, ``voiced_s``; no ``nn_dist``)."""
        return _summarize_sets(m, self.ref_emb, self.ref_pcd, self.seed, n_boot, level)

    def evaluate(self, mels, labels, tonic_hz=None, n_boot: int = 1000, level: float = 0.95) -> dict:
        """:meth:`summarize` of :meth:`measure`: the metrics of long generated log-mels."""
        return self.summarize(self.measure(mels, labels, tonic_hz), n_boot, level)

    def real_row(self, split: str = "validation", n_boot: int = 1000, level: float = 0.95) -> dict:
        """The real-vs-real row: the windows of another held-out split (disjoint clips), decoded
        like generated material, judged against the reference -- the floor of FD and PCD
        divergence and the ceiling of the accuracies at this decoder."""
        ws = self.judge.window_s
        w = judge_mod.clip_windows(self.corpus, self.tracks, split, "gl", window_s=ws)
        tr_list = []
        for c in self.corpus.split(split):
            tr = self.tracks[c.id]["gl"]
            dur = float(tr.times[-1] + tr.hop_s)
            tr_list += [judge_mod.crop(tr, s, ws) for s in judge_mod.window_starts(dur, judge_mod.EVAL_STRIDE_S, ws)]
        t = w["tonic_hz"] if self.tonic_known else None
        return self.summarize(self.measure_tracks(tr_list, w["label"], t), n_boot, level)


def judge_long(ev: WindowEvaluator, trained, n_per_class: int, seconds: float | None = None,
               method: str = "inpaint", steps: int = 20, guidance_scale: float = 2.0, seed: int = 0,
               n_boot: int = 1000, level: float = 0.95) -> dict:
    """Generate ``n_per_class`` long sequences per maqam with a patch model and judge them at
    the judge's window length: :func:`maqamgen.diffusion.stitch.generate_long_batch`
    (``seconds``, default the judge's ``window_s``; 16 sequences per batch), then
    :meth:`WindowEvaluator.evaluate`.

    A model whose patch (e.g. the 1.5-s U-Net patch) is shorter than the judge's window is
    judged this way, never patch by patch.

    Returns:
        :meth:`WindowEvaluator.evaluate`'s metrics, plus ``mels`` (the generated sequences) and
        ``labels``.
    """
    from maqamgen.diffusion import stitch

    seconds = ev.judge.window_s if seconds is None else float(seconds)
    labels = np.repeat(np.arange(len(ev.judge.maqamat)), int(n_per_class))
    batch, mels = 16, []
    for i in range(0, len(labels), batch):  # a batch per network call (bounded memory)
        part, _ = stitch.generate_long_batch(trained, seconds, labels[i:i + batch], method=method,
                                             steps=steps, guidance_scale=guidance_scale,
                                             seed=seed + i)
        mels += list(part)
    out = ev.evaluate(mels, labels, n_boot=n_boot, level=level)
    return {**out, "mels": mels, "labels": labels}
