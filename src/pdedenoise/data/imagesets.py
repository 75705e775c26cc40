"""Image sets: random crops, the STL-10 binary format, grey crop sets of a registered dataset, synthetic discs.

STL-10 (Coates, Ng and Lee, 2011) ships its images as raw ``uint8`` files (``unlabeled_X.bin``:
100,000 images, 2.6 GB; ``train_X.bin``, ``test_X.bin``). Each image is 3 x 96 x 96 bytes: the red,
green and blue planes one after the other, each plane stored **column-major** (the file was written
from MATLAB), i.e. the byte of channel ``ch``, row ``r``, column ``c`` of image ``k`` is at offset
``k * 27648 + ch * 9216 + c * 96 + r``. (The official ``stl10_input.py`` reads it with
``reshape(-1, 3, 96, 96)`` followed by ``transpose(0, 3, 2, 1)``.) :func:`read_stl10` memory-maps the
file, so a slice of the 2.6 GB file costs only its own bytes.

All images here are float32 (N, C, H, W); the scale is stated per function (0–255 from the
readers, 0–1 with maximum exactly 1 after :func:`scale_to_max`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .readers import embedded_image, load_image
from .readers import rgb_to_grey as _rgb_to_grey
from .registry import DataUnavailableError, files

STL10_SIZE = 96
STL10_CHANNELS = 3
STL10_IMAGE_BYTES = STL10_CHANNELS * STL10_SIZE * STL10_SIZE
#: MATLAB ``rgb2gray`` weights (the authors converted STL-10 to grey with rgb2gray).
RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)


# --------------------------------------------------------------------------- random crops


def random_patches(images: torch.Tensor | Sequence[torch.Tensor], size: int, count: int,
                   seed: int | None = 0) -> torch.Tensor:
    """``count`` random ``size`` x ``size`` crops -> (count, C, size, size), same scale as the input.

    ``images`` is a (N, C, H, W) tensor or a list of (1|n, C, H, W) / (C, H, W) tensors of varying
    H, W (e.g. from :func:`load_image`). Each crop picks an image uniformly among those at least
    ``size`` in both dimensions, then a uniform position. Deterministic for a given ``seed``.
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
        pool = list(images.unbind(0))
    else:
        pool = []
        for im in images:
            pool += list(im.unbind(0)) if im.ndim == 4 else [im]
    if any(im.ndim != 3 for im in pool) or not pool:
        raise ValueError("images must be a non-empty (N, C, H, W) tensor or a list of (N, C, H, W)/(C, H, W)")
    if len({im.shape[0] for im in pool}) != 1:
        raise ValueError(f"images have different channel counts {sorted({im.shape[0] for im in pool})}")
    fit = [im for im in pool if im.shape[-2] >= size and im.shape[-1] >= size]
    if not fit:
        raise ValueError(f"no image is at least {size}x{size} (largest {max(tuple(i.shape[-2:]) for i in pool)})")
    g = torch.Generator().manual_seed(int(seed) if seed is not None else torch.seed())
    which = torch.randint(len(fit), (count,), generator=g).tolist()
    out = []
    for k in which:
        im = fit[k]
        i = int(torch.randint(im.shape[-2] - size + 1, (1,), generator=g))
        j = int(torch.randint(im.shape[-1] - size + 1, (1,), generator=g))
        out.append(im[:, i:i + size, j:j + size])
    return torch.stack(out) if out else torch.empty(0, pool[0].shape[0], size, size,
                                                     dtype=pool[0].dtype, device=pool[0].device)


# --------------------------------------------------------------------------- STL-10 binary format


def stl10_count(path: str | os.PathLike) -> int:
    """Number of images in an STL-10 ``*_X.bin`` file (checks the size is a whole number)."""
    size = Path(path).stat().st_size
    if size % STL10_IMAGE_BYTES:
        raise ValueError(f"{path} has {size} bytes, not a multiple of {STL10_IMAGE_BYTES} (3x96x96): "
                         "not an STL-10 image file")
    return size // STL10_IMAGE_BYTES


def read_stl10(path: str | os.PathLike, start: int = 0, count: int | None = None, grey: bool = False) -> torch.Tensor:
    """Read images ``start .. start + count`` of an STL-10 ``*_X.bin`` file.

    Args:
        path: e.g. ``stl10_binary/unlabeled_X.bin``.
        start, count: which images (all from ``start`` when count is None).
        grey: convert to one channel with MATLAB's ``rgb2gray`` weights (no rounding).
    Returns:
        float32 (count, 3 or 1, 96, 96), values 0–255, rows and columns in the usual image order.
    """
    total = stl10_count(path)
    if not 0 <= start <= total:
        raise IndexError(f"start={start} outside the file's {total} images")
    count = total - start if count is None else count
    if count < 0 or start + count > total:
        raise IndexError(f"images {start}..{start + count} requested, the file has {total}")
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=start * STL10_IMAGE_BYTES,
                    shape=(count, STL10_CHANNELS, STL10_SIZE, STL10_SIZE)) if count else np.zeros(
        (0, STL10_CHANNELS, STL10_SIZE, STL10_SIZE), np.uint8)
    # stored column-major per channel: the fastest-varying index in the file is the row
    x = torch.from_numpy(np.ascontiguousarray(raw.transpose(0, 1, 3, 2))).float()
    return _rgb_to_grey(x, RGB2GRAY) if grey else x


def write_stl10(path: str | os.PathLike, images: torch.Tensor | np.ndarray) -> Path:
    """Write (N, 3, 96, 96) images (0–255, rounded to uint8) in the STL-10 binary layout."""
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim != 4 or arr.shape[1:] != (STL10_CHANNELS, STL10_SIZE, STL10_SIZE):
        raise ValueError(f"need (N, 3, 96, 96) images, got {arr.shape}")
    data = np.clip(np.rint(arr), 0, 255).astype(np.uint8).transpose(0, 1, 3, 2)
    path = Path(path)
    from ..atomic import write_bytes

    write_bytes(path, np.ascontiguousarray(data).tobytes())
    return path


# --------------------------------------------------------------------------- scaling, crops


def scale_to_max(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Divide every image by its own maximum (the authors' ``im ./ max(im(:))``): max 1, scale 0–1."""
    m = x.flatten(1).amax(dim=1).clamp_min(eps)
    return x / m.reshape(-1, *([1] * (x.ndim - 1)))


def grey_crops(dataset: str, patterns: Sequence[str], size: int, count: int, seed: int = 0,
               min_std: float = 0.0) -> torch.Tensor:
    """``count`` random grey ``size`` x ``size`` crops from the files of ``dataset`` matching ``patterns``.

    Images are loaded with :func:`pdedenoise.data.load_image` (grey, 0–255) and cropped with
    :func:`pdedenoise.data.random_patches`; each crop is then scaled to maximum 1.
    Crops whose standard deviation (after scaling) is below ``min_std`` are redrawn (flat sky).

    Raises:
        pdedenoise.DataUnavailableError: when the files cannot be found or fetched.
    """

    rel = [f for p in patterns for f in files(dataset, p)]
    if not rel:
        raise DataUnavailableError(f"no files of {dataset} match {list(patterns)}")
    images = [load_image(dataset, f, grey=True) for f in rel]
    out, drawn, s = [], 0, seed
    while drawn < count:
        crops = scale_to_max(random_patches(images, size, count - drawn, seed=s))
        if min_std > 0:
            crops = crops[crops.flatten(1).std(dim=1) >= min_std]
        out.append(crops)
        drawn += crops.shape[0]
        s += 1_000_003
        if s > seed + 50 * 1_000_003:
            raise RuntimeError(f"too few crops of {dataset} have std >= {min_std}")
    return torch.cat(out)[:count]


def stl10_subset(size: int | None = None, count: int | None = None) -> torch.Tensor:
    """The STL-10 images of the shared ``STL10_subset`` folder: grey, each scaled to max 1.

    Args:
        size: centre-crop to ``size`` x ``size`` (None keeps 96).
        count: the first ``count`` images in sorted file order (None: all 246).
    Returns:
        float32 (N, 1, size, size), 0–1.
    """

    rel = sorted(f for f in files("STL10_subset") if f.lower().endswith(".png"))[:count]
    x = torch.cat([_matlab_grey(load_image("STL10_subset", f, grey=False)) for f in rel])
    if size is not None and size < x.shape[-1]:
        o = (x.shape[-1] - size) // 2
        x = x[..., o:o + size, o:o + size]
    return scale_to_max(x)


def _matlab_grey(x: torch.Tensor) -> torch.Tensor:
    return _rgb_to_grey(x, RGB2GRAY) if x.shape[1] == 3 else x[:, :1]


def embedded_crops(size: int, count: int, seed: int = 0, names: Sequence[str] = ("camera", "astronaut", "coins",
                                                                               "moon")) -> torch.Tensor:
    """Fallback crop set from scikit-image's bundled images (no data files needed), max 1 each."""

    images = [embedded_image(n, grey=True) for n in names]
    return scale_to_max(random_patches(images, size, count, seed=seed))


# --------------------------------------------------------------------------- synthetic discs


def discs(count: int, size: int = 64, seed: int = 0, max_discs: int = 1, radius: tuple[float, float] = (0.1, 0.35),
          contrast: tuple[float, float] = (0.2, 1.0), antialias: int = 4) -> torch.Tensor:
    """Images of discs with random centre, radius and contrast on a zero background.

    Args:
        count: number of images.
        size: image side in pixels.
        max_discs: each image holds 1..max_discs discs (added where they overlap).
        radius: radius range as a fraction of ``size``.
        contrast: grey-value range of a disc.
        antialias: supersampling factor per axis for smooth edges (1: hard 0/1 edges).
    Returns:
        float32 (count, 1, size, size), values in [0, max_discs * contrast[1]], 0–1 for one disc.
    """
    g = torch.Generator().manual_seed(seed)
    s = size * antialias
    coords = (torch.arange(s, dtype=torch.float32) + 0.5) / s
    yy, xx = coords[:, None], coords[None, :]
    out = torch.zeros(count, 1, size, size)
    for k in range(count):
        n = int(torch.randint(1, max_discs + 1, (1,), generator=g))
        img = torch.zeros(s, s)
        for _ in range(n):
            r = radius[0] + (radius[1] - radius[0]) * float(torch.rand(1, generator=g))
            cy, cx = (r + (1 - 2 * r) * torch.rand(2, generator=g)).tolist()
            c = contrast[0] + (contrast[1] - contrast[0]) * float(torch.rand(1, generator=g))
            img += c * (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).float()
        out[k, 0] = torch.nn.functional.avg_pool2d(img[None, None], antialias)[0, 0] if antialias > 1 else img
    return out
