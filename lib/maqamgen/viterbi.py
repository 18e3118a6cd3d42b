"""Viterbi decoding for banded transition matrices, exactly as ``librosa.sequence.viterbi``.

pYIN (:func:`maqamgen.estimate.pitch_track`) decodes its pitch track with a hidden Markov model
of ``2 n`` states (``n`` pitch bins, voiced and unvoiced) whose transitions are local: from a
bin, only the bins within a few semitones can follow. ``librosa.sequence.viterbi`` takes the
maximum over every source state for every target state and frame, ``O(T S^2)``: in a profile of
Chapter 8 judging the latent U-Net (32 fragments and six 60-s pieces in 10-s windows), 33 of the
97 s. The same maximum over the sources a target can be reached from is ``O(T S w)`` for bands of
width ``w``; the whole pitch track of 60 s took 1.0 s instead of 4.0 s
(``benchmarks/bench_viterbi.py``).

Exactness: librosa adds ``tiny`` (the smallest normal float) before the logarithm, so a zero
transition weighs ``C = log(tiny)``, about -708, not minus infinity; a path may in principle
jump there. :func:`viterbi` keeps it: for target ``j`` the best value is the larger of the best
in-band candidate ``V[k] + log A[k, j]`` and ``max_k V[k] + C`` (an in-band ``k`` scores at least
``V[k] + C``, so it cannot hide a larger out-of-band one), and among equal candidates the lowest
source index wins, as ``numpy.argmax`` picks. The states are the same as librosa's, not merely
close (``tests/test_viterbi.py`` compares them on pYIN's own inputs and on random ones).

Set-up once: pYIN's transition matrix depends only on its bins, yet ``librosa.pyin`` builds it
(``librosa.sequence.transition_local``, a window per state) on every call, and the decoder would
find its bands and take its logarithm again each time. On a 1.5-s window these set-ups were two
thirds of the whole pitch track (2.7 of 4.2 s for 32 windows). :func:`in_librosa` serves
``transition_local`` from a cache, and :func:`viterbi` keeps the bands and logarithm of the last
few matrices it saw (reused only for an equal matrix).

Used in: lib/maqamgen/estimate.py
"""

from __future__ import annotations

import contextlib
import functools
import os

import numpy as np

from maqamgen import runtime

MAX_RUNS = 4
"""Most contiguous runs of non-zero transitions into one state for the banded decoder (pYIN has
2: one per voicing block); a denser matrix goes to librosa's own decoder."""


def band_runs(transition: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For each target state ``j``, the contiguous runs ``[start, end)`` of source states ``k``
    with ``transition[k, j] > 0``: ``(starts (S, MAX_RUNS), ends (S, MAX_RUNS), counts (S,))``,
    or None when some state has more than :data:`MAX_RUNS` runs."""
    nz = np.asarray(transition) > 0
    S = nz.shape[0]
    starts = np.zeros((S, MAX_RUNS), dtype=np.int64)
    ends = np.zeros((S, MAX_RUNS), dtype=np.int64)
    counts = np.zeros(S, dtype=np.int64)
    padded = np.zeros((S + 2, S), dtype=np.int8)
    padded[1:-1] = nz
    edges = np.diff(padded, axis=0)  # +1 where a run of sources starts, -1 past where it ends
    for j in range(S):
        up, down = np.flatnonzero(edges[:, j] == 1), np.flatnonzero(edges[:, j] == -1)
        if up.size > MAX_RUNS:
            return None
        counts[j] = up.size
        starts[j, :up.size], ends[j, :up.size] = up, down
    return starts, ends, counts


def _decode_kernel():
    os.environ.setdefault("NUMBA_CACHE_DIR", str(runtime.cache_dir("numba")))
    import numba

    @numba.njit(cache=True)
    def decode(log_prob, log_trans_t, log_p_init, floor, starts, ends, counts):  # pragma: no cover
        T, S = log_prob.shape
        state = np.zeros(T, dtype=np.int64)
        ptr = np.zeros((T, S), dtype=np.int64)
        v = log_prob[0] + log_p_init
        top = np.empty(S, dtype=np.int64)
        for t in range(1, T):
            gmax = v.max()
            n_top = 0
            for k in range(S):  # the sources that reach gmax, in order (ties are rare)
                if v[k] == gmax:
                    top[n_top] = k
                    n_top += 1
            off = gmax + floor  # what the best source scores through a zero transition
            new = np.empty(S)
            for j in range(S):
                best, arg = -np.inf, -1
                for r in range(counts[j]):
                    for k in range(starts[j, r], ends[j, r]):
                        c = v[k] + log_trans_t[j, k]
                        if c > best:
                            best, arg = c, k
                if off >= best:  # a zero transition from a best source ties or wins
                    first_off = -1
                    for i in range(n_top):
                        k, inside = top[i], False
                        for r in range(counts[j]):
                            if starts[j, r] <= k < ends[j, r]:
                                inside = True
                        if not inside:
                            first_off = k
                            break
                    if first_off >= 0 and (off > best or first_off < arg):
                        best, arg = off, first_off
                ptr[t, j] = arg
                new[j] = log_prob[t, j] + best
            v = new
        state[T - 1] = np.argmax(v)
        for t in range(T - 2, -1, -1):
            state[t] = ptr[t + 1, state[t + 1]]
        return state

    return decode


_KERNEL = None
_ORIGINAL = None
_ORIGINAL_LOCAL = None
_PREPARED: list = []  # [(transition, eps, runs, log_trans_t)], the latest first
_PREPARED_MAX = 4


def _prepared(transition: np.ndarray, eps: float):
    """``(runs, log_trans_t)`` of ``transition`` (:func:`band_runs`, the transposed log with
    ``eps``), from the cache when an equal matrix was prepared with the same ``eps``."""
    for i, (t, e, runs, log_t) in enumerate(_PREPARED):
        if e == eps and t.shape == transition.shape and np.array_equal(t, transition):
            if i:
                _PREPARED.insert(0, _PREPARED.pop(i))
            return runs, log_t
    runs = band_runs(transition)
    log_t = (None if runs is None else
             np.ascontiguousarray(np.log(np.asarray(transition, dtype=np.float64) + eps).T))
    _PREPARED.insert(0, (np.array(transition, copy=True), eps, runs, log_t))
    del _PREPARED[_PREPARED_MAX:]
    return runs, log_t


def _librosa_viterbi():
    """``librosa.sequence.viterbi`` itself, also while :func:`in_librosa` has replaced it."""
    global _ORIGINAL
    if _ORIGINAL is None:
        import librosa.sequence

        _ORIGINAL = librosa.sequence.viterbi
    return _ORIGINAL


def viterbi(prob: np.ndarray, transition: np.ndarray, p_init: np.ndarray | None = None) -> np.ndarray:
    """The most likely state sequence, as ``librosa.sequence.viterbi(prob, transition, p_init=p_init)``.

    Args:
        prob: ``(S, T)`` or ``(..., S, T)`` observation likelihoods in [0, 1].
        transition: ``(S, S)`` row-stochastic transition matrix.
        p_init: ``(S,)`` initial distribution (None: uniform).

    Returns:
        ``(T,)`` or ``(..., T)`` states, ``uint16`` as librosa returns them.
    """
    import librosa

    global _KERNEL
    prob, transition = np.asarray(prob), np.asarray(transition)
    S = prob.shape[-2]
    if transition.shape != (S, S):
        raise ValueError(f"transition has shape {transition.shape}, expected {(S, S)}")
    eps = librosa.util.tiny(prob)  # as librosa: the smallest normal number of prob's type
    runs, log_trans_t = _prepared(transition, eps)
    if runs is None or S > np.iinfo(np.uint16).max:
        return _librosa_viterbi()(prob, transition, p_init=p_init)
    p0 = np.full(S, 1.0 / S) if p_init is None else np.asarray(p_init, dtype=np.float64)
    log_p_init = np.log(p0 + eps)
    floor = float(np.log(eps))
    if _KERNEL is None:
        _KERNEL = _decode_kernel()
    flat = np.log(prob.reshape(-1, S, prob.shape[-1]) + eps)
    out = np.stack([_KERNEL(np.ascontiguousarray(lp.T, dtype=np.float64), log_trans_t, log_p_init, floor,
                            *runs) for lp in flat])
    return out.astype(np.uint16).reshape(prob.shape[:-2] + (prob.shape[-1],))


@contextlib.contextmanager
def in_librosa():
    """Within the block, librosa's decoder (``librosa.sequence.viterbi``, which ``librosa.pyin`` calls)
    is :func:`viterbi`; restored on exit."""
    import librosa.sequence

    global _ORIGINAL_LOCAL
    _librosa_viterbi()
    if _ORIGINAL_LOCAL is None:
        _ORIGINAL_LOCAL = librosa.sequence.transition_local
    saved = librosa.sequence.viterbi, librosa.sequence.transition_local
    librosa.sequence.viterbi = _as_librosa
    librosa.sequence.transition_local = transition_local
    try:
        yield
    finally:
        librosa.sequence.viterbi, librosa.sequence.transition_local = saved


def transition_local(n_states, width, *, window="triangle", wrap: bool = False):
    """``librosa.sequence.transition_local`` with the same arguments, cached (read-only) when
    they are hashable (pYIN's are: numbers and a window name)."""
    try:
        return _transition_local_cached(n_states, width, window, wrap)
    except TypeError:  # an unhashable argument (an array of widths, a window array)
        return _ORIGINAL_LOCAL(n_states, width, window=window, wrap=wrap)


@functools.lru_cache(maxsize=8)
def _transition_local_cached(n_states, width, window, wrap):
    out = _ORIGINAL_LOCAL(n_states, width, window=window, wrap=wrap)
    out.setflags(write=False)
    return out


def _as_librosa(prob, transition, *, p_init=None, return_logp: bool = False):
    if return_logp:
        raise NotImplementedError("the banded decoder does not return log-probabilities")
    return viterbi(prob, transition, p_init)
