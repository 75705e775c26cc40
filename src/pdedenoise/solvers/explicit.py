"""The one explicit step every diffusion model of the book advances by, and unrolled flows of it.

    U  <-  U + dt * [ div(D grad U) - Lambda (U - U_ref) ]

on images ``U`` of shape (N, C, H, W), unit grid, 5-point flux form (:mod:`pdedenoise.stencils`), with
zero-flux (``"neumann"``) or zero-value (``"dirichlet"``) boundaries. ``D`` is any of

* a constant: a float, a 0-d tensor, or one value per image (N,) -- the heat equation ``rho Laplacian U``;
* a per-pixel field (N, C|1, H, W), averaged onto the edges -- ``div(rho(x) grad U)``;
* :class:`~pdedenoise.solvers.coefficients.Edges`: scalar diffusivities on the edges, per channel;
* :class:`~pdedenoise.solvers.coefficients.Blocks`: C x C matrices on the edges (cross-diffusion);
* a coefficient model ``D(u, dx, dy, bc)`` returning one of the last two from the current state, e.g.
  Perona–Malik, a learned diffusivity, ``g(v) B`` (:mod:`pdedenoise.solvers.coefficients`).

``Lambda >= 0`` is an optional reaction (a float or a tensor broadcastable to (N, C, H, W)), pulling
``U`` towards ``U_ref``. Heat, Perona–Malik, divergence-form steps, learned diffusivities and
cross-diffusion are all calls to :func:`flux_step`; :class:`ExplicitFlow` unrolls it for ``T`` steps with
shared or per-step parameters (as in TNRD and the book's learned chapters).

Stability (:mod:`pdedenoise.solvers.stability`) is checked from the step's coefficients (one
device-to-host transfer) unless ``check=False``; an unstable step raises
:class:`~pdedenoise.solvers.stability.StabilityError` naming the bound, or is split into equal sub-steps
with ``substeps=True`` (coefficients held fixed over the sub-steps). Everything is differentiable in
the image and every coefficient, on any device and floating dtype.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence, Union

import torch
from torch import nn

from .. import validate
from ..stencils import (BoundaryCondition, average_to_edges, check_bc, check_finite, check_image, edge_differences,
                        flux_divergence, laplacian)
from . import blocked, stability
from .coefficients import Blocks, Edges

CoefficientLike = Union[float, torch.Tensor, Edges, Blocks, Callable]


def as_coefficient(rho: float | torch.Tensor, u: torch.Tensor, name: str = "rho") -> torch.Tensor:
    """A broadcastable coefficient in ``u``'s dtype and device.

    ``()`` -> (1, 1, 1, 1); ``(N,)`` -> (N, 1, 1, 1); a field (N|1, C|1, H, W) or an already
    broadcastable (N|1, C|1, 1, 1) tensor is kept.
    """
    r = rho if isinstance(rho, torch.Tensor) else torch.tensor(float(rho), dtype=torch.float64)
    r = r.to(dtype=u.dtype, device=u.device)
    n, c, h, w = u.shape
    if r.ndim == 0:
        return r.reshape(1, 1, 1, 1)
    if r.ndim == 1 and r.shape[0] in (1, n):
        return r.reshape(-1, 1, 1, 1)
    if r.ndim == 4 and r.shape[-2:] in ((h, w), (1, 1)) and r.shape[0] in (1, n) and r.shape[1] in (1, c):
        return r
    raise ValueError(
        f"{name} must be a scalar, a per-image tensor of shape ({n},) or a per-pixel field of shape "
        f"({n}, 1 or {c}, {h}, {w}); got shape {tuple(r.shape)}"
    )


def is_field(r: torch.Tensor) -> bool:
    """True for a per-pixel coefficient (as returned by :func:`as_coefficient`)."""
    return r.shape[-2:] != (1, 1)


def _reaction_tensor(reaction, u: torch.Tensor) -> torch.Tensor | float:
    if isinstance(reaction, torch.Tensor):
        lam = reaction.to(dtype=u.dtype, device=u.device)
        if lam.ndim == 1 and lam.shape[0] == u.shape[1]:
            lam = lam.reshape(1, -1, 1, 1)
        return lam
    return float(reaction)


class Resolved(NamedTuple):
    """Coefficients of one step in a form the update uses directly.

    ``kind`` is ``"constant"`` (``value`` a (N|1, 1, 1, 1) tensor), ``"edges"`` (:class:`Edges`) or
    ``"blocks"`` (:class:`Blocks`); ``diffs`` the edge differences of the state they were computed from
    (reused by the first update), or None.
    """

    kind: str
    value: Any
    diffs: tuple[torch.Tensor, torch.Tensor] | None = None


def resolve(coeff: CoefficientLike, u: torch.Tensor, bc: BoundaryCondition = "neumann") -> Resolved:
    """Turn any accepted coefficient form (module docstring) into a :class:`Resolved` for state ``u``."""
    if isinstance(coeff, Resolved):
        return coeff
    if isinstance(coeff, Blocks):
        return Resolved("blocks", coeff)
    if isinstance(coeff, Edges):
        return Resolved("edges", coeff)
    if isinstance(coeff, (float, int, torch.Tensor)):
        r = as_coefficient(coeff, u)
        if is_field(r):
            return Resolved("edges", Edges(*average_to_edges(r)))
        return Resolved("constant", r)
    if callable(coeff):
        dx, dy = edge_differences(u, bc)
        out = coeff(u, dx, dy, bc)
        if isinstance(out, Blocks):
            return Resolved("blocks", out, (dx, dy))
        if isinstance(out, Edges):
            return Resolved("edges", out, (dx, dy))
        raise TypeError(f"a coefficient model must return Edges or Blocks, got {type(out).__name__}")
    raise TypeError(f"unsupported coefficient {type(coeff).__name__}: use a number, a tensor, Edges, Blocks "
                    "or a coefficient model")


def certificate(coeff: Resolved, dt: float, reaction=None, what: str = "explicit") -> stability.Certificate:
    """The stability certificate of one step (see :mod:`.stability`): maximum principle for scalar
    coefficients, l2 for blocks; computed in float64 from the actual coefficients (one sync)."""
    kind, value = coeff.kind, coeff.value
    lam = 0.0
    if reaction is not None:
        lam_t = torch.as_tensor(reaction).detach()
        stability._finite(lam_t, "reaction coefficient")
        if float(lam_t.min()) < 0:
            raise ValueError(f"reaction coefficient must be non-negative, min is {float(lam_t.min()):.4g}")
        lam = float(lam_t.max())
    if kind == "constant":
        stability._finite(value.detach(), "diffusivity")
        lo = float(value.detach().min())
        if lo < 0:
            raise ValueError(f"diffusivity must be non-negative (backward diffusion is ill-posed); min is {lo:.4g}")
        return stability.Certificate(dt, stability.scalar_dt_max_from_sup(float(value.detach().max()), lam),
                                     "max", what)
    if kind == "edges":
        return stability.Certificate(dt, stability.scalar_dt_max(value.x, value.y, reaction), "max", what)
    return stability.Certificate(dt, stability.block_dt_max(value.x, value.y, lam), "l2", what)


def divergence(coeff: Resolved, u: torch.Tensor, bc: BoundaryCondition = "neumann",
               diffs: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """``div(D grad u)``, (N, C, H, W), for resolved coefficients."""
    kind, value = coeff.kind, coeff.value
    if kind == "constant":
        return value * laplacian(u, bc)
    dx, dy = diffs if diffs is not None else edge_differences(u, bc)
    if kind == "edges":
        return flux_divergence(value.x * dx, value.y * dy)
    fx = (value.x * dx.unsqueeze(1)).sum(dim=2)
    fy = (value.y * dy.unsqueeze(1)).sum(dim=2)
    return flux_divergence(fx, fy)


def update(coeff: Resolved, u: torch.Tensor, h: float, bc: BoundaryCondition = "neumann", reaction=None,
           reference: torch.Tensor | None = None, diffs: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """The update itself, ``u + h [div(D grad u) - reaction (u - reference)]``, with no check."""
    if reaction is None:
        if coeff.kind == "constant":
            if coeff.value.numel() == 1 and not coeff.value.requires_grad:  # fused scalar multiply-add
                return torch.add(u, laplacian(u, bc), alpha=h * float(coeff.value))
            return u + (h * coeff.value) * laplacian(u, bc)
        return u + h * divergence(coeff, u, bc, diffs)
    return u + h * (divergence(coeff, u, bc, diffs) - reaction * (u - reference))


def flux_step(
    u: torch.Tensor,
    coeff: CoefficientLike,
    dt: float,
    bc: BoundaryCondition = "neumann",
    reaction: float | torch.Tensor | None = None,
    reference: torch.Tensor | None = None,
    check: bool = True,
    substeps: bool = False,
    what: str = "explicit",
) -> torch.Tensor:
    """One explicit step ``u + dt [div(D grad u) - reaction (u - reference)]`` (see the module docstring).

    Args:
        u: state, (N, C, H, W), any value scale.
        coeff: the coefficients ``D`` in any of the forms of the module docstring; a coefficient model is
            evaluated once, on ``u``, and held fixed over sub-steps.
        dt: time step.
        bc: ``"neumann"`` (zero flux: conserves each channel's mean without reaction) or ``"dirichlet"``.
        reaction: ``Lambda >= 0`` (float or tensor broadcastable to (N, C, H, W), or (C,)); needs ``reference``.
        reference: ``U_ref``, (N, C, H, W).
        check: verify the stability certificate (one sync); pass False in hot loops whose bound is known.
        substeps: split an unstable step into equal stable sub-steps instead of raising.
    Returns:
        (N, C, H, W).
    """
    if reaction is not None:
        if reference is None:
            raise ValueError("a reaction term needs the reference state: pass reference=U_ref")
        reaction = _reaction_tensor(reaction, u)
    coeff = resolve(coeff, u, bc)
    n_sub = certificate(coeff, dt, reaction, what).require(substeps) if check else 1
    h = dt / n_sub
    for k in range(n_sub):
        u = update(coeff, u, h, bc, reaction, reference, coeff.diffs if k == 0 else None)
    return u


# --------------------------------------------------------------------------- unrolled flows


class ExplicitFlow(nn.Module):
    """``T`` explicit steps ``U^t = U^{t-1} + dt [div(D_t(U^{t-1}) grad U^{t-1}) - Lambda_t (U^{t-1} - U^0)]``.

    Args:
        coefficients: one coefficient model shared by every step, or a sequence of ``steps`` models (one per
            step, as in TNRD's stages); models are called as ``model(u, dx, dy, bc)``.
        steps: T.
        dt: the step size of every step.
        bc: boundary condition.
        reaction: None, a float, or a module (or a sequence of ``steps`` modules) returning ``Lambda >= 0``
            broadcastable to the state, e.g. :class:`~pdedenoise.solvers.coefficients.Reaction`.
        check: ``"bound"`` verifies the data-free certificate of every step (from the parameters, float64)
            before running, and falls back to checking the actual coefficients for models that state no bound;
            ``"data"`` checks the actual coefficients at every step (one sync per step); ``"off"`` checks
            nothing (for models that are unstable on purpose, e.g. a faithful reproduction).
    Input and output: (N, C, H, W); the reference ``U^0`` is the input unless given.
    """

    def __init__(self, coefficients: nn.Module | Sequence[nn.Module], steps: int, dt: float,
                 bc: BoundaryCondition = "neumann", reaction=None, check: str = "bound"):
        super().__init__()
        steps = validate.count("steps", steps)
        dt = validate.positive("dt", dt, "dt is the time step")
        if check not in ("bound", "data", "off"):
            raise ValueError(f"check must be 'bound', 'data' or 'off', got {check!r}")
        self.per_step = isinstance(coefficients, (list, tuple, nn.ModuleList))
        if self.per_step and len(coefficients) != steps:
            raise ValueError(f"{len(coefficients)} coefficient models for {steps} steps")
        self.coefficients = nn.ModuleList(coefficients) if self.per_step else coefficients
        if isinstance(reaction, (list, tuple, nn.ModuleList)):
            if len(reaction) != steps:
                raise ValueError(f"{len(reaction)} reaction terms for {steps} steps")
            self.reaction = nn.ModuleList(reaction)
        else:
            self.reaction = reaction
        check_bc(bc)
        self.steps, self.dt, self.bc, self.check = steps, float(dt), bc, check

    def coefficient(self, t: int) -> nn.Module:
        """The coefficient model of step ``t`` (0-based)."""
        return self.coefficients[t] if self.per_step else self.coefficients

    def reaction_at(self, t: int):
        """``Lambda`` of step ``t``: None, a float or a tensor."""
        r = self.reaction
        if isinstance(r, nn.ModuleList):
            r = r[t]
        return r() if isinstance(r, nn.Module) else r

    def _reaction_sup(self, t: int) -> float:
        r = self.reaction[t] if isinstance(self.reaction, nn.ModuleList) else self.reaction
        if r is None:
            return 0.0
        if isinstance(r, nn.Module):
            return r.sup() if hasattr(r, "sup") else float(r().detach().max())
        return float(torch.as_tensor(r).max())

    def check_parameters(self) -> None:
        """Refuse parameters or buffers holding NaN or inf (a certificate computed from them would mean nothing,
        and the flow would output NaN): a ValueError naming the first one."""
        for name, t in [*self.named_parameters(), *self.named_buffers()]:
            if t.is_floating_point() and not bool(torch.isfinite(t.detach()).all()):
                raise ValueError(f"the flow's parameter {name} holds NaN or infinite values: its diffusion is "
                                 "undefined; set it to a finite value (or reload the model)")

    def certificates(self) -> list[stability.Certificate]:
        """The data-free certificate of every step, from the parameters (float64); ``dt_max`` is nan for a
        model that states no bound. Raises ValueError for a parameter that is NaN or infinite."""
        self.check_parameters()
        def bound(model, t):  # a plain callable states no bound: nan, checked on the data
            return float(model.dt_max(self._reaction_sup(t))) if hasattr(model, "dt_max") else math.nan

        return [stability.Certificate(self.dt, bound(self.coefficient(t), t),
                                      getattr(self.coefficient(t), "norm", "max"), f"flow step {t + 1}")
                for t in range(self.steps)]

    def _checked(self) -> list[bool]:
        """Per step, True when no data check is needed: the certificate holds (``check="bound"``, raises when it
        fails) or checks are off."""
        return self._prechecked() if self.check == "bound" else [self.check == "off"] * self.steps

    def _prechecked(self) -> list[bool]:
        """Per step, True when the data-free certificate holds (raises when it fails)."""
        ok = []
        for cert in self.certificates():
            if math.isnan(cert.dt_max):
                ok.append(False)
            else:
                cert.require()
                ok.append(True)
        return ok

    def step(self, u: torch.Tensor, t: int, reference: torch.Tensor, check_data: bool) -> torch.Tensor:
        """Step ``t`` (0-based) from state ``u``."""
        lam = self.reaction_at(t)
        return flux_step(u, self.coefficient(t), self.dt, self.bc, reaction=lam,
                         reference=reference if lam is not None else None, check=check_data,
                         what=f"flow step {t + 1}")

    def forward(self, u0: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        check_image(u0, "u0")
        check_finite(u0.detach(), "u0")
        if reference is not None:
            check_image(reference, "reference")
            check_finite(reference.detach(), "reference")
        if self.check == "off":
            self.check_parameters()  # checked by the certificates otherwise
        ref = u0 if reference is None else reference
        checked = self._checked()
        if self._blockable(u0, checked):  # no gradients: in place on cache-sized strips (same numbers, to round-off)
            if not self.per_step:
                return blocked.evolve(u0, self.coefficients, self.dt, self.steps, self.bc)
            u = u0
            for t in range(self.steps):
                u = blocked.evolve(u, self.coefficient(t), self.dt, 1, self.bc)
            return u
        u = u0
        for t in range(self.steps):
            u = self.step(u, t, ref, check_data=not checked[t])
        return u

    def _blockable(self, u0: torch.Tensor, checked: list[bool]) -> bool:
        if self.reaction is not None or not all(checked):
            return False
        if torch.is_grad_enabled() and (u0.requires_grad or any(p.requires_grad for p in self.parameters())):
            return False
        models = self.coefficients if self.per_step else [self.coefficients]
        return all(blocked.supported(m) for m in models)

    @torch.no_grad()
    def trace(self, u0: torch.Tensor, reference: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``[U^0, U^1, ..., U^T]`` without gradients."""
        ref = u0 if reference is None else reference
        checked = self._checked()
        states = [u0]
        for t in range(self.steps):
            states.append(self.step(states[-1], t, ref, check_data=not checked[t]))
        return states
