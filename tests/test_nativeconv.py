"""The convolutions with native CPU backward equal torch's, in values and gradients (float64 gradcheck too)."""
import pytest
import torch
import torch.nn.functional as F

from pdedenoise import nativeconv
from pdedenoise.papers.barbeiro2020 import tnrd


@pytest.mark.parametrize("transposed", [False, True])
def test_native_convolutions_equal_torchs_in_values_and_gradients(transposed, monkeypatch):
    g = torch.Generator().manual_seed(0)
    cin, cout = (24, 1) if transposed else (1, 30)
    x = torch.randn(3, cin, 17, 13, generator=g, requires_grad=True)
    w = torch.randn(cin, cout, 5, 5, generator=g) if transposed else torch.randn(cout, cin, 5, 5, generator=g)
    w.requires_grad_()
    ours = (nativeconv.conv_transpose2d if transposed else nativeconv.conv2d)(x, w, padding=2)
    ref = (F.conv_transpose2d if transposed else F.conv2d)(x, w, padding=2)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)
    up = torch.randn(ref.shape, generator=g)
    for a, b in zip(torch.autograd.grad(ours, [x, w], up), torch.autograd.grad(ref, [x, w], up)):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)
    xd, wd = x.detach().double()[:1, :, :7, :6].requires_grad_(), w.detach().double().requires_grad_()
    fn = nativeconv.conv_transpose2d if transposed else nativeconv.conv2d
    assert torch.autograd.gradcheck(lambda a, b: fn(a, b, 2), (xd, wd))
    calls, apply = [], nativeconv._Conv.apply
    monkeypatch.setattr(nativeconv._Conv, "apply", lambda *a: calls.append(1) or apply(*a))
    fn(x, w, 2)
    assert calls == [1], "with gradients: the native autograd function"
    with torch.no_grad():  # inference takes the plain path and gives the same numbers
        torch.testing.assert_close(fn(x, w, 2), ref, atol=1e-4, rtol=1e-5)
    assert calls == [1], "without gradients: the plain convolution"


def test_tnrd_influence_table_in_closed_form_equals_the_autograd_of_the_lookup():
    stage = tnrd.Stage()
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 24, 9, 8, generator=g, dtype=torch.float64) * 200
    z.view(-1)[:4] = torch.tensor([-1e4, 1e4, 0.0, 333.0], dtype=torch.float64)  # beyond both ends, inside
    stage = stage.double()
    z.requires_grad_()
    values, lo, step = stage.table()
    ref, ours = tnrd.table_interpolation(z, values, lo, step), stage.phi(z)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)
    up = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(ours, [z, stage.weights], up), torch.autograd.grad(ref, [z, stage.weights], up)):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
