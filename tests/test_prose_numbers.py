"""Numbers in prose come from the run: no measured figure typed into a chapter's markdown.

A number followed by a unit (%, s, frames, dB, cents, Hz, steps, x) in a markdown cell fails
unless it is glued (``{glue:text}`name```), inside code or maths, or on the short allow-list of
facts below (tuning, the report's own figures, definitions of the method).
"""

import re

import jupytext
import pytest

from maqamgen import book

UNIT = r"(?:%|s\b|sec\b|seconds?\b|ms\b|min\b|minutes?\b|frames?\b|dB\b|cents?\b|Hz\b|kHz\b|steps?\b|x\b|×)"
NUMBER_WITH_UNIT = re.compile(r"(?<![\w.$])(?:about |~)?[-+−]?\d[\d,]*(?:\.\d+)?\s?(?:-\s?)?" + UNIT)

ALLOWED = {
    # the report's own figures and facts about the method, not measurements of this book
    "6-s", "6 s", "90 minutes", "20 epochs", "47-s", "47 s", "1 s", "one-second",
    # tuning and music theory: definitions, not results
    "1200 cents", "100 cents", "50 cents", "25 cents", "24 cents", "12 cents", "15 cents",
    "440 Hz", "0 dB", "2 x", "3 x",
}


def _prose(md):
    nb = jupytext.read(md)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = cell.source
        text = re.sub(r"```.*?```", " ", text, flags=re.S)            # fenced blocks / directives
        text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)          # display maths
        text = re.sub(r"\$[^$\n]+\$", " ", text)                      # inline maths
        text = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", " ", text)         # glued values
        text = re.sub(r"`[^`]*`", " ", text)                          # inline code
        text = re.sub(r"\[[^\]]*\]\([^)]*\)", " ", text)              # links
        text = re.sub(r"\{cite:\w+\}`[^`]*`", " ", text)              # citations
        yield text


@pytest.mark.parametrize("md", book.chapters(), ids=lambda p: p.stem)
def test_no_typed_measurements_in_prose(md):
    found = []
    for text in _prose(md):
        for m in NUMBER_WITH_UNIT.finditer(text):
            s = m.group(0).strip()
            if s.replace("about ", "").replace("~", "") in ALLOWED:
                continue
            found.append(text[max(0, m.start() - 30):m.end() + 10].replace("\n", " "))
    assert not found, f"{md.name}: numbers with units typed into prose (glue them or print them):\n  " + \
        "\n  ".join(found)
