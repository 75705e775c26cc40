"""Published versus reproduced numbers, side by side, with a verdict per claim.

A verdict is decided by explicit tolerances that each chapter states up front (and never tunes
after seeing the numbers):

* ``reproduced``: ``|reproduced - published| <= tol``;
* ``close``: ``|reproduced - published| <= close_tol``;
* ``not reproduced``: otherwise, or when the reproduction is missing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import pandas as pd

VERDICTS = ("reproduced", "close", "not reproduced")


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


def summary(tables: Iterable[pd.DataFrame]) -> pd.Series:
    """Count of each verdict over several comparison tables."""
    verdicts = pd.concat([t["verdict"] for t in tables], ignore_index=True)
    return verdicts.value_counts().reindex(list(VERDICTS), fill_value=0)


def style(table: pd.DataFrame, precision: int = 2):
    """A pandas Styler that colours the verdict column (for notebooks and the book)."""
    colours = {"reproduced": "#d4edda", "close": "#fff3cd", "not reproduced": "#f8d7da"}
    return (table.style.format(precision=precision, na_rep="—")
            .map(lambda v: f"background-color: {colours.get(v, '')}", subset=["verdict"])
            .hide(axis="index"))
