"""Tokenizers: pitch vocabulary, monophony, 1D and 2D round trips (property-style, seeded)."""

import numpy as np
import pytest

from maqamgen import maqam as mq
from maqamgen import synth
from maqamgen.errors import ConfigError, NotesError
from maqamgen.notes import Note
from maqamgen.tokens import (BOS, HOLD, N_SPECIAL, PAD, REST, DurationGrid, PitchVocab, TokenSpec, crop,
                             joint_ids, monophonic, notes_to_tokens_1d, notes_to_tokens_2d, shift,
                             split_joint_ids, tokens_1d_to_notes, tokens_2d_to_notes, transpose)

EPS = 1e-9


def random_monophonic(rng: np.random.Generator, n: int, min_dur: float, max_dur: float = 1.0,
                      vocab: PitchVocab = PitchVocab()) -> list[Note]:
    """Non-overlapping notes: durations in [min_dur, max_dur], gaps 0 or >= min_dur,
    pitches anywhere in the vocabulary's range (repeated pitches included)."""
    notes, t = [], float(rng.uniform(0, 1))
    lo, hi = np.log2(vocab.f_min_hz), np.log2(vocab.pitches_hz()[-1])
    f = 2 ** rng.uniform(lo, hi)
    for _ in range(n):
        if rng.random() > 0.3:  # 30% repeated notes
            f = 2 ** rng.uniform(lo, hi)
        d = float(rng.uniform(min_dur, max_dur))
        notes.append(Note(t, t + d, float(f)))
        t += d + (0.0 if rng.random() < 0.5 else float(rng.uniform(min_dur, 1.0)))
    return notes


def phrases(n: int = 6):
    names = list(mq.MAQAMAT)[:n] if hasattr(mq, "MAQAMAT") else ["hijaz"] * n
    return [synth.phrase(names[i % len(names)], seconds=10.0, seed=i)[0] for i in range(n)]


def assert_close(a: list[Note], b: list[Note], time_tol, cents_tol: float):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        tol = time_tol(x) if callable(time_tol) else time_tol
        assert abs(x.onset - y.onset) <= tol + EPS, (x, y)
        assert abs(x.offset - y.offset) <= tol + EPS, (x, y)
        assert abs(float(mq.cents(y.freq_hz, x.freq_hz))) <= cents_tol + EPS, (x, y)


# ----------------------------------------------------------------------------- vocabulary


@pytest.mark.parametrize("res", [50.0, 25.0, 100.0 / 3])
def test_vocab_round_trip_within_half_step(res):
    v = PitchVocab(resolution_cents=res)
    f = 2 ** np.random.default_rng(0).uniform(np.log2(55.0), np.log2(v.pitches_hz()[-1]), 2000)
    tok = v.encode_hz(f)
    assert tok.min() >= N_SPECIAL and tok.max() < v.size
    assert np.all(np.abs(mq.cents(v.decode(tok), f)) <= res / 2 + 1e-6)
    assert isinstance(v.encode_hz(220.0), int) and isinstance(v.decode(v.encode_hz(220.0)), float)


def test_vocab_is_24tet_of_a440_and_covers_the_oud():
    v = PitchVocab()
    assert v.decode(v.encode_hz(440.0)) == pytest.approx(440.0)
    assert v.decode(v.encode_hz(mq.note_hz("E4") * 2 ** (-50 / 1200))) == pytest.approx(
        mq.note_hz("E4") * 2 ** (-50 / 1200))  # E half-flat is a grid pitch
    assert v.pitches_hz()[0] <= synth.OUD_RANGE_HZ[0] and v.pitches_hz()[-1] >= synth.OUD_RANGE_HZ[1]


def test_vocab_errors():
    v = PitchVocab()
    with pytest.raises(NotesError, match="outside the vocabulary"):
        v.encode_hz(20.0)
    with pytest.raises(NotesError, match="not finite"):
        v.encode_hz(float("nan"))
    with pytest.raises(NotesError, match="REST"):
        v.decode(REST)
    with pytest.raises(ConfigError):
        PitchVocab(resolution_cents=0)
    with pytest.raises(ConfigError):
        DurationGrid(kind="mel")
    assert v.name(REST) == "REST" and v.name(v.encode_hz(440.0)) == "440.0Hz"


# ----------------------------------------------------------------------------- monophony


def test_monophonic_most_recent_onset_wins_and_the_older_note_resumes():
    a, b, c = Note(0.0, 4.0, 110.0), Note(1.0, 2.0, 220.0), Note(3.0, 3.5, 330.0)
    got = [(n.onset, n.offset, n.freq_hz) for n in monophonic([c, a, b])]
    assert got == [(0.0, 1.0, 110.0), (1.0, 2.0, 220.0), (2.0, 3.0, 110.0), (3.0, 3.5, 330.0), (3.5, 4.0, 110.0)]
    tie = monophonic([Note(0.0, 1.0, 110.0), Note(0.0, 1.0, 220.0)])
    assert [n.freq_hz for n in tie] == [220.0]
    assert monophonic([]) == []


# ----------------------------------------------------------------------------- 1D tokens


@pytest.mark.parametrize("rate", [8.0, 16.0, 100.0])
def test_1d_round_trip_random_monophonic(rate):
    v = PitchVocab()
    for seed in range(10):
        notes = random_monophonic(np.random.default_rng(seed), 30, min_dur=1.0 / rate)
        tokens = notes_to_tokens_1d(notes, rate, v, hold=True)
        back = tokens_1d_to_notes(tokens, rate, v)
        assert_close(notes, back, 0.5 / rate, v.resolution_cents / 2)
        assert np.array_equal(notes_to_tokens_1d(back, rate, v, hold=True), tokens)  # idempotent


def test_1d_round_trip_synth_phrases():
    rate = 16.0
    for notes in phrases():
        back = tokens_1d_to_notes(notes_to_tokens_1d(notes, rate, hold=True), rate)
        assert_close(monophonic(notes), back, 0.5 / rate, 25.0)


def test_1d_frames_rest_and_length():
    notes = [Note(0.0, 0.5, 220.0), Note(1.0, 1.25, 440.0)]
    t = notes_to_tokens_1d(notes, 8.0)
    v = PitchVocab()
    assert t.tolist() == [v.encode_hz(220.0)] * 4 + [REST] * 4 + [v.encode_hz(440.0)] * 2
    assert len(notes_to_tokens_1d(notes, 8.0, n_frames=20)) == 20
    assert notes_to_tokens_1d([Note(0.0, 2.2, 220.0)], 1.0).tolist() == [v.encode_hz(220.0)] * 2  # 1 per s
    with pytest.raises(ConfigError):
        notes_to_tokens_1d(notes, 0.0)


def test_1d_repeated_notes_merge_without_hold_and_stay_apart_with_it():
    notes = [Note(0.0, 0.5, 220.0), Note(0.5, 1.0, 220.0)]
    plain = notes_to_tokens_1d(notes, 8.0)
    assert len(tokens_1d_to_notes(plain, 8.0)) == 1  # the ambiguity of repeated notes
    held = notes_to_tokens_1d(notes, 8.0, hold=True)
    assert held.tolist().count(HOLD) == 6
    back = tokens_1d_to_notes(held, 8.0)
    assert [(n.onset, n.offset) for n in back] == [(0.0, 0.5), (0.5, 1.0)]


def test_1d_special_tokens_decode_as_silence():
    v = PitchVocab()
    p = v.encode_hz(220.0)
    back = tokens_1d_to_notes([BOS, p, p, PAD, HOLD, p], 4.0, v, hold=False)
    assert [(n.onset, n.offset) for n in back] == [(0.25, 0.75), (1.25, 1.5)]
    back = tokens_1d_to_notes([BOS, p, p, PAD, HOLD, p], 4.0, v)  # HOLD present: p starts notes
    assert [(n.onset, n.offset) for n in back] == [(0.25, 0.5), (0.5, 0.75), (1.25, 1.5)]


def test_1d_polyphonic_performance_is_idempotent():
    notes, meta = synth.performance(seconds=60.0, n_notes=300, seed=1)
    t = notes_to_tokens_1d(notes, 8.0, hold=True)
    assert len(t) == int(np.ceil(max(n.offset for n in notes) * 8.0 - 0.5 - 1e-9))
    assert np.array_equal(notes_to_tokens_1d(tokens_1d_to_notes(t, 8.0), 8.0, hold=True), t)


# ----------------------------------------------------------------------------- 2D tokens


def test_2d_round_trip_fixed_grid_within_half_step():
    v, g = PitchVocab(), DurationGrid(kind="fixed", min_s=1 / 32, max_s=4.0)
    cases = [random_monophonic(np.random.default_rng(s), 40, min_dur=g.min_s) for s in range(10)]
    for notes in cases + [monophonic(p) for p in phrases()]:
        tokens = notes_to_tokens_2d(notes, v, g)
        assert tokens.shape[1] == 2 and tokens[:, 0].min() >= 1 and tokens[:, 0].max() < g.n_tokens
        back = tokens_2d_to_notes(tokens, v, g)
        assert_close(notes, back, g.min_s / 2, v.resolution_cents / 2)


def test_2d_round_trip_log_grid_within_one_step_and_no_drift():
    v, g = PitchVocab(), DurationGrid()

    def check(notes):  # within the grid step at the durations of the events ending at each boundary
        back = tokens_2d_to_notes(notes_to_tokens_2d(notes, v, g), v, g)
        dur = np.array([n.duration for n in notes])
        prev = np.r_[0.0, dur[:-1]]
        gaps = np.diff([0.0] + [n.onset for n in notes]) - prev
        tol = {id(n): g.step_s(max(d, p, gap)) for n, d, p, gap in zip(notes, dur, prev, gaps)}
        assert_close(notes, back, lambda n: tol[id(n)], v.resolution_cents / 2)

    for seed in range(10):  # 200 notes, ~250 s: no drift along the sequence
        check(random_monophonic(np.random.default_rng(seed), 200, min_dur=0.1, max_dur=2.0))
    for notes in phrases():
        check(monophonic(notes))


def test_2d_long_notes_and_rests():
    g = DurationGrid(kind="fixed", min_s=0.25, max_s=1.0)
    notes = [Note(2.6, 4.0, 220.0)]  # leading rest of 2.6 s, a note longer than max_s
    t = notes_to_tokens_2d(notes, grid=g)
    assert t[:, 1].tolist() == [REST, REST, REST, PitchVocab().encode_hz(220.0)]
    back = tokens_2d_to_notes(t, grid=g)
    assert back[0].onset == pytest.approx(2.5) and back[0].offset == pytest.approx(3.5)
    assert notes_to_tokens_2d([]).shape == (0, 2)


def test_joint_ids_round_trip():
    t = notes_to_tokens_2d(phrases(1)[0])
    j = joint_ids(t)
    assert j.shape == (len(t),) and np.array_equal(split_joint_ids(j), t)
    assert joint_ids(np.zeros((1, 2), dtype=int))[0] == PAD


# ----------------------------------------------------------------------------- TokenSpec and note lists


def _scale(cents, dur=0.5, tonic=146.83):
    return [Note(i * dur, (i + 1) * dur, tonic * 2 ** (c / 1200), 0.0) for i, c in enumerate(cents)]


def test_token_spec_round_trip_and_seconds():
    notes = _scale([0, 200, 350, 500])
    for fmt in ("1d", "2d"):
        spec = TokenSpec(fmt=fmt)
        t = spec.encode(notes)
        assert int(np.asarray(t).reshape(len(t), -1)[0, -1]) == BOS  # BOS first
        assert [round(n.freq_hz, 1) for n in spec.decode(t)] == [round(n.freq_hz, 1) for n in notes]
        assert abs(spec.seconds(t[1:]) - 2.0) < 0.07 and spec.seconds_per_token(t)[0] == (0.125 if fmt == "1d" else 0.0)
        assert TokenSpec(**spec.to_dict()) == spec
    assert TokenSpec(fmt="2d").dur_vocab_size == DurationGrid().n_tokens and TokenSpec().dur_vocab_size == 0
    with pytest.raises(ConfigError):
        TokenSpec(fmt="3d")


def test_fold_transpose_shift_crop():
    folded = TokenSpec().fold([Note(0, 1, 3000.0, 0.0), Note(1, 2, 20.0, 0.0)])
    assert 1100 / 2 < folded[0].freq_hz <= 1100 and 55 <= folded[1].freq_hz < 110
    notes = _scale([0, 200, 350])
    slide = [Note(0.0, 1.0, 200.0, 0.0, ornament={"type": "slide", "from_hz": 190.0})]
    assert transpose(notes, 146.83, 2 * 146.83)[2].freq_hz == pytest.approx(2 * notes[2].freq_hz)
    assert transpose(slide, 100.0, 200.0)[0].ornament["from_hz"] == pytest.approx(380.0)
    moved = shift(notes, -0.75)  # the first note ends before 0: dropped; the second is cut at 0
    assert [(n.onset, n.offset) for n in moved] == [(0.0, 0.25), (0.25, 0.75)]
    cut = crop(notes, 0.25, 1.25)
    assert [(round(n.onset, 9), round(n.offset, 9)) for n in cut] == [(0.0, 0.25), (0.25, 0.75), (0.75, 1.0)]

