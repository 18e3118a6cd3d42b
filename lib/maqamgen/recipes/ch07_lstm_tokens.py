"""Chapter 7 and ``maqamgen train/generate lstm``: the LSTM recipe, its evaluation and its outputs.

What the chapter and the CLI share, on top of :mod:`maqamgen.tokens`, :mod:`maqamgen.sequences`,
:mod:`maqamgen.nets.lstm` and the one training loop :func:`maqamgen.train.train`:

* :class:`TokenSpec` -- how a note list becomes one token sequence (1D frames or 2D
  (duration, pitch) rows, a ``BOS`` first) and back, and how many seconds of music a stretch
  of tokens lasts (for NLL *per second*, which makes the two formats comparable).
* :func:`transpose` / :func:`maqam_pieces` / :func:`bach_pieces` -- the training pieces: the
  maqam corpus moved to one reference tonic (:data:`REF_TONIC_HZ`), the Bach chorales as they are.
* :func:`train_lm` -- one training run (loss ``ce``, ``label_smoothing`` or ``mse``; the report's
  "independent tokens" pipeline with ``independent=True``), cached under
  ``data/cache/lstm/<hash of everything that defines it>``.
* :func:`evaluate` -- validation NLL per token and per second, perplexity, next-token accuracy,
  each piece read once from its ``BOS`` with the LSTM state carried (no window resets).
* :func:`ngram_nll` -- unigram / bigram count baselines on the same pieces.
* Music metrics on note lists: :func:`pitch_class_distribution`, :func:`interval_histogram`,
  :func:`js_divergence`, :func:`out_of_scale_rate`, :func:`windowed` (drift over a long
  generation).
* :func:`continuation` -- sample a continuation of a prompt lasting a given number of seconds.
* :func:`cli_train` / :func:`cli_generate` -- the two CLI commands.

Used in: book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from maqamgen import maqam as mq
from maqamgen.config import TrainConfig
from maqamgen import runtime
from maqamgen.runtime import cache_dir
from maqamgen.errors import ConfigError, NotesError
from maqamgen.nets.lstm import LSTMLM, LSTMConfig, generate, masked_cross_entropy
from maqamgen.notes import Note
from maqamgen.sequences import WindowDataset, collate, window_loader
from maqamgen.tokens import (BOS, DUR_PAD, PAD, REST, DurationGrid, PitchVocab,
                             notes_to_tokens_1d, notes_to_tokens_2d, tokens_1d_to_notes,
                             tokens_2d_to_notes)

CACHE_VERSION = 1
"""Part of every cache key; bumped when a cached run would no longer be what the code trains."""

REF_TONIC_HZ = 146.83
"""Reference tonic (D3) every maqam clip is transposed to: a pitch of the 24-TET token grid."""

LOSSES = ("ce", "label_smoothing", "mse")
"""Training losses: cross-entropy, label-smoothed cross-entropy, MSE on the pitch index."""

MSE_SCALE = 24.0
"""The MSE loss measures index errors in units of this many tokens (an octave of quarter tones)."""


# ----------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class TokenSpec:
    """How notes become one token sequence and back.

    Attributes:
        fmt: ``"1d"`` (the sounding note every ``1 / rate_hz`` s) or ``"2d"`` ((duration, pitch)
            rows, one per note or rest).
        rate_hz: frames per second of 1D tokens.
        hold: 1D tokens write ``HOLD`` after a note's first frame.
        resolution_cents, f_min_hz, f_max_hz: the :class:`~maqamgen.tokens.PitchVocab`.
        dur_kind, dur_min_s, dur_max_s, dur_bins: the :class:`~maqamgen.tokens.DurationGrid`.

    Used in: book/part2/07_lstm_tokens.md
    """

    fmt: str = "1d"
    rate_hz: float = 8.0
    hold: bool = False
    resolution_cents: float = 50.0
    f_min_hz: float = 55.0
    f_max_hz: float = 1100.0
    dur_kind: str = "log"
    dur_min_s: float = 1.0 / 32.0
    dur_max_s: float = 4.0
    dur_bins: int = 32

    def __post_init__(self):
        if self.fmt not in ("1d", "2d"):
            raise ConfigError(f"token format {self.fmt!r} is not '1d' or '2d'")

    @property
    def vocab(self) -> PitchVocab:
        return PitchVocab(self.resolution_cents, self.f_min_hz, self.f_max_hz)

    @property
    def grid(self) -> DurationGrid:
        return DurationGrid(self.dur_kind, self.dur_min_s, self.dur_max_s, self.dur_bins)

    @property
    def dur_vocab_size(self) -> int:
        """Size of the duration stream (0 for 1D tokens)."""
        return self.grid.n_tokens if self.fmt == "2d" else 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def bos(self) -> np.ndarray:
        """The one-token prompt ``[BOS]`` (``[(DUR_PAD, BOS)]`` for 2D)."""
        return np.array([[DUR_PAD, BOS]] if self.fmt == "2d" else [BOS], dtype=np.int64)

    def fold(self, notes: list[Note]) -> list[Note]:
        """The notes with pitches outside the vocabulary moved by octaves into it."""
        lo, hi = self.vocab.pitches_hz()[[0, -1]]
        out = []
        for n in notes:
            f = n.freq_hz
            while f < lo * 2 ** (-self.resolution_cents / 2400):
                f *= 2.0
            while f > hi * 2 ** (self.resolution_cents / 2400):
                f /= 2.0
            out.append(n if f == n.freq_hz else dataclasses.replace(n, freq_hz=f))
        return out

    def encode(self, notes: list[Note], bos: bool = True) -> np.ndarray:
        """Token sequence of ``notes``: ``(L,)`` for 1D, ``(L, 2)`` for 2D; ``BOS`` first."""
        if self.fmt == "1d":
            t = notes_to_tokens_1d(notes, self.rate_hz, self.vocab, hold=self.hold)
        else:
            t = notes_to_tokens_2d(notes, self.vocab, self.grid)
        return np.concatenate([self.bos(), t]) if bos else t

    def decode(self, tokens) -> list[Note]:
        """Notes of a token sequence (special tokens are silent, or skipped in 2D)."""
        if self.fmt == "1d":
            return tokens_1d_to_notes(tokens, self.rate_hz, self.vocab, hold=self.hold)
        return tokens_2d_to_notes(tokens, self.vocab, self.grid)

    def seconds_per_token(self, tokens) -> np.ndarray:
        """Seconds of music each token stands for, shape ``(L,)`` (0 for BOS/PAD rows in 2D)."""
        t = np.asarray(tokens)
        if self.fmt == "1d":
            return np.full(len(t), 1.0 / self.rate_hz)
        p = t[:, 1]
        ok = (t[:, 0] != DUR_PAD) & ((p == REST) | self.vocab.is_pitch(p))
        return np.where(ok, self.grid.decode(t[:, 0]), 0.0)

    def seconds(self, tokens) -> float:
        """Seconds of music a token sequence lasts."""
        return float(self.seconds_per_token(tokens).sum())


def transpose(notes: list[Note], from_hz: float, to_hz: float) -> list[Note]:
    """The notes moved by the interval ``to_hz / from_hz`` (ornament pitches too).

    Used in: book/part2/07_lstm_tokens.md
    """
    r = float(to_hz) / float(from_hz)
    out = []
    for n in notes:
        orn = n.ornament
        if orn and "from_hz" in orn:
            orn = {**orn, "from_hz": orn["from_hz"] * r}
        out.append(dataclasses.replace(n, freq_hz=n.freq_hz * r, ornament=orn))
    return out


def maqam_pieces(corp, split: str, spec: TokenSpec, relative: bool = True):
    """Token sequences of a corpus split.

    Args:
        corp: a :class:`maqamgen.corpus.Corpus`.
        split: ``train``, ``validation`` or ``test``.
        spec: the token format.
        relative: move every clip's tonic to :data:`REF_TONIC_HZ` (else absolute pitches).

    Returns:
        ``(pieces, clips, notes)``: token arrays, their :class:`~maqamgen.corpus.Clip` and the
        (transposed) notes.

    Used in: book/part2/07_lstm_tokens.md
    """
    pieces, clips, all_notes = [], [], []
    for c in corp.split(split):
        notes, _ = corp.notes(c)
        if relative:
            notes = transpose(notes, c.tonic_hz, REF_TONIC_HZ)
        notes = spec.fold(notes)
        pieces.append(spec.encode(notes))
        clips.append(c)
        all_notes.append(notes)
    return pieces, clips, all_notes


def bach_pieces(chorales, spec: TokenSpec):
    """Token sequences of ``[(name, notes), ...]`` (:func:`maqamgen.data.bach_chorales`).

    Used in: book/part2/07_lstm_tokens.md
    """
    return [spec.encode(spec.fold(notes)) for _, notes in chorales]


def digest(obj) -> str:
    """Short content hash of JSON-able objects and arrays (cache keys)."""
    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, np.ndarray):
            h.update(str(x.shape).encode())
            h.update(np.ascontiguousarray(x, dtype=np.int64).tobytes())
        elif isinstance(x, (list, tuple)) and x and isinstance(x[0], np.ndarray):
            for y in x:
                feed(y)
        else:
            h.update(json.dumps(x, sort_keys=True, default=str).encode())

    feed(obj)
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- losses


def make_loss(kind: str = "ce", smoothing: float = 0.1):
    """The ``loss_fn(model, batch)`` of :func:`maqamgen.train.train` for a loss ``kind``.

    * ``ce``: masked cross-entropy at every position (:func:`maqamgen.nets.lstm.lstm_loss`);
      for 2D tokens the pitch and duration cross-entropies are summed.
    * ``label_smoothing``: the same with the target distribution ``(1 - s) onehot + s / V``.
    * ``mse``: the report's other option, regression on the pitch *index*: the prediction is
      the expected token index under the softmax, ``sum_k p_k k``, and the loss
      ``((E[k] - k_target) / MSE_SCALE)^2``. 1D tokens only.

    Used in: book/part2/07_lstm_tokens.md
    """
    if kind not in LOSSES:
        raise ConfigError(f"unknown loss {kind!r}; known: {', '.join(LOSSES)}")
    s = smoothing if kind == "label_smoothing" else 0.0

    def ce(logits, target, mask):
        if not s:
            return masked_cross_entropy(logits, target, mask)
        v = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                            reduction="none", label_smoothing=s)
        m = mask.reshape(-1).to(v.dtype)
        return (v * m).sum() / m.sum().clamp_min(1.0)

    def loss_fn(model, batch):
        dev = next(model.parameters()).device
        x, y, m = (batch[k].to(dev) for k in ("input", "target", "mask"))
        logits, _ = model(x)
        net = getattr(model, "module", model)
        if kind == "mse":
            if net.two_streams:
                raise ConfigError("the mse loss is for 1D tokens only")
            e = expected_index(logits)
            err = ((e - y.to(e.dtype)) / MSE_SCALE) ** 2
            mf = m.to(err.dtype)
            return (err * mf).sum() / mf.sum().clamp_min(1.0)
        if net.two_streams:
            pitch, dur = logits
            return ce(pitch, y[..., 1], m) + ce(dur, y[..., 0], m)
        return ce(logits, y, m)

    return loss_fn


def expected_index(logits: torch.Tensor) -> torch.Tensor:
    """``sum_k softmax(logits)_k * k`` over the last axis (PAD excluded): the MSE model's output."""
    z = logits.clone()
    z[..., PAD] = -float("inf")
    k = torch.arange(z.shape[-1], dtype=z.dtype, device=z.device)
    return (torch.softmax(z, dim=-1) * k).sum(-1)


# ----------------------------------------------------------------------------- training


@dataclass
class Run:
    """A trained model and what its training recorded.

    Attributes:
        model: the network (CPU, eval mode).
        spec: its token format.
        loss: the training loss kind.
        losses: training loss per logged step, ``[(step, loss), ...]``.
        val: validation curve ``[(step, nats per token), ...]`` (empty if not recorded).
        seconds: training wall time, s (of the run that trained it, also when cached).
        cached: whether it was read from the cache.
        folder: the run's folder (``checkpoint.pt``, ``losses.csv``, ``run.json``).
        tokens_per_step: mean predicted tokens per optimizer step.
    """

    model: LSTMLM
    spec: TokenSpec
    loss: str
    losses: list
    val: list
    seconds: float
    cached: bool
    folder: Path
    tokens_per_step: float = 0.0
    meta: dict = field(default_factory=dict)


def model_config(spec: TokenSpec, embed_dim: int, hidden_size: int, num_layers: int,
                 dropout: float) -> LSTMConfig:
    """The :class:`~maqamgen.nets.lstm.LSTMConfig` for a token format and sizes."""
    return LSTMConfig(vocab_size=spec.vocab.size, dur_vocab_size=spec.dur_vocab_size,
                      embed_dim=int(embed_dim), hidden_size=int(hidden_size),
                      num_layers=int(num_layers), dropout=float(dropout))


def _dataset(pieces, window: int, independent: bool):
    if independent:  # the report's bug: every token on its own, no temporal context
        return WindowDataset(pieces, 1)
    return WindowDataset(pieces, window)


def train_lm(pieces, spec: TokenSpec, mcfg: LSTMConfig, tcfg: TrainConfig, window: int = 64,
             loss: str = "ce", independent: bool = False, val_pieces=None, val_every: int = 0,
             out_dir: str | Path | None = None, resume: bool = False, threads: int | None = 1,
             use_cache: bool = True, name: str = "") -> Run:
    """Train an :class:`~maqamgen.nets.lstm.LSTMLM` on token pieces with :func:`maqamgen.train.train`.

    Windows of ``window`` tokens are cut inside each piece (:class:`~maqamgen.sequences.WindowDataset`),
    every position predicts its next token. With ``independent=True`` each token is its own
    example (windows of one token from a zero state: the report's pre-Phase-6 pipeline) and the
    batch grows by ``window`` so that a step sees as many tokens.

    Without ``out_dir`` the run goes to ``data/cache/lstm/<hash>``, the hash covering the pieces,
    token format, model and training configs, window, loss and flags; a finished run there is
    loaded instead of retrained (``use_cache``).

    Args:
        pieces: token arrays (each starting with BOS).
        spec: their format.
        mcfg: model size.
        tcfg: training settings (its ``batch_size`` is windows per step).
        window: window length W.
        loss: a :data:`LOSSES` kind.
        independent: the "independent tokens" pipeline.
        val_pieces: validation pieces for the curve (:func:`evaluate` every ``val_every`` steps).
        val_every: 0 = no validation curve.
        out_dir: explicit run folder (no cache lookup unless ``resume``).
        resume: continue a run in ``out_dir`` from its checkpoint.
        threads: torch intra-op threads while training.
        use_cache: reuse a finished cached run.
        name: label kept in ``run.json``.

    Returns:
        The :class:`Run`.

    Used in: book/part2/07_lstm_tokens.md
    """
    from maqamgen import train as trainer

    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    if loss == "mse" and spec.fmt == "2d":
        raise ConfigError("the mse loss is for 1D tokens only")
    key = digest([CACHE_VERSION, spec.to_dict(), dataclasses.asdict(mcfg),
                  {k: v for k, v in tcfg.to_dict().items() if k not in ("progress", "ckpt_every", "log_every")},
                  window, loss, independent, val_every, list(pieces),
                  list(val_pieces) if (val_pieces is not None and val_every) else None])
    folder = Path(out_dir) if out_dir is not None else cache_dir("lstm", key)
    info_path = folder / "run.json"
    model = LSTMLM(mcfg)
    if use_cache and not resume and info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("key") == key and info.get("done"):
            trainer.load_checkpoint(folder, model, use_ema=True)
            return Run(model.eval(), spec, loss, [tuple(x) for x in info["losses"]],
                       [tuple(x) for x in info["val"]], info["seconds"], True, folder,
                       info["tokens_per_step"], info)
    ds = _dataset(pieces, window, independent)
    cfg = tcfg.replace(batch_size=tcfg.batch_size * (window if independent else 1), progress=False,
                       ckpt_every=max(tcfg.steps, 1), device="cpu")
    if len(ds) < cfg.batch_size:
        cfg = cfg.replace(batch_size=max(1, len(ds)))
    loss_fn = make_loss(loss)
    val: list = []
    if resume and info_path.exists():
        val = [tuple(x) for x in json.loads(info_path.read_text()).get("val", [])]

    def record(state):
        if val_every and val_pieces is not None and (state.step % val_every == 0 or state.step == cfg.steps):
            state.model.eval()
            val.append((state.step, evaluate(state.model, val_pieces, spec, loss)["nats_per_token"]))
            state.model.train()

    t0 = time.time()
    with runtime.torch_threads(threads):
        loader = window_loader(ds, cfg.batch_size, seed=cfg.seed)  # its collate pads and masks
        res = trainer.train(model, loader, loss_fn, cfg, folder, resume=resume, callbacks=[record])
    seconds = time.time() - t0
    model = res.ema_model().cpu().eval()
    lengths = [min(window if not independent else 1, len(p) - 1 - s) for p, s in
               ((pieces[i], s) for i, s in ds.index)] if len(ds) else [0]
    tps = float(np.mean(lengths)) * cfg.batch_size
    logged = trainer.read_losses(folder)
    losses = list(zip(logged["step"], logged["loss"]))
    info = {"key": key, "done": res.step >= cfg.steps, "name": name, "spec": spec.to_dict(),
            "model": dataclasses.asdict(mcfg), "train": cfg.to_dict(), "window": window,
            "loss": loss, "independent": independent, "seconds": seconds, "losses": losses,
            "val": val, "tokens_per_step": tps, "steps": res.step}
    info_path.write_text(json.dumps(info))
    return Run(model, spec, loss, losses, val, seconds, False, folder, tps, info)


def load_run(folder: str | Path) -> Run:
    """A run written by :func:`train_lm` (its ``run.json`` and checkpoint)."""
    from maqamgen import train as trainer

    folder = Path(folder)
    info_path = folder / "run.json"
    if not info_path.exists():
        raise ConfigError("not an LSTM run folder (no run.json); train one with `maqamgen train lstm`", folder)
    info = json.loads(info_path.read_text())
    spec = TokenSpec(**info["spec"])
    model = LSTMLM(LSTMConfig(**info["model"]))
    trainer.load_checkpoint(folder, model, use_ema=True)
    return Run(model.eval(), spec, info["loss"], info["losses"], info["val"], info["seconds"], True,
               folder, info["tokens_per_step"], info)


# ----------------------------------------------------------------------------- likelihood


@torch.inference_mode()
def evaluate(model: LSTMLM, pieces, spec: TokenSpec, loss: str = "ce", batch: int = 64) -> dict:
    """Next-token NLL of whole pieces, each read from its BOS with the state carried.

    Returns:
        ``{"nats_per_token", "nats_per_second", "bits_per_second", "perplexity",
        "accuracy", "n_tokens", "seconds"}``. For 2D tokens a token is a (duration, pitch)
        row and its NLL the sum of the two streams'; ``accuracy`` is the top-1 accuracy of the
        pitch stream (for an ``mse`` model: the rounded expected index).
        ``nats_per_second`` = total nats / seconds of music predicted.

    Used in: book/part2/07_lstm_tokens.md
    """
    was = model.training
    model.eval()
    total, correct, n, secs = 0.0, 0, 0, 0.0
    pieces = [p for p in pieces if len(p) >= 2]
    for i in range(0, len(pieces), batch):
        chunk = pieces[i:i + batch]
        ds = WindowDataset(chunk, max(len(p) for p in chunk))
        b = collate([ds[j] for j in range(len(ds))])
        x, y, m = b["input"], b["target"], b["mask"]
        logits, _ = model(x)
        if model.two_streams:
            pitch, dur = logits
            nll = (F.cross_entropy(pitch.transpose(1, 2), y[..., 1], reduction="none")
                   + F.cross_entropy(dur.transpose(1, 2), y[..., 0], reduction="none"))
            pred, tgt = pitch.argmax(-1), y[..., 1]
        else:
            nll = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
            pred = (expected_index(logits).round().long() if loss == "mse" else logits.argmax(-1))
            tgt = y
        total += float(nll[m].sum())
        correct += int((pred == tgt)[m].sum())
        n += int(m.sum())
        for j in range(len(y)):
            secs += spec.seconds(y[j][m[j]].numpy())
    model.train(was)
    npt = total / max(n, 1)
    nps = total / max(secs, 1e-9)
    return {"nats_per_token": npt, "nats_per_second": nps, "bits_per_second": nps / math.log(2),
            "perplexity": math.exp(min(npt, 50.0)), "accuracy": correct / max(n, 1),
            "n_tokens": n, "seconds": secs}


def ngram_nll(train_pieces, val_pieces, spec: TokenSpec, order: int = 1, alpha: float = 0.1) -> dict:
    """Count baselines: add-``alpha`` unigram (``order=1``) or bigram (``order=2``) NLL.

    2D rows are scored stream by stream (duration and pitch each their own n-gram; the row's
    NLL is the sum), like the LSTM's two heads.

    Returns:
        ``{"nats_per_token", "nats_per_second"}`` on ``val_pieces`` (BOS as the first context).

    Used in: book/part2/07_lstm_tokens.md
    """
    if order not in (1, 2):
        raise ConfigError(f"order={order} must be 1 or 2")
    streams = [(1, spec.vocab.size), (0, spec.dur_vocab_size)] if spec.fmt == "2d" else [(None, spec.vocab.size)]
    total, n, secs = 0.0, 0, 0.0
    for col, V in streams:
        def seq(p):
            return np.asarray(p if col is None else np.asarray(p)[:, col], dtype=np.int64)

        C = np.zeros((V if order == 2 else 1, V))
        for p in train_pieces:
            s = seq(p)
            if order == 1:
                np.add.at(C[0], s[1:], 1)
            else:
                np.add.at(C, (s[:-1], s[1:]), 1)
        P = (C + alpha) / (C + alpha).sum(axis=1, keepdims=True)
        for p in val_pieces:
            s = seq(p)
            rows = np.zeros(len(s) - 1, dtype=np.int64) if order == 1 else s[:-1]
            total -= float(np.log(P[rows, s[1:]]).sum())
            if col in (None, 1):
                n += len(s) - 1
                secs += spec.seconds(np.asarray(p)[1:])
    return {"nats_per_token": total / max(n, 1), "nats_per_second": total / max(secs, 1e-9)}


# ----------------------------------------------------------------------------- generation


@torch.inference_mode()
def _regress(model: LSTMLM, prompt, n: int) -> np.ndarray:
    """Generation of an ``mse`` model: each next token is its rounded expected index (greedy)."""
    p = torch.as_tensor(np.asarray(prompt, dtype=np.int64))
    logits, state = model(p[None])
    z = logits[:, -1]
    out = []
    V = model.config.vocab_size
    for i in range(n):
        tok = int(torch.clamp(expected_index(z).round(), REST, V - 1)[0])
        out.append(tok)
        z, state = model.step(torch.tensor([tok]), state)
    return np.asarray(out, dtype=np.int64)


def continuation(model: LSTMLM, spec: TokenSpec, prompt, seconds: float, seed: int = 0,
                 temperature: float = 1.0, top_k: int | None = None, window: int | None = None,
                 loss: str = "ce") -> np.ndarray:
    """Sample tokens after ``prompt`` until they last ``seconds`` of music.

    1D: ``seconds * rate_hz`` tokens. 2D: rows are sampled in chunks until their durations
    add up to ``seconds``; the last chunk is cut at the first row that reaches it.

    Args:
        model: the model.
        spec: its token format.
        prompt: prompt tokens (e.g. ``spec.bos()`` or the opening of a piece).
        seconds: length of music to generate, s.
        seed: sampling seed.
        temperature, top_k, window: as :func:`maqamgen.nets.lstm.generate`.
        loss: the model's training loss (``mse`` models generate greedily by regression).

    Returns:
        The new tokens only.

    Used in: book/part2/07_lstm_tokens.md
    """
    prompt = np.asarray(prompt, dtype=np.int64)
    with runtime.torch_threads(1):
        if spec.fmt == "1d":
            n = int(round(seconds * spec.rate_hz))
            if loss == "mse":
                return _regress(model, prompt, n)
            return generate(model, prompt, n, temperature=temperature, top_k=top_k, seed=seed, window=window)
        out = np.zeros((0, 2), dtype=np.int64)
        done, k = 0.0, 0
        while done < seconds and k < 64:
            chunk = max(16, int(seconds * 4))
            ctx = np.concatenate([prompt, out]) if len(out) else prompt
            new = generate(model, ctx, chunk, temperature=temperature, top_k=top_k, seed=seed + 7919 * k,
                           window=window)
            cum = done + np.cumsum(spec.seconds_per_token(new))
            stop = int(np.searchsorted(cum, seconds)) + 1 if cum[-1] >= seconds else len(new)
            out = np.concatenate([out, new[:stop]])
            done = spec.seconds(out)
            k += 1
        return out


def prompt_of(piece, spec: TokenSpec, seconds: float) -> np.ndarray:
    """The opening of a piece lasting ``seconds`` s of music (its BOS included).

    Used in: book/part2/07_lstm_tokens.md
    """
    piece = np.asarray(piece)
    cum = np.cumsum(spec.seconds_per_token(piece[1:]))
    k = int(np.searchsorted(cum, seconds - 1e-9)) + 2
    return piece[:max(2, min(k, len(piece)))]


# ----------------------------------------------------------------------------- music metrics


def pitch_class_distribution(notes: list[Note], ref_hz: float, bins: int = 24,
                             weight: str = "duration") -> np.ndarray:
    """Pitch-class distribution of notes relative to ``ref_hz``: ``bins`` classes per octave.

    Class ``k`` holds pitches ``round(1200 log2(f / ref_hz) * bins / 1200) mod bins``; each note
    weighs its duration (``weight="duration"``) or 1 (``"count"``). Sums to 1 (zeros if empty).

    Used in: book/part2/07_lstm_tokens.md
    """
    h = np.zeros(bins)
    if not notes:
        return h
    f = np.array([n.freq_hz for n in notes])
    w = np.array([n.duration for n in notes]) if weight == "duration" else np.ones(len(notes))
    k = np.mod(np.rint(1200.0 * np.log2(f / ref_hz) * bins / 1200.0).astype(int), bins)
    np.add.at(h, k, w)
    return h / h.sum() if h.sum() > 0 else h


def interval_histogram(notes: list[Note], step_cents: float = 50.0, max_cents: float = 1200.0) -> np.ndarray:
    """Histogram of the intervals between successive notes (by onset), in ``step_cents`` bins.

    Bins ``-max_cents .. +max_cents`` (wider leaps fall in the end bins); sums to 1.

    Used in: book/part2/07_lstm_tokens.md
    """
    m = int(round(max_cents / step_cents))
    h = np.zeros(2 * m + 1)
    s = sorted(notes, key=lambda n: n.onset)
    if len(s) < 2:
        return h
    f = np.array([n.freq_hz for n in s])
    k = np.clip(np.rint(1200.0 * np.log2(f[1:] / f[:-1]) / step_cents).astype(int), -m, m) + m
    np.add.at(h, k, 1.0)
    return h / h.sum()


def js_divergence(p, q) -> float:
    """Jensen-Shannon divergence between two distributions, in bits (0 = equal, 1 = disjoint).

    Used in: book/part2/07_lstm_tokens.md
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a, b):
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / b[nz])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def out_of_scale_rate(notes: list[Note], maqam: str, tonic_hz: float, tol_cents: float = 25.0,
                      weight: str = "duration") -> float:
    """Share of the notes (by duration, or by count) farther than ``tol_cents`` from every
    pitch class of ``maqam`` on ``tonic_hz`` (:func:`maqamgen.maqam.pitch_classes_cents`, 24-TET).

    Used in: book/part2/07_lstm_tokens.md
    """
    if not notes:
        return float("nan")
    pcs = mq.pitch_classes_cents(maqam, practice=False)
    c = np.mod(1200.0 * np.log2(np.array([n.freq_hz for n in notes]) / tonic_hz), 1200.0)
    d = np.abs(c[:, None] - pcs[None, :])
    d = np.minimum(d, 1200.0 - d).min(axis=1)
    w = np.array([n.duration for n in notes]) if weight == "duration" else np.ones(len(notes))
    return float(np.sum(w * (d > tol_cents)) / np.sum(w))


def generation_metrics(continuations: list[list[Note]], maqamat: list[str], ref_pcd: dict,
                       ref_intervals: np.ndarray, tonic_hz: float = REF_TONIC_HZ) -> dict:
    """Symbolic judgement of continuations, each asked for in a maqam (all on ``tonic_hz``).

    Returns:
        ``{"out_of_scale": mean :func:`out_of_scale_rate`, "pcd_js": mean JS divergence (bits)
        between each continuation's 24-class PCD and ``ref_pcd[maqam]``, "interval_js": JS
        divergence between the pooled interval histogram and ``ref_intervals``,
        "notes_per_s": notes per second}``.

    Used in: book/part2/07_lstm_tokens.md
    """
    oos, js, secs, n = [], [], 0.0, 0
    pooled = []
    for notes, m in zip(continuations, maqamat):
        if notes:
            oos.append(out_of_scale_rate(notes, m, tonic_hz))
            js.append(js_divergence(pitch_class_distribution(notes, tonic_hz), ref_pcd[m]))
            pooled.append(interval_histogram(notes) * max(len(notes) - 1, 0))
            n += len(notes)
            secs += max(x.offset for x in notes)
    iv = np.sum(pooled, axis=0) if pooled else np.zeros_like(ref_intervals)
    return {"out_of_scale": float(np.mean(oos)) if oos else float("nan"),
            "pcd_js": float(np.mean(js)) if js else float("nan"),
            "interval_js": js_divergence(iv, ref_intervals),
            "notes_per_s": n / max(secs, 1e-9)}


def windowed(notes: list[Note], window_s: float, fn, total_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``fn(notes in window)`` for successive windows of ``window_s`` s (notes by onset).

    Returns:
        ``(window start times in s, values)``; NaN for an empty window.

    Used in: book/part2/07_lstm_tokens.md
    """
    end = total_s if total_s is not None else (max(n.offset for n in notes) if notes else 0.0)
    starts = np.arange(0.0, max(end, 1e-9), window_s)
    vals = []
    for s in starts:
        part = [n for n in notes if s <= n.onset < s + window_s]
        vals.append(fn(part) if part else float("nan"))
    return starts, np.array(vals, dtype=float)


def shift(notes: list[Note], dt: float) -> list[Note]:
    """The notes moved by ``dt`` seconds (negative onsets dropped, offsets cut at 0)."""
    out = []
    for n in notes:
        on, off = n.onset + dt, n.offset + dt
        if off > 0:
            out.append(dataclasses.replace(n, onset=max(on, 0.0), offset=off))
    return out


def crop(notes: list[Note], start: float, end: float) -> list[Note]:
    """The notes between ``start`` and ``end`` s (cut at the edges), moved to start at 0."""
    out = []
    for n in notes:
        on, off = max(n.onset, start), min(n.offset, end)
        if off - on > 1e-6:
            out.append(dataclasses.replace(n, onset=on - start, offset=off - start))
    return out


# ----------------------------------------------------------------------------- CLI


def write_notes_any(path: str | Path, notes: list[Note], sr: int = 22050, seed: int = 0,
                    meta: dict | None = None) -> Path:
    """Write notes by extension: ``.json`` (note JSON), ``.mid``/``.midi`` (MIDI with pitch
    bends), ``.wav``/``.flac``/``.ogg`` (the oud synth).

    Raises:
        ConfigError: another extension. NotesError: no notes or a failed write.
    """
    from maqamgen import audio, data, notes as notes_io, synth

    p = Path(path)
    ext = p.suffix.lower()
    if not notes:
        raise NotesError("the generation produced no notes (only rests); try another --seed", p)
    if ext == ".json":
        return notes_io.write_notes(p, notes, meta)
    if ext in (".mid", ".midi"):
        return data.write_midi(p, notes)
    if ext in (".wav", ".flac", ".ogg"):
        if not p.parent.is_dir():
            raise NotesError(f"folder {p.parent} does not exist", p)
        return audio.save_audio(p, synth.render(notes, sr=sr, seed=seed), sr)
    raise ConfigError(f"unknown output type {ext or '(none)'!r}; use .json, .mid or .wav", p)


def cli_train(notes_path: str | Path, out_dir: str | Path, tokens: str = "1d", profile: str = "book",
              steps: int | None = None, resume: bool = False, seconds: float = 30.0, seed: int = 0,
              rate_hz: float | None = None, log=print) -> dict:
    """``maqamgen train lstm``: train on one transcription, write a checkpoint and a continuation.

    The piece (absolute pitches; out-of-range notes folded by octaves) is split in time: the
    first 90% trains, the last 10% gives the validation NLL. The continuation follows the end
    of the piece (prompt: its last ``window`` tokens) and is written as ``continuation.json``,
    ``continuation.mid`` and ``continuation.wav`` in ``out_dir`` with ``checkpoint.pt``,
    ``losses.csv`` and ``run.json``.

    Raises:
        NotesError: a missing or malformed note file (named).
    """
    from maqamgen import config, notes as notes_io

    notes, meta = notes_io.read_notes(notes_path)
    L = config.profile(profile).lstm
    spec = TokenSpec(fmt=tokens, rate_hz=float(rate_hz or L.rate_hz))
    notes = spec.fold(notes)
    piece = spec.encode(notes)
    cut = max(2, int(len(piece) * 0.9))
    train_p, val_p = [piece[:cut]], [np.concatenate([spec.bos(), piece[cut:]])]
    tcfg = L.train_config(seed=seed)
    if steps is not None:
        tcfg = tcfg.replace(steps=int(steps))
    mcfg = model_config(spec, L.embed_dim, L.hidden_size, L.num_layers, L.dropout)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    run = train_lm(train_p, spec, mcfg, tcfg, window=L.window, out_dir=out, resume=resume, use_cache=False,
                   name=Path(notes_path).name)
    ev = evaluate(run.model, val_p, spec)
    prompt = piece[-L.window:]
    info = json.loads((out / "run.json").read_text())
    info.update(prompt=prompt.tolist(), source=str(notes_path), validation=ev, profile=profile)
    (out / "run.json").write_text(json.dumps(info))
    new = continuation(run.model, spec, prompt, seconds, seed=seed)
    cont = spec.decode(new)
    written = [write_notes_any(out / f"continuation{ext}", cont, seed=seed,
                               meta={"source": str(notes_path), "seconds": seconds})
               for ext in (".json", ".mid", ".wav")] if cont else []
    log(f"trained {tokens} LSTM on {Path(notes_path).name}: {len(notes)} notes -> {len(piece)} tokens, "
        f"{info['steps']} steps in {time.time() - t0:.1f} s; "
        f"validation {ev['nats_per_token']:.3f} nats/token, {ev['bits_per_second']:.1f} bits/s")
    log(f"wrote {out / 'checkpoint.pt'}" + "".join(f", {w.name}" for w in written)
        + ("" if cont else " (the continuation holds no notes)"))
    return {"run": run, "validation": ev, "continuation": cont, "written": written}


def cli_generate(checkpoint: str | Path, output: str | Path, seconds: float = 30.0, seed: int = 0,
                 temperature: float = 1.0, log=print) -> list[Note]:
    """``maqamgen generate lstm``: continue the training piece of a run for ``seconds`` s.

    Raises:
        ConfigError: not a run folder, or an unknown output extension.
    """
    out = Path(output)
    if out.suffix.lower() not in (".json", ".mid", ".midi", ".wav", ".flac", ".ogg"):
        raise ConfigError(f"unknown output type {out.suffix or '(none)'!r}; use .json, .mid or .wav", out)
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 < seconds <= 3600):
        raise ConfigError(f"--seconds {seconds} must be in (0, 3600]")
    run = load_run(checkpoint)
    prompt = np.asarray(run.meta.get("prompt") or run.spec.bos(), dtype=np.int64)
    new = continuation(run.model, run.spec, prompt, seconds, seed=seed, temperature=temperature, loss=run.loss)
    notes = run.spec.decode(new)
    write_notes_any(out, notes, seed=seed, meta={"checkpoint": str(checkpoint), "seconds": seconds})
    log(f"wrote {out}: {len(notes)} notes, {seconds:g} s")
    return notes
