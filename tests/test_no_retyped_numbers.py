"""Published numbers are inserted into a page's prose from ``papers/*/published.py`` (and the leaderboard's published
anchors), never typed: a notebook's markdown, a book page or the README must not contain a number those modules
hold (with three significant digits or more, in any of the ways it is usually written: 86.24, 206,065, 3.78 G,
34.5 million)."""
from __future__ import annotations

import importlib
import json
import re

import pytest

from pdedenoise.checkout import repo_root
from pdedenoise.records import Published

MODULES = [f"pdedenoise.papers.{key}.published" for key in ("kharro2026", "barbeiro2020", "valdivia2024", "arridge2020")]
MODULES.append("pdedenoise.leaderboard.published")


def _published(obj):
    return [obj.value] if isinstance(obj, Published) else None


def numbers_held(obj, leaf=_published, depth=0):
    """Every number ``obj`` holds, three containers deep: what ``leaf`` returns for an object it knows (None for one
    it does not), the numbers in dicts, lists and tuples, and plain numbers."""
    known = leaf(obj)
    if known is not None:
        yield from known
    elif isinstance(obj, dict) and depth < 3:
        for v in obj.values():
            yield from numbers_held(v, leaf, depth + 1)
    elif isinstance(obj, (list, tuple)) and depth < 3:
        for v in obj:
            yield from numbers_held(v, leaf, depth + 1)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def published_numbers() -> set[float]:
    """Every number the published modules hold (their Published values, tables and counts)."""
    out = set()
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if not attr.startswith("__"):
                out.update(float(v) for v in numbers_held(value))
    return out


def _significant(v: float) -> int:
    mantissa = f"{abs(v):.6g}".split("e")[0].replace(".", "").lstrip("0").rstrip("0")
    return len(mantissa)


def patterns(v: float) -> list[re.Pattern]:
    """The ways ``v`` is written in prose, as whole numbers (not part of a longer number or word)."""
    forms = set()
    g = f"{v:g}"
    if "e" in g:
        m, e = g.split("e")
        forms.add(re.escape(m) + r"\s*(e|E|\\times\s*10\^\{?|×\s*10\^?\{?|·\s*10\^?\{?)\s*" + re.escape(str(int(e))))
    else:
        forms.add(re.escape(g))
        if not v.is_integer() and float(f"{v:.2f}") == v:
            forms.add(re.escape(f"{v:.2f}"))
    if v >= 1000 and v.is_integer():
        forms.add(re.escape(f"{int(v):,}").replace(",", r"(,|\\,|\s|\u202f|\u2009)"))
    for scale, units in ((1e9, r"(G|billion)"), (1e6, r"(M|million)"), (1e3, r"(k|thousand)")):
        if v >= scale and len(f"{v / scale:g}") <= 6:
            forms.add(re.escape(f"{v / scale:g}") + r"\s*" + units)
    return [re.compile(r"(?<![\w.,])" + f + r"(?![\w]|[.,]\d)") for f in forms]


def retyped(text: str, numbers: set[float]) -> list[str]:
    """The published numbers written in ``text``, each with its context."""
    hits = []
    for v in sorted(numbers):
        if _significant(v) < 3:  # 0, 4 dB, 500 images: too common to tell from any other number
            continue
        for p in patterns(v):
            hits += [f"{v:g}: ...{text[max(0, m.start() - 40):m.end() + 20]}..." for m in p.finditer(text)]
    return hits


NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_prose_types_no_published_number(path):
    numbers = published_numbers()
    cells = json.loads(path.read_text())["cells"]
    hits = [f"cell {i}: {h}" for i, c in enumerate(cells) if c["cell_type"] == "markdown"
            for h in retyped("".join(c["source"]), numbers)]
    assert not hits, ("published numbers typed into the prose; glue them from published.py instead:\n"
                      + "\n".join(hits))


PAGES = sorted((repo_root() / "book").glob("*.md")) + [repo_root() / "README.md"]


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_book_pages_type_no_published_number(path):
    hits = retyped(path.read_text(), published_numbers())
    assert not hits, (f"published numbers typed into {path.name}; name where they come from (papers/*/published.py) "
                      "or show them from a notebook instead:\n" + "\n".join(hits))


def test_the_guard_recognises_the_usual_ways_of_writing_a_number():
    numbers = published_numbers()
    assert {86.24, 206065.0, 3.78e9, 47.83e6, 34.5e6, 0.936} <= numbers
    for text in ("to 86.24 dB", "(206,065 parameters)", "3.78 G for a 256x256 input", "the 47.83 M of",
                 "about 34.5 million", "Lena 0.9634", "0.936 and 0.9360"):
        assert retyped(text, numbers), text
    for text in ("86.245 dB", "BSDS500 val", "1206,065", "x86.24", "v0.9634.1", "4 dB", "500 images"):
        assert not retyped(text, numbers), text
