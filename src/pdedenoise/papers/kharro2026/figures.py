"""Kharro, Douiri and Moumni (2026): the chapter's figures that need a function (the rho slider's panels)."""
from __future__ import annotations

import numpy as np

from ...tuning import SpectralSweep


def rho_panel(sweep: SpectralSweep, rho: float, T: float, out_clip: bool, rho_grid: np.ndarray, curve: np.ndarray,
              rho_star: float, rho_best: float):
    """One panel of the slider: the restoration with ``rho`` (left) and where it sits on the PSNR curve (right)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4), gridspec_kw={"width_ratios": [1, 1.3]})
    im = sweep.restore(rho, T, out_clip)
    p = sweep.psnr(rho, T, out_clip)
    axes[0].imshow(im[0, 0].clamp(0, 255), cmap="gray", vmin=0, vmax=255)
    axes[0].axis("off")
    axes[0].set_title(f"$\\rho$ = {rho:g}: {p:.2f} dB")
    axes[1].plot(rho_grid, curve)
    axes[1].set_xscale("log")
    axes[1].axvline(rho_star, ls="--", c="C1", label=r"published $\rho^*$")
    axes[1].axvline(rho_best, ls=":", c="C2", label=r"PSNR-optimal $\rho$")
    axes[1].plot([rho], [p], "o", c="k")
    axes[1].set_xlabel(r"$\rho$")
    axes[1].set_ylabel("PSNR (dB)")
    axes[1].legend()
    return fig
