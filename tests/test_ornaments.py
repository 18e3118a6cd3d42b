"""Tests of maqamgen.ornaments: each ornament recovered from a synthetic pitch track with known
parameters (vibrato rate and extent, a trill whole or cut by onsets, a slide), no false detection
on a steady note, risha tremolo from audio rendered by maqamgen.synth, the labels, the control
score's arithmetic, the ornament spec parser, and validate() on smoke-corpus clips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maqamgen import ornaments as O
from maqamgen import synth
from maqamgen.estimate import PitchTrack
from maqamgen.errors import ConfigError
from maqamgen.notes import Note

HOP = 0.01
F0 = 220.0


def _track(cents: np.ndarray, noise_cents: float = 1.5, seed: int = 0) -> PitchTrack:
    """A 10-ms pitch track of ``cents`` above F0, with a little Gaussian tracking noise."""
    rng = np.random.default_rng(seed)
    c = cents + rng.normal(0.0, noise_cents, cents.size)
    times = np.arange(cents.size) * HOP
    return PitchTrack(times=times, f0_hz=F0 * 2 ** (c / 1200.0), voiced_prob=np.ones(cents.size), hop_s=HOP)


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(round(seconds / HOP))) * HOP


@pytest.mark.parametrize("rate,depth", [(4.8, 12.0), (5.5, 25.0), (6.4, 18.0)])
def test_vibrato_rate_and_extent_recovered(rate, depth):
    t = _t(1.0)
    fade = np.minimum(t / 0.15, 1.0)
    found = O.detect(_track(depth * fade * np.sin(2 * np.pi * rate * t)), onsets=[0.0])
    assert [d.kind for d in found] == ["vibrato"]
    assert found[0].params["rate_hz"] == pytest.approx(rate, abs=0.15)
    assert found[0].params["depth_cents"] == pytest.approx(depth, abs=3.0)


def _trill_cents(t: np.ndarray, rate: float = 6.5, interval: float = 200.0) -> np.ndarray:
    return interval * np.clip(0.5 - 4.0 * np.cos(2 * np.pi * rate * t), 0.0, 1.0)  # as synth renders it


def test_trill_in_one_segment():
    t = _t(0.9)
    found = O.detect(_track(_trill_cents(t)), onsets=[0.0])
    assert [d.kind for d in found] == ["trill"]
    assert found[0].params["rate_hz"] == pytest.approx(6.5, abs=0.5)
    assert found[0].params["interval_cents"] == pytest.approx(200.0, abs=15.0)


def test_trill_cut_by_onsets_at_its_pitch_changes_is_one_trill():
    t = _t(0.9)
    c = _trill_cents(t)
    switches = t[1:][np.abs(np.diff((c > 100).astype(int))) > 0]
    found = O.detect(_track(c), onsets=np.concatenate([[0.0], switches]))
    assert [d.kind for d in found] == ["trill"]
    assert found[0].start_s < 0.05 and found[0].end_s > 0.8


def test_slide_into_a_steady_note():
    t = _t(0.5)
    x = np.clip(t / 0.1, 0.0, 1.0)
    found = O.detect(_track(-300.0 * (1 - x * x * (3 - 2 * x))), onsets=[0.0])
    assert [d.kind for d in found] == ["slide"]
    assert found[0].params["interval_cents"] == pytest.approx(-300.0, abs=40.0)
    assert 0.045 <= found[0].params["time_s"] <= 0.15


def test_steady_notes_and_plain_steps_are_not_ornaments():
    t = _t(2.0)
    steps = np.where(t < 0.7, 0.0, np.where(t < 1.4, 200.0, -150.0))  # three plain notes
    assert O.detect(_track(steps, noise_cents=3.0), onsets=[0.0, 0.7, 1.4]) == []
    assert O.detect(_track(np.zeros(100)), onsets=None) == []


def test_tremolo_from_synthesised_audio():
    sr = 22050
    notes = [Note(0.0, 0.5, 196.0), Note(0.5, 1.5, 220.0, ornament={"type": "tremolo", "rate_hz": 12.0}),
             Note(1.5, 2.0, 196.0)]
    y = synth.render(notes, sr=sr, seed=1)
    t = np.arange(0.0, len(y) / sr, HOP)
    f0 = np.interp(t, [0.0, 0.5, 0.5001, 1.5, 1.5001, 2.0], [196, 196, 220, 220, 196, 196])
    track = PitchTrack(times=t, f0_hz=np.where(t < 2.05, f0, np.nan), voiced_prob=(t < 2.05) * 1.0, hop_s=HOP)
    found = O.detect(track, y, sr)
    trem = [d for d in found if d.kind == "tremolo"]
    assert len(trem) == 1 and not [d for d in found if d.kind != "tremolo"]
    assert trem[0].start_s == pytest.approx(0.5, abs=0.06) and trem[0].end_s == pytest.approx(1.5, abs=0.12)
    assert trem[0].params["rate_hz"] == pytest.approx(12.0, abs=1.0)
    assert O.detect(track) == []  # without audio or onsets, no tremolo can be found
    with pytest.raises(ConfigError, match="sr"):
        O.detect(track, y)


def test_labels_and_frames():
    notes = [Note(0.0, 1.0, 220.0, ornament={"type": "vibrato", "rate_hz": 5.0, "depth_cents": 20.0}),
             Note(1.0, 1.3, 330.0, ornament={"type": "slide", "from_hz": 220.0, "time_s": 0.1}),
             Note(1.3, 1.5, 330.0)]
    labels = O.note_labels(notes)
    assert [d.kind for d in labels] == ["vibrato", "slide", "none"]
    assert labels[1].params["interval_cents"] == pytest.approx(1200 * math.log2(220 / 330))
    frames = O.frame_labels(labels, [0.5, 1.1, 1.4, 2.0])
    assert frames.tolist() == ["vibrato", "slide", "none", "none"]
    predicted, paired = O.match([O.Detection("vibrato", 0.1, 0.9, {}), O.Detection("trill", 1.35, 1.5, {})], labels)
    assert predicted == ["vibrato", "none", "trill"] and paired == [0, None]


def test_control_score_arithmetic():
    asked = [("vibrato", 2.0, 4.0), ("slide", 6.0, 6.5)]
    found = [O.Detection("vibrato", 3.0, 5.0, {}), O.Detection("slide", 6.0, 6.5, {})]
    s = O.control_score(found, asked, 10.0)
    assert s["vibrato"]["precision"] == pytest.approx(0.5, abs=0.01)
    assert s["vibrato"]["recall"] == pytest.approx(0.5, abs=0.01)
    assert s["vibrato"]["f1"] == pytest.approx(0.5, abs=0.01)
    assert s["slide"]["f1"] == pytest.approx(1.0)
    assert s["vibrato"]["asked_s"] == pytest.approx(2.0, abs=0.011)
    none = O.control_score([], [], 5.0, kinds=("trill",))["trill"]
    assert math.isnan(none["precision"]) and math.isnan(none["f1"])
    assert O.control_score(found, [], 10.0)["vibrato"]["f1"] == 0.0  # found where none was asked
    with pytest.raises(ConfigError, match="unknown ornament"):
        O.control_score(found, [("wobble", 0, 1)], 10.0)
    with pytest.raises(ConfigError, match="positive"):
        O.control_score(found, asked, 0.0)


def test_parse_ornament_spec_good():
    assert O.parse_ornament_spec("vibrato@2-4,slide@6", 10.0) == [("vibrato", 2.0, 4.0),
                                                                  ("slide", 6.0, 6.0 + O.POINT_SPAN_S)]
    assert O.parse_ornament_spec(" Trill @ 0.5 - 1.25 , tremolo@9.8", 10.0) == [("trill", 0.5, 1.25),
                                                                               ("tremolo", 9.8, 10.0)]
    assert O.parse_ornament_spec("", 10.0) == []


@pytest.mark.parametrize("spec,msg", [("vibrato", "kind@start-end"), ("vibrato@2-", "kind@start-end"),
                                      ("vibrato@a-b", "kind@start-end"), ("wobble@1-2", "unknown ornament"),
                                      ("none@1-2", "unknown ornament"), ("vibrato@4-2", "inside"),
                                      ("slide@12", "inside"), ("vibrato@2-11", "inside"),
                                      ("vibrato@1-2,,slide@3", "kind@start-end")])
def test_parse_ornament_spec_bad(spec, msg):
    with pytest.raises(ConfigError, match=msg):
        O.parse_ornament_spec(spec, 10.0)


def test_validate_on_smoke_clips(one_thread):
    from maqamgen import corpus

    df = O.validate(corpus.load("smoke", progress=False), "test", n=2)
    assert df["kind"].tolist() == [k for k in O.ORNAMENTS if k != "none"]
    for col in ("n_labelled", "n_detected", "precision", "precision_lo", "precision_hi", "recall",
                "recall_lo", "recall_hi", "f1", "rate_mae_hz", "depth_mae_cents", "interval_mae_cents"):
        assert col in df.columns
    conf = df.attrs["confusion"]
    assert list(conf.index) == list(O.ORNAMENTS) and list(conf.columns) == list(O.ORNAMENTS)
    assert int(conf.loc["vibrato"].sum()) == int(df.loc[df.kind == "vibrato", "n_labelled"].iloc[0])
    assert df.attrs["sec_per_audio_s"] > 0
    with pytest.raises(ConfigError):
        O.validate(corpus.load("smoke", progress=False), "test", tracker="nope")
