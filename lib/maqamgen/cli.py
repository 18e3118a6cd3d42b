"""The ``maqamgen`` command.

Subcommands: ``synth`` (note JSON -> oud audio), ``book`` (execute chapters and render the book),
``corpus`` (the synthetic taqsim corpus of a profile), ``estimate`` (maqam and tonic of
recordings), ``train lstm|unet|latent|dit`` / ``generate lstm|unet|latent|dit`` (the models of
Chapters 4, 6, 7 and 8).
Bad input exits non-zero with one line ``maqamgen: error: FILE: problem`` and no traceback.

Your files are never lost: see :data:`CONVENTIONS` (printed by ``maqamgen --help``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CONVENTIONS = """\
files:
  An existing output file is never overwritten unless --force is given; `train lstm`,
  `train unet`, `train latent` or `train dit` into a folder that holds a run needs --resume
  (continue it) or --force (start afresh), and never takes over another model's folder;
  `corpus -o` writes only into an empty folder or an earlier corpus export.
  Every file is written to a temporary name and renamed when complete: a failure (read-only
  folder, full disk, Ctrl-C, a killed process) leaves no partial file and the previous file
  intact; a killed `train` continues with --resume to the weights of an uninterrupted run.
  Caches (data/cache, or $MAQAMGEN_CACHE) are built under a lock, so runs at once share them,
  and a corrupt entry is rebuilt. Inputs are only read. Checkpoints are loaded as data only
  (never code: torch weights_only).

exit status:
  0 success; 2 bad input or a refused write (one line `maqamgen: error: FILE: problem`);
  1 an unexpected failure (a bug); 130 interrupted.
"""


def _check_output_file(path: str, force: bool) -> None:
    """Refuse to overwrite an existing file without --force, and an output that cannot be written."""
    from maqamgen.errors import ConfigError

    p = Path(path)
    if p.is_dir():
        raise ConfigError("is a folder; give an output file name", p)
    if p.exists() and not force:
        raise ConfigError("exists; pass --force to overwrite it", p)
    if not p.parent.is_dir():
        raise ConfigError(f"folder {p.parent} does not exist", p)


def _check_output_folder(path: str) -> None:
    """``corpus -o``: an empty or missing folder, or an earlier corpus export (it has index.json)."""
    from maqamgen.errors import ConfigError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError("exists and is not a folder", p)
    if p.is_dir() and any(p.iterdir()) and not (p / "index.json").is_file():
        raise ConfigError("folder is not empty and holds no corpus (no index.json); choose an empty "
                          "or new folder", p)


def _cmd_synth(args: argparse.Namespace) -> int:
    from maqamgen import synth

    _check_output_file(args.output, args.force)
    info = synth.render_notes_file(args.notes, args.output, sr=args.sr, seed=args.seed)
    print(f"wrote {args.output}: {info['seconds']:.1f} s, {info['n_notes']} notes, "
          f"{info['realtime_factor']:.0f}x real time")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from maqamgen import book

    params = dict(_parse_param(p) for p in args.param)
    return book.main(profile=args.profile, only=args.only, params=params,
                     build=not args.no_html, strict=args.strict, force=args.force,
                     sync=args.sync, jobs=args.jobs)


def _cmd_corpus(args: argparse.Namespace) -> int:
    import time

    from maqamgen import config, corpus

    cfg = config.profile(args.profile).corpus
    _check_output_folder(args.output)
    t0 = time.perf_counter()
    c = corpus.build(cfg, workers=args.workers, force=args.force, progress=not args.quiet)
    wall = time.perf_counter() - t0
    out = corpus.export(c, args.output)
    print(f"corpus {c.hash} ({args.profile} profile) in {out.root} ({wall:.1f} s)\n{out.summary()}")
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    from maqamgen import book

    changed = book.sync_all()
    print(f"{len(changed)} paired notebook(s) rewritten" + "".join(f"\n  {c}" for c in changed))
    return 0


def _parse_param(text: str) -> tuple[str, object]:
    from maqamgen.errors import ConfigError

    if "=" not in text:
        raise ConfigError(f"parameter {text!r} is not of the form NAME=VALUE")
    name, value = text.split("=", 1)
    import yaml

    return name.strip(), yaml.safe_load(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maqamgen", description=__doc__.splitlines()[0], epilog=CONVENTIONS,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="render a note JSON file with the oud synthesizer")
    s.add_argument("notes", help='note JSON: {"notes": [[onset_s, offset_s, freq_hz, cents_dev], ...]}')
    s.add_argument("-o", "--output", required=True, help="output audio file (.wav/.flac/.ogg)")
    s.add_argument("--sr", type=int, default=22050, help="sample rate in Hz (default 22050)")
    s.add_argument("--seed", type=int, default=0, help="seed of the pluck noise and timbre jitter")
    s.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    s.set_defaults(func=_cmd_synth)

    b = sub.add_parser("book", help="execute the chapters with papermill and render the book")
    b.add_argument("--profile", default="book", help="smoke | book | full (default book)")
    b.add_argument("--only", action="append", default=[],
                   help="run only this chapter (path or stem, e.g. 01_stft_filtering); repeatable")
    b.add_argument("-p", "--param", action="append", default=[],
                   help="extra notebook parameter NAME=VALUE (YAML value), e.g. -p maqam=hijaz")
    b.add_argument("--no-html", action="store_true", help="execute only; do not render HTML")
    b.add_argument("--strict", action="store_true", help="render with -W -n --keep-going")
    b.add_argument("--force", action="store_true", help="re-execute even when the cache is current")
    b.add_argument("--sync", action="store_true",
                   help="first rewrite each paired .ipynb from its .md source (jupytext)")
    b.add_argument("--jobs", type=int, default=1,
                   help="pages executed at once (default 1; 2 suits the one-thread smoke profile "
                        "on two cores; the book profile takes both cores a page)")
    b.set_defaults(func=_cmd_book)

    y = sub.add_parser("sync", help="rewrite each chapter's paired .ipynb from its .md source")
    y.set_defaults(func=_cmd_sync)

    c = sub.add_parser("corpus", help="generate (or reuse) a profile's synthetic taqsim corpus, copy it to a folder")
    c.add_argument("--profile", default="book", help="smoke | book | full (default book)")
    c.add_argument("-o", "--output", required=True,
                   help="folder to write the corpus to (audio/, notes/, index.json): a new or empty "
                        "folder, or an earlier corpus export")
    c.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    c.add_argument("--force", action="store_true", help="regenerate even when the cache is complete")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_cmd_corpus)

    e = sub.add_parser("estimate", help="estimate the maqam and tonic of audio files")
    e.add_argument("files", nargs="+", metavar="FILE",
                   help="audio files (.wav, .flac, .ogg, ...); a bad file is named on stderr with its "
                        "reason and the others are still judged; exit 0 if all were judged, 2 if any "
                        "was bad input, 1 if maqamgen failed on one")
    e.add_argument("--json", action="store_true", help="one JSON object per line per file")
    e.add_argument("--method", default="pcd", choices=("pcd", "fft", "fft_outer_thirds"),
                   help="pcd (pitch tracking, default) or the report's fft / fft_outer_thirds")
    e.set_defaults(func=_cmd_estimate)

    tr = sub.add_parser("train", help="train a model on your own data")
    trs = tr.add_subparsers(dest="model", required=True)
    tl = trs.add_parser("lstm", help="train the LSTM on a note JSON transcription; write a checkpoint "
                                     "and a generated continuation (.json, .mid, .wav)")
    tl.add_argument("--notes", required=True, help="note JSON in the report's format")
    tl.add_argument("--tokens", default="1d", choices=("1d", "2d"), help="token format (default 1d)")
    tl.add_argument("--profile", default="book", help="smoke | book | full: model size and steps (default book)")
    tl.add_argument("-o", "--output", required=True, help="run folder (checkpoint, losses, continuation)")
    tl.add_argument("--resume", action="store_true", help="continue the run in the folder from its checkpoint")
    tl.add_argument("--force", action="store_true",
                    help="start afresh in a folder that holds a run (its checkpoint and outputs are replaced)")
    tl.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the profile's)")
    tl.add_argument("--seconds", type=float, default=30.0, help="length of the continuation, s (default 30)")
    tl.add_argument("--rate", type=float, default=None, help="1D frames per second (default: the profile's)")
    tl.add_argument("--seed", type=int, default=0, help="seed of training and sampling")
    tl.add_argument("--ckpt-every", type=int, default=None, metavar="N",
                    help="checkpoint every N steps (default 50): a killed run resumes from the last one")
    tl.set_defaults(func=_cmd_train_lstm)

    ge = sub.add_parser("generate", help="generate with a trained model")
    ges = ge.add_subparsers(dest="model", required=True)
    gl = ges.add_parser("lstm", help="continue the training piece of an LSTM run")
    gl.add_argument("--checkpoint", required=True, help="run folder written by `maqamgen train lstm`")
    gl.add_argument("--seconds", type=float, default=30.0, help="seconds of music (default 30)")
    gl.add_argument("-o", "--output", required=True, help="out.json (notes), out.mid (MIDI) or out.wav (oud synth)")
    gl.add_argument("--seed", type=int, default=0, help="sampling seed")
    gl.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    gl.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    gl.set_defaults(func=_cmd_generate_lstm)

    tu = trs.add_parser("unet", help="train the U-Net DDPM of Chapter 4 on a profile's corpus "
                                     "(log-mel patches, class-conditional on the maqam)")
    tu.add_argument("--profile", default="book", help="smoke | book | full: corpus, model size, steps (default book)")
    tu.add_argument("-o", "--output", required=True, help="run folder (checkpoint.pt, losses.csv, denoiser.json)")
    tu.add_argument("--resume", action="store_true", help="continue the run in the folder from its checkpoint")
    tu.add_argument("--force", action="store_true",
                    help="start afresh in a folder that holds a run (its checkpoint and record are replaced)")
    tu.add_argument("--ckpt-every", type=int, default=None, metavar="N",
                    help="checkpoint every N steps (default: the profile's): a killed run resumes from the last one")
    tu.set_defaults(func=_cmd_train_unet)

    gu = ges.add_parser("unet", help="generate audio with a U-Net DDPM run (DDIM patches, stitched, Griffin-Lim)")
    gu.add_argument("--checkpoint", required=True, help="run folder written by `maqamgen train unet`")
    gu.add_argument("--seconds", type=float, required=True, help="seconds of audio")
    gu.add_argument("-o", "--output", required=True, help="output audio file (.wav/.flac/.ogg), written atomically")
    gu.add_argument("--maqam", default=None, help="maqam to generate (default: unconditional)")
    gu.add_argument("--seed", type=int, default=0, help="sampling seed")
    gu.add_argument("--steps", type=int, default=20, help="DDIM steps per patch (default 20)")
    gu.add_argument("--stitch", default="inpaint", choices=("inpaint", "concat"),
                    help="continue each patch from the previous one's tail (inpaint, default) or concatenate")
    gu.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance weight (default 2)")
    gu.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    gu.set_defaults(func=_cmd_generate_unet)

    ta = trs.add_parser("latent", help="train Chapter 6's latent system on a profile's corpus: the "
                                       "autoencoder, then the latent U-Net (maqam + tonic, continuation)")
    ta.add_argument("--profile", default="book", help="smoke | book | full: corpus, model sizes, steps (default book)")
    ta.add_argument("-o", "--output", required=True,
                    help="run folder (autoencoder/, latent_unet/, and system.json written last)")
    ta.add_argument("--resume", action="store_true", help="continue the run in the folder from its checkpoints")
    ta.add_argument("--force", action="store_true",
                    help="start afresh in a folder that holds a run (its checkpoints and record are replaced)")
    ta.add_argument("--ckpt-every", type=int, default=None, metavar="N",
                    help="checkpoint every N steps (default: the profile's): a killed run resumes from the last one")
    ta.set_defaults(func=_cmd_train_latent)

    ga = ges.add_parser("latent", help="generate (or continue a recording) with a latent system "
                                       "(stitched latent windows, decoded, Griffin-Lim)")
    ga.add_argument("--checkpoint", required=True, help="run folder written by `maqamgen train latent`")
    ga.add_argument("--maqam", default=None,
                    help="maqam to generate (required without --continue; with it, default: estimated)")
    ga.add_argument("--tonic", default=None,
                    help="tonic as Hz (146.8) or a note name (D3, E-half-flat3) (default: the maqam's "
                         "usual tonic; with --continue: estimated)")
    ga.add_argument("--seconds", type=float, default=120.0, help="seconds of new music (default 120)")
    ga.add_argument("--method", default="continue", choices=("concat", "crossfade", "repaint", "continue",
                                                             "multidiffusion"),
                    help="how windows are joined (default continue; ignored with --continue)")
    ga.add_argument("--seed", type=int, default=0, help="sampling seed (same seed, same audio)")
    ga.add_argument("--steps", type=int, default=None, help="DDIM steps per window (default: the profile's)")
    ga.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance weight (default 2)")
    ga.add_argument("--continue", dest="continue_from", default=None, metavar="TAKE.wav",
                    help="continue this recording (at least 2 s): the output is the recording, then the "
                         "continuation")
    ga.add_argument("-o", "--output", required=True, help="output audio file (.wav/.flac/.ogg), written atomically")
    ga.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    ga.set_defaults(func=_cmd_generate_latent)

    td = trs.add_parser("dit", help="train Chapter 8's DiT system on a profile's corpus: Chapter 6's "
                                     "autoencoder, then the Diffusion Transformer (maqam, tonic, "
                                     "ornaments, place in the piece)")
    td.add_argument("--profile", default="book", help="smoke | book | full: corpus, model sizes, steps (default book)")
    td.add_argument("-o", "--output", required=True,
                    help="run folder (autoencoder/, dit/, and system.json written last)")
    td.add_argument("--resume", action="store_true", help="continue the run in the folder from its checkpoints")
    td.add_argument("--force", action="store_true",
                    help="start afresh in a folder that holds a run (its checkpoints and record are replaced)")
    td.add_argument("--ckpt-every", type=int, default=None, metavar="N",
                    help="checkpoint every N steps (default: the profile's): a killed run resumes from the last one")
    td.set_defaults(func=_cmd_train_dit)

    gd = ges.add_parser("dit", help="generate with a DiT system, asking for ornaments where you want "
                                    "them (stitched latent windows, decoded, Griffin-Lim)")
    gd.add_argument("--checkpoint", required=True, help="run folder written by `maqamgen train dit`")
    gd.add_argument("--maqam", required=True, help="maqam to generate")
    gd.add_argument("--tonic", default=None,
                    help="tonic as Hz (146.8) or a note name (D3, E-half-flat3) (default: the maqam's usual tonic)")
    gd.add_argument("--ornaments", default=None, metavar="SPEC",
                    help="ornaments to play, kind@start-end or kind@time in seconds, comma-separated "
                         "(e.g. \"vibrato@2-4,slide@6\"; kinds: vibrato, slide, trill, tremolo): those "
                         "there, none elsewhere (default: left to the model)")
    gd.add_argument("--seconds", type=float, default=60.0, help="seconds of music (default 60)")
    gd.add_argument("--method", default="multidiffusion", choices=("concat", "crossfade", "repaint", "continue",
                                                                   "multidiffusion"),
                    help="how windows are joined (default multidiffusion)")
    gd.add_argument("--seed", type=int, default=0, help="sampling seed (same seed, same audio)")
    gd.add_argument("--steps", type=int, default=None, help="DDIM steps per window (default: the profile's)")
    gd.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance weight (default 2)")
    gd.add_argument("-o", "--output", required=True, help="output audio file (.wav/.flac/.ogg), written atomically")
    gd.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    gd.set_defaults(func=_cmd_generate_dit)
    return p


def _positive(n: int | None, flag: str) -> int | None:
    from maqamgen.errors import ConfigError

    if n is not None and n < 1:
        raise ConfigError(f"{flag} must be a positive number of steps, got {n}")
    return n


def _cmd_train_unet(args: argparse.Namespace) -> int:
    from maqamgen.recipes import ch04_unet_ddpm

    tr = ch04_unet_ddpm.cli_train(args.profile, args.output, resume=args.resume, progress=True,
                                  force=args.force, ckpt_every=_positive(args.ckpt_every, "--ckpt-every"))
    L = tr.losses["loss"]
    print(f"trained {tr.spec.label} ({tr.spec.preset}, {tr.n_params:,} parameters) for {tr.spec.steps} "
          f"steps in {tr.seconds:.0f} s; final loss {L[-1] if L else float('nan'):.4f}; run folder {args.output}")
    return 0


def _cmd_generate_unet(args: argparse.Namespace) -> int:
    from maqamgen.recipes import ch04_unet_ddpm

    _check_output_file(args.output, args.force)
    info = ch04_unet_ddpm.cli_generate(args.checkpoint, args.seconds, args.output, maqam=args.maqam,
                                seed=args.seed, steps=args.steps, method=args.stitch,
                                guidance_scale=args.guidance)
    print(f"wrote {args.output}: {info['seconds']:.1f} s of maqam {info['maqam']} from "
          f"{info['patches']} patches in {info['wall_s']:.1f} s")
    return 0


def _cmd_train_latent(args: argparse.Namespace) -> int:
    from maqamgen.recipes import ch06_system

    system = ch06_system.train_system(args.profile, args.output, resume=args.resume, progress=True,
                                      ckpt_every=_positive(args.ckpt_every, "--ckpt-every"), force=args.force)
    u = system.unet
    print(f"trained latent system ({args.profile}: autoencoder {system.lcfg.ae_preset}, latent U-Net "
          f"{u.spec.preset}, {u.n_params:,} parameters, {u.spec.steps} steps); maqamat "
          f"{', '.join(system.maqamat)}; run folder {args.output}")
    return 0


def _cmd_generate_latent(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from maqamgen import audio, runtime
    from maqamgen.errors import ConfigError
    from maqamgen.recipes import ch06_system

    _check_output_file(args.output, args.force)
    audio.audio_format(args.output)  # unknown extension -> one line before any work
    tonic = None if args.tonic is None else ch06_system.parse_tonic(args.tonic)
    if args.continue_from is None and args.maqam is None:
        raise ConfigError("--maqam is required (or --continue a recording, whose maqam is estimated)")
    system = ch06_system.load_system(args.checkpoint)
    runtime.set_threads(system.lcfg.torch_threads)  # as trained (config.BOOK_THREADS at book)
    t0 = time.perf_counter()
    if args.continue_from is None:
        y = ch06_system.generate(system, args.maqam, tonic, args.seconds, method=args.method, seed=args.seed,
                                 guidance_scale=args.guidance, steps=args.steps)
        audio.save_audio(args.output, y, system.sr, normalize=True)
        maqam = system.maqamat[ch06_system.maqam_label(system, args.maqam)]
        tonic = tonic if tonic is not None else ch06_system.usual_tonic_hz(maqam)
        print(f"wrote {args.output}: {len(y) / system.sr:.1f} s of maqam {maqam} on {tonic:.1f} Hz "
              f"({args.method}) in {time.perf_counter() - t0:.1f} s")
        return 0
    x, sr = audio.load_audio(args.continue_from, sr=system.sr)
    y, info = ch06_system.continue_audio(system, x, sr, maqam=args.maqam, tonic_hz=tonic, seconds=args.seconds,
                                         seed=args.seed, guidance_scale=args.guidance, steps=args.steps,
                                         path=args.continue_from)
    audio.save_audio(args.output, y, system.sr, normalize=bool(np.max(np.abs(y)) > 1.0))  # keep its level
    est = f" (estimated: {', '.join(info['estimated'])})" if info["estimated"] else ""
    print(f"wrote {args.output}: {info['input_s']:.1f} s of {args.continue_from} then {info['seconds']:.1f} s "
          f"of maqam {info['maqam']} on {info['tonic_hz']:.1f} Hz{est} in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_train_dit(args: argparse.Namespace) -> int:
    from maqamgen.recipes import ch08_system

    system = ch08_system.train_system(args.profile, args.output, resume=args.resume, progress=True,
                                      ckpt_every=_positive(args.ckpt_every, "--ckpt-every"), force=args.force)
    d = system.dit
    print(f"trained DiT system ({args.profile}: autoencoder {system.lcfg.ae_preset}, DiT {d.spec.preset}, "
          f"{d.n_params:,} parameters, {d.spec.steps} steps, conditions "
          f"{', '.join(('maqam', 'tonic') + system.keys)}); maqamat {', '.join(system.maqamat)}; "
          f"run folder {args.output}")
    return 0


def _cmd_generate_dit(args: argparse.Namespace) -> int:
    import time

    from maqamgen import audio, ornaments, runtime
    from maqamgen.recipes import ch06_system, ch08_system

    _check_output_file(args.output, args.force)
    audio.audio_format(args.output)  # unknown extension -> one line before any work
    tonic = None if args.tonic is None else ch06_system.parse_tonic(args.tonic)
    if args.ornaments is not None:  # a bad spec -> one line before the model is loaded
        ornaments.parse_ornament_spec(args.ornaments, ch06_system.check_seconds(args.seconds))
    system = ch08_system.load_system(args.checkpoint)
    runtime.set_threads(system.torch_threads)  # as trained (config.BOOK_THREADS at book)
    t0 = time.perf_counter()
    y = ch08_system.generate(system, args.maqam, tonic, args.seconds, ornaments_spec=args.ornaments,
                             method=args.method, seed=args.seed, guidance_scale=args.guidance, steps=args.steps)
    audio.save_audio(args.output, y, system.sr, normalize=True)
    maqam = system.maqamat[ch06_system.maqam_label(system, args.maqam)]
    tonic = tonic if tonic is not None else ch06_system.usual_tonic_hz(maqam)
    asked = f", ornaments {args.ornaments}" if args.ornaments else ""
    print(f"wrote {args.output}: {len(y) / system.sr:.1f} s of maqam {maqam} on {tonic:.1f} Hz "
          f"({args.method}{asked}) in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_train_lstm(args: argparse.Namespace) -> int:
    from maqamgen import train as trainer
    from maqamgen.errors import ConfigError
    from maqamgen.recipes import ch07_lstm_tokens

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise ConfigError("output exists and is not a folder", out)
    if args.resume and args.force:
        raise ConfigError("--resume continues the run in the folder, --force replaces it: give one")
    if (out / trainer.CHECKPOINT).exists() and not (args.resume or args.force):
        raise ConfigError("folder already holds a run; pass --resume to continue it, --force to start "
                          "afresh, or choose another folder", out)
    ch07_lstm_tokens.cli_train(args.notes, args.output, tokens=args.tokens, profile=args.profile, steps=args.steps,
                      resume=args.resume, seconds=args.seconds, seed=args.seed, rate_hz=args.rate,
                      ckpt_every=_positive(args.ckpt_every, "--ckpt-every"))
    return 0


def _cmd_generate_lstm(args: argparse.Namespace) -> int:
    from maqamgen.recipes import ch07_lstm_tokens

    _check_output_file(args.output, args.force)
    ch07_lstm_tokens.cli_generate(args.checkpoint, args.output, seconds=args.seconds, seed=args.seed,
                         temperature=args.temperature)
    return 0


def _cmd_estimate(args: argparse.Namespace) -> int:
    """Judge every file; a bad one is named on stderr with its reason and the others go on.

    Exit status: 0 when every file was judged, 2 when some were bad input (missing, unreadable,
    silent, unpitched, ...), 1 when maqamgen itself failed on one (a bug: the reason says so).
    """
    import json
    import warnings

    from maqamgen import estimate
    from maqamgen.errors import MaqamgenError

    bad = crashed = 0
    for f in args.files:
        try:
            with warnings.catch_warnings():  # numpy/librosa overflow warnings on extreme files:
                warnings.simplefilter("ignore", RuntimeWarning)  # the estimate or the error says it
                est = estimate.estimate_file(f, method=args.method)
        except MaqamgenError as err:  # judge the other files, fail at the end
            _error(err if err.path else f"{f}: {err}")
            bad += 1
            continue
        except OSError as err:
            _error(f"{getattr(err, 'filename', None) or f}: {err.strerror or err}")
            bad += 1
            continue
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - one file must not stop the batch
            _error(f"{f}: unexpected {type(err).__name__}: {_one_line(err)} "
                   "(a bug in maqamgen; please report it)")
            crashed += 1
            continue
        d = est.to_dict()
        if args.json:
            print(json.dumps({"file": f, "maqam": d["maqam"], "tonic_hz": d["tonic_hz"],
                              "confidence": d["confidence"], "scores": d["scores"]}), flush=True)
        else:
            print(f"{f}\t{d['maqam']:9s} tonic {d['tonic_hz']:7.2f} Hz  confidence {d['confidence']:.2f}",
                  flush=True)
    return 1 if crashed else (2 if bad else 0)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _error(message) -> None:
    print(f"maqamgen: error: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from maqamgen.errors import MaqamgenError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MaqamgenError as e:
        _error(e)
        return 2
    except OSError as e:  # a read-only or vanished folder, a full disk, ...: one line, no traceback
        where = e.filename or ""
        _error(f"{where}: {e.strerror or _one_line(e)}" if where else (e.strerror or _one_line(e)))
        return 2
    except KeyboardInterrupt:
        print("maqamgen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
