"""No-reference image quality: Zhu and Milanfar's Q metric (IEEE TIP 19(12), 2010), batched in torch.

Q measures image content from the local gradient structure: in every ``N x N`` patch, the gradient matrix
``G = [u_x u_y]`` (N² x 2) has singular values ``s1 >= s2``; the patch's *coherence* is
``R = (s1 - s2) / (s1 + s2)`` and its content ``s1 R``. Only anisotropic patches count: those whose coherence
exceeds ``tau = sqrt((1 - alpha) / (1 + alpha))`` with ``alpha = delta^(1 / (N² - 1))``, the threshold below
which a patch of pure Gaussian noise falls with probability ``1 - delta`` (Zhu and Milanfar's significance
test). ``Q`` is the mean of ``s1 R`` over the anisotropic patches: larger is more structure, and denoising that
removes noise without blurring raises it.

Conventions (the paper leaves them to the implementation; state them when comparing): gradients by central
differences inside and one-sided ones at the border (``numpy.gradient``), non-overlapping patches from the top
left (a remainder smaller than a patch is dropped), values on the image's own scale (Q scales linearly with it:
the book uses 0–255).
"""
from __future__ import annotations

import math

import torch

from .stencils import check_image


def threshold(patch: int = 8, delta: float = 1e-3) -> float:
    """The coherence threshold ``tau`` of an ``patch x patch`` window at significance ``delta``."""
    alpha = delta ** (1.0 / (patch * patch - 1))
    return math.sqrt((1 - alpha) / (1 + alpha))


def _gradient(u: torch.Tensor, dim: int) -> torch.Tensor:
    n = u.shape[dim]
    inner = (u.narrow(dim, 2, n - 2) - u.narrow(dim, 0, n - 2)) / 2
    return torch.cat([u.narrow(dim, 1, 1) - u.narrow(dim, 0, 1), inner,
                      u.narrow(dim, n - 1, 1) - u.narrow(dim, n - 2, 1)], dim=dim)


def patch_content(u: torch.Tensor, patch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per patch ``(s1 R, R)``: content and coherence, each (N, C, H // patch, W // patch)."""
    check_image(u, "u")
    u = u.double()
    gx, gy = _gradient(u, -1), _gradient(u, -2)
    h, w = (u.shape[-2] // patch) * patch, (u.shape[-1] // patch) * patch

    def pool(a):  # sum over each patch
        a = a[..., :h, :w]
        return a.reshape(*a.shape[:-2], h // patch, patch, w // patch, patch).sum(dim=(-3, -1))

    a, b, c = pool(gx * gx), pool(gx * gy), pool(gy * gy)  # G^T G = [[a, b], [b, c]]
    half_trace, root = (a + c) / 2, torch.sqrt(((a - c) / 2) ** 2 + b * b)
    s1 = torch.sqrt((half_trace + root).clamp_min(0))
    s2 = torch.sqrt((half_trace - root).clamp_min(0))
    coherence = torch.where(s1 + s2 > 0, (s1 - s2) / (s1 + s2).clamp_min(1e-300), torch.zeros_like(s1))
    return s1 * coherence, coherence


def q_metric(u: torch.Tensor, patch: int = 8, delta: float = 1e-3) -> torch.Tensor:
    """Zhu and Milanfar's Q per image (N,) of images (N, 1, H, W); nan for an image without an anisotropic patch.

    Args:
        u: images, (N, 1, H, W), at least ``patch`` x ``patch``, on the scale to report (0–255 in the book).
        patch: window size N (8 in Valdivia Ortega et al.).
        delta: significance of the anisotropy test (0.001 in Valdivia Ortega et al.).
    """
    if u.shape[-1] < patch or u.shape[-2] < patch:
        raise ValueError(f"images must be at least {patch} x {patch}, got {tuple(u.shape[-2:])}")
    content, coherence = patch_content(u, patch)
    keep = (coherence > threshold(patch, delta)).flatten(1).double()
    total = (content.flatten(1) * keep).sum(dim=1)
    count = keep.sum(dim=1)
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, math.nan))
