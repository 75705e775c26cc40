"""Diffusivities ``g``: the classic Perona–Malik functions and learnable families, each with an upper bound.

A diffusivity maps features ``x`` of shape (N, F, H, W) to a non-negative field. The classic ones are
functions of one variable, usually the squared gradient ``s = |grad u|^2`` on the image's value
scale; the learned families of the book's chapters also take several features at once (the
responses of F "experts", as in Fields of Experts). Every family comes twice, kornia style: a
function (``rational``, ``spline``, ...) and an :class:`torch.nn.Module` holding its parameters
(:class:`Rational`, :class:`Spline`, ...).

Every module states an upper bound :meth:`Diffusivity.sup` over its input domain, in float64,
analytic where one exists and otherwise computed from its parameters; the explicit solver turns it
into an admissible time step (``4 dt sup g <= 1``, see :mod:`pdedenoise.solvers.stability`)
instead of assuming ``g <= 1``. The families that can exceed any given bound take ``cap``: with a cap
the parameterisation keeps ``0 <= g <= cap`` for *every* parameter value, so a model trained with it
is stable by construction; without one, nothing stops ``g`` from growing, which the certificate then
reports (the negative control of the tests).

| family | g | features | sup |
|---|---|---|---|
| :class:`Rational` | ``1 / (1 + s / K^2)`` | 1 (s >= 0) | 1 |
| :class:`Exponential` | ``exp(-s / K^2)`` | 1 (s >= 0) | 1 |
| :class:`Spline` | piecewise linear on equal intervals of ``[lo, hi]``, constant outside; or ``exp(sum_f phi_f(x_f))`` (``log=True``) | 1 or F | the largest node value (exactly) |
| :class:`Monomial` | ``exp(sum_i c_i (x_i - s_i)^p_i)`` | F in [0, 1] | exact, from the end points and ``s_i`` |
| :class:`RothBlack` | ``prod_i (1 + x_i^2 / 2)^(-exp(w_i))`` | F | 1 |
| :class:`GaussianRBF` | ``sum_j w_j exp(-(x - mu_j)^2 / (2 gamma^2))`` | 1 | grid maximum plus a Lipschitz margin (rigorous) |
| :class:`BoundedRBF` | ``cap sigmoid(b + sum_j w_j exp(-(x - mu_j)^2 / (2 gamma^2)))`` | 1 | ``cap sigmoid`` of the expansion's rigorous bound |
"""
from __future__ import annotations

import functools
import math
from typing import Union

import torch
from torch import nn

from . import validate

Contrast = Union[float, torch.Tensor]


def _per_image(K: Contrast, ndim: int) -> Contrast:
    """``K^2`` as a float, a 0-d tensor (which keeps the input's dtype), or a per-image tensor (N,) reshaped
    to broadcast over (N, ...)."""
    if isinstance(K, torch.Tensor) and K.ndim > 0:
        return (K * K).reshape(-1, *([1] * (ndim - 1)))
    return K * K


# --------------------------------------------------------------------------- functional twins


def rational(s: torch.Tensor, K: Contrast) -> torch.Tensor:
    """Perona–Malik's ``1 / (1 + s / K^2)`` of the squared gradient ``s``; values in (0, 1].

    ``K`` is a contrast on the image's value scale: a float or a per-image tensor (N,).
    """
    return 1.0 / (1.0 + s / _per_image(K, s.ndim))


#: largest exponent of :func:`exponential`: ``exp(-87)`` = 1.6e-38 is the smallest normal float32 order of magnitude;
#: beyond it the result would be a subnormal number, whose arithmetic is 10-100x slower on x86 CPUs (measured: 100
#: steps on a noisy 512x512 image with K = 10 took 0.98 s instead of 0.1 s). g is then 1.6e-38 instead of 0-1e-38,
#: a change far below any grey level. g itself is never subnormal, and on 0-255 images with K >= 1 neither is the flux
#: ``d g``; with K small against the value range the flux still can be.
EXP_FLOOR = 87.0


def exponential(s: torch.Tensor, K: Contrast) -> torch.Tensor:
    """Perona–Malik's ``exp(-s / K^2)`` of the squared gradient ``s``; values in [1.6e-38, 1] (the exponent is
    capped at :data:`EXP_FLOOR`, so that g is never a subnormal number, whose arithmetic is slow)."""
    return torch.exp(-torch.clamp(s / _per_image(K, s.ndim), max=EXP_FLOOR))


def rational_(s: torch.Tensor, K: Contrast) -> torch.Tensor:
    """:func:`rational` in place on ``s`` (the same numbers, bit for bit); returns ``s``."""
    return s.div_(_per_image(K, s.ndim)).add_(1.0).reciprocal_()


def exponential_(s: torch.Tensor, K: Contrast) -> torch.Tensor:
    """:func:`exponential` in place on ``s`` (the same numbers, bit for bit); returns ``s``."""
    return s.div_(_per_image(K, s.ndim)).clamp_(max=EXP_FLOOR).neg_().exp_()


def spline(x: torch.Tensor, values: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Piecewise-linear functions through ``n`` equally spaced nodes on ``[lo, hi]``, constant outside.

    Args:
        x: (N, F, H, W) (or any shape whose dimension 1 has F entries).
        values: (F, n) node values, one function per feature channel; n >= 2. With F = 1 the one
            function applies elementwise to any shape.
    Returns:
        the same shape as ``x``: ``phi_f(x_f)`` for every channel f.
    """
    nf, n = values.shape
    if nf != 1 and x.shape[1] != nf:
        raise ValueError(f"spline: x has {x.shape[1]} channels but values define {nf} functions")
    t = ((x - lo) * ((n - 1) / (hi - lo))).clamp(0, n - 1)
    i = t.detach().floor().clamp(max=n - 2).long()
    w = t - i
    offset = 0 if nf == 1 else (torch.arange(nf, device=x.device) * n).reshape(1, nf, *([1] * (x.ndim - 2)))
    flat = values.reshape(-1)
    left = flat[i + offset]
    right = flat[i + 1 + offset]
    return left + w * (right - left)


def monomial(x: torch.Tensor, c: torch.Tensor, s: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``exp(sum_i c_i (x_i - s_i)^p_i)`` over the F channels of ``x`` (N, F, H, W) -> (N, 1, H, W)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    terms = c.reshape(shape) * (x - s.reshape(shape)) ** p.reshape(shape)
    return torch.exp(terms.sum(dim=1, keepdim=True))


def roth_black(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``prod_i (1 + x_i^2 / 2)^(-exp(w_i))`` over the F channels of ``x`` -> (N, 1, H, W); values in (0, 1]."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return torch.exp(-(torch.exp(w).reshape(shape) * torch.log1p(0.5 * x * x)).sum(dim=1, keepdim=True))


def gaussian_rbf(x: torch.Tensor, weights: torch.Tensor, centers: torch.Tensor, width: float) -> torch.Tensor:
    """``sum_j w_j exp(-(x - mu_j)^2 / (2 width^2))``, elementwise (any shape; ``weights``, ``centers``: (J,)).

    Summed one centre at a time, so the working memory is a few arrays of ``x``'s size, not J of them.
    Exponents below -80 are raised to -80 (``exp(-80) = 1.8e-35``, a normal float32): far tails would
    otherwise produce subnormal numbers, which CPUs compute two orders of magnitude slower.
    """
    scale = -0.5 / (width * width)
    out = torch.zeros_like(x, dtype=torch.result_type(x, weights))
    for w, mu in zip(weights.unbind(0), centers.unbind(0)):
        d = x - mu
        out = out + w * torch.exp((d * d * scale).clamp_(min=-80.0))
    return out


def bounded_rbf(x: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor | float, centers: torch.Tensor, width: float,
                cap: float) -> torch.Tensor:
    """``cap * sigmoid(bias + sum_j w_j exp(-(x - mu_j)^2 / (2 width^2)))``: in (0, cap) for any parameters."""
    return cap * torch.sigmoid(bias + gaussian_rbf(x, weights, centers, width))


# --------------------------------------------------------------------------- modules


class Diffusivity(nn.Module):
    """Base class: ``forward(x)`` with x (N, F, H, W) on :attr:`domain`; :meth:`sup` bounds the output.

    Attributes:
        in_features: F, the number of feature channels the function takes.
        domain: the input interval (per feature) on which :meth:`sup` holds.
    """

    in_features: int = 1
    domain: tuple[float, float] = (0.0, math.inf)

    def __init_subclass__(cls, **kwargs):
        """Every family's :meth:`sup` first refuses parameters holding NaN or inf: a bound stated for them (e.g.
        Roth-Black's constant 1) would certify a step whose output is NaN."""
        super().__init_subclass__(**kwargs)
        if "sup" in cls.__dict__:
            bound = cls.__dict__["sup"]

            @functools.wraps(bound)
            def sup(self, *args, **kw):
                self.check_parameters()
                return bound(self, *args, **kw)

            cls.sup = sup

    def check_parameters(self) -> None:
        """Raise ValueError naming the first parameter or buffer that holds NaN or inf."""
        for name, t in [*self.named_parameters(), *self.named_buffers()]:
            if t.is_floating_point() and not bool(torch.isfinite(t.detach()).all()):
                raise ValueError(f"the diffusivity's parameter {name} holds NaN or infinite values: g and its bound "
                                 "are undefined; set it to a finite value (or reload the model)")

    def sup(self) -> float:  # pragma: no cover - every family overrides it
        """An upper bound of ``g`` over the domain, in float64."""
        raise NotImplementedError

    def nonnegative(self) -> bool:
        """True when ``g >= 0`` is guaranteed for the current parameters (no backward diffusion)."""
        return True


class _Contrast(Diffusivity):
    def __init__(self, K: float = 1.0, learnable: bool = False):
        super().__init__()
        K = validate.squarable("K", validate.positive("K", K, "K is the contrast, in the image's units"),
                               torch.float32)
        if not isinstance(learnable, bool):
            raise TypeError(f"learnable must be True or False, got {learnable!r}")
        if learnable:  # positive by construction
            self.log_K = nn.Parameter(torch.tensor(math.log(K)))
        else:
            self.register_buffer("fixed_K", torch.tensor(float(K), dtype=torch.float64))  # exact; cast by use
        self.learnable = learnable

    @property
    def K(self) -> torch.Tensor:
        return self.log_K.exp() if self.learnable else self.fixed_K

    def sup(self) -> float:
        return 1.0


class Rational(_Contrast):
    """``1 / (1 + s / K^2)`` (Perona–Malik's second function); ``K`` optionally learnable (kept positive)."""

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return rational(s, self.K)


class Exponential(_Contrast):
    """``exp(-s / K^2)`` (Perona–Malik's first function); ``K`` optionally learnable (kept positive)."""

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return exponential(s, self.K)


class Spline(Diffusivity):
    """Learnable piecewise-linear functions on ``nodes`` equally spaced points of ``[lo, hi]``.

    ``log=False`` (one feature): ``g = phi(x)``, a diffusivity in its own right. With ``cap`` the node
    values are ``cap * sigmoid(raw)``, so ``0 < g < cap`` for any parameter value; without it the
    values are the raw parameters (free to turn negative or large: the unconstrained control).
    ``log=True`` (F features): ``g = exp(sum_f phi_f(x_f))``, the Fields-of-Experts form.

    Args:
        nodes: number of nodes n (n - 1 intervals).
        init: initial value of g at every node (``log=False``), or of every ``phi_f`` (``log=True``).
    """

    def __init__(self, nodes: int = 21, lo: float = 0.0, hi: float = 1.0, in_features: int = 1, log: bool = False,
                 cap: float | None = None, init: float = 0.5):
        super().__init__()
        nodes = validate.count("nodes", nodes, 2)
        in_features = validate.count("in_features", in_features, 1)
        lo, hi, init = validate.number("lo", lo), validate.number("hi", hi), validate.number("init", init)
        if cap is not None:
            cap = validate.positive("cap", cap)
        if not hi > lo:
            raise ValueError(f"need hi > lo, got lo={lo}, hi={hi}")
        if not log and in_features != 1:
            raise ValueError("a spline diffusivity of several features needs log=True (g = exp(sum of splines))")
        if cap is not None:
            if log:
                raise ValueError("cap applies to log=False splines")
            if not (cap > 0 and 0 < init < cap):
                raise ValueError(f"need cap > 0 and 0 < init < cap, got cap={cap}, init={init}")
            raw = math.log(init / (cap - init))  # sigmoid^-1(init / cap)
        else:
            raw = init
        self.raw = nn.Parameter(torch.full((in_features, nodes), float(raw)))
        self.in_features, self.lo, self.hi, self.log, self.cap = in_features, lo, hi, log, cap
        self.domain = (-math.inf, math.inf)

    @property
    def values(self) -> torch.Tensor:
        """Node values (F, n): of g (``log=False``) or of each ``phi_f`` (``log=True``)."""
        return self.cap * torch.sigmoid(self.raw) if self.cap is not None else self.raw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phi = spline(x, self.values, self.lo, self.hi)
        return torch.exp(phi.sum(dim=1, keepdim=True)) if self.log else phi

    @torch.no_grad()
    def sup(self) -> float:
        v = self.values.double()
        return float(torch.exp(v.max(dim=1).values.sum())) if self.log else float(v.max())

    @torch.no_grad()
    def nonnegative(self) -> bool:
        return self.log or bool(self.values.min() >= 0)


class Monomial(Diffusivity):
    """``exp(sum_i c_i (x_i - s_i)^p_i)`` for features ``x_i`` in [0, 1] (e.g. sigmoid expert responses).

    ``c`` and ``s`` are learnable, the integer powers ``p`` fixed (default ``1, 2, ..., F``).
    """

    def __init__(self, in_features: int = 1, powers: list[int] | None = None, c: float = -1.0, s: float = 0.0):
        super().__init__()
        in_features = validate.count("in_features", in_features, 1)
        c, s = validate.number("c", c), validate.number("s", s)
        p = list(powers) if powers is not None else list(range(1, in_features + 1))
        if len(p) != in_features or any(int(q) != q or q < 0 for q in p):
            raise ValueError(f"powers must be {in_features} non-negative integers, got {powers}")
        self.register_buffer("p", torch.tensor(p, dtype=torch.float32))
        self.c = nn.Parameter(torch.full((in_features,), float(c)))
        self.s = nn.Parameter(torch.full((in_features,), float(s)))
        self.in_features = in_features
        self.domain = (0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return monomial(x, self.c, self.s, self.p)

    @torch.no_grad()
    def sup(self) -> float:
        # (x - s)^p is monotone on each side of s: the largest term is at 0, 1 or s (clamped into [0, 1])
        c, s, p = self.c.double(), self.s.double(), self.p.double()
        pts = torch.stack([torch.zeros_like(s), torch.ones_like(s), s.clamp(0, 1)])
        return float(torch.exp((c * (pts - s) ** p).max(dim=0).values.sum()))


class RothBlack(Diffusivity):
    """``prod_i (1 + x_i^2 / 2)^(-exp(w_i))``: the Student-t expert diffusivity of Roth and Black (FoE)."""

    def __init__(self, in_features: int = 1, w: float = 0.0):
        super().__init__()
        in_features = validate.count("in_features", in_features, 1)
        w = validate.number("w", w, high=80.0, fix="w is the log of the expert's exponent (exp(w) must be finite)")
        self.w = nn.Parameter(torch.full((in_features,), float(w)))
        self.in_features = in_features
        self.domain = (-math.inf, math.inf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return roth_black(x, self.w)

    def sup(self) -> float:
        return 1.0


class GaussianRBF(Diffusivity):
    """``sum_j w_j exp(-(x - mu_j)^2 / (2 gamma^2))`` with ``J`` centres equally spaced on ``[lo, hi]``.

    The influence-function basis of TNRD (Chen and Pock 2017), here as a diffusivity of one feature.
    ``width`` gamma defaults to the centre spacing. With ``cap`` the weights are ``cap * softmax(raw)``
    (non-negative, summing to ``cap``), so ``0 <= g <= cap`` for any parameter value; without it they
    are free.
    """

    def __init__(self, centers: int = 63, lo: float = -1.0, hi: float = 1.0, width: float | None = None,
                 cap: float | None = None, init: float = 0.5):
        super().__init__()
        centers = validate.count("centers", centers, 2)
        lo, hi, init = validate.number("lo", lo), validate.number("hi", hi), validate.number("init", init)
        if width is not None:
            width = validate.positive("width", width)
        if cap is not None:
            cap = validate.positive("cap", cap)
        if not hi > lo:
            raise ValueError(f"need hi > lo, got [{lo}, {hi}]")
        self.register_buffer("centers", torch.linspace(lo, hi, centers))
        self.width = float(width if width is not None else (hi - lo) / (centers - 1))
        if cap is not None:
            if not cap > 0:
                raise ValueError(f"cap must be > 0, got {cap}")
            self.raw = nn.Parameter(torch.zeros(centers))
        else:  # weights giving g ~ init near the middle of the range
            mass = math.sqrt(2 * math.pi) * self.width / ((hi - lo) / (centers - 1))
            self.raw = nn.Parameter(torch.full((centers,), init / mass))
        self.cap = cap
        self.domain = (-math.inf, math.inf)

    @property
    def weights(self) -> torch.Tensor:
        return self.cap * torch.softmax(self.raw, dim=0) if self.cap is not None else self.raw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian_rbf(x, self.weights, self.centers, self.width)

    @torch.no_grad()
    def sup(self) -> float:
        """Rigorous bound: the maximum on a fine grid plus ``L h / 2`` (L the Lipschitz constant of g),
        and the tail ``sum |w| e^{-32}`` beyond 8 widths of the outer centres."""
        w, mu, gam = self.weights.double(), self.centers.double(), self.width
        lo, hi = float(mu.min()) - 8 * gam, float(mu.max()) + 8 * gam
        n = 4096
        grid = torch.linspace(lo, hi, n, dtype=torch.float64)
        top = float(gaussian_rbf(grid, w, mu, gam).max())
        lipschitz = float(w.abs().sum()) / (gam * math.sqrt(math.e))
        bound = top + lipschitz * (hi - lo) / (n - 1) / 2
        if self.cap is not None:
            bound = min(bound, self.cap)
        return max(bound, float(w.abs().sum()) * math.exp(-32.0))

    @torch.no_grad()
    def nonnegative(self) -> bool:
        """Guaranteed for capped weights, or when every weight is >= 0 (sufficient, not necessary)."""
        return self.cap is not None or bool(self.weights.min() >= 0)


class BoundedRBF(Diffusivity):
    """``g = cap * sigmoid(b + sum_j w_j exp(-(x - mu_j)^2 / (2 gamma^2)))``: a learnable influence function that
    stays in (0, cap) for every parameter value and can reach any value inside (unlike the softmax-capped
    :class:`GaussianRBF`, whose typical values are ``J`` times below its cap). Starts flat at ``init``.

    Args:
        centers, lo, hi, width: the Gaussian expansion (centres equally spaced on ``[lo, hi]``; ``width`` defaults
            to the spacing).
        cap: the bound.
        init: the starting value of g everywhere (``0 < init < cap``).
    """

    def __init__(self, centers: int = 63, lo: float = -1.0, hi: float = 1.0, width: float | None = None,
                 cap: float = 1.0, init: float = 0.5):
        super().__init__()
        centers = validate.count("centers", centers, 2)
        lo, hi = validate.number("lo", lo), validate.number("hi", hi)
        cap, init = validate.positive("cap", cap), validate.positive("init", init)
        if width is not None:
            width = validate.positive("width", width)
        if not hi > lo:
            raise ValueError(f"need hi > lo, got [{lo}, {hi}]")
        if not (cap > 0 and 0 < init < cap):
            raise ValueError(f"need cap > 0 and 0 < init < cap, got cap={cap}, init={init}")
        self.register_buffer("centers", torch.linspace(lo, hi, centers))
        self.width = float(width if width is not None else (hi - lo) / (centers - 1))
        self.raw = nn.Parameter(torch.zeros(centers))
        self.bias = nn.Parameter(torch.tensor(math.log(init / (cap - init))))
        self.cap = float(cap)
        self.domain = (-math.inf, math.inf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bounded_rbf(x, self.raw, self.bias, self.centers, self.width, self.cap)

    @torch.no_grad()
    def sup(self) -> float:
        """``cap * sigmoid`` of a rigorous bound of the inner expansion (grid maximum plus Lipschitz margin, and
        the bias alone far from the centres), at most ``cap``."""
        w, mu, gam = self.raw.double(), self.centers.double(), self.width
        lo, hi = float(mu.min()) - 8 * gam, float(mu.max()) + 8 * gam
        n = 4096
        grid = torch.linspace(lo, hi, n, dtype=torch.float64)
        top = float(gaussian_rbf(grid, w, mu, gam).max())
        bound = top + float(w.abs().sum()) / (gam * math.sqrt(math.e)) * (hi - lo) / (n - 1) / 2
        bound = max(bound, float(w.abs().sum()) * math.exp(-32.0))  # beyond the grid the expansion is ~0
        return self.cap / (1.0 + math.exp(-(float(self.bias) + bound)))

    def nonnegative(self) -> bool:
        return True


__all__ = ["rational", "exponential", "spline", "monomial", "roth_black", "gaussian_rbf", "bounded_rbf",
           "Diffusivity", "Rational", "Exponential", "Spline", "Monomial", "RothBlack", "GaussianRBF", "BoundedRBF"]
