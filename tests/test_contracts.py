"""Contract tests over every diffusivity, coefficient model and the shared explicit solver (kornia/deepinv style).

Every diffusivity: shapes, dtype, module equals function, float64 gradcheck in input and parameters, the stated
upper bound holds, and (with a cap) holds for any parameter value. Every coefficient model through the one
solver: the certificate holds for every parameter value a constrained model can take, an unconstrained control
that breaks it is rejected and blows up, the bounds are sharp where they can be, and the 2 x 2 cross-diffusion
form of nonlinear complex diffusion equals a direct complex-arithmetic implementation to round-off.
"""
import math

import numpy as np
import pytest
import torch

from pdedenoise import diffusivities as G
from pdedenoise.models.diffnet import DiffNet, heat_filters
from pdedenoise.solvers import coefficients as C
from pdedenoise.solvers import stability
from pdedenoise.solvers.explicit import ExplicitFlow, flux_step
from pdedenoise.stencils import edge_differences

f64 = torch.float64


def _families():
    """(name, module, input sampler, functional twin of the module) for every family."""
    def positive(n, f=1):
        return lambda g: torch.rand(n, f, 6, 5, generator=g, dtype=f64) * 4

    def unit(n, f):
        return lambda g: torch.rand(n, f, 6, 5, generator=g, dtype=f64)

    def real(n, f=1):
        return lambda g: torch.randn(n, f, 6, 5, generator=g, dtype=f64) * 1.5

    spline = G.Spline(nodes=7, lo=0.0, hi=3.0, cap=0.9)
    spline_log = G.Spline(nodes=6, lo=0.0, hi=1.0, in_features=3, log=True, init=-0.2)
    mono = G.Monomial(in_features=3, c=-0.7, s=0.3)
    rb = G.RothBlack(in_features=2, w=0.3)
    rbf = G.GaussianRBF(centers=9, lo=-2.0, hi=2.0, cap=0.8)
    bounded = G.BoundedRBF(centers=7, lo=-2.0, hi=2.0, cap=0.9, init=0.3)
    with torch.no_grad():
        bounded.raw.copy_(torch.linspace(-1.0, 2.0, 7))
    return [
        ("rational", G.Rational(1.3, learnable=True), positive(2), lambda m, x: G.rational(x, m.K)),
        ("exponential", G.Exponential(0.8, learnable=True), positive(2), lambda m, x: G.exponential(x, m.K)),
        ("spline", spline, positive(2), lambda m, x: G.spline(x, m.values, m.lo, m.hi)),
        ("spline-log", spline_log, unit(2, 3),
         lambda m, x: torch.exp(G.spline(x, m.values, m.lo, m.hi).sum(1, keepdim=True))),
        ("monomial", mono, unit(2, 3), lambda m, x: G.monomial(x, m.c, m.s, m.p)),
        ("roth-black", rb, real(2, 2), lambda m, x: G.roth_black(x, m.w)),
        ("gaussian-rbf", rbf, real(2), lambda m, x: G.gaussian_rbf(x, m.weights, m.centers, m.width)),
        ("bounded-rbf", bounded, real(2), lambda m, x: G.bounded_rbf(x, m.raw, m.bias, m.centers, m.width, m.cap)),
    ]


FAMILIES = _families()


@pytest.mark.parametrize("name,module,sample,functional", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_diffusivity_contract(name, module, sample, functional, rng):
    x = sample(rng)
    m = module.double()
    g = m(x).detach()
    reduces = name in ("spline-log", "monomial", "roth-black")
    assert g.shape == ((x.shape[0], 1) + x.shape[2:] if reduces else x.shape)
    assert g.dtype == f64 and m.float()(x.float()).dtype == torch.float32
    m.double()
    torch.testing.assert_close(g, functional(m, x), rtol=0, atol=0)  # module equals its functional twin
    assert float(g.min()) >= 0, "diffusivities are non-negative"
    assert float(g.max()) <= m.sup() + 1e-12, "the stated bound holds on samples"
    # gradcheck in the input and every parameter (off the spline's kinks: random points almost surely are)
    xs = x[:1, :, :3, :3].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: m(t), (xs,))
    for p in m.parameters():
        p.grad = None
    m(xs).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


def test_bounds_are_attained_or_tight(rng):
    """The computed bounds are not loose: each is approached on a fine grid of its domain."""
    grid = torch.linspace(-6, 6, 24001, dtype=f64)[None, :, None, None]
    rbf = G.GaussianRBF(centers=7, lo=-2, hi=2, cap=None).double()
    with torch.no_grad():
        rbf.raw.copy_(torch.randn(7, generator=rng, dtype=f64))
    assert rbf.sup() - float(rbf(grid.transpose(0, 1)).detach().max()) < 1e-2
    bounded = G.BoundedRBF(centers=7, lo=-2, hi=2, cap=1.5, init=0.4).double()
    with torch.no_grad():
        bounded.raw.copy_(torch.randn(7, generator=rng, dtype=f64))
    assert 0 <= bounded.sup() - float(bounded(grid.transpose(0, 1)).detach().max()) < 1e-2
    spline = G.Spline(nodes=5, lo=0, hi=1, cap=None).double()
    with torch.no_grad():
        spline.raw.copy_(torch.tensor([[0.1, 0.7, 0.2, 0.4, 0.3]], dtype=f64))
    assert spline.sup() == pytest.approx(float(spline(grid.transpose(0, 1).clamp(0, 1)).detach().max()))
    mono = G.Monomial(in_features=2, powers=[2, 3]).double()
    with torch.no_grad():
        mono.c.copy_(torch.tensor([1.5, -2.0], dtype=f64))
        mono.s.copy_(torch.tensor([0.2, 0.6], dtype=f64))
    u = torch.linspace(0, 1, 401, dtype=f64)
    pts = torch.stack(torch.meshgrid(u, u, indexing="ij")).reshape(1, 2, 401, 401)
    assert mono.sup() == pytest.approx(float(mono(pts).detach().max()), rel=1e-12)


@pytest.mark.parametrize("make", [lambda: G.Spline(nodes=11, lo=0, hi=50, cap=2.0),
                                  lambda: G.GaussianRBF(centers=11, lo=-3, hi=3, cap=2.0),
                                  lambda: G.BoundedRBF(centers=11, lo=-3, hi=3, cap=2.0, init=1.0)],
                         ids=["spline", "rbf", "bounded-rbf"])
def test_a_cap_holds_for_every_parameter_value(make, rng):
    m = make().double()
    x = torch.randn(1, 1, 200, 1, generator=rng, dtype=f64) * 60
    for scale in (0.1, 10.0, 1e3):
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=rng, dtype=f64) * scale)
        y = m(x).detach()
        assert m.sup() <= 2.0 + 1e-12 and 0 <= float(y.min()) and float(y.max()) <= 2.0
        assert m.nonnegative()


# --------------------------------------------------------------------------- the solver and its certificate


def checkerboard(h=16, w=16, channels=1):
    """The mode that saturates the CFL bound (eigenvalue -8 of the 5-point Laplacian, up to the boundary)."""
    cb = ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2).to(f64) * 2 - 1
    return cb.expand(1, channels, h, w).clone()


def grows(flow_step, u, steps=400) -> bool:
    n0 = float(u.norm())
    for _ in range(steps):
        u = flow_step(u)
    return float(u.norm()) > 10 * n0


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_scalar_bound_is_sharp(bc):
    c = 0.7
    dt_max = stability.scalar_dt_max_from_sup(c)
    assert dt_max == pytest.approx(1 / (4 * c))
    u = checkerboard()
    assert not grows(lambda v: flux_step(v, c, dt_max * (1 - 1e-9), bc, check=False), u)
    assert grows(lambda v: flux_step(v, c, dt_max * 1.02, bc, check=False), u, steps=3000)
    with pytest.raises(stability.StabilityError):
        flux_step(u, c, dt_max * 1.02, bc)


def test_rotation_block_bound_is_sharp():
    """Nonlinear complex diffusion's constant-coefficient step: dt <= cos(theta) / (4 g), exactly."""
    theta, g = 0.6, 0.8
    D = (g * C.rotation(torch.tensor(theta, dtype=f64)))[None, :, :, None, None]
    blocks = C.Blocks(D, D)
    dt_max = stability.block_dt_max(D, D)
    assert dt_max == pytest.approx(math.cos(theta) / (4 * g), rel=1e-12)
    u = checkerboard(channels=2) * torch.tensor([1.0, 0.3], dtype=f64).reshape(1, 2, 1, 1)
    assert not grows(lambda v: flux_step(v, blocks, dt_max * (1 - 1e-9), check=False), u)
    assert grows(lambda v: flux_step(v, blocks, dt_max * 1.03, check=False), u, steps=3000)


def test_two_by_two_closed_form_equals_the_cholesky_path():
    """The closed-form 2 x 2 bound used on image fields agrees with the general C x C computation, on blocks
    from nearly symmetric to rotation-dominated and nearly singular, and refuses the same indefinite block."""
    gen = torch.Generator().manual_seed(3)
    sym = torch.randn(4, 2, 2, 7, 5, generator=gen, dtype=f64)
    sym = torch.einsum("nikhw,njkhw->nijhw", sym, sym)
    skew = torch.randn(4, 1, 1, 7, 5, generator=gen, dtype=f64) * torch.tensor([[0.0, 1.0], [-1.0, 0.0]],
                                                                                 dtype=f64)[None, :, :, None, None]
    for scale in (0.0, 0.3, 5.0, 100.0):
        D = sym + 1e-6 * torch.eye(2, dtype=f64)[None, :, :, None, None] + scale * skew
        D[0, :, :, 0, 0] = 0.0                      # an inactive (zero) block is skipped by both
        assert stability._two_by_two_top(D) == pytest.approx(stability._general_top(D), rel=1e-9)
    bad = torch.tensor([[1.0, 3.0], [3.0, 1.0]], dtype=f64)[None, :, :, None, None]
    for top in (stability._two_by_two_top, stability._general_top):
        with pytest.raises(stability.StabilityError, match="smallest eigenvalue -2"):
            top(bad)


def test_reaction_bound_is_sharp_for_blocks():
    g, lam = 0.5, 0.6
    D = (g * torch.eye(2, dtype=f64))[None, :, :, None, None]
    dt_max = stability.block_dt_max(D, D, reaction_sup=lam)
    assert dt_max == pytest.approx(1 / (4 * g + lam / 2), rel=1e-12)
    u = checkerboard(channels=2)
    ref = torch.zeros_like(u)
    step = lambda h: (lambda v: flux_step(v, C.Blocks(D, D), h, reaction=lam, reference=ref, check=False))
    assert not grows(step(dt_max * (1 - 1e-9)), u)
    assert grows(step(dt_max * 1.03), u, steps=3000)


def test_diagonal_blocks_equal_per_channel_edges(rng):
    u = torch.rand(2, 2, 9, 7, generator=rng, dtype=f64)
    cx = torch.rand(2, 2, 9, 8, generator=rng, dtype=f64)
    cy = torch.rand(2, 2, 10, 7, generator=rng, dtype=f64)
    eye = torch.eye(2, dtype=f64)[None, :, :, None, None]
    blocks = C.Blocks(cx.unsqueeze(2) * eye, cy.unsqueeze(2) * eye)
    for bc in ("neumann", "dirichlet"):
        torch.testing.assert_close(flux_step(u, blocks, 0.1, bc), flux_step(u, C.Edges(cx, cy), 0.1, bc),
                                   rtol=0, atol=1e-15)


def _ncdf_complex_numpy(I, theta, k, dt, steps):
    """Gilboa's nonlinear complex diffusion written directly in complex arithmetic (NumPy, independent of the
    package): c = e^{i theta} / (1 + (Im I / (k theta))^2) at pixels, averaged onto edges, zero-flux boundary."""
    for _ in range(steps):
        c = np.exp(1j * theta) / (1 + (I.imag / (k * theta)) ** 2)
        cp, Ip = np.pad(c, 1, mode="edge"), np.pad(I, 1, mode="edge")
        cx, cy = 0.5 * (cp[1:-1, 1:] + cp[1:-1, :-1]), 0.5 * (cp[1:, 1:-1] + cp[:-1, 1:-1])
        dx, dy = Ip[1:-1, 1:] - Ip[1:-1, :-1], Ip[1:, 1:-1] - Ip[:-1, 1:-1]
        fx, fy = cx * dx, cy * dy
        I = I + dt * (fx[:, 1:] - fx[:, :-1] + fy[1:, :] - fy[:-1, :])
    return I


def test_ncdf_as_a_2x2_real_system_equals_complex_arithmetic(rng):
    theta, k, dt, steps = math.pi / 30, 2.0, 0.2, 25
    f = torch.rand(1, 1, 20, 17, generator=rng, dtype=f64) * 255
    U0 = torch.cat([f, torch.zeros_like(f)], dim=1)  # (u, v)(0) = (f, 0)
    model = C.FieldBlocks(G.Rational(k * theta), C.RotationBlock(theta), channel=1, feature="v^2").double()
    flow = ExplicitFlow(model, steps=steps, dt=dt)
    out = flow(U0)
    ref = _ncdf_complex_numpy(f[0, 0].numpy().astype(complex), theta, k, dt, steps)
    np.testing.assert_allclose(out[0, 0].numpy(), ref.real, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out[0, 1].numpy(), ref.imag, rtol=0, atol=1e-12)
    assert float(out[0, 1].abs().max()) > 1e-3, "the imaginary part (the edge detector) is not trivially zero"


def test_cross_diffusion_with_reaction_through_the_solver(rng):
    """A nondiagonal 2 x 2 step with reaction: conserves what it must, relaxes as it must, is differentiable."""
    u = torch.rand(2, 2, 12, 10, generator=rng, dtype=f64)
    B = torch.tensor([[1.0, -0.4], [0.7, 0.5]], dtype=f64)
    model = C.FieldBlocks(G.Rational(0.5), C.FreeBlock(init=B)).double()
    out = flux_step(u, model, 0.05)
    torch.testing.assert_close(out.mean(dim=(2, 3)), u.mean(dim=(2, 3)), rtol=0, atol=1e-13)  # zero flux
    const = torch.full_like(u, 3.0)
    lam = torch.tensor([0.5, 1.5], dtype=f64)
    relaxed = const
    for _ in range(4):  # a constant state only feels the reaction: (U - R) shrinks by (1 - dt lam) per step
        relaxed = flux_step(relaxed, model, 0.1, reaction=lam, reference=torch.zeros_like(u))
    expected = 3.0 * (1 - 0.1 * lam) ** 4
    torch.testing.assert_close(relaxed[0, :, 0, 0], expected, rtol=0, atol=1e-13)
    x = u[:1, :, :5, :4].clone().requires_grad_()
    lam_p = torch.tensor([0.3, 0.2], dtype=f64, requires_grad=True)
    ref = torch.rand(1, 2, 5, 4, generator=rng, dtype=f64)
    assert torch.autograd.gradcheck(lambda a, b: flux_step(a, model, 0.05, reaction=b, reference=ref), (x, lam_p))


def _randomise(module, rng, scale):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=rng, dtype=p.dtype) * scale)


def test_constrained_cross_diffusion_is_stable_for_every_parameter_value(rng):
    dt, lam_cap = 0.2, 0.5
    g = G.GaussianRBF(centers=9, lo=-60, hi=60, cap=1.5)
    model = C.FieldBlocks(g, C.StableBlock(2, dt=dt, g_sup=1.5, reaction_sup=lam_cap)).double()
    reaction = C.Reaction(2, init=0.1, cap=lam_cap).double()
    flow = ExplicitFlow(model, steps=30, dt=dt, reaction=reaction)
    U0 = torch.cat([torch.rand(1, 1, 16, 16, generator=rng, dtype=f64) * 255, torch.zeros(1, 1, 16, 16, dtype=f64)], 1)
    for scale in (0.3, 3.0, 30.0):
        for _ in range(3):
            _randomise(flow, rng, scale)
            certs = flow.certificates()
            assert all(c.holds and c.margin > 0 for c in certs)  # from the parameters alone
            # the same holds for the coefficients the data produce (a tighter, data-dependent bound)
            coeff = model(U0, *edge_differences(U0, "neumann"), "neumann")
            assert dt <= stability.block_dt_max(coeff.x, coeff.y, reaction.sup()) * (1 + 1e-12)
            # and the probes do not grow: a checkerboard (around the reference 0) and white noise
            for probe in (checkerboard(channels=2) * 100, torch.randn(1, 2, 16, 16, generator=rng, dtype=f64)):
                out = flow(probe, reference=torch.zeros_like(probe)).detach()
                assert float(out.norm()) <= float(probe.norm()) * (1 + 1e-9)


def test_unconstrained_control_is_rejected_and_blows_up(rng):
    dt = 0.2
    # an eigenvalue of B is negative (trace 1.5, determinant -2.5): one mode diffuses backwards
    bad = C.FieldBlocks(G.Rational(10.0), C.FreeBlock(init=torch.tensor([[1.0, 2.0], [1.5, 0.5]]))).double()
    flow = ExplicitFlow(bad, steps=400, dt=dt)
    assert not flow.certificates()[0].holds  # the symmetric part is indefinite: no stable step exists
    with pytest.raises(stability.StabilityError, match="positive definite"):
        flow(checkerboard(channels=2))
    loose = ExplicitFlow(bad, steps=400, dt=dt, check="off")
    assert float(loose(checkerboard(channels=2)).detach().norm()) > 1e3 * float(checkerboard(channels=2).norm())


def test_learned_spline_flow_through_the_solver(rng):
    """A learned spline diffusivity: capped, it is certified and obeys the maximum principle for any values;
    uncapped, the same values break the certificate and the maximum principle."""
    dt = 0.2
    u0 = checkerboard() * 100 + 120
    capped = ExplicitFlow([C.EdgeDiffusivity(G.Spline(nodes=9, lo=0, hi=4e4, cap=1 / (4 * dt))) for _ in range(5)],
                          steps=5, dt=dt).double()
    _randomise(capped, rng, 50.0)
    out = capped(u0).detach()
    assert float(out.min()) >= float(u0.min()) - 1e-9 and float(out.max()) <= float(u0.max()) + 1e-9
    free = ExplicitFlow(C.EdgeDiffusivity(G.Spline(nodes=9, lo=0, hi=4e4, init=2.0)), steps=20, dt=dt).double()
    assert free.certificates()[0].dt_max == pytest.approx(0.125) and not free.certificates()[0].holds
    with pytest.raises(stability.StabilityError):
        free(u0)
    free.check = "off"
    assert float(free(u0).detach().max()) > float(u0.max()) + 1  # beyond the bound the maximum principle fails
    x = (torch.rand(1, 1, 5, 4, generator=rng, dtype=f64) * 50).requires_grad_()
    flow = ExplicitFlow(C.EdgeDiffusivity(G.Spline(nodes=5, lo=0, hi=2500, cap=1.0)), steps=3, dt=dt).double()
    assert torch.autograd.gradcheck(flow, (x,))
    (flow(x) ** 2).sum().backward()  # (the plain sum is conserved: its gradient is zero)
    assert flow.coefficients.g.raw.grad.abs().sum() > 0


def test_negative_diffusivity_is_refused(rng):
    u = torch.rand(1, 1, 6, 6, generator=rng, dtype=f64)
    with pytest.raises(ValueError, match="non-negative"):
        flux_step(u, -0.1 * torch.ones_like(u), 0.1)
    with pytest.raises(ValueError, match="non-negative"):
        flux_step(u, -0.1, 0.1)


def test_flow_trace_and_per_step_parameters(rng):
    u0 = torch.rand(2, 1, 8, 8, generator=rng, dtype=f64)
    models = [C.EdgeDiffusivity(G.Rational(0.1 * (t + 1))) for t in range(3)]
    flow = ExplicitFlow(models, steps=3, dt=0.2).double()
    states = flow.trace(u0)
    assert len(states) == 4 and torch.equal(states[0], u0)
    torch.testing.assert_close(states[-1], flow(u0))
    manual = u0
    for m in models:
        manual = flux_step(manual, m, 0.2)
    torch.testing.assert_close(flow(u0), manual, rtol=0, atol=0)
    with pytest.raises(ValueError, match="2 coefficient models for 3 steps"):
        ExplicitFlow(models[:2], steps=3, dt=0.2)


def test_diffnet_heat_layer_has_unit_gain_and_a_random_one_does_not():
    x = torch.rand(2, 1, 8, 8)
    z = heat_filters(x, 1.0)
    assert float(stability.stencil_linf_gain(z, 0.25).max()) == pytest.approx(1.0)  # at the bound 4 c dt = 1
    assert float(stability.stencil_linf_gain(z, 0.3).max()) > 1.0
    assert max(DiffNet(layers=2, hidden=4).stencil_gains(x)) > 1.0  # the authors' random start is no stable step


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cross_diffusion_on_cuda_matches_cpu(rng):
    model = C.FieldBlocks(G.Rational(0.5), C.RotationBlock(0.3)).double()
    u = torch.rand(2, 2, 16, 16, generator=rng, dtype=f64)
    torch.testing.assert_close(flux_step(u.cuda(), model.cuda(), 0.1).cpu(), flux_step(u, model.cpu(), 0.1))


def test_a_bound_that_does_not_cover_the_feature_is_not_trusted(rng):
    """g's sup holds on its domain only: g(v) of a signed channel, or a monomial of d^2, gets no data-free bound,
    so the flow checks the actual coefficients and refuses a step they make unstable."""
    signed = C.FieldBlocks(G.Rational(0.5), C.RotationBlock(0.3)).double()
    assert math.isnan(signed.dt_max())
    assert C.FieldBlocks(G.Rational(0.5), C.RotationBlock(0.3), feature="v^2").double().dt_max() > 0
    assert math.isnan(C.EdgeDiffusivity(G.Monomial(in_features=1, c=-0.7, s=0.3)).dt_max())
    u = torch.rand(1, 2, 8, 8, generator=rng, dtype=f64)
    u[:, 1] = -0.2  # g(-0.2) = 1 / (1 - 0.8) = 5: the bound of g on [0, inf) (1) does not hold
    with pytest.raises(stability.StabilityError, match="exceeds the bound"):
        ExplicitFlow(signed, steps=2, dt=0.2)(u)


def test_a_plain_callable_is_checked_on_its_coefficients(rng):
    u = torch.rand(1, 1, 8, 8, generator=rng, dtype=f64)

    def constant(c):
        return lambda v, dx, dy, bc: C.Edges(torch.full_like(dx, c), torch.full_like(dy, c))

    torch.testing.assert_close(ExplicitFlow(constant(0.2), 3, 0.5)(u).mean(), u.mean())
    with pytest.raises(stability.StabilityError, match="exceeds the bound"):
        ExplicitFlow(constant(1.0), 3, 0.5)(u)


def test_an_unknown_boundary_condition_is_refused_on_every_path(rng):
    from pdedenoise import diffusion

    u = torch.rand(1, 1, 8, 8, generator=rng)
    for run in (lambda: diffusion.heat(u, 0.1, 1.0, 0.1, bc="periodic"),
                lambda: diffusion.perona_malik(u, 5.0, 0.1, 3, bc="periodic"),
                lambda: ExplicitFlow(C.EdgeDiffusivity(G.Rational(1.0)), 2, 0.1, bc="periodic")):
        with torch.no_grad(), pytest.raises(ValueError, match="unknown boundary condition 'periodic'"):
            run()
