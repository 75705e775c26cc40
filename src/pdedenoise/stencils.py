"""Finite differences on batched image tensors.

Every function takes images of shape ``(N, C, H, W)`` on a unit grid (pixel spacing h = 1) and
is plain, differentiable torch: it runs on CPU and GPU, in float32 and float64.

Boundary conditions are imposed by one layer of ghost pixels:

``"neumann"``
    zero flux: the ghost pixel repeats its neighbour inside the image (cell-centred grid), so the
    difference across the boundary edge is zero and mass (the image mean) is conserved.
``"dirichlet"``
    zero value: the ghost pixels are 0, i.e. the image is the interior of a grid held at 0.

The flux form used throughout: horizontal edge differences ``dx`` live on the ``W + 1`` vertical
edges of each row (boundary edges included) and vertical ones ``dy`` on the ``H + 1`` horizontal
edges of each column; ``flux_divergence`` turns edge fluxes back into one value per pixel. With a
unit flux this is exactly the 5-point Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

BoundaryCondition = Literal["neumann", "dirichlet"]
BOUNDARY_CONDITIONS = ("neumann", "dirichlet")

LAPLACIAN_KERNEL = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def check_image(u: torch.Tensor, name: str = "u") -> None:
    """Raise a clear error unless ``u`` is a floating tensor of shape (N, C, H, W)."""
    if not isinstance(u, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W), got {type(u).__name__}")
    if u.ndim != 4:
        raise ValueError(
            f"{name} must have shape (N, C, H, W), got {tuple(u.shape)}; "
            "use u[None, None] for one grey image or u.unsqueeze(0) for one (C, H, W) image"
        )
    if not u.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {u.dtype}; convert with u.float()")
    if u.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(u.shape)}): images need at least one pixel and one channel")


def check_finite(u: torch.Tensor, name: str = "u") -> None:
    """Raise a clear error when ``u`` holds NaN or infinite values."""
    if not bool(torch.isfinite(u).all()):
        bad = int((~torch.isfinite(u)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite values; clean or mask the input first")


#: dtypes the solvers compute in float32 instead (then round the result back)
HALF = (torch.float16, torch.bfloat16)


def half_in_float32(fn):
    """Run a solver whose first argument is an image (N, C, H, W) in float32 when the image is float16 or
    bfloat16, and round the result back to that dtype. Explicit steps in half precision lose the small updates
    of every step (a Perona-Malik run in bfloat16 drifted 7.8 grey levels from float32 in 5 steps); this way the
    result is the float32 result rounded once: within half a unit in the last place of each value (0.0625 grey
    levels at 255 in float16, 0.5 in bfloat16). Gradients flow through both casts."""
    import functools

    @functools.wraps(fn)
    def wrapper(u, *args, **kwargs):
        if isinstance(u, torch.Tensor) and u.dtype in HALF:
            return fn(u.float(), *args, **kwargs).to(u.dtype)
        return fn(u, *args, **kwargs)

    return wrapper


def check_bc(bc: str) -> None:
    """Raise a clear error unless ``bc`` is a known boundary condition."""
    if bc not in BOUNDARY_CONDITIONS:
        raise ValueError(f"unknown boundary condition {bc!r}; use one of {BOUNDARY_CONDITIONS}")


def pad(u: torch.Tensor, bc: BoundaryCondition = "neumann", width: int = 1) -> torch.Tensor:
    """Add ``width`` ghost pixels on every side.

    Args:
        u: images, shape (N, C, H, W).
        bc: ``"neumann"`` repeats the edge pixel (zero flux), ``"dirichlet"`` pads with zeros.
    Returns:
        shape (N, C, H + 2 width, W + 2 width).
    """
    check_bc(bc)
    if bc == "neumann":
        return F.pad(u, (width,) * 4, mode="replicate")
    return F.pad(u, (width,) * 4, mode="constant", value=0.0)


def edge_differences(u: torch.Tensor, bc: BoundaryCondition = "neumann") -> tuple[torch.Tensor, torch.Tensor]:
    """Differences across every edge of the pixel grid, boundary edges included.

    Returns:
        ``dx`` of shape (N, C, H, W + 1) with ``dx[..., j] = u[..., j] - u[..., j - 1]`` (ghosts at
        j = -1 and j = W), and ``dy`` of shape (N, C, H + 1, W), likewise along rows.
    """
    up = pad(u, bc)
    dx = up[..., 1:-1, 1:] - up[..., 1:-1, :-1]
    dy = up[..., 1:, 1:-1] - up[..., :-1, 1:-1]
    return dx, dy


def flux_divergence(fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
    """Divergence of edge fluxes: one value per pixel.

    Args:
        fx: fluxes on vertical edges, shape (N, C, H, W + 1).
        fy: fluxes on horizontal edges, shape (N, C, H + 1, W).
    Returns:
        shape (N, C, H, W): ``fx[j + 1/2] - fx[j - 1/2] + fy[i + 1/2] - fy[i - 1/2]``.
    """
    out = fx[..., 1:] - fx[..., :-1]  # a fresh tensor: accumulating in place saves temporaries
    out += fy[..., 1:, :]
    out -= fy[..., :-1, :]
    return out


def laplacian(u: torch.Tensor, bc: BoundaryCondition = "neumann") -> torch.Tensor:
    """5-point Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` with ghost-pixel boundaries.

    Args:
        u: shape (N, C, H, W). Returns the same shape.
    """
    up = pad(u, bc)
    out = up[..., :-2, 1:-1] + up[..., 2:, 1:-1]  # a fresh tensor: in-place sums are 3x faster on CPU
    out += up[..., 1:-1, :-2]
    out += up[..., 1:-1, 2:]
    return out.sub_(u, alpha=4.0)


def forward_gradient(u: torch.Tensor, bc: BoundaryCondition = "neumann") -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences ``(u[j+1] - u[j], u[i+1] - u[i])``, each of shape (N, C, H, W).

    The last column/row uses the ghost pixel: 0 for ``"neumann"``, ``-u`` for ``"dirichlet"``.
    """
    dx, dy = edge_differences(u, bc)
    return dx[..., 1:], dy[..., 1:, :]


def backward_divergence(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Negative adjoint of :func:`forward_gradient` with ``"neumann"`` boundaries.

    ``<forward_gradient(u), (px, py)> = -<u, backward_divergence(px, py)>`` for any u, p of shape
    (N, C, H, W), provided ``px[..., -1] = py[..., -1, :] = 0`` as forward_gradient produces.
    """
    zx = torch.zeros_like(px[..., :1])
    zy = torch.zeros_like(py[..., :1, :])
    return flux_divergence(torch.cat([zx, px], dim=-1), torch.cat([zy, py], dim=-2))


def central_gradient_sq(u: torch.Tensor, bc: BoundaryCondition = "neumann") -> torch.Tensor:
    """Squared gradient magnitude ``|grad u|^2`` at pixel centres by central differences.

    Returns shape (N, C, H, W).
    """
    up = pad(u, bc)
    gx = 0.5 * (up[..., 1:-1, 2:] - up[..., 1:-1, :-2])
    gy = 0.5 * (up[..., 2:, 1:-1] - up[..., :-2, 1:-1])
    return gx * gx + gy * gy


def average_to_edges(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Arithmetic mean of a per-pixel field onto the grid's edges.

    Boundary edges take the value of the pixel inside (the field is extended by repetition).

    Args:
        c: per-pixel coefficients, shape (N, C, H, W) (C may be 1 to broadcast over channels).
    Returns:
        ``cx`` of shape (N, C, H, W + 1) and ``cy`` of shape (N, C, H + 1, W), as for
        :func:`edge_differences`.
    """
    cp = pad(c, "neumann")
    cx = 0.5 * (cp[..., 1:-1, 1:] + cp[..., 1:-1, :-1])
    cy = 0.5 * (cp[..., 1:, 1:-1] + cp[..., :-1, 1:-1])
    return cx, cy


def neighbours(u: torch.Tensor, bc: BoundaryCondition = "neumann") -> tuple[torch.Tensor, ...]:
    """The four 5-point neighbours ``(up, left, down, right)`` of every pixel, each (N, C, H, W).

    ``up[i, j] = u[i - 1, j]`` and so on, ghost pixels at the boundary.
    """
    up = pad(u, bc)
    return up[..., :-2, 1:-1], up[..., 1:-1, :-2], up[..., 2:, 1:-1], up[..., 1:-1, 2:]
