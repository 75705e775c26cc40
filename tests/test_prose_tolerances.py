"""A page's opening states its verdict rules in words; the thresholds it quotes there must be the ones the package
stores as data (``protocol.TOLERANCES``, the ``*_TOL`` tables and ``analysis.RULES``), so that changing a rule's
tolerance without its page fails here instead of leaving the page describing another rule.

The prose is read for the usual ways a threshold is written: "within 0.1 dB", "within 0.02 and 0.1", "within a
factor of 2 and 10", "at most 5 %", "at least −0.1 dB", "at 0.9 or more", "(0.5 grey levels)", "0.5 dB close",
"by 0.1,". Percentages count as shares (5 % = 0.05), "M" as millions, a factor as its log10 (the chapters compare
relative errors in log10).
"""
from __future__ import annotations

import importlib
import json
import math
import re

import pytest

from pdedenoise.checkout import repo_root
from pdedenoise.records import Rule
from test_no_retyped_numbers import numbers_held

CHAPTERS = {"01": "pdedenoise.papers.kharro2026", "02": "pdedenoise.papers.barbeiro2020",
            "03": "pdedenoise.papers.valdivia2024", "04": "pdedenoise.papers.arridge2020",
            "05": "pdedenoise.leaderboard"}

_NUM = r"(?P<sign>[−-])?(?P<a>\d+(?:\.\d+)?)"
_UNIT = r"(?:\s*(?P<unit>%|M\b|dB|grey levels))?"
PHRASES = [
    re.compile(r"within (?P<factor>a factor of )?" + _NUM + _UNIT + r"(?: and (?P<b>\d+(?:\.\d+)?)(?:\s*(?P<unit_b>%|M\b|dB))?)?"),
    re.compile(r"at (?:least|most) " + _NUM + _UNIT),
    re.compile(r"\bat " + _NUM + r" or more"),
    re.compile(r"\(" + _NUM + r" grey levels\)"),
    re.compile(_NUM + r"\s*(?P<unit>dB|%) close"),
    re.compile(r"\bby " + _NUM + r"(?=[,;.])"),
]


def _numbers_in(text: str) -> set[float]:
    """Every number written in a rule's text, percentages also as shares."""
    out = {float(m.group(1)) for m in re.finditer(r"(?<![\w.])(\d+(?:\.\d+)?)", text)}
    out |= {float(m.group(1)) / 100 for m in re.finditer(r"(\d+(?:\.\d+)?)\s*%", text)}
    return out


def _rule_numbers(obj):
    """A rule's tolerance and every number its text states; None for anything else."""
    if not isinstance(obj, Rule):
        return None
    return ([float(obj.tolerance)] if obj.tolerance is not None else []) + sorted(_numbers_in(obj.rule))


def stored_thresholds(package: str) -> set[float]:
    """The thresholds a chapter stores as data: its protocol's and analysis' tolerance tables and rules."""
    out = {0.0}
    for module in ("protocol", "analysis"):
        try:
            mod = importlib.import_module(f"{package}.{module}")
        except ModuleNotFoundError:
            continue
        for name, value in vars(mod).items():
            if name.isupper() and any(key in name for key in ("TOL", "RULE", "THRESHOLD")):
                out.update(float(v) for v in numbers_held(value, _rule_numbers))
    return out


def quoted_thresholds(text: str) -> list[tuple[float, str]]:
    """(value, context) of every threshold ``text`` quotes; a factor is given as its log10."""
    found = []
    for pattern in PHRASES:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            context = text[max(0, m.start() - 30):m.end() + 10].replace("\n", " ")
            for key, unit in (("a", groups.get("unit")), ("b", groups.get("unit_b") or groups.get("unit"))):
                if groups.get(key) is None:
                    continue
                v = float(groups[key])
                if groups.get("factor"):
                    v = math.log10(v)
                elif unit == "%":
                    v /= 100
                elif unit == "M":
                    v *= 1e6
                found.append((v, context))
    return found


def _stored(v: float, allowed: set[float]) -> bool:
    return any(math.isclose(v, a, rel_tol=0.01, abs_tol=1e-12) for a in allowed)


def opening(path) -> str:
    return "".join(json.loads(path.read_text())["cells"][0]["source"])


@pytest.mark.parametrize("prefix", sorted(CHAPTERS))
def test_the_opening_quotes_only_the_stored_thresholds(prefix):
    path = next((repo_root() / "notebooks").glob(f"{prefix}_*.ipynb"))
    allowed = stored_thresholds(CHAPTERS[prefix])
    quoted = quoted_thresholds(opening(path))
    stray = [f"{v:g}: ...{ctx}..." for v, ctx in quoted if not _stored(v, allowed)]
    assert not stray, (f"{path.name} states thresholds its rules do not store; quote the rule's tolerance "
                       f"(protocol.TOLERANCES or analysis.RULES) or change both:\n" + "\n".join(stray))


def test_every_rule_page_quotes_thresholds():
    # the guard reads something on every page that states rules (a change of wording would silence it)
    for prefix in CHAPTERS:
        path = next((repo_root() / "notebooks").glob(f"{prefix}_*.ipynb"))
        assert len(quoted_thresholds(opening(path))) >= 2, path.name


def test_the_guard_reads_the_usual_ways_and_flags_a_changed_tolerance():
    text = ("PSNR *reproduced* within 0.1 dB and *close* within 0.5 dB, diffusivity within 0.02 and 0.1; errors "
            "within a factor of 2 and 10; counts within 0.1 M; at most 5 % of steps; at least −0.1 dB; "
            "correlates at 0.9 or more; range (0.5 grey levels); 10 % close; beats a random map by 0.1, else")
    got = sorted(round(v, 6) for v, _ in quoted_thresholds(text))
    assert got == sorted([0.1, 0.5, 0.02, 0.1, round(math.log10(2), 6), 1.0, 1e5, 0.05, 0.1, 0.9, 0.5, 0.1, 0.1])
    allowed = stored_thresholds(CHAPTERS["01"])
    assert all(_stored(v, allowed) for v, _ in quoted_thresholds("reproduced within 0.1 dB and close within 0.5 dB"))
    assert not _stored(quoted_thresholds("reproduced within 0.7 dB")[0][0], allowed)
    assert not _stored(quoted_thresholds("diffusivity within 0.03 and 0.1")[0][0], allowed)
