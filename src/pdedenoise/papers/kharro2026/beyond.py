"""A spatially varying thermal diffusivity rho(x) with a total-variation penalty.

The "beyond the paper" model of the heat chapter (problem (6) of Kharro, Douiri and Moumni, 2026):
restore by ``v_t = div(rho(x) grad v)`` (explicit Euler, zero boundary values by default) and
choose the field by

    min_rho  mean((v(T; rho) - clean)^2) / 255^2  +  lam * TV(rho),

with ``rho = exp(a)`` (positive) and ``TV`` the mean anisotropic total variation
``mean |a_x| + mean |a_y|`` of the log-field (forward differences), solved by Adam with gradients
through the solver. Like the paper's scalar rho* (found with the clean image as the final-time
target), this uses the clean image: it measures how much a spatially varying diffusivity can gain,
an oracle bound, not a blind denoiser. Images are (N, 1, H, W), 0–255.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from ...diffusion import heat
from ...metrics import mse, psnr
from ...solvers.stability import max_diffusivity
from ...stencils import BoundaryCondition


class PixelRhoHeat(nn.Module):
    """Heat restoration with a learnable per-pixel diffusivity ``rho = exp(a)``, capped at ``rho_max``.

    Args:
        shape: (N, 1, H, W) of the field (one field per image).
        rho_init: initial (constant) diffusivity.
        T, dt: final time and explicit time step; ``rho_max`` defaults to the stability cap
            ``1 / (4 dt)`` so every step is stable.
    """

    def __init__(self, shape: tuple[int, int, int, int], rho_init: float = 1.0, T: float = 1.0, dt: float = 0.05,
                 bc: BoundaryCondition = "dirichlet", rho_max: float | None = None):
        super().__init__()
        self.log_rho = nn.Parameter(torch.full(shape, math.log(rho_init), dtype=torch.float32))
        self.T, self.dt, self.bc = T, dt, bc
        self.rho_max = rho_max if rho_max is not None else max_diffusivity(dt)

    @property
    def rho(self) -> torch.Tensor:
        """The diffusivity field (N, 1, H, W), in (0, rho_max]."""
        return torch.clamp(self.log_rho.exp(), max=self.rho_max)

    def tv(self) -> torch.Tensor:
        """Mean anisotropic total variation of the log-field, per image (N,)."""
        a = self.log_rho
        return (a[..., :, 1:] - a[..., :, :-1]).abs().flatten(1).mean(1) + \
            (a[..., 1:, :] - a[..., :-1, :]).abs().flatten(1).mean(1)

    def forward(self, u0: torch.Tensor) -> torch.Tensor:
        return heat(u0, self.rho, self.T, self.dt, self.bc)


@dataclass
class RhoFieldResult:
    """Result of :func:`fit_rho_field`: the field, the restoration, and the history."""

    rho: torch.Tensor
    restored: torch.Tensor
    psnr_init: list[float]
    psnr_final: list[float]
    history: dict = field(default_factory=dict)
    seconds: float = 0.0


def fit_rho_field(noisy: torch.Tensor, clean: torch.Tensor, rho_init: float | torch.Tensor = 1.0, T: float = 1.0,
                  dt: float = 0.05, bc: BoundaryCondition = "dirichlet", lam: float = 1e-3, iterations: int = 100,
                  lr: float = 0.05, record_every: int = 10, progress: bool = False) -> RhoFieldResult:
    """Fit a per-pixel diffusivity field to each image of a batch (see module docstring).

    Args:
        noisy, clean: (N, 1, H, W), 0–255.
        rho_init: the constant the field starts from (e.g. the best scalar rho for the same solver),
            a float or per-image (N,) tensor.
        lam: weight of the total variation of ``log rho``.
        iterations, lr: Adam on ``log rho``.
    Returns:
        the field (N, 1, H, W), the restored images, PSNR at the start and at the end per image,
        and a history of loss and mean PSNR.
    """
    n = noisy.shape[0]
    model = PixelRhoHeat(tuple(noisy.shape[:1]) + (1,) + tuple(noisy.shape[-2:]), 1.0, T, dt, bc)
    init = torch.as_tensor(rho_init, dtype=torch.float32).reshape(-1, 1, 1, 1).expand(n, 1, *noisy.shape[-2:])
    with torch.no_grad():
        model.log_rho.copy_(init.log())
    noisy = noisy.float()
    clean = clean.float()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    with torch.no_grad():
        psnr_init = psnr(model(noisy), clean, 255.0).tolist()
    history = {"step": [], "loss": [], "psnr": []}
    it = range(iterations)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="TV-rho", leave=False)
    t0 = time.perf_counter()
    for step in it:
        opt.zero_grad()
        v = model(noisy)
        fit = mse(v, clean) / 255.0**2
        loss = (fit + lam * model.tv()).sum()
        loss.backward()
        opt.step()
        if step % record_every == 0 or step == iterations - 1:
            history["step"].append(step)
            history["loss"].append(float(loss.detach()) / n)
            history["psnr"].append(float((10 * torch.log10(1.0 / fit.detach())).mean()))
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        restored = model(noisy)
        psnr_final = psnr(restored, clean, 255.0).tolist()
    return RhoFieldResult(rho=model.rho.detach(), restored=restored.detach(), psnr_init=psnr_init,
                          psnr_final=psnr_final, history=history, seconds=seconds)


@dataclass
class TVExperiment:
    """The rho(x) experiment on a batch of images: best scalar starts, the fitted fields, fresh-noise check."""

    starts: list[float]
    result: RhoFieldResult
    fresh_scalar: list[float]
    fresh_field: list[float]

    def table(self, names) -> "pd.DataFrame":
        import pandas as pd

        t = pd.DataFrame({"image": list(names), "best scalar rho": self.starts, "PSNR scalar (dB)": self.result.psnr_init,
                          "PSNR rho(x) (dB)": self.result.psnr_final, "fresh noise: scalar (dB)": self.fresh_scalar,
                          "fresh noise: rho(x) (dB)": self.fresh_field})
        t["gain (dB)"] = t["PSNR rho(x) (dB)"] - t["PSNR scalar (dB)"]
        t["gain on fresh noise (dB)"] = t["fresh noise: rho(x) (dB)"] - t["fresh noise: scalar (dB)"]
        return t


def tv_experiment(clean: torch.Tensor, iterations: int, seed: int, fresh_seed: int, storage: str,
                  progress: bool = False) -> TVExperiment:
    """Fit a TV-regularised rho(x) per image (start: the best scalar rho for the same solver), then apply the
    fields and the scalars to a fresh noise realisation. ``clean``: (N, 1, H, W), 0–255."""
    from ...degradations import noisy_image
    from ...tuning import optimal_rho
    from .protocol import SIGMA, TV

    noisy_ = noisy_image(clean, SIGMA, seed, storage)
    fresh = noisy_image(clean, SIGMA, fresh_seed, storage)
    starts = [optimal_rho(noisy_[i:i + 1], clean[i:i + 1], TV["T"], TV["bc"], TV["dt"], bounds=(0.01, 5.0)).rho
              for i in range(len(clean))]
    res = fit_rho_field(noisy_.float(), clean.float(), torch.tensor(starts), iterations=iterations, progress=progress,
                        **TV)
    with torch.no_grad():
        fresh_scalar = psnr(heat(fresh.float(), torch.tensor(starts, dtype=torch.float32), TV["T"], TV["dt"], TV["bc"]),
                            clean.float(), 255.0)
        fresh_field = psnr(heat(fresh.float(), res.rho, TV["T"], TV["dt"], TV["bc"]), clean.float(), 255.0)
    return TVExperiment(starts, res, fresh_scalar.tolist(), fresh_field.tolist())
