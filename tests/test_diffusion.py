import math

import numpy as np
import pytest
import torch
from scipy import fft

from pdedenoise import diffusion as D

f64 = torch.float64


def scipy_heat(u0: np.ndarray, rho: float, T: float, bc: str, dt: float | None = None) -> np.ndarray:
    """Independent reference: the discrete heat flow in the DCT-II (Neumann) / DST-I (Dirichlet)
    eigenbasis of the 5-point Laplacian, computed with scipy.fft on one (H, W) image."""
    h, w = u0.shape
    if bc == "neumann":
        lam = lambda n: -4 * np.sin(np.pi * np.arange(n) / (2 * n)) ** 2
        coeffs = fft.dctn(u0, type=2, norm="ortho")
    else:
        lam = lambda n: -4 * np.sin(np.pi * np.arange(1, n + 1) / (2 * (n + 1))) ** 2
        coeffs = fft.dstn(u0, type=1, norm="ortho")
    L = lam(h)[:, None] + lam(w)[None, :]
    mult = np.exp(rho * T * L) if dt is None else (1 + dt * rho * L) ** round(T / dt)
    out = coeffs * mult
    return fft.idctn(out, type=2, norm="ortho") if bc == "neumann" else fft.idstn(out, type=1, norm="ortho")


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_explicit_heat_equals_exact_discrete_solution(bc, rng):
    u0 = torch.rand(1, 1, 24, 31, generator=rng, dtype=f64) * 255
    out = D.heat(u0, rho=0.8, T=1.0, dt=0.01, bc=bc)
    ref = scipy_heat(u0[0, 0].numpy(), 0.8, 1.0, bc, dt=0.01)
    np.testing.assert_allclose(out[0, 0].numpy(), ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_spectral_heat_matches_scipy_reference(bc, rng):
    u0 = torch.rand(2, 1, 20, 16, generator=rng, dtype=f64)
    for dt in (None, 0.05):
        out = D.heat_spectral(u0, 1.3, 0.5, bc=bc, dt=dt)
        for i in range(2):
            np.testing.assert_allclose(out[i, 0].numpy(), scipy_heat(u0[i, 0].numpy(), 1.3, 0.5, bc, dt), atol=1e-12)


def test_explicit_heat_converges_to_continuous_time_flow(rng):
    u0 = torch.rand(1, 1, 16, 16, generator=rng, dtype=f64)
    exact = D.heat_spectral(u0, 1.0, 1.0, bc="neumann")
    errors = [float((D.heat(u0, 1.0, 1.0, dt, "neumann") - exact).abs().max()) for dt in (0.1, 0.05, 0.025)]
    # explicit Euler is first order in time: halving dt halves the error
    assert 1.8 < errors[0] / errors[1] < 2.2 and 1.8 < errors[1] / errors[2] < 2.2


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_single_eigenmode_decays_at_its_rate(bc):
    h, w, k, l = 12, 10, 3, 2
    i, j = np.arange(h)[:, None], np.arange(w)[None, :]
    if bc == "neumann":
        mode = np.cos(np.pi * k * (i + 0.5) / h) * np.cos(np.pi * l * (j + 0.5) / w)
        lam = -4 * np.sin(np.pi * k / (2 * h)) ** 2 - 4 * np.sin(np.pi * l / (2 * w)) ** 2
    else:
        mode = np.sin(np.pi * (k + 1) * (i + 1) / (h + 1)) * np.sin(np.pi * (l + 1) * (j + 1) / (w + 1))
        lam = -4 * np.sin(np.pi * (k + 1) / (2 * (h + 1))) ** 2 - 4 * np.sin(np.pi * (l + 1) / (2 * (w + 1))) ** 2
    u0 = torch.tensor(mode, dtype=f64)[None, None]
    out = D.heat(u0, rho=2.0, T=0.5, dt=0.01, bc=bc)
    torch.testing.assert_close(out, u0 * (1 + 0.01 * 2.0 * lam) ** 50, rtol=0, atol=1e-12)


def _checker(h=16, w=16):
    return ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2).to(f64)[None, None] * 255


def test_zero_flux_conserves_the_mean(rng):
    u0 = torch.rand(3, 2, 19, 14, generator=rng, dtype=f64) * 255
    field = torch.rand(3, 1, 19, 14, generator=rng, dtype=f64)
    cases = {
        "heat": D.heat(u0, 1.0, 2.0, 0.1, "neumann"),
        "heat field": D.heat(u0, field, 2.0, 0.1, "neumann"),
        "pm edge": D.perona_malik(u0, 10.0, 0.2, 20, "rational", "neumann", "edge"),
        "pm average": D.perona_malik(u0, 10.0, 0.2, 20, "exponential", "neumann", "average"),
        "divergence": D.divergence_step(u0, field, 0.2, "neumann"),
    }
    for name, out in cases.items():
        torch.testing.assert_close(out.mean(dim=(2, 3)), u0.mean(dim=(2, 3)), rtol=0, atol=1e-9, msg=name)


def test_dirichlet_loses_mass_through_the_boundary(rng):
    u0 = torch.rand(1, 1, 16, 16, generator=rng, dtype=f64) + 1
    assert D.heat(u0, 1.0, 1.0, 0.1, "dirichlet").mean() < u0.mean() - 0.05


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_maximum_principle_for_stable_steps(bc, rng):
    u0 = _checker()
    lo, hi = (0.0, 255.0)
    field = torch.rand(1, 1, 16, 16, generator=rng, dtype=f64) * 2
    runs = [
        D.heat(u0, 1.0, 2.5, 0.25, bc),  # exactly at the bound
        D.heat(u0, field, 1.0, 0.125, bc),
        D.perona_malik(u0, 20.0, 0.25, 10, "rational", bc),
        D.perona_malik(u0, 20.0, 0.25, 10, "exponential", bc, scheme="average"),
    ]
    for out in runs:
        assert float(out.min()) >= lo - 1e-9 and float(out.max()) <= hi + 1e-9


def test_unstable_step_violates_maximum_principle():
    """The negative control: without the check, a step past the bound leaves [0, 255]."""
    out = _checker()
    for _ in range(3):
        out = D.heat_step(out, 1.0, 0.3, "neumann")
    assert float(out.max()) > 255 or float(out.min()) < 0


def test_stability_error_names_the_bound():
    u0 = _checker()
    with pytest.raises(D.StabilityError, match=r"dt <= .*= 0\.125"):
        D.heat(u0, rho=2.0, T=1.0, dt=0.2)
    with pytest.raises(D.StabilityError, match="substeps=True"):
        D.perona_malik(u0, 10.0, dt=0.3, steps=2)
    with pytest.raises(D.StabilityError):
        D.divergence_step(u0, torch.full_like(u0, 3.0), 0.1)
    with pytest.raises(D.StabilityError):
        D.heat_spectral(u0, 2.0, 1.0, dt=0.2)


def test_substeps_split_an_unstable_step():
    u0 = _checker()
    coarse = D.heat(u0, 1.0, 0.9, 0.3, substeps=True)  # 0.3 > 0.25: two sub-steps of 0.15
    fine = D.heat(u0, 1.0, 0.9, 0.15)
    torch.testing.assert_close(coarse, fine, rtol=0, atol=1e-10)
    assert float(coarse.max()) <= 255 + 1e-9


def test_per_image_rho_equals_separate_runs(rng):
    u0 = torch.rand(3, 1, 10, 12, generator=rng, dtype=f64)
    rho = torch.tensor([0.1, 0.5, 2.0], dtype=f64)
    batched = D.heat(u0, rho, 1.0, 0.1)
    for i in range(3):
        torch.testing.assert_close(batched[i : i + 1], D.heat(u0[i : i + 1], float(rho[i]), 1.0, 0.1), rtol=0, atol=1e-12)
    torch.testing.assert_close(D.heat_spectral(u0, rho, 1.0, dt=0.1), batched, rtol=0, atol=1e-10)


def test_constant_field_equals_scalar_rho(rng):
    u0 = torch.rand(2, 1, 10, 12, generator=rng, dtype=f64)
    for bc in ("neumann", "dirichlet"):
        torch.testing.assert_close(D.heat(u0, torch.full_like(u0, 0.7), 1.0, 0.1, bc), D.heat(u0, 0.7, 1.0, 0.1, bc), rtol=0, atol=1e-12)


def test_bad_inputs_raise_clear_errors():
    u0 = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="NaN"):
        D.heat(torch.full((1, 1, 4, 4), float("nan")), 1.0, 0.1, 0.1)
    with pytest.raises(ValueError, match="non-negative"):
        D.heat(u0, -1.0, 0.1, 0.1)
    with pytest.raises(ValueError, match="whole number of steps"):
        D.heat(u0, 1.0, 1.0, 0.3)
    with pytest.raises(ValueError, match="per-image tensor"):
        D.heat(u0, torch.ones(3), 0.1, 0.1)
    with pytest.raises(ValueError, match="K must be > 0"):
        D.perona_malik(u0, 0.0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        D.heat(torch.zeros(8, 8), 1.0, 0.1, 0.1)


def test_float32_matches_float64(rng):
    u0 = torch.rand(1, 1, 32, 32, generator=rng, dtype=f64) * 255
    a = D.perona_malik(u0, 10.0, 0.2, 10)
    b = D.perona_malik(u0.float(), 10.0, 0.2, 10)
    assert float((a - b.double()).abs().max()) < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(rng):
    u0 = torch.rand(2, 1, 32, 32, generator=rng, dtype=f64)
    torch.testing.assert_close(D.perona_malik(u0.cuda(), 0.1, 0.2, 5).cpu(), D.perona_malik(u0, 0.1, 0.2, 5))
    torch.testing.assert_close(D.heat_spectral(u0.cuda(), 1.0, 1.0).cpu(), D.heat_spectral(u0, 1.0, 1.0))


def test_gradcheck_heat_in_image_and_rho(rng):
    u0 = torch.rand(1, 1, 6, 5, generator=rng, dtype=f64, requires_grad=True)
    rho = torch.tensor(0.7, dtype=f64, requires_grad=True)
    field = (torch.rand(1, 1, 6, 5, generator=rng, dtype=f64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda u, r: D.heat(u, r, 0.5, 0.1, "dirichlet"), (u0, rho))
    assert torch.autograd.gradcheck(lambda u, c: D.heat(u, c, 0.3, 0.1, "neumann"), (u0, field))
    assert torch.autograd.gradcheck(lambda u, r: D.heat_spectral(u, r, 0.5, "dirichlet", dt=0.1), (u0, rho))


def test_gradcheck_perona_malik_in_image_and_K(rng):
    u0 = torch.rand(1, 1, 6, 5, generator=rng, dtype=f64, requires_grad=True)
    K = torch.tensor(0.3, dtype=f64, requires_grad=True)
    for scheme in ("edge", "average"):
        for kind in ("rational", "exponential"):
            f = lambda u, k: D.perona_malik(u, k, 0.2, 3, kind, "neumann", scheme)
            assert torch.autograd.gradcheck(f, (u0, K))


def test_modules_wrap_the_functions(rng):
    u0 = torch.rand(2, 1, 12, 12, generator=rng)
    m = D.HeatEquation(rho=0.9, T=0.5, dt=0.05, bc="dirichlet", learnable=True)
    torch.testing.assert_close(m(u0), D.heat(u0, 0.9, 0.5, 0.05, "dirichlet"), rtol=1e-5, atol=1e-5)
    m(u0).sum().backward()
    assert m.log_rho.grad is not None and math.isfinite(float(m.log_rho.grad))
    pm = D.PeronaMalik(K=0.1, dt=0.2, steps=4)
    torch.testing.assert_close(pm(u0), D.perona_malik(u0, 0.1, 0.2, 4), rtol=1e-5, atol=1e-6)


def test_exponential_diffusivity_never_returns_subnormal_numbers():
    """exp(-s/K^2) for a huge s would be subnormal (slow arithmetic on x86); it stops at the smallest normal order."""
    from pdedenoise.diffusivities import EXP_FLOOR, exponential, exponential_

    s = torch.tensor([0.0, 1.0, 85.0 * 4, 1e6, float("inf")])
    for dtype in (torch.float32, torch.float64):
        g = exponential(s.to(dtype), 2.0)
        assert bool((g >= torch.finfo(torch.float32).tiny).all()) and float(g[0]) == 1.0
        assert float(g[-1]) == float(g[-2]) == pytest.approx(math.exp(-EXP_FLOOR), rel=1e-6)
        assert torch.equal(exponential_(s.to(dtype).clone(), 2.0), g)  # the in-place twin: the same numbers
