"""The notebook pipeline: pairs in sync, parameters cells, cache keys, CLI errors."""

import ast
import shutil
from pathlib import Path

import jupytext
import pytest

from maqamgen import book, config
from maqamgen.cli import main
from maqamgen.errors import ConfigError


def test_every_page_is_a_synced_pair():
    pages = book.chapters()
    assert pages and pages[0].name == "intro.md"
    problems = [p for md in pages for p in book.pair_problems(md)]
    assert problems == []


def test_drift_is_detected(tmp_path, root):
    md = root / "book" / "intro.md"
    shutil.copy(md, tmp_path / "intro.md")
    shutil.copy(md.with_suffix(".ipynb"), tmp_path / "intro.ipynb")
    assert book.pair_problems(tmp_path / "intro.md") == []
    (tmp_path / "intro.md").write_text(md.read_text() + "\n```{code-cell} ipython3\nx = 1\n```\n")
    assert any("cells" in p for p in book.pair_problems(tmp_path / "intro.md"))
    assert book.sync_pair(tmp_path / "intro.md") is True
    assert book.pair_problems(tmp_path / "intro.md") == []
    (tmp_path / "intro.ipynb").unlink()
    assert "missing" in book.pair_problems(tmp_path / "intro.md")[0]


@pytest.mark.parametrize("md", book.chapters(), ids=lambda p: p.stem)
def test_parameters_cell_holds_scalars_only(md):
    nb = jupytext.read(md)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{md}: exactly one cell tagged 'parameters'"
    tree = ast.parse(cells[0].source)
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign), f"{md}: only assignments in the parameters cell"
        value = ast.literal_eval(node.value)
        assert value is None or isinstance(value, (bool, int, float, str)), \
            f"{md}: {ast.unparse(node)} is not a scalar"
        names.append(node.targets[0].id)
    assert names[0] == "profile" and cells[0].source.splitlines()[0] == 'profile = "book"'


def test_cache_key_depends_on_source_profile_params_and_library(tmp_path):
    md = tmp_path / "c.md"
    md.write_text("a")
    k = book.cache_key(md, "smoke", {}, "lib1")
    assert k == book.cache_key(md, "smoke", {}, "lib1")
    assert k != book.cache_key(md, "book", {}, "lib1")
    assert k != book.cache_key(md, "smoke", {"maqam": "saba"}, "lib1")
    assert k != book.cache_key(md, "smoke", {}, "lib2")
    md.write_text("b")
    assert k != book.cache_key(md, "smoke", {}, "lib1")


def test_results_page_key_follows_the_results_store(tmp_path, monkeypatch):
    from maqamgen import results

    monkeypatch.setattr(results, "repo_root", lambda: tmp_path)
    page, chapter = tmp_path / "results.md", tmp_path / "c.md"
    page.write_text("a")
    chapter.write_text("a")
    before = (book.cache_key(page, "smoke", {}, "l"), book.cache_key(chapter, "smoke", {}, "l"))
    results.save("smoke", "m", {"fd": 1.0})
    after = (book.cache_key(page, "smoke", {}, "l"), book.cache_key(chapter, "smoke", {}, "l"))
    assert after[0] != before[0] and after[1] == before[1]  # only the reading page re-runs
    assert book.cache_key(page, "book", {}, "l") != after[0]


def test_resolve_by_stem_and_unknown_chapter():
    assert book.resolve(["intro"])[0].name == "intro.md"
    assert [c.stem for c in book.resolve(["01", "08_dit"])] == ["01_stft_filtering", "08_dit"]
    with pytest.raises(ConfigError, match="ambiguous: 01_stft_filtering, 02_maqam_estimation"):
        book.resolve(["0"])
    with pytest.raises(ConfigError, match="known chapters: intro"):
        book.resolve(["no_such_chapter"])


def test_profiles():
    assert set(config.PROFILES) == {"smoke", "book", "full"}
    digests = {p.digest() for p in config.PROFILES.values()}
    assert len(digests) == 3
    with pytest.raises(ConfigError, match="known profiles: smoke, book, full"):
        config.profile("huge")


def test_cli_reports_bad_profile_and_chapter_in_one_line(capsys):
    assert main(["book", "--profile", "huge", "--no-html"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["maqamgen: error: unknown profile 'huge'; known profiles: smoke, book, full"]
    assert main(["book", "--profile", "smoke", "--only", "nope", "--no-html"]) == 2
    assert "unknown chapter 'nope'" in capsys.readouterr().err


def test_execute_is_cached_and_injects_parameters():
    md = book.resolve(["intro"])[0]
    out, _, _ = book.execute(md, "smoke")
    out2, ran, _ = book.execute(md, "smoke")
    assert out2 == out and ran is False
    nb = jupytext.read(out)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'profile = "smoke"' in injected[0].source
    assert book.HIDDEN_TAG in injected[0].metadata["tags"], "papermill's cell is shown in the book"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert params and book.HIDDEN_TAG not in params[0].metadata["tags"]


def test_injected_parameters_cell_is_removed_from_the_page(tmp_path):
    """Only papermill's injected cell gains ``remove-cell`` (Jupyter Book drops it); the chapter's
    own parameters cell and the other cells keep their tags; tagging twice changes nothing; a
    notebook executed before the tag existed is tagged when the site is staged."""
    import json

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"),
                nbformat.v4.new_code_cell('profile = "book"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\n',
                                          metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["hide-input"]}),
                nbformat.v4.new_code_cell("y = 2")]
    raw = json.loads(nbformat.writes(nb))
    assert book.hide_injected_parameters(raw) == 1
    tags = [c["metadata"].get("tags") for c in raw["cells"]]
    assert tags == [None, ["parameters"], ["injected-parameters", "remove-cell"], ["hide-input"], None]
    assert book.hide_injected_parameters(raw) == 0

    path = tmp_path / "c.ipynb"
    nbformat.write(nb, path)
    book._hide_injected_in_file(path)
    back = nbformat.read(path, as_version=4)
    nbformat.validate(back)
    assert back.cells[2].metadata.tags == ["injected-parameters", "remove-cell"]
    assert back.cells[1].metadata.tags == ["parameters"]
    assert [c.source for c in back.cells] == [c.source for c in nb.cells]


def _lib_copy(tmp_path, root):
    shutil.copytree(root / "lib", tmp_path / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tmp_path / "lib" / "maqamgen"


def test_cache_key_follows_the_code_a_chapter_runs(tmp_path, root):
    """A docstring- or comment-only edit to lib/ keeps every chapter cached; a code edit re-runs
    exactly the chapters that import the edited module (directly or through other modules)."""
    lib = _lib_copy(tmp_path, root)
    pages = book.chapters()

    def digests():
        return {md.stem: book.library_digest(md, tmp_path) for md in pages}

    before = digests()
    m = lib / "metrics.py"
    src = m.read_text()
    edited = src.replace('"""', '"""Edited docstring. ', 1).replace("\nimport numpy as np\n",
                                                                     "\nimport numpy as np  # a comment\n", 1)
    assert edited != src
    m.write_text(edited)
    (lib / "synth.py").write_text((lib / "synth.py").read_text() + "\n# trailing comment\n")
    assert digests() == before

    m.write_text(edited + "\n\nSOMETHING_NEW = 1\n")
    after = digests()
    users = {md.stem for md in pages if "maqamgen.metrics" in book.chapter_modules(md)}
    assert "01_stft_filtering" in users and "intro" not in users
    assert {k for k in before if after[k] != before[k]} == users


def test_docstring_edit_leaves_the_smoke_book_cached(tmp_path, root, monkeypatch):
    """The keys `maqamgen book` writes stay valid after a docstring-only edit of every module."""
    lib = _lib_copy(tmp_path, root)
    keys = {md: book.cache_key(md, "smoke", {}, book.library_digest(md, tmp_path)) for md in book.chapters()}
    for p in lib.rglob("*.py"):
        text = p.read_text()
        p.write_text(text.replace('"""', '"""Reworded. ', 1) if '"""' in text else "# note\n" + text)
    for md, key in keys.items():
        assert book.cache_key(md, "smoke", {}, book.library_digest(md, tmp_path)) == key, md.stem


def _run_with_a_child_in_the_kernel_group(tmp_path, manager_class):
    """Execute a two-cell notebook with papermill under ``manager_class``; the last cell leaves a
    child process in the kernel's process group that records any SIGINT it receives (as a
    leftover worker would print a KeyboardInterrupt traceback). Returns what the child saw."""
    import os
    import signal
    import time

    import nbformat
    import papermill

    tmp_path.mkdir(parents=True, exist_ok=True)
    mark = tmp_path / "sigint"
    pid = tmp_path / "pid"
    child = ("import os, signal, sys, time\n"
             f"open({str(pid)!r}, 'w').write(str(os.getpid()))\n"
             f"signal.signal(signal.SIGINT, lambda *a: (open({str(mark)!r}, 'w').write('SIGINT'), sys.exit()))\n"
             "time.sleep(20)\n")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell('profile = "book"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(f"import subprocess, sys, time\n"
                                          f"p = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
                                          "time.sleep(1.0)  # the child has set its handler")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"),
                               parameters={"profile": "smoke"}, kernel_name="python3",
                               progress_bar=False, log_output=False, kernel_manager_class=manager_class)
    time.sleep(1.0)
    try:  # the child outlives the kernel where no signal came: end it here
        os.kill(int(pid.read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        pass
    return mark.read_text() if mark.exists() else ""


def test_kernel_shutdown_sends_no_sigint(tmp_path):
    """jupyter_client interrupts a kernel (SIGINT to its process group) before shutting it down;
    after a finished run that only printed "KeyboardInterrupt caught in kernel" (and tracebacks
    of processes in the group) into `maqamgen book`'s output. The book's manager does not; a
    plain manager still does (so the test measures something); interrupting on demand still
    works."""
    from jupyter_client.manager import AsyncKernelManager

    assert _run_with_a_child_in_the_kernel_group(tmp_path / "plain", AsyncKernelManager) == "SIGINT"
    assert _run_with_a_child_in_the_kernel_group(tmp_path / "book", book.ipc_kernel_manager()) == ""


def test_kernel_can_still_be_interrupted_while_running():
    """The manager skips the interrupt only while shutting down: a running cell still stops."""
    import asyncio

    async def go():
        km = book.ipc_kernel_manager()(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            msg_id = kc.execute("import time\nfor _ in range(600): time.sleep(0.1)")
            await asyncio.sleep(1.0)
            await km.interrupt_kernel()
            while True:
                reply = await kc.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return reply["content"]
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()

    content = asyncio.run(go())
    assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt"


def test_schedule_runs_a_chapter_after_what_it_reads_and_the_results_pages_last(root):
    todo = book.resolve([])
    import yaml

    results = book.READS_RESULTS
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    last_part = [Path(c["file"]).stem for c in toc["parts"][-1]["chapters"]]
    assert set(last_part) == results, "the pages of the last part read the results store"

    def order(jobs: int) -> list[list[str]]:
        """Waves of a build whose pages all take the same time, ``jobs`` at a time."""
        done, waves = set(), []
        while len(done) < len(todo):
            wave = []
            for _ in range(jobs):
                md = book.schedule(todo, done, set(wave), results)
                if md is None:
                    break
                wave.append(md.stem)
            assert wave, f"nothing may start after {sorted(done)}"
            waves.append(wave)
            done |= set(wave)
        return waves

    assert [s for w in order(1) for s in w] == [md.stem for md in todo]  # one job: reading order
    waves = order(2)
    at = {s: i for i, w in enumerate(waves) for s in w}
    for page, needs in book.WAITS_FOR.items():
        assert all(at[n] < at[page] for n in needs), (page, waves)
    chapters_ = [md.stem for md in todo if md.stem not in results]
    assert min(at[r] for r in results) > max(at[c] for c in chapters_)
    assert len(waves) < len(todo)  # two at a time is shorter
    # a chapter waits only for the pages asked for: Chapter 8 alone starts at once
    only8 = book.resolve(["08_dit", "results"])
    assert book.schedule(only8, set(), set(), results).stem == "08_dit"
    assert book.schedule(only8, set(), {"08_dit"}, results) is None


def test_jobs_must_be_positive(capsys):
    assert main(["book", "--profile", "smoke", "--jobs", "0", "--no-html"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_nbval_jobs_split_balances_recorded_time(tmp_path):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("nbval_jobs", book.repo_root() / "tests" / "nbval_jobs.py")
    nj = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nj)
    costs = {tmp_path / f"{k}.ipynb": c for k, c in zip("abcdef", (113, 80, 53, 45, 38, 27))}
    groups = nj.split(costs, 2)
    assert sorted(p for g in groups for p in g) == sorted(costs)
    loads = sorted(sum(costs[p] for p in g) for g in groups)
    assert loads == [171, 185]  # longest first: 113+45+27 and 80+53+38
    assert nj.split(costs, 1) == [sorted(costs)] and len(nj.split(costs, 9)) == 6
    cell = {"cell_type": "code", "metadata": {"execution": {
        "iopub.execute_input": "2026-12-07T00:00:00.5Z", "shell.execute_reply": "2026-12-07T00:00:02Z"}}}
    nb = tmp_path / "part" / "x.ipynb"
    nb.parent.mkdir()
    nb.write_text(json.dumps({"cells": [cell, cell, {"cell_type": "markdown", "metadata": {}}]}))
    (tmp_path / "part" / ".x.running.ipynb").write_text("{}")
    assert nj.recorded_seconds(nb) == pytest.approx(3.0)
    assert nj.notebooks(tmp_path / "part") == [nb]
    # the results store comes back as the papermill run left it: contents and times
    store = tmp_path / "store"
    store.mkdir()
    rec = store / "01.json"
    rec.write_text('{"seconds": 1}')
    import os
    os.utime(rec, (1_000_000, 1_000_000))
    with nj.kept_store(store):
        rec.write_text('{"seconds": 2}')
        (store / "new.json").write_text("{}")
    assert rec.read_text() == '{"seconds": 1}' and rec.stat().st_mtime == 1_000_000
    assert sorted(p.name for p in store.iterdir()) == ["01.json"]
    with pytest.raises(RuntimeError), nj.kept_store(tmp_path / "none"):
        (tmp_path / "none").mkdir()
        raise RuntimeError("nbval failed")
    assert not (tmp_path / "none").exists()


def test_jobs_a_failing_page_stops_new_starts_and_its_error_is_raised(tmp_path, capsys):
    """With --jobs 2: the page running beside the failing one finishes; no page starts after
    the failure; the failing page's error comes out."""
    import threading
    import time as time_
    from concurrent.futures import ThreadPoolExecutor

    pages = [tmp_path / f"{n}.md" for n in ("01_a", "02_b", "03_c", "05_d")]
    started, finished = [], []
    b_running = threading.Event()

    def fake(md, profile, params, force):
        started.append(md.stem)
        if md.stem == "01_a":
            b_running.wait(5)
            raise RuntimeError("page 01_a failed")
        b_running.set()
        time_.sleep(0.3)
        finished.append(md.stem)
        return md, True, 0.3

    with pytest.raises(RuntimeError, match="page 01_a failed"):
        book._execute_all(pages, "smoke", {}, False, 2, tmp_path, run=fake,
                          pool=lambda n: ThreadPoolExecutor(n))
    assert sorted(started) == ["01_a", "02_b"] and finished == ["02_b"]
    out = capsys.readouterr().out
    assert "01_a.md ... failed" in out and "02_b.md ... ran in" in out
