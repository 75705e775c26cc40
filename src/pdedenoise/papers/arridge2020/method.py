"""Arridge and Hauptmann (2020): the method (DiffNet, against a residual U-Net) and two references without training.

DiffNet itself is the reusable network :class:`pdedenoise.models.diffnet.DiffNet`; here are the paper's
model choices (:func:`make_model`), the hand-set DiffNet of backward Perona–Malik steps
(:func:`backward_steps`), the exact inverse of the forward model (:func:`exact_inverse`), and the
interpretation of the learned filters (:func:`filter_sums`, :func:`alpha`).
"""
from __future__ import annotations

import torch

from ...diffusion import perona_malik_step
from ...models.diffnet import DiffNet, filter_sum
from ...models.unet import UNet
from ...stencils import BoundaryCondition
from ...train import seed_everything
from .protocol import BC, LAMBDA, PM_DT, PM_STEPS


def backward_steps(y: torch.Tensor, steps: int = PM_STEPS, bc: BoundaryCondition = BC) -> torch.Tensor:
    """A hand-set DiffNet: explicit Perona–Malik steps backwards in time over the forward model's 0.4.

    Each of the ``steps`` steps ``x <- x - dt div(g(x) grad x)``, ``dt = 0.4 / steps`` (0.1 by default),
    is a DiffNet layer whose filters are set by hand: ``zeta_1..4`` the edge diffusivities, ``zeta_5``
    their sum, and a negative step ``-dt``. Undoes the forward
    model to first order in dt (it evaluates g on the diffused image, not the original), with no
    training. ``y``: (N, C, H, W), 0–1; returns the same shape (negative values set to 0, as DiffNet's ReLU).
    """
    x = y
    for _ in range(steps):
        x = perona_malik_step(x, LAMBDA, -PM_DT * PM_STEPS / steps, "rational", bc, "average")
    return x.clamp_min(0)


@torch.no_grad()
def exact_inverse(y: torch.Tensor, iterations: int = 60, bc: BoundaryCondition = BC) -> torch.Tensor:
    """The exact inverse of :func:`forward_model`, by a fixed-point iteration per step (not a network).

    Each forward step is ``y = x + dt div(g(x) grad x)``; its ``x`` is the fixed point of
    ``x <- y - dt div(g(x) grad x)``, a contraction while ``dt`` times the largest eigenvalue of the
    diffusion operator stays below 1 (``0.1 x 8 g_max = 0.8`` here). It shows how well posed the
    noise-free problem is: the error left is float32 round-off. ``y``: (N, C, H, W) -> same.
    """
    x = y
    for _ in range(PM_STEPS):
        target, z = x, x
        for _ in range(iterations):
            z = target - (perona_malik_step(z, LAMBDA, PM_DT, "rational", bc, "average") - z)
        x = z
    return x


def make_model(kind: str, layers: int = 5, unet_width: int = 64, bc: BoundaryCondition = BC, seed: int = 0,
               init: str = "glorot"):
    """``"diffnet"`` (``layers`` layers, 4-layer estimators, ``init`` of its estimators) or ``"unet"``
    (residual U-Net, which starts as the identity), seeded init."""
    seed_everything(seed)
    if kind == "diffnet":
        return DiffNet(layers=layers, bc=bc, init=init)
    if kind == "unet":
        return UNet(width=unet_width)
    raise ValueError(f"unknown model {kind!r}; use 'diffnet' or 'unet'")


@torch.no_grad()
def filter_sums(model: DiffNet, x: torch.Tensor) -> list[torch.Tensor]:
    """Per layer, ``zeta_1 + ... + zeta_4 - zeta_5`` for inputs ``x``: list of (N, 1, H, W)."""
    model.eval()
    _, filters = model.trace(x)
    return [filter_sum(z) for z in filters]


@torch.no_grad()
def alpha(model: DiffNet, x: torch.Tensor, weighted: bool = True) -> float:
    """Mean magnitude of the filter sums over layers, pixels and images.

    With ``weighted`` each layer's sum is multiplied by its step size ``|dt|``: the filter sum
    times dt is what the update adds per unit of pixel value, so this is invariant to how a layer
    splits its step between dt and zeta.
    """
    sums = filter_sums(model, x)
    vals = [(abs(float(layer.dt)) if weighted else 1.0) * float(s.abs().mean()) for s, layer in zip(sums, model.layers)]
    return sum(vals) / len(vals)
