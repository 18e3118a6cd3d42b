"""Log-mel patches of the corpus for the generative models: cutting, normalising, caching, inverting.

A clip's log-mel spectrogram (:func:`maqamgen.audio.mel_spectrogram_db`, dB re power 1, so the
level is absolute) is cut into patches of ``n_mels x frames`` every ``patch_stride`` frames; a
patch ``M`` in dB is mapped to ``x`` in [-1, 1] by

    x = 2 (clip(M, top - R, top) - (top - R)) / R - 1,

with ``R = dynamic_range_db`` and ``top`` the 99.9th percentile of the training patches
(:class:`Normalizer`, fitted on the training split only and reused for every other split and
for the generated patches). :func:`to_audio` inverts a patch: back to dB, to a linear mel power,
least-squares to a linear spectrogram and Griffin-Lim for the phase (:func:`maqamgen.audio.mel_to_audio`).

Patch sets are cached under ``data/cache/features/<hash>.npz`` keyed by the corpus hash, the
split, the :class:`~maqamgen.config.FeatureConfig` and :data:`FEATURES_VERSION`.

Chapter 3 cuts its own (un-normalised, flattened) patches with the same :func:`cut_patches` and
:func:`clip_mel_db`, and judges its audio on this grid with :func:`audio_patches`; Chapter 5
moves patches of other sizes onto it with :func:`resample_mels` and :func:`cut_windows`.

Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
book/part1/05_scaling_hallucination.md
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

from maqamgen import audio
from maqamgen.config import FeatureConfig
from maqamgen.runtime import cache_dir
from maqamgen import runtime
from maqamgen.errors import ConfigError

FEATURES_VERSION = 1
"""Part of the cache key; bumped whenever the patches change."""

TOP_PERCENTILE = 99.9
"""Percentile of the training patches' dB values that maps to +1."""


@dataclass(frozen=True)
class Normalizer:
    """Maps log-mel dB to [-1, 1] and back: ``[top_db - range_db, top_db]`` -> ``[-1, 1]``.

    Attributes:
        top_db: the level mapped to +1, dB.
        range_db: the dynamic range kept, dB (lower levels map to -1).
    """

    top_db: float
    range_db: float

    @property
    def floor_db(self) -> float:
        """The level mapped to -1, dB."""
        return self.top_db - self.range_db

    def forward(self, mel_db):
        """dB -> [-1, 1] (clipped). Works on numpy arrays and tensors of any shape."""
        if isinstance(mel_db, torch.Tensor):
            return (2.0 * (mel_db.clamp(self.floor_db, self.top_db) - self.floor_db) / self.range_db - 1.0)
        m = np.clip(np.asarray(mel_db, dtype=np.float32), self.floor_db, self.top_db)
        return (2.0 * (m - self.floor_db) / self.range_db - 1.0).astype(np.float32)

    def inverse(self, x):
        """[-1, 1] -> dB (values outside [-1, 1] are clipped first)."""
        if isinstance(x, torch.Tensor):
            return (x.clamp(-1, 1) + 1.0) / 2.0 * self.range_db + self.floor_db
        x = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
        return ((x + 1.0) / 2.0 * self.range_db + self.floor_db).astype(np.float32)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class PatchSet:
    """Normalised log-mel patches with their labels.

    Attributes:
        x: ``(N, 1, n_mels, frames)`` float32 tensor in [-1, 1].
        labels: ``(N,)`` int64 maqam indices into ``maqamat``.
        clip_ids: the clip each patch comes from, length N.
        starts: first frame of each patch within its clip, ``(N,)``.
        maqamat: the class names.
        normalizer: the dB <-> [-1, 1] map.
        config: the feature settings.
        split: corpus split name.
        sr: sample rate of the audio, Hz.
    """

    x: torch.Tensor
    labels: torch.Tensor
    clip_ids: list[str]
    starts: np.ndarray
    maqamat: tuple[str, ...]
    normalizer: Normalizer
    config: FeatureConfig
    split: str
    sr: int

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def dataset(self) -> torch.utils.data.TensorDataset:
        """``(x, label)`` pairs for :func:`maqamgen.train.train`."""
        return torch.utils.data.TensorDataset(self.x, self.labels)

    def subset(self, index) -> "PatchSet":
        """The patches at ``index`` (int array or slice)."""
        idx = np.arange(len(self))[index]
        t = torch.as_tensor(idx, dtype=torch.long)
        return dataclasses.replace(self, x=self.x[t], labels=self.labels[t],
                                   clip_ids=[self.clip_ids[i] for i in idx], starts=self.starts[idx])

    def balanced(self, n: int, seed: int = 0) -> "PatchSet":
        """``n`` patches, as evenly spread over the classes as possible, drawn with ``seed``."""
        rng = np.random.default_rng(seed)
        labels = self.labels.numpy()
        pools = [rng.permutation(np.flatnonzero(labels == k)).tolist() for k in range(len(self.maqamat))]
        pick: list[int] = []
        while len(pick) < min(n, len(self)):
            for p in pools:
                if p and len(pick) < n:
                    pick.append(p.pop())
        return self.subset(np.array(sorted(pick), dtype=int))

    @property
    def seconds(self) -> float:
        """Length of one patch, s."""
        return self.config.frames * self.config.hop_length / self.sr

    def frames_bank(self, max_frames: int | None = 4000, seed: int = 0) -> np.ndarray:
        """Every frame (column) of every patch, ``(n_mels, N * frames)``, subsampled to ``max_frames``."""
        return subsample_frames(self.x[:, 0].permute(1, 0, 2).reshape(self.config.n_mels, -1).numpy(),
                                max_frames, seed)


def subsample_frames(frames: np.ndarray, max_frames: int | None, seed: int = 0) -> np.ndarray:
    """A bank of real frames: ``frames`` ``(n_mels, N)``, or ``max_frames`` of its columns drawn
    without replacement with ``seed`` when ``N`` is larger (None: all).

    Used in: book/part1/03_pca_gaussian.md (through maqamgen.recipes.ch03_pca_gaussian)
    """
    if max_frames is not None and frames.shape[1] > max_frames:
        frames = frames[:, np.random.default_rng(seed).choice(frames.shape[1], max_frames, replace=False)]
    return frames


def clip_mel_db(y: np.ndarray, sr: int, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram of one clip in dB re power 1 (:func:`maqamgen.audio.mel_spectrogram_db`
    with ``cfg``'s FFT, hop, bands and band edges), ``(n_mels, n_frames)``: the one mel of a clip.

    Used in: book/part1/03_pca_gaussian.md, book/part1/05_scaling_hallucination.md
    """
    return audio.mel_spectrogram_db(y, sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                    n_mels=cfg.n_mels, f_min=cfg.f_min, f_max=cfg.f_max)


def cut_patches(mel_db: np.ndarray, frames: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Patches of ``frames`` columns every ``stride`` columns along the time (last) axis: the one patch cutter.

    Args:
        mel_db: ``(..., n_mels, T)`` spectrogram(s).
        frames: frames per patch (>= 1).
        stride: frames between patch starts (>= 1).

    Returns:
        ``(P, starts)``: float32 patches ``(..., n, n_mels, frames)`` (``n = 0`` when
        ``T < frames``) and their first frames ``(n,)``.

    Used in: book/part1/03_pca_gaussian.md (through maqamgen.recipes.ch03_pca_gaussian)
    """
    mel_db = np.asarray(mel_db)
    if frames < 1 or stride < 1:
        raise ConfigError(f"frames={frames} and stride={stride} must be >= 1")
    starts = np.arange(0, mel_db.shape[-1] - frames + 1, stride, dtype=int)
    if starts.size == 0:
        return np.zeros((*mel_db.shape[:-2], 0, mel_db.shape[-2], frames), np.float32), starts
    P = np.stack([mel_db[..., s:s + frames] for s in starts], axis=-3)
    return P.astype(np.float32), starts


def audio_patches(y: np.ndarray, sr: int, cfg: FeatureConfig, normalizer: "Normalizer",
                  stride: int | None = None) -> torch.Tensor:
    """Audio -> normalised patches on the ``cfg`` grid, as the judge of Chapters 4-6 sees patches.

    :func:`clip_mel_db`, then :meth:`Normalizer.forward`, then :func:`cut_patches`.

    Args:
        y: mono audio at ``sr``.
        sr: sample rate, Hz.
        cfg: the patch settings (e.g. Chapter 4's ``cfg.ddpm.features``).
        normalizer: the training patches' dB -> [-1, 1] map.
        stride: frames between patches (default ``cfg.frames``: side by side, no overlap).

    Returns:
        ``(P, 1, n_mels, frames)`` float32 tensor (``P = 0`` for audio shorter than a patch).

    Used in: book/part1/03_pca_gaussian.md
    """
    P, _ = cut_patches(normalizer.forward(clip_mel_db(y, sr, cfg)), cfg.frames, stride or cfg.frames)
    return torch.from_numpy(P)[:, None]


def cut_windows(x, width: int) -> torch.Tensor:
    """Patches ``(N, 1, H, W)`` cut into side-by-side ``width``-frame windows ``(N * (W // width), 1, H, width)``.

    :func:`cut_patches` with ``stride = width`` on every patch, windows of patch 0 first. Patches
    narrower than ``width`` are returned unchanged (a classifier of ``width``-frame patches
    then judges them as they are).

    Used in: book/part1/05_scaling_hallucination.md (through maqamgen.recipes.ch05_scaling)
    """
    x = torch.as_tensor(x)
    N, C, H, W = x.shape
    if W < width:
        return x
    P, _ = cut_patches(x.detach().cpu().numpy(), width, width)  # (N, C, k, H, width)
    return torch.from_numpy(P).transpose(1, 2).reshape(-1, C, H, width).to(x.dtype)


def resample_mels(x, n_mels: int) -> torch.Tensor:
    """Patches ``(..., H, W)`` on ``H`` mel bands -> ``n_mels`` bands over the same band edges.

    Mel bands are evenly spaced in mel, band ``k`` of ``H`` centred at ``(k + 1) / (H + 1)`` of
    the range, so linear interpolation at those positions moves a patch to another band count
    (values outside the outer centres are held).

    Used in: book/part1/05_scaling_hallucination.md
    """
    x = torch.as_tensor(x)
    H = x.shape[-2]
    if H == n_mels:
        return x
    src = (np.arange(H) + 1) / (H + 1)
    dst = (np.arange(n_mels) + 1) / (n_mels + 1)
    i = np.clip(np.searchsorted(src, dst) - 1, 0, H - 2)
    w = np.clip((dst - src[i]) / (src[i + 1] - src[i]), 0.0, 1.0)
    lo, hi = x[..., torch.as_tensor(i), :], x[..., torch.as_tensor(i + 1), :]
    wt = torch.as_tensor(w, dtype=x.dtype)[:, None]
    return lo * (1 - wt) + hi * wt


def _key(corpus_hash: str, split: str, cfg: FeatureConfig) -> str:
    blob = json.dumps({"corpus": corpus_hash, "split": split, "cfg": dataclasses.asdict(cfg),
                       "v": FEATURES_VERSION}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _mel_patches(corp, split: str, cfg: FeatureConfig) -> dict:
    """dB patches of a split, cached: ``{"db", "labels", "clip_ids", "starts"}``."""
    path = cache_dir("features") / f"{_key(corp.hash, split, cfg)}.npz"
    cached = _read_patches(path, cfg)
    if cached is not None:
        return cached
    with runtime.locked(path):  # two processes asking at once compute it once
        cached = _read_patches(path, cfg)  # another one may have written it while we waited
        if cached is not None:
            return cached
        runtime.remove_stale_temps(path)
        return _compute_patches(corp, split, cfg, path)


def _read_patches(path, cfg: FeatureConfig) -> dict | None:
    """The cached patches, or None when missing or not a complete, consistent cache file (a
    truncated or foreign file is recomputed, never trusted)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {"db": z["db"], "labels": z["labels"], "clip_ids": [str(c) for c in z["clip_ids"]],
                   "starts": z["starts"]}
    except Exception:  # noqa: BLE001 - zip, npy header, pickle refusal, missing key: all "corrupt"
        return None
    n = len(out["db"])
    if (out["db"].ndim < 3 or out["db"].shape[-2:] != (cfg.n_mels, cfg.frames)
            or len(out["labels"]) != n or len(out["clip_ids"]) != n or len(out["starts"]) != n):
        return None
    return out


def _compute_patches(corp, split: str, cfg: FeatureConfig, path) -> dict:
    maqamat = tuple(corp.config["maqamat"])
    dbs, labels, ids, starts = [], [], [], []
    for clip in corp.split(split):
        y, sr = corp.audio(clip)
        P, st = cut_patches(clip_mel_db(y, sr, cfg), cfg.frames, cfg.patch_stride)
        dbs.append(P)
        labels += [maqamat.index(clip.maqam)] * len(P)
        ids += [clip.id] * len(P)
        starts.append(st)
    out = {"db": np.concatenate(dbs) if dbs else np.zeros((0, cfg.n_mels, cfg.frames), np.float32),
           "labels": np.array(labels, dtype=np.int64), "clip_ids": ids,
           "starts": np.concatenate(starts) if starts else np.zeros(0, int)}
    with runtime.atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, db=out["db"], labels=out["labels"], clip_ids=np.array(ids, dtype=str),
                 starts=out["starts"])
    return out


def fit_normalizer(mel_db: np.ndarray, range_db: float) -> Normalizer:
    """The :class:`Normalizer` whose +1 is the :data:`TOP_PERCENTILE` of ``mel_db``."""
    return Normalizer(top_db=float(np.percentile(mel_db, TOP_PERCENTILE)), range_db=float(range_db))


def load_patches(corp, split: str, cfg: FeatureConfig, normalizer: Normalizer | None = None) -> PatchSet:
    """The normalised patches of one split of a corpus (:func:`maqamgen.corpus.load`).

    Args:
        corp: a :class:`maqamgen.corpus.Corpus`.
        split: ``train``, ``validation`` or ``test``.
        cfg: patch settings.
        normalizer: the map to [-1, 1]; None fits it on this split's patches (do that on
            ``train`` only and pass the result to the other splits).

    Raises:
        ConfigError: the split yields no patch (clips shorter than one patch).

    Used in: book/part1/03_pca_gaussian.md, book/part1/04_unet_ddpm.md,
    book/part1/05_scaling_hallucination.md
    """
    d = _mel_patches(corp, split, cfg)
    if len(d["db"]) == 0:
        raise ConfigError(f"split {split!r} of corpus {corp.hash} gives no {cfg.frames}-frame patch "
                          f"({cfg.frames * cfg.hop_length / corp.config['sr']:.2f} s)")
    norm = normalizer or fit_normalizer(d["db"], cfg.dynamic_range_db)
    x = torch.from_numpy(norm.forward(d["db"]))[:, None]
    return PatchSet(x=x, labels=torch.from_numpy(d["labels"]), clip_ids=d["clip_ids"],
                    starts=d["starts"], maqamat=tuple(corp.config["maqamat"]), normalizer=norm,
                    config=cfg, split=split, sr=int(corp.config["sr"]))


def to_db(x, normalizer: Normalizer) -> np.ndarray:
    """Normalised patch(es) -> dB: ``(..., n_mels, frames)`` (a channel axis of 1 is dropped)."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim == 4:
        x = x[:, 0]
    return normalizer.inverse(x)


def to_audio(x, normalizer: Normalizer, cfg: FeatureConfig, sr: int, n_iter: int = 32,
             seed: int = 0) -> np.ndarray:
    """One normalised patch or a longer normalised mel ``(n_mels, n_frames)`` -> audio.

    Inverse mel (least squares) and Griffin-Lim (:func:`maqamgen.audio.mel_to_audio`); the
    result is peak-normalised to 0.9 (a generated spectrogram's absolute level means little).

    Returns:
        float32 audio, ``((n_frames - 1) * hop_length,)`` samples at ``sr``.

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
    """
    mel_db = to_db(x, normalizer)
    if mel_db.ndim == 3:
        mel_db = mel_db[0]
    y = audio.mel_to_audio(mel_db, sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_iter=n_iter,
                           f_min=cfg.f_min, f_max=cfg.f_max, seed=seed)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return (0.9 * y / peak).astype(np.float32) if peak > 0 else y.astype(np.float32)
