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
