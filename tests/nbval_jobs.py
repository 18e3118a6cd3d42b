"""``make nbval``: nbval on the executed smoke notebooks in ``--jobs`` pytest processes at once.

Every ``smoke`` page runs on one torch thread (:data:`maqamgen.config.SMOKE_THREADS`), so one
nbval process leaves the second core of a 2-core machine idle. The notebooks are split by the
execution time papermill recorded in them (longest first, each to the least loaded process);
each process prints its report when all have finished, and the exit status is the worst one.

    python tests/nbval_jobs.py --jobs 2 _build/executed/smoke
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

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
    with tempfile.TemporaryDirectory(prefix="nbval-") as tmp:
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
