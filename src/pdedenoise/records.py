"""Published versus reproduced: numbers with their source, verdicts under stated tolerances, and claims.

A **number** is compared under explicit tolerances that each chapter states up front (and never tunes
after seeing the results):

* ``reproduced``: ``|reproduced - published| <= tol``;
* ``close``: ``|reproduced - published| <= close_tol``;
* ``not reproduced``: otherwise, or when the reproduction is missing.

A **claim** is a sentence of the paper with the chapter's verdict on it (:data:`CLAIM_VERDICTS`),
the reason, the scale of the evidence and where in the chapter it is. Chapters store both in their
results JSON (``tables`` and ``claims``), and the scoreboard reads them from there.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

import pandas as pd

VERDICTS = ("reproduced", "close", "not reproduced")
CLAIM_VERDICTS = ("holds", "partly holds", "does not hold", "untested")


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


def compare(
    published: Mapping[str, Published],
    reproduced: Mapping[str, float | None],
    tol: float,
    close_tol: float,
    reasons: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """A table with one row per published quantity.

    Columns: ``quantity, source, published, reproduced, difference, verdict, reason``.
    ``difference`` is reproduced minus published. Quantities missing from ``reproduced`` are listed
    as not reproduced, never dropped.
    """
    rows = []
    reasons = reasons or {}
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
            "reason": reasons.get(key, ""),
        })
    return pd.DataFrame(rows, columns=["quantity", "source", "published", "reproduced", "difference",
                                       "verdict", "reason"])


@dataclass(frozen=True)
class Claim:
    """One claim of a paper and the chapter's verdict on it.

    Attributes:
        claim: the claim in one sentence, as the paper makes it.
        verdict: one of :data:`CLAIM_VERDICTS`.
        reason: why, with the numbers that decide it.
        scale: the scale of the evidence (``ci``, ``medium``, ``full``, or a recorded run's name).
        evidence: where the chapter shows it (a section or table name).
    """

    claim: str
    verdict: str
    reason: str
    scale: str
    evidence: str = ""

    def __post_init__(self):
        if self.verdict not in CLAIM_VERDICTS:
            raise ValueError(f"claim verdict must be one of {CLAIM_VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def claims_frame(claims: Iterable[Claim | Mapping]) -> pd.DataFrame:
    """Claims (records or their dicts, as stored in results JSON) as a table."""
    rows = [c.to_dict() if isinstance(c, Claim) else dict(c) for c in claims]
    return pd.DataFrame(rows, columns=["claim", "verdict", "reason", "scale", "evidence"])
