"""Published versus reproduced: numbers with their source, verdicts under stated tolerances, and claims.

A **number** is compared under explicit tolerances that each chapter states up front (and never tunes
after seeing the results):

* ``reproduced``: ``|reproduced - published| <= tol``;
* ``close``: ``|reproduced - published| <= close_tol``;
* ``not reproduced``: otherwise, or when the reproduction is missing.

Each table row names its tolerances (column ``tolerance``): *reproduced* always means "within the
first tolerance of that row", whatever the quantity (0.1 dB for one chapter's PSNR, 1 dB for another's).

A **claim** is a sentence of the paper with the chapter's verdict on it, the reason, the scale of the
evidence and where in the chapter it is. One vocabulary (:data:`CLAIM_VERDICTS`), the same meaning
everywhere:

* ``holds`` / ``partly holds`` / ``does not hold``: the claim's :class:`Rule` applied to evidence that
  meets the rule's minimum;
* ``holds by construction``: the book's parameterisation guarantees it whatever was learned (the reason
  says what); the paper's own variant is then judged as a claim of its own;
* ``untested at this scale``: there is evidence, but its budget (steps, images, image size, seeds) is
  below the rule's minimum; the reason states the ratio of the evidence's budget to the paper's
  (:func:`budget_ratio`);
* ``untested``: no evidence (not on the paper's data, a pipeline-only run, a component unavailable).

Every claim's rule is data (:class:`Rule`: the rule in words, the tolerance with its unit, the minimum
evidence), fixed before results in the paper's ``analysis.RULES``, and is stored beside the verdict.
Chapters store tables and claims in their results JSON (``tables`` and ``claims``), and the
scoreboard reads them from there.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping

import pandas as pd

VERDICTS = ("reproduced", "close", "not reproduced")
CLAIM_VERDICTS = ("holds", "partly holds", "does not hold", "holds by construction", "untested at this scale",
                  "untested")


@dataclass(frozen=True)
class Published:
    """One published number and where it is printed.

    Attributes:
        value: the number as printed.
        source: where it is, e.g. ``"Table 3, row rho=0.8"``.
        unit: e.g. ``"dB"``; empty when unitless.
    """

    value: float
    source: str
    unit: str = ""


def verdict(published: float, reproduced: float | None, tol: float, close_tol: float) -> str:
    """``reproduced`` / ``close`` / ``not reproduced`` for one number (see module docstring)."""
    if reproduced is None or (isinstance(reproduced, float) and math.isnan(reproduced)):
        return "not reproduced"
    diff = abs(reproduced - published)
    if diff <= tol:
        return "reproduced"
    if diff <= close_tol:
        return "close"
    return "not reproduced"


def tolerance_text(tol: float, close_tol: float, unit: str = "") -> str:
    """The tolerances of a row in words, e.g. ``"reproduced within 0.1 dB, close within 0.5 dB"``."""
    u = f" {unit}" if unit else ""
    return f"reproduced within {tol:g}{u}, close within {close_tol:g}{u}"


def compare(
    published: Mapping[str, Published],
    reproduced: Mapping[str, float | None],
    tol: float,
    close_tol: float,
    reasons: Mapping[str, str] | None = None,
    checks: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """A table with one row per published quantity.

    Columns: ``quantity, source, published, reproduced, difference, verdict, tolerance, reason, check``.
    ``difference`` is reproduced minus published; ``tolerance`` says the row's tolerances in words
    (:func:`tolerance_text`, in the published number's unit). ``checks`` maps quantities that cannot fail
    (a number that follows from the protocol, or a convention chosen because it meets the published value)
    to why: their rows keep a verdict but ``check`` is True, the why joins the reason, and the scoreboard
    counts them as checks, not as reproductions. Quantities missing from ``reproduced`` are listed
    as not reproduced, never dropped.
    """
    rows = []
    reasons, checks = reasons or {}, checks or {}
    for key, pub in published.items():
        rep = reproduced.get(key)
        rep = None if rep is None else float(rep)
        rows.append({
            "quantity": key,
            "source": pub.source,
            "published": pub.value,
            "reproduced": rep,
            "difference": None if rep is None else rep - pub.value,
            "verdict": verdict(pub.value, rep, tol, close_tol),
            "tolerance": tolerance_text(tol, close_tol, pub.unit),
            "reason": "; ".join(x for x in (reasons.get(key, ""), checks.get(key, "")) if x),
            "check": key in checks,
        })
    return pd.DataFrame(rows, columns=["quantity", "source", "published", "reproduced", "difference",
                                       "verdict", "tolerance", "reason", "check"])


@dataclass(frozen=True)
class Rule:
    """The decision rule of one claim, fixed before results.

    Attributes:
        rule: the rule in words, each verdict's condition (e.g. "holds if every interval lies above 0").
        tolerance: the rule's threshold, in ``unit`` (None where the rule is a count or a sign).
        unit: e.g. ``"dB"``, ``"grey levels"``, ``"rho"``; empty when unitless.
        minimum: the least evidence the rule needs, by budget item (e.g. ``{"noise seeds": 3}``); below it
            the verdict is ``untested at this scale``.
    """

    rule: str
    tolerance: float | None = None
    unit: str = ""
    minimum: Mapping[str, float] = field(default_factory=dict)

    def tolerance_text(self) -> str:
        """The tolerance in words (empty without one)."""
        if self.tolerance is None:
            return ""
        return f"{self.tolerance:g}" + (f" {self.unit}" if self.unit else "")

    def short_of(self, evidence: Mapping[str, float]) -> dict[str, tuple[float, float]]:
        """The budget items of ``evidence`` below :attr:`minimum`: item -> (have, need). Items the evidence does
        not state count as missing (have 0)."""
        return {k: (float(evidence.get(k, 0)), float(v)) for k, v in self.minimum.items()
                if float(evidence.get(k, 0)) < float(v)}

    def claim(self, text: str, verdict: str, reason: str, scale: str, evidence: str = "") -> "Claim":
        """A :class:`Claim` carrying this rule and its tolerance."""
        return Claim(text, verdict, reason, scale, evidence, rule=self.rule, tolerance=self.tolerance_text())


def budget_ratio(evidence: Mapping[str, float], paper: Mapping[str, float]) -> str:
    """The evidence's budget against the paper's, item by item, e.g. ``"steps 192 of 101,250 (0.19 %)"``;
    items the paper does not state are given alone."""
    parts = []
    for k, have in evidence.items():
        if k in paper and paper[k]:
            share = 100 * have / paper[k]
            parts.append(f"{k} {have:,.0f} of {paper[k]:,.0f} ({share:.2g} %)" if share < 100 else
                         f"{k} {have:,.0f} of {paper[k]:,.0f} ({share:.0f} %)")
        else:
            parts.append(f"{k} {have:,.0f}")
    return ", ".join(parts)


def untested_at_scale(rule: Rule, text: str, evidence_budget: Mapping[str, float], paper_budget: Mapping[str, float],
                      scale: str, evidence: str = "", found: str = "") -> "Claim | None":
    """The ``untested at this scale`` claim when ``evidence_budget`` is below ``rule.minimum``, else None. The reason
    names what falls short, the ratio to the paper's budget and (``found``) what the short evidence showed."""
    short = rule.short_of(evidence_budget)
    if not short:
        return None
    need = ", ".join(f"{k} {have:,.0f} < {want:,.0f}" for k, (have, want) in short.items())
    reason = (f"below the rule's minimum evidence ({need}); against the paper: "
              f"{budget_ratio(evidence_budget, paper_budget)}" + (f"; at this budget: {found}" if found else ""))
    return rule.claim(text, "untested at this scale", reason, scale, evidence)


@dataclass(frozen=True)
class Claim:
    """One claim of a paper and the chapter's verdict on it.

    Attributes:
        claim: the claim in one sentence, as the paper makes it.
        verdict: one of :data:`CLAIM_VERDICTS`.
        reason: why, with the numbers that decide it.
        scale: the scale of the evidence (``ci``, ``medium``, ``full``, or a recorded run's name).
        evidence: where the chapter shows it (a section or table name).
        rule: the decision rule applied (:attr:`Rule.rule`).
        tolerance: its tolerance with the unit (:meth:`Rule.tolerance_text`), empty for a count or sign.
    """

    claim: str
    verdict: str
    reason: str
    scale: str
    evidence: str = ""
    rule: str = ""
    tolerance: str = ""

    def __post_init__(self):
        if self.verdict not in CLAIM_VERDICTS:
            raise ValueError(f"claim verdict must be one of {CLAIM_VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def claims_frame(claims: Iterable[Claim | Mapping]) -> pd.DataFrame:
    """Claims (records or their dicts, as stored in results JSON) as a table."""
    rows = [c.to_dict() if isinstance(c, Claim) else dict(c) for c in claims]
    frame = pd.DataFrame(rows, columns=["claim", "verdict", "reason", "scale", "evidence", "rule", "tolerance"])
    return frame.fillna({"rule": "", "tolerance": "", "evidence": ""})


def claims_payload(claims: Iterable[Claim | Mapping]) -> list[dict]:
    """Claims as a results payload stores them (under ``"claims"``): each one :meth:`Claim.to_dict`, with its rule and
    tolerance. A claim given as a dict (e.g. read back from a results file) is checked and completed the same way
    (a missing ``evidence``, ``rule`` or ``tolerance`` becomes empty); an unknown verdict raises ``ValueError``."""
    return [(c if isinstance(c, Claim) else Claim(**dict(c))).to_dict() for c in claims]


def predates_rules(claims: Iterable[Mapping]) -> bool:
    """Whether stored claims (dicts read from a results file) were saved before claims carried their rule and
    tolerance: some claim lacks the ``rule`` or ``tolerance`` key."""
    return any("rule" not in c or "tolerance" not in c for c in claims)
