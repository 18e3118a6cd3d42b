"""LSTM language model: shapes, learning, deterministic and state-carrying generation."""

import numpy as np
import pytest
import torch

from maqamgen.errors import ConfigError
from maqamgen.nets.lstm import LSTM_PRESETS, LSTMLM, generate, lstm_config, lstm_loss
from maqamgen.sequences import WindowDataset, collate
from maqamgen.tokens import BOS, PAD, DurationGrid, PitchVocab

V = PitchVocab().size
D = DurationGrid().n_tokens


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seeded; one intra-op thread: small LSTMs on a shared 2-core CPU run 5-10x slower on two."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def batch_of(pieces, window):
    ds = WindowDataset(pieces, window)
    return collate([ds[i] for i in range(len(ds))])


def test_presets_and_shapes():
    assert set(LSTM_PRESETS) == {"tiny", "small", "book", "full", "report"}
    from maqamgen import config
    for name in ("smoke", "book", "full"):  # every profile names a preset, the only sizes there are
        assert config.profile(name).lstm.preset in LSTM_PRESETS
    m = LSTMLM(lstm_config("report", V))
    assert m.lstm.hidden_size == 6 and m.lstm.num_layers == 5
    m = LSTMLM(lstm_config("tiny", V))
    x = torch.randint(1, V, (3, 11))
    logits, (h, c) = m(x)
    assert logits.shape == (3, 11, V) and h.shape == c.shape == (1, 3, 32)
    m2 = LSTMLM(lstm_config("tiny", V, D))
    (p, d), _ = m2(torch.randint(1, D, (3, 11, 2)))
    assert p.shape == (3, 11, V) and d.shape == (3, 11, D)
    with pytest.raises(ConfigError):
        m2(x)
    with pytest.raises(ConfigError):
        lstm_config("huge", V)


def test_state_carry_equals_the_full_sequence():
    for dur in (0, D):
        m = LSTMLM(lstm_config("small", V, dur)).eval()
        x = torch.randint(1, 30, (2, 20, 2) if dur else (2, 20))
        full, _ = m(x)
        first, state = m(x[:, :7])
        rest, _ = m(x[:, 7:], state)
        steps, st = [], None
        for t in range(20):
            logits, st = m.step(x[:, t], st)
            steps.append(logits)
        for j in range(2 if dur else 1):
            pick = (lambda z: z[j]) if dur else (lambda z: z)
            torch.testing.assert_close(torch.cat([pick(first), pick(rest)], 1), pick(full))
            torch.testing.assert_close(torch.stack([pick(s) for s in steps], 1), pick(full), atol=1e-5, rtol=1e-4)


def test_loss_masks_padding():
    m = LSTMLM(lstm_config("tiny", V, dropout=0.0))
    b = batch_of([np.arange(5, 25), np.arange(30, 33)], 8)
    loss = lstm_loss(m, b)
    b2 = {k: v.clone() for k, v in b.items()}
    b2["target"][~b2["mask"]] = 7  # garbage where masked changes nothing
    assert torch.isclose(loss, lstm_loss(m, b2))
    assert torch.isfinite(loss) and loss.ndim == 0

    class Wrapper(torch.nn.Module):  # how DDP presents the model to the shared trainer's loss_fn
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *a):
            return self.module(*a)

    assert torch.isclose(loss, lstm_loss(Wrapper(m), b))


@pytest.mark.parametrize("two_d", [False, True])
def test_loss_decreases_when_overfitting_a_tiny_corpus(two_d):
    rng = np.random.default_rng(0)
    motif = rng.integers(5, 40, 12)
    piece = np.tile(motif, 30)  # a repeated 12-token motif
    if two_d:
        piece = np.stack([np.tile(rng.integers(1, D, 12), 30), piece], axis=1)
    b = batch_of([piece], 32)
    m = LSTMLM(lstm_config("tiny", V, D if two_d else 0, hidden_size=64))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = lstm_loss(m, b).item()
    for _ in range(100):
        opt.zero_grad()
        loss = lstm_loss(m, b)
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    m.eval()
    gen = generate(m, piece[:24], 24, top_k=1)
    assert np.array_equal(gen, piece[24:48])  # it learned the motif


def test_generation_is_seeded_and_exact_length():
    m = LSTMLM(lstm_config("tiny", V))
    a = generate(m, [BOS], 50, seed=3)
    assert a.shape == (50,) and a.dtype == np.int64 and (a != PAD).all()
    assert np.array_equal(a, generate(m, [BOS], 50, seed=3))
    assert not np.array_equal(a, generate(m, [BOS], 50, seed=4))
    assert generate(m, [BOS], 0).shape == (0,)
    assert generate(m, [BOS], 7, window=4).shape == (7,)
    m2 = LSTMLM(lstm_config("tiny", V, D))
    assert generate(m2, [[0, BOS]], 9, seed=1).shape == (9, 2)
    assert m.training  # mode restored
    with pytest.raises(ConfigError):
        generate(m, [], 5)
    with pytest.raises(ConfigError):
        generate(m, [BOS], 5, temperature=0.0)


def test_top_k_1_is_greedy_and_streaming_matches_the_full_run():
    m = LSTMLM(lstm_config("small", V)).eval()
    prompt = np.array([BOS, 20, 21, 22])
    g = generate(m, prompt, 40, top_k=1, seed=0)
    assert np.array_equal(g, generate(m, prompt, 40, top_k=1, seed=99))  # seed does not matter
    seq = torch.as_tensor(np.r_[prompt, g])
    with torch.no_grad():
        logits, _ = m(seq[None, :-1])
    logits[..., PAD] = -float("inf")
    assert np.array_equal(logits[0, len(prompt) - 1:].argmax(-1).numpy(), g)


def test_sliding_window_generation_rereads_the_last_w_tokens():
    m = LSTMLM(lstm_config("small", V)).eval()
    prompt = np.arange(5, 25)
    g = generate(m, prompt, 6, top_k=1, window=8)
    seq = np.r_[prompt, g]
    with torch.no_grad():
        for i in range(6):
            ctx = torch.as_tensor(seq[len(prompt) + i - 8:len(prompt) + i])
            logits, _ = m(ctx[None])
            z = logits[0, -1]
            z[PAD] = -float("inf")
            assert z.argmax().item() == g[i]
