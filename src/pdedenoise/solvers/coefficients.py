"""What an explicit flux step diffuses with: coefficients on the grid's edges, and models that make them.

Two containers, both on the edges of :mod:`pdedenoise.stencils` (boundary edges included):

:class:`Edges`
    one scalar diffusivity per edge and channel: ``x`` (N, C|1, H, W + 1), ``y`` (N, C|1, H + 1, W);
    each channel diffuses on its own (``C = 1`` broadcasts over channels).
:class:`Blocks`
    a C x C matrix per edge, coupling the channels (cross-diffusion): ``x`` (N, C, C, H, W + 1),
    ``y`` (N, C, C, H + 1, W); size-1 dimensions broadcast. The flux of channel a is
    ``sum_b D_ab * (difference of channel b)``.

Coefficient models are :class:`torch.nn.Module` s called as ``model(u, dx, dy, bc)`` with the current
state ``u`` (N, C, H, W) and its edge differences, returning :class:`Edges` or :class:`Blocks`; each
states :meth:`CoefficientModel.dt_max`, the admissible step for *any* state, computed from its
parameters alone in float64 (``nan`` when no such bound exists). The solver
(:func:`pdedenoise.solvers.explicit.flux_step`, :class:`pdedenoise.solvers.explicit.ExplicitFlow`)
accepts any callable with that signature.

Models here: :class:`EdgeDiffusivity` (g of the squared difference across each edge: Perona and
Malik's own scheme), :class:`PixelDiffusivity` (g of the squared central gradient at pixels, averaged
onto edges), :class:`FieldBlocks` (``D = g(v) B``: a diffusivity of one channel times a C x C matrix, the
cross-diffusion family; nonlinear complex diffusion is ``B`` = a rotation). Matrices ``B`` come from
:class:`RotationBlock`, :class:`StableBlock` (l2-stable by construction for a given step) or
:class:`FreeBlock` (unconstrained).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import nn

from .. import validate
from ..diffusivities import Diffusivity
from ..stencils import BoundaryCondition, average_to_edges, central_gradient_sq
from . import stability


class Edges(NamedTuple):
    """Scalar diffusivities on the edges: ``x`` (N, C|1, H, W + 1), ``y`` (N, C|1, H + 1, W)."""

    x: torch.Tensor
    y: torch.Tensor


class Blocks(NamedTuple):
    """C x C matrices on the edges: ``x`` (N, C, C, H, W + 1), ``y`` (N, C, C, H + 1, W) (size-1 dims broadcast)."""

    x: torch.Tensor
    y: torch.Tensor


class CoefficientModel(nn.Module):
    """Base class: ``forward(u, dx, dy, bc) -> Edges | Blocks`` and a data-free step bound.

    ``norm`` names the certificate's kind: ``"max"`` (maximum principle) for scalar coefficients,
    ``"l2"`` for blocks.
    """

    norm = "max"

    def dt_max(self, reaction_sup: float = 0.0) -> float:
        """The largest step that is stable for every state, from the parameters alone (float64); 0 when no
        step is (e.g. a diffusivity that can turn negative); ``nan`` when the model cannot say."""
        return math.nan


class EdgeFunction:
    """``c = g(d^2, K)`` on each edge from a fixed function (no parameters to learn), e.g. Perona–Malik with
    a given contrast K: the coefficient model ``(u, dx, dy, bc) -> Edges`` of Perona and Malik's scheme.

    Args:
        g: elementwise ``(s, K) -> c``.
        K: its parameter: a float, or one value per image (N,).
        g_: the same in place (``s`` overwritten and returned), bit-identical to ``g``; lets the
            cache-blocked solver (:mod:`.blocked`) skip a temporary. Optional.
    """

    def __init__(self, g: Callable, K, g_: Callable | None = None):
        if isinstance(K, torch.Tensor):
            if not bool(torch.isfinite(K.detach()).all()) or bool((K.detach() <= 0).any()):
                raise ValueError("K must hold finite values > 0 (the contrast, in the image's units)")
        else:
            K = validate.positive("K", K, "K is the contrast, in the image's units")
        self.fn, self.K, self.fn_ = g, K, g_

    def g(self, s: torch.Tensor) -> torch.Tensor:
        return self.fn(s, self.K)

    @property
    def g_(self) -> Callable | None:
        return None if self.fn_ is None else (lambda s: self.fn_(s, self.K))

    def images(self, index: slice) -> "EdgeFunction":
        """The same function for the images ``index`` of the batch (a per-image K is sliced)."""
        per_image = isinstance(self.K, torch.Tensor) and self.K.ndim > 0 and self.K.shape[0] > 1
        return EdgeFunction(self.fn, self.K[index] if per_image else self.K, self.fn_)

    def __call__(self, u: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, bc: BoundaryCondition) -> Edges:
        return Edges(self.g(dx * dx), self.g(dy * dy))


def _covers(g: Diffusivity, low: float) -> bool:
    """True when ``g``'s stated domain contains every feature value in ``[low, inf)``: only then does ``g.sup()``
    bound the coefficients for any state (e.g. a monomial on [0, 1] does not bound ``g(d^2)``)."""
    domain = getattr(g, "domain", (0.0, math.inf))
    return domain[0] <= low and domain[1] == math.inf


class EdgeDiffusivity(CoefficientModel):
    """``c = g(d^2)`` on each edge, ``d`` the difference across it (Perona and Malik's 4-neighbour scheme)."""

    g_ = None  # no in-place twin for a learnable g

    def __init__(self, g: Diffusivity):
        super().__init__()
        self.g = g

    @property
    def elementwise(self) -> bool:
        """True when g is a function of one variable applied to each edge (the cache-blocked solver's case)."""
        return self.g.in_features == 1 and not getattr(self.g, "log", False)

    def forward(self, u: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, bc: BoundaryCondition) -> Edges:
        return Edges(self.g(dx * dx), self.g(dy * dy))

    def dt_max(self, reaction_sup: float = 0.0) -> float:
        if hasattr(self.g, "check_parameters"):
            self.g.check_parameters()
        if not _covers(self.g, 0.0):
            return math.nan  # g's bound does not hold for every squared difference: check the data
        return stability.scalar_dt_max_from_sup(self.g.sup(), reaction_sup) if self.g.nonnegative() else 0.0


class PixelDiffusivity(CoefficientModel):
    """``c = g(|grad u|^2)`` at pixel centres (central differences), averaged onto the edges."""

    def __init__(self, g: Diffusivity):
        super().__init__()
        self.g = g

    def forward(self, u: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, bc: BoundaryCondition) -> Edges:
        return Edges(*average_to_edges(self.g(central_gradient_sq(u, bc))))

    def dt_max(self, reaction_sup: float = 0.0) -> float:
        if hasattr(self.g, "check_parameters"):
            self.g.check_parameters()
        if not _covers(self.g, 0.0):
            return math.nan  # g's bound does not hold for every squared difference: check the data
        return stability.scalar_dt_max_from_sup(self.g.sup(), reaction_sup) if self.g.nonnegative() else 0.0


# --------------------------------------------------------------------------- C x C blocks


def rotation(theta: torch.Tensor | float) -> torch.Tensor:
    """The 2 x 2 rotation ``[[cos, -sin], [sin, cos]]`` (differentiable in ``theta``)."""
    t = torch.as_tensor(theta, dtype=torch.get_default_dtype()) if not isinstance(theta, torch.Tensor) else theta
    c, s = torch.cos(t), torch.sin(t)
    return torch.stack([torch.stack([c, -s]), torch.stack([s, c])])


class RotationBlock(nn.Module):
    """``B = R(theta)``: with ``g(v)`` this is Gilboa's nonlinear complex diffusion written as a real system.
    ``theta`` fixed (a buffer) or learnable."""

    def __init__(self, theta: float, learnable: bool = False):
        super().__init__()
        theta = validate.number("theta", theta)
        if learnable:
            self.theta = nn.Parameter(torch.tensor(float(theta)))
        else:
            self.register_buffer("theta", torch.tensor(float(theta), dtype=torch.float64))  # exact; cast by use

    def forward(self) -> torch.Tensor:
        return rotation(self.theta)


class FreeBlock(nn.Module):
    """An unconstrained C x C matrix (the control that the stability certificate can reject)."""

    def __init__(self, channels: int = 2, init: torch.Tensor | None = None):
        super().__init__()
        if init is not None:
            if not isinstance(init, torch.Tensor) or init.ndim != 2 or init.shape[0] != init.shape[1]:
                raise ValueError(f"init must be a square (C, C) tensor, got {getattr(init, 'shape', type(init))}")
            if not bool(torch.isfinite(init).all()):
                raise ValueError("init holds NaN or infinite values")
        else:
            channels = validate.count("channels", channels, 1)
        self.matrix = nn.Parameter(init.clone().float() if init is not None else torch.eye(channels))

    def forward(self) -> torch.Tensor:
        return self.matrix


class StableBlock(nn.Module):
    """A C x C matrix ``B`` for which ``D = g B`` is l2-stable at step ``dt`` for every parameter value.

    ``M = L L^T + eps I + (A - A^T)`` (positive-definite symmetric part, free skew part), normalised
    by its Frobenius norm, ``B = s M / ||M||_F``. Since ``||B||_2 <= s`` and
    ``lmin(sym B) = s m`` with ``m = lmin(sym M) / ||M||_F > 0``, the bound of
    :func:`pdedenoise.solvers.stability.block_dt_max` for any edge with ``0 <= g <= g_sup`` is at least
    ``m / (4 g_sup s)``; choosing ``s = sigmoid(r) m (1 - dt lam/2) / (4 g_sup dt)`` with a reaction up to
    ``lam = reaction_sup`` makes ``dt`` admissible for all parameters (``sigmoid < 1``).

    Args:
        channels: C.
        dt: the step the flow takes.
        g_sup: the largest value the diffusivity multiplying B can take.
        reaction_sup: the largest reaction coefficient of the same step (``dt * reaction_sup < 2``).
        eps: keeps the symmetric part uniformly positive definite.
    """

    def __init__(self, channels: int = 2, dt: float = 0.1, g_sup: float = 1.0, reaction_sup: float = 0.0,
                 eps: float = 0.05, init: torch.Tensor | None = None):
        super().__init__()
        channels = validate.count("channels", channels, 1)
        dt, g_sup = validate.positive("dt", dt), validate.positive("g_sup", g_sup)
        reaction_sup, eps = validate.nonnegative("reaction_sup", reaction_sup), validate.positive("eps", eps)
        if not (dt > 0 and g_sup > 0 and reaction_sup >= 0 and dt * reaction_sup < 2):
            raise ValueError(f"need dt > 0, g_sup > 0 and 0 <= dt * reaction_sup < 2; got dt={dt}, g_sup={g_sup}, "
                             f"reaction_sup={reaction_sup}")
        self.L = nn.Parameter(torch.eye(channels))
        self.A = nn.Parameter(torch.zeros(channels, channels))
        self.r = nn.Parameter(torch.tensor(0.0))
        self.dt, self.g_sup, self.reaction_sup, self.eps = dt, g_sup, reaction_sup, eps
        if init is not None:
            self._init_from(init)

    def _init_from(self, B: torch.Tensor) -> None:
        """Start near a given matrix (its symmetric part must be positive definite)."""
        B = B.double()
        S, W = 0.5 * (B + B.T), 0.5 * (B - B.T)
        with torch.no_grad():
            self.L.copy_(torch.linalg.cholesky(S - self.eps * torch.eye(len(B), dtype=B.dtype)).float())
            self.A.copy_((0.5 * W).float())
            m = self._matrix().double()
            target = float(torch.linalg.matrix_norm(B.double())) / float(self._scale_max(m))
            target = min(max(target, 1e-4), 1 - 1e-4)
            self.r.copy_(torch.tensor(math.log(target / (1 - target))))

    def _matrix(self) -> torch.Tensor:
        L = torch.tril(self.L)
        n = L.shape[0]
        return L @ L.T + self.eps * torch.eye(n, dtype=L.dtype, device=L.device) + (self.A - self.A.T)

    def _scale_max(self, M: torch.Tensor) -> torch.Tensor:
        m = torch.linalg.eigvalsh(0.5 * (M + M.T))[0] / torch.linalg.matrix_norm(M)
        return m * (1 - 0.5 * self.dt * self.reaction_sup) / (4 * self.g_sup * self.dt)

    def forward(self) -> torch.Tensor:
        M = self._matrix()
        return torch.sigmoid(self.r) * self._scale_max(M) * M / torch.linalg.matrix_norm(M)


class FieldBlocks(CoefficientModel):
    """``D = g(f(v)) B`` on every edge: a diffusivity of one channel ``v`` times a C x C matrix.

    ``g`` is evaluated at pixel centres and averaged onto the edges (arithmetic mean), ``B`` comes from
    a block module (:class:`RotationBlock`, :class:`StableBlock`, :class:`FreeBlock`).

    Args:
        g: the influence function (a :class:`pdedenoise.diffusivities.Diffusivity` of one feature).
        block: module returning the (C, C) matrix B.
        channel: which channel of the state is ``v`` (1 for the imaginary part / edge field).
        feature: ``"v"`` (g of v) or ``"v^2"`` (g of v squared, e.g. ``1 / (1 + (v / k)^2)``).
    """

    norm = "l2"

    def __init__(self, g: Diffusivity, block: nn.Module, channel: int = 1, feature: str = "v"):
        super().__init__()
        if feature not in ("v", "v^2"):
            raise ValueError(f"feature must be 'v' or 'v^2', got {feature!r}")
        self.g, self.block, self.channel, self.feature = g, block, channel, feature

    def forward(self, u: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, bc: BoundaryCondition) -> Blocks:
        v = u[:, self.channel:self.channel + 1]
        gx, gy = average_to_edges(self.g(v * v if self.feature == "v^2" else v))
        B = self.block().to(u.dtype)[None, :, :, None, None]
        return Blocks(gx.unsqueeze(1) * B, gy.unsqueeze(1) * B)

    def dt_max(self, reaction_sup: float = 0.0) -> float:
        with torch.no_grad():
            for name, t in self.named_parameters():
                if not bool(torch.isfinite(t).all()):
                    raise ValueError(f"the coefficient model's parameter {name} holds NaN or infinite values")
            if not _covers(self.g, -math.inf if self.feature == "v" else 0.0):
                return math.nan  # g's bound does not hold for every value of the feature: check the data
            if not self.g.nonnegative():
                return 0.0  # g < 0 somewhere: D is negative definite there, no step is stable
            B = self.block().double()[None, :, :, None]
            g_sup = self.g.sup()
            try:
                return stability.block_dt_max(g_sup * B, g_sup * B, reaction_sup)
            except stability.StabilityError:  # B's symmetric part is not positive definite
                return 0.0


class Reaction(nn.Module):
    """A per-channel reaction coefficient ``lambda >= 0`` of shape (1, C, 1, 1).

    With ``cap`` it is ``cap * sigmoid(raw)`` (bounded, so a certificate can be made for all parameters),
    else ``softplus(raw)``.
    """

    def __init__(self, channels: int = 1, init: float = 0.1, cap: float | None = None):
        super().__init__()
        channels = validate.count("channels", channels, 1)
        init = validate.number("init", init)
        if cap is not None:
            cap = validate.positive("cap", cap)
            if not 0 < init < cap:
                raise ValueError(f"need 0 < init < cap, got init={init}, cap={cap}")
            raw = math.log(init / (cap - init))
        else:
            if not init > 0:
                raise ValueError(f"need init > 0, got {init}")
            raw = init + math.log(-math.expm1(-init))  # softplus^-1
        self.raw = nn.Parameter(torch.full((channels,), float(raw)))
        self.cap = cap

    def forward(self) -> torch.Tensor:
        lam = self.cap * torch.sigmoid(self.raw) if self.cap is not None else nn.functional.softplus(self.raw)
        return lam.reshape(1, -1, 1, 1)

    @torch.no_grad()
    def sup(self) -> float:
        return float(self().double().max())
