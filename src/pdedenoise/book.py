"""What a chapter page shows: the claims box, readable comparison tables, glued numbers, figure style.

One formatting helper for every table of the book (:func:`table`, :func:`comparison`), one box for a
chapter's claims and verdicts (:func:`claims_box`), and :func:`glue` / :func:`glue_text` to insert
computed values into the prose (myst-nb's ``{glue}`` roles and directives), so no number in a page's
text is typed by hand. Styles are inline, so the tables look the same in Jupyter and in the book.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from .records import Claim, claims_frame

VERDICT_COLOURS = {"reproduced": "#d4edda", "close": "#fff3cd", "not reproduced": "#f8d7da"}
CLAIM_COLOURS = {"holds": "#d4edda", "partly holds": "#fff3cd", "does not hold": "#f8d7da", "untested": "#e2e3e5",
                 "holds by construction": "#d1ecf1", "untested at this scale": "#e2e3e5"}
#: reasons longer than this become footnotes under the table
FOOTNOTE_AFTER = 24
_CELL = [{"selector": "th, td", "props": "padding: 2px 10px; vertical-align: top;"},
         {"selector": "th", "props": "text-align: left;"},
         {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold; padding: 4px 0;"}]


def setup() -> None:
    """Matplotlib defaults for the book's page width (about 750 px): figures 9 x 3.6 in. at 90 dpi, text
    that stays legible when the page scales a figure down."""
    import matplotlib as mpl

    mpl.rcParams.update({"figure.figsize": (9.0, 3.6), "figure.dpi": 90, "savefig.dpi": 90, "font.size": 11,
                         "axes.titlesize": 11, "axes.labelsize": 11, "legend.fontsize": 9, "xtick.labelsize": 9,
                         "ytick.labelsize": 9, "figure.constrained_layout.use": True})


def show(fig, save_as=None) -> None:
    """Show a figure; with ``save_as`` (a path) also keep a PNG copy (the figures of recorded runs)."""
    import matplotlib.pyplot as plt

    if save_as is not None:
        from .atomic import atomic_path

        with atomic_path(save_as, suffix=Path(save_as).suffix or ".png") as tmp:  # whole or not at all
            fig.savefig(tmp, dpi=90, bbox_inches="tight", format=Path(save_as).suffix.lstrip(".") or "png")
    plt.show()


def glue(name: str, value, display: bool = False) -> None:
    """Keep ``value`` under ``name`` for the page's ``{glue}`` roles and directives (myst-nb)."""
    from myst_nb import glue as _glue

    _glue(name, value, display=display)


def glue_text(name: str, value, fmt: str = "{}") -> None:
    """Glue ``fmt.format(value)`` as inline Markdown, for ``{glue:md}`name``` in the page's prose."""
    from IPython.display import Markdown

    glue(name, Markdown(fmt.format(value)))


def table(df: pd.DataFrame, precision: int | Mapping[str, int] = 2, caption: str | None = None,
          index: bool = False):
    """A pandas Styler with padded cells and a precision per column (an int for all numeric columns)."""
    sty = df.style.set_table_styles(_CELL)
    numeric = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    per_column = precision if isinstance(precision, Mapping) else {c: precision for c in numeric}
    for col, p in per_column.items():
        if col in df.columns:
            sty = sty.format(precision=p, subset=[col], na_rep="—", thousands=",")
    if caption:
        sty = sty.set_caption(caption)
    return sty if index else sty.hide(axis="index")


class _HTML:
    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


def comparison(df: pd.DataFrame, caption: str | None = None, check_only: bool = False, precision: int = 2,
               sources: bool = False) -> _HTML:
    """A published-vs-reproduced table (:func:`pdedenoise.records.compare`) for a page.

    Long reasons become numbered footnotes under the table (one note per distinct reason); the source
    column is left out unless ``sources``. With ``check_only`` (a run too small to test the paper, e.g.
    the ci scale) the verdict column is shown uncoloured and headed "ci check": it checks the pipeline,
    not the paper.
    """
    cols = ["quantity"] + (["source"] if sources else []) + ["published", "reproduced", "difference", "verdict",
                                                              "reason"]
    t = df[[c for c in cols if c in df.columns]].copy()
    notes: list[str] = []
    if "reason" in t.columns:
        marks = []
        for reason in t["reason"].fillna(""):
            if len(reason) > FOOTNOTE_AFTER:
                if reason not in notes:
                    notes.append(reason)
                marks.append(f"[{notes.index(reason) + 1}]")
            else:
                marks.append(reason)
        t["reason"] = marks
    verdict_col = "verdict"
    if check_only:
        t = t.rename(columns={"verdict": "ci check"})
        verdict_col = "ci check"
    sty = table(t, {"published": precision, "reproduced": precision, "difference": precision}, caption)
    if not check_only:
        sty = sty.map(lambda v: f"background-color: {VERDICT_COLOURS.get(v, '')}; white-space: nowrap",
                      subset=[verdict_col])
    else:
        sty = sty.map(lambda v: "color: #6c757d; white-space: nowrap", subset=[verdict_col])
    out = sty.to_html()
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        out += f'<ol style="font-size: 0.9em; margin-top: 0.3em;">{items}</ol>'
    return _HTML(out)


def claims_box(claims: Iterable[Claim | Mapping], title: str | None = None, header: str = "the paper claims") -> _HTML:
    """The box a chapter opens with: each claim of the paper (or question of a summary page, ``header``), our
    verdict, why, and the evidence's scale."""
    rows = []
    for c in claims_frame(claims).itertuples(index=False):
        colour = CLAIM_COLOURS.get(c.verdict, "")
        where = html.escape(c.scale) + (f"; {html.escape(c.evidence)}" if c.evidence else "")
        if c.rule:
            where += f"; rule: {html.escape(c.rule)}" + (f" (tolerance {html.escape(c.tolerance)})" if c.tolerance else "")
        rows.append(
            f'<tr><td style="padding: 4px 8px; vertical-align: top; width: 36%;">{html.escape(c.claim)}</td>'
            f'<td style="padding: 4px 8px; vertical-align: top; white-space: nowrap;">'
            f'<span style="background: {colour}; padding: 1px 6px; border-radius: 3px;">{html.escape(c.verdict)}'
            f'</span></td><td style="padding: 4px 8px; vertical-align: top;">{html.escape(c.reason)}'
            f'<br><span style="color: #6c757d; font-size: 0.9em;">evidence: {where}</span></td></tr>')
    head = (f'<tr><th style="text-align: left; padding: 4px 8px;">{html.escape(header)}</th>'
            '<th style="text-align: left; padding: 4px 8px;">verdict</th>'
            '<th style="text-align: left; padding: 4px 8px;">why</th></tr>')
    heading = f'<div style="font-weight: bold; margin-bottom: 4px;">{html.escape(title)}</div>' if title else ""
    return _HTML(f'<div style="border: 1px solid #adb5bd; border-radius: 6px; padding: 6px 10px; margin: 8px 0;">'
                 f'{heading}<table style="border-collapse: collapse; width: 100%;">{head}{"".join(rows)}</table></div>')
