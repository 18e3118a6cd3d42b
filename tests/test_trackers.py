"""Tests of maqamgen.trackers: the FCPE tracker on Karplus-Strong plucks (tests/ks_oud.py, made by
another method than the corpus), silence, bad input; the track type with metrics.pitch_fidelity;
intonation against a maqam's degrees; agreement of two tracks (octave errors apart); the
validation table on a tiny stand-in corpus."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ks_oud  # noqa: E402

from maqamgen import estimate as E  # noqa: E402
from maqamgen import maqam as mq  # noqa: E402
from maqamgen import metrics  # noqa: E402
from maqamgen import trackers as T  # noqa: E402
from maqamgen.errors import AudioError, ConfigError  # noqa: E402

SR = 22050
PITCHES = (196.0, 233.08, 311.13)  # G3, B-flat 3, E-flat 4: off any 10- or 20-cent grid of 10 Hz
DUR = 0.8


@pytest.fixture(scope="module")
def plucks():
    """Three Karplus-Strong notes, their (onset, offset, f0) rows and the FCPE track."""
    y = ks_oud.render_ks(PITCHES, [DUR] * len(PITCHES), sr=SR, seed=1)
    notes = [(i * DUR, (i + 1) * DUR, f) for i, f in enumerate(PITCHES)]
    return y, notes, T.fcpe_track(y, SR)


def _track(f0_hz, hop_s=0.01) -> E.PitchTrack:
    f0 = np.asarray(f0_hz, dtype=float)
    return E.PitchTrack(times=np.arange(f0.size) * hop_s, f0_hz=f0,
                        voiced_prob=np.where(np.isfinite(f0), 1.0, 0.0), hop_s=hop_s)


def test_weights_ship_in_the_wheel():
    path = T.fcpe_weights_path()
    assert path.is_file() and path.name.endswith(".pt") and path.stat().st_size > 1_000_000
    assert T.fcpe_model() is T.fcpe_model()  # loaded once per process


def test_fcpe_convolutions_are_torchfcpes(plucks):
    """The judge computes FCPE's depthwise convolutions as shifted multiply-adds
    (maqamgen.nets.depthwise): its posteriors are the stock network's."""
    import copy

    import torch

    from maqamgen.nets.depthwise import ShiftedDepthwiseConv1d

    model = T.fcpe_model()
    shifted = [m for m in model.modules() if type(m) is ShiftedDepthwiseConv1d]
    assert len(shifted) == 6 and all(m.kernel_size == (31,) for m in shifted)
    stock = copy.deepcopy(model)
    for m in stock.modules():
        if type(m) is ShiftedDepthwiseConv1d:
            m.__class__ = torch.nn.Conv1d
    y = plucks[0]
    from scipy import signal

    wav = torch.from_numpy(signal.resample_poly(y, 320, 441).astype(np.float32))[None, :, None]
    with torch.no_grad():
        mel = model.wav2mel(wav, T.FCPE_SR)
        torch.testing.assert_close(model.model(mel), stock.model(mel), atol=1e-4, rtol=1e-4)


def test_fcpe_on_plucked_tones_within_a_few_cents(plucks):
    y, notes, tr = plucks
    assert isinstance(tr, E.PitchTrack)
    assert tr.hop_s == pytest.approx(0.01) and tr.times.shape == tr.f0_hz.shape == tr.voiced_prob.shape
    assert abs(tr.times[-1] - len(y) / SR) < 0.02
    truth = metrics.note_pitch_at(tr.times, notes, follow_ornaments=False)
    use = tr.voiced & np.isfinite(truth)
    assert use.mean() > 0.8
    err = np.abs(1200 * np.log2(tr.f0_hz[use] / truth[use]))
    assert np.median(err) < 5.0
    assert np.all((tr.voiced_prob > T.FCPE_THRESHOLD) == tr.voiced)


def test_track_type_works_with_pitch_fidelity(plucks):
    y, notes, tr = plucks
    pf = metrics.pitch_fidelity(tr, notes, follow_ornaments=False)
    assert pf["within"] > 0.9 and pf["median_abs_cents"] < 5.0 and pf["octave_share"] == 0.0
    assert pf["voiced_recall"] > 0.9
    pf_pyin = metrics.pitch_fidelity(T.track(y, SR, "pyin"), notes, follow_ornaments=False)
    assert pf_pyin["within"] > 0.8


def test_fcpe_is_deterministic_and_resamples(plucks):
    y, notes, tr = plucks
    again = T.fcpe_track(y, SR)
    np.testing.assert_array_equal(again.f0_hz, tr.f0_hz)
    from scipy import signal

    y16 = signal.resample_poly(y, 320, 441).astype(np.float32)
    direct = T.fcpe_track(y16, T.FCPE_SR)
    np.testing.assert_allclose(direct.f0_hz, tr.f0_hz, rtol=1e-5)


def test_fcpe_coarser_hop(plucks):
    y, notes, tr = plucks
    coarse = T.fcpe_track(y, SR, hop_s=0.03)
    assert coarse.hop_s == pytest.approx(0.03)
    assert np.all(np.diff(coarse.times) == pytest.approx(0.03))
    assert metrics.pitch_fidelity(coarse, notes, follow_ornaments=False)["within"] > 0.9


def test_silence_and_noise_are_unvoiced():
    tr = T.fcpe_track(np.zeros(SR, np.float32), SR)
    assert tr.times.size > 90 and not tr.voiced.any() and tr.voiced_seconds == 0.0
    noise = np.random.default_rng(0).normal(0.0, 0.1, SR).astype(np.float32)
    assert T.fcpe_track(noise, SR).voiced.mean() < 0.05


@pytest.mark.parametrize("y,sr,match", [
    (np.zeros(0, np.float32), SR, "no samples"),
    (np.array([0.0, np.nan, 0.1] * 100, np.float32), SR, "non-finite"),
    (np.zeros((2, 4000), np.float32), SR, "mono"),
    (np.zeros(4000, np.float32), 0, "sample rate"),
])
def test_bad_audio_is_refused(y, sr, match):
    with pytest.raises(AudioError, match=match):
        T.fcpe_track(y, sr)
    with pytest.raises(AudioError, match=match):
        T.track(y, sr, "pyin")


def test_bad_options_are_refused():
    y = np.zeros(4000, np.float32)
    with pytest.raises(ConfigError, match="unknown pitch tracker 'crepe'"):
        T.track(y, SR, "crepe")
    with pytest.raises(ConfigError, match="hop_s"):
        T.fcpe_track(y, SR, hop_s=0.001)
    with pytest.raises(ConfigError, match="threshold"):
        T.fcpe_track(y, SR, threshold=1.5)
    with pytest.raises(ConfigError, match="unknown maqam"):
        T.intonation(_track([220.0]), "nosuch", 220.0)
    with pytest.raises(ConfigError, match="tonic_hz"):
        T.intonation(_track([220.0]), "rast", -1.0)
    with pytest.raises(ConfigError, match="unknown pitch tracker"):
        T.validate_trackers(None, trackers=("pyin", "swipe"))


def test_trackers_registry():
    assert T.TRACKERS == {"pyin": E.pitch_track, "fcpe": T.fcpe_track}


def test_intonation_on_and_off_the_degrees():
    tonic = 146.83  # D3
    pcs = mq.pitch_classes_cents("bayati")
    on = tonic * 2.0 ** (np.concatenate([pcs - 1200, pcs, pcs + 1200]) / 1200.0)
    r = T.intonation(_track(np.append(on, np.nan)), "bayati", tonic)
    assert r["within"] == 1.0 and r["median_abs_cents"] == pytest.approx(0.0, abs=1e-6)
    assert r["n_frames"] == on.size
    # ajam on 24-TET is the major scale (gaps of 100 cents or more): 50 cents up lies off them all
    pcs24 = mq.pitch_classes_cents("ajam", practice=False)
    off = tonic * 2.0 ** ((pcs24 + 50.0) / 1200.0)
    r = T.intonation(_track(off), "ajam", tonic, practice=False)
    assert r["within"] == 0.0 and r["median_abs_cents"] == pytest.approx(50.0)
    none = T.intonation(_track([np.nan, np.nan]), "ajam", tonic)
    assert none["n_frames"] == 0 and np.isnan(none["within"])


def test_intonation_of_a_plucked_degree(plucks):
    y, notes, tr = plucks
    # G3, B-flat 3 and E-flat 4 are degrees (1, 3, 6) of kurd on G: tonic G, 24-TET.
    r = T.intonation(tr, "kurd", 196.0 * 2, practice=False)  # any octave of the tonic
    assert r["within"] > 0.9 and r["median_abs_cents"] < 5.0


def test_agreement_with_itself_and_octave_errors(plucks):
    y, notes, tr = plucks
    same = T.tracker_agreement(tr, tr)
    assert same["within"] == 1.0 and same["median_abs_cents"] == 0.0 and same["octave_share"] == 0.0
    assert same["voicing_agreement"] == 1.0 and same["n_frames"] == int(tr.voiced.sum())
    up = E.PitchTrack(tr.times, tr.f0_hz * 2.0, tr.voiced_prob, tr.hop_s)
    octv = T.tracker_agreement(up, tr)
    assert octv["within"] == 0.0 and octv["within_mod_octave"] == 1.0 and octv["octave_share"] == 1.0
    assert octv["median_abs_cents"] == pytest.approx(1200.0)


def test_agreement_across_hops():
    a = _track(np.full(100, 220.0), hop_s=0.01)
    b = _track(np.full(30, 220.0 * 2 ** (20 / 1200)), hop_s=0.0348)
    r = T.tracker_agreement(a, b, tol_cents=50.0)
    assert r["within"] == 1.0 and r["median_abs_cents"] == pytest.approx(20.0)
    assert r["n_frames"] == r["n_pairs"] == 100
    assert T.tracker_agreement(a, b, tol_cents=10.0)["within"] == 0.0


@dataclass(frozen=True)
class _Clip:
    id: str
    maqam: str
    tonic_hz: float


class _Corpus:
    """Stand-in for maqamgen.corpus.Corpus: two Karplus-Strong clips with known notes."""

    def __init__(self):
        self.clips = [_Clip("kurd-0", "kurd", 196.0), _Clip("kurd-1", "kurd", 196.0)]

    def split(self, name):
        return self.clips if name == "test" else []

    def audio(self, clip):
        i = int(clip.id[-1])
        return ks_oud.render_ks(PITCHES[i:] + PITCHES[:i], [DUR] * 3, sr=SR, seed=i), SR

    def notes(self, clip):
        i = int(clip.id[-1])
        ps = PITCHES[i:] + PITCHES[:i]
        return [(k * DUR, (k + 1) * DUR, f) for k, f in enumerate(ps)], {}


def test_validate_trackers_table():
    df = T.validate_trackers(_Corpus(), split="test", seconds=2.0, n_boot=50)
    assert list(zip(df["tracker"], df["reference"])) == [("pyin", "notes"), ("fcpe", "notes"),
                                                          ("fcpe", "pyin")]
    assert (df["n_clips"] == 2).all()
    fc = df.set_index(["tracker", "reference"]).loc[("fcpe", "notes")]
    assert fc["within"] > 0.8 and fc["median_abs_cents"] < 10.0 and fc["in_scale"] > 0.8
    assert fc["within_lo"] <= fc["within"] <= fc["within_hi"]
    pair = df.set_index(["tracker", "reference"]).loc[("fcpe", "pyin")]
    assert pair["within"] > 0.8 and np.isnan(pair["voiced_recall"])
    assert len(df.attrs["clips"]) == 6
    with pytest.raises(ConfigError, match="no clips"):
        T.validate_trackers(_Corpus(), split="train")
