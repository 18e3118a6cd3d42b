"""The results chapter: every model of the book on one table, and the report's claims, one row
each, with a verdict computed from the results store of the same build.

Nothing here trains or generates: everything is read from the records the chapters wrote
(:mod:`maqamgen.results`). A claim's verdict follows one rule, the book's rule for claiming a
difference (:func:`maqamgen.metrics.separation`: two 95-percent intervals that do not overlap):

* **reproduced**: the deciding intervals separate in the direction the report states;
* **contradicted**: they separate the other way;
* **not shown**: they overlap, so no difference can be claimed at this profile's budget;
* **open**: this build has no record to decide it (the chapter did not run at this profile),
  or the record holds no interval.

Each claim is a function of the records (:data:`CLAIMS`, in the report's order) returning a
:class:`Claim` with its verdict, the deciding figure as text and the sentence behind it.

Used in: book/results.md
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from maqamgen import metrics, results

VERDICTS: dict[str, str] = {
    "reproduced": "the deciding intervals separate in the direction the report states",
    "contradicted": "the deciding intervals separate the other way",
    "not shown": "the deciding intervals overlap: no difference can be claimed at this budget",
    "open": "this build holds no record (or no interval) to decide it",
}
"""The four verdicts and what each means."""


SECTIONS: dict[str, str] = {
    "fft": "ch02-fft", "thirds": "ch02-fft", "gaussian": "ch03-long-term", "scaling": "ch05-budget",
    "hallucination": "ch05-hallucination", "latent": "ch06-judged", "overlap": "ch06-stitching",
    "tokens": "ch07-generations", "loss": "ch07-optimizers", "seed": "ch07-seeds", "drift": "ch07-drift",
    "attention": "ch08-versus", "ornaments": "ch08-control",
}
"""The MyST label of the section that measures each claim (``(label)=`` above its heading)."""


@dataclasses.dataclass
class Claim:
    """One claim of the report, judged on the results store.

    Attributes:
        key: short name (used for the glue keys, ``claim_<key>_verdict`` and ``_figure``).
        claim: the report's claim in a few words.
        chapter: the chapter (file stem) that measures it.
        verdict: one of :data:`VERDICTS`.
        figure: the deciding numbers, as text (e.g. ``"0.31 [0.14, 0.56] vs 0.94 [0.79, 0.98]"``).
        evidence: one sentence saying what was compared and what the intervals show.
    """

    key: str
    claim: str
    chapter: str
    verdict: str
    figure: str
    evidence: str

    @property
    def section(self) -> str:
        """The MyST label of the section that measures it (:data:`SECTIONS`)."""
        return SECTIONS[self.key]


def fmt_interval(value, lo, hi, digits: int = 2, sign: str = "") -> str:
    """``"v [lo, hi]"`` (``"n/a"`` for a missing value; the bounds left out when missing);
    ``sign="+"`` writes every sign (:func:`fmt_difference`)."""
    def ok(x):
        return x is not None and np.isfinite(float(x))

    def f(x):
        return f"{float(x):{sign}.{digits}f}"

    if not ok(value):
        return "n/a"
    return f"{f(value)} [{f(lo)}, {f(hi)}]" if ok(lo) and ok(hi) else f(value)


def fmt_difference(value, lo, hi, digits: int = 2) -> str:
    """A difference with its signs, ``"+v [+lo, +hi]"`` (``"n/a"`` for a missing value; the
    bounds left out when missing), so that its side of 0 reads at a glance.

    Used in: book/part3/08_dit.md
    """
    return fmt_interval(value, lo, hi, digits, sign="+")


def side_of_zero(lo, hi) -> str:
    """Where a difference's interval ``[lo, hi]`` lies against 0, in the words of a sentence
    "... (``above`` / ``below`` / ``not distinguishable from`` 0)"
    (:func:`maqamgen.metrics.separation`).

    Used in: book/part3/08_dit.md
    """
    return {1: "above", -1: "below"}.get(metrics.separation((lo, hi), 0.0),
                                          "not distinguishable from")


def _triple(d: dict, key: str) -> tuple:
    return d.get(key), d.get(f"{key}_lo"), d.get(f"{key}_hi")


def _verdict(sign: int, expected: int) -> str:
    """``reproduced`` when ``sign`` (a :func:`metrics.separation`) is the ``expected`` direction,
    ``contradicted`` when opposite, ``not shown`` when 0."""
    return "not shown" if sign == 0 else ("reproduced" if sign == expected else "contradicted")


def _has_bounds(*triples) -> bool:
    return all(t[0] is not None and t[1] is not None and t[2] is not None
               and np.isfinite([t[0], t[1], t[2]]).all() for t in triples)


def _open(key: str, claim: str, chapter: str, why: str) -> Claim:
    return Claim(key, claim, chapter, "open", "n/a", why)


def _record(records: dict, name: str) -> dict | None:
    rec = records.get(name)
    return rec["metrics"] if rec is not None else None


def _missing(chapter: str, name: str) -> str:
    return f"no `{name}` record in this build: Chapter {int(chapter[:2])} has not run at this profile"


# ----------------------------------------------------------------------------- the claims


def _estimator_claim(records: dict, key: str, claim: str, a: tuple[str, str], b: tuple[str, str],
                     expected: int, what: str) -> Claim:
    """A claim on Chapter 2's clips: accuracy ``a = (record key, name)`` against ``b``, Wilson
    intervals over the clips; ``expected`` the direction the report states (+1: a above b)."""
    ch = "02_maqam_estimation"
    r = _record(records, "maqam_estimator")
    if r is None:
        return _open(key, claim, ch, _missing(ch, "maqam_estimator"))
    n = int(r["n_clips"])
    ia, ib = (metrics.wilson_interval(round(r[k] * n), n) for k, _ in (a, b))
    sign = metrics.separation(ia[1:], ib[1:])
    return Claim(key, claim, ch, _verdict(sign, expected), f"{fmt_interval(*ia)} vs {fmt_interval(*ib)}",
                 f"{what} on {n} clips: {a[1]} {fmt_interval(*ia)} against {b[1]} {fmt_interval(*ib)}")


def claim_fft_unreliable(records: dict) -> Claim:
    return _estimator_claim(records, "fft", "Maqam estimation from the global FFT's dominant frequencies is unreliable",
                            ("fft_maqam_accuracy", "the FFT method"),
                            ("pcd_maqam_accuracy", "the pitch-based estimator"), -1,
                            "maqam accuracy (Wilson intervals)")


def claim_outer_thirds(records: dict) -> Claim:
    return _estimator_claim(records, "thirds", "Reading only the opening and closing thirds helps the FFT estimate",
                            ("fft_outer_thirds_maqam_accuracy", "outer thirds"),
                            ("fft_maqam_accuracy", "the whole recording"), 1, "FFT maqam accuracy")


def claim_gaussian_long_term(records: dict) -> Claim:
    key, claim, ch = "gaussian", "The PCA Gaussian lacks long-term musical structure", "03_pca_gaussian"
    r = _record(records, "pca_gaussian")
    if r is None:
        return _open(key, claim, ch, _missing(ch, "pca_gaussian"))
    seam = r["core"]["seam_jump_ratio"]
    real = r["extras"].get("seam_jump_ratio_real")
    if not isinstance(seam, dict) or "lo" not in seam or real is None:
        return _open(key, claim, ch, "the record holds no interval for the seam jump ratio")
    sign = metrics.separation((seam["lo"], seam["hi"]), float(real))
    return Claim(key, claim, ch, _verdict(sign, 1),
                 f"{fmt_interval(seam['value'], seam['lo'], seam['hi'])} vs {float(real):.2f}",
                 f"seam jump ratio of long sequences grown by conditioning (1 = no audible join): "
                 f"{fmt_interval(seam['value'], seam['lo'], seam['hi'])} against {float(real):.2f} for real "
                 f"audio cut at the same frames; a ratio above the real one means the model cannot carry a "
                 f"phrase across its own patch boundary")


def claim_large_inputs(records: dict) -> Claim:
    key, claim, ch = "scaling", "Inputs above 32k dimensions fail to converge", "05_scaling_hallucination"
    r = _record(records, "05_scaling_hallucination")
    if r is None:
        return _open(key, claim, ch, _missing(ch, "05_scaling_hallucination"))
    sizes = r["sizes"]
    small, large = min(sizes, key=lambda s: sizes[s]["dimensions"]), max(sizes, key=lambda s: sizes[s]["dimensions"])
    a, b = _triple(sizes[large], "heldout_loss"), _triple(sizes[small], "heldout_loss")
    if not _has_bounds(a, b):
        return _open(key, claim, ch, "the record holds no interval for the held-out loss")
    sign = metrics.separation(a[1:], b[1:])
    dims = sizes[large]["dimensions"]
    verdict = _verdict(sign, 1)
    if verdict == "reproduced" and dims <= 32768:
        verdict = "not shown"  # worse convergence, but not above the report's threshold
    return Claim(key, claim, ch, verdict, f"{fmt_interval(*a, digits=3)} vs {fmt_interval(*b, digits=3)}",
                 f"held-out denoising loss at the same budget: {large} ({dims:,} dimensions) "
                 f"{fmt_interval(*a, digits=3)} against {small} ({sizes[small]['dimensions']:,}) "
                 f"{fmt_interval(*b, digits=3)}" + ("" if dims > 32768 else
                                                    "; this profile's largest size is not above 32k"))


def claim_hallucination(records: dict) -> Claim:
    key, claim, ch = "hallucination", "Middle-part hallucination: coherent openings and closings, unstable middles", \
        "05_scaling_hallucination"
    r = _record(records, "05_scaling_hallucination")
    if r is None:
        return _open(key, claim, ch, _missing(ch, "05_scaling_hallucination"))
    cases = {**r["verdicts"]["hallucination_by_size"], **r["verdicts"]["long"]}
    judged = {k: v for k, v in cases.items() if v["judged"]}
    if not judged:
        return _open(key, claim, ch, "too few samples in every case to judge")
    above = [k for k, v in judged.items() if v["index"] > 0]
    below = [k for k, v in judged.items() if v["index"] < 0]
    verdict = "reproduced" if above else ("contradicted" if len(below) == len(judged) else "not shown")
    return Claim(key, claim, ch, verdict, f"above real in {len(above)} of {len(judged)} cases",
                 f"hallucination index of generated against real material, by size and for long samples: its "
                 f"interval lies above the real one's in {len(above)} of {len(judged)} judged cases"
                 f"{' (' + ', '.join(above) + ')' if above else ''}, below it in {len(below)}")


def claim_latent(records: dict, chance: float = 0.0) -> Claim:
    key, claim, ch = "latent", "Latent diffusion relieves the scaling bottleneck", "06_latent_diffusion"
    pix, lat = _record(records, "unet_ddpm"), _record(records, "latent_unet")
    if pix is None or lat is None:
        return _open(key, claim, ch, _missing("06" if lat is None else "04",
                                              "latent_unet" if lat is None else "unet_ddpm"))
    wj = pix["extras"].get("window_judge")
    acc = lat["core"]["maqam_acc_estimator"]
    ceil = lat["extras"].get("real_fragments")
    if not wj or not isinstance(acc, dict) or ceil is None:
        return _open(key, claim, ch, "a record lacks the several-second judgement")
    p, pr = _triple(wj["model"], "est_acc"), _triple(wj["real"], "est_acc")
    q, qr = (acc["value"], acc["lo"], acc["hi"]), _triple(ceil, "acc")
    if not (_has_bounds(p, pr, q, qr) and min(pr[1], qr[1]) > chance):
        return _open(key, claim, ch, f"the estimator does not read the real rows above chance ({chance:.2f}) with "
                                     f"confidence at this profile: real {fmt_interval(*pr)} and {fmt_interval(*qr)}")
    sp, sq = metrics.separation(p[1:], pr[1:]), metrics.separation(q[1:], qr[1:])
    verdict = "reproduced" if (sp < 0 and sq >= 0) else ("contradicted" if (sq < 0 and sp >= 0) else "not shown")
    return Claim(key, claim, ch, verdict,
                 f"latent {fmt_interval(*q)} (real {fmt_interval(*qr)}); pixel {fmt_interval(*p)} "
                 f"(real {fmt_interval(*pr)})",
                 f"each model against its own real row at several seconds, by the Chapter 2 estimator: the latent "
                 f"U-Net's 6-s fragments (tonic given; real fragments through the same decoder) and the pixel "
                 f"U-Net's stitched {wj['window_s']:.0f}-s windows (tonic read). Reproduced when the pixel model "
                 f"falls measurably below its real row and the latent one does not")


def claim_overlap(records: dict) -> Claim:
    key, claim, ch = "overlap", "Overlapping windows keep continuity across stitched fragments", \
        "06_latent_diffusion"
    r, lat = _record(records, "06_latent_diffusion"), _record(records, "latent_unet")
    if r is None or lat is None:
        return _open(key, claim, ch, _missing(ch, "06_latent_diffusion"))
    best = lat["extras"]["stitch_method"]
    st = r["stitching"]
    a, b = _triple(st[best], "seam_jump_ratio"), _triple(st["concat"], "seam_jump_ratio")
    if not _has_bounds(a, b):
        return _open(key, claim, ch, "the record holds no interval for the seam ratios")
    # closer to 1 is better: a lower ratio counts as an improvement only where concatenation's
    # interval lies wholly above 1 (its seams jump)
    sign = metrics.separation(a[1:], b[1:]) if b[1] > 1 else 0
    return Claim(key, claim, ch, _verdict(sign, -1), f"{fmt_interval(*a)} vs {fmt_interval(*b)}",
                 f"seam jump ratio (1 = seamless) of {st[best].get('n_pieces', '?')} stitched pieces: "
                 f"{best} {fmt_interval(*a)} against concatenation without overlap {fmt_interval(*b)}")


def claim_tokens(records: dict) -> Claim:
    key, claim, ch = "tokens", "1D note tokens beat 2D (duration, note) tokens", "07_lstm_tokens"
    r = _record(records, "lstm")
    if r is None:
        return _open(key, claim, ch, _missing(ch, "lstm"))
    signs, parts, figs = [], [], []
    for k, what in (("out_of_scale", "out-of-scale rate"), ("note_pcd_js", "note-PCD divergence")):
        a, b = _triple(r, f"{k}_1d"), _triple(r, f"{k}_2d")
        if _has_bounds(a, b):
            signs.append(metrics.separation(a[1:], b[1:]))
            parts.append(f"{what} 1D {fmt_interval(*a)} vs 2D {fmt_interval(*b)}")
            figs.append(f"1D {fmt_interval(*a)} vs 2D {fmt_interval(*b)} ({what})")
    if not signs:
        return _open(key, claim, ch, "the record holds no interval for the generation measures")
    verdict = ("reproduced" if -1 in signs and 1 not in signs else
               "contradicted" if 1 in signs and -1 not in signs else "not shown")
    return Claim(key, claim, ch, verdict, figs[0],
                 "generated continuations, mean over seeds with intervals (lower is better): " + "; ".join(parts))


def claim_cross_entropy(records: dict) -> Claim:
    key, claim, ch = "loss", "Cross-entropy gives the best generations", "07_lstm_tokens"
    r = _record(records, "lstm")
    if r is None or "optimizers" not in r:
        return _open(key, claim, ch, _missing(ch, "lstm") if r is None else "the record has no optimizer table")
    opt, ref = r["optimizers"], r["optimizer_reference_row"]
    # label smoothing is cross-entropy with softened targets: the claim is against the other losses
    others = [k for k in opt if k.startswith("loss ") and "smooth" not in k]
    if not others:
        return _open(key, claim, ch, "no loss other than cross-entropy was trained at this profile")
    a = _triple(opt[ref], "out_of_scale")
    if not _has_bounds(a, *(_triple(opt[k], "out_of_scale") for k in others)):
        return _open(key, claim, ch, "too few continuations per run for an interval on the out-of-scale rate")
    signs = {k: metrics.separation(_triple(opt[k], "out_of_scale")[1:], a[1:]) for k in others}
    verdict = ("reproduced" if all(s > 0 for s in signs.values()) else
               "contradicted" if any(s < 0 for s in signs.values()) else "not shown")
    return Claim(key, claim, ch, verdict,
                 "; ".join(f"{k[5:]} {fmt_interval(*_triple(opt[k], 'out_of_scale'))}" for k in others)
                 + f" vs cross-entropy {fmt_interval(*a)}",
                 "out-of-scale rate of generated continuations (lower is better), each loss against cross-entropy: "
                 + "; ".join(f"{k[5:]} {fmt_interval(*_triple(opt[k], 'out_of_scale'))} (next-token accuracy "
                             f"{opt[k]['accuracy']:.2f})" for k in others)
                 + f"; cross-entropy {fmt_interval(*a)} (next-token accuracy {opt[ref]['accuracy']:.2f})"
                 + "".join(f"; label-smoothed cross-entropy, a variant of it, "
                           f"{fmt_interval(*_triple(opt[k], 'out_of_scale'))}"
                           for k in opt if k.startswith("loss ") and "smooth" in k))


def claim_seed(records: dict) -> Claim:
    key, claim, ch = "seed", "The output depends strongly on the random seed", "07_lstm_tokens"
    r = _record(records, "lstm")
    if r is None or "seeds_matter" not in r:
        return _open(key, claim, ch, _missing(ch, "lstm") if r is None else "the record has no seed study")
    judged = [v for v in r["seeds_matter"].values() if v is not None]  # None: fewer than 2 intervals
    if not judged:
        return _open(key, claim, ch, "no generation measurement has within-seed intervals for two seeds "
                                     "(too few continuations per seed)")
    n = sum(bool(v) for v in judged)
    return Claim(key, claim, ch, "reproduced" if n else "not shown", f"{n} of {len(judged)} measurements",
                 (f"for {n} of {len(judged)} generation measurements (two formats) the within-seed intervals of "
                  f"some two seeds separate: there the seed moves the result further than resampling the "
                  f"continuations does") if n else
                 f"for none of the {len(judged)} generation measurements (two formats) do the within-seed "
                 f"intervals of two seeds separate")


def claim_drift(records: dict) -> Claim:
    key, claim, ch = "drift", "The LSTM drifts over extended generation", "07_lstm_tokens"
    r = _record(records, "lstm")
    if r is None or "drift" not in r:
        return _open(key, claim, ch, _missing(ch, "lstm") if r is None else "the record has no drift interval")
    signs, parts, figs = [], [], []
    for fmt, d in r["drift"].items():
        t = _triple(d, "change")
        if _has_bounds(t):
            signs.append(metrics.separation(t[1:], 0.0))
            parts.append(f"{fmt.upper()} {fmt_interval(*t, digits=3)}")
    if not signs:
        return _open(key, claim, ch, "too few long generations for an interval")
    verdict = ("reproduced" if 1 in signs else "contradicted" if all(s < 0 for s in signs) else "not shown")
    return Claim(key, claim, ch, verdict, "; ".join(parts),
                 "change of the out-of-scale rate from the first to the second half of long generations, "
                 "interval over prompts (above 0 = drift): " + "; ".join(parts))


def claim_attention(records: dict) -> Claim:
    key, claim, ch = "attention", "Attention (a DiT) improves long-range coherence over the latent U-Net", "08_dit"
    r = _record(records, "08_dit")
    if r is None:
        return _open(key, claim, ch, _missing(ch, "08_dit"))
    v = r["versus"]
    dit, unet = v.get("DiT"), v.get("latent U-Net")
    if dit is None or unet is None:
        return _open(key, claim, ch, "the record lacks the DiT or the latent U-Net row")
    signs, parts, figs = [], [], []
    for k, what, better in (("hallucination_index", "hallucination index", -1),
                            ("window_acc", "maqam accuracy in windows of the pieces", 1),
                            ("frag_acc", "maqam accuracy", 1)):
        a, b = _triple(dit, k), _triple(unet, k)
        if _has_bounds(a, b):
            signs.append(metrics.separation(a[1:], b[1:]) * better)
            parts.append(f"{what} DiT {fmt_interval(*a, digits=3)} vs U-Net {fmt_interval(*b, digits=3)}")
            figs.append(f"DiT {fmt_interval(*a, digits=3)} vs U-Net {fmt_interval(*b, digits=3)} ({what})")
    if not signs:
        return _open(key, claim, ch, "the record holds no intervals for the comparison")
    verdict = ("reproduced" if 1 in signs and -1 not in signs else
               "contradicted" if -1 in signs and 1 not in signs else "not shown")
    return Claim(key, claim, ch, verdict, "; ".join(figs),
                 "long pieces (and windows of them) and 6-s fragments at matched training time: "
                 + "; ".join(parts))


def claim_ornament_control(records: dict) -> Claim:
    key, claim, ch = "ornaments", "Custom embeddings give control over ornamentation", "08_dit"
    r = _record(records, "08_dit")
    if r is None:
        return _open(key, claim, ch, _missing(ch, "08_dit"))
    c, paired = r["control"], r.get("control_difference") or {}
    signs, parts, figs = [], [], []
    for orn in ("vibrato", "slide"):
        a, b = c.get(f"{orn}/asked"), c.get(f"{orn}/not told")
        if a is None or b is None:
            continue
        ta, tb = _triple(a, "f1"), _triple(b, "f1")
        td = _triple(paired.get(orn) or {}, "f1")
        if _has_bounds(td):  # the same prompts and noise, asked and not: the paired difference decides
            signs.append(metrics.separation(td[1:], 0.0))
            parts.append(f"{orn} F1 asked {fmt_interval(*ta)} vs not told {fmt_interval(*tb)}, "
                         f"paired difference {fmt_difference(*td)}")
            figs.append(f"{orn}: {fmt_interval(*ta)} vs {fmt_interval(*tb)} (difference {fmt_difference(*td)})")
        elif _has_bounds(ta, tb):
            signs.append(metrics.separation(ta[1:], tb[1:]))
            parts.append(f"{orn} F1 asked {fmt_interval(*ta)} vs not told {fmt_interval(*tb)}")
            figs.append(f"{orn}: {fmt_interval(*ta)} vs {fmt_interval(*tb)}")
    for orn, d in (r.get("plan_difference") or {}).items():  # asked for real fragments' ornament plans
        td = _triple(d, "f1")
        if _has_bounds(td):
            signs.append(metrics.separation(td[1:], 0.0))
            parts.append(f"{orn} asked as real fragments' notes carry it, paired difference {fmt_difference(*td)}")
            figs.append(f"{orn}, real plans: difference {fmt_difference(*td)}")
    if not signs:
        return _open(key, claim, ch, "the record holds no intervals for ornament control")
    verdict = ("reproduced" if 1 in signs and -1 not in signs else
               "contradicted" if -1 in signs and 1 not in signs else "not shown")
    return Claim(key, claim, ch, verdict, "; ".join(figs),
                 "ornaments detected in the asked span (a fixed span, or the spans a real fragment's notes carry), "
                 "with and without the ornaments asked for: " + "; ".join(parts))


CLAIMS = (claim_fft_unreliable, claim_outer_thirds, claim_gaussian_long_term, claim_large_inputs,
          claim_hallucination, claim_latent, claim_overlap, claim_tokens, claim_cross_entropy, claim_seed,
          claim_drift, claim_attention, claim_ornament_control)
"""The report's claims, in its order: each a function of the records returning a :class:`Claim`."""


def claims(records: dict, chance: float = 0.0) -> list[Claim]:
    """Every claim of :data:`CLAIMS` judged on ``records`` (:func:`maqamgen.results.load_all`);
    ``chance`` is the maqam accuracy of a guess (1 / number of maqamat): a real row read no better
    leaves a claim that rests on it open.

    Used in: book/results.md
    """
    return [f(records, chance) if f is claim_latent else f(records) for f in CLAIMS]


def claims_markdown(cs: list[Claim]) -> str:
    """The claims as a MyST table, one row each: the claim, its verdict (bold), the deciding
    figure and a ``{ref}`` link to the section that measures it (so the strict build checks the
    link). Rendered by a cell whose ``mystnb.markdown_format`` is ``myst``.

    Used in: book/results.md
    """
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| # | The report's claim | Verdict | Deciding figure | Measured in |", "|---|---|---|---|---|"]
    for i, c in enumerate(cs, 1):
        lines.append(f"| {i} | {cell(c.claim)} | **{c.verdict}** | {cell(c.figure)} | {{ref}}`{c.section}` |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the model table

MAQAM_ACC_ON: dict[str, str] = {
    "03_pca_gaussian": "Griffin-Lim excerpts of several seconds, tonic read",
    "04_unet_ddpm": "single patches, tonic read",
    "05_scaling_hallucination": "single patches, tonic read",
    "06_latent_diffusion": "6-s fragments, tonic given",
    "07_lstm_tokens": "rendered continuations, tonic read",
    "08_dit": "6-s fragments, tonic given",
}
"""What each chapter's ``maqam_acc_estimator`` was measured on (the unit differs by model, so the
column compares models of one chapter, and the several-second table compares across chapters)."""

COLUMNS: dict[str, str] = {
    "params": "parameters", "train_s": "training s", "gen_s_per_audio_s": "generation s per audio s",
    "fd": "FD", "maqam_acc_estimator": "maqam accuracy", "maqam_acc_classifier": "classifier accuracy",
    "pcd_js_audio": "PCD divergence (bits)", "seam_jump_ratio": "seam ratio",
    "hallucination_index": "hallucination index",
}
"""The core metrics the results table shows, with their column names."""


def model_table(profile: str, digits: int = 2):
    """Every model recorded at ``profile``, its core metrics as ``value [lo, hi]`` text, ordered by
    chapter, with what its maqam accuracy was measured on.

    Used in: book/results.md
    """
    t = results.table(profile)
    if t.empty:
        return t
    t = t.sort_values("chapter", kind="stable")
    out = t[["chapter"]].copy()
    for k, name in COLUMNS.items():
        if k in ("params",):
            out[name] = [f"{v / 1e6:.2f} M" if np.isfinite(v) else "n/a" for v in t[k].astype(float)]
        elif k in ("train_s",):
            out[name] = [f"{v:.0f}" if np.isfinite(v) else "n/a" for v in t[k].astype(float)]
        else:
            lo = t[f"{k}_lo"] if f"{k}_lo" in t else [None] * len(t)
            hi = t[f"{k}_hi"] if f"{k}_hi" in t else [None] * len(t)
            out[name] = [fmt_interval(v, a, b, digits=3 if k == "gen_s_per_audio_s" else digits)
                         for v, a, b in zip(t[k], lo, hi)]
    out["maqam accuracy on"] = [MAQAM_ACC_ON.get(c, "?") for c in t["chapter"]]
    return out


def window_table(records: dict):
    """Maqam accuracy at several seconds, each generative model beside the real row it is read
    against (the Chapter 2 estimator; what the tonic was and which real row are in the columns).

    Returns:
        A pandas DataFrame with ``generated``, ``generated_lo``, ``generated_hi``, ``real``,
        ``real_lo``, ``real_hi``, ``seconds``, ``tonic``, ``real row`` and ``separation`` (-1: the
        generated interval lies below the real one, 0: overlap, 1: above), one row per model.

    Used in: book/results.md
    """
    import pandas as pd

    rows = {}
    pix = _record(records, "unet_ddpm")
    if pix is not None and pix["extras"].get("window_judge"):
        wj = pix["extras"]["window_judge"]
        rows["U-Net DDPM (Ch. 4), stitched"] = (_triple(wj["model"], "est_acc"), _triple(wj["real"], "est_acc"),
                                                wj["window_s"], "read", "real validation windows")
    lat = _record(records, "latent_unet")
    if lat is not None and isinstance(lat["core"]["maqam_acc_estimator"], dict):
        a = lat["core"]["maqam_acc_estimator"]
        rows["latent U-Net (Ch. 6)"] = ((a["value"], a["lo"], a["hi"]), _triple(lat["extras"]["real_fragments"], "acc"),
                                        6.0, "given", "real fragments, same decoder")
    dit = _record(records, "08_dit")
    if dit is not None and lat is not None:
        for name, row in dit["versus"].items():
            if name == "DiT":
                rows["DiT (Ch. 8)"] = (_triple(row, "frag_acc"), _triple(lat["extras"]["real_fragments"], "acc"),
                                       6.0, "given", "real fragments, same decoder (Ch. 6)")
    out = []
    for name, (g, r, s, tonic, real_row) in rows.items():
        out.append({"model": name, "generated": g[0], "generated_lo": g[1], "generated_hi": g[2],
                    "real": r[0], "real_lo": r[1], "real_hi": r[2], "seconds": float(s), "tonic": tonic,
                    "real row": real_row,
                    "separation": metrics.separation(g[1:], r[1:]) if _has_bounds(g, r) else 0})
    return pd.DataFrame(out).set_index("model") if out else pd.DataFrame()


def quality_vs_compute(ax, table, quality: str, cost: str, label_col: str | None = None):
    """One point per model: ``quality`` (a core metric, with its interval as an error bar) against
    ``cost`` (``params``, ``train_s`` or ``gen_s_per_audio_s``, log scale), from
    :func:`maqamgen.results.table`. Models without the metric are left out.

    Used in: book/results.md
    """
    t = table[[c for c in table.columns if c.startswith(quality) or c == cost]].astype(float)
    t = t[np.isfinite(t[quality]) & np.isfinite(t[cost]) & (t[cost] > 0)]
    for i, (name, row) in enumerate(t.iterrows()):
        lo, hi = row.get(f"{quality}_lo", math.nan), row.get(f"{quality}_hi", math.nan)
        err = None if not (np.isfinite(lo) and np.isfinite(hi)) else [[row[quality] - lo], [hi - row[quality]]]
        ax.errorbar(row[cost], row[quality], yerr=err, fmt="o", capsize=3, color=f"C{i % 10}", label=name)
    ax.set_xscale("log")
    ax.set_xlabel(COLUMNS.get(cost, cost))
    ax.set_ylabel(COLUMNS.get(quality, quality))
    return ax


def plot_window_table(ax, wt, chance: float | None = None):
    """Horizontal bars of :func:`window_table`: each model's maqam accuracy beside its real row,
    with their intervals as error bars (and chance as a dotted line).

    Used in: book/results.md
    """
    y = np.arange(len(wt))
    for off, (col, label, color) in enumerate((("generated", "generated", "C0"), ("real", "real row", "0.5"))):
        v = wt[col].to_numpy(float)
        err = np.vstack([v - wt[f"{col}_lo"].to_numpy(float), wt[f"{col}_hi"].to_numpy(float) - v])
        ax.barh(y + 0.2 - 0.4 * off, v, height=0.38, xerr=err, capsize=3, color=color, label=label)
    if chance is not None:
        ax.axvline(chance, color="k", ls=":", lw=1, label="chance")
    ax.set_yticks(y, wt.index)
    ax.set_xlim(0, 1)
    ax.set_xlabel("maqam accuracy (Chapter 2 estimator), 95% interval")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def format_window_table(wt):
    """:func:`window_table` for reading: intervals as text and the verdict in words.

    Used in: book/results.md
    """
    words = {-1: "below its real row", 0: "cannot be told from its real row", 1: "above its real row"}
    out = wt[["seconds", "tonic"]].copy()
    for col in ("generated", "real"):
        out[col] = [fmt_interval(*r) for r in wt[[col, f"{col}_lo", f"{col}_hi"]].to_numpy()]
    out["real row"] = wt["real row"]
    out["verdict"] = [words[int(s)] for s in wt["separation"]]
    return out


def merged_legend(axes) -> tuple[list, list]:
    """The handles and labels of several axes' legends, each label once (for one figure legend).

    Used in: book/results.md
    """
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    return handles, labels


# ----------------------------------------------------------------------------- model cards

REAL_KEYS: dict[str, tuple[str, int]] = {
    "fd": ("fd", 1), "maqam_acc_estimator": ("est_acc", -1), "maqam_acc_classifier": ("clf_acc", -1),
    "pcd_js_audio": ("pcd_js", 1), "frame_dist": ("nn_dist", 1), "hallucination_index": ("hallucination_index", 1),
}
"""Core metric -> (the key of the same measurement in a chapter's real row, the direction that is
worse: +1 higher is worse, -1 lower is worse)."""


def real_row(records: dict, name: str) -> dict | None:
    """The real row a model's core metrics are read against: its own ``extras["real"]`` (the
    chapter judged real material the same way), with the maqam accuracy of real fragments through
    the same decoder where the chapter measured whole fragments; the DiT uses Chapter 6's, whose
    data, judge and decoder it shares. None where no real row was recorded.
    """
    rec = _record(records, name)
    if rec is None:
        return None
    source = rec if name != "dit" else _record(records, "latent_unet")
    if source is None or not isinstance(source["extras"].get("real"), dict):
        return None
    real = dict(source["extras"]["real"])
    frag = source["extras"].get("real_fragments")
    if frag is not None:  # the core maqam accuracy was measured on whole fragments, tonic given
        real.update(est_acc=frag["acc"], est_acc_lo=frag["acc_lo"], est_acc_hi=frag["acc_hi"])
    return real


def failure_modes(records: dict, name: str) -> tuple[list[str], list[str]]:
    """Where a model is measurably worse than real material, and where it cannot be told apart,
    each core metric read against :func:`real_row` with :func:`maqamgen.metrics.separation`;
    the seam ratio against 1 (seamless).

    Returns:
        ``(worse, level)``: sentences (metric, generated and real intervals).

    Used in: book/cards.md
    """
    rec = _record(records, name)
    real = real_row(records, name)
    worse, level = [], []
    if rec is None:
        return worse, level
    core = rec["core"]
    for k, (rk, bad) in REAL_KEYS.items():
        v = core.get(k)
        if real is None or not isinstance(v, dict) or "lo" not in v or rk not in real:
            continue
        g, r = (v["value"], v["lo"], v["hi"]), _triple(real, rk)
        if not _has_bounds(g, r):
            continue
        text = f"{COLUMNS.get(k, k.replace('_', ' '))} {fmt_interval(*g)} against real {fmt_interval(*r)}"
        s = metrics.separation(g[1:], r[1:])
        (worse if s == bad else level if s == 0 else []).append(text)
    seam = core.get("seam_jump_ratio")
    if isinstance(seam, dict) and "lo" in seam and _has_bounds((seam["value"], seam["lo"], seam["hi"])):
        text = f"seam ratio {fmt_interval(seam['value'], seam['lo'], seam['hi'])} against 1 (seamless)"
        s = metrics.separation((seam["lo"], seam["hi"]), 1.0)
        (worse if s > 0 else level if s == 0 else []).append(text)
    return worse, level


def model_cards(records: dict):
    """One card per generative model recorded: chapter, data, budget, size, what it was measured
    to do well and badly (:func:`failure_modes`).

    Returns:
        A pandas DataFrame, one row per model.

    Used in: book/cards.md
    """
    import pandas as pd

    rows = []
    for name, rec in records.items():
        if rec.get("kind") != "model":
            continue
        core, extras = rec["metrics"]["core"], rec["metrics"]["extras"]
        worse, level = failure_modes(records, name)
        budget = ", ".join(f"{k} {extras[k]}" for k in ("preset", "steps") if k in extras)
        rows.append({"model": name, "chapter": rec.get("chapter", "?"),
                     "data": f"corpus {rec['corpus']}" if rec.get("corpus") else "the chapter's corpus",
                     "budget": budget or "see the chapter",
                     "training s": results.core_value(core["train_s"]),
                     "parameters": results.core_value(core["params"]),
                     "measurably worse than real": "; ".join(worse) or ("none measured" if real_row(records, name)
                                                                        else "no real row recorded"),
                     "cannot be told from real": "; ".join(level) or "none"})
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def cards_markdown(cards) -> str:
    """:func:`model_cards` as Markdown: one block per model, its fields as a list.

    Used in: book/cards.md
    """
    blocks = []
    for name, c in cards.iterrows():
        blocks.append(
            f"**{name}** (chapter `{c['chapter']}`)\n\n"
            f"* data: {c['data']}; budget: {c['budget']}; {c['parameters'] / 1e6:.2f} M parameters, "
            f"trained {c['training s']:.0f} s on this machine\n"
            f"* measurably worse than real material: {c['measurably worse than real']}\n"
            f"* cannot be told from real material: {c['cannot be told from real']}\n")
    return "\n".join(blocks)
