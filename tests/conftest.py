"""Shared test set-up: headless plots, cached numba, the repository root."""

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / "data" / "cache" / "numba"))

import pytest  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    # ``make unit`` runs the tests in one process per core: one torch thread each, not two
    # threads per process contending for the same two cores
    import torch  # noqa: E402

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture
def one_thread():
    """Run torch on one thread: on a small CPU shared with other jobs, two contending threads
    are several times slower than one for the small models of the tests."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
