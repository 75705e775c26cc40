"""Residual U-Net baseline (Ronneberger et al. 2015; residual form of Jin et al. 2017, FBPConvNet).

Encoder: ``depth + 1`` levels of two 3x3 convolutions (+ batch norm + ReLU), ``width * 2^k``
channels at level k, 2x2 max pooling between levels. Decoder: a 3x3 transposed convolution with
stride 2 (+ batch norm + ReLU) halves the channels and doubles the size, the encoder features of the
same level are concatenated, then two 3x3 convolutions. A 1x1 convolution maps to the output
channels and the input is added (residual learning: the network predicts the correction); that
last convolution starts at zero, so an untrained residual U-Net is the identity.
An optional final ReLU keeps the output non-negative, as for :class:`~pdedenoise.models.diffnet.DiffNet`.

With ``width = 64, depth = 4`` (the usual U-Net sizes) this network has 34,525,889 parameters (34,512,193
convolution weights and biases plus 13,696 batch-norm scales and shifts) -- the ~34.5M the DiffNet
paper quotes for its U-Net. (The classic U-Net with 2x2 up-convolutions and no batch norm has 31.0M.)
H and W must be multiples of ``2^depth`` (96 and 64 are, for depth 4).

Images: (N, C, H, W) float, any value scale (0–1 in the DiffNet chapter).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..stencils import check_image


def _conv_bn_relu(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), *([nn.BatchNorm2d(cout)] if batch_norm else []), nn.ReLU(inplace=True)]


class DoubleConv(nn.Sequential):
    """Two (3x3 conv, batch norm, ReLU) blocks."""

    def __init__(self, cin: int, cout: int, batch_norm: bool = True):
        super().__init__(*_conv_bn_relu(cin, cout, batch_norm), *_conv_bn_relu(cout, cout, batch_norm))


class Up(nn.Module):
    """3x3 stride-2 transposed conv (+ BN + ReLU), concatenation with the skip, DoubleConv."""

    def __init__(self, cin: int, cout: int, batch_norm: bool = True):
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
            *([nn.BatchNorm2d(cout)] if batch_norm else []), nn.ReLU(inplace=True))
        self.conv = DoubleConv(2 * cout, cout, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """Residual U-Net: ``out = relu(x + net(x))`` (ReLU optional).

    Args:
        width: channels of the first level (64 for the full-size network, e.g. 8 for quick runs).
        depth: number of poolings (4).
        batch_norm: batch normalisation after every convolution.
        residual: add the input to the output (predict the correction).
        final_relu: clamp the output at 0.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 64, depth: int = 4,
                 batch_norm: bool = True, residual: bool = True, final_relu: bool = True):
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError("a residual U-Net needs in_channels == out_channels")
        self.config = dict(in_channels=in_channels, out_channels=out_channels, width=width, depth=depth,
                           batch_norm=batch_norm, residual=residual, final_relu=final_relu)
        chans = [width * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList([DoubleConv(in_channels, chans[0], batch_norm)]
                                  + [DoubleConv(a, b, batch_norm) for a, b in zip(chans[:-1], chans[1:])])
        self.up = nn.ModuleList(Up(b, a, batch_norm) for a, b in reversed(list(zip(chans[:-1], chans[1:]))))
        self.head = nn.Conv2d(chans[0], out_channels, 1)
        if residual:  # start as the identity: the correction is learned from zero
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.depth, self.residual, self.final_relu = depth, residual, final_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x")
        m = 2**self.depth
        if x.shape[-2] % m or x.shape[-1] % m:
            raise ValueError(f"U-Net of depth {self.depth} needs H and W divisible by {m}, got {tuple(x.shape[-2:])}")
        skips = []
        h = x
        for k, block in enumerate(self.down):
            h = block(h if k == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            h = block(h, skip)
        out = self.head(h)
        if self.residual:
            out = out + x
        return F.relu(out) if self.final_relu else out


def unet_parameter_count(in_channels: int = 1, out_channels: int = 1, width: int = 64, depth: int = 4,
                         batch_norm: bool = True) -> int:
    """Closed-form parameter count of :class:`UNet` (34,525,889 for the defaults)."""
    chans = [width * 2**k for k in range(depth + 1)]
    bn = 2 if batch_norm else 0

    def conv(a, b, k=3):
        return k * k * a * b + b + bn * b

    total = conv(in_channels, chans[0]) + conv(chans[0], chans[0])
    for a, b in zip(chans[:-1], chans[1:]):
        total += conv(a, b) + conv(b, b)  # encoder level
        total += conv(b, a) + conv(2 * a, a) + conv(a, a)  # up-conv, then double conv
    return total + chans[0] * out_channels + out_channels
