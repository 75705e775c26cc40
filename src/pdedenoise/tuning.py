"""Choosing a denoiser's parameter against a clean reference: exact PSNR sweeps of the heat flow.

The discrete heat problem is diagonal in the eigenbasis of the 5-point Laplacian (DCT-II for
zero-flux, DST-I for zero-value boundaries, :mod:`pdedenoise.solvers.spectral`), and since that
basis is orthonormal, the squared error of ``v(T)`` against the clean image is a sum over spectral
coefficients (Parseval): a PSNR for a new (rho, T) costs one element-wise product, no transform.
Only output clipping needs the image back (two matrix products). :class:`SpectralSweep` holds one
image pair; :func:`optimal_rho` finds the PSNR-optimal scalar diffusivity by Brent's method.

The heat solution depends on ``rho * T`` only (up to the time step). Images are (N, C, H, W)
tensors on the 0–255 scale (PSNR peak 255).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .solvers.stability import max_diffusivity
from .solvers.spectral import heat_multiplier, heat_spectral, laplacian_eigenbasis
from .stencils import BoundaryCondition, check_image


class SpectralSweep:
    """PSNR of heat-equation restorations of one noisy image, for many (rho, T), exactly.

    Args:
        noisy, clean: (1, 1, H, W) (or (1, C, H, W)), 0–255.
        bc: ``"dirichlet"`` (zero boundary values) or ``"neumann"`` (zero flux).
        dt: explicit Euler time step the restoration uses (``None``: the continuous-time flow).
    """

    def __init__(self, noisy: torch.Tensor, clean: torch.Tensor, bc: BoundaryCondition = "dirichlet",
                 dt: float | None = 1e-3):
        check_image(noisy, "noisy")
        if noisy.shape != clean.shape:
            raise ValueError(f"noisy and clean differ in shape: {tuple(noisy.shape)} vs {tuple(clean.shape)}")
        self.bc, self.dt = bc, dt
        self.shape = noisy.shape
        noisy = noisy.detach().to(torch.float64)
        clean = clean.detach().to(torch.float64)
        h, w = noisy.shape[-2:]
        self.bh, lh = laplacian_eigenbasis(h, bc, torch.float64, noisy.device)
        self.bw, lw = laplacian_eigenbasis(w, bc, torch.float64, noisy.device)
        self.lam = lh[:, None] + lw[None, :]
        self.cn = self.bh @ noisy @ self.bw.T
        self.cx = self.bh @ clean @ self.bw.T
        self.clean = clean
        self.numel = clean.numel()

    def multiplier(self, rho: float | torch.Tensor, T: float) -> torch.Tensor:
        """Spectral multiplier of the restoration: ``(1 + dt rho lam)^(T/dt)`` or ``exp(rho T lam)``."""
        return heat_multiplier(self.lam, torch.as_tensor(rho, dtype=torch.float64), T, self.dt)

    def restore(self, rho: float | torch.Tensor, T: float, out_clip: bool = False) -> torch.Tensor:
        """The restored image ``v(T)``, (1, C, H, W), 0–255 (clipped to [0, 255] if ``out_clip``)."""
        v = self.bh.T @ (self.multiplier(rho, T) * self.cn) @ self.bw
        return v.clamp(0.0, 255.0) if out_clip else v

    def psnr(self, rho: float | torch.Tensor, T: float, out_clip: bool = False) -> float:
        """PSNR (peak 255) of ``v(T)`` against the clean image."""
        if out_clip:
            err = ((self.restore(rho, T, True) - self.clean) ** 2).sum()
        else:
            err = ((self.multiplier(rho, T) * self.cn - self.cx) ** 2).sum()
        return float(10.0 * torch.log10(255.0**2 * self.numel / err))

    def curve(self, rhos: Sequence[float], T: float, out_clip: bool = False) -> np.ndarray:
        """PSNR for each rho in ``rhos`` (all rhos at once)."""
        r = torch.as_tensor(np.asarray(rhos, dtype=np.float64)).reshape(-1, 1, 1, 1)
        mult = self.multiplier(r, T)  # (R, C, H, W)
        if out_clip:
            v = (self.bh.T @ (mult * self.cn) @ self.bw).clamp(0.0, 255.0)
            err = ((v - self.clean) ** 2).flatten(1).sum(1)
        else:
            err = ((mult * self.cn - self.cx) ** 2).flatten(1).sum(1)
        return (10.0 * torch.log10(255.0**2 * self.numel / err)).numpy()


@dataclass
class OptimalRho:
    """The answer of :func:`optimal_rho`: the diffusivity, its PSNR, the cost of finding it."""

    rho: float
    psnr: float
    evaluations: int
    seconds: float


def optimal_rho(noisy: torch.Tensor, clean: torch.Tensor, T: float = 1.0, bc: BoundaryCondition = "dirichlet",
                dt: float | None = 1e-3, bounds: tuple[float, float] = (1e-3, 50.0), out_clip: bool = False,
                xatol: float = 1e-5) -> OptimalRho:
    """The PSNR-optimal scalar rho for one image, by bounded Brent search over ``log rho``.

    The restoration is the exact result of ``T/dt`` explicit Euler steps (``dt=None``: exact
    flow); the upper bound is cut to the stability limit ``1/(4 dt)``. Timed from the spectral
    transform of the images to the answer.
    """
    from scipy.optimize import minimize_scalar

    t0 = time.perf_counter()
    sweep = SpectralSweep(noisy, clean, bc, dt)
    hi = bounds[1] if dt is None else min(bounds[1], max_diffusivity(dt))
    res = minimize_scalar(lambda s: -sweep.psnr(math.exp(s), T, out_clip), bounds=(math.log(bounds[0]), math.log(hi)),
                          method="bounded", options={"xatol": xatol})
    rho = math.exp(res.x)
    return OptimalRho(rho=rho, psnr=-float(res.fun), evaluations=int(res.nfev), seconds=time.perf_counter() - t0)


def heat_restore(noisy: torch.Tensor, rho: float | torch.Tensor, T: float = 1.0, bc: BoundaryCondition = "dirichlet",
                 dt: float | None = 1e-3, out_clip: bool = False) -> torch.Tensor:
    """Heat restoration (``T/dt`` explicit Euler steps, computed exactly), 0–255 in and out."""
    v = heat_spectral(noisy, rho, T, bc, dt=dt)
    return v.clamp(0.0, 255.0) if out_clip else v


@dataclass
class BestStop:
    """The answer of :func:`best_stopping_time`: the best PSNR, after how many steps, and that image."""

    psnr: float
    steps: int
    image: torch.Tensor


@torch.no_grad()
def best_stopping_time(noisy: torch.Tensor, clean: torch.Tensor, K: float, steps: int, dt: float = 0.2,
                       diffusivity: str = "rational", data_range: float = 255.0) -> BestStop:
    """Run ``steps`` Perona–Malik steps and keep the PSNR-best iterate (an oracle stopping time).

    Args:
        noisy, clean: (1, C, H, W) on the scale of ``data_range``.
    Returns:
        the best PSNR (dB), its step count (0: the noisy image itself) and the image.
    """
    from .diffusion import perona_malik_step
    from .metrics import psnr

    u, best = noisy, BestStop(float(psnr(noisy, clean, data_range)), 0, noisy)
    for n in range(1, steps + 1):
        u = perona_malik_step(u, K, dt, diffusivity=diffusivity)
        p = float(psnr(u, clean, data_range))
        if p > best.psnr:
            best = BestStop(p, n, u)
    return best
