"""The book's results table: each chapter records its headline metrics, later chapters read them.

Results are JSON files ``_build/results/<profile>/<name>.json`` (written atomically), so a
chapter run alone still finds what earlier chapters measured at the same profile, and
``book/results.md`` lays them side by side. A number is only ever written by the code that
computed it in that run.

Used in: book/part1/03_pca_gaussian.md (and every later chapter)
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from maqamgen import runtime
from maqamgen.runtime import repo_root


def results_dir(profile: str) -> Path:
    """``_build/results/<profile>`` under the book root (created)."""
    d = repo_root() / "_build" / "results" / profile
    d.mkdir(parents=True, exist_ok=True)
    return d


def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save(profile: str, name: str, metrics: dict, **context) -> Path:
    """Record ``metrics`` (a flat or nested dict of numbers/strings) for model ``name``.

    ``context`` (e.g. ``chapter="03_pca_gaussian"``, ``seed=0``) is stored beside them with
    the time of the run.
    """
    path = results_dir(profile) / f"{name}.json"
    blob = {"name": name, "profile": profile, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **_clean(context), "metrics": _clean(metrics)}
    runtime.atomic_write(path, json.dumps(blob, indent=1, sort_keys=True))
    return path


def load(profile: str, name: str) -> dict | None:
    """The record saved for ``name`` at ``profile``, or None if that chapter has not run."""
    path = results_dir(profile) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def load_all(profile: str) -> dict[str, dict]:
    """Every record at ``profile``, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(results_dir(profile).glob("*.json"))}
