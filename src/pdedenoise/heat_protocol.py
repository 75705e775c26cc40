"""Pinning down an unstated heat-denoising protocol by fitting published PSNR tables.

A paper that denoises by the heat equation ``v_t = rho * Laplacian(v)`` and prints PSNR against
rho usually leaves parts of its protocol unstated: the final time ``T``, the boundary condition,
whether the noisy image was clipped (or stored as ``uint8``), whether the output was clipped.
Each choice changes the PSNR curve, so the published curve itself tells which choices fit.

Everything here is exact and cheap: the discrete heat problem is diagonal in the eigenbasis of
the 5-point Laplacian (DCT-II for zero-flux, DST-I for zero-value boundaries, see
:func:`pdedenoise.diffusion.heat_spectral`), and since that basis is orthonormal, the squared error
of ``v(T)`` against the clean image is a sum over spectral coefficients (Parseval): a PSNR for a
new (rho, T) costs one element-wise product, no transform. Only output clipping needs the image
back (two matrix products).

Note that the heat solution depends on ``rho * T`` only (up to the time step): fitting ``T`` is the
same as rescaling every rho. Images are (N, C, H, W) tensors on the 0–255 scale throughout.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .diffusion import heat_multiplier, heat_spectral, laplacian_eigenbasis
from .stencils import BoundaryCondition, check_image

NOISE_MODES = ("plain", "clip", "round_clip", "wrap")
"""How the noisy image was stored:

``plain``       clean + sigma * N(0, 1), real-valued, unclipped;
``clip``        clipped to [0, 255] (a float image clipped after adding noise);
``round_clip``  rounded and clipped: a ``uint8`` image with saturation (e.g. ``np.clip(...).astype(np.uint8)``);
``wrap``        truncated modulo 256: ``(clean + noise).astype(np.uint8)`` without clipping, which wraps
                negative values to bright ones and values above 255 to dark ones.
"""


def apply_noise_mode(noisy: torch.Tensor, mode: str) -> torch.Tensor:
    """Turn a real-valued noisy image (0–255 scale) into what a given storage would hold."""
    if mode == "plain":
        return noisy
    if mode == "clip":
        return noisy.clamp(0.0, 255.0)
    if mode == "round_clip":
        return noisy.round().clamp(0.0, 255.0)
    if mode == "wrap":
        return torch.remainder(torch.trunc(noisy), 256.0)
    raise ValueError(f"unknown noise mode {mode!r}; use one of {NOISE_MODES}")


def noisy_image(clean: torch.Tensor, sigma: float, seed: int, mode: str = "plain") -> torch.Tensor:
    """``clean`` (0–255) plus Gaussian noise of std ``sigma`` from ``seed``, stored as ``mode``.

    All modes share one noise realisation per seed (from :func:`pdedenoise.data.add_gaussian_noise`),
    so they differ only in storage.
    """
    from .data import add_gaussian_noise

    return apply_noise_mode(add_gaussian_noise(clean, sigma, seed=seed), mode)


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


def rms(a: Sequence[float], b: Sequence[float]) -> float:
    """Root mean square of ``a - b``."""
    d = np.asarray(a, float) - np.asarray(b, float)
    return float(np.sqrt(np.mean(d**2)))


@dataclass(frozen=True)
class Candidate:
    """One guess at the unstated restoration protocol."""

    noise: str
    bc: str
    T: float
    out_clip: bool

    def label(self) -> str:
        return f"noise={self.noise}, bc={self.bc}, T={self.T:g}, output clip={'yes' if self.out_clip else 'no'}"


def fit_protocol(
    cleans: Mapping[str, torch.Tensor],
    published: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    sigma: float = 50.0,
    noise_modes: Iterable[str] = ("plain", "clip", "wrap"),
    bcs: Iterable[str] = ("dirichlet", "neumann"),
    Ts: Iterable[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
    out_clips: Iterable[bool] = (False, True),
    seeds: Sequence[int] = (0,),
    dt: float = 1e-3,
    exclude: Mapping[str, Sequence[float]] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """How well each candidate protocol reproduces published PSNR-vs-rho tables.

    Args:
        cleans: image name -> clean image (1, 1, H, W), 0–255.
        published: image name -> (rhos, published PSNRs in dB).
        seeds: noise realisations; the table reports the mean over seeds and the spread.
        exclude: image name -> rhos left out of the rms (e.g. a suspected misprint); still reported.
    Returns:
        one row per (candidate, image): ``noise, bc, T, out_clip, image, rms_db`` (over the kept
        rhos, mean over seeds), ``max_abs_db``, ``seed_sd_db`` (sd over seeds of the rms) and the
        reproduced PSNRs (mean over seeds) in ``psnr``.
    """
    exclude = exclude or {}
    rows = []
    combos = list(itertools.product(noise_modes, bcs))
    it = itertools.product(cleans.items(), combos, seeds)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(list(it), desc="protocol fit", leave=False)
    curves: dict[tuple, list[np.ndarray]] = {}
    for (name, clean), (mode, bc), seed in it:
        rhos, _ = published[name]
        sweep = SpectralSweep(noisy_image(clean.to(torch.float64), sigma, seed, mode), clean, bc, dt)
        for T, oc in itertools.product(Ts, out_clips):
            curves.setdefault((name, mode, bc, T, oc), []).append(sweep.curve(rhos, T, oc))
    for (name, mode, bc, T, oc), cs in curves.items():
        rhos, pub = published[name]
        keep = np.array([not any(math.isclose(r, e) for e in exclude.get(name, ())) for r in rhos])
        per_seed = [rms(c[keep], np.asarray(pub)[keep]) for c in cs]
        mean_curve = np.mean(cs, axis=0)
        rows.append({"noise": mode, "bc": bc, "T": T, "out_clip": oc, "image": name,
                     "rms_db": float(np.mean(per_seed)),
                     "max_abs_db": float(np.max(np.abs(mean_curve[keep] - np.asarray(pub)[keep]))),
                     "seed_sd_db": float(np.std(per_seed)), "psnr": mean_curve.tolist()})
    return pd.DataFrame(rows)


def best_candidates(fit: pd.DataFrame, images: Sequence[str] | None = None, top: int = 5) -> pd.DataFrame:
    """Candidates ranked by their rms over ``images`` (all by default), one column per image."""
    sub = fit if images is None else fit[fit["image"].isin(images)]
    wide = sub.pivot_table(index=["noise", "bc", "T", "out_clip"], columns="image", values="rms_db")
    wide["joint rms (dB)"] = np.sqrt((wide**2).mean(axis=1))
    return wide.sort_values("joint rms (dB)").head(top).reset_index()


@dataclass
class OptimalRho:
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
    hi = bounds[1] if dt is None else min(bounds[1], 0.25 / dt)
    res = minimize_scalar(lambda s: -sweep.psnr(math.exp(s), T, out_clip), bounds=(math.log(bounds[0]), math.log(hi)),
                          method="bounded", options={"xatol": xatol})
    rho = math.exp(res.x)
    return OptimalRho(rho=rho, psnr=-float(res.fun), evaluations=int(res.nfev), seconds=time.perf_counter() - t0)


def restore(noisy: torch.Tensor, rho: float | torch.Tensor, T: float = 1.0, bc: BoundaryCondition = "dirichlet",
            dt: float | None = 1e-3, out_clip: bool = False) -> torch.Tensor:
    """The paper's restoration (T/dt explicit Euler steps, computed exactly), 0–255 in and out."""
    v = heat_spectral(noisy, rho, T, bc, dt=dt)
    return v.clamp(0.0, 255.0) if out_clip else v
