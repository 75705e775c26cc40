"""Figures that several pages draw: a row of images with their PSNR, and two diffusions side by side.

Each function returns a matplotlib Figure sized for the book's page (see :func:`pdedenoise.book.setup`).
Images are (1, 1, H, W) or (H, W) tensors on the 0–255 scale unless ``vmax`` says otherwise.
"""
from __future__ import annotations

from typing import Mapping

import torch


def image_row(images: Mapping[str, torch.Tensor], reference: torch.Tensor | None = None, vmin: float = 0.0,
              vmax: float = 255.0, width: float = 9.0, psnr_range: float | None = None):
    """One panel per image, titled with its name (and its PSNR against ``reference`` when given)."""
    import matplotlib.pyplot as plt

    from .metrics import psnr

    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(width, width / n * 1.1), squeeze=False)
    for ax, (title, im) in zip(axes[0], images.items()):
        x = im.detach().cpu()
        ax.imshow(x.reshape(x.shape[-2:]), cmap="gray", vmin=vmin, vmax=vmax)
        if reference is not None and im is not reference:
            p = float(psnr(im.reshape(reference.shape).to(reference.dtype), reference, psnr_range or vmax))
            title = f"{title}\n{p:.2f} dB"
        ax.set_title(title)
        ax.axis("off")
    return fig
