"""The banded Viterbi decoder gives librosa's states exactly, on pYIN's inputs and on random ones."""

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")

from maqamgen import estimate, viterbi  # noqa: E402


def _pyin_transition(n: int, width: int, stay: float) -> np.ndarray:
    return np.kron(librosa.sequence.transition_loop(2, stay),
                   librosa.sequence.transition_local(n, width, window="triangle", wrap=False))


@pytest.mark.parametrize("seed", range(12))
def test_states_equal_librosa_on_random_banded_models(seed):
    rng = np.random.default_rng(seed)
    n, T = int(rng.integers(3, 30)), int(rng.integers(1, 50))
    tr = _pyin_transition(n, int(rng.integers(1, n)) | 1, rng.uniform(0.5, 0.99))
    p = rng.uniform(size=(2 * n, T)) * (rng.uniform(size=(2 * n, T)) < rng.uniform(0.05, 1))
    if seed % 3 == 0:
        p = np.round(p, 1)  # many equal candidates: the lowest source index must win, as numpy's argmax
    if seed % 4 == 0:
        p[:, T // 2] = 0  # a frame no state explains: the floor log(tiny) decides the jumps
    p_init = None if seed % 2 else rng.dirichlet(np.ones(2 * n))
    want = librosa.sequence.viterbi(p, tr, p_init=p_init)
    got = viterbi.viterbi(p, tr, p_init)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    batch = np.stack([p, p[::-1]])  # leading dimensions decode item by item
    assert np.array_equal(viterbi.viterbi(batch, tr, p_init), librosa.sequence.viterbi(batch, tr, p_init=p_init))


def test_band_runs_and_the_dense_fallback():
    tr = _pyin_transition(5, 3, 0.9)
    starts, ends, counts = viterbi.band_runs(tr)
    assert list(counts) == [2] * 10
    assert (starts[0, :2].tolist(), ends[0, :2].tolist()) == ([0, 5], [2, 7])  # bins 0-1 of each block
    assert (starts[7, :2].tolist(), ends[7, :2].tolist()) == ([1, 6], [4, 9])
    checker = np.indices((9, 9)).sum(axis=0) % 2 == 0  # alternating non-zeros: too many runs per state
    dense = checker / checker.sum(axis=1, keepdims=True)
    assert viterbi.band_runs(dense) is None
    p = np.random.default_rng(1).uniform(size=(9, 20))
    assert np.array_equal(viterbi.viterbi(p, dense), librosa.sequence.viterbi(p, dense))
    with pytest.raises(ValueError, match="expected"):
        viterbi.viterbi(p, tr)


def test_pitch_track_is_plain_pyin_and_librosa_is_restored(monkeypatch):
    import contextlib

    sr = 22050
    t = np.arange(2 * sr) / sr
    f = np.where(t < 1.0, 196.0, 220.0) * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    y = (np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-3 * (t % 1.0))).astype(np.float32)
    y[int(0.6 * sr):int(1.0 * sr)] = 0  # a silent gap: unvoiced frames
    before = librosa.sequence.viterbi, librosa.sequence.transition_local
    got = estimate.pitch_track(y, sr)
    again = estimate.pitch_track(y, sr)  # the cached set-up: the same track
    assert np.array_equal(again.f0_hz, got.f0_hz, equal_nan=True)
    with pytest.raises(NotImplementedError), viterbi.in_librosa():
        librosa.sequence.viterbi(np.ones((2, 3)) / 2, np.eye(2), return_logp=True)
    assert (librosa.sequence.viterbi, librosa.sequence.transition_local) == before
    monkeypatch.setattr(viterbi, "in_librosa", contextlib.nullcontext)  # librosa decodes
    want = estimate.pitch_track(y, sr)
    assert np.array_equal(got.f0_hz, want.f0_hz, equal_nan=True)
    assert np.array_equal(got.voiced_prob, want.voiced_prob)
    assert 0.5 < np.isfinite(got.f0_hz).mean() < 1.0


def test_set_up_is_cached_only_for_equal_inputs(monkeypatch):
    """transition_local is librosa's (cached, read-only); the decoder reuses a matrix's bands
    and logarithm only for an equal matrix: a changed matrix decodes as librosa does."""
    with viterbi.in_librosa():
        a = librosa.sequence.transition_local(40, 7, window="triangle", wrap=False)
        b = librosa.sequence.transition_local(40, 7, window="triangle", wrap=False)
        c = librosa.sequence.transition_local(np.int64(40), np.array([7] * 40),
                                              window="triangle", wrap=False)  # unhashable
    want = viterbi._ORIGINAL_LOCAL(40, 7, window="triangle", wrap=False)
    assert a is b and not a.flags.writeable and np.array_equal(a, want)
    assert np.array_equal(c, want)
    calls = []
    real = viterbi.band_runs
    monkeypatch.setattr(viterbi, "band_runs", lambda t: calls.append(1) or real(t))
    monkeypatch.setattr(viterbi, "_PREPARED", [])
    rng = np.random.default_rng(3)
    trans = _pyin_transition(30, 5, 0.99)
    prob = rng.random((60, 50))
    first = viterbi.viterbi(prob, trans)
    assert np.array_equal(viterbi.viterbi(prob, trans.copy()), first) and calls == [1]
    changed = trans.copy()
    changed[3] = np.roll(changed[3], 9)  # another band for a few targets
    got = viterbi.viterbi(prob, changed)
    assert calls == [1, 1]
    assert np.array_equal(got, viterbi._librosa_viterbi()(prob, changed))
