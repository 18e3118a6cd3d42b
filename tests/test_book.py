"""The notebook pipeline: pairs in sync, parameters cells, cache keys, CLI errors."""

import ast
import shutil

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


def test_resolve_by_stem_and_unknown_chapter():
    assert book.resolve(["intro"])[0].name == "intro.md"
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
