"""Benchmark: LSTM training the report's way vs ours, same model size, same corpus.

(a) The report's code (CHCICH/Music_diffusion, ``LSTM.py`` / ``helper_LSTM.py``): windows of 64
    tokens built with nested Python loops at stride 1, ONE prediction per window (the token
    after it, from the last LSTM output), ``DataLoader(batch_size=3)``, Adam 1e-3.
(b) Ours (:mod:`maqamgen.sequences`, :func:`maqamgen.nets.lstm.lstm_loss`): packed 64-token
    windows, EVERY position predicts its next token, batches of 64, no per-token Python loop.

Both train the ``full`` preset of :data:`maqamgen.nets.lstm.LSTM_PRESETS` (the full profile's
LSTM; ``--preset book`` for the book profile's) on the same ~16k-token 1D sequence (a synthetic
oud performance at 8 frames/s), each for a fixed wall time. Printed:
predicted tokens per second of each and their ratio (target >= 50x), then generation tokens/s
(streaming with the carried state, and the report's 64-token sliding window).

Run: ``python benchmarks/bench_lstm.py [--seconds 20] [--threads 1] [--target 50]``; under
two minutes. Exit status 0 when the ratio reaches the target. One intra-op thread by default:
on a shared 2-core CPU, small LSTMs run several times slower with two threads.

Used in: book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from maqamgen import synth
from maqamgen.nets.lstm import LSTMLM, generate, lstm_config, lstm_loss
from maqamgen.sequences import WindowDataset, window_loader
from maqamgen.tokens import BOS, PitchVocab, notes_to_tokens_1d

WINDOW = 64


def corpus_tokens(n_tokens: int = 16_384, rate_hz: float = 8.0) -> np.ndarray:
    """A ~``n_tokens``-token 1D sequence of a synthetic oud performance."""
    seconds = n_tokens / rate_hz
    notes, _ = synth.performance(seconds=seconds, n_notes=int(seconds * 5.2), seed=0)
    return notes_to_tokens_1d(notes, rate_hz, PitchVocab(), n_frames=n_tokens)


def report_windows(tokens: list[int], size: int) -> tuple[list[list[int]], list[int]]:
    """The report's data preparation: every stride-1 window and the token after it, in Python loops."""
    data, target = [], []
    for i in range(len(tokens) - size):
        window = []
        for j in range(size):
            window.append(tokens[i + j])
        data.append(window)
        target.append(tokens[i + size])
    return data, target


def timed_steps(step, seconds: float, warmup: int = 2) -> tuple[int, float]:
    """Run ``step() -> n_predicted`` until ``seconds`` have passed; returns (predicted, elapsed)."""
    for _ in range(warmup):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += step()
    return n, time.perf_counter() - t0


def train_report_way(model: LSTMLM, tokens: np.ndarray, seconds: float) -> tuple[float, float, int]:
    """(a): predicted tokens/s, window-building seconds, windows per epoch."""
    t0 = time.perf_counter()
    data, target = report_windows(tokens.tolist(), WINDOW)
    x = torch.tensor(np.vstack(data), dtype=torch.long)
    y = torch.tensor(target, dtype=torch.long)
    build_s = time.perf_counter() - t0
    loader = DataLoader(list(zip(x, y)), batch_size=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = iter(loader)

    def step() -> int:
        nonlocal batches
        try:
            inputs, tgt = next(batches)
        except StopIteration:
            batches = iter(loader)
            inputs, tgt = next(batches)
        opt.zero_grad()
        logits, _ = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits[:, -1], tgt)  # the last output only
        loss.backward()
        opt.step()
        return len(tgt)

    n, dt = timed_steps(step, seconds)
    return n / dt, build_s, len(data)


def train_our_way(model: LSTMLM, tokens: np.ndarray, seconds: float, batch_size: int) -> tuple[float, int]:
    """(b): predicted tokens/s and windows per epoch."""
    ds = WindowDataset([tokens], WINDOW)
    loader = window_loader(ds, batch_size, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = iter(loader)

    def step() -> int:
        nonlocal batches
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        opt.zero_grad()
        loss = lstm_loss(model, batch)
        loss.backward()
        opt.step()
        return int(batch["mask"].sum())

    n, dt = timed_steps(step, seconds)
    return n / dt, len(ds)


def generation_rate(model: LSTMLM, n: int, window: int | None) -> float:
    """Generated tokens per second."""
    generate(model, [BOS], 5, window=window)
    t0 = time.perf_counter()
    generate(model, [BOS] * WINDOW, n, window=window, seed=0)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="training wall time of each way")
    p.add_argument("--batch", type=int, default=64, help="our batch size")
    p.add_argument("--preset", default="full", help="a key of LSTM_PRESETS")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--target", type=float, default=50.0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    tokens = corpus_tokens()
    vocab = PitchVocab()
    cfg = lstm_config(args.preset, vocab.size)
    n_params = sum(p.numel() for p in LSTMLM(cfg).parameters())
    print(f"corpus: {len(tokens)} 1D tokens (8 frames/s), vocabulary {vocab.size}; model '{args.preset}': "
          f"{cfg.num_layers} x LSTM({cfg.hidden_size}), embed {cfg.embed_dim}, {n_params:,} parameters; "
          f"{args.threads} thread(s)")

    torch.manual_seed(0)
    rate_a, build_s, n_win_a = train_report_way(LSTMLM(cfg), tokens, args.seconds)
    print(f"(a) report's way: {n_win_a} stride-1 windows built by Python loops in {build_s:.2f} s; "
          f"batch 3, 1 prediction/window: {rate_a:,.0f} predicted tokens/s "
          f"(one epoch = {n_win_a / rate_a / 60:.1f} min)")
    torch.manual_seed(0)
    rate_b, n_win_b = train_our_way(LSTMLM(cfg), tokens, args.seconds, args.batch)
    print(f"(b) ours: {n_win_b} packed windows, batch {args.batch}, every position predicts: "
          f"{rate_b:,.0f} predicted tokens/s (one epoch = {len(tokens) / rate_b:.1f} s)")
    ratio = rate_b / rate_a
    print(f"ratio (b)/(a): {ratio:.0f}x  (target >= {args.target:.0f}x)")

    torch.manual_seed(0)
    model = LSTMLM(cfg)
    stream = generation_rate(model, 2000, None)
    sliding = generation_rate(model, 200, WINDOW)
    print(f"generation ('{args.preset}'): streaming with carried state {stream:,.0f} tokens/s; "
          f"report-style 64-token sliding window {sliding:,.0f} tokens/s ({stream / sliding:.0f}x)")
    ok = ratio >= args.target
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
