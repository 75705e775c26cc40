"""A TNRD-style learned reaction-diffusion (Chen and Pock 2017), the learned baseline of chapter 2.

Each stage ``t`` takes ``u <- u - [sum_i kbar_i * phi_i(k_i * u) + lambda_t (u - f)]`` with ``F`` zero-mean
filters ``k_i`` of ``s x s`` pixels (coefficients on the 2-D DCT basis without its constant atom, as TNRD), their
adjoints ``kbar_i`` (the transposed convolution), influence functions ``phi_i`` expanded on ``J`` Gaussian radial
basis functions over ``[-span, span]`` (0–255 images: TNRD's 63 centres on [-310, 310]) and ``lambda_t >= 0``.
Zero padding on both the filter and its adjoint keeps them an exact adjoint pair. Trained greedily (stage ``t``
alone on top of the trained earlier stages), then jointly (:func:`pdedenoise.papers.barbeiro2020.analysis.train_tnrd`).

Parameters per stage: ``F (s^2 - 1)`` filter coefficients, ``F J`` RBF weights, one reaction weight; 5 stages of
24 filters 5 x 5 with 63 centres: 10,445.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ... import kernels, nativeconv

#: grid points of the tabulated influence functions (linear interpolation between them)
TABLE = 2048


def dct_basis(size: int) -> torch.Tensor:
    """The 2-D DCT-II atoms of ``size x size`` pixels without the constant one, orthonormal: (size^2 - 1, size, size)."""
    n = torch.arange(size, dtype=torch.float64)
    k = torch.arange(size, dtype=torch.float64)[:, None]
    c = torch.cos(math.pi * (n + 0.5) * k / size) * math.sqrt(2.0 / size)
    c[0] /= math.sqrt(2.0)
    atoms = torch.einsum("ai,bj->abij", c, c).reshape(size * size, size, size)
    return atoms[1:].float()


def _table_position(z: torch.Tensor, lo: float, step: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row offset ``i0`` (int64, 0..TABLE-2), fraction ``t`` and whether ``z`` lies inside the table (no clamping)."""
    raw = (z - lo) / step
    pos = raw.clamp(0, TABLE - 1)
    i0 = pos.floor().clamp(max=TABLE - 2)
    return i0.long(), pos - i0, (raw > 0) & (raw < TABLE - 1)


def table_interpolation(z: torch.Tensor, values: torch.Tensor, lo: float, step: float) -> torch.Tensor:
    """Linear interpolation of the rows of ``values`` (F, TABLE) at ``z`` (N, F, H, W), grid ``lo + step k``."""
    i0, t, _ = _table_position(z, lo, step)
    rows = (torch.arange(values.shape[0], device=z.device) * TABLE).reshape(1, -1, 1, 1)
    flat = values.reshape(-1)
    idx = i0 + rows
    return flat[idx] * (1 - t) + flat[idx + 1] * t


def _table_interpolation_grads(z, values, lo, step, grad):
    """d/dz (the interval's slope inside the table, 0 where clamped) and d/dvalues (histograms of 1 - t and t)."""
    i0, t, inside = _table_position(z, lo, step)
    nf = values.shape[0]
    rows = (torch.arange(nf, device=z.device) * TABLE).reshape(1, -1, 1, 1)
    flat = values.reshape(-1)
    idx = i0 + rows
    grad_z = grad * (flat[idx + 1] - flat[idx]) / step * inside
    gv = torch.zeros(nf * TABLE, dtype=grad.dtype, device=grad.device)
    gv = gv.index_add(0, idx.reshape(-1), (grad * (1 - t)).reshape(-1))
    gv = gv.index_add(0, (idx + 1).reshape(-1), (grad * t).reshape(-1))
    return grad_z, gv.reshape(nf, TABLE)


class _TableInterpolation(torch.autograd.Function):
    """:func:`table_interpolation` with its gradients in closed form (only ``z`` kept), optionally compiled."""

    @staticmethod
    def forward(ctx, z, values, lo, step):
        ctx.save_for_backward(z, values)
        ctx.lo, ctx.step = lo, step
        return kernels.kernel("tnrd table", table_interpolation)(z, values, lo, step)

    @staticmethod
    def backward(ctx, grad):
        z, values = ctx.saved_tensors
        grad_z, grad_v = kernels.kernel("tnrd table gradients", _table_interpolation_grads)(z, values, ctx.lo, ctx.step, grad.contiguous())
        return grad_z, grad_v, None, None


class Stage(nn.Module):
    """One TNRD stage: (u, f) -> u, both (N, 1, H, W) on 0–255."""

    def __init__(self, filters: int = 24, size: int = 5, centers: int = 63, span: float = 310.0,
                 reaction: float = 0.1):
        super().__init__()
        self.register_buffer("basis", dct_basis(size))
        self.coeffs = nn.Parameter(torch.randn(filters, size * size - 1, generator=torch.Generator().manual_seed(
            filters * 7 + size)) * 0.3)
        self.register_buffer("centers", torch.linspace(-span, span, centers))
        self.width = 2 * span / (centers - 1)
        # start each phi as a small linear-then-saturating shrinkage (phi(z) ~ z near 0): weights proportional to mu
        self.weights = nn.Parameter((self.centers / span * 0.1).repeat(filters, 1))
        self.log_reaction = nn.Parameter(torch.tensor(math.log(reaction)))
        self.size = size

    @property
    def kernels(self) -> torch.Tensor:
        """The zero-mean filters, (F, 1, s, s)."""
        return torch.einsum("fa,aij->fij", self.coeffs, self.basis)[:, None]

    def table(self) -> tuple[torch.Tensor, float, float]:
        """Each influence function on a fine grid: ``(values (F, TABLE), lo, step)``, exact at the grid points."""
        lo, hi = float(self.centers[0]) - 4 * self.width, float(self.centers[-1]) + 4 * self.width
        grid = torch.linspace(lo, hi, TABLE, dtype=self.weights.dtype, device=self.weights.device)
        basis = torch.exp(-((grid[:, None] - self.centers[None, :]) ** 2) / (2 * self.width ** 2))  # (TABLE, J)
        return self.weights @ basis.T, lo, (hi - lo) / (TABLE - 1)

    def phi(self, z: torch.Tensor) -> torch.Tensor:
        """The influence functions on the filter responses (N, F, H, W), by linear interpolation in :meth:`table`
        (one gather instead of J Gaussians per response; beyond the table's ends, its end values, ~0).

        Evaluated by :class:`_TableInterpolation` (closed-form gradients, only ``z`` kept for the backward; equal
        to the plain gather-and-autograd form :func:`table_interpolation` to round-off, tested)."""
        values, lo, step = self.table()
        if kernels.reference():
            return table_interpolation(z, values, lo, step)
        return _TableInterpolation.apply(z, values, lo, step)

    def forward(self, u: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        k, p = self.kernels, self.size // 2
        if kernels.reference():
            z = F.conv2d(u, k, padding=p)
            back = F.conv_transpose2d(self.phi(z), k, padding=p)
        else:
            z = nativeconv.conv2d(u, k, padding=p)
            back = nativeconv.conv_transpose2d(self.phi(z), k, padding=p)
        return u - back - torch.exp(self.log_reaction) * (u - f)


class TNRD(nn.Module):
    """``stages`` TNRD stages on a noisy image: (N, 1, H, W) -> (N, 1, H, W), 0–255."""

    def __init__(self, stages: int = 5, filters: int = 24, size: int = 5, centers: int = 63, span: float = 310.0):
        super().__init__()
        self.stages = nn.ModuleList(Stage(filters, size, centers, span) for _ in range(stages))
        self.active = stages  # how many stages run (greedy training grows it)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        u = f
        for stage in self.stages[:self.active]:
            u = stage(u, f)
        return u

    def count_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
