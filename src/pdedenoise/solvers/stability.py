"""Stability of explicit diffusion steps as a certificate: the admissible time step, computed in float64.

An explicit step ``U <- U + dt [div(D grad U) - Lambda (U - U0)]`` on the unit grid (pixel spacing h = 1,
2-D, 5-point flux form) is stable under the following conditions; each function below computes the
largest admissible ``dt`` (``dt_max``), and :class:`Certificate` states whether a step holds it and by
which margin.

**Scalar coefficients** (one diffusivity ``c >= 0`` per edge and channel, reaction ``lambda >= 0``).
The new value of a pixel is ``(1 - dt (sum_e c_e + lambda)) u + dt sum_e c_e u_e + dt lambda u0``: a
convex combination of its neighbours, itself and the reference when

    dt * max_pixels (c_up + c_left + c_down + c_right + lambda) <= 1,

so the step obeys the discrete maximum principle (``min <= U <= max`` of the old values and of U0)
and is non-expansive in every norm. With a diffusivity bounded by ``sup g`` this is the familiar
``4 dt sup g <= h^2`` (:func:`scalar_dt_max_from_sup`). The bound is sharp: a checkerboard with constant
``c`` is multiplied by ``1 - 8 c dt`` per step, which leaves ``[-1, 1]`` just above ``dt = 1/(4c)``.

**C x C blocks** (coupled systems such as 2 x 2 cross-diffusion, ``D_e`` a C x C matrix on each edge,
not symmetric in general). There is no maximum principle; the certificate is l2 non-expansiveness of
the step with its coefficients frozen. Write the step as ``U <- (I - dt A) U`` with ``A = G^T D G``,
``G`` the edge-difference operator (``||G||^2 = ||Laplacian|| <= 8`` in 2-D). Then

    ||U_new||^2 - ||U||^2 = -2 dt <GU, D GU> + dt^2 ||G^T D G U||^2
                         <= sum_e [ -2 dt p_e^T S_e p_e + 8 dt^2 |D_e p_e|^2 ],   p_e = (GU)_e,

with ``S_e = (D_e + D_e^T) / 2`` the symmetric part, so the step cannot increase the l2 norm when
``S_e - 4 dt D_e^T D_e`` is positive semi-definite on every edge, that is when ``S_e`` is positive
definite and

    dt <= 1 / (4 lmax(S_e^{-1} D_e^T D_e))      (the largest generalised eigenvalue),

which is at least ``lmin(S_e) / (4 ||D_e||_2^2)`` (the simpler bound that
:class:`~pdedenoise.solvers.coefficients.StableBlock` builds in). For a scalar ``D_e = c`` both are
``dt <= 1/(4c)``; for diagonal blocks the first is ``1/(4 max c)``, each channel's own bound. The
bound is sharp for normal matrices: for the constant rotation-type matrix ``D = g R(theta)`` of
nonlinear complex diffusion it gives ``dt <= cos(theta) / (4 g)``, exactly where the checkerboard
mode's amplification ``|1 - 8 dt g e^{i theta}|`` passes 1.

**Reaction with blocks.** ``I - dt (A + Lambda) = a (I - (dt/a) A) + (1 - a) (I - (dt/(1-a)) Lambda)``
for any ``0 < a < 1``; both parts are contractions when ``dt/a <= dt_A`` and ``dt/(1-a) <= 2/lambda_max``,
and the best ``a`` gives ``dt <= 1 / (1/dt_A + lambda_max / 2)`` (:func:`with_reaction`), exact for
constant coefficients (the checkerboard's eigenvalue is ``8c + lambda``).

These are per-step statements with the coefficients of that step: for nonlinear models whose
coefficients are recomputed from the current state, every step is non-expansive (so the state stays
bounded), but the map from one state to the next need not be a contraction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: relative slack for round-off when comparing ``dt`` with ``dt_max``
TOLERANCE = 1e-12
#: the most sub-steps a step may be split into before the request is refused (rather than running for hours)
MAX_SUBSTEPS = 10 ** 6


class StabilityError(ValueError):
    """An explicit diffusion step whose time step breaks the stability bound (the message gives the bound)."""


@dataclass(frozen=True)
class Certificate:
    """Whether an explicit step of size ``dt`` is stable, with its margin.

    Attributes:
        dt: the step taken (or asked for).
        dt_max: the largest admissible step for these coefficients (``inf`` when nothing diffuses).
        norm: ``"max"`` (maximum principle, scalar coefficients) or ``"l2"`` (C x C blocks).
        what: which step, for messages.
    """

    dt: float
    dt_max: float
    norm: str = "max"
    what: str = "explicit"

    @property
    def margin(self) -> float:
        """``1 - dt / dt_max``: >= 0 when the step is stable (1 when nothing diffuses)."""
        return 1.0 - self.dt / self.dt_max if self.dt_max > 0 else -math.inf

    @property
    def finite(self) -> bool:
        """False when ``dt`` is not a finite number or ``dt_max`` is NaN (coefficients with NaN or inf in them):
        such a step is never certified."""
        return math.isfinite(self.dt) and not math.isnan(self.dt_max)

    @property
    def holds(self) -> bool:
        return self.finite and self.dt <= self.dt_max * (1 + TOLERANCE)

    def substeps(self) -> int:
        """The fewest equal sub-steps of ``dt`` that each hold the bound (at most :data:`MAX_SUBSTEPS`)."""
        if self.holds:
            return 1
        if not self.finite:
            self.require(False)
        n = self.dt / self.dt_max - TOLERANCE if self.dt_max > 0 else math.inf
        if not n <= MAX_SUBSTEPS:
            raise StabilityError(
                f"the {self.what} step dt={self.dt:.6g} would need {n:.3g} sub-steps of the admissible {self.dt_max:.3g} "
                f"(more than {MAX_SUBSTEPS:,}): lower the coefficient (diffusivity) or the time, or check the "
                "coefficient's units")
        return math.ceil(n)

    def require(self, substeps: bool = False) -> int:
        """Raise :class:`StabilityError` unless the step is stable; with ``substeps`` return how many
        equal sub-steps make it stable instead."""
        if self.holds:
            return 1
        if not self.finite:
            raise StabilityError(
                f"the {self.what} step cannot be certified: dt={self.dt} and its bound {self.dt_max} must be numbers "
                "(a NaN or infinite time step, or coefficients holding NaN or inf); check the parameters and the input")
        if self.dt_max <= 0:
            raise StabilityError(
                f"unstable explicit {self.what} step: no dt > 0 is stable for these coefficients, which can diffuse "
                "backwards (a diffusivity that can turn negative, or a coefficient block whose symmetric part is not "
                "positive definite); constrain the parameterisation (a cap, StableBlock)")
        if not substeps or not math.isfinite(self.dt_max):
            kind = ("dt <= 1 / max(sum of the 4 edge diffusivities + reaction) (the maximum principle; for a "
                    "constant diffusivity rho: dt <= 1/(4 rho))") if self.norm == "max" else \
                ("dt <= min over edges of 1 / (4 lmax(S^-1 D^T D)), S the symmetric part of D, with the reaction "
                 "(l2 stability of a coupled step)")
            raise StabilityError(
                f"unstable explicit {self.what} step: dt={self.dt:.6g} exceeds the bound {kind} = {self.dt_max:.6g}; "
                "reduce dt, or pass substeps=True to split each step automatically")
        return self.substeps()


# --------------------------------------------------------------------------- scalar coefficients


def _finite(t: torch.Tensor, what: str) -> None:
    """A coefficient with NaN or inf has no stable step: refuse it rather than certify it."""
    if t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"the {what} holds {bad} NaN or infinite values: no time step is stable for it; check the "
                         "parameters and the input for NaN or inf")


def scalar_dt_max(cx: torch.Tensor, cy: torch.Tensor, reaction: torch.Tensor | float | None = None) -> float:
    """Largest stable ``dt`` for per-edge scalar coefficients (maximum principle), in float64.

    Args:
        cx: diffusivities on vertical edges, (N, C|1, H, W + 1), boundary edges included.
        cy: diffusivities on horizontal edges, (N, C|1, H + 1, W).
        reaction: ``lambda >= 0``, a float or a tensor broadcastable to (N, C, H, W).
    Raises:
        ValueError: for a negative coefficient (backward diffusion has no stable step).
    """
    cx, cy = cx.detach().double(), cy.detach().double()
    _finite(cx, "diffusivity (x edges)")
    _finite(cy, "diffusivity (y edges)")
    lo = min(float(cx.min()) if cx.numel() else 0.0, float(cy.min()) if cy.numel() else 0.0)
    if lo < 0:
        raise ValueError(f"diffusivity must be non-negative (backward diffusion is ill-posed); min is {lo:.4g}")
    s = cx[..., 1:] + cx[..., :-1] + cy[..., 1:, :] + cy[..., :-1, :]
    if reaction is not None:
        lam = torch.as_tensor(reaction, dtype=torch.float64, device=s.device).detach()
        _finite(lam, "reaction coefficient")
        if float(lam.min()) < 0:
            raise ValueError(f"reaction coefficient must be non-negative, min is {float(lam.min()):.4g}")
        s = s + lam
    top = float(s.max()) if s.numel() else 0.0
    return 1.0 / top if top > 0 else math.inf


def scalar_dt_max_from_sup(g_sup: float, reaction_sup: float = 0.0, dims: int = 2) -> float:
    """``1 / (2 dims sup g + sup lambda)``: the step bound that holds for any field below ``sup g``
    (``1/(4 sup g)`` in 2-D without reaction)."""
    if not (math.isfinite(float(g_sup)) and math.isfinite(float(reaction_sup))):
        raise ValueError(f"the bound of the diffusivity (sup g = {g_sup}) and of the reaction ({reaction_sup}) must be "
                         "finite: a parameter is NaN or infinite; check the model's parameters")
    top = 2 * dims * float(g_sup) + float(reaction_sup)
    if top < 0 or math.isnan(top):
        raise ValueError(f"need sup g >= 0 and sup lambda >= 0, got {g_sup} and {reaction_sup}")
    return 1.0 / top if top > 0 else math.inf


def max_diffusivity(dt: float, reaction_sup: float = 0.0, dims: int = 2) -> float:
    """The largest ``sup g`` for which a step ``dt`` is admissible: ``(1/dt - sup lambda) / (2 dims)``,
    i.e. ``1 / (4 dt)`` in 2-D without reaction (the inverse of :func:`scalar_dt_max_from_sup`)."""
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"need a finite dt > 0, got {dt}")
    return (1.0 / dt - float(reaction_sup)) / (2 * dims)


# --------------------------------------------------------------------------- C x C blocks


def block_dt_max(Dx: torch.Tensor, Dy: torch.Tensor, reaction_sup: float = 0.0) -> float:
    """Largest l2-stable ``dt`` for C x C blocks on the edges (see the module docstring), in float64.

    Args:
        Dx, Dy: (N, C, C, H, W + 1) and (N, C, C, H + 1, W); size-1 dimensions broadcast.
        reaction_sup: the largest reaction coefficient.
    Raises:
        StabilityError: when a block that diffuses has a symmetric part that is not positive definite
            (no explicit step is then stable).
    """
    worst = math.inf
    if not math.isfinite(float(reaction_sup)):
        raise ValueError(f"the reaction bound must be finite, got {reaction_sup}")
    for D in (Dx, Dy):
        _finite(D.detach(), "coefficient block")
        if D.shape[1] == D.shape[2] == 2:
            top = _two_by_two_top(D.detach().double())
            if top is not None:
                worst = min(worst, float(1.0 / (4.0 * top)))
            continue
        top = _general_top(D.detach().double())
        if top is not None:
            worst = min(worst, float(1.0 / (4.0 * top)))
    return with_reaction(worst, reaction_sup)


def _general_top(D: torch.Tensor) -> float | None:
    """``max lmax(S^{-1} D^T D)`` over the non-zero C x C blocks of ``D`` (N, C, C, ...), ``S`` the symmetric
    part, through a Cholesky factor ``S = L L^T`` (``lmax(L^{-1} D^T D L^{-T})``); ``None`` when every block
    is zero."""
    M = torch.movedim(D, (1, 2), (-2, -1))
    M = M.reshape(-1, *M.shape[-2:])
    active = torch.linalg.matrix_norm(M) > 0
    if not bool(active.any()):
        return None
    M = M[active]
    S = 0.5 * (M + M.transpose(-1, -2))
    L, info = torch.linalg.cholesky_ex(S)
    if bool((info != 0).any()):
        lmin = float(torch.linalg.eigvalsh(S)[..., 0].min())
        raise StabilityError(
            f"the symmetric part of a coefficient block is not positive definite (smallest eigenvalue "
            f"{lmin:.4g}): no explicit step is l2-stable; parameterise the blocks as positive definite "
            "(e.g. pdedenoise.solvers.coefficients.StableBlock)")
    W = torch.linalg.solve_triangular(L, M.transpose(-1, -2), upper=False)  # L^{-1} D^T
    return float(torch.linalg.eigvalsh(W @ W.transpose(-1, -2))[..., -1].max())


def _two_by_two_top(D: torch.Tensor) -> float | None:
    """``max lmax(S^{-1} D^T D)`` over the non-zero 2 x 2 blocks of ``D`` (N, 2, 2, ...) in closed form
    (what the general path computes with a Cholesky factor and an eigen-solver, about 100x faster on
    image-sized fields); ``None`` when every block is zero.

    With ``S = [[a, b], [b, d]]`` and ``P = D^T D``, the eigenvalues solve ``det(P - l S) = 0``:
    ``det(S) l^2 - (p00 d + p11 a - 2 p01 b) l + det(P) = 0``.
    """
    d00, d01, d10, d11 = D[:, 0, 0], D[:, 0, 1], D[:, 1, 0], D[:, 1, 1]
    p00 = d00 * d00 + d10 * d10
    p11 = d01 * d01 + d11 * d11
    inactive = (p00 + p11) == 0                    # a zero block (Frobenius norm 0) does not diffuse
    if bool(inactive.all()):
        return None
    a, d, b = d00, d11, 0.5 * (d01 + d10)
    det_s = a * d - b * b
    if not bool((((a > 0) & (det_s > 0)) | inactive).all()):
        lmin = 0.5 * (a + d) - torch.sqrt((0.5 * (a - d)) ** 2 + b * b)
        lmin = float(lmin.masked_fill(inactive, math.inf).min())
        raise StabilityError(
            f"the symmetric part of a coefficient block is not positive definite (smallest eigenvalue "
            f"{lmin:.4g}): no explicit step is l2-stable; parameterise the blocks as positive definite "
            "(e.g. pdedenoise.solvers.coefficients.StableBlock)")
    p01 = d00 * d01 + d10 * d11
    t = p00 * d + p11 * a - 2.0 * p01 * b
    disc = (t * t - 4.0 * det_s * (p00 * p11 - p01 * p01)).clamp_(min=0.0)
    top = (t + disc.sqrt_()) / det_s.masked_fill(inactive, 1.0)
    return 0.5 * float(top.masked_fill_(inactive, 0.0).max())


def with_reaction(dt_max: float, reaction_sup: float) -> float:
    """Combine a diffusion bound with a reaction ``lambda <= reaction_sup``: ``1 / (1/dt_max + lambda/2)``."""
    if reaction_sup < 0:
        raise ValueError(f"reaction coefficient must be non-negative, got {reaction_sup}")
    inv = (0.0 if math.isinf(dt_max) else 1.0 / dt_max) + 0.5 * reaction_sup
    return 1.0 / inv if inv > 0 else math.inf


# --------------------------------------------------------------------------- stencils (DiffNet)


def stencil_linf_gain(zeta: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
    """l-infinity gain of a 5-point stencil step ``x + dt (z1 x_up + z2 x_left + z3 x_down + z4 x_right - z5 x)``.

    ``|1 - dt z5| + dt (|z1| + |z2| + |z3| + |z4|)`` per pixel: the step cannot increase the largest
    absolute value when this is <= 1 everywhere (with ``dt >= 0``, that needs ``z1..z4 >= 0`` and
    ``dt z5 <= 1`` plus ``z5 >= z1 + ... + z4``). Used to report how far a learned DiffNet layer is
    from a stable diffusion step; no DiffNet is constrained to it.

    Args:
        zeta: (N, 5, H, W) filters (up, left, down, right, centre). Returns (N, H, W), float64.
    """
    z = zeta.detach().double()
    h = float(dt)
    return (1 - h * z[:, 4]).abs() + abs(h) * z[:, :4].abs().sum(dim=1)


def number_of_steps(T: float, dt: float) -> int:
    """``T / dt`` as an integer, or a clear error when ``dt`` does not divide ``T``."""
    if not (dt > 0 and T >= 0) or not (math.isfinite(dt) and math.isfinite(T)):
        raise ValueError(f"need a finite dt > 0 and T >= 0, got dt={dt}, T={T}")
    n = round(T / dt)
    if abs(n * dt - T) > 1e-9 * max(1.0, abs(T)):
        raise ValueError(f"T={T} is not a whole number of steps dt={dt}; choose dt = T / n")
    return n


# --------------------------------------------------------------------------- gradient steps of a weakly convex energy

#: ``||G||^2 <= 8`` for the 2-D forward differences with zero-flux boundary, ``G u = (d_x u, d_y u)`` (the last
#: difference of each row and column is zero): ``G^T G`` is the negative 5-point Laplacian, whose eigenvalues
#: ``4 sin^2(pi i / 2H) + 4 sin^2(pi j / 2W)`` stay below 8 for every image size
GRADIENT_NORM_SQ = 8.0
#: added under the square root of :func:`conv_norm_sq_bound`: keeps its gradient finite where the cross terms are
#: zero, and only raises the bound (so it stays an upper bound)
_NORM_EPS = 1e-6


def conv_norm_sq_bound(weight: torch.Tensor) -> torch.Tensor:
    """An upper bound of ``||W||^2``, ``W`` the zero-padded convolution ``(N, C_in, H, W) -> (N, C_out, H, W)`` with
    ``weight`` (C_out, C_in, k, k), differentiable, in ``weight``'s dtype (a 0-d tensor).

    On the whole plane ``W^T W`` is the convolution with the matrix-valued autocorrelation
    ``A_m = sum_c w_c(. + m) w_c(.)^T`` (C_in x C_in, lags ``m`` in ``(2k - 1)^2``): the multiplier
    ``A(omega) = sum_m A_m e^{-i m omega}``, Hermitian, and ``||W||^2 = sup_omega lmax(A(omega))``. A zero-padded
    convolution on an H x W window is a restriction of the whole-plane one to a zero-extended input, so any bound
    of that supremum holds for every image size. The smallest of three proven bounds:

    * Young, per pair of channels: ``sum_{c,i} ||w_ci||_1^2`` (Cauchy–Schwarz over the input channels);
    * Gershgorin: ``max_i sum_j sum_m |A_m[i, j]|``;
    * for C_in = 2, the eigenvalue of a 2 x 2 Hermitian matrix, ``(a + d)/2 + sqrt(((a - d)/2)^2 + |b|^2)``, with
      each trigonometric polynomial bounded by the l1 norm of its coefficients:
      ``||(A11 + A22)/2||_1 + sqrt(||(A11 - A22)/2||_1^2 + ||A12||_1^2)``.

    All three are reached by filters that do not overlap (a delta per channel), where the third gives ``||W||^2``.
    """
    if weight.ndim != 4 or weight.shape[-1] != weight.shape[-2] or weight.shape[-1] % 2 != 1:
        raise ValueError(f"weight must be (C_out, C_in, k, k) with k odd, got {tuple(weight.shape)}")
    c_in, k = weight.shape[1], weight.shape[-1]
    young = weight.abs().sum(dim=(-1, -2)).square().sum()
    # A[i, j, m] = sum_c sum_x w[c, i, x + m] w[c, j, x]: a cross-correlation over the filter plane
    inp = weight.permute(1, 0, 2, 3)                                   # (c_in, c_out, k, k): batch i, channels c
    A = torch.nn.functional.conv2d(inp, inp, padding=k - 1)            # (c_in [i], c_in [j], 2k-1, 2k-1)
    l1 = A.abs().sum(dim=(-1, -2))                                     # (c_in, c_in)
    bound = torch.minimum(young, l1.sum(dim=1).max())
    if c_in == 2:
        mean = (0.5 * (A[0, 0] + A[1, 1])).abs().sum()
        half = (0.5 * (A[0, 0] - A[1, 1])).abs().sum()
        bound = torch.minimum(bound, mean + torch.sqrt(half.square() + l1[0, 1].square() + _NORM_EPS ** 2))
    return bound


#: the certified parameterisation keeps ``alpha (beta L + lambda)`` this fraction below 2 and ``lambda`` this
#: fraction above ``rho L``, so that float32 rounding of the parameters cannot cross either bound
STEP_MARGIN = 1e-3


def ridge_step_parameters(L: torch.Tensor, rho: torch.Tensor, beta: torch.Tensor, raw_lambda: torch.Tensor,
                          raw_alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lambda, alpha)`` of a certified step (:class:`RidgeCertificate`) from unconstrained ``raw_lambda`` and
    ``raw_alpha`` (0-d tensors, any real value), differentiable:

        lambda = (1 + m) rho L + softplus(raw_lambda),    alpha = 2 (1 - m) sigmoid(raw_alpha) / (beta L + lambda),

    ``m`` = :data:`STEP_MARGIN`; ``L >= ||K||^2``, ``rho, beta >= 0`` the bounds of the slopes of ``psi'``. Both
    conditions of the certificate hold for every value of the raw parameters."""
    lam = (1.0 + STEP_MARGIN) * rho * L + torch.nn.functional.softplus(raw_lambda)
    alpha = 2.0 * (1.0 - STEP_MARGIN) * torch.sigmoid(raw_alpha) / (beta * L + lam)
    return lam, alpha


@dataclass(frozen=True)
class RidgeCertificate:
    """The l2 certificate of one gradient step of a weakly convex ridge energy (Goujon, Neumayer and Unser,
    "Learning weakly convex regularizers for convergent image-reconstruction algorithms", SIAM J. Imaging Sci. 17,
    2024: the WCRR-NN energy):

        T(u) = u - alpha [K^T psi'(K u) + lambda (u - f)],   E(u) = sum psi(K u) + lambda/2 ||u - f||^2,

    ``K`` linear with ``||K||^2 <= L``, ``psi'`` applied per component and Lipschitz with every divided difference
    in ``[-rho, beta]`` (a piecewise-linear ``psi'`` whose slopes lie there; ``rho > 0`` lets ``psi`` be non-convex:
    backward diffusion, sharpening). For any ``u, v`` the divided differences give a diagonal ``D`` with entries in
    ``[-rho, beta]`` such that ``psi'(Ku) - psi'(Kv) = D K (u - v)``, so

        T(u) - T(v) = (I - alpha M) (u - v),   M = K^T D K + lambda I  symmetric, spectrum in
                                                 [lambda - rho L, lambda + beta L].

    Hence if ``lambda >= rho L`` (the energy is convex) and ``alpha (beta L + lambda) <= 2``, the step is
    non-expansive in l2 for fixed ``f``, with the contraction factor
    ``q = max(1 - alpha (lambda - rho L), alpha (lambda + beta L) - 1) <= 1``; and since ``f`` enters only through
    ``alpha lambda f``, ``||T(u; f) - T(v; g)|| <= q ||u - v|| + alpha lambda ||f - g||``
    (:func:`ridge_lipschitz` chains this over the stages). Computed in float64 from the actual parameters.

    Attributes:
        alpha, lam: the step and the data weight the step uses.
        rho, beta: bounds of the negative and positive slopes of ``psi'`` (>= 0).
        L: the bound of ``||K||^2``.
        what: which step, for messages.
    """

    alpha: float
    lam: float
    rho: float
    beta: float
    L: float
    what: str = "gradient step"
    norm: str = "l2"

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.alpha, self.lam, self.rho, self.beta, self.L))

    @property
    def convex(self) -> bool:
        """``lambda >= rho L``: the step's energy is convex."""
        return self.finite and self.lam >= self.rho * self.L * (1 - TOLERANCE)

    @property
    def step_ok(self) -> bool:
        """``0 <= alpha`` and ``alpha (beta L + lambda) <= 2``."""
        return self.finite and self.alpha >= 0 and self.alpha * (self.beta * self.L + self.lam) <= 2 * (1 + TOLERANCE)

    @property
    def holds(self) -> bool:
        return self.finite and self.rho >= 0 and self.beta >= 0 and self.convex and self.step_ok

    @property
    def contraction(self) -> float:
        """``q``: the step's Lipschitz constant in ``u`` (<= 1 when the certificate holds)."""
        lo, hi = self.alpha * (self.lam - self.rho * self.L), self.alpha * (self.lam + self.beta * self.L)
        return max(abs(1 - lo), abs(1 - hi))  # ||I - alpha M||, alpha M's spectrum in [lo, hi]

    @property
    def margin(self) -> float:
        """``1 - q``: >= 0 when the step is non-expansive."""
        return 1.0 - self.contraction

    def require(self) -> None:
        """Raise :class:`StabilityError` naming the broken condition unless the certificate holds."""
        if self.holds:
            return
        if not self.finite:
            raise StabilityError(f"the {self.what} cannot be certified: its numbers must be finite (alpha={self.alpha}, "
                                 f"lambda={self.lam}, rho={self.rho}, beta={self.beta}, L={self.L}); check the "
                                 "parameters for NaN or inf")
        if not self.convex:
            raise StabilityError(f"the {self.what} is not certified: lambda={self.lam:.6g} < rho L = "
                                 f"{self.rho * self.L:.6g} (the energy is not convex, a step can expand); raise "
                                 "lambda or bound the negative slopes (pdedenoise.solvers.stability.ridge_step_parameters)")
        raise StabilityError(f"the {self.what} is not certified: alpha (beta L + lambda) = "
                             f"{self.alpha * (self.beta * self.L + self.lam):.6g} > 2; lower alpha "
                             "(pdedenoise.solvers.stability.ridge_step_parameters)")


def ridge_lipschitz(certificates: list[RidgeCertificate]) -> float:
    """A bound of the Lipschitz constant (l2) of the map ``f -> u_T`` of the unrolled steps started at ``u_0 = f``:
    ``J_0 = 1``, ``J_{t+1} = q_t J_t + alpha_t lambda_t`` (:class:`RidgeCertificate`). Requires every certificate
    to hold (else raises :class:`StabilityError`)."""
    J = 1.0
    for c in certificates:
        c.require()
        J = c.contraction * J + c.alpha * c.lam
    return J
