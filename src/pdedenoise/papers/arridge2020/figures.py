"""Arridge and Hauptmann (2020): the chapter's figures that need a function (slider panels, long-run curves)."""
from __future__ import annotations

import torch

from ...metrics import psnr
from .published import DECONVOLUTION, INVERSE

FILTER_NAMES = (r"$\zeta_1$ (up)", r"$\zeta_2$ (left)", r"$\zeta_3$ (down)", r"$\zeta_4$ (right)",
                r"$\zeta_5$ (centre)")
LONG_RUN_TITLES = {"discs": "Exp. 1, discs (paper's protocol)", "nonoise": "Exp. 2, no noise", "1pct": "Exp. 2, 1 % noise"}
LONG_RUN_PUBLISHED = {"discs": DECONVOLUTION["test PSNR"].value, "nonoise": INVERSE["DiffNet, no noise, mean test PSNR"].value,
                      "1pct": INVERSE["DiffNet, 1% noise, mean test PSNR"].value}


def layer_panel(states: list[torch.Tensor], filters: list[torch.Tensor], truth: torch.Tensor, i: int):
    """Slider panel ``i``: the image after layer ``i`` (0: the input), the ground truth, and the five filter
    images of layer ``i`` with a shared colour bar. ``states``/``filters`` from :meth:`DiffNet.trace`."""
    import matplotlib.pyplot as plt

    from ...figures import PAGE_WIDTH_IN

    # two rows of four: the image, the truth and the five filters (at most four panels across)
    fig, grid = plt.subplots(2, 4, figsize=(PAGE_WIDTH_IN, 4.3))
    ax = list(grid.flat)
    ax[0].imshow(states[i][0, 0], cmap="gray", vmin=0, vmax=1)
    ax[0].set_title("image")
    ax[1].imshow(truth[0], cmap="gray", vmin=0, vmax=1)
    ax[1].set_title("ground truth")
    if 1 <= i <= len(filters):
        z = filters[i - 1][0]
        lim = float(z.abs().max()) or 1.0
        for j in range(5):
            im = ax[2 + j].imshow(z[j], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax[2 + j].set_title(FILTER_NAMES[j], fontsize=9)
        fig.colorbar(im, ax=ax[7], fraction=0.5, location="left").ax.tick_params(labelsize=9)
    for a in ax:
        a.axis("off")
    return fig


def long_runs_figure(long_runs: dict, side: dict | None = None):
    """Test PSNR against optimiser step for each recorded long run, with the published value, the input's PSNR
    and (Exp. 2) the hand-set DiffNet of backward steps on the same test crops."""
    import matplotlib.pyplot as plt

    from ... import data
    from . import method, protocol

    from ...figures import PAGE_WIDTH_IN

    fig, ax = plt.subplots(1, len(long_runs), figsize=(PAGE_WIDTH_IN, 3.6), squeeze=False, layout="constrained")
    for a, (job, rec) in zip(ax[0], long_runs.items()):
        c = rec["curve"]
        a.plot(c["step"], c["mean_psnr"], "o-", ms=3, label="DiffNet, test")
        a.axhline(LONG_RUN_PUBLISHED[job], color="C3", ls="--", label="published")
        a.axhline(rec["input_psnr"], color="grey", ls=":", label="input")
        if job in ("nonoise", "1pct"):  # the hand-set DiffNet on the same test crops, as the run drew them
            pr = rec["protocol"]
            try:
                crops = protocol.bsds_crops("test", pr["crop"], pr["n_test"], seed=pr.get("seed", 0))
                x, y = protocol.make_pairs(crops, "inverse", rec["noise"], seed=pr.get("seed", 0) + 2)
                a.axhline(float(psnr(method.backward_steps(x), y, 1.0).mean()), color="C2", ls="-.",
                          label="backward steps (no training)")
            except data.DataUnavailableError:
                pass
        if job == "discs" and side is not None:
            a.plot(side["curve"]["step"], side["curve"]["mean_psnr"], "s-", ms=3, color="C1",
                   label="forward direction (side run)")
        a.set_title(LONG_RUN_TITLES[job].replace(", ", ",\n", 1), fontsize=9)
        a.set_xlabel("optimiser step")
        a.grid(alpha=0.3)
    ax[0, 0].set_ylabel("mean test PSNR (dB)")
    handles = {}
    for a in ax[0]:
        for h, lab in zip(*a.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), fontsize=9, loc="outside lower center", ncol=2)
    return fig


def exp1_curves(runs: dict):
    """Exp. 1's test PSNR against optimiser step for each training tried (label -> long-run record), with the
    published value and the blurred input's PSNR."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for i, (label, rec) in enumerate(runs.items()):
        c = rec["curve"]
        ax.plot(c["step"], c["mean_psnr"], "o-", ms=2.5, color=f"C{i}", label=label)
    first = next(iter(runs.values()))
    ax.axhline(DECONVOLUTION["test PSNR"].value, color="C3", ls="--", label="published")
    ax.axhline(first["input_psnr"], color="grey", ls=":", label="blurred input")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("mean test PSNR (dB)")
    ax.set_title("Exp. 1, discs: the paper's training and the authors' code's")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
