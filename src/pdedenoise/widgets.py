"""Widgets that keep working in the static HTML book.

In a rendered page no Python runs behind a widget, so a slider must move between states computed
beforehand. :func:`image_stepper` builds a slider whose value is linked in the browser
(``jslink``) to a ``Stack`` of pre-rendered PNG panels: it works live in Jupyter and in the book.
"""
from __future__ import annotations

import io
from typing import Callable, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt  # the caller's backend is kept: in a notebook, figures must still show


def figure_png(fig, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib figure (the figure is closed, so a notebook does not also show it), recording
    its smallest text in pixels like the page's figures (:func:`pdedenoise.book.min_text_px`)."""
    from .book import TEXT_PX_KEY, min_text_px

    px = min_text_px(fig, dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={TEXT_PX_KEY: f"{px:.2f}"} if px else None)
    plt.close(fig)
    return buf.getvalue()


def image_stepper(
    panels: Sequence[bytes],
    labels: Sequence[str],
    description: str = "step",
    width: str = "100%",
) -> W.Widget:
    """A slider that steps through pre-rendered PNG panels, in Jupyter and in static HTML.

    Args:
        panels: PNG bytes, one per slider position (see :func:`figure_png`).
        labels: a caption per position, shown above the panel.
        description: the slider's label.
    Returns:
        a VBox(slider, stack of panels).
    """
    if len(panels) != len(labels) or not panels:
        raise ValueError(f"need as many labels as panels (and at least one), got {len(panels)} and {len(labels)}")
    children = [
        W.VBox([W.HTML(f"<b>{label}</b>"), W.Image(value=png, format="png", layout=W.Layout(width=width))])
        for png, label in zip(panels, labels)
    ]
    stack = W.Stack(children, selected_index=0)
    slider = W.IntSlider(value=0, min=0, max=len(panels) - 1, description=description, continuous_update=True,
                         readout=False, layout=W.Layout(width="60%"))
    W.jslink((slider, "value"), (stack, "selected_index"))
    return W.VBox([slider, stack])


def render_panels(values: Sequence, draw: Callable[[object], object], dpi: int = 80) -> list[bytes]:
    """Call ``draw(value) -> matplotlib Figure`` for every value and return the PNG panels."""
    return [figure_png(draw(v), dpi=dpi) for v in values]
