"""Caches under concurrency and crashes: builds at once, a build killed mid-write, a corrupt entry.

Every cache entry (corpus, feature patches, classifier, denoiser, LSTM run, executed notebook) is
built under :func:`maqamgen.runtime.locked` and re-checked once the lock is held, written with
write-then-rename, and validated when read: a second builder waits and reads what the first
built, a killed builder leaves nothing a later run trusts, and a corrupt entry is rebuilt, not a
crash. Kills come from :func:`maqamgen.runtime.crash_point` (``MAQAMGEN_CRASH_AT``); the caches
live in a temp folder (``MAQAMGEN_CACHE``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from maqamgen import classifier, corpus, features, runtime
from maqamgen import train as trainer
from maqamgen.config import FeatureConfig, TrainConfig
from maqamgen.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
KILLED = -signal.SIGKILL


def _env(cache: Path, crash: str | None = None) -> dict:
    env = {**os.environ, "TQDM_DISABLE": "1", runtime.CACHE_ENV: str(cache)}
    env.pop(runtime.CRASH_ENV, None)
    if crash:
        env[runtime.CRASH_ENV] = crash
    return env


def _corpus_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "maqamgen.cli", "corpus", "--profile", "smoke", "-o", str(out),
            "--workers", "1", "--quiet"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    """Two `maqamgen corpus` runs started together on one empty cache folder."""
    d = tmp_path_factory.mktemp("cc")
    cache = d / "cache"
    procs = [subprocess.Popen(_corpus_cmd(d / f"export{i}"), env=_env(cache), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    return d, cache, results


def test_two_corpus_runs_at_once_share_one_cache(smoke_cache):
    d, cache, results = smoke_cache
    for out, err, rc in results:
        assert rc == 0, err
    [folder] = [p for p in (cache / "corpus").iterdir() if p.is_dir()]
    assert corpus._complete(folder) and not list(folder.rglob("*.tmp*"))
    assert _tree(d / "export1") == _tree(d / "export2")  # both read the same, complete corpus
    assert _tree(d / "export1") == {k: v for k, v in _tree(folder).items()}


def test_corpus_killed_mid_write_is_rebuilt_not_trusted(smoke_cache, tmp_path):
    d, _, _ = smoke_cache
    cache = tmp_path / "cache"
    p = subprocess.run(_corpus_cmd(tmp_path / "x"), env=_env(cache, "write:index.json"), capture_output=True,
                       timeout=300)
    assert p.returncode == KILLED
    [folder] = [q for q in (cache / "corpus").iterdir() if q.is_dir()]
    assert not (folder / "index.json").exists() and not corpus._complete(folder)  # no index: incomplete
    assert not (tmp_path / "x" / "index.json").exists()  # nor was anything exported
    p = subprocess.run(_corpus_cmd(tmp_path / "y"), env=_env(cache), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert _tree(tmp_path / "y") == _tree(d / "export1")


def test_two_corpus_builders_at_once_build_it_once(tmp_path, monkeypatch):
    from maqamgen.config import CorpusConfig

    cfg = CorpusConfig(n_per_maqam=1, seconds_min=2.0, seconds_max=2.5, maqamat=("hijaz",))
    calls = []
    real = corpus._build

    def slow(*a):
        calls.append(1)
        time.sleep(0.3)
        return real(*a)

    monkeypatch.setattr(corpus, "_build", slow)
    out = [None, None]
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(
        i, corpus.build(cfg, workers=1, progress=False, root=tmp_path))) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and out[0].clips == out[1].clips and corpus._complete(out[0].root)


def test_damaged_corpus_index_is_rebuilt(tmp_path):
    from maqamgen.config import CorpusConfig

    cfg = CorpusConfig(n_per_maqam=1, seconds_min=2.0, seconds_max=2.5, maqamat=("hijaz",))
    c = corpus.build(cfg, workers=1, progress=False, root=tmp_path)
    good = (c.root / "index.json").read_bytes()
    for bad in (b"[1, 2]", b'{"clips": 3}', good[: len(good) // 2]):
        (c.root / "index.json").write_bytes(bad)
        assert not corpus._complete(c.root)
        assert corpus.build(cfg, workers=1, progress=False, root=tmp_path).clips == c.clips
    c.clips[0].audio_path.write_bytes(b"")  # an empty clip file is not complete either
    assert not corpus._complete(c.root)


# ----------------------------------------------------------------------------- feature cache


def test_feature_cache_killed_mid_write_or_corrupt_is_recomputed(smoke_cache, monkeypatch):
    d, cache, _ = smoke_cache
    monkeypatch.setenv(runtime.CACHE_ENV, str(cache))
    corp = corpus.load("smoke", progress=False)
    cfg = FeatureConfig()
    key = features._key(corp.hash, "validation", cfg)
    path = cache / "features" / f"{key}.npz"
    script = ("from maqamgen import corpus, features\nfrom maqamgen.config import FeatureConfig\n"
              "features.load_patches(corpus.load('smoke', progress=False), 'validation', FeatureConfig())\n")
    p = subprocess.run([sys.executable, "-c", script], env=_env(cache, f"write:{path.name}"),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == KILLED, p.stderr
    assert not path.exists() and list(path.parent.glob(f".{path.name}.*.tmp*"))  # only a temp file
    ref = features._mel_patches(corp, "validation", cfg)
    assert path.exists() and not list(path.parent.glob(f".{path.name}.*.tmp*"))
    blob = path.read_bytes()
    for bad in (blob[: len(blob) // 2], b"not a zip", b""):
        path.write_bytes(bad)
        got = features._mel_patches(corp, "validation", cfg)
        np.testing.assert_array_equal(got["db"], ref["db"])
        assert got["clip_ids"] == ref["clip_ids"]
    assert path.read_bytes() == blob


def test_two_builders_of_one_feature_entry_compute_it_once(smoke_cache, monkeypatch):
    d, cache, _ = smoke_cache
    monkeypatch.setenv(runtime.CACHE_ENV, str(cache))
    corp = corpus.load("smoke", progress=False)
    cfg = FeatureConfig(n_mels=32)  # an entry no other test made
    calls = []
    real = features._compute_patches

    def slow(*a):
        calls.append(1)
        time.sleep(0.3)  # both threads are surely waiting on the lock by now
        return real(*a)

    monkeypatch.setattr(features, "_compute_patches", slow)
    out = [None, None]
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, features._mel_patches(corp, "test", cfg)))
               for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1
    np.testing.assert_array_equal(out[0]["db"], out[1]["db"])


# ----------------------------------------------------------------------------- trained caches


def _patch_set(n=24, size=16) -> features.PatchSet:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, size, size, generator=g) * 2 - 1
    y = torch.arange(n) % 2
    return features.PatchSet(x=x, labels=y, clip_ids=[str(i) for i in range(n)], starts=np.zeros(n, int),
                             maqamat=("a", "b"), normalizer=features.Normalizer(0.0, 80.0),
                             config=FeatureConfig(n_mels=size, frames=size), split="train", sr=22050)


def _count_training(monkeypatch) -> list:
    """Count the calls of :func:`maqamgen.train.train` (every cache builder trains through it)."""
    calls = []
    real = trainer.train

    def counted(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(trainer, "train", counted)
    return calls


def _corrupt_checkpoint(folder: Path) -> None:
    ck = folder / trainer.CHECKPOINT
    ck.write_bytes(ck.read_bytes()[:1000])


def test_classifier_cache_corrupt_entry_is_retrained_and_built_once(tmp_path, monkeypatch):
    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path))
    ps = _patch_set()
    calls = _count_training(monkeypatch)
    out = [None, None]
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(
        i, classifier.get_classifier(ps, ps, steps=4, batch_size=8))) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1  # two at once: trained once, read once
    ref = out[0].embed(ps.x[:4])
    np.testing.assert_array_equal(out[1].embed(ps.x[:4]), ref)
    for damage in ("checkpoint", "info_list", "info_truncated"):
        if damage == "checkpoint":
            _corrupt_checkpoint(out[0].path)
        elif damage == "info_list":
            (out[0].path / "info.json").write_text("[1, 2]")
        else:
            (out[0].path / "info.json").write_text('{"steps": 4, "heldout_acc')
        again = classifier.get_classifier(ps, ps, steps=4, batch_size=8)  # retrained, no traceback
        np.testing.assert_array_equal(again.embed(ps.x[:4]), ref)
    assert len(calls) == 4


def test_denoiser_cache_corrupt_entry_is_retrained(tmp_path, monkeypatch):
    from maqamgen.diffusion import run as runner

    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path))
    ps = _patch_set()
    spec = runner.DenoiserSpec(preset="tiny", T=20, train=TrainConfig(steps=2, batch_size=4, device="cpu",
                                                                      progress=False))
    calls = _count_training(monkeypatch)
    first = runner.train_denoiser(spec, ps)
    assert runner.train_denoiser(spec, ps).cached and len(calls) == 1
    w = {k: v.clone() for k, v in first.model.state_dict().items()}
    _corrupt_checkpoint(first.out_dir)
    again = runner.train_denoiser(spec, ps)
    assert not again.cached and len(calls) == 2
    for k, v in again.model.state_dict().items():
        assert torch.equal(v, w[k]), k
    rec = first.out_dir / runner.RECORD
    good = rec.read_text()
    for bad in ("[1, 2]", "{", json.dumps({**json.loads(good), "normalizer": [1]}),
                json.dumps({**json.loads(good), "sr": "x"}), json.dumps({k: v for k, v in json.loads(good).items()
                                                                       if k != "seconds"})):
        rec.write_text(bad)
        with pytest.raises(ConfigError, match="denoiser.json"):  # one clear error, not AttributeError
            runner.load_denoiser(first.out_dir)
    rec.write_text(json.dumps({**json.loads(good), "normalizer": [1]}))
    assert not runner.train_denoiser(spec, ps).cached  # in the cache: retrained, not a crash
    assert runner.load_denoiser(first.out_dir).sr == 22050


def test_lstm_cache_and_run_json_corrupt_are_retrained_or_refused(tmp_path, monkeypatch):
    from maqamgen.recipes import ch07_lstm_tokens as lg
    from maqamgen.tokens import TokenSpec
    from maqamgen.notes import Note

    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path))
    spec = TokenSpec(fmt="1d", rate_hz=8.0)
    notes = [Note(0.125 * i, 0.125 * (i + 1), 146.83 * 2 ** ([0, 7, 4][i % 3] / 12), 0.0) for i in range(24)]
    pieces = [spec.encode(notes)] * 2
    mcfg = lg.model_config(spec, "tiny")
    tcfg = TrainConfig(steps=3, batch_size=2, ema_decay=None, progress=False, device="cpu")
    calls = _count_training(monkeypatch)
    run = lg.train_lm(pieces, spec, mcfg, tcfg, window=8)
    w = {k: v.clone() for k, v in run.model.state_dict().items()}
    assert lg.train_lm(pieces, spec, mcfg, tcfg, window=8).cached and len(calls) == 1
    info = run.folder / "run.json"
    good = info.read_text()
    for damage in ("[1]", good[:40], "checkpoint"):
        if damage == "checkpoint":
            info.write_text(good)
            _corrupt_checkpoint(run.folder)
        else:
            info.write_text(damage)
        again = lg.train_lm(pieces, spec, mcfg, tcfg, window=8)
        assert not again.cached
        for k, v in again.model.state_dict().items():
            assert torch.equal(v, w[k]), k  # seeded: the same weights as the first time
    assert len(calls) == 4
    for bad, match in (("[1]", "not a run.json"), ("{", "unreadable run.json"),
                       (json.dumps({**json.loads(good), "spec": 3}), "not a run.json"),
                       (json.dumps({k: v for k, v in json.loads(good).items() if k != "model"}), "lacks")):
        info.write_text(bad)
        with pytest.raises(ConfigError, match=match):
            lg.load_run(run.folder)


# ----------------------------------------------------------------------------- executed notebooks


def test_executed_notebook_runs_once_and_a_truncated_one_is_not_trusted(tmp_path, monkeypatch, root):
    from maqamgen import book

    md = book.chapters(root)[0]
    out = tmp_path / "executed" / "intro.ipynb"
    monkeypatch.setattr(book, "executed_path", lambda *a, **kw: out)
    calls = []

    def fake_execute(md, nb, profile, params, out, keyfile, key):
        calls.append(1)
        time.sleep(0.3)
        runtime.atomic_write(out, json.dumps({"cells": [], "nbformat": 4, "metadata": {}}))
        runtime.atomic_write(keyfile, key)
        return out, True, 0.3

    monkeypatch.setattr(book, "_execute", fake_execute)
    res = [None, None]
    threads = [threading.Thread(target=lambda i=i: res.__setitem__(i, book.execute(md, "smoke")))
               for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and sorted(r[1] for r in res) == [False, True]
    assert book.execute(md, "smoke")[1] is False and len(calls) == 1  # current: cached
    out.write_text(out.read_text()[:10])  # truncated (e.g. by a full disk): the key alone is not enough
    assert book.execute(md, "smoke")[1] is True and len(calls) == 2
    out.with_suffix(".key").write_text("another key")
    assert book.execute(md, "smoke")[1] is True and len(calls) == 3


# ----------------------------------------------------------------------------- the lock itself


def test_lock_excludes_and_a_killed_holder_releases_it(tmp_path):
    entry = tmp_path / "entry"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom maqamgen import runtime\n"
        f"with runtime.locked({str(entry)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError):
            with runtime.locked(entry, timeout=0.3):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with runtime.locked(entry, timeout=10):  # the kernel released it with the process
            pass
    finally:
        holder.kill()
        holder.wait()


def test_two_askers_of_the_judge_tracks_and_the_autoencoder_build_each_once(smoke_cache, monkeypatch):
    """Chapters run side by side (``maqamgen book --jobs 2``) ask for the same judge pitch tracks
    and the same Chapter 6 autoencoder: one process builds, the other waits and reads it."""
    from maqamgen import judge
    from maqamgen.recipes import ch06_latent_diffusion as ch06

    d, cache, _ = smoke_cache
    monkeypatch.setenv(runtime.CACHE_ENV, str(cache))
    corp = corpus.load("smoke", progress=False)
    built = []
    real_tracks = judge._build_tracks

    def slow_tracks(*a, **kw):
        built.append("tracks")
        time.sleep(0.3)  # the other thread is surely waiting on the lock by now
        return real_tracks(*a, **kw)

    monkeypatch.setattr(judge, "_build_tracks", slow_tracks)
    out = [None, None]
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, judge.corpus_tracks(corp, workers=1)))
               for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert built == ["tracks"] and out[0] is not None and sorted(out[0]) == sorted(out[1])

    calls = _count_training(monkeypatch)
    fcfg = FeatureConfig(n_mels=32, frames=32, f_min=50.0, f_max=1500.0)
    tcfg = TrainConfig(steps=2, batch_size=8, progress=False, ckpt_every=100, log_every=1, seed=11)
    nets = [None, None]
    threads = [threading.Thread(target=lambda i=i: nets.__setitem__(
        i, ch06.train_autoencoder(corp, fcfg, "tiny", tcfg, crop_frames=32))) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1, "the autoencoder was trained twice into one cache folder"
    assert sorted(n.cached for n in nets) == [False, True] and nets[0].out_dir == nets[1].out_dir
