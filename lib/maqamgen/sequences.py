"""Token sequences as training windows: continuous, packed, shuffled, padded, masked.

The report's Phase 6 fixed a pipeline that treated each vector as an independent token;
here every training example is a window cut from ONE continuous piece:

* :class:`WindowDataset` cuts each piece into windows ``input = piece[s : s + W]``,
  ``target = piece[s + 1 : s + W + 1]`` (the next token at every position), with starts
  ``s = 0, stride, 2 * stride, ...``; no window crosses two pieces. With ``stride == W``
  the windows are packed: every token of a piece is predicted exactly once per epoch.
  The last window of a piece (and a piece shorter than ``W + 1``) is shorter than ``W``.
* :func:`collate` stacks windows into a batch, padding short ones with ``PAD`` and
  returning a loss mask (``True`` where the target is real).
* :func:`window_loader` is a ``DataLoader`` shuffling with a seeded ``torch.Generator``.
* :func:`take_window` is the one slicing rule, used both to cut training windows and, in
  :func:`maqamgen.nets.lstm.generate`, to take the sliding context of generation.

A piece is an int array of shape ``(L,)`` (1D tokens) or ``(L, S)`` (``S`` streams, e.g.
2D tokens ``(L, 2)``); windows keep the trailing axis.

Used in: book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from maqamgen.errors import ConfigError
from maqamgen.tokens import PAD


def take_window(seq, start: int, window: int):
    """``seq[start : start + window]`` along the first axis, with ``start`` clipped at 0.

    Args:
        seq: array or tensor of shape ``(L, ...)``.
        start: first index (negative values count as 0).
        window: window length W.

    Returns:
        A view of at most ``window`` items.
    """
    s = max(int(start), 0)
    return seq[s:s + int(window)]


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Start indices of the training windows of one piece of ``length`` tokens.

    Every start leaves at least one target (``start + 1 < length``). With ``stride >= window``
    the starts are ``0, stride, ...`` and the last window may be short; with overlapping
    windows (``stride < window``) every window is full, the last one ending at the piece's
    end, except in a piece shorter than ``window + 1`` (one short window).

    Args:
        length: piece length L.
        window: window length W (>= 1).
        stride: distance between starts (>= 1; ``stride == W`` packs the windows).

    Returns:
        Int64 array of starts, empty when ``length < 2``.
    """
    if length < 2:
        return np.zeros(0, dtype=np.int64)
    n_targets = length - 1
    if stride >= window or n_targets <= window:
        return np.arange(0, n_targets if stride >= window else 1, stride, dtype=np.int64)
    starts = np.arange(0, n_targets - window + 1, stride, dtype=np.int64)
    if starts[-1] + window < n_targets:  # a last full window ending at the piece's end
        starts = np.append(starts, n_targets - window)
    return starts


class WindowDataset(Dataset):
    """(input, target) windows from inside single pieces.

    Args:
        pieces: token sequences, each an int array of shape ``(L,)`` or ``(L, S)``; pieces
            shorter than 2 tokens give no window.
        window: window length W (inputs ``W`` tokens, targets the next ``W``).
        stride: start-to-start distance (default ``window``: packed windows).

    Attributes:
        index: int64 array ``(n_windows, 2)`` of (piece index, start).

    ``ds[i]`` is ``(input, target)``: two int64 tensors of shape ``(w, ...)`` with ``w <= W``,
    ``target[j] == piece[start + j + 1]`` and ``input[j] == piece[start + j]``.

    Used in: book/part2/07_lstm_tokens.md
    """

    def __init__(self, pieces: list[np.ndarray], window: int, stride: int | None = None):
        stride = window if stride is None else stride
        if int(window) < 1 or int(stride) < 1:
            raise ConfigError(f"window ({window}) and stride ({stride}) must be >= 1")
        self.window, self.stride = int(window), int(stride)
        self.pieces = [torch.as_tensor(np.asarray(p, dtype=np.int64)) for p in pieces]
        rows = [np.stack([np.full(len(s), i), s], axis=1)
                for i, p in enumerate(self.pieces) for s in [window_starts(len(p), self.window, self.stride)]]
        self.index = np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 2), np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        piece_i, start = self.index[i]
        p = self.pieces[piece_i]
        target = take_window(p, start + 1, self.window)
        return take_window(p, start, len(target)), target

    @property
    def n_targets(self) -> int:
        """Number of predicted positions over one epoch (each piece's length - 1 when packed)."""
        lengths = np.array([len(p) for p in self.pieces])[self.index[:, 0]] if len(self.index) else np.zeros(0)
        return int(np.minimum(self.window, lengths - 1 - self.index[:, 1]).sum()) if len(lengths) else 0


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]], pad_id: int = PAD) -> dict[str, torch.Tensor]:
    """Stack windows into a batch, right-padding short ones with ``pad_id``.

    Args:
        batch: ``(input, target)`` pairs of shape ``(w_i, ...)``.
        pad_id: padding token (every stream is padded with it; ``PAD`` = ``DUR_PAD`` = 0).

    Returns:
        ``{"input": (B, W, ...), "target": (B, W, ...), "mask": (B, W) bool}`` with
        ``W = max w_i``; ``mask`` is ``True`` at real target positions.

    Used in: book/part2/07_lstm_tokens.md
    """
    lengths = torch.tensor([len(t) for _, t in batch])
    w = int(lengths.max())
    if bool((lengths == w).all()):
        inp = torch.stack([x for x, _ in batch])
        tgt = torch.stack([y for _, y in batch])
    else:
        shape = (len(batch), w, *batch[0][1].shape[1:])
        inp = torch.full(shape, pad_id, dtype=torch.int64)
        tgt = torch.full(shape, pad_id, dtype=torch.int64)
        for b, (x, y) in enumerate(batch):
            inp[b, :len(x)] = x
            tgt[b, :len(y)] = y
    mask = torch.arange(w)[None, :] < lengths[:, None]
    return {"input": inp, "target": tgt, "mask": mask}


def window_loader(dataset: WindowDataset, batch_size: int = 64, shuffle: bool = True, seed: int = 0,
                  drop_last: bool = False) -> DataLoader:
    """A ``DataLoader`` of padded, masked batches, shuffled by a seeded generator.

    Args:
        dataset: the windows.
        batch_size: windows per batch.
        shuffle: reshuffle every epoch (the order depends only on ``seed`` and the epoch).
        seed: seed of the loader's ``torch.Generator``.
        drop_last: drop a last incomplete batch.

    Returns:
        A ``DataLoader`` yielding :func:`collate` dicts.

    Used in: book/part2/07_lstm_tokens.md
    """
    g = torch.Generator().manual_seed(int(seed))
    return DataLoader(dataset, batch_size=int(batch_size), shuffle=shuffle, generator=g,
                      drop_last=drop_last, collate_fn=collate, num_workers=0)
