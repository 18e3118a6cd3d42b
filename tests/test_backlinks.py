"""The library's "Used in:" back-links are true, and the package map names every module."""

import ast
import re
from pathlib import Path

import pytest

from maqamgen import book

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "maqamgen"
CHAPTERS = {md.stem: md for md in book.chapters()}
USED_IN = re.compile(r"Used in:(.*?)(?:\n\s*\n|\Z)", re.S)
PATH = re.compile(r"(?:book/[\w/]+/)?(\d\d_\w+|intro|results|cards|listening)\.md|lib/maqamgen/[\w/]+\.py")


def _documented():
    """(module file, object name or None for the module, the paths its Used in: names)."""
    for path in sorted(LIB.rglob("*.py")):
        tree = ast.parse(path.read_text())
        nodes = [(None, tree)] + [(n.name, n) for n in ast.walk(tree)
                                  if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
        for name, node in nodes:
            doc = ast.get_docstring(node) or ""
            m = USED_IN.search(doc)
            if m:
                yield path, name, [p.group(0) for p in PATH.finditer(m.group(1))]


def _module_name(path: Path) -> str:
    rel = path.relative_to(LIB.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _uses(md: Path, module: str, name: str | None) -> bool:
    """The chapter imports the module (for a module's back-link), or names the object in its own
    source or in one of its recipes."""
    modules = book.chapter_modules(md)
    if module not in modules:
        return False
    if name is None:
        return True
    word = re.compile(rf"\b{re.escape(name)}\b")
    if word.search(md.read_text()):
        return True
    recipes = [m for m in modules if m.startswith("maqamgen.recipes.") and m != module]
    return any(word.search((LIB.parent / Path(*r.split("."))).with_suffix(".py").read_text()) for r in recipes)


CASES = list(_documented())


def test_backlinks_exist():
    assert len(CASES) > 50


@pytest.mark.parametrize("path,name,targets", CASES,
                         ids=[f"{p.relative_to(LIB)}:{n or '<module>'}" for p, n, _ in CASES])
def test_every_used_in_line_is_true(path, name, targets):
    assert targets, "a 'Used in:' line must name at least one chapter or lib file"
    module = _module_name(path)
    for t in targets:
        if t.startswith("lib/"):
            f = ROOT / t
            assert f.is_file(), f"{t} does not exist"
            assert name is None or re.search(rf"\b{name}\b", f.read_text()), f"{t} never names {name}"
            continue
        stem = Path(t).stem
        assert stem in CHAPTERS, f"{t}: no such chapter in _toc.yml"
        assert _uses(CHAPTERS[stem], module, name), f"{t} does not use {module}.{name or ''}"


def test_package_map_names_every_module():
    init = (LIB / "__init__.py").read_text()
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    for path in sorted(LIB.rglob("*.py")):
        rel = path.relative_to(LIB)
        if rel.name == "__init__.py" and rel.parent == Path("."):
            continue
        name = rel.parent.name + "/" if rel.name == "__init__.py" else rel.stem
        assert name.rstrip("/") in init, f"lib/maqamgen/__init__.py does not name {rel}"
        assert name.rstrip("/") in layout, f"README's Layout section does not name {rel}"
