"""Convolutions whose backward runs ATen's native CPU kernels instead of oneDNN's, for few-channel filters.

The learned diffusion models filter a one-channel image with a bank of small kernels (Fields of Experts: 30 of
5x5; TNRD: 24 of 5x5) and, in TNRD, apply the adjoint bank back to one channel. For these shapes oneDNN's backward
(and its transposed convolution) is several times slower than ATen's native im2col kernels on a CPU: measured for
ten 128² images and 30 kernels of 5x5, forward + backward 97 ms with oneDNN against 23 ms native. These functions
compute the same convolution (to float32 round-off; tested against ``F.conv2d`` / ``F.conv_transpose2d``) and
choose the kernel per pass: oneDNN for a plain convolution's forward, the native kernels for everything else. On
other devices they are ``F.conv2d`` / ``F.conv_transpose2d``.

Shapes: ``x`` (N, C_in, H, W); ``weight`` (C_out, C_in, k, k) for :func:`conv2d`, (C_in, C_out, k, k) for
:func:`conv_transpose2d` (torch's layouts); stride 1, no bias, ``padding`` pixels of zeros on every side.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F


@contextlib.contextmanager
def _onednn(enabled: bool):
    # (torch.backends.mkldnn.flags would also set oneDNN's TF32 switch, which warns on CPU-only builds)
    before = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(enabled)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(before)


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, padding: int, transposed: bool):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.transposed = padding, transposed
        with _onednn(not transposed):
            return torch.ops.aten.convolution(x, weight, None, [1, 1], [padding, padding], [1, 1], transposed,
                                              [0, 0], 1)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        with _onednn(False):
            gx, gw, _ = torch.ops.aten.convolution_backward(
                grad.contiguous(), x, weight, None, [1, 1], [ctx.padding, ctx.padding], [1, 1], ctx.transposed,
                [0, 0], 1, [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False])
        return gx, gw, None, None


def conv2d(x: torch.Tensor, weight: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """``F.conv2d(x, weight, padding=padding)`` with the native backward on a CPU (see the module docstring)."""
    if x.device.type != "cpu" or not torch.is_grad_enabled():
        return F.conv2d(x, weight, padding=padding)
    return _Conv.apply(x, weight, padding, False)


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, padding=padding)`` on the native kernels on a CPU, forward and backward."""
    if x.device.type != "cpu":
        return F.conv_transpose2d(x, weight, padding=padding)
    if not torch.is_grad_enabled():
        with _onednn(False):
            return F.conv_transpose2d(x, weight, padding=padding)
    return _Conv.apply(x, weight, padding, True)
