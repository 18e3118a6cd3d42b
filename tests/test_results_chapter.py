"""The results chapter's verdicts follow the interval rule, and every claim has one."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from maqamgen import metrics, results  # noqa: E402
from maqamgen.recipes import results_chapter as rc  # noqa: E402


def _rec(metrics_, kind=None, chapter="x"):
    return {"metrics": metrics_, "kind": kind, "chapter": chapter}


def test_separation_is_the_one_rule():
    assert metrics.separation((0.1, 0.2), (0.3, 0.4)) == -1
    assert metrics.separation((0.5, 0.6), (0.3, 0.4)) == 1
    assert metrics.separation((0.1, 0.35), (0.3, 0.4)) == 0
    assert metrics.separation((1.1, 1.3), 1.0) == 1 and metrics.separation((0.9, 1.1), 1.0) == 0
    assert metrics.separation((float("nan"), 0.2), (0.3, 0.4)) == 0


def test_every_claim_is_open_without_records():
    cs = rc.claims({})
    assert len(cs) == len(rc.CLAIMS) >= 12
    assert all(c.verdict == "open" and c.figure == "n/a" and "has not run" in c.evidence for c in cs)
    assert len({c.key for c in cs}) == len(cs)


@pytest.mark.parametrize("fft,outer,want_fft,want_thirds", [
    (0.25, 0.25, "reproduced", "not shown"),   # 8 / 32 vs 30 / 32
    (0.90, 0.25, "not shown", "contradicted"),
    (0.10, 0.75, "reproduced", "reproduced"),
])
def test_fft_claims_use_wilson_intervals_on_the_clip_count(fft, outer, want_fft, want_thirds):
    recs = {"maqam_estimator": _rec({"n_clips": 32, "fft_maqam_accuracy": fft, "pcd_maqam_accuracy": 30 / 32,
                                     "fft_outer_thirds_maqam_accuracy": outer})}
    c = {x.key: x for x in rc.claims(recs)}
    assert c["fft"].verdict == want_fft and c["thirds"].verdict == want_thirds
    assert "[" in c["fft"].figure and "32 clips" in c["fft"].evidence


def test_scaling_claim_needs_a_size_above_32k():
    def rec(big_dims, big_lo, big_hi):
        return {"05_scaling_hallucination": _rec({
            "sizes": {"small": {"dimensions": 4096, "heldout_loss": 0.3, "heldout_loss_lo": 0.29,
                                "heldout_loss_hi": 0.31},
                      "big": {"dimensions": big_dims, "heldout_loss": (big_lo + big_hi) / 2,
                              "heldout_loss_lo": big_lo, "heldout_loss_hi": big_hi}},
            "verdicts": {"hallucination_by_size": {}, "long": {}}})}
    assert rc.claim_large_inputs(rec(65536, 0.4, 0.5)).verdict == "reproduced"
    assert rc.claim_large_inputs(rec(32768, 0.4, 0.5)).verdict == "not shown"  # not above 32k
    assert rc.claim_large_inputs(rec(65536, 0.1, 0.2)).verdict == "contradicted"
    assert rc.claim_large_inputs(rec(65536, 0.25, 0.35)).verdict == "not shown"


def test_hallucination_claim_counts_judged_cases():
    def rec(cases):
        return {"05_scaling_hallucination": _rec({"sizes": {}, "verdicts": {"hallucination_by_size": cases,
                                                                             "long": {}}})}
    j = {"judged": True}
    assert rc.claim_hallucination(rec({"a": {**j, "index": 1}, "b": {**j, "index": 0}})).verdict == "reproduced"
    assert rc.claim_hallucination(rec({"a": {**j, "index": -1}, "b": {**j, "index": -1}})).verdict == "contradicted"
    assert rc.claim_hallucination(rec({"a": {**j, "index": -1}, "b": {**j, "index": 0}})).verdict == "not shown"
    assert rc.claim_hallucination(rec({"a": {"judged": False, "index": 0}})).verdict == "open"


def _latent_records(pix, pix_real, lat, lat_real):
    def t(k, v):
        return {k: v[0], f"{k}_lo": v[1], f"{k}_hi": v[2]}
    return {"unet_ddpm": _rec({"extras": {"window_judge": {"window_s": 6.0, "model": t("est_acc", pix),
                                                           "real": t("est_acc", pix_real)}}}),
            "latent_unet": _rec({"core": {"maqam_acc_estimator": dict(zip(("value", "lo", "hi"), lat))},
                                 "extras": {"real_fragments": t("acc", lat_real)}})}


def test_latent_claim_reads_each_model_against_its_own_real_row():
    good, low, real = (0.8, 0.7, 0.9), (0.1, 0.0, 0.2), (0.9, 0.8, 0.95)
    assert rc.claim_latent(_latent_records(low, real, good, real), 0.125).verdict == "reproduced"
    assert rc.claim_latent(_latent_records(good, real, low, real), 0.125).verdict == "contradicted"
    assert rc.claim_latent(_latent_records(low, real, low, real), 0.125).verdict == "not shown"
    blind = (0.1, 0.0, 0.3)  # the estimator cannot read the real fragments: nothing to decide on
    c = rc.claim_latent(_latent_records(low, real, low, blind), 0.125)
    assert c.verdict == "open" and "chance" in c.evidence


def test_token_seed_drift_and_loss_claims():
    lstm = {"out_of_scale_1d": 0.05, "out_of_scale_1d_lo": 0.03, "out_of_scale_1d_hi": 0.08,
            "out_of_scale_2d": 0.4, "out_of_scale_2d_lo": 0.3, "out_of_scale_2d_hi": 0.5,
            "note_pcd_js_1d": 0.2, "note_pcd_js_1d_lo": 0.1, "note_pcd_js_1d_hi": 0.3,
            "note_pcd_js_2d": 0.25, "note_pcd_js_2d_lo": 0.15, "note_pcd_js_2d_hi": 0.35,
            "seeds_matter": {"1d/out_of_scale": False, "2d/out_of_scale": True},
            "drift": {"1d": {"change": 0.01, "change_lo": -0.02, "change_hi": 0.04, "n": 8},
                      "2d": {"change": 0.2, "change_lo": 0.1, "change_hi": 0.3, "n": 8}},
            "optimizer_reference_row": "adam (reference)",
            "optimizers": {"adam (reference)": {"out_of_scale": 0.05, "out_of_scale_lo": 0.03,
                                                "out_of_scale_hi": 0.08, "accuracy": 0.6},
                           "loss mse": {"out_of_scale": 0.3, "out_of_scale_lo": 0.2, "out_of_scale_hi": 0.4,
                                        "accuracy": 0.2},
                           "loss label_smoothing": {"out_of_scale": 0.05, "out_of_scale_lo": 0.0,
                                                    "out_of_scale_hi": 0.1, "accuracy": 0.6}}}
    c = {x.key: x for x in rc.claims({"lstm": _rec(lstm)})}
    assert c["tokens"].verdict == "reproduced" and "1D 0.05" in c["tokens"].figure
    assert c["seed"].verdict == "reproduced" and c["seed"].figure == "1 of 2 measurements"
    assert c["drift"].verdict == "reproduced"
    assert c["loss"].verdict == "reproduced" and "mse" in c["loss"].figure
    lstm["optimizers"]["loss mse"].update(out_of_scale_lo=0.0, out_of_scale_hi=0.02)
    lstm["drift"]["2d"].update(change_lo=-0.1)
    lstm["seeds_matter"] = {"1d/out_of_scale": False}
    c = {x.key: x for x in rc.claims({"lstm": _rec(lstm)})}
    assert (c["loss"].verdict, c["drift"].verdict, c["seed"].verdict) == ("contradicted", "not shown", "not shown")
    lstm["seeds_matter"] = {"1d/out_of_scale": None, "2d/out_of_scale": None}  # too few intervals
    assert rc.claim_seed({"lstm": _rec(lstm)}).verdict == "open"
    lstm["seeds_matter"] = {"1d/out_of_scale": None, "2d/out_of_scale": False}
    assert rc.claim_seed({"lstm": _rec(lstm)}).figure == "0 of 1 measurements"
    lstm["optimizers"]["loss mse"].update(out_of_scale_lo=None, out_of_scale_hi=None)  # NaN read back as None
    lstm["drift"]["2d"].update(change_lo=None, change_hi=None)
    lstm["drift"]["1d"].update(change_lo=None, change_hi=None)
    c = {x.key: x for x in rc.claims({"lstm": _rec(lstm)})}
    assert (c["loss"].verdict, c["drift"].verdict) == ("open", "open")


def test_model_table_formats_intervals_and_plots(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "repo_root", lambda: tmp_path)
    core = {k: 1.0 for k in results.CORE_METRICS}
    core["fd"] = results.interval(2.0, 1.5, 2.5, n=16)
    core["params"], core["train_s"] = 2_500_000, 30.0
    results.save_model("smoke", "m", core, chapter="04_unet_ddpm")
    core2 = dict(core, fd=results.not_applicable("notes"), params=60_000)
    results.save_model("smoke", "l", core2, chapter="07_lstm_tokens")
    t = rc.model_table("smoke")
    assert list(t.index) == ["m", "l"]
    assert t.loc["m", "FD"] == "2.00 [1.50, 2.50]" and t.loc["l", "FD"] == "n/a"
    assert t.loc["m", "parameters"] == "2.50 M" and t.loc["m", "maqam accuracy on"] == rc.MAQAM_ACC_ON["04_unet_ddpm"]
    fig, ax = plt.subplots()
    rc.quality_vs_compute(ax, results.table("smoke"), "fd", "params")
    assert len(ax.lines) + len(ax.containers) >= 1 and ax.get_xscale() == "log"
    plt.close(fig)


def test_fmt_difference_and_side_of_zero():
    assert rc.fmt_difference(0.14, 0.05, 0.24) == "+0.14 [+0.05, +0.24]"
    assert rc.fmt_difference(-0.02, -0.09, 0.15) == "-0.02 [-0.09, +0.15]"
    assert rc.fmt_difference(0.5, None, math.nan) == "+0.50" and rc.fmt_difference(None, 0, 1) == "n/a"
    assert rc.fmt_difference(np.float64(3), 1, 5, digits=0) == "+3 [+1, +5]"
    assert rc.side_of_zero(0.05, 0.24) == "above" and rc.side_of_zero(-0.3, -0.01) == "below"
    assert rc.side_of_zero(-0.09, 0.15) == "not distinguishable from"
    assert rc.side_of_zero(0.0, 0.2) == "not distinguishable from"  # touching 0 is not apart


def test_fmt_interval():
    assert rc.fmt_interval(0.5, 0.25, 0.75) == "0.50 [0.25, 0.75]"
    assert rc.fmt_interval(0.5, None, None) == "0.50" and rc.fmt_interval(None, 0, 1) == "n/a"
    assert rc.fmt_interval(math.nan, 0, 1) == "n/a" and rc.fmt_interval(np.float64(1), 0, 2, digits=0) == "1 [0, 2]"


def test_every_claim_links_to_a_labelled_section_of_its_chapter():
    from maqamgen import book

    sources = {md.stem: md.read_text() for md in book.chapters()}
    for c in rc.claims({}):
        assert f"({c.section})=\n#" in sources[c.chapter], (c.key, c.section)
    md = rc.claims_markdown(rc.claims({}))
    assert md.count("\n") == len(rc.CLAIMS) + 1 and md.count("{ref}`ch0") == len(rc.CLAIMS)
    assert "**open**" in md


def test_window_table_reads_each_model_against_its_real_row():
    recs = _latent_records((0.1, 0.0, 0.2), (0.9, 0.8, 0.95), (0.8, 0.7, 0.9), (0.85, 0.75, 0.95))
    wt = rc.window_table(recs)
    assert list(wt.index) == ["U-Net DDPM (Ch. 4), stitched", "latent U-Net (Ch. 6)"]
    assert list(wt["separation"]) == [-1, 0] and list(wt["tonic"]) == ["read", "given"]
    shown = rc.format_window_table(wt)
    assert shown.loc["latent U-Net (Ch. 6)", "generated"] == "0.80 [0.70, 0.90]"
    assert shown.loc["U-Net DDPM (Ch. 4), stitched", "verdict"] == "below its real row"
    fig, axes = plt.subplots(1, 2)
    rc.plot_window_table(axes[0], wt, chance=0.125)
    assert len(axes[0].patches) == 4
    axes[1].plot([0, 1], label="a")
    axes[0].plot([0, 1], label="a")
    _, labels = rc.merged_legend(axes)
    assert labels.count("a") == 1 and "real row" in labels
    plt.close(fig)
    assert rc.window_table({}).empty


def test_model_cards_list_what_is_measurably_worse_than_real():
    def iv(v, lo, hi):
        return {"value": v, "lo": lo, "hi": hi}
    core = {k: None for k in results.CORE_METRICS}
    core.update(fd=iv(5.0, 4.0, 6.0), maqam_acc_estimator=iv(0.5, 0.3, 0.7), seam_jump_ratio=iv(1.3, 1.2, 1.4),
                params=1_000_000, train_s=12.0)
    real = {"fd": 1.0, "fd_lo": 0.5, "fd_hi": 2.0, "est_acc": 0.6, "est_acc_lo": 0.4, "est_acc_hi": 0.8}
    recs = {"m": {"kind": "model", "chapter": "04_unet_ddpm", "corpus": "abc",
                  "metrics": {"core": core, "extras": {"real": real, "steps": 100}}},
            "dit": {"kind": "model", "chapter": "08_dit", "metrics": {"core": core, "extras": {}}},
            "other": {"kind": None, "metrics": {}}}
    worse, level = rc.failure_modes(recs, "m")
    assert [w.split(" ")[0] for w in worse] == ["FD", "seam"] and level[0].startswith("maqam accuracy")
    assert rc.real_row(recs, "dit") is None  # no Chapter 6 record to borrow the real row from
    cards = rc.model_cards(recs)
    assert list(cards.index) == ["m", "dit"]
    assert cards.loc["dit", "measurably worse than real"].startswith("seam ratio")  # against 1, no real row needed
    assert cards.loc["dit", "cannot be told from real"] == "none"
    md = rc.cards_markdown(cards)
    assert "**m** (chapter `04_unet_ddpm`)" in md and "1.00 M parameters, trained 12 s" in md and "steps 100" in md


def test_ornament_claim_reads_the_paired_difference_where_the_record_has_it():
    def f1(v, lo, hi):
        return {"f1": v, "f1_lo": lo, "f1_hi": hi}
    control = {"vibrato/asked": f1(0.20, 0.10, 0.30), "vibrato/not told": f1(0.08, 0.02, 0.15),
               "slide/asked": f1(0.26, 0.17, 0.34), "slide/not told": f1(0.16, 0.11, 0.23)}
    recs = {"08_dit": _rec({"control": control})}
    c = rc.claim_ornament_control(recs)
    assert c.verdict == "not shown" and "difference" not in c.figure  # the separate intervals overlap
    paired = {"vibrato": f1(0.12, 0.04, 0.20), "slide": f1(0.10, -0.02, 0.21)}
    c = rc.claim_ornament_control({"08_dit": _rec({"control": control, "control_difference": paired})})
    assert c.verdict == "reproduced" and "difference +0.12 [+0.04, +0.20]" in c.figure
    paired["slide"] = f1(-0.10, -0.18, -0.03)
    c = rc.claim_ornament_control({"08_dit": _rec({"control": control, "control_difference": paired})})
    assert c.verdict == "not shown"  # one kind each way
    paired = {"vibrato": f1(-0.1, -0.2, -0.01), "slide": f1(0.0, -0.1, 0.1)}
    c = rc.claim_ornament_control({"08_dit": _rec({"control": control, "control_difference": paired})})
    assert c.verdict == "contradicted"


def test_ornament_claim_also_reads_the_real_plans():
    def f1(v, lo, hi):
        return {"f1": v, "f1_lo": lo, "f1_hi": hi}
    control = {"vibrato/asked": f1(0.20, 0.10, 0.30), "vibrato/not told": f1(0.08, 0.02, 0.15)}
    paired = {"vibrato": f1(0.05, -0.01, 0.12)}  # the fixed span alone shows nothing
    c = rc.claim_ornament_control({"08_dit": _rec({"control": control, "control_difference": paired})})
    assert c.verdict == "not shown"
    plans = {"vibrato": f1(0.14, 0.05, 0.25), "slide": f1(0.19, 0.03, 0.37)}
    c = rc.claim_ornament_control({"08_dit": _rec({"control": control, "control_difference": paired,
                                                   "plan_difference": plans})})
    assert c.verdict == "reproduced" and "real plans: difference +0.14 [+0.05, +0.25]" in c.figure
    plans["slide"] = f1(-0.2, -0.3, -0.1)
    c = rc.claim_ornament_control({"08_dit": _rec({"control": control, "control_difference": paired,
                                                   "plan_difference": plans})})
    assert c.verdict == "not shown"  # one kind each way
    # a record from before the real plans were asked reads as it did
    c = rc.claim_ornament_control({"08_dit": _rec({"control": control, "control_difference": paired,
                                                   "plan_difference": {}})})
    assert c.verdict == "not shown" and "real plans" not in c.figure
