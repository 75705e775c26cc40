"""The classic diffusion denoisers: the heat equation and Perona–Malik, as functions and modules.

All solvers take images ``u`` of shape (N, C, H, W) on a unit grid, are differentiable with respect
to the image and to every coefficient (rho, K, a diffusivity field), and run on any device and
floating dtype (float16 and bfloat16 images are computed in float32 and the result rounded back once, see
:func:`pdedenoise.stencils.half_in_float32`). Every entry refuses NaN or infinite images and coefficients. Pixel values may be on any scale (0–255 or 0–1); the only scale-dependent
parameter is the Perona–Malik contrast K, which must be on the same scale as the image.

Every explicit step here is a call to the one shared step :func:`pdedenoise.solvers.explicit.flux_step`
(``u <- u + dt * div(c grad u)``); its stability is a certificate computed from the coefficients
(:mod:`pdedenoise.solvers.stability`): ``dt * (sum of the 4 edge coefficients around every pixel) <= 1``,
i.e. ``dt <= 1 / (4 rho)`` for a constant diffusivity and ``dt <= 1 / (4 sup g)`` for Perona–Malik. A
step beyond that bound raises :class:`StabilityError` naming the bound, unless the caller passes
``substeps=True``, which splits the step into the fewest equal sub-steps that satisfy it.

The exact solver of the discrete heat equation, :func:`heat_spectral`, lives in
:mod:`pdedenoise.solvers.spectral` and is importable from here.
"""
from __future__ import annotations

import math
from typing import Literal, Union

import torch
from torch import nn

from . import validate
from .diffusivities import Exponential, Rational, exponential, exponential_, rational, rational_
from .solvers import blocked, explicit
from .solvers.coefficients import EdgeDiffusivity, EdgeFunction, Edges, PixelDiffusivity
from .solvers import stability
from .solvers.explicit import ExplicitFlow, as_coefficient
from .solvers.spectral import heat_spectral
from .solvers.stability import StabilityError, number_of_steps
from .stencils import (BoundaryCondition, average_to_edges, central_gradient_sq, check_finite, check_image,
                       half_in_float32)

Coefficient = Union[float, torch.Tensor]
DiffusivityName = Literal["rational", "exponential"]
Scheme = Literal["edge", "average"]
_G = {"rational": (rational, rational_), "exponential": (exponential, exponential_)}

__all__ = ["heat", "heat_step", "heat_spectral", "divergence_step", "perona_malik", "perona_malik_step",
           "HeatEquation", "PeronaMalik", "StabilityError", "number_of_steps"]


def _check_nonnegative(r: torch.Tensor, name: str) -> None:
    if bool((r.detach() < 0).any()):
        raise ValueError(f"{name} must be non-negative (backward diffusion is ill-posed); min is {float(r.min()):.4g}")


def _needs_grad(*xs) -> bool:
    """True when autograd must record the solver (a tensor input requires a gradient)."""
    return torch.is_grad_enabled() and any(isinstance(x, torch.Tensor) and x.requires_grad for x in xs)


# --------------------------------------------------------------------------- divergence form


@half_in_float32
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
        c: diffusivity >= 0, either per pixel with shape (N, C or 1, H, W) (averaged onto edges), or
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
    check_image(u, "u")
    check_finite(u.detach(), "u")
    validate.number("dt", dt)
    coeff = Edges(*c) if isinstance(c, tuple) else c
    for part, name in ((coeff.x, "c (x edges)"), (coeff.y, "c (y edges)")) if isinstance(coeff, Edges) else \
            ((coeff, "c"),) if isinstance(coeff, torch.Tensor) else ():
        check_finite(part.detach(), name)  # a NaN coefficient has no stable step, checked or not
        _check_nonnegative(part, name)
    return explicit.flux_step(u, coeff, dt, bc, check=check, substeps=substeps, what="divergence-form")


# --------------------------------------------------------------------------- heat equation


@half_in_float32
def heat_step(u: torch.Tensor, rho: Coefficient, dt: float, bc: BoundaryCondition = "neumann") -> torch.Tensor:
    """One explicit Euler step of ``u_t = rho * Laplacian(u)`` (no stability check; see :func:`heat`).

    ``rho`` is a scalar, per image (N,), or a per-pixel field (N, 1|C, H, W); a field is used in
    divergence form ``div(rho grad u)`` with rho averaged onto edges.
    """
    check_image(u, "u")
    check_finite(u.detach(), "u")
    validate.number("dt", dt)  # unchecked single step: any finite dt (negative: a backward step)
    r = as_coefficient(rho, u)
    check_finite(r.detach(), "rho")
    return explicit.flux_step(u, r, dt, bc, check=False)


@half_in_float32
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
    r = as_coefficient(rho, u0)
    check_finite(r.detach(), "rho")
    _check_nonnegative(r, "rho")
    steps = number_of_steps(T, dt)
    coeff = explicit.resolve(r, u0, bc)  # a field is averaged onto the edges once, here
    n_sub = explicit.certificate(coeff, dt, what="heat").require(substeps)
    h = dt / n_sub
    steps_range, tick = blocked.steps_iter(steps * n_sub, "heat", progress)
    if not _needs_grad(u0, r):  # in place, cache-blocked: the same numbers, faster
        return blocked.evolve(u0, coeff, h, steps * n_sub, bc, every=tick)
    u = u0
    for k in steps_range:
        u = explicit.update(coeff, u, h, bc)
        if tick is not None:
            tick(k + 1)
    return u


# --------------------------------------------------------------------------- Perona–Malik


def _check_K(K: Coefficient, u: torch.Tensor) -> None:
    """K finite and > 0, its square representable in ``u``'s dtype, one value or one per image."""
    if isinstance(K, torch.Tensor):
        check_finite(K.detach(), "K")
        validate.per_image("K", K, u.shape[0])
        if K.ndim > 1 and K.numel() > 1:
            raise ValueError(f"K must be a number or one value per image (shape (N,)), got shape {tuple(K.shape)}")
        if bool((K.detach() <= 0).any()):
            raise ValueError(f"K must be > 0 (it is Perona-Malik's contrast, in the image's units); min is "
                             f"{float(K.detach().min()):.4g}")
        validate.squarable("K", float(K.detach().min()), u.dtype)
    else:
        validate.squarable("K", validate.positive("K", K, "K is Perona-Malik's contrast, in the image's units"),
                           u.dtype)


def _pm_coefficients(K: Coefficient, diffusivity: DiffusivityName, scheme: Scheme):
    """The coefficient model ``(u, dx, dy, bc) -> Edges`` of a Perona–Malik step."""
    if diffusivity not in _G:
        raise ValueError(f"unknown diffusivity {diffusivity!r}; use 'rational' or 'exponential'")
    g, g_ = _G[diffusivity]
    if scheme == "edge":
        return EdgeFunction(g, K, g_)
    if scheme == "average":
        return lambda u, dx, dy, bc: Edges(*average_to_edges(g(central_gradient_sq(u, bc), K)))
    raise ValueError(f"unknown scheme {scheme!r}; use 'edge' or 'average'")


@half_in_float32
def perona_malik_step(
    u: torch.Tensor,
    K: Coefficient,
    dt: float,
    diffusivity: DiffusivityName = "rational",
    bc: BoundaryCondition = "neumann",
    scheme: Scheme = "edge",
) -> torch.Tensor:
    """One explicit step of Perona–Malik ``u_t = div(g(|grad u|^2) grad u)`` in flux form.

    Args:
        u: shape (N, C, H, W).
        K: contrast parameter on the image's value scale (float or per-image (N,)).
        dt: time step; g <= 1, so ``dt <= 1/4`` is always stable (checked by :func:`perona_malik`, not here:
            any finite dt is taken, a negative one steps backwards).
        scheme: ``"edge"`` evaluates g on each edge from the squared difference across it (the
            original 4-neighbour scheme of Perona and Malik, 1990); ``"average"`` evaluates g at
            pixel centres from central differences and averages it onto edges.
    Returns:
        shape (N, C, H, W).
    """
    check_image(u, "u")
    check_finite(u.detach(), "u")
    _check_K(K, u)
    validate.number("dt", dt)  # any finite step: a negative one is a backward step, on purpose (no check here)
    return explicit.flux_step(u, _pm_coefficients(K, diffusivity, scheme), dt, bc, check=False)


@half_in_float32
def perona_malik(
    u0: torch.Tensor,
    K: Coefficient,
    dt: float = 0.2,
    steps: int = 10,
    diffusivity: DiffusivityName = "rational",
    bc: BoundaryCondition = "neumann",
    scheme: Scheme = "edge",
    substeps: bool = False,
    progress: bool = False,
    compile: bool = False,
) -> torch.Tensor:
    """Run ``steps`` explicit Perona–Malik steps of size ``dt`` (see :func:`perona_malik_step`).

    Both diffusivities are bounded by ``sup g = 1``, so any ``dt <= 1/4`` is stable; a larger one
    raises :class:`StabilityError` unless ``substeps=True``. Without gradients the steps run in place
    on cache-sized strips (:mod:`pdedenoise.solvers.blocked`; for the edge scheme in a fused form, equal to
    the autograd path's numbers to round-off); ``compile=True`` (edge scheme, no gradients) fuses each step
    into one compiled kernel instead (:mod:`pdedenoise.solvers.compiled`: results equal to round-off; after
    a first compilation of a few seconds, faster than the eager strips with the rational g, but slower with
    the exponential one, whose kernel evaluates four exponentials per pixel: see the book's speed page).

    Returns:
        u(steps * dt), shape (N, C, H, W).
    """
    check_image(u0, "u0")
    check_finite(u0, "u0")
    _check_K(K, u0)
    validate.positive("dt", dt, "dt is the time step")
    steps = validate.count("steps", steps)
    coeff = _pm_coefficients(K, diffusivity, scheme)
    sup = (Rational if diffusivity == "rational" else Exponential)().sup()
    cert = stability.Certificate(dt, stability.scalar_dt_max_from_sup(sup), "max", "Perona-Malik")
    n_sub = cert.require(substeps)
    h = dt / n_sub
    steps_range, tick = blocked.steps_iter(steps * n_sub, "Perona-Malik", progress)
    if compile and scheme == "edge" and not _needs_grad(u0, K):
        from .solvers import compiled

        return compiled.perona_malik(u0, K, h, steps * n_sub, diffusivity, bc, every=tick)
    if blocked.supported(coeff) and not _needs_grad(u0, K):  # in place, cache-blocked, fused: faster
        return blocked.evolve(u0, coeff, h, steps * n_sub, bc, every=tick)
    u = u0
    for k in steps_range:
        u = explicit.flux_step(u, coeff, h, bc, check=False)
        if tick is not None:
            tick(k + 1)
    return u


# --------------------------------------------------------------------------- modules


class HeatEquation(nn.Module):
    """Heat-equation denoiser ``v(T)`` as a module; ``rho`` optionally learnable (kept positive).

    Input and output: (N, C, H, W).
    """

    def __init__(self, rho: float = 1.0, T: float = 1.0, dt: float = 1e-3, bc: BoundaryCondition = "neumann",
                 learnable: bool = False, spectral: bool = False):
        super().__init__()
        validate.positive("rho", rho, "for no diffusion at all, do not apply the module")
        validate.nonnegative("T", T, "T is the diffusion time")
        validate.positive("dt", dt)
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


class PeronaMalik(ExplicitFlow):
    """Perona–Malik diffusion as an unrolled :class:`~pdedenoise.solvers.explicit.ExplicitFlow`.

    ``K`` is fixed or learnable (kept positive); the step is certified stable from ``sup g = 1``
    before every run. Input and output: (N, C, H, W).
    """

    def __init__(self, K: float, dt: float = 0.2, steps: int = 10, diffusivity: DiffusivityName = "rational",
                 bc: BoundaryCondition = "neumann", scheme: Scheme = "edge", learnable: bool = False):
        if diffusivity not in _G:
            raise ValueError(f"unknown diffusivity {diffusivity!r}; use 'rational' or 'exponential'")
        if scheme not in ("edge", "average"):
            raise ValueError(f"unknown scheme {scheme!r}; use 'edge' or 'average'")
        g = (Rational if diffusivity == "rational" else Exponential)(K, learnable)
        model = EdgeDiffusivity(g) if scheme == "edge" else PixelDiffusivity(g)
        super().__init__(model, steps, dt, bc)

    @property
    def K(self) -> torch.Tensor:
        return self.coefficients.g.K
