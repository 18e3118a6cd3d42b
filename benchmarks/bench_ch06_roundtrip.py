"""Chapter 6 round trip at a small scale of the book profile: what the autoencoder and the learned
vocoder cost to train on this CPU, and what the round trip keeps.

1. Trains (or loads from ``data/cache/ch06``) the autoencoder of preset ``book`` on 64-frame
   log-mel crops of the book corpus's training clips, and the vocoder of preset ``book`` on
   32-frame (0.74 s) audio crops, each for ``--ae-steps`` / ``--voc-steps`` optimizer steps
   through :func:`maqamgen.train.train` (one torch thread); prints the wall time per step.
2. The round-trip table (:func:`maqamgen.recipes.ch06_latent_diffusion.round_trip_table`) on
   ``--n`` held-out ``--seconds``-s fragments: the original, Griffin-Lim from the features
   (``GL``), the vocoder from the features (``voc``), and both through the autoencoder
   (``AE + GL``, ``AE + voc``): share of voiced note frames within +-15 cents, median absolute
   cents error, multi-resolution STFT distance, maqam accuracy of the known-tonic and of the free
   Chapter 2 estimator, each with its 95 % interval; and the seconds each system took.

Run: ``.venv/bin/python benchmarks/bench_ch06_roundtrip.py [--ae-steps 300 --voc-steps 300 --n 16]``
(about 10 minutes on a 2-core CPU at the defaults).
"""

from __future__ import annotations

import argparse
import os
import time

from maqamgen import config, corpus, runtime
from maqamgen.recipes import ch06_latent_diffusion as ch06


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="book")
    p.add_argument("--ae-preset", default="book")
    p.add_argument("--voc-preset", default="book")
    p.add_argument("--ae-steps", type=int, default=300)
    p.add_argument("--voc-steps", type=int, default=300)
    p.add_argument("--ae-batch", type=int, default=8)
    p.add_argument("--voc-batch", type=int, default=8)
    p.add_argument("--ae-lr", type=float, default=1e-3)
    p.add_argument("--voc-lr", type=float, default=1e-3)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--gl-iter", type=int, default=32)
    args = p.parse_args()
    runtime.set_threads(int(os.environ.get("BENCH_THREADS", "1")))
    prof = config.profile(args.profile)
    t0 = time.perf_counter()
    corp = corpus.load(prof, progress=False)
    print(f"corpus {corp!r}: {time.perf_counter() - t0:.1f} s")
    fcfg = prof.ddpm.features
    ae_cfg = config.TrainConfig(steps=args.ae_steps, batch_size=args.ae_batch, lr=args.ae_lr,
                                warmup_steps=min(20, args.ae_steps // 10), progress=False,
                                ckpt_every=max(100, args.ae_steps), seed=prof.seed)
    voc_cfg = config.TrainConfig(steps=args.voc_steps, batch_size=args.voc_batch, lr=args.voc_lr,
                                 warmup_steps=min(20, args.voc_steps // 10), progress=False,
                                 ckpt_every=max(100, args.voc_steps), seed=prof.seed)
    t0 = time.perf_counter()
    ae = ch06.train_autoencoder(corp, fcfg, args.ae_preset, ae_cfg, crop_frames=64)
    t_ae = time.perf_counter() - t0
    L = ae.losses["loss"]
    print(f"autoencoder {args.ae_preset}: {ae.n_params:,} parameters, {ae.n_train} crops of "
          f"{fcfg.n_mels}x64, {args.ae_steps} steps x {args.ae_batch}: {ae.seconds:.1f} s training "
          f"({ae.seconds / max(1, args.ae_steps) * 1000:.0f} ms/step){' [cached]' if ae.cached else ''}; "
          f"call {t_ae:.1f} s; loss {L[0]:.4f} -> {L[-1]:.4f}; latent shift {float(ae.model.latent_shift):.3f}, "
          f"scale {float(ae.model.latent_scale):.3f}; latents {ae.model.config.latent_shape(fcfg.n_mels, 256)} "
          f"for 256 frames")
    t0 = time.perf_counter()
    voc = ch06.train_vocoder(corp, fcfg, ae.normalizer, args.voc_preset, voc_cfg, crop_frames=32)
    t_voc = time.perf_counter() - t0
    L = voc.losses["loss"]
    print(f"vocoder {args.voc_preset}: {voc.n_params:,} parameters, {voc.n_train} crops of 32 frames, "
          f"{args.voc_steps} steps x {args.voc_batch}: {voc.seconds:.1f} s training "
          f"({voc.seconds / max(1, args.voc_steps) * 1000:.0f} ms/step){' [cached]' if voc.cached else ''}; "
          f"call {t_voc:.1f} s; loss {L[0]:.4f} -> {L[-1]:.4f}")
    systems = {"GL": (None, "griffin_lim"), "voc": (None, voc.model),
               "AE + GL": (ae.model, "griffin_lim"), "AE + voc": (ae.model, voc.model)}
    t0 = time.perf_counter()
    table = ch06.round_trip_table(corp, systems, fcfg, ae.normalizer, n=args.n, seconds=args.seconds,
                                  gl_iter=args.gl_iter)
    t_tab = time.perf_counter() - t0
    print(f"\nround trip on {args.n} held-out {args.seconds:g}-s fragments (95% intervals; "
          f"tolerance 15 cents; wall time {t_tab:.1f} s):")
    print(ch06.format_table(table.summary))
    s = table.summary
    print("\nvoiced recall:", ", ".join(f"{k} {v:.2f}" for k, v in s["voiced_recall"].items()))
    print("octave-error share:", ", ".join(f"{k} {v:.3f}" for k, v in s["octave_share"].items()))
    print(f"\ntotal: autoencoder {t_ae:.0f} s + vocoder {t_voc:.0f} s + table {t_tab:.0f} s "
          f"= {t_ae + t_voc + t_tab:.0f} s")


if __name__ == "__main__":
    main()
