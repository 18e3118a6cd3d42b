"""Shared test set-up: headless plots, cached numba, the repository root."""

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / "data" / "cache" / "numba"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def root() -> Path:
    return Path(__file__).resolve().parents[1]
