"""Barbeiro and Lobo (2019/2020): the chapter's figures. Each returns a matplotlib Figure; images on 0–255."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from ...figures import PAGE_WIDTH_IN, panel_grid
from ...metrics import psnr
from . import method as M


def _off(ax):
    ax.set_xticks([]), ax.set_yticks([])


def synthetic_examples(images: torch.Tensor, edges: torch.Tensor, count: int = 4):
    """The synthetic test images and their exact edge maps."""
    import matplotlib.pyplot as plt

    count = min(count, images.shape[0])
    side = PAGE_WIDTH_IN / max(count, 2)
    fig, ax = plt.subplots(2, count, figsize=(PAGE_WIDTH_IN, 2 * side + 0.3), squeeze=False)
    for i in range(count):
        ax[0, i].imshow(images[i, 0], cmap="gray", vmin=0, vmax=255)
        ax[1, i].imshow(edges[i, 0], cmap="gray_r")
        _off(ax[0, i]), _off(ax[1, i])
    ax[0, 0].set_ylabel("image"), ax[1, 0].set_ylabel("exact edges")
    return fig


def training_curves(records: Mapping[str, dict]):
    """Loss, smallest certificate margin and largest probe growth over training, one line per run."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(PAGE_WIDTH_IN, 3.4))
    for name, r in records.items():
        loss = np.asarray(r["loss"])
        k = max(1, len(loss) // 25)
        ax[0].semilogy(np.convolve(loss, np.ones(k) / k, mode="valid"), label=name)
        margin = np.asarray(r["margin"], dtype=float)
        ax[1].plot(np.where(np.isfinite(margin), margin, np.nan), label=name)
        uncert = np.flatnonzero(~np.isfinite(margin) | (margin < 0))
        if uncert.size:
            ax[1].plot(uncert, np.full(uncert.size, -0.05), "|", ms=8, color=ax[1].lines[-1].get_color())
        ax[2].plot(r["probe_step"], r["probe"], "o-", ms=3, label=name)
    ax[0].set_title("training loss (MSE)", fontsize=9), ax[0].set_xlabel("step")
    ax[1].axhline(0, color="grey", lw=0.8), ax[1].set_title("smallest certificate margin\n(ticks: uncertified)",
                                                            fontsize=9)
    ax[1].set_xlabel("step")
    ax[2].axhline(1, color="grey", lw=0.8)
    ax[2].set_title("largest probe growth\n$\\|\\mathrm{stage}(P)\\| \\,/\\, \\|P\\|$", fontsize=9)
    ax[2].set_xlabel("step")
    fig.legend(*ax[0].get_legend_handles_labels(), fontsize=9, loc="outside lower center",
               ncol=min(3, len(records)))
    return fig


def restorations(clean: torch.Tensor, outputs: Mapping[str, torch.Tensor], zoom: tuple[int, int, int] | None = None):
    """One row per method (full image and a zoomed crop ``(top, left, size)``), titled with PSNR."""
    import matplotlib.pyplot as plt

    names = list(outputs)
    # at most four panels across: with a zoom, each method's full image and its crop one above the other
    cols = min(4, len(names))
    blocks = -(-len(names) // cols)
    per = 2 if zoom else 1
    side = PAGE_WIDTH_IN / cols
    fig, grid = plt.subplots(blocks * per, cols, figsize=(PAGE_WIDTH_IN, blocks * per * side + blocks * 0.5),
                             squeeze=False)
    for a in grid.flat:
        a.axis("off")
    for k, name in enumerate(names):
        r, c = divmod(k, cols)
        im = outputs[name]
        top = grid[r * per, c]
        top.axis("on"), _off(top)
        top.imshow(im[0, 0].clamp(0, 255), cmap="gray", vmin=0, vmax=255)
        title = name if name == "clean" else f"{name}\n{float(psnr(im.double(), clean.double(), 255.0)):.2f} dB"
        top.set_title(title, fontsize=9)
        if zoom:
            t, l, s = zoom
            low = grid[r * per + 1, c]
            low.axis("on"), _off(low)
            low.imshow(im[0, 0, t:t + s, l:l + s].clamp(0, 255), cmap="gray", vmin=0, vmax=255)
    return fig


@torch.no_grad()
def influence_functions(model: M.CrossDiffusion, v_range: float):
    """Each stage's learned influence function :math:`g_t(v)` and its matrix :math:`B_t`."""
    import matplotlib.pyplot as plt

    v = torch.linspace(-v_range, v_range, 401)
    fig, (a, b) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.2), gridspec_kw={"width_ratios": [1.5, 1]})
    rows = []
    for t in range(model.stages):
        coeff = model.flow.coefficient(t)
        a.plot(v, coeff.g(v), label=f"stage {t + 1}")
        B = coeff.block().double()
        rows.append([f"{t + 1}", *[f"{x:.3f}" for x in B.flatten().tolist()]])
    a.set_xlabel("$v$"), a.set_ylabel("$g_t(v)$"), a.legend(fontsize=9), a.grid(alpha=0.3)
    b.axis("off")
    table = b.table(cellText=rows, colLabels=["stage", "$B_{11}$", "$B_{12}$", "$B_{21}$", "$B_{22}$"], loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    b.set_title("learned $B_t$", fontsize=10)
    return fig


def psnr_by_stage(curves: Mapping[str, Sequence[float]]):
    """Mean PSNR of u after each stage, per model (stage 0: the noisy input)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, values in curves.items():
        ax.plot(range(len(values)), values, "o-", ms=3, label=name)
    ax.set_xlabel("stage $t$"), ax.set_ylabel("mean PSNR of $u^t$ (dB)"), ax.grid(alpha=0.3), ax.legend(fontsize=9)
    return fig


def edge_maps(noisy: torch.Tensor, edges: torch.Tensor, maps: Mapping[str, torch.Tensor]):
    """The noisy synthetic image, its exact edges and the compared edge maps (each scaled to its own maximum)."""
    import matplotlib.pyplot as plt

    fig, ax = panel_grid(2 + len(maps), title_in=0.35)
    ax[0].imshow(noisy[0, 0], cmap="gray", vmin=0, vmax=255), ax[0].set_title("noisy", fontsize=9)
    ax[1].imshow(edges[0, 0], cmap="gray_r"), ax[1].set_title("exact edges", fontsize=9)
    for a, (name, m) in zip(ax[2:], maps.items()):
        a.imshow(m[0, 0], cmap="magma"), a.set_title(name, fontsize=9)
    return fig


def stage_panel(states: Sequence[torch.Tensor], clean: torch.Tensor, i: int):
    """One slider position: u and v after stage ``i``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(6.5, 3.2))
    U = states[i]
    ax[0].imshow(U[0, 0].clamp(0, 255), cmap="gray", vmin=0, vmax=255)
    ax[0].set_title(f"$u$ after {i} stages, {float(psnr(U[:, :1].double(), clean.double(), 255.0)):.2f} dB", fontsize=9)
    lim = max(float(max(s[:, 1].abs().max() for s in states)), 1e-6)
    shown = ax[1].imshow(U[0, 1], cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax[1].set_title("$v$ (the edge field)", fontsize=9)
    fig.colorbar(shown, ax=ax[1], fraction=0.046)
    for a in ax:
        _off(a)
    return fig
