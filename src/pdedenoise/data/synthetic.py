"""Seeded synthetic grey images with exact edge maps: piecewise-constant shapes, ramps and textures.

Each image is painted shape by shape on a background; every shape is a disc, an axis-aligned rectangle or a
triangle, filled with a constant grey level, a linear ramp or a sinusoidal texture. The **edge map** is exact:
a pixel is an edge pixel when one of its 4-neighbours belongs to another region (the label image is kept while
painting), so the edges of ramps and textures are where the shapes meet, never inside a shape. Values are on
0–255 (before noise), float32.

:func:`synthetic_set` is deterministic for a given seed: the same seed gives the same images, on any machine.
"""
from __future__ import annotations

import math

import torch


def _shape_mask(kind: str, size: int, g: torch.Generator) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")

    def uniform(lo, hi):
        return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))

    if kind == "disc":
        cy, cx, r = uniform(0.15, 0.85) * size, uniform(0.15, 0.85) * size, uniform(0.08, 0.25) * size
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if kind == "rectangle":
        y0, x0 = uniform(0.05, 0.6) * size, uniform(0.05, 0.6) * size
        h, w = uniform(0.15, 0.4) * size, uniform(0.15, 0.4) * size
        return (yy >= y0) & (yy < y0 + h) & (xx >= x0) & (xx < x0 + w)
    # triangle: the points on the inner side of three edges
    pts = [(uniform(0.05, 0.95) * size, uniform(0.05, 0.95) * size) for _ in range(3)]
    area = (pts[1][0] - pts[0][0]) * (pts[2][1] - pts[0][1]) - (pts[2][0] - pts[0][0]) * (pts[1][1] - pts[0][1])
    if abs(area) < 0.02 * size * size:  # too thin: use a disc instead
        return _shape_mask("disc", size, g)
    sign = 1.0 if area > 0 else -1.0
    inside = torch.ones(size, size, dtype=torch.bool)
    for (ay, ax), (by, bx) in zip(pts, pts[1:] + pts[:1]):
        inside &= sign * ((by - ay) * (xx - ax) - (bx - ax) * (yy - ay)) <= 0
    return inside


def _fill(kind: str, size: int, g: torch.Generator) -> torch.Tensor:
    def uniform(lo, hi):
        return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))

    level = uniform(30, 225)
    if kind == "constant":
        return torch.full((size, size), level, dtype=torch.float64)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    angle = uniform(0, math.pi)
    t = (xx * math.cos(angle) + yy * math.sin(angle)) / size
    if kind == "ramp":
        return level + uniform(-60, 60) * (t - t.mean())
    period = uniform(6, 16)
    return level + uniform(10, 30) * torch.sin(2 * math.pi * t * size / period)


def synthetic_image(size: int = 256, shapes: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One image and its edge map: ``(image (1, 1, size, size) on 0–255, edges (1, 1, size, size) bool)``."""
    g = torch.Generator().manual_seed(int(seed))
    image = _fill("ramp", size, g)
    labels = torch.zeros(size, size, dtype=torch.int64)
    kinds = ("disc", "rectangle", "triangle")
    fills = ("constant", "constant", "ramp", "texture")
    for k in range(1, shapes + 1):
        mask = _shape_mask(kinds[int(torch.randint(3, (), generator=g))], size, g)
        fill = _fill(fills[int(torch.randint(4, (), generator=g))], size, g)
        image = torch.where(mask, fill, image)
        labels = torch.where(mask, torch.full_like(labels, k), labels)
    edges = torch.zeros(size, size, dtype=torch.bool)
    edges[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edges[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edges[1:, :] |= labels[1:, :] != labels[:-1, :]
    return image.clamp(0, 255).float()[None, None], edges[None, None]


def synthetic_set(count: int, size: int = 256, shapes: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` synthetic images and edge maps, (count, 1, size, size) each; image ``i`` is seeded ``seed + i``."""
    pairs = [synthetic_image(size, shapes, seed + i) for i in range(count)]
    return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
