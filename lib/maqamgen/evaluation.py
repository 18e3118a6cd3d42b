"""The one evaluator of generated spectrograms and audio (every generative chapter uses it).

* :func:`audio_measures` -- the pitch track of a waveform, its PCD, and the Chapter 2
  estimator's maqam.
* :class:`Evaluator` -- held-out metrics of generated patches against real ones: Frechet
  distance in the in-domain classifier's embedding, audio PCD divergence, maqam accuracy by the
  classifier and by the estimator (through Griffin-Lim), distance to the nearest real frame.

Used in: book/part1/04_unet_ddpm.md
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from maqamgen import classifier as clf_mod
from maqamgen import features, metrics


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
