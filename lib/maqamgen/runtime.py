"""Where things live and how they are written: repo paths, the cache folder, content digests,
the one atomic write, and the one torch-threads setting.

Every module that caches, hashes or writes a file the user or a later run relies on goes
through here, so there is one definition of each.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
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


def cache_dir(*parts: str) -> Path:
    """``data/cache/<parts...>`` under the book root, created if missing."""
    d = repo_root().joinpath("data", "cache", *parts)
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


# ----------------------------------------------------------------------------- threads


def set_threads(n: int | None) -> None:
    """The one threads setting: ``n`` intra-op torch threads and ``n`` BLAS/OpenMP threads.

    ``None`` or 0 leaves them as they are. On a small CPU shared with other jobs, one thread is
    several times faster than two contending ones for the book's small models, Griffin-Lim and
    SVDs (measured in ``benchmarks/bench_lstm.py`` and Chapter 3).
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
