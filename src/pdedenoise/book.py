"""What a chapter page shows: the claims box, readable tables, glued numbers, the figure style.

One presenter for every table of the book (:func:`table`, :func:`comparison`, :func:`settings`): readers' names
for methods and quantities (:mod:`pdedenoise.labels`), decimals by quantity (PSNR 2, SSIM 3, counts as integers
with thousands separators, times to 3 significant digits), missing values as "—" with the reason underneath,
infinities as ∞, and a wrapper that scrolls sideways with the first column frozen when a table is wider than the
page's 688 px text column. One box for a chapter's claims and verdicts (:func:`claims_box`), and :func:`glue` /
:func:`glue_text` to insert computed values into the prose (myst-nb's ``{glue}`` roles and directives), so no
number in a page's text is typed by hand. :func:`setup` sets the figure style (7.5 in wide at 90 dpi, no text
under 9 pt) and makes every figure's PNG record its smallest text in pixels, which the browser test checks
against the width the page gives the image. Styles are inline, so the tables look the same in Jupyter and in
the book.
"""
from __future__ import annotations

import html
import re
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


#: the PNG text key under which a figure records the height of its smallest text in image pixels
TEXT_PX_KEY = "pdedenoise:min-text-px"
#: figures are drawn for the page's text column (688 px): 7.5 in at 90 dpi, with room for a tight bounding box
PAGE_WIDTH_IN = 7.5
DPI = 90
#: the smallest text of a figure (pt); at 90 dpi and no scaling it is 11 px on the page
MIN_FONT_PT = 9


def setup() -> None:
    """Matplotlib defaults for the book's page (688 px): figures 7.5 in wide at 90 dpi, so the page shows them
    unscaled, no text under 9 pt; mathtext for symbols. In a notebook (IPython), figures are shown as PNGs
    that record their smallest text in pixels (:data:`TEXT_PX_KEY`), which the browser test checks against
    the width the page gives them."""
    import matplotlib as mpl

    mpl.rcParams.update({"figure.figsize": (PAGE_WIDTH_IN, 3.2), "figure.dpi": DPI, "savefig.dpi": DPI,
                         "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": 9,
                         "xtick.labelsize": 9, "ytick.labelsize": 9, "figure.titlesize": 11,
                         "figure.constrained_layout.use": True})
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the book's environment
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    import matplotlib.pyplot  # noqa: F401 - selects the inline backend, which registers its own PNG formatter
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)


def min_text_px(fig, dpi: float | None = None) -> float | None:
    """Height (px) of the smallest text of ``fig`` in an image saved at ``dpi`` (default: the figure's): its
    smallest visible font size in points times ``dpi / 72``; None for a figure without text."""
    from matplotlib.text import Text

    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) * (dpi or fig.dpi) / 72 if sizes else None


def _png_bytes(fig, dpi: float | None = None) -> bytes:
    import io

    dpi = dpi or fig.dpi
    px = min_text_px(fig, dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight",
                metadata={TEXT_PX_KEY: f"{px:.2f}"} if px else None)
    return buf.getvalue()


def figure_png(fig) -> str | None:
    """The notebook's PNG of ``fig`` (base64, as IPython's own formatter gives it), recording its smallest
    text (:func:`min_text_px`) in the PNG's text chunk :data:`TEXT_PX_KEY`; None for an empty figure."""
    import base64

    if not fig.axes and not fig.images:
        return None
    return base64.b64encode(_png_bytes(fig)).decode("ascii")


#: the smallest text a page may show (px), the browser test's limit
MIN_TEXT_PX = 9.0


def png_text_px(path) -> float:
    """The smallest text (px) a PNG (a path or a file object) records (:data:`TEXT_PX_KEY`), else the book's 9 pt at
    90 dpi."""
    from PIL import Image

    with Image.open(path) as im:
        recorded = getattr(im, "text", {}).get(TEXT_PX_KEY)
    return float(recorded) if recorded else MIN_FONT_PT * DPI / 72


def recorded_figure(path) -> "object | None":
    """A figure a recorded run saved (a PNG), ready to display, or None when the page would show its smallest text
    under :data:`MIN_TEXT_PX`: its recorded text height (:data:`TEXT_PX_KEY`, else the book's 9 pt at 90 dpi)
    scaled to the text column (:data:`PAGE_WIDTH_PX`). Figures saved at another size by an older run are None."""
    from IPython.display import Image as _Image
    from PIL import Image

    with Image.open(path) as im:
        width = im.width
    if png_text_px(path) * min(1.0, PAGE_WIDTH_PX / width) < MIN_TEXT_PX - 0.05:
        return None
    return _Image(filename=str(path))


def show(fig, save_as=None) -> None:
    """Show a figure; with ``save_as`` (a path) also keep a PNG copy (the figures of recorded runs), which records
    its smallest text like the page's copy. Inside a smoke run (:func:`smoke_run`) the figure is shown collapsed
    under the smoke run's label."""
    import matplotlib.pyplot as plt

    if save_as is not None:
        from .atomic import write_bytes

        write_bytes(save_as, _png_bytes(fig, DPI))  # whole or not at all
    if _SMOKE["on"]:
        from IPython.display import HTML, display

        png = figure_png(fig)
        plt.close(fig)
        display(HTML(_collapsed(f'<img src="data:image/png;base64,{png}" alt="figure of the smoke run">', "figure")))
        return
    plt.show()


#: while ``on`` (set by :func:`smoke_run`, cleared by :func:`recorded_run`), tables and figures are shown collapsed
#: under ``label``
_SMOKE = {"on": False, "label": ""}


def _collapsed(body: str, what: str | None = None) -> str:
    """``body`` inside a closed ``<details>`` element headed by the smoke run's label, or ``body`` itself outside
    a smoke run."""
    if not _SMOKE["on"]:
        return body
    if what and what != "figure":
        what = _caption_text(what)
    what = f": {html.escape(_words(str(what)))}" if what else ""
    return (f'<details class="pde-smoke" style="margin: 0.4em 0;"><summary style="color: #6c757d; cursor: pointer;">'
            f'{html.escape(_SMOKE["label"])}{what} (click to show)</summary>{body}</details>')


def _caption_text(caption) -> str:
    """A caption as shown: a table key, alone or after a prefix ("medium: table3"), becomes its label."""
    from .labels import table_label

    head, sep, tail = str(caption).rpartition(": ")
    return head + sep + str(table_label(tail))


def _provenance_text(record: Mapping) -> str:
    p = record.get("provenance", {}) or {}
    date = str(p.get("date", ""))[:10]
    bits = [f"commit {p['commit']}" if p.get("commit") else "", date, p.get("device", "")]
    return ", ".join(b for b in bits if b)


def smoke_run(scale: str, recorded: Mapping[str, Mapping] | None) -> _HTML | None:
    """Mark the rest of a page as a smoke run when it runs at ``ci`` scale and a larger recorded run exists.

    Args:
        scale: the scale the page runs at.
        recorded: the recorded runs by scale (``{"medium": record, "full": record}``, missing ones absent or None).

    Returns:
        the banner to display (what the smoke run is and where the evidence is), or None when the page's own run
        is the evidence (scale ``medium``/``full``, or nothing recorded). While the smoke run lasts, every
        :func:`table`, :func:`comparison` and :func:`show` output is collapsed under the label "smoke run (ci)";
        :func:`recorded_run` ends it.
    """
    recorded = {k: v for k, v in (recorded or {}).items() if v}
    if scale != "ci" or not recorded:
        _SMOKE.update(on=False, label="")
        return None
    best = "full" if "full" in recorded else next(iter(recorded))
    _SMOKE.update(on=True, label=f"smoke run ({scale})")
    return _HTML(
        '<div class="pde-smoke-banner" style="border-left: 4px solid #adb5bd; padding: 4px 10px; margin: 8px 0; '
        'color: #495057;"><b>Smoke run at ci scale.</b> The sections below run the chapter at ci scale, a few small '
        'crops and a few steps, to check that every step of the pipeline works; their tables and figures are '
        f'collapsed. The evidence for the verdicts is the recorded {best} run '
        f'({html.escape(_provenance_text(recorded[best]))}), shown uncollapsed in its own section.</div>')


def recorded_run(record: Mapping | None, scale: str) -> _HTML | None:
    """End a smoke run (:func:`smoke_run`) and return the heading line of a recorded run's section (its scale,
    commit, date and device), or None when ``record`` is None."""
    _SMOKE.update(on=False, label="")
    if not record:
        return None
    return _HTML(f'<p style="color: #495057;"><b>Recorded {html.escape(scale)} run</b>: '
                 f'{html.escape(_provenance_text(record))}.</p>')


def glue(name: str, value, display: bool = False) -> None:
    """Keep ``value`` under ``name`` for the page's ``{glue}`` roles and directives (myst-nb)."""
    from myst_nb import glue as _glue

    _glue(name, value, display=display)


def glue_text(name: str, value, fmt: str = "{}") -> None:
    """Glue ``fmt.format(value)`` as inline Markdown, for ``{glue:md}`name``` in the page's prose."""
    from IPython.display import Markdown

    glue(name, Markdown(fmt.format(value)))


#: the page's text column (px): a table wider than this scrolls sideways in its wrapper, first column frozen
PAGE_WIDTH_PX = 688
#: the footnote of a missing value when the caller gives no reason
MISSING_REASON = "no value for this row: not measured in this run, or not defined for it"
_WRAP = ('<div class="pde-table" style="overflow-x: auto; max-width: 100%; margin: 0.5em 0;">{body}{notes}</div>')
_FIRST = {"selector": "tbody th, tbody td:first-child, thead th:first-child",
          "props": "position: sticky; left: 0; background: #fff; z-index: 1;"}


def _header_text(col) -> str:
    """The lowest header of a column, lower-case (a MultiIndex column's last non-empty level)."""
    parts = [str(x) for x in (col if isinstance(col, tuple) else (col,)) if str(x)]
    return (parts[-1] if parts else "").lower()


def _kind(col) -> str:
    """The quantity a column holds, from its header: psnr, ssim, time or other."""
    h = " ".join(str(x).lower() for x in (col if isinstance(col, tuple) else (col,)))
    if "ssim" in h:
        return "ssim"
    if "psnr" in h or re.search(r"(\b|_)db\b", h):
        return "psnr"
    if any(k in h for k in ("second", "(s)", "(ms)", " time", "min_s", "median_s", "ms per")):
        return "time"
    return "other"


def significant(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, never in exponent notation for 1e-4 <= |x| < 1e6
    (``0.000123`` -> ``"0.000123"``, ``173.098833`` -> ``"173"``, ``3.78e9`` -> ``"3,780,000,000"``)."""
    import math

    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= digits - 1:
        return f"{round(x):,}"
    if mag < -4:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits - 1 - mag}f}"


def _plain(v) -> str:
    """A Python value as a reader's text: a tuple/list as a comma list, a dict as "key value" pairs, a label."""
    from .labels import label

    if isinstance(v, (tuple, list)):
        return ", ".join(_plain(x) for x in v)
    if isinstance(v, Mapping):
        return "; ".join(f"{label(k)} {_plain(x)}" for k, x in v.items())
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return significant(v) if v == v and abs(v) != float("inf") else ("—" if v != v else "∞" if v > 0 else "−∞")
    if v is None:
        return "—"
    from .labels import code_keys

    return str(label(v)) if isinstance(v, str) and v in code_keys() else str(v)


_NON_NUMBER = re.compile(r"(?<![\w.-])(nan|inf|infinity)(?![\w-])", re.I)


def _words(text: str) -> str:
    """A sentence of a text cell with Python's non-numbers in words (a recorded error message such as "training loss
    became inf at step 13" reads "... became infinite ..."; "nan" reads "not a number")."""
    return _NON_NUMBER.sub(lambda m: "not a number" if m.group(1).lower() == "nan" else "infinite", text)


def _formatter(series: pd.Series, kind: str, precision: int | None, missing_mark: str):
    """A cell formatter for one column: decimals by quantity (PSNR 2, SSIM 3, times 3 significant digits), whole
    numbers with thousands separators, missing values as a dash and infinities as the symbol."""
    import math

    values = pd.to_numeric(series, errors="coerce")
    finite = values[values.notna() & values.map(lambda x: math.isfinite(x) if x == x else False)]
    integral = (kind in ("other", "time") and len(finite) > 0 and (finite == finite.round()).all()
                and pd.api.types.is_numeric_dtype(series))

    def fmt(v):
        if isinstance(v, (bool,)) or type(v).__name__ == "bool_":
            return "yes" if v else "no"
        if isinstance(v, str):
            word = v.strip().lower()
            if word in ("inf", "+inf", "infinity", "-inf", "-infinity"):  # infinities stored as text (JSON)
                return "−∞" if word.startswith("-") else "∞"
            return "—" + missing_mark if word in ("nan", "none") else _words(str(_plain(v)))
        if v is None or (isinstance(v, float) and v != v):
            return "—" + missing_mark
        if not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
            return _plain(v)
        x = float(v)
        if x != x:
            return "—" + missing_mark
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if integral or (isinstance(v, int) and not isinstance(v, bool)):
            return f"{round(x):,}"
        if kind == "psnr":
            return f"{x:,.2f}"
        if kind == "ssim":
            return f"{x:.3f}"
        if kind == "time" or precision is None:
            return significant(x)
        out = f"{x:,.{precision}f}"
        return significant(x) if x != 0 and float(out.replace(",", "")) == 0 else out
    return fmt


def _relabel(df: pd.DataFrame) -> pd.DataFrame:
    """Column headers and index through :data:`pdedenoise.labels.LABELS`; text cells only when they are code keys
    (:func:`pdedenoise.labels.code_keys`: ``foe-s-authors``, not the word ``heat``, which a cell may mean
    otherwise)."""
    from .labels import code_keys, label

    keys = code_keys()

    t = df.rename(columns=label).rename(index=label)
    if isinstance(t.columns, pd.MultiIndex):
        t.columns = t.columns.set_names([label(n) for n in t.columns.names])
    for col in t.columns:
        if t[col].dtype == object:
            t[col] = t[col].map(lambda v: label(v) if isinstance(v, str) and v in keys else v)
    return t


def _styled(df: pd.DataFrame, precision: int | Mapping[str, int] | None = 2, caption: str | None = None,
            index: bool = False, missing: str | Mapping[str, str] | None = None, transpose: bool = True):
    """The Styler of :func:`table` and the footnotes it needs: ``(styler, [note, ...])``."""
    from .labels import label

    t = df.copy()
    named = any(n is not None for n in t.index.names)
    if index or named or not pd.api.types.is_integer_dtype(t.index):  # row labels, not row numbers: shown
        t = t.reset_index(names=[n if n is not None else "" for n in t.index.names])
    per_column = dict(precision) if isinstance(precision, Mapping) else {}
    default = None if isinstance(precision, Mapping) else precision
    if transpose and len(t) == 1 and len(t.columns) > 5 and not isinstance(t.columns, pd.MultiIndex):
        # a single wide row reads better as a column of quantities, each value formatted by its own quantity
        values = [_formatter(t[c], _kind(c), per_column.get(c, default), "")(t[c].iloc[0]) for c in t.columns]
        t = pd.DataFrame({"quantity": [label(c) for c in t.columns], "value": values})
    reasons = missing if isinstance(missing, Mapping) else {}
    fallback = missing if isinstance(missing, str) else MISSING_REASON

    def is_missing(v) -> bool:
        return (v is None or (isinstance(v, float) and v != v)
                or (isinstance(v, str) and v.strip().lower() in ("nan", "none")))

    why = {}  # column -> the reason of its missing values
    for col in t.columns:
        if t[col].map(is_missing).any():
            why[col] = reasons.get(col) or reasons.get(_header_text(col)) or fallback
    notes = list(dict.fromkeys(why.values()))
    formatters = {}
    for col in t.columns:
        mark = f" [{notes.index(why[col]) + 1}]" if col in why and len(notes) > 1 else ""
        p = per_column.get(col, per_column.get(col[-1] if isinstance(col, tuple) else col, default))
        formatters[col] = _formatter(t[col], _kind(col), p, mark)
    t = _relabel(t)
    formatters = {new: formatters[old] for old, new in zip(formatters, t.columns)}
    sty = t.style.set_table_styles(_CELL + [_FIRST]).format(formatters).format_index(_plain, axis=1)
    if caption:
        sty = sty.set_caption(_caption_text(caption))
    return sty.hide(axis="index"), notes


def _notes_html(notes: list[str]) -> str:
    if not notes:
        return ""
    if len(notes) == 1:
        return f'<p style="font-size: 0.9em; margin: 0.2em 0;">— {html.escape(notes[0])}</p>'
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f'<ol style="font-size: 0.9em; margin-top: 0.3em;">{items}</ol>'


def table(df: pd.DataFrame, precision: int | Mapping[str, int] | None = 2, caption: str | None = None,
          index: bool = False, missing: str | Mapping[str, str] | None = None) -> "_HTML":
    """A table as the book shows it: readers' names, units, decimals by quantity, missing values explained.

    Args:
        df: the table; column headers, index labels and text cells that are keys of
            :data:`pdedenoise.labels.LABELS` (method names, quantity keys) are shown by their labels.
        precision: decimals of the numeric columns that are not PSNR (always 2), SSIM (3) or times (3 significant
            digits): an int for all, or per column (columns not named: 3 significant digits); ``None``: 3
            significant digits. Columns of whole numbers show as integers with thousands separators.
        caption: the caption (a table key such as ``"table2"`` becomes its label).
        index: show the index (a named index is always shown).
        missing: why a value is missing (one text, or per column): the footnote of the "—" cells (default
            :data:`MISSING_REASON`).

    Returns:
        an object with ``_repr_html_``: the table inside a horizontally scrolling wrapper (first column frozen)
        so that a table wider than the page (:data:`PAGE_WIDTH_PX`) never spills over it; footnotes under it.
    """
    sty, notes = _styled(df, precision, caption, index, missing)
    return _HTML(_collapsed(_WRAP.format(body=sty.to_html(), notes=_notes_html(notes)), caption))


class _HTML:
    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


def settings(config: Mapping, scale: str) -> "_HTML":
    """A chapter's configuration at ``scale`` as a two-column table: each setting's label and its value as text
    (tuples as comma lists, dictionaries as "name value" pairs, no Python literals)."""
    from .labels import label

    rows = pd.DataFrame({"setting": [label(k) for k in config], f"{scale} scale": [_plain(v) for v in config.values()]})
    return table(rows)


def details(summary: str, parts: Iterable[_HTML]) -> _HTML:
    """Several tables or figures of a page behind one toggle (a ``<details>`` element whose ``summary`` line says
    what it holds), for long series a reader opens when needed, e.g. one hypotheses table per gap."""
    body = "".join(p._repr_html_() if hasattr(p, "_repr_html_") else html.escape(str(p)) for p in parts)
    return _HTML(f'<details class="pde-details" style="margin: 0.5em 0;"><summary style="cursor: pointer;">'
                 f'{html.escape(summary)}</summary>{body}</details>')


def comparison(df: pd.DataFrame, caption: str | None = None, check_only: bool = False, precision: int = 2,
               sources: bool = False) -> _HTML:
    """A published-vs-reproduced table (:func:`pdedenoise.records.compare`) for a page.

    Long reasons become numbered footnotes under the table (one note per distinct reason); the source
    column is left out unless ``sources``. With ``check_only`` (a run too small to test the paper, e.g.
    the ci scale) the verdict column is shown uncoloured and headed "ci check": it checks the pipeline,
    not the paper. ``caption`` may be a table key (``"table2"``).
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
    per = {c: precision for c in ("published", "reproduced", "difference")}
    sty, missing_notes = _styled(t, per, caption, missing="not published, or not measured at this scale",
                                  transpose=False)
    if verdict_col not in t.columns:
        pass
    elif not check_only:
        sty = sty.map(lambda v: f"background-color: {VERDICT_COLOURS.get(v, '')}; white-space: nowrap",
                      subset=[verdict_col])
    else:
        sty = sty.map(lambda v: "color: #6c757d; white-space: nowrap", subset=[verdict_col])
    out = sty.to_html()
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        out += f'<ol style="font-size: 0.9em; margin-top: 0.3em;">{items}</ol>'
    return _HTML(_collapsed(_WRAP.format(body=out, notes=_notes_html(missing_notes)), caption))


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
