"""Exact heat sweeps and the Brent optimum agree with the explicit solver and with a dense grid."""
import math

import numpy as np
import pytest
import torch

from pdedenoise.degradations import noisy_image
from pdedenoise.diffusion import heat
from pdedenoise.metrics import psnr
from pdedenoise.tuning import SpectralSweep, heat_restore, optimal_rho


def _smooth_image(h=24, w=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, h // 4, w // 4, generator=g, dtype=torch.float64)
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return 30 + 200 * x


@pytest.mark.parametrize("bc", ["dirichlet", "neumann"])
@pytest.mark.parametrize("out_clip", [False, True])
def test_spectral_sweep_equals_explicit_solver(bc, out_clip):
    clean = _smooth_image()
    noisy = clean + 60 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rho, T, dt = 1.7, 0.6, 0.02
    ref = heat(noisy, rho, T, dt, bc)
    if out_clip:
        ref = ref.clamp(0, 255)
    sweep = SpectralSweep(noisy, clean, bc, dt)
    torch.testing.assert_close(sweep.restore(rho, T, out_clip), ref, rtol=0, atol=1e-9)
    assert sweep.psnr(rho, T, out_clip) == pytest.approx(float(psnr(ref, clean, 255.0)), abs=1e-9)
    torch.testing.assert_close(heat_restore(noisy, rho, T, bc, dt, out_clip), ref, rtol=0, atol=1e-9)


def test_optimal_rho_beats_a_dense_grid():
    clean = _smooth_image(32, 32)
    noisy = noisy_image(clean, 50.0, seed=0)
    best = optimal_rho(noisy, clean, T=1.0, bc="dirichlet", dt=1e-2, bounds=(1e-2, 20.0))
    sweep = SpectralSweep(noisy, clean, "dirichlet", 1e-2)
    grid = np.exp(np.linspace(math.log(1e-2), math.log(20.0), 400))
    vals = sweep.curve(grid, 1.0)
    assert best.psnr >= vals.max() - 1e-6
    assert abs(math.log(best.rho) - math.log(grid[vals.argmax()])) < 0.05
    assert best.evaluations < 60
