import pytest
import torch
import torch.nn.functional as F

from pdedenoise import stencils as S


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_laplacian_is_the_5_point_kernel(bc, rng):
    u = torch.rand(2, 3, 17, 23, generator=rng, dtype=torch.float64)
    kernel = torch.tensor(S.LAPLACIAN_KERNEL, dtype=torch.float64).expand(3, 1, 3, 3)
    ref = F.conv2d(S.pad(u, bc), kernel, groups=3)
    torch.testing.assert_close(S.laplacian(u, bc), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bc", ["neumann", "dirichlet"])
def test_flux_divergence_of_differences_is_laplacian(bc, rng):
    u = torch.rand(2, 1, 11, 9, generator=rng, dtype=torch.float64)
    dx, dy = S.edge_differences(u, bc)
    assert dx.shape == (2, 1, 11, 10) and dy.shape == (2, 1, 12, 9)
    torch.testing.assert_close(S.flux_divergence(dx, dy), S.laplacian(u, bc), rtol=0, atol=1e-12)


def test_neumann_boundary_edges_carry_no_flux(rng):
    u = torch.rand(1, 1, 8, 8, generator=rng, dtype=torch.float64)
    dx, dy = S.edge_differences(u, "neumann")
    assert dx[..., 0].abs().max() == 0 and dx[..., -1].abs().max() == 0
    assert dy[..., 0, :].abs().max() == 0 and dy[..., -1, :].abs().max() == 0


def test_divergence_is_negative_adjoint_of_gradient(rng):
    u = torch.rand(2, 2, 13, 10, generator=rng, dtype=torch.float64)
    px, py = torch.rand(2, 2, 13, 10, generator=rng, dtype=torch.float64), torch.rand(2, 2, 13, 10, generator=rng, dtype=torch.float64)
    px[..., -1] = 0
    py[..., -1, :] = 0
    gx, gy = S.forward_gradient(u, "neumann")
    lhs = (gx * px).sum() + (gy * py).sum()
    rhs = -(u * S.backward_divergence(px, py)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_average_to_edges_of_constant_is_constant():
    c = torch.full((1, 1, 5, 6), 0.3, dtype=torch.float64)
    cx, cy = S.average_to_edges(c)
    assert cx.shape == (1, 1, 5, 7) and cy.shape == (1, 1, 6, 6)
    assert torch.allclose(cx, torch.tensor(0.3, dtype=torch.float64)) and torch.allclose(cy, torch.tensor(0.3, dtype=torch.float64))


def test_neighbours_order():
    u = torch.arange(9.0).reshape(1, 1, 3, 3)
    up, left, down, right = S.neighbours(u, "dirichlet")
    assert up[0, 0, 1, 1] == 1 and left[0, 0, 1, 1] == 3 and down[0, 0, 1, 1] == 7 and right[0, 0, 1, 1] == 5
    assert up[0, 0, 0, 0] == 0 and right[0, 0, 2, 2] == 0


def test_shape_and_dtype_errors():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        S.check_image(torch.zeros(5, 5))
    with pytest.raises(TypeError, match="floating"):
        S.check_image(torch.zeros(1, 1, 5, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="unknown boundary"):
        S.laplacian(torch.zeros(1, 1, 4, 4), "periodic")
    with pytest.raises(ValueError, match="NaN"):
        S.check_finite(torch.tensor([[[[1.0, float("nan")]]]]))


def test_laplacian_gradcheck(rng):
    u = torch.rand(1, 2, 5, 4, generator=rng, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: S.laplacian(x, "neumann"), (u,))
    assert torch.autograd.gradcheck(lambda x: S.central_gradient_sq(x, "dirichlet"), (u,))
