"""The in-domain audio classifier: log-mel patch -> maqam, whose embedding gives a Frechet distance.

No pretrained audio network is available offline (no VGGish/PANNs weights), so the Frechet
distance of the generative chapters is measured in the embedding of a small CNN trained on the
corpus itself to tell the maqam from a normalised log-mel patch (:mod:`maqamgen.features`):

    x (1 x n_mels x frames) -> 4 x [conv 3x3, GroupNorm, SiLU, 2x2 max-pool] -> global mean
    -> e (EMBED_DIM) -> linear -> logits (n_classes).

The embedding ``e`` (before the last layer) is what :func:`maqamgen.metrics.frechet_distance`
compares. The classifier is trained once per corpus and feature setting with the book's one
training loop (:func:`maqamgen.train.train`) and cached under ``data/cache/classifier/<hash>``
with its held-out accuracy; it is deliberately small so that the cache is built in seconds.

Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md (and every later
chapter's Frechet distance, through :mod:`maqamgen.evaluation`)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from maqamgen import train as trainer
from maqamgen.config import TrainConfig
from maqamgen import runtime
from maqamgen.runtime import cache_dir

EMBED_DIM = 64
"""Size of the embedding the Frechet distance is computed in."""

CLASSIFIER_VERSION = 2  # 2: the network is built after seeding


class MelCNN(nn.Module):
    """The classifier. ``forward(x) -> logits (B, n_classes)``; ``embed(x) -> (B, EMBED_DIM)``.

    Args:
        n_classes: number of maqamat.
        widths: channels of the four conv blocks.
    """

    def __init__(self, n_classes: int, widths: tuple[int, ...] = (16, 32, 64, EMBED_DIM)):
        super().__init__()
        layers, c = [], 1
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.GroupNorm(min(8, w), w), nn.SiLU(),
                       nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(c, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` -> ``(B, widths[-1])``: the global mean of the last feature map."""
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


def _loss(model, batch) -> torch.Tensor:
    x, y = batch
    # augmentation: a random level shift and a random circular time shift of each patch
    shift = (torch.rand(x.shape[0], 1, 1, 1, device=x.device) - 0.5) * 0.2
    roll = int(torch.randint(0, x.shape[-1], (1,)))
    return F.cross_entropy(model(torch.roll(x, roll, dims=-1) + shift), y)


@dataclass
class Classifier:
    """A trained :class:`MelCNN` with its record.

    Attributes:
        model: the network (eval mode, CPU).
        maqamat: class names, in label order.
        accuracy: held-out accuracy on the split it was validated on (patch level).
        info: the cached record (steps, seconds, per-split accuracy, config).
        path: its cache folder.
    """

    model: MelCNN
    maqamat: tuple[str, ...]
    accuracy: float
    info: dict
    path: Path

    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch: int = 256) -> np.ndarray:
        """Embeddings ``(N, EMBED_DIM)`` of normalised patches ``(N, 1, H, W)``."""
        self.model.eval()
        return torch.cat([self.model.embed(x[i:i + batch].float())
                          for i in range(0, len(x), batch)]).numpy().astype(np.float64)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch: int = 256) -> np.ndarray:
        """Predicted labels ``(N,)`` of normalised patches ``(N, 1, H, W)``."""
        self.model.eval()
        return torch.cat([self.model(x[i:i + batch].float()).argmax(-1)
                          for i in range(0, len(x), batch)]).numpy()


def accuracy(clf: Classifier, x: torch.Tensor, labels) -> float:
    """Share of patches whose predicted maqam equals ``labels``."""
    return float(np.mean(clf.predict(x) == np.asarray(labels)))


def _digest(train_set, steps: int, seed: int) -> str:
    blob = json.dumps({"v": CLASSIFIER_VERSION, "n": len(train_set), "steps": steps, "seed": seed,
                       "cfg": dataclasses.asdict(train_set.config),
                       "norm": train_set.normalizer.to_dict(), "maqamat": list(train_set.maqamat),
                       "ids": sorted(set(train_set.clip_ids)),
                       "sum": round(float(train_set.x.double().sum()), 3)}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def get_classifier(train_set, heldout_set, steps: int = 400, seed: int = 0, batch_size: int = 32,
                   lr: float = 2e-3, force: bool = False, progress: bool = False) -> Classifier:
    """The classifier of a training patch set, trained (and cached) if missing.

    Args:
        train_set: :class:`maqamgen.features.PatchSet` of the ``train`` split.
        heldout_set: patches of a held-out split; its accuracy is recorded.
        steps: optimizer steps (AdamW, cosine schedule, EMA).
        seed: training seed.
        batch_size: batch size (lowered to the set size for tiny sets).
        lr: peak learning rate.
        force: retrain even if cached.
        progress: show a progress bar.

    Returns:
        The :class:`Classifier`.

    The cache entry is built under :func:`maqamgen.runtime.locked`; its ``info.json`` is written
    (atomically) after the final checkpoint, and a record or checkpoint that does not load, or
    does not hold the finished run, is retrained rather than trusted.

    Used in: lib/maqamgen/evaluation.py (the evaluator of Chapters 4 and 5)
    """
    out = cache_dir("classifier", _digest(train_set, steps, seed))
    with runtime.locked(out):  # two processes asking for it at once train it once
        return _get_classifier(out, train_set, heldout_set, steps, seed, batch_size, lr, force, progress)


def _cached(out: Path, model: MelCNN, steps: int) -> dict | None:
    """The cached record with the weights loaded into ``model``, or None when the entry is missing,
    unfinished or corrupt (then it is retrained, never trusted)."""
    from maqamgen.errors import ConfigError

    info_path = out / "info.json"
    if not info_path.exists() or not (out / trainer.CHECKPOINT).exists():
        return None
    try:
        info = json.loads(info_path.read_text())
        if not isinstance(info, dict) or info.get("steps") != steps:
            return None
        float(info["heldout_accuracy"])
        ckpt = trainer.load_checkpoint(out, model)
        return info if ckpt.get("step") == steps else None
    except (OSError, ValueError, KeyError, TypeError, ConfigError):
        return None


def _get_classifier(out, train_set, heldout_set, steps, seed, batch_size, lr, force, progress) -> Classifier:
    model = MelCNN(len(train_set.maqamat))
    info_path = out / "info.json"
    info = None if force else _cached(out, model, steps)
    if info is None:
        info_path.unlink(missing_ok=True)  # the record comes back only with a finished checkpoint
        torch.manual_seed(seed)  # initial weights from the seed, not from the caller's RNG state
        model = MelCNN(len(train_set.maqamat))
        cfg = TrainConfig(steps=steps, batch_size=min(batch_size, len(train_set)), lr=lr,
                          optimizer="adamw", weight_decay=1e-4, warmup_steps=min(50, steps // 10),
                          ema_decay=0.99, ckpt_every=steps, log_every=10, seed=seed,
                          progress=progress, device="cpu")
        res = trainer.train(model, train_set.dataset(), _loss, cfg, out)
        model = res.ema_model().cpu()
        clf = Classifier(model.eval(), train_set.maqamat, 0.0, {}, out)
        info = {"steps": steps, "seconds": res.seconds, "n_train": len(train_set),
                "train_accuracy": accuracy(clf, train_set.x, train_set.labels),
                "heldout_split": heldout_set.split, "n_heldout": len(heldout_set),
                "heldout_accuracy": accuracy(clf, heldout_set.x, heldout_set.labels),
                "final_loss": float(np.mean([l for _, l in res.losses[-10:]]))}
        runtime.atomic_write(info_path, json.dumps(info, indent=1))
    return Classifier(model.eval(), train_set.maqamat, float(info["heldout_accuracy"]), info, out)
