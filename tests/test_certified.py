"""The certified model that can sharpen (:mod:`pdedenoise.leaderboard.certified`) and its l2 certificate
(:class:`pdedenoise.solvers.stability.RidgeCertificate`): the bound of ``||K||^2``, the certificate for random and
extreme parameters, perturbation tests per stage and for the whole model, gradients, sharpening, and a defect put
back into each guard makes its test fail."""
from __future__ import annotations

import contextlib
import math

import pytest
import torch
import torch.nn.functional as F

from pdedenoise import kernels
from pdedenoise.leaderboard import certified as C
from pdedenoise.leaderboard.ownmodel import OwnModel
from pdedenoise.solvers import stability as S


def _power(apply, shape, iters=150, seed=0) -> float:
    """The largest eigenvalue of a symmetric positive semi-definite operator by power iteration (a lower estimate)."""
    u = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    for _ in range(iters):
        u = apply(u)
        u = u / u.norm()
    return float((u * apply(u)).sum())


def _randomise(model, scale: float, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)


def _tiny(**kw) -> C.CertifiedModel:
    return C.CertifiedModel(**{**dict(stages=3, channels=3, kernel=3, knots=4, spacing=10.0), **kw}).double()


# --------------------------------------------------------------------------- the bound of ||K||^2


@pytest.mark.parametrize("c_in", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 2])
def test_conv_bound_is_above_the_operator_norm_and_below_young(c_in, seed):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(4, c_in, 3, 3, generator=gen, dtype=torch.float64)
    if seed == 2:
        w = w.abs()  # positive filters: the bound is attained on the whole plane (the constant image)
    bound = float(S.conv_norm_sq_bound(w))
    young = float(w.abs().sum(dim=(-1, -2)).square().sum())
    for h, wd in [(5, 7), (16, 16)]:
        est = _power(lambda u: F.conv_transpose2d(F.conv2d(u, w, padding=1), w, padding=1), (1, c_in, h, wd), seed=seed)
        assert est <= bound * (1 + 1e-9)
    assert bound <= young * (1 + 1e-9)
    if seed == 2:
        est = _power(lambda u: F.conv_transpose2d(F.conv2d(u, w, padding=1), w, padding=1), (1, c_in, 48, 48))
        assert est >= (0.9 if c_in == 1 else 0.5) * bound  # close on a large image


def test_gradient_is_the_adjoint_pair_and_its_norm_is_below_8():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(2, 1, 7, 9, generator=gen, dtype=torch.float64)
    p = torch.randn(2, 2, 7, 9, generator=gen, dtype=torch.float64)
    assert abs(float((C.gradient(u) * p).sum() - (u * C.gradient_adjoint(p)).sum())) < 1e-10
    for shape in [(1, 1, 2, 2), (1, 1, 5, 3), (1, 1, 32, 32)]:
        est = _power(lambda v: C.gradient_adjoint(C.gradient(v)), shape)
        assert est <= S.GRADIENT_NORM_SQ
    assert _power(lambda v: C.gradient_adjoint(C.gradient(v)), (1, 1, 32, 32), iters=400) > 7.9  # the bound is sharp


def test_energy_gradient_is_k_transpose_psi_prime_of_k():
    model = _tiny()
    _randomise(model, 1.0, 3)
    stage = model.stages[0]
    u = torch.randn(1, 1, 8, 10, dtype=torch.float64, requires_grad=True)
    K = lambda v: F.conv2d(C.gradient(v), stage.weight, padding=1)
    p = stage.psi(K(u)).detach()
    (vjp,) = torch.autograd.grad(K(u), u, p)
    assert torch.allclose(stage.energy_gradient(u), vjp, atol=1e-10)


def test_spline_slopes_stay_in_their_range_and_the_function_is_odd():
    spline = C.OddSpline(2, 5, 4.0, rho_max=0.5, beta_max=2.0).double()
    with torch.no_grad():
        spline.raw.copy_(torch.tensor([[-1e4, 1e4, 0.0, 3.0, -3.0], [50.0, -50.0, 1.0, 2.0, -2.0]]))
    z = torch.linspace(-40, 40, 4001, dtype=torch.float64).view(1, 1, 1, -1).expand(1, 2, 1, -1)
    with torch.no_grad():
        y = spline(z)
    dd = torch.diff(y, dim=-1) / torch.diff(z, dim=-1)
    assert float(dd.min()) >= -0.5 - 1e-9 and float(dd.max()) <= 2.0 + 1e-9
    with torch.no_grad():
        assert torch.allclose(spline(-z), -y)
    with torch.no_grad():
        rho, beta = (float(t) for t in spline.slope_bounds())
    assert rho <= 0.5 and beta <= 2.0
    assert torch.allclose(dd[..., :1000], torch.zeros(()).double().expand_as(dd[..., :1000]), atol=1e-12)  # flat tail


def _lookup_case(dtype=torch.float64):
    """A spline with random slopes and responses on every kind of point: 0, knots, the last knot, beyond it."""
    spline = C.OddSpline(3, 4, 5.0, rho_max=1.0, beta_max=2.0).to(dtype)
    with torch.no_grad():
        spline.raw.normal_(0, 2, generator=torch.Generator().manual_seed(5))
    z = torch.randn(2, 3, 6, 7, generator=torch.Generator().manual_seed(6), dtype=dtype) * 15
    z[0, 0, 0] = torch.tensor([0.0, 5.0, -5.0, 10.0, 20.0, -20.0, 35.0], dtype=dtype)
    return spline, z.requires_grad_()


def _lookup(spline, z, reference: bool):
    with contextlib.ExitStack() as stack:
        if reference:
            stack.enter_context(kernels.reference_path())
        y = spline(z)
        g = torch.autograd.grad((y * torch.linspace(-1, 2, y.numel(), dtype=y.dtype).view_as(y)).sum(),
                                [z, spline.raw])
    return (y.detach(), *g)


def test_the_spline_lookup_in_closed_form_equals_the_lookups_through_autograd():
    """Values bit for bit; gradients (the closed-form backward against autograd's) to round-off; d/dz is 0 at z = 0
    and beyond the last knot, as autograd's abs and clamp have it."""
    spline, z = _lookup_case()
    fast, ref = _lookup(spline, z, False), _lookup(spline, z, True)
    assert torch.equal(fast[0], ref[0])
    for a, b in zip(fast[1:], ref[1:]):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    gz = torch.autograd.grad(spline(z).sum(), z)[0][0, 0, 0]
    last = float(spline.slopes()[0, -1])
    assert float(gz[0]) == 0.0 and float(gz[6]) == 0.0      # z = 0; |z| = 35 beyond the last knot S h = 20
    assert float(gz[5]) == pytest.approx(last, abs=1e-12) and float(gz[3]) != 0.0   # at S h (clamp passes); a knot


def test_the_compiled_spline_lookup_equals_the_eager_one():
    spline, z = _lookup_case(torch.float32)
    before = kernels.use_compiled()
    try:
        out = {}
        for flag in (False, True):
            kernels.use_compiled(flag)
            out[flag] = _lookup(spline, z, False)
    finally:
        kernels.use_compiled(before)
    for a, b in zip(out[True], out[False]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- the certificate


@pytest.mark.parametrize("scale", [0.0, 1.0, 30.0, 1e3, -1e3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_certificate_holds_for_any_parameters(scale, seed):
    model = C.CertifiedModel()
    _randomise(model, abs(scale), seed)
    if scale < 0:  # huge negative raw parameters: lambda, alpha and the slopes at their lower ends
        with torch.no_grad():
            for s in model.stages:
                s.raw_lambda.fill_(-1e4), s.raw_alpha.fill_(-1e4), s.psi.raw.fill_(-1e4)
    certs = model.certificates()
    assert len(certs) == 8 and all(c.holds for c in certs)
    assert all(0 <= c.contraction <= 1 + 1e-12 for c in certs)
    J = model.lipschitz()
    assert math.isfinite(J) and J >= 0
    with torch.no_grad():
        out = model(torch.rand(1, 1, 16, 20) * 255)
    assert torch.isfinite(out).all()


def test_a_nan_parameter_is_refused_naming_it():
    model = C.CertifiedModel()
    with torch.no_grad():
        model.stages[3].raw_alpha.fill_(float("nan"))
    with pytest.raises(S.StabilityError, match="stage 4.*finite"):
        model(torch.rand(1, 1, 8, 8) * 255)


def test_certificate_conditions_and_messages():
    ok = S.RidgeCertificate(alpha=0.2, lam=1.0, rho=0.1, beta=1.0, L=8.0)
    assert ok.holds and ok.contraction == pytest.approx(max(1 - 0.2 * 0.2, 0.2 * 9 - 1))
    not_convex = S.RidgeCertificate(alpha=0.2, lam=0.5, rho=0.1, beta=1.0, L=8.0)
    assert not not_convex.holds and not_convex.contraction > 1
    with pytest.raises(S.StabilityError, match="not convex"):
        not_convex.require()
    too_long = S.RidgeCertificate(alpha=0.25, lam=1.0, rho=0.1, beta=1.0, L=8.0)
    with pytest.raises(S.StabilityError, match="> 2"):
        too_long.require()
    assert S.ridge_lipschitz([ok, ok]) == pytest.approx((ok.contraction + 0.2) * ok.contraction + 0.2)


# --------------------------------------------------------------------------- perturbation tests


def _worst_pair(seed: int, shape=(2, 1, 12, 14)):
    """``u`` a steep ramp (responses in the flux's decreasing part) or flat (responses where the flux rises fastest),
    ``v = u +`` a small checkerboard (the mode ``K^T K`` amplifies most), and random pairs."""
    gen = torch.Generator().manual_seed(seed)
    n, _, h, w = shape
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ramp = (60.0 * (i + j)).double().expand(n, 1, h, w)
    check = ((-1.0) ** (i + j)).double().expand(n, 1, h, w)
    u = torch.rand(shape, generator=gen, dtype=torch.float64) * 255
    v = u + torch.randn(shape, generator=gen, dtype=torch.float64) * 10
    flat = torch.full(shape, 100.0, dtype=torch.float64)
    return [(ramp, ramp + 0.5 * check), (flat, flat + 0.5 * check), (u, v), (u, u + 1e-3 * check)]


def _stage_ratios(model, seed):
    """``||T(u) - T(v)|| / ||u - v||`` per stage and pair, with the stage's certified factor ``q``."""
    f = torch.rand(2, 1, 12, 14, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 255
    out = []
    with torch.no_grad():
        for stage, cert in zip(model.stages, model.certificates()):
            for u, v in _worst_pair(seed):
                out.append((float((stage(u, f) - stage(v, f)).norm() / (u - v).norm()), cert.contraction))
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_every_stage_is_non_expansive(seed):
    for scale in (None, 1.0, 10.0):
        model = C.CertifiedModel(check=False).double()
        if scale is None:
            C.initialise(model, K=22.0, rho=1 / 8, alpha=0.999, seed=seed)  # the Perona–Malik flux itself
        else:
            _randomise(model, scale, seed)
        for ratio, q in _stage_ratios(model, seed):
            assert ratio <= q * (1 + 1e-6) + 1e-12 and ratio <= 1 + 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("repeats", [1, 3])
def test_the_model_respects_its_lipschitz_bound(seed, repeats):
    gen = torch.Generator().manual_seed(seed)
    for scale in (None, 1.0, 10.0):
        model = C.CertifiedModel(repeats=repeats).double()
        if scale is not None:
            _randomise(model, scale, seed)
        J = model.lipschitz()
        f = torch.rand(2, 1, 16, 16, generator=gen, dtype=torch.float64) * 255
        for g in (f + 25 * torch.randn(f.shape, generator=gen, dtype=torch.float64), f + 1e-2 * torch.randn(
                f.shape, generator=gen, dtype=torch.float64)):
            with torch.no_grad():
                assert float((model(f) - model(g)).norm()) <= J * float((f - g).norm()) * (1 + 1e-6)


def test_repeats_apply_each_stage_again_with_the_same_parameters():
    """``repeats = r`` is the flow of the stages listed r times each (no new parameters); its Lipschitz bound is the
    bound of that list; a state saved before ``repeats`` existed loads as ``repeats = 1``."""
    model = _tiny(repeats=2)
    _randomise(model, 0.3, 4)
    listed = _tiny(stages=6)
    listed.load_state_dict({f"stages.{2 * t + r}.{k.split('.', 2)[2]}": v for k, v in model.state_dict().items()
                            for t in [int(k.split(".")[1])] for r in (0, 1)})
    f = torch.rand(2, 1, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        assert torch.equal(model(f), listed(f))
    assert model.count_parameters() * 2 == listed.count_parameters()
    assert model.lipschitz() == pytest.approx(listed.lipschitz(), rel=1e-12)
    old = {"config": {k: v for k, v in model.config.items() if k != "repeats"}, "tensors": model.state_dict()}
    assert C.CertifiedModel.from_state(old).repeats == 1
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        C.CertifiedModel(repeats=0)


def _defective(monkeypatch, defect: str) -> None:
    """Put back one defect of the certified parameterisation."""
    real = S.ridge_step_parameters
    if defect == "lambda >= rho L dropped":
        monkeypatch.setattr(C, "ridge_step_parameters",
                            lambda L, rho, beta, a, b: real(L, rho * 0, beta, a, b))
    elif defect == "alpha above 2 / (beta L + lambda)":
        monkeypatch.setattr(C, "ridge_step_parameters",
                            lambda L, rho, beta, a, b: (lambda lam_alpha: (lam_alpha[0], 1.5 * lam_alpha[1]))(
                                real(L, rho, beta, a, b)))
    elif defect == "||G||^2 left out of L":
        monkeypatch.setattr(C, "GRADIENT_NORM_SQ", 1.0)
    else:  # pragma: no cover
        raise ValueError(defect)


@pytest.mark.parametrize("defect", ["lambda >= rho L dropped", "alpha above 2 / (beta L + lambda)",
                                    "||G||^2 left out of L"])
def test_each_guard_fails_when_its_defect_is_put_back(defect, monkeypatch):
    """The perturbation test of :func:`test_every_stage_is_non_expansive` finds an expanding stage as soon as one
    condition of the certified parameterisation is removed; the first two are also caught by the certificate."""
    _defective(monkeypatch, defect)
    model = C.CertifiedModel(check=False).double()
    C.initialise(model, K=22.0, rho=1 / 8, alpha=0.999)
    worst = max(r for r, _ in _stage_ratios(model, 0))
    assert worst > 1.01
    if defect != "||G||^2 left out of L":
        assert not any(c.holds for c in model.certificates())


# --------------------------------------------------------------------------- gradients and sharpening


def test_gradcheck_in_float64():
    model = _tiny(check=False)
    _randomise(model, 0.5, 4)
    x = (torch.rand(1, 1, 6, 5, dtype=torch.float64) * 60).requires_grad_()
    # fast mode: the Jacobian checked along random directions (torch's gradcheck fast_mode), for every parameter
    assert torch.autograd.gradcheck(model, (x,), eps=1e-6, atol=1e-5, fast_mode=True)
    names, params = zip(*model.named_parameters())

    def as_function(*ps):
        return torch.func.functional_call(model, dict(zip(names, ps)), (x.detach(),))

    assert torch.autograd.gradcheck(as_function, tuple(p.detach().clone().requires_grad_() for p in params),
                                    eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradient_reaches_every_stage():
    model = C.CertifiedModel()
    model(torch.rand(1, 1, 20, 20) * 255).square().mean().backward()
    for s in model.stages:
        for p in s.parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0


def _blurred_bar(n=32):
    x = torch.arange(n, dtype=torch.float64)
    bar = 100 + 30 * torch.exp(-((x - n / 2) / 3) ** 2)         # a thin bright bar, blurred, contrast 30
    return bar.view(1, 1, 1, n).expand(1, 1, n, n).contiguous()


def test_the_certified_model_can_sharpen_and_the_maximum_principle_model_cannot():
    model = C.CertifiedModel(stages=1).double()
    stage = model.stages[0]
    with torch.no_grad():  # psi' = -0.5 z for |z| <= 10: backward diffusion on small gradients, flat beyond
        stage.psi.set_function(torch.tensor([0.0, -5.0] + [-5.0] * (stage.psi.knots - 1)).double().expand(12, -1))
        stage.raw_alpha.fill_(10.0)
    cert = model.certificates()[0]
    assert cert.holds and cert.rho > 0.49
    f = _blurred_bar()
    with torch.no_grad():
        u = model(f)
    contrast = lambda v: float(v.max() - v.min())
    assert contrast(u) > 1.05 * contrast(f)                      # the bar is brighter: sharpened
    assert float(u.max()) > float(f.max()) + 1.0                  # beyond the input's range
    steep = lambda v: float((v[..., 1:] - v[..., :-1]).abs().max())
    assert steep(u) > steep(f)
    own = OwnModel().double()
    for seed in range(5):
        _randomise(own, 5.0, seed)
        with torch.no_grad():
            assert contrast(own(f)) <= contrast(f) + 1e-6


# --------------------------------------------------------------------------- fitted under the leaderboard's protocol


def test_fitted_at_ci_scale_it_beats_tuned_perona_malik_on_the_fixed_crops():
    """The issue's criterion at ci scale: both fitted on the protocol's ci pairs (BSDS500 train + test only), scored
    on the ci test crops (the first 3 BSD68 images, centre 64 x 64, sigma 25). The fitted model keeps its
    certificate and respects its Lipschitz bound."""
    from pdedenoise.leaderboard import analysis, methods, protocol
    from pdedenoise.metrics import psnr

    ctx = analysis.fit_context("ci", 25, seed=0, progress=False)
    state = C.fit_certified(ctx)
    model = C.CertifiedModel.from_state(state).eval()
    assert state["config"]["parameters"] == model.count_parameters() == 2608 <= 2700
    assert all(c.holds for c in model.certificates())
    assert state["config"]["lipschitz"] == pytest.approx(model.lipschitz())
    pm = methods.get("perona-malik-tuned")
    pm_denoise = pm.build(pm.fit(ctx), 25)
    pairs = protocol.test_pairs("BSD68", 25, 3, 64)
    score = lambda d: sum(float(psnr(d(x).double(), y.double(), 255)) for x, y in zip(pairs["noisy"], pairs["clean"]))
    with torch.no_grad():
        ours = score(model) / 3
    theirs = score(pm_denoise) / 3
    assert ours > theirs + 0.05, (ours, theirs)
    # the fitted model respects its Lipschitz bound on the test crops (float32: perturbations far above round-off)
    J = model.lipschitz()
    gen = torch.Generator().manual_seed(5)
    for f in pairs["noisy"]:
        g = f + 5.0 * torch.randn(f.shape, generator=gen)
        with torch.no_grad():
            assert float((model(f) - model(g)).norm()) <= J * float((f - g).norm()) * (1 + 1e-4)
