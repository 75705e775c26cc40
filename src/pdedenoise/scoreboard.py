"""The scoreboard's arithmetic: verdict counts over comparison tables and claims, and table styling.

The records themselves (published numbers, comparisons, claims) are :mod:`pdedenoise.records`.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from .records import CLAIM_VERDICTS, VERDICTS, Claim, claims_frame


def summary(tables: Iterable[pd.DataFrame]) -> pd.Series:
    """Count of each verdict over several comparison tables."""
    verdicts = pd.concat([t["verdict"] for t in tables], ignore_index=True)
    return verdicts.value_counts().reindex(list(VERDICTS), fill_value=0)


def claim_summary(claims: Iterable[Claim | Mapping]) -> pd.Series:
    """Count of each claim verdict (:data:`pdedenoise.records.CLAIM_VERDICTS`)."""
    return claims_frame(claims)["verdict"].value_counts().reindex(list(CLAIM_VERDICTS), fill_value=0)


def style(table: pd.DataFrame, precision: int = 2):
    """A pandas Styler that colours the verdict column (for notebooks and the book)."""
    colours = {"reproduced": "#d4edda", "close": "#fff3cd", "not reproduced": "#f8d7da"}
    return (table.style.format(precision=precision, na_rep="—")
            .map(lambda v: f"background-color: {colours.get(v, '')}", subset=["verdict"])
            .hide(axis="index"))
