"""An LSTM language model over 1D or 2D music tokens (the report's Part II, Phases 5-7).

``tokens -> embedding (or two summed embeddings for 2D tokens) -> stacked LSTM -> dropout
-> linear head(s)``; trained with cross-entropy at EVERY position of a window (the report's
code predicted only the token after each 64-token window), masked at padding.

* 1D tokens: ``tokens`` of shape ``(B, T)``, logits ``(B, T, vocab_size)``.
* 2D tokens (``dur_vocab_size > 0``): ``tokens`` of shape ``(B, T, 2)`` with columns
  (duration token, pitch token) as :func:`maqamgen.tokens.notes_to_tokens_2d` writes them;
  the input is the sum of a duration and a pitch embedding, and two heads give
  ``(pitch logits (B, T, vocab_size), duration logits (B, T, dur_vocab_size))``. The loss is
  the sum of the two cross-entropies: the next pitch and the next duration are predicted
  independently given the past.

Sizes live in ONE registry, :data:`LSTM_PRESETS`; :func:`lstm_config` builds a config
from a preset and the vocabulary sizes. :func:`lstm_loss` is the loss the shared trainer
(:mod:`maqamgen.train`) calls; :func:`generate` samples any number of tokens.

Used in: book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from maqamgen.errors import ConfigError
from maqamgen.nets import check_preset
from maqamgen.sequences import take_window
from maqamgen.tokens import PAD

LSTMState = tuple[torch.Tensor, torch.Tensor]
"""``(h, c)``, each of shape ``(num_layers, B, hidden_size)``."""


@dataclass(frozen=True)
class LSTMConfig:
    """Size of an :class:`LSTMLM`.

    Attributes:
        vocab_size: pitch-stream vocabulary (:attr:`maqamgen.tokens.PitchVocab.size`).
        dur_vocab_size: duration-stream vocabulary for 2D tokens
            (:attr:`maqamgen.tokens.DurationGrid.n_tokens`); 0 for 1D tokens.
        embed_dim: embedding width.
        hidden_size: LSTM state width.
        num_layers: stacked LSTM layers.
        dropout: dropout between LSTM layers and before the head(s).
    """

    vocab_size: int
    dur_vocab_size: int = 0
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.2

    def __post_init__(self):
        if self.vocab_size < 2 or self.dur_vocab_size < 0 or self.embed_dim < 1 \
                or self.hidden_size < 1 or self.num_layers < 1 or not 0 <= self.dropout < 1:
            raise ConfigError(f"bad LSTMConfig: {self}")


LSTM_PRESETS: dict[str, dict] = {
    "tiny": dict(embed_dim=16, hidden_size=32, num_layers=1, dropout=0.0),
    "small": dict(embed_dim=32, hidden_size=128, num_layers=2, dropout=0.1),
    "book": dict(embed_dim=32, hidden_size=96, num_layers=1, dropout=0.1),
    "full": dict(embed_dim=64, hidden_size=256, num_layers=2, dropout=0.2),
    # the report's LSTMModel(input_size=1, hidden_size=6, num_layers=5, dropout=0.2): its
    # input was the scalar pitch / 128, here a learned 1-wide embedding (which contains it)
    "report": dict(embed_dim=1, hidden_size=6, num_layers=5, dropout=0.2),
}
"""Model sizes by name, the only place they are defined: ``tiny`` and ``small`` (tests),
``book`` (Chapter 7 at the smoke and book profiles: a few minutes of training on a 2-core CPU),
``full`` (the full profile, on a GPU; also what ``benchmarks/bench_lstm.py`` times),
``report`` (the report's code). A chapter config names one
(:attr:`maqamgen.config.LSTMChapterConfig.preset`)."""


def lstm_config(preset: str, vocab_size: int, dur_vocab_size: int = 0, **overrides) -> LSTMConfig:
    """The :class:`LSTMConfig` of a preset for a vocabulary.

    Args:
        preset: a key of :data:`LSTM_PRESETS`.
        vocab_size: pitch-stream vocabulary size.
        dur_vocab_size: duration-stream vocabulary size (0 for 1D tokens).
        **overrides: any other :class:`LSTMConfig` field.

    Raises:
        ConfigError: unknown preset or field.

    Used in: book/part2/07_lstm_tokens.md
    """
    check_preset(LSTM_PRESETS, preset, LSTMConfig, "LSTM", overrides)
    return LSTMConfig(vocab_size=vocab_size, dur_vocab_size=dur_vocab_size, **{**LSTM_PRESETS[preset], **overrides})


class LSTMLM(nn.Module):
    """LSTM language model over 1D tokens ``(B, T)`` or 2D tokens ``(B, T, 2)``.

    Args:
        config: the sizes.

    Used in: book/part2/07_lstm_tokens.md
    """

    def __init__(self, config: LSTMConfig):
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        self.dur_embed = nn.Embedding(c.dur_vocab_size, c.embed_dim) if c.dur_vocab_size else None
        self.lstm = nn.LSTM(c.embed_dim, c.hidden_size, c.num_layers, batch_first=True,
                            dropout=c.dropout if c.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)
        self.dur_head = nn.Linear(c.hidden_size, c.dur_vocab_size) if c.dur_vocab_size else None

    @property
    def two_streams(self) -> bool:
        """Whether the model reads and predicts 2D (duration, pitch) tokens."""
        return self.dur_embed is not None

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Input vectors ``(B, T, embed_dim)`` of tokens ``(B, T)`` or ``(B, T, 2)``."""
        if self.two_streams:
            if tokens.dim() != 3 or tokens.shape[-1] != 2:
                raise ConfigError(f"a 2D-token model needs tokens of shape (B, T, 2), got {tuple(tokens.shape)}")
            return self.dur_embed(tokens[..., 0]) + self.embed(tokens[..., 1])
        if tokens.dim() != 2:
            raise ConfigError(f"a 1D-token model needs tokens of shape (B, T), got {tuple(tokens.shape)}")
        return self.embed(tokens)

    def forward(self, tokens: torch.Tensor, state: LSTMState | None = None):
        """Next-token logits at every position.

        Args:
            tokens: int64 ``(B, T)`` (1D) or ``(B, T, 2)`` (2D).
            state: ``(h, c)`` carried from a previous call, or ``None`` (zeros).

        Returns:
            ``(logits, state)``: logits ``(B, T, vocab_size)`` for 1D, or the pair
            ``(pitch (B, T, vocab_size), duration (B, T, dur_vocab_size))`` for 2D; the
            state after the last position.
        """
        h, state = self.lstm(self.embed_tokens(tokens), state)
        h = self.drop(h)
        if self.two_streams:
            return (self.head(h), self.dur_head(h)), state
        return self.head(h), state


    def step(self, tokens: torch.Tensor, state: LSTMState | None = None):
        """One time step for streaming generation: :meth:`forward` on ``T = 1``, without its overhead.

        ``nn.LSTM`` on CPU (oneDNN) costs milliseconds per call whatever its length; this runs
        the same cells (``torch.lstm_cell`` with the LSTM's weights), about 10x faster per token.
        Dropout is not applied (call it in eval mode).

        Args:
            tokens: int64 ``(B,)`` (1D) or ``(B, 2)`` (2D).
            state: ``(h, c)`` of shape ``(num_layers, B, hidden_size)`` or ``None``.

        Returns:
            ``(logits, state)``: logits ``(B, vocab_size)`` (or the (pitch, duration) pair of
            ``(B, V)`` tensors for 2D), and the new state.
        """
        x = self.embed_tokens(tokens[:, None])[:, 0]
        c = self.config
        if state is None:
            z = x.new_zeros(c.num_layers, x.shape[0], c.hidden_size)
            state = (z, z)
        hs, cs = [], []
        for k in range(c.num_layers):
            h, cell = torch.lstm_cell(x, (state[0][k], state[1][k]), getattr(self.lstm, f"weight_ih_l{k}"),
                                      getattr(self.lstm, f"weight_hh_l{k}"), getattr(self.lstm, f"bias_ih_l{k}"),
                                      getattr(self.lstm, f"bias_hh_l{k}"))
            hs.append(h)
            cs.append(cell)
            x = h
        new_state = (torch.stack(hs), torch.stack(cs))
        if self.two_streams:
            return (self.head(x), self.dur_head(x)), new_state
        return self.head(x), new_state


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                         label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over the positions where ``mask`` is True.

    With ``label_smoothing = s`` the target distribution is ``(1 - s) onehot + s / V``.

    Args:
        logits: ``(B, T, V)``.
        target: int64 ``(B, T)``.
        mask: bool ``(B, T)``.
        label_smoothing: ``s`` in [0, 1).

    Returns:
        Scalar tensor (nats per predicted token).
    """
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none",
                         label_smoothing=float(label_smoothing))
    m = mask.reshape(-1).to(ce.dtype)
    return (ce * m).sum() / m.sum().clamp_min(1.0)


def lstm_loss(model: LSTMLM, batch: dict[str, torch.Tensor], label_smoothing: float = 0.0) -> torch.Tensor:
    """Training loss of a batch: masked cross-entropy at every position.

    For 2D tokens, the pitch and the duration cross-entropies are summed.
    ``label_smoothing`` as :func:`masked_cross_entropy`.

    Args:
        model: the model, or a wrapper of it with a ``module`` attribute (DDP, as
            :func:`maqamgen.train.train` passes it under torchrun).
        batch: a :func:`maqamgen.sequences.collate` dict: ``input`` and ``target``
            ``(B, T)`` or ``(B, T, 2)``, ``mask`` ``(B, T)``; moved to the model's device.

    Returns:
        Scalar loss tensor.

    Used in: book/part2/07_lstm_tokens.md
    """
    dev = next(model.parameters()).device
    x, y, m = (batch[k].to(dev, non_blocking=True) for k in ("input", "target", "mask"))
    logits, _ = model(x)
    if getattr(model, "module", model).two_streams:
        pitch, dur = logits
        return (masked_cross_entropy(pitch, y[..., 1], m, label_smoothing)
                + masked_cross_entropy(dur, y[..., 0], m, label_smoothing))
    return masked_cross_entropy(logits, y, m, label_smoothing)


def sample_logits(logits: torch.Tensor, temperature: float, top_k: int | None,
                  generator: torch.Generator) -> torch.Tensor:
    """Sample one token per row of ``logits`` ``(B, V)`` (``PAD`` is never sampled).

    Args:
        logits: ``(B, V)``.
        temperature: > 0; lower is more conservative.
        top_k: keep only the ``top_k`` most likely tokens (1 = greedy); ``None`` keeps all.
        generator: a CPU ``torch.Generator``.

    Returns:
        int64 ``(B,)``.
    """
    z = logits.detach().float().cpu() / temperature
    z[:, PAD] = -float("inf")
    if top_k is not None and top_k < z.shape[-1]:
        kth = torch.topk(z, top_k, dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, -float("inf"))
    return torch.multinomial(torch.softmax(z, dim=-1), 1, generator=generator)[:, 0]


@torch.inference_mode()
def generate(model: LSTMLM, prompt, n_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             seed: int = 0, window: int | None = None) -> np.ndarray:
    """Sample ``n_tokens`` tokens after ``prompt``.

    With ``window=None`` the generation streams: the LSTM state is carried from token to
    token (O(1) per token, any length). With ``window=W`` it works as the report's code did:
    every step re-reads the last ``W`` tokens from a zero state (O(W) per token), the same
    window as training (:func:`maqamgen.sequences.take_window`).

    Args:
        model: the model (put in eval mode during the call, then restored).
        prompt: int tokens ``(P,)`` (1D) or ``(P, 2)`` (2D), ``P >= 1`` (e.g. ``[BOS]``).
        n_tokens: number of tokens to generate (>= 0).
        temperature: softmax temperature (> 0).
        top_k: sample among the ``top_k`` most likely tokens (1 = greedy).
        seed: seed of the sampling ``torch.Generator``; same seed, same tokens.
        window: sliding context length, or ``None`` to carry the state.

    Returns:
        int64 array ``(n_tokens,)`` or ``(n_tokens, 2)``: the new tokens only.

    Raises:
        ConfigError: empty prompt, negative length, non-positive temperature, top_k or window.

    Used in: book/part2/07_lstm_tokens.md
    """
    if not temperature > 0 or (top_k is not None and top_k < 1) or (window is not None and window < 1) \
            or int(n_tokens) < 0:
        raise ConfigError(f"generate needs temperature > 0, top_k >= 1, window >= 1, n_tokens >= 0 "
                          f"(got {temperature}, {top_k}, {window}, {n_tokens})")
    dev = next(model.parameters()).device
    p = torch.as_tensor(np.asarray(prompt, dtype=np.int64), device=dev)
    if len(p) == 0:
        raise ConfigError("generate needs a prompt of at least one token (e.g. [BOS])")
    n = int(n_tokens)
    seq = torch.empty((len(p) + n, *p.shape[1:]), dtype=torch.int64, device=dev)
    seq[:len(p)] = p
    g = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    try:
        state = None
        if window is None:
            logits, state = model(p[None])
            logits = _last(logits)
        for i in range(n):
            pos = len(p) + i
            if window is not None:
                logits = _last(model(take_window(seq[:pos], pos - window, window)[None])[0])
            seq[pos] = _sample_next(model, logits, temperature, top_k, g).to(dev)
            if window is None and i < n - 1:
                logits, state = model.step(seq[pos:pos + 1], state)
    finally:
        model.train(was_training)
    return seq[len(p):].cpu().numpy()


def _last(logits):
    """Logits ``(B, T, V)`` (or a pair of them) at the last position: ``(B, V)``."""
    return tuple(z[:, -1] for z in logits) if isinstance(logits, tuple) else logits[:, -1]


def _sample_next(model: LSTMLM, logits, temperature: float, top_k: int | None,
                 g: torch.Generator) -> torch.Tensor:
    """The next token (``()`` or ``(2,)`` as (duration, pitch)) from logits ``(1, V)``."""
    if model.two_streams:
        pitch, dur = logits
        return torch.stack([sample_logits(dur, temperature, top_k, g)[0],
                            sample_logits(pitch, temperature, top_k, g)[0]])
    return sample_logits(logits, temperature, top_k, g)[0]
