"""Where things live and how they are written: repo paths, the cache folder, content digests,
the one atomic write, the one lock, and the one torch-threads setting.

Every module that caches, hashes or writes a file the user or a later run relies on goes
through here, so there is one definition of each.

Crash safety. Every file is written to a temp name beside it and renamed when complete
(:func:`atomic_path`); a cache entry that several processes may build at once is built under
:func:`locked` (an exclusive ``fcntl.flock`` on ``<entry>.lock``), and re-checked once the lock
is held; a cached entry is validated when read and rebuilt when it does not validate. For the
tests, :func:`crash_point` makes the process SIGKILL itself at a named point (environment
variable ``MAQAMGEN_CRASH_AT``), e.g. after a temp file is written but before its rename.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import signal
import tempfile
import time
from pathlib import Path

from maqamgen.errors import ConfigError


# ----------------------------------------------------------------------------- paths


def repo_root() -> Path:
    """The book's root folder (the one holding ``_toc.yml``).

    The package is installed editable from ``lib/``, so the root is two levels above it;
    if that fails (a non-editable install), the current folder and its parents are searched.
    """
    here = Path(__file__).resolve().parents[2]
    if (here / "_toc.yml").exists():
        return here
    for p in [Path.cwd(), *Path.cwd().parents]:
        if (p / "_toc.yml").exists():
            return p
    raise ConfigError("cannot find the book root (a folder with _toc.yml) above " + str(Path.cwd()))


CACHE_ENV = "MAQAMGEN_CACHE"
"""Environment variable naming another cache folder (default ``data/cache`` under the book root)."""


def cache_dir(*parts: str) -> Path:
    """``data/cache/<parts...>`` under the book root (or under ``$MAQAMGEN_CACHE``), created if missing."""
    base = os.environ.get(CACHE_ENV)
    d = Path(base).joinpath(*parts) if base else repo_root().joinpath("data", "cache", *parts)
    d.mkdir(parents=True, exist_ok=True)
    return d


# ----------------------------------------------------------------------------- digests


def digest(obj, n: int = 12) -> str:
    """Short content hash of a JSON-able object (keys sorted), or of ``bytes``/``str`` as given.

    Args:
        obj: the thing to hash.
        n: hex digits kept.
    """
    if isinstance(obj, bytes):
        blob = obj
    elif isinstance(obj, str):
        blob = obj.encode()
    else:
        blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def code_digest(path: str | Path) -> str:
    """Hash of a module's code, blind to comments, docstrings and formatting (its AST)."""
    return _code_digest_of(Path(path).read_text())


@functools.lru_cache(maxsize=512)
def _code_digest_of(text: str) -> str:
    """:func:`code_digest` of a source text (cached by the text: ``maqamgen book`` digests each
    module once per chapter that imports it)."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


# ----------------------------------------------------------------------------- atomic writes


def _new_file_mode(path: Path) -> int:
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``.

    The temp file lives in the same folder (so ``os.replace`` is atomic), is flushed to disk
    before the rename, gets the mode the target has (or a new file's), and is removed if the
    block raises: a crash or an error never leaves a half-written ``path``.

    Args:
        path: the final file.
        suffix: extension the writer needs on the temp name (``np.savez`` appends ``.npz``
            to a name without it).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        crash_point("write:" + path.name)  # tests: killed with the temp file written, not renamed
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temp files :func:`atomic_path` left beside ``path`` when a process writing it was
    killed (``.<name>.*.tmp*``); returns them. Never read as ``path`` in any case, they only take
    space. Call it only where no other process may be writing ``path`` (e.g. under
    :func:`locked`, or in a run folder a single training owns)."""
    path = Path(path)
    gone = []
    for p in path.parent.glob(f".{path.name}.*.tmp*"):
        try:
            p.unlink()
            gone.append(p)
        except OSError:
            pass
    return gone


# ----------------------------------------------------------------------------- locks


def lock_path(path: str | Path) -> Path:
    """The lock file of ``path``: ``<path>.lock`` beside it (for a folder, beside the folder)."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def locked(path: str | Path, timeout: float | None = None):
    """Hold an exclusive lock on ``path`` (a file or folder, existing or not) for the block.

    The lock is ``fcntl.flock`` on ``<path>.lock`` beside it (created, never deleted: deleting a
    lock file another process waits on would let a third one in). Processes that build the same
    cache entry take it, re-check the entry once they hold it, and build only if it is still
    missing; the kernel releases it when a holder dies, so a killed builder never blocks the next.

    Args:
        path: the entry the lock guards.
        timeout: seconds to wait (None: as long as it takes).

    Raises:
        TimeoutError: not acquired within ``timeout``.
    """
    lp = lock_path(path)
    lp.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            t_end = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > t_end:
                        raise TimeoutError(f"{path}: another process holds {lp}") from None
                    time.sleep(0.05)
        yield lp
    finally:
        os.close(fd)  # releases the lock


# ----------------------------------------------------------------------------- crash tests

CRASH_ENV = "MAQAMGEN_CRASH_AT"
"""``TAG`` or ``TAG#N``: :func:`crash_point` kills the process at the N-th (default first) time it
reaches ``TAG``. Tags: ``write:<file name>`` (temp file written, not yet renamed: every atomic
write), ``step:<k>`` (after optimizer step k of :func:`maqamgen.train.train`)."""

_crash_counts: dict[str, int] = {}


def crash_point(tag: str) -> None:
    """For crash tests only: SIGKILL this process here when ``$MAQAMGEN_CRASH_AT`` names ``tag``.

    SIGKILL, not an exception: nothing is cleaned up, no ``finally`` runs, exactly as when the
    machine loses power or the OOM killer strikes. Costs one environment lookup otherwise.
    """
    want = os.environ.get(CRASH_ENV)
    if not want:
        return
    name, _, nth = want.partition("#")
    if name != tag:
        return
    _crash_counts[tag] = _crash_counts.get(tag, 0) + 1
    if _crash_counts[tag] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


# ----------------------------------------------------------------------------- threads


def set_threads(n: int | None) -> None:
    """The one threads setting: ``n`` intra-op torch threads and ``n`` BLAS/OpenMP threads.

    ``None`` or 0 leaves them as they are. On a small CPU shared with other jobs, one thread is
    several times faster than two contending ones for the book's small models, Griffin-Lim and
    SVDs (measured in ``benchmarks/bench_lstm.py`` and Chapter 3); on a 2-core machine to itself
    two are 1.5 to 2.2 times as fast (``benchmarks/bench_threads.py``), which is why the ``book``
    profile takes :data:`maqamgen.config.BOOK_THREADS`.
    """
    if not n:
        return
    import torch

    torch.set_num_threads(int(n))
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(int(n))
    except ImportError:  # pragma: no cover
        pass


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` intra-op torch threads (``None``: unchanged), then restore."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
