"""The notebook pipeline: MyST ``.md`` sources -> paired ``.ipynb`` -> papermill -> Jupyter Book.

One place for the machinery every chapter shares:

* :func:`chapters` reads ``_toc.yml``; every page of the book is a paired jupytext notebook.
* :func:`pair_problems` / :func:`sync_pair` keep ``chapter.md`` and ``chapter.ipynb`` in step
  (the ``.md`` is the source of truth; the ``.ipynb`` carries no outputs).
* :func:`execute` runs a chapter with papermill under ``-p profile NAME`` and any other
  parameters, into ``_build/executed/<profile>/``; the result is cached by a hash of the
  chapter source, the parameters and the library source, so an unchanged chapter is not re-run.
* :func:`stage_site` + :func:`render` build the HTML from the executed notebooks.

``maqamgen book --profile smoke|book|full [--only CHAPTER]`` drives it; the Makefile calls that.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from maqamgen.config import PROFILES, profile as get_profile
from maqamgen.runtime import repo_root
from maqamgen import runtime
from maqamgen.errors import ConfigError, MaqamgenError

NOTEBOOK_FORMAT = "md:myst"


# ---------------------------------------------------------------- table of contents
def _toc_files(entry: dict) -> list[str]:
    out = []
    if "file" in entry:
        out.append(entry["file"])
    for key in ("chapters", "sections", "parts"):
        for sub in entry.get(key, []) or []:
            out.extend(_toc_files(sub))
    return out


def chapters(root: Path | None = None) -> list[Path]:
    """Every page of the book in reading order, as paths of their ``.md`` sources."""
    import yaml

    root = root or repo_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"], *_toc_files(toc)]
    pages = [root / (f if f.endswith(".md") else f + ".md") for f in files]
    missing = [str(p.relative_to(root)) for p in pages if not p.exists()]
    if missing:
        raise ConfigError(f"{root / '_toc.yml'}: lists pages whose .md source is missing: "
                          + ", ".join(missing))
    return pages


def resolve(names: list[str], root: Path | None = None) -> list[Path]:
    """Chapters matching ``names`` (a path, a file name, a stem such as ``01_stft_filtering`` or
    the start of exactly one stem, such as ``01``)."""
    allc = chapters(root)
    if not names:
        return allc
    picked = []
    for name in names:
        stem = Path(name).name.removesuffix(".md").removesuffix(".ipynb")
        hits = [c for c in allc if c.stem == stem or str(c).endswith(name)]
        if not hits and stem:
            hits = [c for c in allc if c.stem.startswith(stem)]
            if len(hits) > 1:
                raise ConfigError(f"chapter {name!r} is ambiguous: "
                                  + ", ".join(c.stem for c in hits))
        if not hits:
            known = ", ".join(c.stem for c in allc)
            raise ConfigError(f"unknown chapter {name!r}; known chapters: {known}")
        picked.extend(h for h in hits if h not in picked)
    return picked


# ---------------------------------------------------------------- pairing
def paired_ipynb(md: Path) -> Path:
    return md.with_suffix(".ipynb")


def _cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source.strip(), tuple(c.get("metadata", {}).get("tags", [])))
            for c in nb.cells]


def pair_problems(md: Path) -> list[str]:
    """What differs between ``md`` and its paired ``.ipynb`` (empty list: in sync)."""
    import jupytext

    ipynb = paired_ipynb(md)
    if not md.exists():
        return [f"{md}: missing"]
    if not ipynb.exists():
        return [f"{ipynb}: missing (run `maqamgen sync`)"]
    a = jupytext.read(md)
    b = jupytext.read(ipynb)
    problems = []
    ca, cb = _cells(a), _cells(b)
    if len(ca) != len(cb):
        problems.append(f"{ipynb}: {len(cb)} cells, {md.name} has {len(ca)}")
    for i, (x, y) in enumerate(zip(ca, cb)):
        if x != y:
            problems.append(f"{ipynb}: cell {i} differs from {md.name}")
            break
    if any(c.get("outputs") for c in b.cells if c.cell_type == "code"):
        problems.append(f"{ipynb}: carries outputs; the paired notebook is kept clean")
    return problems


def sync_pair(md: Path) -> bool:
    """Write ``md``'s paired ``.ipynb`` from the ``.md`` (no outputs). Returns True if it changed."""
    import jupytext

    nb = jupytext.read(md)
    for i, cell in enumerate(nb.cells):  # stable ids: an unchanged .md gives an unchanged .ipynb
        cell.id = hashlib.sha1(f"{i}:{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
    ipynb = paired_ipynb(md)
    text = jupytext.writes(nb, fmt="ipynb")
    if ipynb.exists() and ipynb.read_text() == text:
        return False
    runtime.atomic_write(ipynb, text)
    return True


def sync_all(root: Path | None = None) -> list[Path]:
    """Sync every page's paired notebook; returns the ``.ipynb`` files that changed."""
    return [paired_ipynb(md) for md in chapters(root) if sync_pair(md)]


# ---------------------------------------------------------------- execution
_MAQAMGEN_REF = re.compile(r"\bmaqamgen(?:\.[A-Za-z_]\w*)*")
_FROM_IMPORT = re.compile(r"^\s*from\s+(maqamgen(?:\.\w+)*)\s+import\s+(\([\w\s,]+\)|[\w \t,]+)", re.M)
"""``from maqamgen... import names``: a parenthesised list may span lines, a plain one ends with
its line (so two consecutive import lines are two statements)."""


def _module_file(name: str, lib: Path) -> Path | None:
    """The source file of module ``maqamgen.x.y`` under ``lib`` (a package's ``__init__.py``)."""
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    for cand in (lib / rel / "__init__.py", (lib / rel).with_suffix(".py")):
        if cand.name != ".py" and cand.is_file():
            return cand
    return None


def _resolve_module(dotted: str, lib: Path) -> str | None:
    """The longest prefix of ``maqamgen.a.b.c`` that is a module or package of the library."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if _module_file(name, lib) is not None:
            return name
    return None


def _imported_names(module: str, names: str, lib: Path) -> set[str]:
    """Modules named by ``from module import names``: submodules where they exist, else ``module``."""
    out = set()
    for item in names.replace("(", " ").replace(")", " ").split(","):
        words = item.split()
        if not words:
            continue
        sub = f"{module}.{words[0]}"
        out.add(sub if _module_file(sub, lib) is not None else module)
    return out


def _source_modules(text: str, lib: Path) -> set[str]:
    """Library modules a source text refers to: its imports and any dotted ``maqamgen.x.y`` name."""
    found = set()
    for m in _FROM_IMPORT.finditer(text):
        found |= _imported_names(m.group(1), m.group(2), lib)
    for m in _MAQAMGEN_REF.finditer(text):
        name = _resolve_module(m.group(0), lib)
        if name:
            found.add(name)
    return found


@functools.lru_cache(maxsize=512)
def _import_statements(text: str) -> tuple:
    """The ``maqamgen`` imports of a source text, anywhere in it: ``(None, name)`` per
    ``import name`` and ``(module, "a, b")`` per ``from module import a, b`` (cached by the text:
    parsing is the cost of :func:`library_digest`, which reads each module once per chapter)."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out += [(None, a.name) for a in node.names if a.name.startswith("maqamgen")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("maqamgen"):
            out.append((node.module, ", ".join(a.name for a in node.names)))
    return tuple(out)


def _python_imports(path: Path, lib: Path) -> set[str]:
    """Library modules imported anywhere in a module (top level or inside functions)."""
    out = set()
    for module, names in _import_statements(path.read_text()):
        if module is None:
            if n := _resolve_module(names, lib):
                out.add(n)
        else:
            out |= _imported_names(module, names, lib)
    return out


def chapter_modules(md: Path, root: Path | None = None) -> list[str]:
    """Every library module a chapter runs: what it imports or names, their imports, transitively,
    and the packages above each (importing ``maqamgen.a.b`` runs ``maqamgen/__init__.py`` and
    ``maqamgen/a/__init__.py``)."""
    root = root or repo_root()
    lib = root / "lib" / "maqamgen"
    todo = _source_modules(md.read_text(), lib)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo |= {".".join(parts[:n]) for n in range(1, len(parts))}
        todo |= _python_imports(_module_file(name, lib), lib)
    return sorted(seen)


def library_digest(md: Path, root: Path | None = None) -> str:
    """Hash of the library code a chapter runs (:func:`chapter_modules`), comments and docstrings
    excluded: an edit to code the chapter imports re-runs it; a docstring edit, or an edit to a
    module it never imports, does not."""
    root = root or repo_root()
    lib = root / "lib" / "maqamgen"
    h = hashlib.sha256()
    for name in chapter_modules(md, root):
        h.update(name.encode())
        h.update(runtime.code_digest(_module_file(name, lib)).encode())
    return h.hexdigest()


READS_RESULTS: frozenset[str] = frozenset({"results", "cards", "listening"})
"""Pages (file stems) that read what the chapters of the same build wrote (the results store,
trained models) instead of computing it: they re-run whenever that store changes."""


def results_digest(profile: str) -> str:
    """Hash of every record in the results store at ``profile`` (:mod:`maqamgen.results`): a
    chapter that re-runs rewrites its record, and so changes this."""
    from maqamgen import results

    h = hashlib.sha256()
    for p in sorted(results.results_dir(profile).glob("*.json")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def cache_key(md: Path, profile: str, params: dict, lib_digest: str) -> str:
    h = hashlib.sha256()
    h.update(md.read_bytes())
    h.update(json.dumps({"profile": profile, **params}, sort_keys=True, default=str).encode())
    h.update(lib_digest.encode())
    if md.stem in READS_RESULTS:
        h.update(results_digest(profile).encode())
    return h.hexdigest()


def executed_path(md: Path, profile: str, root: Path | None = None) -> Path:
    root = root or repo_root()
    return root / "_build" / "executed" / profile / md.relative_to(root).with_suffix(".ipynb")


def kernel_env() -> dict[str, str]:
    """Environment of the kernels papermill starts: inline plots, cached numba, seeded hashes."""
    root = repo_root()
    env = {
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONHASHSEED": "0",
        "NUMBA_CACHE_DIR": str(root / "data" / "cache" / "numba"),
        "TQDM_DISABLE": os.environ.get("TQDM_DISABLE", "1"),
    }
    return env


CELL_TIMEOUT_S = {"smoke": 600, "book": 3600, "full": None}
"""Longest a single cell may run at each profile before papermill fails it (None: no limit):
a hung kernel fails the run instead of hanging CI."""


def ipc_kernel_manager():
    """A kernel manager whose kernels talk over Unix sockets instead of TCP ports.

    With TCP, jupyter_client picks free ports, closes them and lets the kernel bind them; when
    several kernels start at once (parallel jobs on one machine) another process can take a
    port in between and the client then waits forever on the wrong kernel (seen here: a
    papermill run idle for 20 minutes). Each kernel gets its sockets in a folder of its own.

    Shutting a kernel down sends it no SIGINT (see ``_async_interrupt_kernel``): a finished run
    has nothing to interrupt, and the signal only printed ipykernel's "KeyboardInterrupt caught
    in kernel" (when it found the kernel still inside a message handler) or the tracebacks of
    processes left in the kernel's group into the build's output.
    """
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            # jupyter_client's default socket prefix is "kernel-ipc" in the working folder,
            # shared by every kernel started there; a private folder per kernel cannot collide
            self._socket_dir = tempfile.mkdtemp(prefix="maqamgen-kernel-")
            kwargs.setdefault("ip", os.path.join(self._socket_dir, "k"))
            super().__init__(**kwargs)

        async def _async_interrupt_kernel(self) -> None:
            # jupyter_client interrupts (SIGINT to the kernel's process group) before every
            # shutdown request, to stop a cell still running. papermill shuts the kernel down
            # after its last cell has finished or failed: the signal has nothing to stop and
            # can only make ipykernel print "KeyboardInterrupt caught in kernel" (and any process
            # a chapter left in the kernel's group a KeyboardInterrupt traceback) into
            # `maqamgen book`'s output. A kernel that does not answer the shutdown request (a
            # cell past its timeout) is still ended by jupyter_client: SIGTERM, then SIGKILL.
            # An interrupt asked for while the kernel runs (interrupt_kernel) is sent as before.
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(self._socket_dir, ignore_errors=True)

    return IPCKernelManager


def execute(md: Path, profile: str, params: dict | None = None,
            force: bool = False) -> tuple[Path, bool, float]:
    """Execute one chapter with papermill; returns (executed notebook, ran?, seconds).

    The chapter runs with its own folder as working directory, ``profile`` and ``params``
    injected after its ``parameters`` cell. The output is written atomically and cached.

    Under concurrency and crashes: the chapter runs under :func:`maqamgen.runtime.locked` on
    its executed notebook (a second ``maqamgen book`` waits, then finds it current); the key
    file is removed before the new notebook replaces the old one and written after, and a cached
    notebook is trusted only when its key matches and it parses as a notebook.
    """
    import jupytext

    get_profile(profile)  # validates the name
    params = dict(params or {})
    root = repo_root()
    out = executed_path(md, profile, root)
    key = cache_key(md, profile, params, library_digest(md, root))
    keyfile = out.with_suffix(".key")
    if not force and _executed_current(out, keyfile, key):
        return out, False, 0.0

    nb = jupytext.read(md)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise MaqamgenError(f"{md}: no cell tagged 'parameters' (papermill needs one)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with runtime.locked(out):  # two builds at once run a chapter once; the other then reads it
        if not force and _executed_current(out, keyfile, key):
            return out, False, 0.0
        return _execute(md, nb, profile, params, out, keyfile, key)


INJECTED_TAG = "injected-parameters"
HIDDEN_TAG = "remove-cell"
"""papermill tags the cell it inserts after a chapter's ``parameters`` cell ``injected-parameters``;
the rendered book drops it (Jupyter Book removes a cell tagged ``remove-cell``). The chapter's own
``parameters`` cell keeps its tags and stays on the page: the reader sees the defaults."""


def hide_injected_parameters(nb: dict) -> int:
    """Tag papermill's injected-parameters cell(s) of ``nb`` (nbformat JSON, edited in place)
    ``remove-cell``; returns how many cells gained the tag. Other cells are left as they are."""
    n = 0
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if INJECTED_TAG in tags and HIDDEN_TAG not in tags:
            cell["metadata"]["tags"] = [*tags, HIDDEN_TAG]
            n += 1
    return n


def _hide_injected_in_file(path: Path) -> None:
    """:func:`hide_injected_parameters` on a notebook file (rewritten only when it changes)."""
    nb = json.loads(path.read_text())
    if hide_injected_parameters(nb):
        runtime.atomic_write(path, json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def _executed_current(out: Path, keyfile: Path, key: str) -> bool:
    """True when ``out`` is the executed notebook of ``key``: its key file says so and it is a
    complete notebook (valid JSON with cells); a truncated or foreign file is re-executed."""
    try:
        if not out.exists() or not keyfile.exists() or keyfile.read_text() != key:
            return False
        nb = json.loads(out.read_text())
        return isinstance(nb, dict) and isinstance(nb.get("cells"), list) and "nbformat" in nb
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def _execute(md: Path, nb, profile: str, params: dict, out: Path, keyfile: Path,
             key: str) -> tuple[Path, bool, float]:
    import jupytext
    import papermill

    src = out.with_name(f".{out.stem}.input.ipynb")
    jupytext.write(nb, src, fmt="ipynb")
    tmp = out.with_name(f".{out.stem}.running.ipynb")
    os.environ.update(kernel_env())
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(src), str(tmp), parameters={"profile": profile, **params},
            kernel_name="python3", cwd=str(md.parent), progress_bar=False,
            report_mode=False, log_output=False, execution_timeout=CELL_TIMEOUT_S.get(profile),
            kernel_manager_class=ipc_kernel_manager(),
        )
    except papermill.PapermillExecutionError as e:
        raise MaqamgenError(
            f"{md}: cell {e.exec_count} raised {e.ename}: {e.evalue} "
            f"(executed notebook kept at {tmp})") from None
    finally:
        src.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    _hide_injected_in_file(tmp)
    # the key goes first: a crash between the two leaves a notebook no key vouches for (re-run),
    # never an old key beside a notebook of other parameters
    keyfile.unlink(missing_ok=True)
    os.replace(tmp, out)
    runtime.atomic_write(keyfile, key)
    return out, True, seconds


# ---------------------------------------------------------------- rendering
def stage_site(profile: str, root: Path | None = None) -> Path:
    """Assemble ``_build/site/<profile>``: the book's config plus executed notebooks.

    A page that has not been executed at this profile is staged from its clean paired
    notebook, so the book always builds.
    """
    import jupytext

    root = root or repo_root()
    site = root / "_build" / "site" / profile
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, site / name)
    for p in (root / "book").rglob("*"):
        if p.is_file() and p.suffix not in (".md", ".ipynb") and ".ipynb_checkpoints" not in p.parts:
            dst = site / p.relative_to(root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dst)
    _stage_mathjax(site)
    for md in chapters(root):
        dst = site / md.relative_to(root).with_suffix(".ipynb")
        dst.parent.mkdir(parents=True, exist_ok=True)
        done = executed_path(md, profile, root)
        if done.exists():
            shutil.copy2(done, dst)
            _hide_injected_in_file(dst)  # notebooks executed before the tag was added
        else:
            jupytext.write(jupytext.read(md), dst, fmt="ipynb")
    return site


MATHJAX_PARTS = ("tex-mml-chtml.js", "output", "input/tex/extensions", "ui", "a11y", "sre")


def _stage_mathjax(site: Path) -> None:
    """Copy MathJax 3 (pip package django-static-mathjax) into the site (``_mathjax/mathjax``, served as ``_static/mathjax``).

    ``_config.yml`` points ``mathjax_path`` there, so equations render without a CDN (readers
    offline, the browser test here). Without the package the build falls back to nothing and
    says so.
    """
    try:
        import mathjax
    except ImportError:
        print("warning: MathJax package missing; equations will show as LaTeX offline")
        return
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    dst = site / "_mathjax" / "mathjax"
    for part in MATHJAX_PARTS:
        src = es5 / part
        if src.is_dir():
            shutil.copytree(src, dst / part)
        else:
            (dst / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / part)


def html_dir(profile: str, root: Path | None = None) -> Path:
    """Where the HTML of a profile lands: ``_build/html`` for ``book``, else ``_build/<profile>/html``."""
    root = root or repo_root()
    return root / "_build" / "html" if profile == "book" else root / "_build" / profile / "html"


def render(profile: str, strict: bool = False, root: Path | None = None) -> Path:
    """Render the staged site with Jupyter Book; returns the path of ``index.html``."""
    root = root or repo_root()
    site = stage_site(profile, root)
    target = html_dir(profile, root)
    build_root = root / "_build" / "jb" / profile
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(site), "--path-output",
           str(build_root), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=root)
    if proc.returncode != 0:
        raise MaqamgenError(f"jupyter-book build failed (exit {proc.returncode}); see the log above")
    built = build_root / "_build" / "html"
    tmp = target.with_name(target.name + ".new")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(built, tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target / "index.html"


WAITS_FOR: dict[str, tuple[str, ...]] = {
    "04_unet_ddpm": ("03_pca_gaussian",),
    "08_dit": ("06_latent_diffusion",),
}
"""With ``--jobs`` above 1, chapters that start only after others have finished: each reads what
the other trains (Chapter 3's judge; Chapter 6's autoencoder and latent U-Net). The cache locks
(:func:`maqamgen.runtime.locked`) would make the second wait anyway; declared here, its process
runs another chapter meanwhile. The :data:`READS_RESULTS` pages wait for every other page."""


def schedule(todo: list[Path], done: set[str], running: set[str],
             results: frozenset[str] = READS_RESULTS) -> Path | None:
    """The first page of ``todo`` (reading order) that may start now: its :data:`WAITS_FOR`
    chapters, and for a page of ``results`` every other page of ``todo``, are in ``done`` or not
    asked for. ``None`` when every remaining page waits."""
    asked = {md.stem for md in todo}
    for md in todo:
        if md.stem in done or md.stem in running:
            continue
        needs = set(WAITS_FOR.get(md.stem, ()))
        if md.stem in results:
            needs |= {s for s in asked if s not in results}
        if (needs & asked) <= done:
            return md
    return None


def _spawn_pool(jobs: int):
    """``jobs`` worker processes, each a fresh interpreter (no forked torch threads)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def _execute_all(todo: list[Path], profile: str, params: dict, force: bool, jobs: int,
                 root: Path, run=execute, pool=_spawn_pool) -> None:
    """Execute ``todo`` in ``jobs`` processes (:func:`schedule` picks the next page); a page that
    fails stops new starts, the running ones finish, and its error is raised.

    ``run`` (a page's executor) and ``pool`` (``jobs`` -> an executor of calls) are there for
    the tests, which run fake pages in threads."""
    from concurrent.futures import FIRST_COMPLETED, wait

    done: set[str] = set()
    running: dict = {}
    failed: list[BaseException] = []
    with pool(jobs) as ex:
        while True:
            while not failed and len(running) < jobs:
                md = schedule(todo, done, {m.stem for m in running.values()})
                if md is None:
                    break
                running[ex.submit(run, md, profile, params, force)] = md
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                md = running.pop(fut)
                rel = md.relative_to(root)
                try:
                    _, ran, secs = fut.result()
                except BaseException as e:  # noqa: BLE001 - reported once the others finish
                    print(f"[{profile}] {rel} ... failed", flush=True)
                    failed.append(e)
                    continue
                done.add(md.stem)
                print(f"[{profile}] {rel} ... " + (f"ran in {secs:.1f} s" if ran else "cached (unchanged)"),
                      flush=True)
    if failed:
        raise failed[0]


def main(profile: str = "book", only: list[str] | None = None, params: dict | None = None,
         build: bool = True, strict: bool = False, force: bool = False,
         sync: bool = False, jobs: int = 1) -> int:
    """``maqamgen book``: check pairs, execute chapters, render HTML.

    ``jobs`` above 1 executes pages in that many processes at once (:data:`WAITS_FOR`): for a
    profile of one torch thread a page (``smoke``) on a machine of as many cores. The ``book``
    profile's chapters take both cores each (:data:`maqamgen.config.BOOK_THREADS`) and report
    their own wall times: build it with one job.
    """
    root = repo_root()
    get_profile(profile)
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    pages = chapters(root)
    if sync:
        for ipynb in sync_all(root):
            print(f"synced {ipynb.relative_to(root)}")
    drift = [p for md in pages for p in pair_problems(md)]
    if drift:
        raise MaqamgenError("paired notebooks out of sync:\n  " + "\n  ".join(drift)
                            + "\nrun `maqamgen sync` (the .md is the source)")
    todo = resolve(only or [], root)
    total = time.perf_counter()
    if jobs > 1 and len(todo) > 1:
        _execute_all(todo, profile, dict(params or {}), force, jobs, root)
    else:
        for md in todo:
            rel = md.relative_to(root)
            print(f"[{profile}] {rel} ...", end=" ", flush=True)
            out, ran, secs = execute(md, profile, params, force=force)
            print(f"ran in {secs:.1f} s" if ran else "cached (unchanged)", flush=True)
    print(f"[{profile}] executed {len(todo)} page(s) in {time.perf_counter() - total:.1f} s"
          + (f" ({jobs} jobs)" if jobs > 1 and len(todo) > 1 else ""))
    if build:
        index = render(profile, strict=strict, root=root)
        print(f"\nThe book is at {index}\nopen it with: xdg-open {index}  (or file://{index})")
    return 0


__all__ = ["chapters", "resolve", "pair_problems", "sync_pair", "execute", "schedule", "stage_site",
           "render", "main", "PROFILES", "WAITS_FOR"]
