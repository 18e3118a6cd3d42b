"""``make nbval``: nbval on the executed smoke notebooks in ``--jobs`` pytest processes at once.

Every ``smoke`` page runs on one torch thread (:data:`maqamgen.config.SMOKE_THREADS`), so one
nbval process leaves the second core of a 2-core machine idle. The notebooks are split by the
execution time papermill recorded in them (longest first, each to the least loaded process);
each process prints its report when all have finished, and the exit status is the worst one.

nbval re-executes every chapter, and a chapter saves its record in the results store
(``_build/results/<profile>``, the profile being the folder's name). The store is put back as
the papermill run left it when nbval ends (:func:`kept_store`): the rendered book then shows
the papermill run's records (their wall times among them), and ``make html`` finds them
unchanged, so it does not re-execute the pages that read them.

    python tests/nbval_jobs.py --jobs 2 _build/executed/smoke
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from maqamgen import results

NBVAL = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env"]


def recorded_seconds(path: Path) -> float:
    """Seconds the cells of an executed notebook took (papermill's ``metadata.execution``
    stamps); 0 for a notebook without them."""
    total = 0.0
    for cell in json.loads(path.read_text()).get("cells", []):
        ex = cell.get("metadata", {}).get("execution", {})
        a, b = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if a and b:
            total += (datetime.fromisoformat(b.replace("Z", "+00:00"))
                      - datetime.fromisoformat(a.replace("Z", "+00:00"))).total_seconds()
    return total


def split(costs: dict[Path, float], jobs: int) -> list[list[Path]]:
    """Longest-first greedy split of the notebooks into at most ``jobs`` non-empty groups of
    about equal total cost (each group in reading order)."""
    groups: list[tuple[float, list[Path]]] = [(0.0, []) for _ in range(max(1, jobs))]
    for path in sorted(costs, key=lambda p: (-costs[p], str(p))):
        i = min(range(len(groups)), key=lambda k: (groups[k][0], k))
        groups[i] = (groups[i][0] + costs[path], groups[i][1] + [path])
    return [sorted(g) for _, g in groups if g]


def notebooks(folder: Path) -> list[Path]:
    """The executed notebooks under ``folder`` (not papermill's hidden temporary copies)."""
    return sorted(p for p in folder.rglob("*.ipynb")
                  if not any(part.startswith(".") for part in p.relative_to(folder).parts))


@contextlib.contextmanager
def kept_store(store: Path):
    """Put ``store`` (a folder) back as it was, contents and times, when the block ends; a
    missing folder is removed again."""
    with tempfile.TemporaryDirectory(prefix="nbval-store-") as tmp:
        saved = Path(tmp) / "store"
        existed = store.is_dir()
        if existed:
            shutil.copytree(store, saved)
        try:
            yield
        finally:
            if store.exists():
                shutil.rmtree(store)
            if existed:
                shutil.copytree(saved, store)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    found = notebooks(args.folder)
    if not found:
        print(f"{args.folder}: no executed notebooks (run `make notebooks` first)", file=sys.stderr)
        return 2
    groups = split({p: recorded_seconds(p) for p in found}, args.jobs)
    store = results.results_dir(args.folder.resolve().name)
    with kept_store(store), tempfile.TemporaryDirectory(prefix="nbval-") as tmp:
        logs = [open(Path(tmp) / f"{i}.log", "w+") for i in range(len(groups))]
        procs = [subprocess.Popen([sys.executable, *NBVAL, *map(str, g)], stdout=log,
                                  stderr=subprocess.STDOUT) for g, log in zip(groups, logs)]
        codes = [p.wait() for p in procs]
        for g, log, rc in zip(groups, logs, codes):
            log.seek(0)
            print(f"== nbval on {len(g)} notebook(s): {', '.join(p.stem for p in g)} (exit {rc})")
            print(log.read(), end="", flush=True)
            log.close()
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
