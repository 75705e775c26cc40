"""Valdivia Ortega, Haas and Effland (2024): the chapter's figures (restorations, diffusivity maps, learned
experts and functions, the FoE-S curves, the iteration stepper). Each function returns a matplotlib Figure;
images are on 0–255.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from ...figures import PAGE_WIDTH_IN, panel_grid
from ...metrics import psnr
from ...solvers.explicit import resolve
from . import analysis as A
from . import method as M


def _off(ax):
    ax.set_xticks([]), ax.set_yticks([])


def restorations(clean: torch.Tensor, noisy: Mapping[int, torch.Tensor], outputs: Mapping[int, Mapping[str, torch.Tensor]]):
    """Fig. 1: for each sigma, the clean image, the noisy input and each model's output, titled with PSNR, at most
    four panels across (one block of rows per sigma). ``clean`` (1, 1, H, W)."""
    sigmas = list(outputs)
    cols = ["clean", "noisy"] + list(next(iter(outputs.values())))
    h, w = clean.shape[-2:]
    fig, axes = panel_grid(len(cols) * len(sigmas), aspect=h / w, title_in=0.5)
    for r, s in enumerate(sigmas):
        for c, name in enumerate(cols):
            a = axes[r * len(cols) + c]
            im = clean if name == "clean" else noisy[s] if name == "noisy" else outputs[s][name]
            a.imshow(im[0, 0].clamp(0, 255), cmap="gray", vmin=0, vmax=255)
            title = (f"clean ($\\sigma$ = {s})" if name == "clean" else
                     f"{name}\n{float(psnr(im.double(), clean.double(), 255.0)):.2f} dB")
            a.set_title(title, fontsize=9)
    return fig


@torch.no_grad()
def last_diffusivities(models: Mapping[str, M.LearnedDiffusion], noisy: torch.Tensor, title: str = ""):
    """Figs. 2–3: each model's diffusivity ``g`` at its last (10th) step, on one noisy image (1, 1, H, W); KA's
    per-edge g is shown as the mean of its two directions at each pixel."""
    import matplotlib.pyplot as plt

    # at most four models across; for each, its output above its diffusivity map
    cols = min(4, len(models))
    blocks = -(-len(models) // cols)
    side = PAGE_WIDTH_IN / cols
    fig, grid = plt.subplots(2 * blocks, cols, figsize=(PAGE_WIDTH_IN, blocks * (2 * side + 0.5)), squeeze=False)
    for a in grid.flat:
        a.axis("off")
    for k, (label, model) in enumerate(models.items()):
        r, c = divmod(k, cols)
        u = model.padded(noisy)
        for _ in range(model.flow.steps - 1):
            u = model.flow.step(u, 0, u, check_data=False)
        g = pixel_diffusivity(model, u)
        top, low = grid[2 * r, c], grid[2 * r + 1, c]
        top.imshow(model.crop(model.flow.step(u, 0, u, check_data=False))[0, 0].clamp(0, 255), cmap="gray",
                   vmin=0, vmax=255)
        shown = low.imshow(model.crop(g)[0, 0], cmap="magma", vmin=0)
        cb = fig.colorbar(shown, ax=low, fraction=0.046, pad=0.02)
        cb.ax.tick_params(labelsize=9)
        top.set_title(f"{label}: output", fontsize=9)
        low.set_title(f"{label}: $g$, last step", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


@torch.no_grad()
def pixel_diffusivity(model: M.LearnedDiffusion, u: torch.Tensor) -> torch.Tensor:
    """The diffusivity a model gives each pixel of ``u`` (N, 1, H, W): the network's map, or for KA (per edge)
    the mean of the diffusivities of the edges to the right and below."""
    coeff = model.coefficients
    if isinstance(coeff, M.PixelNetCoefficients):
        return coeff.g(u)
    edges = resolve(coeff, u, "neumann").value
    return 0.5 * (edges.x[..., 1:] + edges.y[..., 1:, :])


@torch.no_grad()
def experts(models: Mapping[int, M.LearnedDiffusion], count: int = 5, points: int = 201):
    """Fig. 4: for each sigma, ``count`` learned expert kernels of an FoE-S model and their functions phi (the
    experts with the widest range of phi over [0, 1])."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(models), count + 1, figsize=(PAGE_WIDTH_IN, 1.9 * len(models)),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * count + [2.4]})
    for r, (sigma, model) in enumerate(models.items()):
        e, phi = A.expert_functions(model, points)
        order = np.argsort(phi.max(axis=1) - phi.min(axis=1))[::-1][:count]
        kernels = model.coefficients.g.experts.conv.weight[:, 0]
        for c, f in enumerate(order):
            k = kernels[f]
            lim = float(k.abs().max())
            axes[r, c].imshow(k, cmap="RdBu_r", vmin=-lim, vmax=lim)
            _off(axes[r, c])
            line, = axes[r, -1].plot(e, phi[f], lw=1.2)
            axes[r, c].set_title(f"expert {f}", fontsize=9, color=line.get_color())  # the title names its line
        axes[r, 0].set_ylabel(f"$\\sigma$ = {sigma}")
        axes[r, -1].set_xlabel("expert response $e$", fontsize=9)
        axes[r, -1].set_ylabel("$\\phi(e)$", fontsize=9)
        axes[r, -1].tick_params(labelsize=9)
    return fig


def foe_s_curves(phis: Mapping[int, tuple[np.ndarray, np.ndarray]], curves: Mapping[int, np.ndarray],
                 centres: np.ndarray):
    """Fig. 5: left, every expert's phi of the FoE-S model at each sigma (thin lines, one colour per sigma);
    right, the diffusivity each model gives a pixel against its gradient magnitude (the same noisy inputs)."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.4))
    colours = {15: "tab:blue", 25: "tab:orange", 50: "tab:green"}
    for sigma, (e, phi) in phis.items():
        for k, row in enumerate(phi):
            a.plot(e, row, color=colours.get(sigma), lw=0.7, alpha=0.6, label=f"$\\sigma$ = {sigma}" if k == 0 else None)
    a.set_xlabel("expert response $e$"), a.set_ylabel("$\\phi(e)$")
    a.set_title("learned functions, all experts", fontsize=9)
    a.legend(fontsize=9)
    for sigma, y in curves.items():
        b.plot(centres, y, "o-", ms=3, color=colours.get(sigma), label=f"FoE-S, $\\sigma$ = {sigma}")
    b.set_xlabel("$|\\nabla u|$ (grey levels per pixel)"), b.set_ylabel("mean diffusivity $g$")
    b.set_title("diffusivity against gradient\n(same inputs)", fontsize=9)
    b.legend(fontsize=9), b.grid(alpha=0.3)
    return fig


@torch.no_grad()
def iteration_states(model: M.LearnedDiffusion, noisy: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The 11 states of one image through the 10 steps and the diffusivity of each step (cropped)."""
    u = model.padded(noisy)
    states, gs = [model.crop(u)], []
    for t in range(model.flow.steps):
        gs.append(model.crop(pixel_diffusivity(model, u)))
        u = model.flow.step(u, t, u, check_data=False)
        states.append(model.crop(u))
    return states, gs


def iteration_panel(states: Sequence[torch.Tensor], gs: Sequence[torch.Tensor], clean: torch.Tensor, i: int):
    """One slider position: the state after ``i`` steps, its error, and the diffusivity that made the next step."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(PAGE_WIDTH_IN, 2.8))
    x = states[i]
    ax[0].imshow(x[0, 0].clamp(0, 255), cmap="gray", vmin=0, vmax=255)
    ax[0].set_title(f"after {i} steps, {float(psnr(x.double(), clean.double(), 255.0)):.2f} dB", fontsize=9)
    ax[1].imshow((x - clean)[0, 0].abs(), cmap="magma", vmin=0, vmax=60)
    ax[1].set_title("|error|", fontsize=9)
    g = gs[min(i, len(gs) - 1)]
    shown = ax[2].imshow(g[0, 0], cmap="viridis", vmin=0, vmax=max(float(torch.stack(list(gs)).max()), 1e-6))
    ax[2].set_title(f"$g$ of step {min(i, len(gs) - 1) + 1}", fontsize=9)
    fig.colorbar(shown, ax=ax[2], fraction=0.046).ax.tick_params(labelsize=9)
    for a in ax:
        _off(a)
    return fig
