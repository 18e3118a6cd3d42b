"""Windowed datasets: continuity inside a piece, no window across pieces, padding masks."""

import numpy as np
import pytest
import torch

from maqamgen.errors import ConfigError
from maqamgen.sequences import WindowDataset, collate, take_window, window_loader, window_starts
from maqamgen.tokens import PAD


def disjoint_pieces(lengths=(1000, 130, 64, 65, 7, 1)):
    """Piece i holds the tokens 10000 * (i + 1) + 0, 1, 2, ...: a token names its piece and position."""
    return [10000 * (i + 1) + np.arange(n) for i, n in enumerate(lengths)]


@pytest.mark.parametrize("window,stride", [(64, 64), (64, 1), (64, 16), (16, 40)])
def test_targets_are_inputs_shifted_by_one_and_no_window_crosses_pieces(window, stride):
    ds = WindowDataset(disjoint_pieces(), window, stride)
    for i in range(len(ds)):
        x, y = ds[i]
        assert 1 <= len(x) == len(y) <= window
        assert len(set((x // 10000).tolist()) | set((y // 10000).tolist())) == 1  # one piece
        assert torch.equal(y, x + 1)  # continuous: target j is the token after input j
        assert torch.equal(y[:-1], x[1:])


def test_packed_windows_predict_every_token_once():
    pieces = disjoint_pieces((16_384, 100, 2))
    ds = WindowDataset(pieces, 64)
    targets = torch.cat([ds[i][1] for i in range(len(ds))]).numpy()
    expected = np.concatenate([p[1:] for p in pieces])
    assert np.array_equal(np.sort(targets), np.sort(expected)) and len(targets) == len(expected)
    assert ds.n_targets == len(expected) == 16_383 + 99 + 1
    assert len(ds) == 256 + 2 + 1  # 16,383 targets in 64-token windows: 255 full + 1 short


def test_overlapping_windows_are_full_and_reach_the_end():
    assert window_starts(10, 4, 1).tolist() == [0, 1, 2, 3, 4, 5]
    assert window_starts(10, 4, 4).tolist() == [0, 4, 8]
    assert window_starts(10, 4, 3).tolist() == [0, 3, 5]
    assert window_starts(1, 4, 1).tolist() == []
    with pytest.raises(ConfigError):
        WindowDataset([np.arange(5)], 0)


def test_collate_pads_and_masks_short_windows():
    ds = WindowDataset([np.arange(5, 15), np.arange(100, 103)], 4)  # lengths 4, 4, 1 and 2
    b = collate([ds[i] for i in range(len(ds))])
    assert b["input"].shape == b["target"].shape == b["mask"].shape == (4, 4)
    assert b["mask"].sum(1).tolist() == [4, 4, 1, 2]
    assert (b["target"][~b["mask"]] == PAD).all() and (b["input"][~b["mask"]] == PAD).all()
    assert (b["target"][b["mask"]] != PAD).all()


def test_two_stream_pieces_keep_their_trailing_axis():
    piece = np.stack([np.arange(1, 21), np.arange(101, 121)], axis=1)  # (20, 2)
    ds = WindowDataset([piece], 8)
    b = collate([ds[i] for i in range(len(ds))])
    assert b["input"].shape == (3, 8, 2) and b["mask"].shape == (3, 8)
    assert torch.equal(b["target"][0], b["input"][0] + 1)
    assert (b["target"][2, 3:] == PAD).all() and b["mask"][2].sum() == 3


def test_loader_shuffles_deterministically_by_seed():
    ds = WindowDataset(disjoint_pieces(), 16)

    def order(seed):
        return torch.cat([b["input"][:, 0] for b in window_loader(ds, 8, seed=seed)]).tolist()

    assert order(0) == order(0) and order(0) != order(1)
    assert sorted(order(0)) == sorted(ds[i][0][0].item() for i in range(len(ds)))


def test_take_window_is_the_sliding_context():
    seq = np.arange(10)
    assert take_window(seq, 7 - 4, 4).tolist() == [3, 4, 5, 6]
    assert take_window(seq, -2, 4).tolist() == [0, 1, 2, 3]
