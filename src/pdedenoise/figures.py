"""Figures that several pages draw, and the one figure style of the book.

Each function returns a matplotlib Figure sized for the book's page (see :func:`pdedenoise.book.setup`): at
most :data:`PAGE_WIDTH_IN` wide, so the page shows it unscaled, no text under :data:`MIN_FONT_PT`, grids of
image panels at most :data:`PER_ROW` across (:func:`panel_grid`), symbols in mathtext (``$g_t(v)$``).
Images are (1, 1, H, W) or (H, W) tensors on the 0–255 scale unless ``vmax`` says otherwise.
"""
from __future__ import annotations

from typing import Mapping

import torch


#: the page's text column in inches at the book's 90 dpi (688 px, less a margin for a tight bounding box)
PAGE_WIDTH_IN = 7.5
#: the smallest text of a figure (pt): 11 px on the page when the figure is shown unscaled
MIN_FONT_PT = 9
#: image panels across one row of a grid
PER_ROW = 4


def panel_grid(n: int, per_row: int = PER_ROW, width: float = PAGE_WIDTH_IN, aspect: float = 1.0,
               title_in: float = 0.45, **kwargs):
    """A figure of ``n`` image panels, at most ``per_row`` across, filling the page's width.

    Args:
        aspect: panel height over width (1 for square crops).
        title_in: room (inches) above each panel for a two-line title at 9 pt.

    Returns:
        ``(fig, axes)``: ``axes`` the ``n`` panels in reading order (unused cells of the last row removed), each
        with its ticks off.
    """
    import matplotlib.pyplot as plt

    cols = max(1, min(per_row, n))
    rows = -(-n // cols)
    side = width / cols
    fig, grid = plt.subplots(rows, cols, figsize=(width, rows * (side * aspect + title_in)), squeeze=False, **kwargs)
    axes = list(grid.flat)
    for a in axes[n:]:
        a.remove()
    for a in axes[:n]:
        a.set_xticks([]), a.set_yticks([])
    return fig, axes[:n]


def image_row(images: Mapping[str, torch.Tensor], reference: torch.Tensor | None = None, vmin: float = 0.0,
              vmax: float = 255.0, width: float = PAGE_WIDTH_IN, psnr_range: float | None = None):
    """One panel per image (at most :data:`PER_ROW` across), titled with its name (and its PSNR against
    ``reference`` when given)."""
    from .metrics import psnr

    h, w = next(iter(images.values())).shape[-2:]
    fig, axes = panel_grid(len(images), width=width, aspect=h / w)
    for ax, (title, im) in zip(axes, images.items()):
        x = im.detach().cpu()
        ax.imshow(x.reshape(x.shape[-2:]), cmap="gray", vmin=vmin, vmax=vmax)
        if reference is not None and im is not reference:
            p = float(psnr(im.reshape(reference.shape).to(reference.dtype), reference, psnr_range or vmax))
            title = f"{title}\n{p:.2f} dB"
        ax.set_title(title)
        ax.axis("off")
    return fig


def place_labels(ax, xs, ys, texts, fontsize: float = MIN_FONT_PT, pad_pt: float = 3.0) -> None:
    """Annotate points ``(xs[i], ys[i])`` with ``texts[i]`` so that no two labels overlap: each label starts to
    the right of its point (to the left in the right third of the axes) and moves up or down in steps of one
    line until its box is free; a moved label gets a thin leader line to its point."""
    fig = ax.figure
    fig.canvas.draw()
    to_px = ax.transData.transform
    px_per_pt = fig.dpi / 72
    line = fontsize * 1.25 * px_per_pt
    x0, x1 = ax.get_window_extent().x0, ax.get_window_extent().x1
    placed: list[tuple[float, float, float, float]] = []
    order = sorted(range(len(texts)), key=lambda i: -to_px((xs[i], ys[i]))[1])
    for i in order:
        px, py = to_px((xs[i], ys[i]))
        width = 0.58 * fontsize * px_per_pt * len(str(texts[i]))
        left = px > x0 + 2 * (x1 - x0) / 3
        bx = px - pad_pt * px_per_pt - width if left else px + pad_pt * px_per_pt
        for k in range(0, 40):
            dy = (k + 1) // 2 * line * (1 if k % 2 else -1)
            box = (bx, py + dy - line / 2, bx + width, py + dy + line / 2)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        off = ((bx - px) / px_per_pt, dy / px_per_pt - fontsize * 0.4)
        ax.annotate(str(texts[i]), (xs[i], ys[i]), xytext=off, textcoords="offset points", fontsize=fontsize,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey", "shrinkA": 0, "shrinkB": 2}
                    if abs(dy) > 0 else None)


def busiest_window(image: torch.Tensor, size: int) -> tuple[int, int, int]:
    """``(top, left, side)`` of the ``size``² window (clipped to the image) where ``image`` (…, H, W) varies most
    (largest standard deviation on a coarse grid of windows): a crop that shows content, not background."""
    x = image.detach().reshape(image.shape[-2:]).double()
    h, w = x.shape
    s = min(size, h, w)
    step = max(1, s // 4)
    best, where = -1.0, ((h - s) // 2, (w - s) // 2)
    for t in range(0, h - s + 1, step):
        for l in range(0, w - s + 1, step):
            sd = float(x[t:t + s, l:l + s].std())
            if sd > best:
                best, where = sd, (t, l)
    return where[0], where[1], s
