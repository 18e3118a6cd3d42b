"""Maqam scales built from ajnas."""

from __future__ import annotations

import numpy as np
import pytest

from maqamgen import maqam as mq
from maqamgen.errors import ConfigError

CORE = ["rast", "bayati", "sikah", "hijaz", "saba", "nahawand", "kurd", "ajam"]

EXPECTED = {  # cents above the tonic, from the usual 24-TET spelling
    "rast": [0, 200, 350, 500, 700, 900, 1050],  # C D E-hf F G A B-hf
    "bayati": [0, 150, 300, 500, 700, 800, 1000],  # D E-hf F G A Bb C
    "sikah": [0, 150, 350, 550, 700, 850, 1050],  # E-hf F G A B-hf C D
    "hijaz": [0, 100, 400, 500, 700, 800, 1000],  # D Eb F# G A Bb C
    "saba": [0, 150, 300, 400, 700, 800, 1000],  # D E-hf F Gb A Bb C
    "nahawand": [0, 200, 300, 500, 700, 800, 1100],  # C D Eb F G Ab B
    "kurd": [0, 100, 300, 500, 700, 800, 1000],  # D Eb F G A Bb C
    "ajam": [0, 200, 400, 500, 700, 900, 1100],  # Bb C D Eb F G A
}


@pytest.mark.parametrize("name", CORE)
def test_degrees(name):
    assert list(mq.get_maqam(name).degrees_cents) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(mq.MAQAMAT))
def test_steps_close_the_octave_in_quarter_tones(name):
    m = mq.MAQAMAT[name]
    assert sum(m.steps_qt) == 24 and sum(m.steps_cents) == 1200.0
    assert all(d % 50 == 0 for d in m.degrees_cents)
    assert len(m.degrees_cents) == 7 and m.degrees_cents[0] == 0.0
    assert np.all(np.diff(m.degrees_cents) > 0)


@pytest.mark.parametrize("name", sorted(mq.MAQAMAT))
def test_ajnas_sit_on_the_scale(name):
    m = mq.MAQAMAT[name]
    assert m.ajnas[0][1] == 0 and m.ajnas[1][1] == m.ghammaz
    steps = list(m.steps_qt) * 2
    for jins, start in m.ajnas:
        qt = mq.JINS_QT[jins]
        assert tuple(steps[start:start + len(qt)]) == qt, (name, jins)


def test_ajnas_sizes():
    cents = {k: 50 * sum(v) for k, v in mq.JINS_QT.items()}
    for tetrachord in ["rast", "bayati", "hijaz", "nahawand", "kurd", "ajam"]:
        assert cents[tetrachord] == 500  # a perfect fourth
    assert cents["sikah"] == 350 and cents["saba"] == 400 and cents["nikriz"] == 700


def test_hijaz_augmented_second():
    d = mq.get_maqam("hijaz").degrees_cents
    assert d[2] - d[1] == 300  # between the 2nd and 3rd degrees (Eb to F#)
    assert mq.JINS_QT["hijaz"] == (2, 6, 2)


def test_ghammaz():
    assert mq.get_maqam("rast").ghammaz == 4  # G over C
    assert mq.get_maqam("bayati").ghammaz == 3  # G over D
    assert mq.get_maqam("sikah").ghammaz == 2  # G over E-half-flat
    assert mq.get_maqam("saba").ghammaz == 2  # F over D


def test_typical_tonics():
    assert mq.get_maqam("rast").tonic_hz == pytest.approx(130.81)
    assert mq.get_maqam("hijaz").tonic_name == "D3"
    assert mq.get_maqam("hijaz").tonic_hz == pytest.approx(146.83)
    assert mq.get_maqam("sikah").tonic_hz == pytest.approx(146.83 * 2 ** (150 / 1200), abs=0.01)
    assert mq.get_maqam("ajam").tonic_name == "Bb2"


def test_unknown_name_lists_known_names():
    with pytest.raises(ConfigError) as e:
        mq.get_maqam("hijazkar_kurd")
    msg = str(e.value)
    assert "hijazkar_kurd" in msg
    for name in CORE:
        assert name in msg


def test_lookup_ignores_case():
    assert mq.get_maqam(" Hijaz ").name == "hijaz"


def test_scale_hz():
    f = mq.scale_hz("rast", 130.81)
    assert f.shape == (8,)
    assert f[0] == pytest.approx(130.81) and f[-1] == pytest.approx(261.62)
    assert mq.cents(f[2], f[0]) == pytest.approx(350.0)
    f2 = mq.scale_hz("hijaz", octaves_below=1, octaves_above=2)
    assert f2.shape == (22,) and f2[7] == pytest.approx(146.83)
    assert f2[0] == pytest.approx(146.83 / 2) and f2[-1] == pytest.approx(4 * 146.83)
    with pytest.raises(ConfigError):
        mq.scale_hz("rast", -1.0)


def test_cents_and_hz_are_inverse():
    assert mq.cents(880.0, 440.0) == pytest.approx(1200.0)
    assert mq.hz(150.0, 220.0) == pytest.approx(220.0 * 2 ** 0.125)
    c = np.array([-700.0, 0.0, 350.0])
    np.testing.assert_allclose(mq.cents(mq.hz(c, 146.83), 146.83), c, atol=1e-9)


def test_note_names():
    assert mq.note_hz("A4") == pytest.approx(440.0)
    assert mq.note_hz("C4") == pytest.approx(261.626, abs=1e-3)
    assert mq.note_hz("Bb2") == pytest.approx(116.541, abs=1e-3)
    assert mq.note_hz("E-half-flat3") == pytest.approx(mq.note_hz("E3") * 2 ** (-50 / 1200))
    with pytest.raises(ConfigError, match="cannot read note name"):
        mq.note_hz("H3")


def test_cents_from_12tet():
    assert mq.cents_from_12tet(440.0) == pytest.approx(0.0)
    assert abs(mq.cents_from_12tet(mq.note_hz("E-half-flat3"))) == pytest.approx(50.0)


# ----------------------------------------------------------------------------- practice intonation


def test_practice_intonation_of_the_neutral_and_coloured_degrees():
    rast = mq.degrees_cents("rast")
    assert 355 <= rast[2] <= 370 and 1055 <= rast[6] <= 1070  # high neutral third and seventh
    assert 140 <= mq.degrees_cents("bayati")[1] <= 150  # low neutral second
    sikah = mq.get_maqam("sikah")
    assert sikah.intonation_cents[0] < 0  # the neutral tonic itself is low
    assert sikah.practice_tonic_hz < sikah.tonic_hz
    # measured from that low tonic, the natural notes (F, G) lie further up than in theory
    assert mq.degrees_cents("sikah")[1] > 150 and mq.degrees_cents("sikah")[2] > 350
    hijaz = mq.degrees_cents("hijaz")
    assert 250 < hijaz[2] - hijaz[1] < 300  # the augmented second is narrower in practice


@pytest.mark.parametrize("name", sorted(mq.MAQAMAT))
def test_practice_degrees_stay_near_theory(name):
    m = mq.get_maqam(name)
    nominal, practice = mq.degrees_cents(name, practice=False), mq.degrees_cents(name)
    assert list(nominal) == list(m.degrees_cents)
    assert practice[0] == 0.0 and np.all(np.diff(practice) > 0)
    assert np.all(np.abs(practice - nominal) < mq.QUARTER_TONE_CENTS)
    assert tuple(practice) == m.practice_degrees_cents
    np.testing.assert_allclose(mq.scale_cents(name, practice=True)[:7], practice)
    assert set(mq.INTONATION_CENTS.get(name, {})) <= set(range(7))


def test_descending_forms():
    assert mq.descending_degrees_cents("rast", practice=False)[6] == 1000  # B-flat on the way down
    assert mq.descending_degrees_cents("rast")[6] == 1000  # played at 24-TET, no neutral offset
    assert mq.descending_degrees_cents("rast")[2] == mq.degrees_cents("rast")[2]
    assert list(mq.descending_degrees_cents("nahawand", practice=False)) == [0, 200, 300, 500, 700, 800, 1000]
    for same in ["bayati", "kurd", "hijaz", "sikah", "ajam", "saba"]:
        np.testing.assert_array_equal(mq.descending_degrees_cents(same), mq.degrees_cents(same))
    assert mq.get_maqam("saba").octave_cents == 1100.0  # saba's 8th note is D-flat
    assert mq.get_maqam("rast").octave_cents == 1200.0
    assert 1100.0 in mq.pitch_classes_cents("saba") and 1000.0 in mq.pitch_classes_cents("rast")
    assert len(mq.pitch_classes_cents("kurd")) == 7


def test_snap_to_scale_is_octave_equivalent():
    tonic = 146.83
    f = mq.hz(np.array([-1195.0, 108.0, 392.0, 1190.0, 2405.0]), tonic)
    snapped, dev = mq.snap_to_scale(f, "hijaz", tonic)
    np.testing.assert_allclose(mq.cents(snapped, tonic), [-1200, 100, 400, 1200, 2400], atol=1e-9)
    np.testing.assert_allclose(dev, [5, 8, -8, -10, 5], atol=1e-9)
    s2, d2 = mq.snap_to_scale(f, "hijaz", tonic, practice=True)
    np.testing.assert_allclose(mq.cents(s2, tonic)[1:3], [112, 386], atol=1e-9)


def test_unknown_name_in_degree_functions():
    with pytest.raises(ConfigError, match="known maqamat"):
        mq.degrees_cents("nope")
    with pytest.raises(ConfigError, match="known maqamat"):
        mq.descending_degrees_cents("nope")


def test_scale_profile_is_the_maqam_on_its_tonic():
    """Peaks on the maqam's pitch classes moved to the tonic; a semitone up rolls it two bins,
    an octave changes nothing; hijaz on D and on E differ."""
    d3 = mq.note_hz("D3")
    p = mq.scale_profile("hijaz", d3)
    assert p.shape == (mq.SCALE_PROFILE_BINS,) and p.dtype == np.float32
    assert 0.0 <= p.min() and p.max() <= 1.0
    # hijaz on D: D Eb F# G A Bb C; the 24-TET bins of those notes (C = bin 0) lie near 1
    for note in ("D", "G", "A", "C"):
        assert p[int(mq.NOTE_OFFSETS_CENTS[note] / 50)] == pytest.approx(1.0, abs=1e-6)
    assert p[int(300 / 50)] > 0.8 and p[int(600 / 50)] > 0.8  # Eb and F# (played a little off 24-TET)
    assert p[int(400 / 50)] < 0.01 and p[int(500 / 50)] < 0.01  # no E, no F
    np.testing.assert_allclose(mq.scale_profile("hijaz", 2 * d3), p, atol=1e-5)
    np.testing.assert_allclose(mq.scale_profile("hijaz", d3 * 2 ** (1 / 12)), np.roll(p, 2), atol=1e-4)
    assert np.abs(mq.scale_profile("hijaz", mq.note_hz("E3")) - p).max() > 0.9
    assert not np.allclose(mq.scale_profile("bayati", d3), p, atol=0.1)  # another maqam on D


@pytest.mark.parametrize("kw, match", [({"tonic_hz": 0.0}, "positive frequency"),
                                       ({"tonic_hz": float("nan")}, "positive frequency"),
                                       ({"n_bins": 0}, "must be positive"),
                                       ({"sigma_cents": 0.0}, "must be positive")])
def test_scale_profile_refuses_bad_arguments(kw, match):
    args = {"tonic_hz": 146.8, **kw}
    with pytest.raises(ConfigError, match=match):
        mq.scale_profile("hijaz", **args)
    with pytest.raises(ConfigError):
        mq.scale_profile("not-a-maqam", 146.8)
