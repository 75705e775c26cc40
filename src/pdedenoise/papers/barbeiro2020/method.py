"""Barbeiro and Lobo (2019/2020): learned nonlinear cross-diffusion with reaction, as we reconstruct it.

Only the paper's abstract and introduction could be read; the model below is our reconstruction from them and
from the authors' earlier cross-diffusion papers (Araújo, Barbeiro, Cuesta, Durán 2017), built on the book's
explicit solver (:class:`~pdedenoise.solvers.explicit.ExplicitFlow`). A grey image ``f`` becomes two fields
``U = (u, v)`` with ``U^0 = (f, 0)``; ``T`` stages of the explicit 5-point flux scheme with zero-flux boundaries

    ``U^t = U^{t-1} + tau [div(D_t(v^{t-1}) grad U^{t-1}) - Lambda_t (U^{t-1} - U^0)]``

with a nondiagonal 2 x 2 matrix ``D_t = g_t(v) B_t``: ``g_t`` an influence function of the edge field ``v``
(a Gaussian radial-basis expansion, as in TNRD), ``B_t`` a learned matrix, ``Lambda_t >= 0`` a diagonal
reaction. The restored image is ``u^T``; ``v`` is left free (it is not in the loss) and acts as an edge detector.

**Stability by construction** (``constrained=True``): ``g_t = cap * sigmoid(RBF expansion)``
(:class:`~pdedenoise.diffusivities.BoundedRBF`), so ``0 < g < cap`` with any value inside reachable;
``B_t`` from :class:`~pdedenoise.solvers.coefficients.StableBlock` for step ``tau``, that bound and the reaction's
cap; ``Lambda_t = cap * sigmoid``. Every parameter value then satisfies the l2 certificate of every stage (checked
from the parameters in float64 by :meth:`CrossDiffusion.margins`). The **unconstrained control** (``constrained=
False``) has free RBF weights, a free matrix and a softplus reaction: the same model, no guarantee.

Special cases from the same code: linear cross-diffusion (``g = 1``: :func:`linear_cross_diffusion`), Gilboa's
nonlinear complex diffusion (``g = 1 / (1 + (v / (k theta))^2)``, ``B`` a rotation by theta: :func:`ncdf`), and
with ``B`` diagonal and ``v = 0`` a linear diffusion of ``u`` (Perona–Malik is the scalar sibling with ``g`` of
``|grad u|``, :func:`pdedenoise.diffusion.perona_malik`, on the same solver).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...diffusivities import BoundedRBF, Diffusivity, GaussianRBF, Rational
from ...solvers import coefficients as C
from ...solvers.explicit import ExplicitFlow


class Constant(Diffusivity):
    """``g = value`` everywhere (linear cross-diffusion)."""

    def __init__(self, value: float = 1.0):
        super().__init__()
        self.register_buffer("value", torch.tensor(float(value)))
        self.domain = (-math.inf, math.inf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.to(x.dtype).expand_as(x)

    def sup(self) -> float:
        return float(self.value)

    def nonnegative(self) -> bool:
        return float(self.value) >= 0


def two_fields(f: torch.Tensor) -> torch.Tensor:
    """``U^0 = (f, 0)``: (N, 1, H, W) -> (N, 2, H, W)."""
    return torch.cat([f, torch.zeros_like(f)], dim=1)


class CrossDiffusion(nn.Module):
    """``T`` stages of learned cross-diffusion with reaction (module docstring). (N, 1, H, W) -> (N, 1, H, W), 0–255.

    Args:
        stages: T.
        tau: the explicit step.
        constrained: stability by construction (True) or the unconstrained control (False).
        centers: RBF centres of each influence function, equally spaced on ``[-v_range, v_range]``.
        v_range: the span of ``v`` the RBFs cover (grey levels).
        g_cap: the bound of ``g`` (constrained).
        reaction_cap: the bound of each ``Lambda_t`` (constrained; ``tau * reaction_cap < 2``).
        init_B: the starting matrix of every stage (its symmetric part positive definite).
    """

    def __init__(self, stages: int = 5, tau: float = 0.2, constrained: bool = True, centers: int = 63,
                 v_range: float = 32.0, g_cap: float = 1.0, reaction_cap: float = 0.5,
                 init_B: torch.Tensor | None = None, init_reaction: float = 0.05):
        super().__init__()
        B0 = init_B if init_B is not None else torch.tensor([[1.0, -0.3], [0.3, 0.6]])
        coeffs, reactions = [], []
        for _ in range(stages):
            # both variants start from the same model: the stable block's version of B0 (scaled to be admissible)
            stable = C.StableBlock(2, dt=tau, g_sup=g_cap, reaction_sup=reaction_cap,
                                   init=B0 * 0.9 * _admissible_scale(B0, tau, g_cap, reaction_cap))
            if constrained:
                g, block = BoundedRBF(centers, -v_range, v_range, cap=g_cap, init=0.5 * g_cap), stable
                reactions.append(C.Reaction(2, init=init_reaction, cap=reaction_cap))
            else:  # free RBF weights starting near the same g, the same matrix left free, a softplus reaction
                g = GaussianRBF(centers, -v_range, v_range, cap=None, init=0.5 * g_cap)
                block = C.FreeBlock(2, init=stable().detach())
                reactions.append(C.Reaction(2, init=init_reaction))
            coeffs.append(C.FieldBlocks(g, block, channel=1, feature="v"))
        self.flow = ExplicitFlow(coeffs, steps=stages, dt=tau, reaction=reactions,
                                 check="bound" if constrained else "off")
        self.constrained, self.tau = constrained, tau

    @property
    def stages(self) -> int:
        return self.flow.steps

    def fields(self, f: torch.Tensor) -> torch.Tensor:
        """``U^T`` (N, 2, H, W): the restored image and the edge field."""
        U0 = two_fields(f)
        return self.flow(U0, reference=U0)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.fields(f)[:, :1]

    @torch.no_grad()
    def trace(self, f: torch.Tensor) -> list[torch.Tensor]:
        """``[U^0, ..., U^T]``, each (N, 2, H, W)."""
        U0 = two_fields(f)
        return self.flow.trace(U0, reference=U0)

    def margins(self) -> list[float]:
        """Per stage, ``1 - tau / dt_max`` from the parameters alone (float64): >= 0 when the stage is certified
        stable for every state, negative (or -inf when no step is stable) otherwise."""
        out = []
        for cert in self.flow.certificates():
            out.append(1.0 - cert.dt / cert.dt_max if cert.dt_max > 0 else -math.inf)
        return out

    def count_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _admissible_scale(B: torch.Tensor, tau: float, g_sup: float, reaction_sup: float) -> float:
    """The largest ``s`` with ``tau`` admissible for ``D = g_sup s B`` (so that a start ``0.9 s B`` is inside)."""
    from ...solvers import stability

    Bd = B.double()[None, :, :, None]
    dt = stability.block_dt_max(g_sup * Bd, g_sup * Bd, reaction_sup)
    return min(1.0, dt / tau)


def ncdf(theta: float, k: float, stages: int, tau: float) -> ExplicitFlow:
    """Gilboa's nonlinear complex diffusion as a real 2 x 2 system: ``D = R(theta) / (1 + (v / (k theta))^2)``.

    Returns the flow on ``U = (u, v)`` (call it on :func:`two_fields` of the image; ``v`` is the imaginary part,
    about ``theta t`` times the Laplacian of ``u`` for small ``theta``)."""
    coeff = C.FieldBlocks(Rational(k * theta), C.RotationBlock(theta), channel=1, feature="v^2")
    return ExplicitFlow(coeff, stages, tau, check="data")


def linear_cross_diffusion(B: torch.Tensor, stages: int, tau: float) -> ExplicitFlow:
    """``g = 1`` and a constant 2 x 2 matrix ``B``: linear cross-diffusion (checked on the data)."""
    return ExplicitFlow(C.FieldBlocks(Constant(1.0), C.FreeBlock(2, init=B), channel=1), stages, tau, check="data")


class TwoFieldDenoiser(nn.Module):
    """Run a flow on ``(f, 0)`` and return ``u``: (N, 1, H, W) -> (N, 1, H, W) (for the hand-set models)."""

    def __init__(self, flow: ExplicitFlow):
        super().__init__()
        self.flow = flow

    @torch.no_grad()
    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.flow(two_fields(f.double())).float()[:, :1]

    @torch.no_grad()
    def fields(self, f: torch.Tensor) -> torch.Tensor:
        return self.flow(two_fields(f.double())).float()
