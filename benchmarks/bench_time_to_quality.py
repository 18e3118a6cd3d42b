"""Time to quality: the report's U-Net as its code has it against the book's reference recipe
(issue 11 item 6), trained side by side in one run on the same Chapter 4 patches.

* **report**: :class:`maqamgen.nets.report_unet.ReportUNet` (Conv-BatchNorm-ReLU blocks,
  widths 32 to 512, no attention), Adam at 1e-4 without warm-up, decay or EMA, the linear
  schedule with T = 500, the network predicting x0 under an MSE loss.
* **book**: Chapter 4's reference (:func:`maqamgen.recipes.ch04_unet_ddpm.base_spec` of the
  profile): the ``tiny`` U-Net (GroupNorm, SiLU, residual blocks), AdamW with warm-up and cosine
  decay, EMA of the weights, the cosine schedule with T = 1000, eps-prediction.

Each trains for the same wall-clock budget (``--seconds``), one thread (the book's recipe stops
earlier if it finishes its own steps, warm-up and decay first). At a dozen points of its
budget the benchmark measures a quality both objectives share: the **held-out x0 error**, the
MSE between the clean validation patches and each model's estimate of them from the same noisy
inputs, at fixed noise levels ``alpha_bar`` in :data:`LEVELS` (mapped to the timestep of each
model's own schedule with the nearest ``alpha_bar``; each output converted to x0 by
:func:`maqamgen.diffusion.x0_eps_from_output`), the weights sampled from (EMA for the book's).
Evaluation time is not counted in the training clock. Printed: the error against wall time for
both, the report model's best error, and the ratio of the wall time the book's recipe needs to
reach it to the time the report model needed (target: at most 0.5). FD of samples is left out:
at a few minutes of CPU the report model makes no samples worth judging.

    .venv/bin/python benchmarks/bench_time_to_quality.py [--profile book] [--seconds 240]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "data" / "cache" / "numba"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from maqamgen import config, corpus, diffusion, features, runtime  # noqa: E402
from maqamgen import train as trainer  # noqa: E402
from maqamgen.diffusion import run  # noqa: E402
from maqamgen.recipes import ch04_unet_ddpm as ch04  # noqa: E402

LEVELS = (0.9, 0.5, 0.1)
"""Noise levels of the shared quality measure, as ``alpha_bar`` (signal kept)."""

POINTS = 12
"""Evaluations over each model's budget."""


class Budget(Exception):
    """Raised by the clock callback when a model's training budget is spent."""


def report_spec(dcfg, steps: int, seed: int = 0) -> run.DenoiserSpec:
    """The report's U-Net and training as a spec of the one runner."""
    tr = config.TrainConfig(steps=steps, batch_size=dcfg.train.batch_size, lr=1e-4, optimizer="adam",
                            weight_decay=0.0, warmup_steps=0, lr_schedule="constant", grad_clip=None,
                            ema_decay=None, ckpt_every=steps, log_every=10, device="cpu", progress=False,
                            seed=seed)
    return run.DenoiserSpec(net="report_unet", preset="report", schedule="linear", T=500, target="x0",
                            loss="mse", p_uncond=dcfg.p_uncond, train=tr)


@torch.no_grad()
def heldout_x0_error(model, spec, x0, labels, seed: int = 0) -> float:
    """Mean over :data:`LEVELS` of the MSE of the model's x0 estimate on held-out patches."""
    sched = spec.make_schedule()
    g = torch.Generator().manual_seed(seed)
    model.eval()
    errs = []
    for ab in LEVELS:
        t = int(torch.argmin((sched.alpha_bar - ab).abs()))
        eps = torch.randn(x0.shape, generator=g)
        tt = torch.full((len(x0),), t, dtype=torch.long)
        x_t = diffusion.q_sample(x0, tt, eps, sched)
        out = model(x_t, tt, labels)
        x0_hat, _ = diffusion.x0_eps_from_output(out, x_t, tt, sched, spec.target)
        errs.append(float(((x0_hat - x0) ** 2).mean()))
    model.train()
    return float(np.mean(errs))


def run_one(name: str, spec: run.DenoiserSpec, train_set, x0, labels, seconds: float) -> list[tuple]:
    """Train ``spec`` for ``seconds`` of wall time; ``[(train_s, step, x0_error), ...]``."""
    torch.manual_seed(spec.train.seed)
    model = spec.build(len(train_set.maqamat), int(train_set.x.shape[1]))
    curve, state = [], {"train_s": 0.0, "last": time.perf_counter(), "next": seconds / POINTS}

    def clock(st):
        now = time.perf_counter()
        state["train_s"] += now - state["last"]
        if state["train_s"] >= state["next"] or state["train_s"] >= seconds:
            m = model
            if st.ema is not None:
                import copy

                m = copy.deepcopy(st.model)
                st.ema.copy_to(m)
            curve.append((state["train_s"], st.step, heldout_x0_error(m, spec, x0, labels)))
            print(f"  {name:7s} {state['train_s']:7.1f} s  step {st.step:6d}  held-out x0 MSE {curve[-1][2]:.4f}",
                  flush=True)
            state["next"] += seconds / POINTS
        if state["train_s"] >= seconds:
            raise Budget
        state["last"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        try:
            res = trainer.train(model, train_set.dataset(), spec.objective(), spec.train_config(progress=False),
                                Path(tmp), callbacks=[clock])
        except Budget:
            res = None
    if res is not None and (not curve or curve[-1][1] != res.step):  # it finished its own steps first
        curve.append((state["train_s"], res.step, heldout_x0_error(res.ema_model().cpu(), spec, x0, labels)))
        print(f"  {name:7s} {state['train_s']:7.1f} s  step {res.step:6d}  held-out x0 MSE {curve[-1][2]:.4f}"
              " (its own steps done)", flush=True)
    return curve


def time_to(curve, target: float) -> float:
    """First wall time at which ``curve`` reaches ``target`` or below (inf: never)."""
    for t, _, e in curve:
        if e <= target:
            return t
    return float("inf")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="book")
    ap.add_argument("--seconds", type=float, default=240.0, help="training wall time per model")
    ap.add_argument("--n-val", type=int, default=64, help="held-out patches of the quality measure")
    args = ap.parse_args()
    runtime.set_threads(1)
    cfg = config.profile(args.profile)
    dcfg = cfg.ddpm
    corp = corpus.load(cfg, progress=False)
    tr = features.load_patches(corp, "train", dcfg.features)
    va = features.load_patches(corp, "validation", dcfg.features, tr.normalizer).balanced(args.n_val, seed=0)
    x0, labels = va.x, va.labels
    steps = 10 ** 7  # the report's constant learning rate: the clock ends its training
    book = ch04.base_spec(dcfg, seed=0)  # its own steps, warm-up and decay: it may end before the clock
    book = dataclasses.replace(book, train=book.train.replace(ckpt_every=book.train.steps))
    specs = {"report": report_spec(dcfg, steps), "book": book}
    for name, sp in specs.items():
        n = sum(p.numel() for p in sp.build(len(tr.maqamat), 1).parameters())
        print(f"{name}: {sp.net}/{sp.preset}, {n:,} parameters, {sp.schedule} T={sp.T}, target {sp.target}, "
              f"{sp.train.optimizer} lr {sp.train.lr:g}, EMA {sp.train.ema_decay}")
    print(f"profile {args.profile}: {len(tr)} training patches {tuple(tr.x.shape[1:])}, {len(x0)} held-out; "
          f"{args.seconds:g} s of training each; x0 error at alpha_bar in {LEVELS}")
    curves = {name: run_one(name, sp, tr, x0, labels, args.seconds) for name, sp in specs.items()}
    best_report = min(e for _, _, e in curves["report"])
    t_report = time_to(curves["report"], best_report)
    t_book = time_to(curves["book"], best_report)
    print(f"\nreport model: best held-out x0 MSE {best_report:.4f}, reached at {t_report:.1f} s "
          f"(step {next(s for t, s, e in curves['report'] if e == best_report)})")
    if np.isfinite(t_book):
        ratio = t_book / t_report
        print(f"book recipe reaches it at {t_book:.1f} s: time ratio book / report = {ratio:.3f} "
              f"(target <= 0.5: {'met' if ratio <= 0.5 else 'missed'})")
    else:
        print("book recipe does not reach it within its budget: ratio not reached (target <= 0.5: missed)")
    print(f"book recipe's best: {min(e for _, _, e in curves['book']):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
