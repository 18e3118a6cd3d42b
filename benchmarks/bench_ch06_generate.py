"""Chapter 6 generation speed: seconds of audio per second of wall time, per stitching method.

With the ``book`` profile's latent config (:class:`maqamgen.config.LatentChapterConfig`), an
UNTRAINED autoencoder (preset ``ae_preset``) and latent U-Net (preset ``preset``, tonic condition,
inpainting inputs) -- speed does not depend on the weights -- each method of
:data:`maqamgen.diffusion.stitch.STITCH_METHODS` generates ``--seconds`` s of audio
(:func:`maqamgen.recipes.ch06_latent_diffusion.generate_piece`: ``sample_steps`` DDIM steps per
window, the profile's overlap and RePaint resampling, classifier-free guidance; the latents decoded
to log-mel) and Griffin-Lim renders it (``gl_iter`` iterations, :func:`maqamgen.features.to_audio`).
Prints, per method, the wall time of sampling + decoding and of Griffin-Lim, and the real-time
ratio (audio seconds / wall seconds), measured in this one run, against the target of at least
:data:`TARGET_RATIO` times faster than real time.

Run: ``.venv/bin/python benchmarks/bench_ch06_generate.py [--profile book --seconds 60]``
(torch threads: the profile's ``torch_threads``, or ``BENCH_THREADS``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from maqamgen import config, features, runtime
from maqamgen.diffusion import run, stitch
from maqamgen.nets import autoencoder as ae_mod
from maqamgen.recipes import ch06_latent_diffusion as ch06

TARGET_RATIO = 5.0
"""Audio seconds per wall second that generation must reach."""

N_CLASSES = 8


def untrained_system(lcfg, sr: int, seed: int = 0):
    """``(trained latent U-Net, autoencoder)`` of the config's presets with their initial weights."""
    torch.manual_seed(seed)
    ae = ae_mod.Autoencoder(ae_mod.autoencoder_config(lcfg.ae_preset)).eval()
    shape = ae.config.latent_shape(lcfg.features.n_mels, lcfg.fragment_frames)
    spec = ch06.latent_spec(lcfg, seed)
    model = spec.build(N_CLASSES, int(shape[0])).eval()
    trained = run.Trained(spec=spec, model=model, schedule=spec.make_schedule(), losses={}, seconds=0.0,
                          maqamat=tuple(f"m{i}" for i in range(N_CLASSES)),
                          normalizer=features.Normalizer(top_db=0.0, range_db=lcfg.features.dynamic_range_db),
                          fcfg=ch06.fragment_config(lcfg), sr=sr, out_dir=Path("."),
                          sample_shape=tuple(int(v) for v in shape))
    return trained, ae


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="book")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--methods", nargs="*", default=list(stitch.STITCH_METHODS))
    args = p.parse_args()
    prof = config.profile(args.profile)
    lcfg = prof.latent
    threads = int(os.environ.get("BENCH_THREADS", lcfg.torch_threads or 0))
    runtime.set_threads(threads or None)
    sr = int(prof.corpus.sr)
    trained, ae = untrained_system(lcfg, sr, prof.seed)
    print(f"profile {prof.name}: autoencoder {lcfg.ae_preset} ({sum(q.numel() for q in ae.parameters()):,} "
          f"parameters), latent U-Net {lcfg.preset} ({trained.n_params:,} parameters) on windows "
          f"{trained.shape}; {lcfg.sample_steps} DDIM steps, overlap {lcfg.overlap_frames}, "
          f"n_resample {lcfg.n_resample}, Griffin-Lim {lcfg.gl_iter} iterations; torch threads "
          f"{torch.get_num_threads()}; {args.seconds:g} s of audio per method")
    rows = []
    for method in args.methods:
        t0 = time.perf_counter()
        piece = ch06.generate_piece(trained, ae, method, args.seconds, 0, 146.83, lcfg.overlap_frames,
                                    lcfg.sample_steps, 2.0, prof.seed, lcfg.n_resample)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        y = features.to_audio(torch.from_numpy(piece.mel)[None], trained.normalizer, lcfg.features, sr,
                              n_iter=lcfg.gl_iter, seed=prof.seed)
        t_gl = time.perf_counter() - t0
        audio_s = len(y) / sr
        ratio = audio_s / (t_gen + t_gl)
        rows.append((method, audio_s, t_gen, t_gl, ratio))
        print(f"  {method:15s} {audio_s:6.1f} s audio: sampling+decoding {t_gen:6.2f} s, Griffin-Lim "
              f"{t_gl:6.2f} s -> {ratio:6.1f}x real time {'(meets' if ratio >= TARGET_RATIO else '(MISSES'} "
              f"the {TARGET_RATIO:g}x target)", flush=True)
    ok = [r[0] for r in rows if r[4] >= TARGET_RATIO]
    print(f"{len(ok)} of {len(rows)} methods meet {TARGET_RATIO:g}x real time"
          + (f"; slowest {min(rows, key=lambda r: r[4])[0]} at {min(r[4] for r in rows):.1f}x" if rows else ""))
    assert np.isfinite([r[4] for r in rows]).all()


if __name__ == "__main__":
    main()
