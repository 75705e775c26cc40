"""Time stepping for linear and nonlinear diffusion on batched images.

All solvers take images ``u`` of shape (N, C, H, W) on a unit grid, are differentiable with respect
to the image and to every coefficient (rho, K, a diffusivity field), and run on any device and
floating dtype. Pixel values may be on any scale (0–255 or 0–1); the only scale-dependent
parameter is the Perona–Malik contrast K, which must be on the same scale as the image.

Explicit Euler steps ``u <- u + dt * div(c grad u)`` are stable (and obey the discrete maximum
principle) when ``dt * (sum of the 4 edge coefficients around every pixel) <= 1``; for a constant
diffusivity rho this is ``dt <= 1 / (4 rho)``. A step beyond that bound raises
:class:`StabilityError` naming the bound, unless the caller passes ``substeps=True``, which splits
the step into the fewest equal sub-steps that satisfy it.

Besides the explicit schemes, :func:`heat_spectral` solves the same discrete heat problem exactly
in the eigenbasis of the 5-point Laplacian (DCT-II for Neumann, DST-I for Dirichlet boundaries),
either for the continuous-time flow or for ``n`` explicit Euler steps: one matrix product instead
of thousands of steps.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, Union

import torch
from torch import nn

from .stencils import (
    BoundaryCondition,
    average_to_edges,
    central_gradient_sq,
    check_finite,
    check_image,
    edge_differences,
    flux_divergence,
    laplacian,
)

Coefficient = Union[float, torch.Tensor]
DiffusivityName = Literal["rational", "exponential"]


class StabilityError(ValueError):
    """An explicit diffusion step whose time step breaks the stability bound."""


# --------------------------------------------------------------------------- helpers


def _as_coefficient(rho: Coefficient, u: torch.Tensor, name: str = "rho") -> torch.Tensor:
    """Broadcastable coefficient: () -> (1,1,1,1); (N,) -> (N,1,1,1); (N,C|1,H,W) kept."""
    r = rho if isinstance(rho, torch.Tensor) else torch.tensor(float(rho), dtype=torch.float64)
    r = r.to(dtype=u.dtype, device=u.device)
    n, c, h, w = u.shape
    if r.ndim == 0:
        return r.reshape(1, 1, 1, 1)
    if r.ndim == 1 and r.shape[0] in (1, n):
        return r.reshape(-1, 1, 1, 1)
    if r.ndim == 4 and r.shape[-2:] == (h, w) and r.shape[0] in (1, n) and r.shape[1] in (1, c):
        return r
    raise ValueError(
        f"{name} must be a scalar, a per-image tensor of shape ({n},) or a per-pixel field of shape "
        f"({n}, 1 or {c}, {h}, {w}); got shape {tuple(r.shape)}"
    )


def _is_field(r: torch.Tensor) -> bool:
    return r.shape[-2:] != (1, 1)


def _check_nonnegative(r: torch.Tensor, name: str) -> None:
    if bool((r.detach() < 0).any()):
        raise ValueError(f"{name} must be non-negative (backward diffusion is ill-posed); min is {float(r.min()):.4g}")


def number_of_steps(T: float, dt: float) -> int:
    """``T / dt`` as an integer, or a clear error when ``dt`` does not divide ``T``."""
    if dt <= 0 or T < 0:
        raise ValueError(f"need dt > 0 and T >= 0, got dt={dt}, T={T}")
    n = round(T / dt)
    if abs(n * dt - T) > 1e-9 * max(1.0, abs(T)):
        raise ValueError(f"T={T} is not a whole number of steps dt={dt}; choose dt = T / n")
    return n


def substep_count(dt: float, edge_sum_max: float, substeps: bool, what: str) -> int:
    """Number of equal sub-steps an explicit step of size ``dt`` needs to be stable.

    Args:
        edge_sum_max: the largest sum of the four edge coefficients around a pixel (4 rho for a
            constant diffusivity rho).
        substeps: when False an unstable step raises :class:`StabilityError`.
    """
    if edge_sum_max <= 0:
        return 1
    bound = 1.0 / edge_sum_max
    if dt <= bound * (1 + 1e-12):
        return 1
    if not substeps:
        raise StabilityError(
            f"unstable explicit {what} step: dt={dt:.6g} exceeds the bound dt <= 1/max(sum of edge "
            f"diffusivities) = {bound:.6g} (for a constant diffusivity rho: dt <= 1/(4 rho)); "
            "reduce dt, or pass substeps=True to split each step automatically"
        )
    return math.ceil(dt / bound - 1e-12)


def _edge_sum_max(cx: torch.Tensor, cy: torch.Tensor) -> float:
    s = cx[..., 1:] + cx[..., :-1] + cy[..., 1:, :] + cy[..., :-1, :]
    return float(s.detach().max())


# --------------------------------------------------------------------------- divergence form


def divergence_step(
    u: torch.Tensor,
    c: Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]],
    dt: float,
    bc: BoundaryCondition = "neumann",
    substeps: bool = False,
    check: bool = True,
) -> torch.Tensor:
    """One explicit step of ``u_t = div(c grad u)`` in conservative flux form.

    Args:
        u: images, shape (N, C, H, W).
        c: diffusivity, either per pixel with shape (N, C or 1, H, W) (averaged onto edges), or
            already on edges as ``(cx, cy)`` with shapes (N, C|1, H, W + 1) and (N, C|1, H + 1, W).
            Held fixed during the step (and its sub-steps).
        dt: time step.
        bc: ``"neumann"`` (zero flux, conserves the mean) or ``"dirichlet"`` (zero value).
        substeps: split an unstable step into stable sub-steps instead of raising.
        check: verify the stability bound (one device-to-host sync); pass False in hot loops
            where the bound is known to hold.
    Returns:
        shape (N, C, H, W).
    """
    cx, cy = c if isinstance(c, tuple) else average_to_edges(c)
    n_sub = substep_count(dt, _edge_sum_max(cx, cy), substeps, "divergence-form") if check else 1
    h = dt / n_sub
    for _ in range(n_sub):
        dx, dy = edge_differences(u, bc)
        u = u + h * flux_divergence(cx * dx, cy * dy)
    return u


# --------------------------------------------------------------------------- heat equation


def heat_step(u: torch.Tensor, rho: Coefficient, dt: float, bc: BoundaryCondition = "neumann") -> torch.Tensor:
    """One explicit Euler step of ``u_t = rho * Laplacian(u)`` (no stability check; see :func:`heat`).

    ``rho`` is a scalar, per image (N,), or a per-pixel field (N, 1|C, H, W); a field is used in
    divergence form ``div(rho grad u)`` with rho averaged onto edges.
    """
    r = _as_coefficient(rho, u)
    if _is_field(r):
        return divergence_step(u, r, dt, bc, check=False)
    return u + (dt * r) * laplacian(u, bc)


def heat(
    u0: torch.Tensor,
    rho: Coefficient = 1.0,
    T: float = 1.0,
    dt: float = 1e-3,
    bc: BoundaryCondition = "neumann",
    substeps: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """Solve ``v_t = rho * Laplacian(v)``, ``v(0) = u0``, by explicit Euler to time ``T``.

    Args:
        u0: initial images, shape (N, C, H, W), any value scale.
        rho: thermal diffusivity >= 0: a float, a per-image tensor of shape (N,), or a per-pixel
            field of shape (N, 1|C, H, W) (then the equation is ``div(rho grad v)``).
        T: final time; ``T / dt`` must be a whole number of steps.
        dt: time step; must satisfy ``dt <= 1 / (4 max rho)`` unless ``substeps=True``.
        bc: ``"neumann"`` (zero flux) or ``"dirichlet"`` (zero boundary values).
        progress: show a progress bar over the steps.
    Returns:
        v(T), shape (N, C, H, W).
    """
    check_image(u0, "u0")
    check_finite(u0, "u0")
    r = _as_coefficient(rho, u0)
    check_finite(r.detach(), "rho")
    _check_nonnegative(r, "rho")
    steps = number_of_steps(T, dt)
    if _is_field(r):
        cx, cy = average_to_edges(r)
        edge_max = _edge_sum_max(cx, cy)
    else:
        edge_max = 4.0 * float(r.detach().max())
    n_sub = substep_count(dt, edge_max, substeps, "heat")
    h = dt / n_sub
    u = u0
    it = range(steps * n_sub)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="heat", leave=False)
    # a constant rho that needs no gradient enters as a fused scalar multiply-add
    alpha = h * float(r) if (r.numel() == 1 and not r.requires_grad) else None
    for _ in it:
        if _is_field(r):
            u = divergence_step(u, (cx, cy), h, bc, check=False)  # edges averaged once, above
        elif alpha is not None:
            u = torch.add(u, laplacian(u, bc), alpha=alpha)
        else:
            u = u + (h * r) * laplacian(u, bc)
    return u


def laplacian_eigenbasis(n: int, bc: BoundaryCondition, dtype: torch.dtype = torch.float64,
                         device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal eigenvectors and eigenvalues of the 1-D 3-point Laplacian on n points.

    Returns:
        ``basis`` of shape (n, n) whose rows are the eigenvectors (DCT-II for ``"neumann"``, DST-I
        for ``"dirichlet"``), and ``eigenvalues`` of shape (n,), all in [-4, 0]. The 2-D 5-point
        Laplacian of an h x w image has eigenvalues ``lam_h[:, None] + lam_w[None, :]``. Cached.
    """
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
    steps = number_of_steps(T, dt)
    substep_count(dt, 4.0 * float(rho.detach().max()), False, "heat")
    return (1.0 + dt * rho * lam) ** steps


def heat_spectral(
    u0: torch.Tensor,
    rho: Coefficient = 1.0,
    T: float = 1.0,
    bc: BoundaryCondition = "neumann",
    dt: float | None = None,
) -> torch.Tensor:
    """Exact solution of the discrete heat problem in the eigenbasis of the 5-point Laplacian.

    With ``dt=None`` this is the semi-discrete flow ``exp(rho T L) u0``; with a time step it is the
    result of exactly ``T / dt`` explicit Euler steps, ``(I + dt rho L)^(T/dt) u0``, i.e. the same
    numbers :func:`heat` computes, at the cost of four matrix products. Differentiable in ``u0``
    and ``rho``.

    Args:
        u0: shape (N, C, H, W).
        rho: a float or a per-image tensor of shape (N,) (no per-pixel fields: use :func:`heat`).
    Returns:
        shape (N, C, H, W).
    """
    check_image(u0, "u0")
    check_finite(u0, "u0")
    r = _as_coefficient(rho, u0)
    if _is_field(r):
        raise ValueError("heat_spectral needs a scalar or per-image rho; use heat() for a per-pixel field")
    _check_nonnegative(r, "rho")
    h, w = u0.shape[-2:]
    dev = str(u0.device)
    bh, lh = _eigenbasis(h, bc, u0.dtype, dev)
    bw, lw = _eigenbasis(w, bc, u0.dtype, dev)
    mult = heat_multiplier(lh[:, None] + lw[None, :], r, T, dt)
    coeffs = bh @ u0 @ bw.T
    return bh.T @ (mult * coeffs) @ bw


# --------------------------------------------------------------------------- Perona–Malik


def perona_malik_diffusivity(s: torch.Tensor, K: Coefficient, kind: DiffusivityName = "rational") -> torch.Tensor:
    """Perona–Malik diffusivity of the squared gradient ``s = |grad u|^2``.

    ``"rational"``: ``1 / (1 + s / K^2)``; ``"exponential"``: ``exp(-s / K^2)``. Values in (0, 1].
    ``K`` is a contrast on the image's value scale: a float or a per-image tensor (N,).
    """
    k2 = K * K if not isinstance(K, torch.Tensor) else (K * K).reshape(-1, *([1] * (s.ndim - 1)))
    if kind == "rational":
        return 1.0 / (1.0 + s / k2)
    if kind == "exponential":
        return torch.exp(-s / k2)
    raise ValueError(f"unknown diffusivity {kind!r}; use 'rational' or 'exponential'")


def perona_malik_step(
    u: torch.Tensor,
    K: Coefficient,
    dt: float,
    diffusivity: DiffusivityName = "rational",
    bc: BoundaryCondition = "neumann",
    scheme: Literal["edge", "average"] = "edge",
) -> torch.Tensor:
    """One explicit step of Perona–Malik ``u_t = div(g(|grad u|^2) grad u)`` in flux form.

    Args:
        u: shape (N, C, H, W).
        K: contrast parameter on the image's value scale (float or per-image (N,)).
        dt: time step; g <= 1, so ``dt <= 1/4`` is always stable (checked by :func:`perona_malik`).
        scheme: ``"edge"`` evaluates g on each edge from the squared difference across it (the
            original 4-neighbour scheme of Perona and Malik, 1990); ``"average"`` evaluates g at
            pixel centres from central differences and averages it onto edges.
    Returns:
        shape (N, C, H, W).
    """
    dx, dy = edge_differences(u, bc)
    if scheme == "edge":
        cx = perona_malik_diffusivity(dx * dx, K, diffusivity)
        cy = perona_malik_diffusivity(dy * dy, K, diffusivity)
    elif scheme == "average":
        cx, cy = average_to_edges(perona_malik_diffusivity(central_gradient_sq(u, bc), K, diffusivity))
    else:
        raise ValueError(f"unknown scheme {scheme!r}; use 'edge' or 'average'")
    return u + dt * flux_divergence(cx * dx, cy * dy)


def perona_malik(
    u0: torch.Tensor,
    K: Coefficient,
    dt: float = 0.2,
    steps: int = 10,
    diffusivity: DiffusivityName = "rational",
    bc: BoundaryCondition = "neumann",
    scheme: Literal["edge", "average"] = "edge",
    substeps: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """Run ``steps`` explicit Perona–Malik steps of size ``dt`` (see :func:`perona_malik_step`).

    Since ``0 < g <= 1``, any ``dt <= 1/4`` is stable; a larger one raises
    :class:`StabilityError` unless ``substeps=True``.

    Returns:
        u(steps * dt), shape (N, C, H, W).
    """
    check_image(u0, "u0")
    check_finite(u0, "u0")
    if isinstance(K, torch.Tensor):
        _check_nonnegative(K, "K")
    elif K <= 0:
        raise ValueError(f"K must be positive, got {K}")
    n_sub = substep_count(dt, 4.0, substeps, "Perona-Malik")
    h = dt / n_sub
    it = range(steps * n_sub)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="Perona-Malik", leave=False)
    u = u0
    for _ in it:
        u = perona_malik_step(u, K, h, diffusivity, bc, scheme)
    return u


# --------------------------------------------------------------------------- modules


class HeatEquation(nn.Module):
    """Heat-equation denoiser ``v(T)`` as a module; ``rho`` optionally learnable (kept positive).

    Input and output: (N, C, H, W).
    """

    def __init__(self, rho: float = 1.0, T: float = 1.0, dt: float = 1e-3, bc: BoundaryCondition = "neumann",
                 learnable: bool = False, spectral: bool = False):
        super().__init__()
        log_rho = torch.tensor(math.log(rho))
        self.log_rho = nn.Parameter(log_rho) if learnable else None
        if not learnable:
            self.register_buffer("fixed_rho", torch.tensor(float(rho)))
        self.T, self.dt, self.bc, self.spectral = T, dt, bc, spectral

    @property
    def rho(self) -> torch.Tensor:
        return self.log_rho.exp() if self.log_rho is not None else self.fixed_rho

    def forward(self, u0: torch.Tensor) -> torch.Tensor:
        if self.spectral:
            return heat_spectral(u0, self.rho, self.T, self.bc, dt=self.dt)
        return heat(u0, self.rho, self.T, self.dt, self.bc)


class PeronaMalik(nn.Module):
    """Perona–Malik diffusion as a module (K a buffer or a learnable positive parameter)."""

    def __init__(self, K: float, dt: float = 0.2, steps: int = 10, diffusivity: DiffusivityName = "rational",
                 bc: BoundaryCondition = "neumann", scheme: Literal["edge", "average"] = "edge",
                 learnable: bool = False):
        super().__init__()
        log_k = torch.tensor(math.log(K))
        if learnable:
            self.log_K = nn.Parameter(log_k)
        else:
            self.register_buffer("log_K", log_k)
        self.dt, self.steps, self.diffusivity, self.bc, self.scheme = dt, steps, diffusivity, bc, scheme

    def forward(self, u0: torch.Tensor) -> torch.Tensor:
        return perona_malik(u0, self.log_K.exp(), self.dt, self.steps, self.diffusivity, self.bc, self.scheme)
