"""Chapter 7 helpers and the `maqamgen train lstm` / `generate lstm` commands."""

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from types import SimpleNamespace

from maqamgen import cli, config, data, metrics, notes as notes_io, synth
from maqamgen.errors import ConfigError
from maqamgen.nets.lstm import LSTMLM
from maqamgen.notes import Note
from maqamgen.recipes import ch07_lstm_tokens as lg
from maqamgen.tokens import TokenSpec


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def scale_notes(cents, dur=0.5, tonic=lg.REF_TONIC_HZ):
    return [Note(i * dur, (i + 1) * dur, tonic * 2 ** (c / 1200), 0.0) for i, c in enumerate(cents)]


# ----------------------------------------------------------------------------- judging continuations


def test_drift_windows_and_curves():
    # in scale for 4 s, then off the scale
    long = scale_notes([0, 100, 400, 500, 150, 250, 150, 250], dur=1.0)
    t, v = lg.windowed(long, 4.0, lambda ns: metrics.note_out_of_scale(ns, "hijaz", lg.REF_TONIC_HZ), 12.0)
    assert list(t) == [0.0, 4.0, 8.0] and v[0] == 0.0 and v[1] == 1.0 and math.isnan(v[2])
    ref = {"hijaz": metrics.note_pcd(long[:4], lg.REF_TONIC_HZ)}
    t, o, js = lg.drift_curves([long, long], ["hijaz", "hijaz"], ref, 4.0, 12.0)
    assert list(t) == [0.0, 4.0, 8.0] and o[0] == 0.0 and o[1] == 1.0 and math.isnan(o[2])
    assert js[0] == pytest.approx(0.0) and js[1] == pytest.approx(1.0) and math.isnan(js[2])


def test_drift_change_is_second_half_minus_first_with_an_interval():
    drifting = scale_notes([0, 100, 400, 500, 150, 250, 150, 250], dur=1.0)  # in scale, then off it
    steady = scale_notes([0, 100, 400, 500, 0, 100, 400, 500], dur=1.0)
    d = lg.drift_change([drifting, drifting, steady], ["hijaz"] * 3, 2.0, 8.0, n_boot=200)
    assert d["n"] == 3 and d["first"] == 0.0 and d["second"] == pytest.approx(2 / 3)
    assert d["change"] == pytest.approx(2 / 3) and 0.0 <= d["change_lo"] <= d["change"] <= d["change_hi"] <= 1.0
    assert lg.drift_change([drifting] * 3, ["hijaz"] * 3, 2.0, 8.0)["change_lo"] == pytest.approx(1.0)
    assert math.isnan(lg.drift_change([drifting], ["hijaz"], 2.0, 8.0)["change_lo"])  # one: no interval
    empty = lg.drift_change([drifting[:2]], ["hijaz"], 2.0, 8.0)  # nothing in the second half
    assert empty["n"] == 0 and math.isnan(empty["change"])


def test_generation_metrics_of_the_data_itself():
    notes = scale_notes([0, 100, 400, 500, 700, 500, 400, 100, 0])
    ref, iv = lg.reference_distributions([notes], ["hijaz"], ["hijaz"])
    g = lg.generation_metrics([notes], ["hijaz"], ref, iv)
    assert g["out_of_scale"] == 0 and g["note_pcd_js"] == 0 and g["interval_js"] == 0
    assert math.isclose(g["notes_per_s"], 2.0)
    # nothing generated, or one note (no interval): NaN, not an error
    g = lg.generation_metrics([[], notes[:1]], ["hijaz", "hijaz"], ref, iv)
    assert g["out_of_scale"] == 0 and math.isnan(g["interval_js"])
    d = lg.symbolic_divergences(notes[:1], ref["hijaz"], iv, lg.REF_TONIC_HZ)
    assert 0 < d["note_pcd_js"] <= 1 and math.isnan(d["interval_js"])


def _varied_continuations(n=12, seed=3):
    rng = np.random.default_rng(seed)
    conts = []
    for _ in range(n):
        cents = rng.choice([0, 100, 150, 400, 500, 650, 700, 850, 1000], size=rng.integers(2, 9))
        conts.append(scale_notes(list(cents), dur=float(rng.uniform(0.2, 0.6))))
    return conts


def test_generation_metrics_carry_intervals_deterministically():
    data_notes = scale_notes([0, 100, 400, 500, 700, 500, 400, 100, 0])
    ref, iv = lg.reference_distributions([data_notes], ["hijaz"], ["hijaz"])
    conts = _varied_continuations()
    g = lg.generation_metrics(conts, ["hijaz"] * len(conts), ref, iv, n_boot=300, seed=1)
    assert g["n"] == len(conts)
    for k in lg.GEN_KEYS:
        v, lo, hi = g[k], g[f"{k}_lo"], g[f"{k}_hi"]
        assert all(math.isfinite(x) for x in (v, lo, hi)), k
        assert lo <= hi, k
        if k in ("out_of_scale", "note_pcd_js"):  # per-item means: percentile bootstrap around the mean
            assert lo <= v <= hi, k
        else:  # set statistics: the bias-shifted interval is centred near the value, not bound to contain it
            assert lo - (hi - lo) <= v <= hi + (hi - lo), k
    assert 0 < g["out_of_scale"] < 1 and g["out_of_scale_hi"] <= 1
    assert g == lg.generation_metrics(conts, ["hijaz"] * len(conts), ref, iv, n_boot=300, seed=1)
    # the point values do not depend on the bootstrap
    g0 = lg.generation_metrics(conts, ["hijaz"] * len(conts), ref, iv, n_boot=0)
    assert all(g0[k] == g[k] for k in lg.GEN_KEYS) and math.isnan(g0["interval_js_lo"])
    # fewer than MIN_ITEMS continuations: values but no intervals, for every measure alike
    few = conts[: lg.MIN_ITEMS - 1]
    f = lg.generation_metrics(few, ["hijaz"] * len(few), ref, iv, n_boot=50)
    for k in lg.GEN_KEYS:
        assert math.isfinite(f[k]) and math.isnan(f[f"{k}_lo"]) and math.isnan(f[f"{k}_hi"]), k
    # nothing generated: NaN everywhere, no error
    e = lg.generation_metrics([[], []], ["hijaz", "hijaz"], ref, iv, n_boot=50)
    assert e["n"] == 0 and e["notes_per_s"] == 0  # no notes in no time, as before the intervals
    assert all(math.isnan(e[k + b]) for k in lg.GEN_KEYS for b in ("", "_lo", "_hi") if k + b != "notes_per_s")


def test_separation_verdicts_and_seed_spread():
    assert lg.separation((0.1, 0.05, 0.15), (0.5, 0.4, 0.6)) == -1
    assert lg.separation((0.5, 0.4, 0.6), (0.1, 0.05, 0.15)) == 1
    assert lg.separation((0.1, 0.05, 0.45), (0.5, 0.4, 0.6)) == 0
    assert lg.separation((0.1, float("nan"), 0.2), (0.5, 0.4, 0.6)) == 0
    assert "is lower than" in lg.compare_verdict("x", "A", (0.1, 0.05, 0.15), "B", (0.5, 0.4, 0.6))
    assert "cannot be told apart" in lg.compare_verdict("x", "A", (0.1, 0.05, 0.45), "B", (0.5, 0.4, 0.6))
    apart = lg.seed_spread([0.1, 0.5, 0.3], [0.05, 0.45, 0.25], [0.15, 0.55, 0.35], n_boot=200)
    assert apart["seeds_matter"] and apart["min"] == 0.1 and apart["max"] == 0.5 and apart["n_seeds"] == 3
    assert apart["mean_lo"] <= apart["mean"] <= apart["mean_hi"]
    assert apart["within_width"] == pytest.approx(0.1)
    close = lg.seed_spread([0.1, 0.12], [0.0, 0.02], [0.3, 0.32], n_boot=200)
    assert close["seeds_matter"] is False
    one = lg.seed_spread([0.1, 0.5], [0.05, float("nan")], [0.15, float("nan")], n_boot=200)
    assert one["seeds_matter"] is None  # one seed's interval: cannot be told
    assert apart == lg.seed_spread([0.1, 0.5, 0.3], [0.05, 0.45, 0.25], [0.15, 0.55, 0.35], n_boot=200)


def test_judge_indices_round_robin():
    clips = [SimpleNamespace(maqam=m) for m in ["a", "a", "b", "c", "b", "a"]]
    assert lg.judge_indices(clips, ["a", "b", "c"], 5) == [0, 2, 3, 1, 4]
    assert lg.judge_indices(clips, ["c"], 9) == [3]


def test_adherence_counts_and_interval():
    est = [SimpleNamespace(maqam="hijaz", tonic_hz=220.0), None,
           SimpleNamespace(maqam="rast", tonic_hz=100.0), SimpleNamespace(maqam="rast", tonic_hz=131.0)]
    a = lg.adherence(est, ["hijaz", "hijaz", "bayati", "rast"], [110.0, 110.0, 110.0, 130.81])
    assert a["maqam adherence"] == 0.5 and a["correct"] == 2 and a["of"] == 4
    assert a["low"] < 0.5 < a["high"] and a["tonic found"] == 0.5
    assert a["judged by the estimator as"] == "hijaz, -, rast, rast"


def test_model_record_follows_the_schema(tmp_path, monkeypatch):
    from maqamgen import results

    spec = TokenSpec(fmt="1d")
    run = lg.Run(LSTMLM(lg.model_config(spec, "tiny")), spec, "ce", [], [], 1.5, True, tmp_path)
    est = [SimpleNamespace(maqam="hijaz", tonic_hz=110.0), None]
    adh = lg.adherence(est, ["hijaz", "rast"], [110.0, 110.0])
    core, extras = lg.model_record(run, adh, gen_s=0.5, music_s=10.0, extras={"note_pcd_js": 0.2})
    assert set(core) == set(results.CORE_METRICS)
    results._check_core("lstm_1d", core)  # raises ConfigError otherwise
    assert core["params"] == sum(p.numel() for p in run.model.parameters())
    assert core["train_s"] == 1.5 and core["gen_s_per_audio_s"] == 0.05
    acc = core["maqam_acc_estimator"]
    assert acc["value"] == 0.5 and acc["n"] == 2 and acc["lo"] < 0.5 < acc["hi"]
    for k in ("fd", "maqam_acc_classifier", "pcd_js_audio", "frame_dist", "seam_jump_ratio",
              "hallucination_index"):
        assert set(core[k]) == {"na"} and core[k]["na"], k
    assert extras == {"note_pcd_js": 0.2}
    monkeypatch.setattr(results, "results_dir", lambda profile: tmp_path)
    path = results.save_model("test", "lstm_1d", core, extras, chapter="07_lstm_tokens", seed=0)
    results.validate(json.loads(path.read_text()))


# ----------------------------------------------------------------------------- tokens and likelihood


def test_prompt_of_lasts_the_seconds_asked():
    notes = scale_notes([0, 200, 350, 500], dur=0.5)
    for fmt in ("1d", "2d"):
        spec = TokenSpec(fmt=fmt)
        p = lg.prompt_of(spec.encode(notes), spec, 1.0)
        assert math.isclose(spec.seconds(p[1:]), 1.0, abs_tol=0.07)
    assert lg.pitch_tokens_used([TokenSpec().encode(notes)], TokenSpec().vocab) == 4


def test_ngram_baselines_and_per_second_units():
    spec = TokenSpec(fmt="1d", rate_hz=8.0)
    piece = spec.encode(scale_notes([0, 700] * 20, dur=0.125))  # strict alternation: a bigram knows it all
    uni = lg.ngram_nll([piece], [piece], spec, 1, alpha=1e-6)
    bi = lg.ngram_nll([piece], [piece], spec, 2, alpha=1e-6)
    assert math.isclose(uni["nats_per_token"], math.log(2), rel_tol=1e-3)
    assert bi["nats_per_token"] < 0.01
    assert math.isclose(uni["nats_per_second"], 8.0 * uni["nats_per_token"], rel_tol=1e-6)


def test_train_lm_learns_caches_and_evaluates(tmp_path, monkeypatch):
    monkeypatch.setattr(lg, "cache_dir", lambda *parts: tmp_path.joinpath(*parts))
    spec = TokenSpec(fmt="1d", rate_hz=8.0)
    pieces = [spec.encode(scale_notes([0, 700, 400] * 12, dur=0.125))] * 4
    mcfg = lg.model_config(spec, "tiny")
    tcfg = config.TrainConfig(steps=60, batch_size=4, lr=1e-2, optimizer="adam", ema_decay=None,
                              progress=False, device="cpu")
    run = lg.train_lm(pieces, spec, mcfg, tcfg, window=16, val_pieces=pieces[:1], val_every=20)
    assert not run.cached and [s for s, _ in run.val] == [20, 40, 60]
    e = lg.evaluate(run.model, pieces[:1], spec)
    assert e["nats_per_token"] < 0.3 and e["accuracy"] > 0.9
    assert math.isclose(e["nats_per_second"], 8.0 * e["nats_per_token"], rel_tol=1e-6)
    again = lg.train_lm(pieces, spec, mcfg, tcfg, window=16, val_pieces=pieces[:1], val_every=20)
    assert again.cached and again.folder == run.folder
    assert lg.evaluate(again.model, pieces[:1], spec)["nats_per_token"] == pytest.approx(e["nats_per_token"])
    cont = lg.continuation(run.model, spec, lg.prompt_of(pieces[0], spec, 1.0), 2.0, seed=0)
    assert cont.shape == (16,)
    ind = lg.train_lm(pieces, spec, mcfg, tcfg.replace(steps=5), window=16, independent=True)
    assert ind.tokens_per_step == 64  # 4 windows x 16 tokens -> 64 one-token examples


def test_runs_train_the_reference_run_with_one_change(tmp_path, monkeypatch):
    monkeypatch.setattr(lg, "cache_dir", lambda *parts: tmp_path.joinpath(*parts))
    cfg = config.LSTMChapterConfig(preset="tiny", train=config.LSTMChapterConfig.training(steps=3, batch_size=2),
                                   val_every=3, window=8)
    spec = TokenSpec()
    pieces = [spec.encode(scale_notes([0, 700, 400] * 6, dur=0.125))] * 2
    runs = lg.Runs(cfg, seed=1)
    r = runs.train("ref", pieces, spec, val_pieces=pieces[:1])
    assert runs["ref"] is r and r.meta["train"]["seed"] == 1 and r.meta["window"] == 8
    assert [s for s, _ in r.val] == [3] and r.meta["model"]["hidden_size"] == 32  # the tiny preset
    sgd = runs.train("sgd", pieces, spec, seed=0, optimizer="sgd")
    assert sgd.meta["train"]["optimizer"] == "sgd" and sgd.meta["train"]["lr"] == cfg.lr_sgd and not sgd.val
    conts = lg.continue_prompts(r, [spec.bos(), lg.prompt_of(pieces[0], spec, 0.5)], 1.0, seed=3)
    assert len(conts) == 2 and conts == lg.continue_prompts(r, [spec.bos(), lg.prompt_of(pieces[0], spec, 0.5)],
                                                            1.0, seed=3)


def test_losses_and_two_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(lg, "cache_dir", lambda *parts: tmp_path.joinpath(*parts))
    notes = scale_notes([0, 700, 400, 500] * 6, dur=0.25)
    tcfg = config.TrainConfig(steps=4, batch_size=2, progress=False, device="cpu", ema_decay=None)
    spec2 = TokenSpec(fmt="2d")
    with pytest.raises(ConfigError):
        lg.train_lm([spec2.encode(notes)], spec2, lg.model_config(spec2, "tiny", embed_dim=8, hidden_size=8), tcfg, loss="mse")
    with pytest.raises(ConfigError):
        lg.make_loss("hinge")
    r2 = lg.train_lm([spec2.encode(notes)] * 2, spec2, lg.model_config(spec2, "tiny", embed_dim=8, hidden_size=8), tcfg,
                     loss="label_smoothing")
    cont = lg.continuation(r2.model, spec2, spec2.bos(), 3.0, seed=1)
    assert cont.shape[1] == 2 and spec2.seconds(cont) >= 3.0 - 1e-9
    spec1 = TokenSpec(fmt="1d")
    r1 = lg.train_lm([spec1.encode(notes)] * 2, spec1, lg.model_config(spec1, "tiny", embed_dim=8, hidden_size=8), tcfg, loss="mse")
    out = lg.continuation(r1.model, spec1, spec1.bos(), 1.0, loss="mse")
    assert out.shape == (8,) and (out >= 3).all()  # greedy regression: REST or pitches only


# ----------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def perf_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("perf")
    notes, meta = synth.performance(40, 200, seed=2)
    return notes_io.write_notes(d / "taqsim.json", notes, meta)


def test_cli_train_generate_resume_end_to_end(tmp_path, perf_file, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "lstm", "--notes", str(perf_file), "--profile", "smoke", "-o", str(run_dir),
            "--steps", "4", "--seconds", "3"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "validation" in out and "nats/token" in out
    for name in ("checkpoint.pt", "losses.csv", "run.json", "continuation.json", "continuation.mid",
                 "continuation.wav"):
        assert (run_dir / name).is_file(), name
    cont, _ = notes_io.read_notes(run_dir / "continuation.json")
    assert cont and max(n.offset for n in cont) <= 3.0 + 1e-6
    assert data.read_midi(run_dir / "continuation.mid")
    assert sf.info(run_dir / "continuation.wav").samplerate == 22050
    # resume to more steps
    assert cli.main(args[:-4] + ["--steps", "6", "--seconds", "2", "--resume"]) == 0
    assert json.loads((run_dir / "run.json").read_text())["steps"] == 6
    # generate in the three formats
    for ext in ("json", "mid", "wav"):
        dest = tmp_path / f"gen.{ext}"
        assert cli.main(["generate", "lstm", "--checkpoint", str(run_dir), "--seconds", "2", "-o", str(dest)]) == 0
        assert dest.is_file() and dest.stat().st_size > 0
    a, _ = notes_io.read_notes(tmp_path / "gen.json")
    assert cli.main(["generate", "lstm", "--checkpoint", str(run_dir), "--seconds", "2", "-o",
                     str(tmp_path / "gen2.json")]) == 0
    b, _ = notes_io.read_notes(tmp_path / "gen2.json")
    assert a == b  # same seed, same notes


def test_cli_train_2d(tmp_path, perf_file):
    assert cli.main(["train", "lstm", "--notes", str(perf_file), "--tokens", "2d", "--profile", "smoke",
                     "-o", str(tmp_path / "r2"), "--steps", "3", "--seconds", "2"]) == 0
    assert json.loads((tmp_path / "r2" / "run.json").read_text())["spec"]["fmt"] == "2d"


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ('{"notes": [[0, 1, "high", 0]]}', "notes[0]"),
])
def test_cli_bad_notes_exit_2_one_line(tmp_path, capsys, content, problem):
    src = tmp_path / "in.json"
    if content is not None:
        src.write_text(content)
    rc = cli.main(["train", "lstm", "--notes", str(src), "--profile", "smoke", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and str(src) in err[0] and problem in err[0]
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_cli_generate_bad_inputs(tmp_path, capsys):
    assert cli.main(["generate", "lstm", "--checkpoint", str(tmp_path), "--seconds", "2",
                     "-o", str(tmp_path / "x.mid")]) == 2
    assert "no run.json" in capsys.readouterr().err
    assert cli.main(["generate", "lstm", "--checkpoint", str(tmp_path), "--seconds", "2",
                     "-o", str(tmp_path / "x.txt")]) == 2
    assert "unknown output type" in capsys.readouterr().err
