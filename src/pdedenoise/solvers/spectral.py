"""The discrete heat equation solved exactly in the eigenbasis of the 5-point Laplacian.

The 5-point Laplacian on an H x W grid is diagonalised by a separable orthonormal basis: DCT-II for
zero-flux (``"neumann"``) and DST-I for zero-value (``"dirichlet"``) boundaries, with eigenvalues
``lam_h[i] + lam_w[j]`` in [-8, 0]. The heat flow is then one multiplication per coefficient:
``exp(rho T lam)`` for the continuous-time flow, or ``(1 + dt rho lam)^(T/dt)`` for exactly ``T/dt``
explicit Euler steps, i.e. the same numbers as :func:`pdedenoise.diffusion.heat` at the cost of four
matrix products instead of thousands of steps. Images are (N, C, H, W), any value scale.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from .. import validate
from ..stencils import BoundaryCondition, check_finite, check_image, half_in_float32
from . import stability
from .explicit import as_coefficient, is_field


#: the most memory the two eigenbases of :func:`heat_spectral` may take (bytes); they grow with the square of the
#: height and of the width (a 4 x 20,000 image would need 3.2 GB in float64)
MAX_BASIS_BYTES = 256 * 2 ** 20


def basis_bytes(h: int, w: int, dtype: torch.dtype = torch.float64) -> int:
    """Bytes of the (h, h) and (w, w) eigenbases :func:`heat_spectral` builds for an h x w image."""
    return (h * h + w * w) * torch.empty((), dtype=dtype).element_size()


def laplacian_eigenbasis(n: int, bc: BoundaryCondition, dtype: torch.dtype = torch.float64,
                         device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal eigenvectors and eigenvalues of the 1-D 3-point Laplacian on n points.

    Returns:
        ``basis`` of shape (n, n) whose rows are the eigenvectors (DCT-II for ``"neumann"``, DST-I
        for ``"dirichlet"``), and ``eigenvalues`` of shape (n,), all in [-4, 0]. The 2-D 5-point
        Laplacian of an h x w image has eigenvalues ``lam_h[:, None] + lam_w[None, :]``. Cached.
    """
    n = validate.count("n", n, 1)
    need = basis_bytes(n, 0, dtype)
    if need > MAX_BASIS_BYTES:
        raise ValueError(f"the eigenbasis of a side of {n} pixels would take {need / 2 ** 30:.2g} GiB (it grows with "
                         f"the square of the side; the limit is {MAX_BASIS_BYTES / 2 ** 20:.0f} MiB); use "
                         "pdedenoise.diffusion.heat (explicit steps) for an image this large")
    return _eigenbasis(n, bc, dtype, str(torch.device(device)))


@lru_cache(maxsize=32)
def _eigenbasis(n: int, bc: str, dtype: torch.dtype, device_str: str) -> tuple[torch.Tensor, torch.Tensor]:
    j = torch.arange(n, dtype=torch.float64)
    k = torch.arange(n, dtype=torch.float64)[:, None]
    if bc == "neumann":  # DCT-II
        basis = torch.cos(math.pi * k * (j + 0.5) / n) * math.sqrt(2.0 / n)
        basis[0] /= math.sqrt(2.0)
        lam = -4.0 * torch.sin(math.pi * k[:, 0] / (2 * n)) ** 2
    elif bc == "dirichlet":  # DST-I
        basis = torch.sin(math.pi * (k + 1) * (j + 1) / (n + 1)) * math.sqrt(2.0 / (n + 1))
        lam = -4.0 * torch.sin(math.pi * (k[:, 0] + 1) / (2 * (n + 1))) ** 2
    else:
        raise ValueError(f"unknown boundary condition {bc!r}; use 'neumann' or 'dirichlet'")
    device = torch.device(device_str)
    return basis.to(dtype=dtype, device=device), lam.to(dtype=dtype, device=device)


def laplacian_eigenvalues(h: int, w: int, bc: BoundaryCondition, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Eigenvalues of the 2-D 5-point Laplacian on an h x w grid, shape (h, w), all in [-8, 0]."""
    _, lh = laplacian_eigenbasis(h, bc, dtype, device)
    _, lw = laplacian_eigenbasis(w, bc, dtype, device)
    return lh[:, None] + lw[None, :]


def heat_multiplier(lam: torch.Tensor, rho: torch.Tensor, T: float, dt: float | None = None) -> torch.Tensor:
    """Factor by which the heat flow scales each eigenmode of the 5-point Laplacian.

    Args:
        lam: eigenvalues, e.g. (H, W) from :func:`laplacian_eigenvalues`.
        rho: diffusivity >= 0, a tensor broadcastable against ``lam`` (e.g. (N, 1, 1, 1)).
        dt: ``None`` for the continuous-time flow ``exp(rho T lam)``; else the factor of ``T / dt``
            explicit Euler steps, ``(1 + dt rho lam)^(T/dt)``, which must satisfy the stability bound.
    Raises:
        StabilityError: when ``dt > 1 / (4 max rho)``.
    """
    if dt is None:
        return torch.exp(rho * T * lam)
    steps = stability.number_of_steps(T, dt)
    stability.Certificate(dt, stability.scalar_dt_max_from_sup(float(rho.detach().max())), "max", "heat").require()
    return (1.0 + dt * rho * lam) ** steps


@half_in_float32
def heat_spectral(
    u0: torch.Tensor,
    rho: float | torch.Tensor = 1.0,
    T: float = 1.0,
    bc: BoundaryCondition = "neumann",
    dt: float | None = None,
) -> torch.Tensor:
    """Exact solution of the discrete heat problem in the eigenbasis of the 5-point Laplacian.

    With ``dt=None`` this is the semi-discrete flow ``exp(rho T L) u0``; with a time step it is the
    result of exactly ``T / dt`` explicit Euler steps, ``(I + dt rho L)^(T/dt) u0``, i.e. the same
    numbers :func:`pdedenoise.diffusion.heat` computes, at the cost of four matrix products.
    Differentiable in ``u0`` and ``rho``.

    Args:
        u0: shape (N, C, H, W).
        rho: a float or a per-image tensor of shape (N,) (no per-pixel fields: use :func:`heat`).
    Returns:
        shape (N, C, H, W).
    """
    check_image(u0, "u0")
    check_finite(u0, "u0")
    validate.nonnegative("T", T, "T is the diffusion time")
    if dt is not None:
        validate.positive("dt", dt)
    r = as_coefficient(rho, u0)
    check_finite(r.detach(), "rho")
    if is_field(r):
        raise ValueError("heat_spectral needs a scalar or per-image rho; use heat() for a per-pixel field")
    if bool((r.detach() < 0).any()):
        raise ValueError(f"rho must be non-negative (backward diffusion is ill-posed); min is {float(r.min()):.4g}")
    h, w = u0.shape[-2:]
    need = basis_bytes(h, w, u0.dtype)
    if need > MAX_BASIS_BYTES:
        raise ValueError(f"heat_spectral on a {h} x {w} image would build eigenbases of {need / 2 ** 30:.2g} GiB "
                          f"(they grow with the square of each side; the limit is {MAX_BASIS_BYTES / 2 ** 20:.0f} MiB, "
                          "pdedenoise.solvers.spectral.MAX_BASIS_BYTES); use pdedenoise.diffusion.heat (explicit steps, "
                          "memory proportional to the image: the command line's --method heat) for an image this "
                          "large")
    dev = str(u0.device)
    bh, lh = _eigenbasis(h, bc, u0.dtype, dev)
    bw, lw = _eigenbasis(w, bc, u0.dtype, dev)
    mult = heat_multiplier(lh[:, None] + lw[None, :], r, T, dt)
    coeffs = bh @ u0 @ bw.T
    return bh.T @ (mult * coeffs) @ bw
