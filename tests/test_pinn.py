"""The DeepXDE PINN of the heat chapter recovers a known diffusivity."""
import math

import numpy as np
import pytest
import torch

from pdedenoise.papers.kharro2026.method import PINNConfig, fit_heat_pinn, pixel_points


def test_pixel_points_are_row_major_pixel_centres():
    p = pixel_points(2, 3, 1.0)
    assert p.shape == (6, 3)
    np.testing.assert_allclose(p[1], [0.5, 0.25, 1.0])   # row 0, column 1: x = 1.5/3, y = 0.5/2
    np.testing.assert_allclose(p[3], [1 / 6, 0.75, 1.0])  # row 1, column 0


@pytest.mark.slow
def test_pinn_recovers_a_known_diffusivity():
    """One heat mode on a 16x16 grid decays by e^-1 between t=0 and t=T; rho starts at 2x the truth."""
    n, rho, T = 16, 0.5, 25.0

    def mode(t):
        p = pixel_points(n, n, 0.0)
        x, y = p[:, 0] * n, p[:, 1] * n
        u = 200 * np.sin(math.pi * x / n) * np.sin(math.pi * y / n) * np.exp(-rho * t * 2 * math.pi**2 / n**2)
        return torch.tensor(u).reshape(1, 1, n, n)

    cfg = PINNConfig(hidden=16, depth=2, iterations=1500, lr=1e-2, rho_init=1.0, num_domain=300, record_every=250)
    res = fit_heat_pinn(mode(0.0), mode(T), T, cfg)
    assert abs(res.rho - rho) < 0.1, res.rho_history
    assert res.rho_history[0] == pytest.approx(1.0) and len(res.rho_history) == 7
    assert len(res.loss_pde) == len(res.loss_initial) == len(res.loss_final) == len(res.loss_steps) >= 2
    assert res.loss_final[-1] < res.loss_final[0]
    assert res.v0.shape == (1, 1, n, n)
    assert torch.get_default_device() == torch.device("cpu")
