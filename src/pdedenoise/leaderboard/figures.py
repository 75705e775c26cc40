"""The leaderboard's figures. Each returns a matplotlib Figure; images on 0–255."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..metrics import psnr
from .evaluate import pareto_front

FAMILY_MARKERS = {"PDE, tuned": "s", "PDE, learned": "o", "network": "^", "classical": "D", "": "x"}


def crops_grid(clean: Sequence[torch.Tensor], outputs: Sequence[Mapping[str, torch.Tensor]], crop: int,
               names: Sequence[str]):
    """For each test image, the clean crop and each method's: the same ``crop``² window, where the clean image
    varies most (:func:`pdedenoise.figures.busiest_window`), titled with the method's name and the whole image's
    PSNR; at most four panels across, one block of rows per image."""
    from ..figures import busiest_window, panel_grid
    from ..labels import short_label

    methods = list(outputs[0])
    per_image = len(methods) + 1
    fig, axes = panel_grid(per_image * len(clean), title_in=0.5)
    for r, (y, outs) in enumerate(zip(clean, outputs)):
        t, l, s = busiest_window(y, crop)
        panels = {"clean": y, **outs}
        for c, (name, im) in enumerate(panels.items()):
            a = axes[r * per_image + c]
            a.imshow(im[0, 0, t:t + s, l:l + s].clamp(0, 255), cmap="gray", vmin=0, vmax=255)
            title = (f"{names[r]}, clean" if name == "clean" else
                     f"{short_label(name)}\n{float(psnr(im.double(), y.double(), 255.0)):.2f} dB")
            a.set_title(title, fontsize=9)
    return fig


def scatter(board: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str, references: Mapping[str, tuple] = {},
            floor: float | None = None):
    """``y`` against ``x`` (log x axis), one marker per method by family, the Pareto front (smaller x, larger y)
    drawn as a line; ``references``: label -> (x, y) drawn hollow. Entries below ``floor`` (e.g. one that diverged)
    are left off the axes and named in the title, and so are entries that failed on some test image (column
    ``failed``, not ranked). Labels are the methods' names (:data:`pdedenoise.labels.LABELS`), placed so that none
    overlaps another."""
    import matplotlib.pyplot as plt

    from ..figures import PAGE_WIDTH_IN, place_labels
    from ..labels import label, short_label

    failed = board[board["failed"].fillna("").astype(str) != ""]["method"].tolist() if "failed" in board else []
    # recorded boards may hold text where a value is missing: numbers only
    sub = board.assign(**{x: pd.to_numeric(board[x], errors="coerce"), y: pd.to_numeric(board[y], errors="coerce")})
    sub = sub.dropna(subset=[x, y])
    sub = sub[~sub["method"].isin(failed)]
    sub = sub[sub[x] > 0]
    off = sub[sub[y] < floor] if floor is not None else sub.iloc[:0]
    sub = sub.drop(off.index)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 5.2), layout="constrained")
    titles = ["off the chart: " + ", ".join(f"{label(r['method'])} ({r[y]:.3g})" for _, r in off.iterrows())] \
        if len(off) else []
    titles += ["not ranked (failed on some images): " + ", ".join(label(m) for m in failed)] if failed else []
    if titles:
        ax.set_title("; ".join(titles), fontsize=9)
    for fam, marker in FAMILY_MARKERS.items():
        part = sub[sub["family"].fillna("") == fam]
        if len(part):
            ax.scatter(part[x], part[y], marker=marker, s=28, label=fam or "other")
    front = pareto_front(sub[x].to_numpy(), sub[y].to_numpy())
    ax.plot(sub[x].to_numpy()[front], sub[y].to_numpy()[front], "-", color="grey", lw=1, label="Pareto front")
    refs = {k: v for k, v in references.items() if v[0] and v[0] > 0}
    for rx, ry in refs.values():
        ax.scatter([rx], [ry], facecolors="none", edgecolors="k", s=40)
    ax.set_xscale("log"), ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.grid(alpha=0.3, which="both")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=9, loc="outside lower center", ncol=5)  # off the labels
    xs = list(sub[x]) + [v[0] for v in refs.values()]
    ys = list(sub[y]) + [v[1] for v in refs.values()]
    place_labels(ax, xs, ys, [short_label(m) for m in sub["method"]] + list(refs))
    return fig


def noise_estimates(table: pd.DataFrame):
    """Estimated against true sigma per test image, one panel per estimator."""
    import matplotlib.pyplot as plt

    from ..labels import label

    methods = list(table["estimator"].unique())
    from ..figures import PAGE_WIDTH_IN

    fig, ax = plt.subplots(1, len(methods), figsize=(PAGE_WIDTH_IN, 3.0), squeeze=False, layout="constrained")
    for a, m in zip(ax[0], methods):
        part = table[table["estimator"] == m]
        a.scatter(part["sigma"] + np.random.default_rng(0).uniform(-1, 1, len(part)), part["estimate"], s=6)
        lim = [0, float(part["estimate"].max()) * 1.05]
        a.plot(lim, lim, color="grey", lw=0.8)
        a.set_title(str(label(m)), fontsize=9), a.set_xlabel(r"true $\sigma$"), a.set_ylabel(r"estimated $\sigma$")
    return fig
