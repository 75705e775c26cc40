"""Image quality metrics on batched tensors.

PSNR is written out here (it is one line and its data range must be explicit). SSIM comes from
torchmetrics: it is batched, runs on the GPU, is differentiable, and uses the Gaussian window of
Wang et al. (2004) (11x11, sigma 1.5, K1 = 0.01, K2 = 0.03). Its per-pixel SSIM map is
averaged over the interior (a 5-pixel border dropped), so the numbers agree with
scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)`` — the test suite checks that. Half-precision images (float16, bfloat16) are scored
in float32: the score is that of the values given, exactly as if they had been passed as float32.

LPIPS (AlexNet, v0.1) runs in plain torch (:mod:`pdedenoise.perceptual`) on weights fetched once into the
data cache; without them :func:`lpips` raises an error naming the command, never a stand-in number.
"""
from __future__ import annotations

import torch

from . import validate
from .stencils import check_finite, check_image


#: half-precision inputs are scored in float32 (their values exactly; the squares of 0-255 differences and SSIM's
#: window sums overflow float16 and lose digits in bfloat16): the score is that of the given values
_WIDEN = (torch.float16, torch.bfloat16)


def _pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two images (N, C, H, W) of the same shape and finite values (a NaN would give a meaningless score), half
    precision widened to float32."""
    check_image(x, "x")
    check_image(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    check_finite(x, "x")
    check_finite(y, "y")
    if x.dtype in _WIDEN or y.dtype in _WIDEN or x.dtype != y.dtype:
        wide = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
        x, y = x.to(wide), y.to(wide)
    return x, y


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image. x, y: (N, C, H, W). Returns (N,)."""
    x, y = _pair(x, y)
    return ((x - y) ** 2).flatten(1).mean(dim=1)


def relative_error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Relative l2 error ``||x - y|| / ||y||`` per image, (N,) (x, y: (N, C, H, W))."""
    x, y = _pair(x, y)
    return (x - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1).clamp_min(1e-12)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: ``10 log10(data_range^2 / MSE)``.

    Args:
        x: estimate, (N, C, H, W).
        y: reference, (N, C, H, W).
        data_range: the peak value: 255 for 0–255 images, 1 for 0–1 images. No default, on purpose.
    Returns:
        (N,), in dB (+inf for identical images).
    """
    data_range = validate.data_range(data_range)
    return 10.0 * torch.log10(data_range**2 / mse(x, y))


_SSIM_BORDER = 5  # (kernel_size - 1) // 2
#: working memory SSIM may use at once (bytes): large batches are scored a few images at a time
SSIM_CHUNK_BYTES = 512 * 2 ** 20


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """Structural similarity per image (Gaussian window 11x11, sigma 1.5), via torchmetrics.

    Args:
        x, y: (N, C, H, W), at least 11x11 pixels.
        data_range: 255 for 0–255 images, 1 for 0–1 images.
    Returns:
        (N,), values in [-1, 1].
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    x, y = _pair(x, y)
    data_range = validate.data_range(data_range)
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11 x 11 pixels (its Gaussian window), got "
                         f"{tuple(x.shape[-2:])}")
    # torchmetrics' convolution unfolds every 11 x 11 window (121 values per pixel, 5 maps per image): a few
    # images at a time keep that within ~SSIM_CHUNK_BYTES whatever the batch
    per_image = 5 * 121 * x[0].numel() * x.element_size()
    chunk = max(1, SSIM_CHUNK_BYTES // per_image)
    border = _SSIM_BORDER
    out = []
    for i in range(0, x.shape[0], chunk):
        _, ssim_map = structural_similarity_index_measure(
            x[i:i + chunk], y[i:i + chunk], gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=data_range,
            reduction="none", return_full_image=True,
        )
        # torchmetrics averages over the whole map, border pixels (computed from padding) included;
        # scikit-image and Wang et al.'s code average over the interior only. Use the interior.
        out.append(ssim_map[..., border:-border, border:-border].flatten(1).mean(dim=1))
    return torch.cat(out)


def lpips(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """LPIPS (AlexNet backbone, linear heads v0.1) per image, (N,); grey images are repeated over 3 channels.

    Runs :mod:`pdedenoise.perceptual` (plain torch, no torchvision) on weights fetched once into the data cache
    with ``python -m pdedenoise.perceptual``.

    Raises:
        pdedenoise.perceptual.LPIPSUnavailable: naming that command, when the weights are not in the cache.
    """
    from .perceptual import lpips as _lpips

    x, y = _pair(x, y)
    return _lpips(x, y, validate.data_range(data_range))
