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
    """One row per test image, one column per method: the same ``crop``² window (centre of the image),
    each titled with the whole image's PSNR."""
    import matplotlib.pyplot as plt

    methods = list(outputs[0])
    fig, ax = plt.subplots(len(clean), len(methods) + 1, figsize=(1.45 * (len(methods) + 1), 1.65 * len(clean)),
                           squeeze=False, layout="constrained")
    for r, (y, outs) in enumerate(zip(clean, outputs)):
        h, w = y.shape[-2:]
        s = min(crop, h, w)
        t, l = (h - s) // 2, (w - s) // 2
        panels = {"clean": y, **outs}
        for c, (name, im) in enumerate(panels.items()):
            ax[r, c].imshow(im[0, 0, t:t + s, l:l + s].clamp(0, 255), cmap="gray", vmin=0, vmax=255)
            ax[r, c].set_xticks([]), ax[r, c].set_yticks([])
            title = names[r] if name == "clean" else f"{name}\n{float(psnr(im.double(), y.double(), 255.0)):.2f}"
            if r == 0 or name == "clean":
                ax[r, c].set_title(title, fontsize=6)
            else:
                ax[r, c].set_title(f"{float(psnr(im.double(), y.double(), 255.0)):.2f}", fontsize=6)
    return fig


def scatter(board: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str, references: Mapping[str, tuple] = {},
            floor: float | None = None):
    """``y`` against ``x`` (log x axis), one marker per method by family, the Pareto front (smaller x, larger y)
    drawn as a line; ``references``: label -> (x, y) drawn hollow. Entries below ``floor`` (e.g. one that diverged)
    are left off the axes and named in the title, and so are entries that failed on some test image (column
    ``failed``, not ranked)."""
    import matplotlib.pyplot as plt

    failed = board[board["failed"].fillna("").astype(str) != ""]["method"].tolist() if "failed" in board else []
    sub = board.dropna(subset=[x, y])
    sub = sub[~sub["method"].isin(failed)]
    sub = sub[sub[x] > 0]
    off = sub[sub[y] < floor] if floor is not None else sub.iloc[:0]
    sub = sub.drop(off.index)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    titles = ["off the chart: " + ", ".join(f"{r['method']} ({r[y]:.3g})" for _, r in off.iterrows())] if len(off) else []
    titles += ["not ranked (failed on some images): " + ", ".join(failed)] if failed else []
    if titles:
        ax.set_title("; ".join(titles), fontsize=8)
    for fam, marker in FAMILY_MARKERS.items():
        part = sub[sub["family"].fillna("") == fam]
        if len(part):
            ax.scatter(part[x], part[y], marker=marker, s=28, label=fam or "other")
    for _, r in sub.iterrows():
        ax.annotate(r["method"], (r[x], r[y]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    front = pareto_front(sub[x].to_numpy(), sub[y].to_numpy())
    ax.plot(sub[x].to_numpy()[front], sub[y].to_numpy()[front], "-", color="grey", lw=1, label="Pareto front")
    for label, (rx, ry) in references.items():
        if rx and rx > 0:
            ax.scatter([rx], [ry], facecolors="none", edgecolors="k", s=40)
            ax.annotate(label, (rx, ry), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xscale("log"), ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def noise_estimates(table: pd.DataFrame):
    """Estimated against true sigma per test image, one panel per estimator."""
    import matplotlib.pyplot as plt

    methods = list(table["estimator"].unique())
    fig, ax = plt.subplots(1, len(methods), figsize=(3.4 * len(methods), 3.0), squeeze=False, layout="constrained")
    for a, m in zip(ax[0], methods):
        part = table[table["estimator"] == m]
        a.scatter(part["sigma"] + np.random.default_rng(0).uniform(-1, 1, len(part)), part["estimate"], s=6)
        lim = [0, float(part["estimate"].max()) * 1.05]
        a.plot(lim, lim, color="grey", lw=0.8)
        a.set_title(m, fontsize=9), a.set_xlabel("true sigma"), a.set_ylabel("estimate")
    return fig
