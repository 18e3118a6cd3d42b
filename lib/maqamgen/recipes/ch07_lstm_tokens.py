"""Chapter 7 and ``maqamgen train/generate lstm``: the LSTM recipe, its evaluation and its outputs.

What the chapter and the CLI share, on top of :mod:`maqamgen.tokens` (:class:`~maqamgen.tokens.TokenSpec`,
note-list moves), :mod:`maqamgen.sequences`, :mod:`maqamgen.nets.lstm` (sizes by preset name), the
note-level metrics of :mod:`maqamgen.metrics` and the one training loop :func:`maqamgen.train.train`:

* :func:`maqam_pieces` / :func:`bach_pieces` -- the training pieces: the maqam corpus moved to
  one reference tonic (:data:`REF_TONIC_HZ`), the Bach chorales as they are.
* :func:`train_lm` -- one training run (loss ``ce``, ``label_smoothing`` or ``mse``; the report's
  "independent tokens" pipeline with ``independent=True``), cached under
  ``data/cache/lstm/<hash of everything that defines it>``; :class:`Runs` -- the chapter's runs,
  each the reference run of :class:`maqamgen.config.LSTMChapterConfig` with one thing changed.
* :func:`evaluate` -- validation NLL per token and per second, perplexity, next-token accuracy,
  each piece read once from its ``BOS`` with the LSTM state carried (no window resets);
  :func:`ngram_nll` -- unigram / bigram count baselines on the same pieces.
* :func:`continuation` / :func:`continue_prompts` -- continuations of prompts lasting a given
  number of seconds.
* Judging continuations: :func:`generation_metrics` (out-of-scale rate, note PCD and interval
  divergences), :func:`drift_curves` (the same over a long generation), :func:`estimate_maqamat`
  and :func:`adherence` (Chapter 2's estimator on the synthesized continuations).
* :func:`model_record` -- an LSTM's record on the common results schema.
* :func:`cli_train` / :func:`cli_generate` -- the two CLI commands.

Used in: book/part2/07_lstm_tokens.md
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from maqamgen import metrics, results, runtime
from maqamgen.config import LSTMChapterConfig, TrainConfig
from maqamgen.errors import ConfigError, NotesError
from maqamgen.nets import count_parameters
from maqamgen.nets.lstm import LSTMLM, LSTMConfig, generate, lstm_config, lstm_loss
from maqamgen.notes import Note
from maqamgen.runtime import cache_dir
from maqamgen.sequences import WindowDataset, collate, window_loader
from maqamgen.tokens import PAD, REST, TokenSpec, transpose

CACHE_VERSION = 2  # 2: the model is built after seeding (weights reproducible across processes)
"""Part of every cache key; bumped when a cached run would no longer be what the code trains."""

CLI_CKPT_EVERY = 50
"""``maqamgen train lstm`` checkpoints every this many steps (a killed run loses at most these)."""

REF_TONIC_HZ = 146.83
"""Reference tonic (D3) every maqam clip is transposed to: a pitch of the 24-TET token grid."""

LOSSES = ("ce", "label_smoothing", "mse")
"""Training losses: cross-entropy, label-smoothed cross-entropy, MSE on the pitch index."""

MSE_SCALE = 24.0
"""The MSE loss measures index errors in units of this many tokens (an octave of quarter tones)."""


# ----------------------------------------------------------------------------- pieces


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


def pitch_tokens_used(pieces, vocab) -> int:
    """How many distinct pitch tokens of ``vocab`` occur in token pieces (1D, or the pitch
    column of 2D rows).

    Used in: book/part2/07_lstm_tokens.md
    """
    return len({int(t) for p in pieces for t in np.asarray(p).reshape(len(p), -1)[:, -1]
                if vocab.is_pitch(int(t))})


def _run_digest(obj) -> str:
    """Short content hash of JSON-able objects and token arrays (the run cache key; arrays hashed
    by their bytes, unlike :func:`maqamgen.runtime.digest`, which serialises JSON)."""
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
    """
    if kind not in LOSSES:
        raise ConfigError(f"unknown loss {kind!r}; known: {', '.join(LOSSES)}")
    s = smoothing if kind == "label_smoothing" else 0.0

    def loss_fn(model, batch):
        if kind != "mse":
            return lstm_loss(model, batch, label_smoothing=s)
        if getattr(model, "module", model).two_streams:
            raise ConfigError("the mse loss is for 1D tokens only")
        dev = next(model.parameters()).device
        x, y, m = (batch[k].to(dev) for k in ("input", "target", "mask"))
        logits, _ = model(x)
        e = expected_index(logits)
        err = ((e - y.to(e.dtype)) / MSE_SCALE) ** 2
        mf = m.to(err.dtype)
        return (err * mf).sum() / mf.sum().clamp_min(1.0)

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



def model_config(spec: TokenSpec, preset: str, **overrides) -> LSTMConfig:
    """The :class:`~maqamgen.nets.lstm.LSTMConfig` of a size preset
    (:data:`maqamgen.nets.lstm.LSTM_PRESETS`) for a token format's vocabularies.

    Used in: book/part2/07_lstm_tokens.md
    """
    return lstm_config(preset, spec.vocab.size, spec.dur_vocab_size, **overrides)


def _dataset(pieces, window: int, independent: bool):
    if independent:  # the report's bug: every token on its own, no temporal context
        return WindowDataset(pieces, 1)
    return WindowDataset(pieces, window)


def train_lm(pieces, spec: TokenSpec, mcfg: LSTMConfig, tcfg: TrainConfig, window: int = 64,
             loss: str = "ce", independent: bool = False, val_pieces=None, val_every: int = 0,
             out_dir: str | Path | None = None, resume: bool = False, threads: int | None = 1,
             use_cache: bool = True, name: str = "", ckpt_every: int | None = None) -> Run:
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
        ckpt_every: checkpoint every this many steps (None: only at the end; a crash-safe CLI
            run checkpoints more often). Does not change the weights or the cache key.

    A cached run is built under :func:`maqamgen.runtime.locked` (two processes asking for it
    train it once) and validated when read: an unreadable ``run.json`` or checkpoint, or one
    that does not hold the finished run, is retrained, not trusted. ``run.json`` is written
    atomically, after the final checkpoint, so a folder whose ``run.json`` says ``done`` holds
    the finished run.

    Returns:
        The :class:`Run`.

    Used in: book/part2/07_lstm_tokens.md
    """

    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    if loss == "mse" and spec.fmt == "2d":
        raise ConfigError("the mse loss is for 1D tokens only")
    key = _run_digest([CACHE_VERSION, spec.to_dict(), dataclasses.asdict(mcfg),
                  {k: v for k, v in tcfg.to_dict().items() if k not in ("progress", "ckpt_every", "log_every")},
                  window, loss, independent, val_every, list(pieces),
                  list(val_pieces) if (val_pieces is not None and val_every) else None])
    folder = Path(out_dir) if out_dir is not None else cache_dir("lstm", key)
    if out_dir is None:  # a cache entry: one builder at a time, the others then read it
        with runtime.locked(folder):
            return _train_lm(pieces, spec, mcfg, tcfg, window, loss, independent, val_pieces, val_every,
                             folder, resume, threads, use_cache, name, ckpt_every, key)
    return _train_lm(pieces, spec, mcfg, tcfg, window, loss, independent, val_pieces, val_every,
                     folder, resume, threads, use_cache, name, ckpt_every, key)


def _read_run_info(info_path: Path) -> dict | None:
    """``run.json`` as a dict, or None when missing, unreadable or not a JSON object."""
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _cached_run(folder: Path, info_path: Path, key: str, model: LSTMLM, spec: TokenSpec,
                loss: str) -> Run | None:
    """The finished run cached in ``folder``, or None when it is missing, incomplete or corrupt
    (then it is retrained)."""
    from maqamgen import train as trainer

    info = _read_run_info(info_path)
    if info is None or info.get("key") != key or not info.get("done"):
        return None
    try:
        ckpt = trainer.load_checkpoint(folder, model, use_ema=True)
        if ckpt.get("step") != info.get("steps"):
            return None
        return Run(model.eval(), spec, loss, [tuple(x) for x in info["losses"]],
                   [tuple(x) for x in info["val"]], float(info["seconds"]), True, folder,
                   float(info["tokens_per_step"]), info)
    except (ConfigError, KeyError, TypeError, ValueError):
        return None


def _train_lm(pieces, spec, mcfg, tcfg, window, loss, independent, val_pieces, val_every, folder,
              resume, threads, use_cache, name, ckpt_every, key) -> Run:
    from maqamgen import train as trainer

    info_path = folder / "run.json"
    model = LSTMLM(mcfg)
    if use_cache and not resume:
        cached = _cached_run(folder, info_path, key, model, spec, loss)
        if cached is not None:
            return cached
    # the initial weights come from the run's seed, not from whatever the process's global RNG
    # holds (torch seeds it randomly at start-up): two processes train the same run bitwise
    torch.manual_seed(tcfg.seed)
    model = LSTMLM(mcfg)
    if not resume:  # a fresh run: the old record no longer describes the folder
        info_path.unlink(missing_ok=True)
    ds = _dataset(pieces, window, independent)
    cfg = tcfg.replace(batch_size=tcfg.batch_size * (window if independent else 1), progress=False,
                       ckpt_every=max(int(ckpt_every or tcfg.steps), 1), device="cpu")
    if len(ds) < cfg.batch_size:
        cfg = cfg.replace(batch_size=max(1, len(ds)))
    loss_fn = make_loss(loss)
    val: list = []
    if resume:
        old_info = _read_run_info(info_path) or {}
        try:
            val = [tuple(x) for x in old_info.get("val", [])]
        except TypeError:
            val = []

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
    runtime.atomic_write(info_path, json.dumps(info))
    return Run(model, spec, loss, losses, val, seconds, False, folder, tps, info)



class Runs(dict):
    """The chapter's runs by name: each the reference run of a chapter config with what one
    study changes (seed, optimizer, learning rate, batch, window, loss, independent tokens).

    Args:
        lstm_cfg: the chapter config (preset, training, validation curve, threads).
        seed: the default seed of :meth:`train`.

    Used in: book/part2/07_lstm_tokens.md
    """

    def __init__(self, lstm_cfg: LSTMChapterConfig, seed: int = 0):
        super().__init__()
        self.cfg = lstm_cfg
        self.seed = seed

    def train(self, name: str, pieces, spec: TokenSpec, seed: int | None = None, val_pieces=None,
              window: int | None = None, loss: str = "ce", independent: bool = False,
              **train_changes) -> Run:
        """Train (or load from the cache) run ``name`` with :func:`train_lm` and keep it.

        Args:
            name: the run's name (a key of this dict).
            pieces, spec: the training pieces and their format.
            seed: the run's seed (default: the set's).
            val_pieces: validation pieces for a curve every ``val_every`` steps (None: no curve).
            window: training window (default: the config's).
            loss, independent: as :func:`train_lm`.
            **train_changes: ``optimizer``, ``lr`` or another :class:`~maqamgen.config.TrainConfig`
                field changed from the reference (:meth:`~maqamgen.config.LSTMChapterConfig.train_config`).
        """
        c = self.cfg
        tcfg = c.train_config(self.seed if seed is None else seed, **train_changes)
        self[name] = train_lm(pieces, spec, model_config(spec, c.preset), tcfg, window=window or c.window,
                              loss=loss, independent=independent, val_pieces=val_pieces,
                              val_every=c.val_every if val_pieces is not None else 0,
                              threads=c.torch_threads or None, name=name)
        return self[name]


def load_run(folder: str | Path) -> Run:
    """A run written by :func:`train_lm` (its ``run.json`` and checkpoint): ``maqamgen generate lstm``."""
    from maqamgen import train as trainer

    folder = Path(folder)
    info_path = folder / "run.json"
    if not info_path.exists():
        if (folder / trainer.CHECKPOINT).exists():
            raise ConfigError("an unfinished LSTM run (a checkpoint, no run.json): finish it with "
                              "`maqamgen train lstm ... --resume`", folder)
        raise ConfigError("not an LSTM run folder (no run.json); train one with `maqamgen train lstm`", folder)
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"unreadable run.json ({type(e).__name__}: {str(e)[:120]})", info_path) from None
    try:
        if not isinstance(info, dict):
            raise TypeError(f"a JSON {type(info).__name__}, not an object")
        spec = TokenSpec(**info["spec"])
        model = LSTMLM(LSTMConfig(**info["model"]))
        loss = info["loss"]
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}")
        run_args = (list(info.get("losses", [])), list(info.get("val", [])), float(info.get("seconds", 0.0)),
                    float(info.get("tokens_per_step", 0.0)))
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        what = f"lacks {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {str(e)[:120]}"
        raise ConfigError(f"not a run.json of this maqamgen ({what}); train the run again", info_path) from None
    ckpt = trainer.load_checkpoint(folder, model, use_ema=True)
    if "steps" in info and ckpt.get("step") != info["steps"]:
        raise ConfigError(f"the checkpoint is at step {ckpt.get('step')} but run.json records "
                          f"{info['steps']}: an interrupted run; finish it with `maqamgen train lstm ... "
                          "--resume`", folder)
    losses, val, seconds, tps = run_args
    return Run(model.eval(), spec, loss, losses, val, seconds, True, folder, tps, info)


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


def likelihood_row(name: str, run: Run, pieces, spec: TokenSpec) -> dict:
    """One row of the chapter's likelihood table: :func:`evaluate` of ``run`` on ``pieces``.

    Used in: book/part2/07_lstm_tokens.md
    """
    e = evaluate(run.model, pieces, spec, run.loss)
    return {"run": name, "nats/token": e["nats_per_token"], "perplexity": e["perplexity"],
            "nats/s": e["nats_per_second"], "bits/s": e["bits_per_second"], "accuracy": e["accuracy"]}


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


def continue_prompts(run: Run, prompts, seconds: float, seed: int = 0, temperature: float = 1.0,
                     window: int | None = None) -> list[list[Note]]:
    """The decoded :func:`continuation` of each prompt by a run (prompt ``k`` sampled with seed
    ``seed + k``; an ``mse`` run greedily).

    Used in: book/part2/07_lstm_tokens.md
    """
    return [run.spec.decode(continuation(run.model, run.spec, p, seconds, seed=seed + k,
                                         temperature=temperature, window=window, loss=run.loss))
            for k, p in enumerate(prompts)]


# ----------------------------------------------------------------------------- judging continuations


def judge_indices(clips, maqamat: list[str], n: int) -> list[int]:
    """Indices of ``n`` clips taken one maqam after another (round robin over ``maqamat``).

    Used in: book/part2/07_lstm_tokens.md
    """
    per = {m: [i for i, c in enumerate(clips) if c.maqam == m] for m in maqamat}
    rounds = max((len(v) for v in per.values()), default=0)
    return [per[m][k] for k in range(rounds) for m in maqamat if k < len(per[m])][:n]


def reference_distributions(notes_lists, maqam_of_each, maqamat, tonic_hz: float = REF_TONIC_HZ,
                            bins: int = 24, bin_cents: float = 50.0) -> tuple[dict, np.ndarray]:
    """The data's note PCD per maqam (:func:`maqamgen.metrics.note_pcd`, all that maqam's notes
    pooled) and its pooled interval counts (:func:`maqamgen.metrics.note_interval_histogram`).

    Returns:
        ``(ref_pcd {maqam: (bins,)}, ref_intervals (B,))``.

    Used in: book/part2/07_lstm_tokens.md
    """
    ref_pcd = {m: metrics.note_pcd([n for ns, mm in zip(notes_lists, maqam_of_each) if mm == m for n in ns],
                                   tonic_hz, bins) for m in maqamat}
    ref_iv = np.sum([metrics.note_interval_histogram(ns, bin_cents)[0] for ns in notes_lists], axis=0)
    return ref_pcd, ref_iv


def _js(p, q) -> float:
    """:func:`maqamgen.metrics.js_divergence`, NaN where a histogram is empty (no notes, or one
    note and so no interval): nothing to compare, which a table shows as a gap."""
    return metrics.js_divergence(p, q) if np.sum(p) > 0 and np.sum(q) > 0 else float("nan")


def symbolic_divergences(notes: list[Note], ref_pcd, ref_intervals, ref_hz: float,
                         bin_cents: float = 50.0) -> dict:
    """JS divergences (bits) of one note list's note PCD and interval histogram from the data's.

    Returns:
        ``{"note_pcd_js", "interval_js"}`` (NaN where the notes give no distribution).

    Used in: book/part2/07_lstm_tokens.md
    """
    return {"note_pcd_js": _js(metrics.note_pcd(notes, ref_hz, len(ref_pcd)), ref_pcd),
            "interval_js": _js(metrics.note_interval_histogram(notes, bin_cents)[0], ref_intervals)}


GEN_KEYS = ("out_of_scale", "note_pcd_js", "interval_js", "notes_per_s")
"""The measurements of :func:`generation_metrics`, each returned with ``<key>_lo`` and ``<key>_hi``."""


MIN_ITEMS = 3
"""Fewest continuations whose bootstrap gives an interval (two items resample to a zero-width
one that would "separate" from anything)."""


def generation_metrics(continuations: list[list[Note]], maqamat: list[str], ref_pcd: dict,
                       ref_intervals: np.ndarray, tonic_hz: float = REF_TONIC_HZ,
                       bin_cents: float = 50.0, n_boot: int = 1000, level: float = 0.95,
                       seed: int = 0) -> dict:
    """Symbolic judgement of continuations, each asked for in a maqam (all on ``tonic_hz``),
    with a bootstrap interval over the continuations for every measurement.

    * ``out_of_scale``: mean :func:`maqamgen.metrics.note_out_of_scale` (share of the time off
      the maqam's scale), a per-item mean: :func:`maqamgen.metrics.bootstrap_ci`;
    * ``note_pcd_js``: mean JS divergence (bits) between each continuation's
      :func:`maqamgen.metrics.note_pcd` and ``ref_pcd[maqam]``, a per-item mean: ``bootstrap_ci``;
    * ``interval_js``: JS divergence (bits) between the pooled
      :func:`maqamgen.metrics.note_interval_histogram` and ``ref_intervals``, a statistic of the
      whole set: :func:`maqamgen.metrics.set_interval` (bias-shifted, so its interval need not
      contain the value when the resampled divergences are skewed);
    * ``notes_per_s``: notes per second over all continuations (a ratio of sums): ``set_interval``.

    Args:
        continuations: note lists (relative to ``tonic_hz``).
        maqamat: the maqam asked for with each.
        ref_pcd: ``{maqam: note PCD}`` of the data.
        ref_intervals: the data's interval histogram.
        tonic_hz: the tonic of every continuation, Hz.
        bin_cents: interval-histogram bin width, cents.
        n_boot: bootstrap resamples (0: no intervals, the bounds are NaN).
        level: coverage of the intervals.
        seed: resampling seed (same seed, same intervals).

    Returns:
        ``{key, key_lo, key_hi for key in GEN_KEYS} | {"n": continuations holding notes}``;
        NaN where nothing was generated; NaN bounds where fewer than :data:`MIN_ITEMS`
        continuations give the measurement (a resample of one or two items is no interval), so
        that no difference is claimed from them.

    Used in: book/part2/07_lstm_tokens.md
    """
    oos, js, hists, counts, secs = [], [], [], [], []
    for notes, m in zip(continuations, maqamat):
        if notes:
            oos.append(metrics.note_out_of_scale(notes, m, tonic_hz))
            js.append(_js(metrics.note_pcd(notes, tonic_hz, len(ref_pcd[m])), ref_pcd[m]))
            hists.append(metrics.note_interval_histogram(notes, bin_cents)[0])
            counts.append(len(notes))
            secs.append(max(x.offset for x in notes))
    nan3 = (float("nan"),) * 3
    out: dict = {}

    def put(key, v3, value):
        out[key] = value
        out[f"{key}_lo"], out[f"{key}_hi"] = (v3[1], v3[2]) if n_boot else (float("nan"), float("nan"))

    for key, vals in (("out_of_scale", oos), ("note_pcd_js", js)):
        v = np.asarray(vals, dtype=float)
        value = metrics.finite_mean(v)
        put(key, metrics.bootstrap_ci(v, n_boot=n_boot, level=level, seed=seed, min_n=MIN_ITEMS)
            if n_boot else nan3, value)  # under MIN_ITEMS items: no interval
    H = (np.asarray(hists, dtype=float) if hists
         else np.zeros((0, np.asarray(ref_intervals).size)))  # (items, interval bins)
    pooled = H.sum(0)
    has_iv = np.flatnonzero(H.sum(1) > 0)  # items holding at least one interval
    iv_set = metrics.set_interval(lambda i: _js(H[has_iv[i]].sum(0), ref_intervals), len(has_iv),
                                  n_boot, level, seed, min_n=MIN_ITEMS) if n_boot else nan3
    put("interval_js", iv_set, _js(pooled, ref_intervals))
    c, t = np.asarray(counts, dtype=float), np.asarray(secs, dtype=float)
    rate_set = metrics.set_interval(lambda i: c[i].sum() / max(t[i].sum(), 1e-9), len(c), n_boot, level,
                                    seed, min_n=MIN_ITEMS) if n_boot else nan3
    put("notes_per_s", rate_set, float(c.sum() / max(t.sum(), 1e-9)))
    out["n"] = len(counts)
    return out


def separation(a: tuple, b: tuple) -> int:
    """Whether two ``(value, lo, hi)`` intervals separate: ``-1`` when ``a`` lies wholly below
    ``b``, ``1`` wholly above, ``0`` when they overlap (or a bound is NaN): no difference shown.
    (The sentence the chapter shows is :func:`compare_verdict`'s.)
    """
    return metrics.separation(tuple(a)[1:], tuple(b)[1:])


def compare_verdict(what: str, name_a: str, a: tuple, name_b: str, b: tuple, lower: str = "lower",
                    higher: str = "higher", digits: int = 3) -> str:
    """A sentence comparing two measured intervals, claiming a difference only where they separate
    (:func:`separation`).

    Returns:
        e.g. ``"the 1D continuations' out-of-scale rate is lower (0.120 [0.080, 0.160] vs 0.300
        [0.250, 0.350])"`` or ``"... cannot be told apart (... overlap)"``.

    Used in: book/part2/07_lstm_tokens.md
    """
    def fmt(x):
        return f"{x[0]:.{digits}f} [{x[1]:.{digits}f}, {x[2]:.{digits}f}]"

    s = separation(a, b)
    if s == 0:
        return f"{what} of {name_a} and {name_b} cannot be told apart ({fmt(a)} vs {fmt(b)}: the intervals overlap)"
    return f"{what} of {name_a} is {lower if s < 0 else higher} than of {name_b} ({fmt(a)} vs {fmt(b)})"


def seed_spread(values, within_lo, within_hi, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Seed-to-seed spread of one measurement against its within-seed sampling interval.

    Args:
        values: ``(S,)`` the measurement of each seed's model.
        within_lo, within_hi: ``(S,)`` each seed's sampling interval (over its continuations).
        n_boot, level, seed: of the bootstrap over seeds (:func:`maqamgen.metrics.bootstrap_ci`).

    Returns:
        ``{"mean", "mean_lo", "mean_hi"`` (bootstrap over the seeds), ``"min", "max", "n_seeds",
        "seed_range"`` (max - min), ``"within_width"`` (mean width of the within-seed intervals),
        ``"seeds_matter"`` (True when some two seeds' within-seed intervals do not overlap: the
        seed moves the measurement by more than sampling does; None when fewer than two seeds
        have a finite within-seed interval, so it cannot be told)``}``.

    Used in: book/part2/07_lstm_tokens.md
    """
    v = np.asarray(values, dtype=float)
    lo, hi = np.asarray(within_lo, dtype=float), np.asarray(within_hi, dtype=float)
    mean, mlo, mhi = metrics.bootstrap_ci(v, n_boot=n_boot, level=level, seed=seed)
    ok = np.isfinite(lo) & np.isfinite(hi)
    matter = bool(np.max(lo[ok]) > np.min(hi[ok])) if ok.sum() >= 2 else None
    fin = v[np.isfinite(v)]
    return {"mean": mean, "mean_lo": mlo, "mean_hi": mhi,
            "min": float(fin.min()) if fin.size else float("nan"),
            "max": float(fin.max()) if fin.size else float("nan"), "n_seeds": int(fin.size),
            "seed_range": float(np.ptp(fin)) if fin.size else float("nan"),
            "within_width": float(np.mean(hi[ok] - lo[ok])) if ok.any() else float("nan"),
            "seeds_matter": matter}


def windowed(notes: list[Note], window_s: float, fn, total_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``fn(notes in window)`` for successive windows of ``window_s`` s (notes by onset).

    Returns:
        ``(window start times in s, values)``; NaN for an empty window (``fn`` is only called on notes).

    Used in: book/part2/07_lstm_tokens.md
    """
    end = total_s if total_s is not None else (max(n.offset for n in notes) if notes else 0.0)
    starts = np.arange(0.0, max(end, 1e-9), window_s)
    vals = []
    for s in starts:
        part = [n for n in notes if s <= n.onset < s + window_s]
        vals.append(fn(part) if part else float("nan"))
    return starts, np.array(vals, dtype=float)


def drift_curves(continuations: list[list[Note]], maqamat: list[str], ref_pcd: dict, window_s: float,
                 total_s: float, tonic_hz: float = REF_TONIC_HZ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-scale rate and note-PCD divergence over successive windows of long generations.

    Each continuation is cut into windows of ``window_s`` s (:func:`windowed`) and each window
    judged against the maqam it was asked for; the curves are means over the continuations
    (windows without notes left out).

    Returns:
        ``(window start times in s, mean out-of-scale rate, mean note-PCD JS divergence in bits)``.

    Used in: book/part2/07_lstm_tokens.md
    """
    oos, js, t = [], [], np.arange(0.0, max(total_s, 1e-9), window_s)
    for c, m in zip(continuations, maqamat):
        t, o = windowed(c, window_s, lambda ns: metrics.note_out_of_scale(ns, m, tonic_hz), total_s)
        _, j = windowed(c, window_s, lambda ns: _js(metrics.note_pcd(ns, tonic_hz, len(ref_pcd[m])), ref_pcd[m]),
                        total_s)
        oos.append(o)
        js.append(j)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a window empty in every generation: NaN
        return t, np.nanmean(oos, axis=0), np.nanmean(js, axis=0)


def drift_change(continuations: list[list[Note]], maqamat: list[str], window_s: float, total_s: float,
                 tonic_hz: float = REF_TONIC_HZ, n_boot: int = 1000, seed: int = 0) -> dict:
    """How much the out-of-scale rate rises from the first to the second half of long generations,
    with a bootstrap interval over the generations.

    Each continuation is cut into windows of ``window_s`` s (:func:`windowed`, judged against the
    maqam it was asked for); its change is the mean rate of the windows of the second half minus
    that of the first (a continuation with an empty half is left out). The interval is the
    percentile bootstrap of the mean change over continuations
    (:func:`maqamgen.metrics.bootstrap_ci`).

    Returns:
        ``{"first", "second"`` (mean rates over continuations), ``"change", "change_lo",
        "change_hi", "n"`` (continuations counted)``}``; NaNs when none has both halves, NaN
        bounds under :data:`MIN_ITEMS` continuations.

    Used in: book/part2/07_lstm_tokens.md
    """
    first, second = [], []
    for c, m in zip(continuations, maqamat):
        _, o = windowed(c, window_s, lambda ns: metrics.note_out_of_scale(ns, m, tonic_hz), total_s)
        half = max(len(o) // 2, 1)
        a, b = o[:half], o[half:]
        if np.isfinite(a).any() and np.isfinite(b).any():
            first.append(float(np.nanmean(a)))
            second.append(float(np.nanmean(b)))
    first, second = np.asarray(first), np.asarray(second)
    change, lo, hi = metrics.bootstrap_ci(second - first, n_boot=n_boot, seed=seed)
    if first.size < MIN_ITEMS:  # too few generations to resample: no interval
        lo = hi = float("nan")
    nan = float("nan")
    return {"first": float(first.mean()) if first.size else nan,
            "second": float(second.mean()) if second.size else nan,
            "change": change, "change_lo": lo, "change_hi": hi, "n": int(first.size)}


def render_at_tonic(notes: list[Note], tonic_hz: float, sr: int, seed: int = 0) -> np.ndarray:
    """Audio of notes written relative to :data:`REF_TONIC_HZ`, played on ``tonic_hz`` by the
    oud synthesizer (:func:`maqamgen.synth.render`).

    Used in: book/part2/07_lstm_tokens.md
    """
    from maqamgen import synth

    return synth.render(transpose(notes, REF_TONIC_HZ, tonic_hz), sr=sr, seed=seed)


def estimate_maqamat(continuations: list[list[Note]], tonics_hz: list[float], sr: int) -> list:
    """Chapter 2's estimator (:func:`maqamgen.estimate.estimate`) on each continuation rendered
    at its prompt's tonic (render seed: its index).

    Returns:
        One :class:`~maqamgen.estimate.Estimate` per continuation, None where it holds no notes
        or the estimator finds no pitch.

    Used in: book/part2/07_lstm_tokens.md
    """
    from maqamgen import estimate

    out = []
    for k, (notes, tonic) in enumerate(zip(continuations, tonics_hz)):
        if not notes:
            out.append(None)
            continue
        try:
            out.append(estimate.estimate(render_at_tonic(notes, tonic, sr, k), sr))
        except estimate.EstimationError:
            out.append(None)
    return out


def adherence(estimates: list, maqamat: list[str], tonics_hz: list[float]) -> dict:
    """Maqam adherence: the share of continuations the estimator reads as the maqam asked for
    (:func:`maqamgen.metrics.maqam_accuracy`), with its Wilson interval
    (:func:`maqamgen.metrics.wilson_interval`), and the share whose tonic it finds (within
    50 cents, octave-equivalent: :func:`maqamgen.metrics.tonic_correct`).

    Returns:
        ``{"maqam adherence", "low", "high", "correct", "of", "tonic found",
        "judged by the estimator as"}``.

    Used in: book/part2/07_lstm_tokens.md
    """
    predicted = [e.maqam if e is not None else None for e in estimates]
    acc = metrics.maqam_accuracy(predicted, maqamat)
    k = sum(p is not None and p == m for p, m in zip(predicted, maqamat))
    _, lo, hi = metrics.wilson_interval(k, len(maqamat))
    tonic = [e is not None and bool(metrics.tonic_correct(e.tonic_hz, t)) for e, t in zip(estimates, tonics_hz)]
    return {"maqam adherence": acc, "low": lo, "high": hi, "correct": k, "of": len(maqamat),
            "tonic found": float(np.mean(tonic)), "judged by the estimator as": ", ".join(p or "-" for p in predicted)}


# ----------------------------------------------------------------------------- results


NO_SPECTROGRAM = "a symbolic model: it generates notes, not a spectrogram"
"""Why the spectrogram metrics of the common schema do not apply to the LSTM."""


def model_record(run: Run, adh: dict, gen_s: float, music_s: float, extras: dict | None = None) -> tuple[dict, dict]:
    """An LSTM's record on the common results schema (:data:`maqamgen.results.CORE_METRICS`).

    ``maqam_acc_estimator`` is the maqam adherence of :func:`adherence` (Chapter 2's estimator
    on the continuations synthesized at their prompts' tonics) with its Wilson interval;
    ``params`` the network's parameters, ``train_s`` its training time (s),
    ``gen_s_per_audio_s`` the seconds spent generating the continuations (sampling and decoding
    the tokens; not the synthesis) over the seconds of music generated. The spectrogram metrics
    are :func:`maqamgen.results.not_applicable`, with the reason.

    Args:
        run: the model's run.
        adh: its :func:`adherence`.
        gen_s: wall time of generating the judged continuations, s.
        music_s: seconds of music generated in that time.
        extras: chapter-specific metrics (kept apart from the core).

    Returns:
        ``(core, extras)`` for :func:`maqamgen.results.save_model`.

    Used in: book/part2/07_lstm_tokens.md
    """
    core = {
        "fd": results.not_applicable(f"{NO_SPECTROGRAM}: no Frechet distance in a spectrogram embedding"),
        "maqam_acc_estimator": results.interval(adh["maqam adherence"], adh["low"], adh["high"], adh["of"]),
        "maqam_acc_classifier": results.not_applicable(
            "the in-domain classifier judges log-mel patches; the chapter does not run it on the "
            "synthesized continuations"),
        "pcd_js_audio": results.not_applicable(
            "the pitch-class divergence is measured on notes (extras: note_pcd_js), not on audio"),
        "frame_dist": results.not_applicable(f"{NO_SPECTROGRAM}: no frames to compare"),
        "seam_jump_ratio": results.not_applicable(
            "one continuous generation with the LSTM state carried: no windows, no seams"),
        "hallucination_index": results.not_applicable(
            f"{NO_SPECTROGRAM}; long generations are judged on notes instead (extras: drift)"),
        "params": count_parameters(run.model),
        "train_s": float(run.seconds),
        "gen_s_per_audio_s": gen_s / music_s if music_s > 0 else float("nan"),
    }
    return core, dict(extras or {})


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
              rate_hz: float | None = None, log=print, ckpt_every: int | None = None) -> dict:
    """``maqamgen train lstm``: train on one transcription, write a checkpoint and a continuation.

    Crash-safe: a checkpoint every ``ckpt_every`` steps (default :data:`CLI_CKPT_EVERY`), each
    written atomically; a killed run continues with ``resume=True`` (``--resume``) to the weights
    of an uninterrupted one. ``run.json`` is written (atomically) only when training is done.
    ``resume=False`` removes the folder's ``run.json`` and continuations first.

    The piece (absolute pitches; out-of-range notes folded by octaves) is split in time: the
    first 90% trains, the last 10% gives the validation NLL. The model is the profile's preset,
    trained as its reference run. The continuation follows the end of the piece (prompt: its
    last ``window`` tokens) and is written as ``continuation.json``, ``continuation.mid`` and
    ``continuation.wav`` in ``out_dir`` with ``checkpoint.pt``, ``losses.csv`` and ``run.json``.

    Raises:
        NotesError: a missing or malformed note file (named).
    """
    from maqamgen import config, notes as notes_io

    notes, meta = notes_io.read_notes(notes_path)
    lstm_cfg = config.profile(profile).lstm
    spec = TokenSpec(fmt=tokens, rate_hz=float(rate_hz or lstm_cfg.rate_hz))
    notes = spec.fold(notes)
    piece = spec.encode(notes)
    cut = max(2, int(len(piece) * 0.9))
    train_p, val_p = [piece[:cut]], [np.concatenate([spec.bos(), piece[cut:]])]
    tcfg = lstm_cfg.train_config(seed=seed)
    if steps is not None:
        tcfg = tcfg.replace(steps=int(steps))
    mcfg = model_config(spec, lstm_cfg.preset)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not resume:  # afresh: the old run's outputs go before anything new is written
        for f in ("run.json", *(f"continuation{e}" for e in (".json", ".mid", ".wav"))):
            (out / f).unlink(missing_ok=True)
    run = train_lm(train_p, spec, mcfg, tcfg, window=lstm_cfg.window, out_dir=out, resume=resume,
                   use_cache=False, name=Path(notes_path).name,
                   ckpt_every=ckpt_every or max(1, min(CLI_CKPT_EVERY, tcfg.steps)))
    ev = evaluate(run.model, val_p, spec)
    prompt = piece[-lstm_cfg.window:]
    info = dict(run.meta)
    info.update(prompt=prompt.tolist(), source=str(notes_path), validation=ev, profile=profile)
    runtime.atomic_write(out / "run.json", json.dumps(info))
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
