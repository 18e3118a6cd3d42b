"""Accuracy and speed of the maqam/tonic estimators (maqamgen.estimate).

Held-out clips: synthesized phrases (maqamgen.synth.phrase + render) and Karplus-Strong
scale walks (tests/ks_oud.py, a different synthesis method), in the 8 maqamat, with random
tonics (a random 24-TET pitch from G2 to A3, detuned by up to +-15 cents, in random
registers), lengths and white noise at 20-40 dB SNR. With ``--corpus PROFILE`` the test split
of maqamgen.corpus is measured too (when that module exists).

Reported per method: maqam accuracy, tonic accuracy (pitch class within 50 cents, octave
equivalent), both, and seconds per clip. The pitch-based variants share one pitch track per
clip; the tonic-cue weights are compared on a separate *dev* set (other seeds) to choose
TONIC_WEIGHTS, and the chosen weights are then measured on the test set.

    .venv/bin/python benchmarks/bench_estimate.py [--per-maqam 6] [--seconds 8 12] [--corpus book]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "data" / "cache" / "numba"))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from maqamgen import estimate as E  # noqa: E402
from maqamgen import maqam as mq  # noqa: E402
from maqamgen import metrics, synth  # noqa: E402

MAQAMAT = E.ESTIMATE_MAQAMAT
SR = 22050


def random_tonic(rng: np.random.Generator) -> float:
    """A tonic: a random quarter tone from G2 to A3, detuned by U(-15, 15) cents, in Hz."""
    qt = int(rng.integers(0, 29))  # G2 + 0..28 quarter tones (to A3)
    return float(mq.hz(50.0 * qt + rng.uniform(-15.0, 15.0), mq.note_hz("G2")))


def make_clips(kind: str, per_maqam: int, seconds: list[float], seed0: int) -> list[dict]:
    """Labelled noisy clips: ``{"y", "maqam", "tonic_hz", "seconds", "snr_db"}``."""
    import ks_oud

    clips = []
    for mi, name in enumerate(MAQAMAT):
        for j in range(per_maqam):
            seed = seed0 + 100 * mi + j
            rng = np.random.default_rng(seed)
            tonic = random_tonic(rng)
            sec = float(seconds[j % len(seconds)])
            snr = float(rng.uniform(20.0, 40.0))
            if kind == "synth":
                notes, _ = synth.phrase(name, tonic_hz=tonic, seconds=sec, seed=seed)
                y = synth.render(notes, sr=SR, seed=seed)
                played = np.array([n.freq_hz for n in notes])
            else:
                played, d = ks_oud.scale_walk(name, tonic, seconds=sec, seed=seed)
                y = ks_oud.render_ks(played, d, sr=SR, seed=seed)
            clips.append({"y": metrics.add_noise(y, snr, seed=seed + 7), "maqam": name,
                          "tonic_hz": tonic, "seconds": sec, "snr_db": snr,
                          "ambiguous_with": ambiguous_with(name, tonic, played)})
    return clips


def ambiguous_with(name: str, tonic_hz: float, played_hz) -> list[str]:
    """Other maqamat on the same tonic whose scale holds every pitch class the clip plays
    (within 25 cents): the notes alone cannot tell them apart from ``name``."""
    pc = np.mod(mq.cents(np.asarray(played_hz), tonic_hz), 1200.0)
    out = []
    for other in MAQAMAT:
        if other == name:
            continue
        deg = np.asarray(mq.get_maqam(other).degrees_cents)
        d = np.abs(np.mod(pc[:, None] - deg[None, :] + 600.0, 1200.0) - 600.0).min(axis=1)
        if np.all(d <= 25.0):
            out.append(other)
    return out


def tonic_ok(est_hz: float, true_hz: float) -> bool:
    d = np.mod(mq.cents(est_hz, true_hz) + 600.0, 1200.0) - 600.0
    return bool(abs(d) < 50.0)


def evaluate(clips: list[dict], variants: dict, tracks: list | None = None) -> dict:
    """Accuracy of each variant: name -> (maqam acc, tonic acc, both acc, s/clip, confusions)."""
    out = {}
    for vname, fn in variants.items():
        m_ok, t_ok, both, secs, conf = [], [], [], [], {}
        for i, c in enumerate(clips):
            t0 = time.perf_counter()
            e = fn(c, None if tracks is None else tracks[i])
            secs.append(time.perf_counter() - t0)
            a, b = e.maqam == c["maqam"], tonic_ok(e.tonic_hz, c["tonic_hz"])
            m_ok.append(a)
            t_ok.append(b)
            both.append(a and b)
            if not a:
                key = f"{c['maqam']}->{e.maqam}"
                conf[key] = conf.get(key, 0) + 1
        out[vname] = (np.mean(m_ok), np.mean(t_ok), np.mean(both), np.mean(secs), conf)
    return out


def print_table(title: str, res: dict, n: int) -> None:
    print(f"\n## {title} ({n} clips)")
    print(f"{'method':34s} {'maqam':>7s} {'tonic':>7s} {'both':>7s} {'s/clip':>7s}  confusions")
    for k, (a, b, c, s, conf) in res.items():
        top = ", ".join(f"{x} x{v}" for x, v in sorted(conf.items(), key=lambda kv: -kv[1])[:4])
        print(f"{k:34s} {a:7.1%} {b:7.1%} {c:7.1%} {s:7.3f}  {top}")


def pcd_variant(method="joint", weights=None):
    return lambda c, tr: E.estimate(c["y"], SR, method=method, tonic_weights=weights, track=tr)


WEIGHT_CHOICES = {
    "qafla only": {"qafla": 1.0},
    "lowest only": {"lowest": 1.0},
    "peak only": {"peak": 1.0},
    "qafla+lowest+peak (1, .25, .25)": {"qafla": 1.0, "lowest": 0.25, "peak": 0.25},
    "equal (1, 1, 1)": {"qafla": 1.0, "lowest": 1.0, "peak": 1.0},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-maqam", type=int, default=6, help="clips per maqam and synthesis kind")
    ap.add_argument("--seconds", type=float, nargs="+", default=[8.0, 10.0, 12.0])
    ap.add_argument("--dev", action="store_true", help="also compare tonic-cue weights on a dev set")
    ap.add_argument("--corpus", default=None, help="also measure maqamgen.corpus.load(PROFILE) test split")
    args = ap.parse_args(argv)

    # warm-up: numba compile of pyin's Viterbi (cached under data/cache/numba)
    E.pitch_track(np.sin(np.arange(SR) * 2 * np.pi * 220 / SR).astype(np.float32), SR)

    if args.dev:
        dev = make_clips("synth", max(2, args.per_maqam // 2), args.seconds, seed0=50_000)
        dev += make_clips("ks", max(2, args.per_maqam // 2), args.seconds, seed0=60_000)
        tracks = [E.pitch_track(c["y"], SR) for c in dev]
        res = evaluate(dev, {f"joint, {k}": pcd_variant("joint", w) for k, w in WEIGHT_CHOICES.items()}
                       | {"template_only": pcd_variant("template_only")}, tracks)
        print_table("DEV set: tonic-cue weights (synth + Karplus-Strong)", res, len(dev))

    for kind in ("synth", "ks"):
        clips = make_clips(kind, args.per_maqam, args.seconds, seed0=0 if kind == "synth" else 10_000)
        t0 = time.perf_counter()
        tracks = [E.pitch_track(c["y"], SR) for c in clips]
        track_s = (time.perf_counter() - t0) / len(clips)
        variants = {
            "pcd joint (default)": pcd_variant("joint"),
            "pcd tonic_first": pcd_variant("tonic_first"),
            "pcd template_only (no tonic cues)": pcd_variant("template_only"),
            "fft all, 24-TET tonics (report)": lambda c, tr: E.estimate_fft(c["y"], SR, "all"),
            "fft outer thirds (report)": lambda c, tr: E.estimate_fft(c["y"], SR, "outer_thirds"),
            "fft all, usual tonics": lambda c, tr: E.estimate_fft(c["y"], SR, "all", tonics="usual"),
        }
        res = evaluate(clips, variants, tracks)
        label = "synth phrases (maqamgen.synth)" if kind == "synth" else "Karplus-Strong scale walks"
        print_table(f"TEST {label}, {args.seconds} s, SNR 20-40 dB", res, len(clips))
        amb = [i for i, c in enumerate(clips) if c["ambiguous_with"]]
        print(f"clips whose notes fit another maqam on the same tonic: {len(amb)} "
              + ", ".join(f"{clips[i]['maqam']}~{'/'.join(clips[i]['ambiguous_with'])}" for i in amb))
        if amb:
            ok = [i for i in range(len(clips)) if i not in amb]
            r = evaluate([clips[i] for i in ok], {"pcd joint": variants["pcd joint (default)"]},
                         [tracks[i] for i in ok])["pcd joint"]
            print(f"  pcd joint on the {len(ok)} identifiable clips: maqam {r[0]:.1%}, tonic {r[1]:.1%}")
        print(f"pitch tracking: {track_s:.3f} s per clip (mean length "
              f"{np.mean([len(c['y']) / SR for c in clips]):.1f} s); pcd rows add only the scoring time")
        for sec in sorted(set(c["seconds"] for c in clips)):
            idx = [i for i, c in enumerate(clips) if c["seconds"] == sec]
            r = evaluate([clips[i] for i in idx], {"pcd joint": variants["pcd joint (default)"],
                                                    "fft all": variants["fft all, 24-TET tonics (report)"]},
                         [tracks[i] for i in idx])
            print(f"  {sec:4.0f} s: " + "; ".join(f"{k} maqam {a:.0%} tonic {b:.0%}"
                                                  for k, (a, b, _c, _s, _f) in r.items()) + f" (n={len(idx)})")

    if args.corpus:
        try:
            from maqamgen import corpus
        except ImportError:
            print("\nmaqamgen.corpus is not available; skipped")
            return 0
        cp = corpus.load(args.corpus)
        test = cp.split("test")
        clips = []
        for clip in test:
            y = cp.audio(clip)
            sr = getattr(clip, "sr", SR)
            clips.append({"y": y, "maqam": clip.maqam, "tonic_hz": clip.tonic_hz, "sr": sr})
        res = {}
        for name, fn in {"pcd joint": lambda c: E.estimate(c["y"], c["sr"]),
                         "fft all": lambda c: E.estimate_fft(c["y"], c["sr"], "all"),
                         "fft outer thirds": lambda c: E.estimate_fft(c["y"], c["sr"], "outer_thirds")}.items():
            ok_m, ok_t, secs = [], [], []
            for c in clips:
                t0 = time.perf_counter()
                e = fn(c)
                secs.append(time.perf_counter() - t0)
                ok_m.append(e.maqam == c["maqam"])
                ok_t.append(tonic_ok(e.tonic_hz, c["tonic_hz"]))
            res[name] = (np.mean(ok_m), np.mean(ok_t), float(np.mean(np.logical_and(ok_m, ok_t))),
                         np.mean(secs), {})
        print_table(f"maqamgen.corpus {args.corpus!r} test split", res, len(clips))
    return 0


if __name__ == "__main__":
    sys.exit(main())
