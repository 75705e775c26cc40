"""The cache-blocked solver gives the same numbers as the whole-image step: bit for bit on its general strips, to
round-off on the fused strips of Perona and Malik's two diffusivities."""
import pytest
import torch

from pdedenoise import diffusion
from pdedenoise import diffusivities as G
from pdedenoise.solvers import blocked, explicit
from pdedenoise.solvers.coefficients import EdgeDiffusivity, EdgeFunction, Edges


def reference(u, coeff, h, steps, bc):
    """``steps`` whole-image updates (the autograd path)."""
    for _ in range(steps):
        u = explicit.update(explicit.resolve(coeff, u, bc), u, h, bc)
    return u


def cases(n, c, h, w, dtype, rng):
    K = torch.rand(n, generator=rng, dtype=dtype) * 20 + 5
    spline = EdgeDiffusivity(G.Spline(nodes=7, lo=0, hi=900, cap=1.0)).to(dtype)
    with torch.no_grad():
        spline.g.raw.copy_(torch.randn(1, 7, generator=rng, dtype=dtype))
    return {
        "constant": explicit.resolve(0.9, torch.zeros(n, c, h, w, dtype=dtype)),
        "per-image rho": explicit.resolve(torch.rand(n, generator=rng, dtype=dtype) + 0.2, torch.zeros(n, c, h, w, dtype=dtype)),
        "field": explicit.resolve(torch.rand(n, 1, h, w, generator=rng, dtype=dtype), torch.zeros(n, c, h, w, dtype=dtype)),
        "edges": explicit.resolve(Edges(torch.rand(n, c, h, w + 1, generator=rng, dtype=dtype),
                                        torch.rand(n, c, h + 1, w, generator=rng, dtype=dtype)), None),
        # functions the fused strips do not know (wrappers of Perona-Malik's): the general strips, bit for bit
        "edge function": EdgeFunction(lambda s, K: G.rational(s, K), 12.0, lambda s, K: G.rational_(s, K)),
        "edge function, per-image K, no in-place twin": EdgeFunction(lambda s, K: G.exponential(s, K), K),
        "learned spline": spline,
    }


def contrast_cases(n, dtype, rng):
    """Perona-Malik's own functions: the fused strips."""
    K = torch.rand(n, generator=rng, dtype=dtype) * 20 + 5
    return {
        "rational": EdgeFunction(G.rational, 12.0, G.rational_),
        "rational, per-image K": EdgeFunction(G.rational, K),
        "exponential": EdgeFunction(G.exponential, 12.0, G.exponential_),
        "exponential, per-image K": EdgeFunction(G.exponential, K, G.exponential_),
        "exponential, K small against the range (capped exponent)": EdgeFunction(G.exponential, 2.0),
    }


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,rows", [((2, 1, 13, 9), 1), ((2, 1, 13, 9), 4), ((1, 3, 7, 16), 3),
                                        ((2, 2, 1, 6), 1), ((1, 1, 6, 1), 2), ((1, 1, 40, 33), None)])
def test_blocked_equals_whole_image_bit_for_bit(bc, dtype, shape, rows, rng):
    u = torch.rand(*shape, generator=rng, dtype=dtype) * 255
    with torch.no_grad():
        for name, coeff in cases(*shape, dtype, rng).items():
            expected = reference(u, coeff, 0.11, 5, bc)
            got = blocked.evolve(u, coeff, 0.11, 5, bc, rows=rows)
            assert torch.equal(got, expected), (name, float((got - expected).abs().max()))


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,rows", [((2, 1, 13, 9), 1), ((2, 1, 13, 9), 4), ((1, 3, 7, 16), 3),
                                        ((2, 2, 1, 6), 1), ((1, 1, 6, 1), 2), ((3, 1, 1, 1), None),
                                        ((1, 1, 40, 33), None)])
def test_fused_perona_malik_strips_equal_the_whole_image_step_to_round_off(bc, dtype, shape, rows, rng):
    """Perona-Malik's two functions take the fused strips: the whole-image step's numbers to round-off, every
    edge's flux the same number for both of its pixels (the mean is kept under zero flux), no new extrema
    (h = 0.11 < 1/4: every update is a convex combination of a pixel and its neighbours)."""
    u = torch.rand(*shape, generator=rng, dtype=dtype) * 255
    atol = 1e-3 if dtype == torch.float32 else 1e-10
    with torch.no_grad():
        for name, coeff in contrast_cases(shape[0], dtype, rng).items():
            assert blocked.contrast_kind(coeff) in ("rational", "exponential")
            expected = reference(u, coeff, 0.11, 5, bc)
            got = blocked.evolve(u, coeff, 0.11, 5, bc, rows=rows)
            torch.testing.assert_close(got, expected, rtol=0, atol=atol, msg=name)
            if bc == "neumann":
                torch.testing.assert_close(got.double().sum((-2, -1)), u.double().sum((-2, -1)), rtol=1e-5 if
                                           dtype == torch.float32 else 1e-12, atol=0, msg=name)
            low = min(float(u.amin()), 0.0) if bc == "dirichlet" else float(u.amin())  # the boundary's value 0
            assert float(got.amin()) >= low - atol and float(got.amax()) <= float(u.amax()) + atol, name


def test_fused_rational_strips_keep_to_the_dtypes_range(rng):
    """With K^2 near float32's smallest normal number and a small step, 1/(h K^2) is no float32 number: the
    strips take the form scaled by h K^2 at the end instead of dividing 0 by inf on the flat parts."""
    u = torch.rand(1, 1, 12, 10, generator=rng) * 1e-18
    u[..., :4, :] = 5e-19  # flat rows: differences of exactly 0
    coeff = EdgeFunction(G.rational, 1.1e-19)
    with torch.no_grad():
        got = blocked.evolve(u, coeff, 0.11, 5)
        expected = reference(u, coeff, 0.11, 5, "neumann")
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)


def test_only_perona_maliks_own_functions_take_the_fused_strips():
    assert blocked.contrast_kind(EdgeFunction(G.rational, 1.0)) == "rational"
    assert blocked.contrast_kind(EdgeFunction(G.exponential, torch.ones(3))) == "exponential"
    assert blocked.contrast_kind(EdgeFunction(lambda s, K: G.rational(s, K), 1.0)) is None
    assert blocked.contrast_kind(EdgeDiffusivity(G.Rational(1.0))) is None
    assert blocked.contrast_kind(explicit.resolve(0.9, torch.zeros(1, 1, 4, 4))) is None


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_batches_go_image_group_by_image_group_with_the_same_numbers(bc, rng, monkeypatch):
    monkeypatch.setattr(blocked, "STRIP_ELEMENTS", 150)  # one 13x9 image per group, 16-row strips
    monkeypatch.setattr(blocked, "CONTRAST_STRIP_ELEMENTS", 150)
    u = torch.rand(3, 1, 13, 9, generator=rng, dtype=torch.float64) * 255
    with torch.no_grad():
        for name, coeff in cases(3, 1, 13, 9, torch.float64, rng).items():
            assert torch.equal(blocked.evolve(u, coeff, 0.11, 4, bc), reference(u, coeff, 0.11, 4, bc)), name
        for name, coeff in contrast_cases(3, torch.float64, rng).items():
            whole = blocked.evolve(u, coeff, 0.11, 4, bc, rows=13)  # all three images in one group
            torch.testing.assert_close(blocked.evolve(u, coeff, 0.11, 4, bc), whole, rtol=0, atol=1e-10, msg=name)


def _count_blocked(monkeypatch) -> list[bool]:
    """Calls of the blocked solver from here on, each as whether gradients were enabled."""
    calls, real = [], blocked.evolve

    def counting(*args, **kwargs):
        calls.append(torch.is_grad_enabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(blocked, "evolve", counting)
    return calls


def test_public_solvers_take_the_blocked_path_only_without_gradients(rng, monkeypatch):
    calls = _count_blocked(monkeypatch)
    u = torch.rand(2, 1, 24, 20, generator=rng) * 255
    with torch.no_grad():
        fast = diffusion.perona_malik(u, 10.0, 0.2, 7)
    assert len(calls) == 1, "no gradients: the blocked path"
    slow = diffusion.perona_malik(u.clone().requires_grad_(), 10.0, 0.2, 7)  # autograd: whole-image steps
    assert len(calls) == 1, "gradients: the whole-image path"
    assert slow.grad_fn is not None  # the fused strips: the same numbers to round-off
    torch.testing.assert_close(fast, slow.detach(), rtol=0, atol=1e-4)
    assert torch.equal(diffusion.heat(u, 0.8, 1.0, 0.1), diffusion.heat(u.requires_grad_(), 0.8, 1.0, 0.1).detach())
    assert len(calls) == 2, "heat: blocked without gradients only"


def test_strips_keep_operations_on_one_thread():
    u = torch.zeros(16, 1, 512, 512)
    assert 16 * blocked.strip_rows(u) * 512 <= blocked.STRIP_ELEMENTS
    assert blocked.strip_rows(torch.zeros(1, 1, 4, 100_000)) == 1


@pytest.mark.slow
@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_compiled_perona_malik_agrees_with_the_eager_solver(bc, rng):
    """The opt-in compiled step (one fused kernel per step) equals the eager one to round-off."""
    u = torch.rand(2, 1, 40, 36, generator=rng, dtype=torch.float64) * 255
    for kind in ("rational", "exponential"):
        K = torch.tensor([8.0, 15.0], dtype=torch.float64)
        eager = diffusion.perona_malik(u, K, 0.2, 12, kind, bc)
        fused = diffusion.perona_malik(u, K, 0.2, 12, kind, bc, compile=True)
        torch.testing.assert_close(fused, eager, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="boundary"):
        diffusion.perona_malik(u, 10.0, 0.2, 2, bc=bc.title(), compile=True)
    u32 = u.float()
    assert float((diffusion.perona_malik(u32, 10.0, 0.2, 12, bc=bc, compile=True)
                  - diffusion.perona_malik(u32, 10.0, 0.2, 12, bc=bc)).abs().max()) < 1e-3



@pytest.mark.slow
def test_compiled_rational_forms_agree_and_the_safe_one_is_chosen(rng):
    """The one-division sum of a pixel's four fluxes equals the four-division one to round-off; the solver
    keeps to the four-division form where a product of four factors K^2 + d^2 would leave float32's range
    (a 0-1e6 image, or K = 1e-6 on a 0-1 image, where 0/0 would turn flat parts into NaN)."""
    from pdedenoise.solvers import compiled

    u = torch.rand(2, 1, 33, 29, generator=rng) * 255
    k2 = torch.tensor(100.0)
    c = 0.2 * k2
    padded = torch.nn.functional.pad(u, (1, 1, 1, 1), mode="replicate")
    outs = {}
    for form in ("rational, one division", "rational, four divisions"):
        out = padded.clone()
        compiled.step_function(form)(padded, out, k2, c)
        outs[form] = out[..., 1:-1, 1:-1]
    torch.testing.assert_close(outs["rational, one division"], outs["rational, four divisions"], rtol=0, atol=2e-4)
    assert compiled.one_division_safe(u, k2)
    assert not compiled.one_division_safe(u * 1e6, k2)
    assert not compiled.one_division_safe(u / 255, torch.tensor(1e-12))
    assert not compiled.one_division_safe(u / 255 + 1e9, k2)  # a range of 1, but 1e9 from a zero-value boundary
    flat = u / 255
    flat[..., :10, :10] = 0.5  # differences of exactly 0
    for big, K in ((u * 1e6 / 255, 1e4), (flat, 1e-6)):
        out = diffusion.perona_malik(big, K, 0.2, 5, compile=True)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, diffusion.perona_malik(big, K, 0.2, 5), rtol=1e-5, atol=1e-5 * float(big.max()))
    with pytest.raises(ValueError, match="unknown form"):
        compiled.step_function("rational")


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (2, 5), (1, 1)])
def test_compiled_ghosts_on_thin_images(shape, rng):
    """Images one or two pixels thin keep zero flux through their boundary (the ghost copies' strides)."""
    u = torch.rand(1, 1, *shape, generator=rng, dtype=torch.float64) * 255
    fused = diffusion.perona_malik(u, 10.0, 0.2, 6, compile=True)
    torch.testing.assert_close(fused, diffusion.perona_malik(u, 10.0, 0.2, 6), rtol=0, atol=1e-9)
    torch.testing.assert_close(fused.sum(), u.sum())

def test_learned_flows_take_the_blocked_path_without_gradients(rng, monkeypatch):
    from pdedenoise.solvers.explicit import ExplicitFlow

    calls = _count_blocked(monkeypatch)

    u = torch.rand(2, 1, 20, 18, generator=rng, dtype=torch.float64) * 255
    shared = ExplicitFlow(EdgeDiffusivity(G.Spline(nodes=9, lo=0, hi=900, cap=1.0)), steps=6, dt=0.2).double()
    per_step = ExplicitFlow([EdgeDiffusivity(G.GaussianRBF(centers=7, lo=0, hi=900, cap=1.0)) for _ in range(3)],
                            steps=3, dt=0.2).double()
    for flow in (shared, per_step):
        before = len(calls)
        with torch.no_grad():
            fast = flow(u)
        assert len(calls) > before and not any(calls[before:]), "no gradients: the blocked path"
        before = len(calls)
        slow = flow(u)  # parameters require gradients: the whole-image path
        assert len(calls) == before, "gradients: the whole-image path"
        assert slow.grad_fn is not None and torch.equal(fast, slow.detach())
