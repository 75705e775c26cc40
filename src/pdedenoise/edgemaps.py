"""Edge maps and how to score them against exact edges: detectors, F-measure at a pixel tolerance, average precision.

Detectors return a non-negative *strength* per pixel, (N, 1, H, W): :func:`gradient_of_gaussian` (the magnitude
of the gradient of the Gaussian-smoothed image) and :func:`laplacian_of_gaussian` (the magnitude of the Laplacian
of the smoothed image, large on both sides of an edge). Any other map (e.g. |v| of a cross-diffusion) is scored
the same way.

Scoring (:func:`precision_recall`, :func:`edge_scores`) follows the usual boundary benchmark, simplified: a
threshold turns the strength into a binary map; a detected pixel is correct when a true edge pixel lies within
``tolerance`` pixels (Chebyshev distance, i.e. a (2t+1)² neighbourhood), and a true edge pixel is found when a
detected pixel lies within the same distance. Precision and recall are counted over the whole set at each of
``levels`` thresholds (quantiles of the strengths); the F-measure is the best ``2PR / (P + R)`` over thresholds
(the dataset-scale optimum), the average precision the area under the precision-recall curve.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, dtype=torch.float64) -> torch.Tensor:
    """A normalised 1-D Gaussian of standard deviation ``sigma`` pixels, radius ``ceil(3 sigma)``."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-x * x / (2 * sigma * sigma))
    return k / k.sum()


def smooth(u: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing with reflecting borders, (N, 1, H, W) -> same."""
    k = gaussian_kernel(sigma, u.dtype).to(u.device)
    r = k.numel() // 2
    u = F.conv2d(F.pad(u, (r, r, 0, 0), mode="reflect"), k.reshape(1, 1, 1, -1))
    return F.conv2d(F.pad(u, (0, 0, r, r), mode="reflect"), k.reshape(1, 1, -1, 1))


def gradient_of_gaussian(u: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """|grad (G_sigma * u)| with central differences (replicated border), (N, 1, H, W) -> same."""
    s = F.pad(smooth(u, sigma), (1, 1, 1, 1), mode="replicate")
    gx = (s[..., 1:-1, 2:] - s[..., 1:-1, :-2]) / 2
    gy = (s[..., 2:, 1:-1] - s[..., :-2, 1:-1]) / 2
    return torch.sqrt(gx * gx + gy * gy)


def laplacian_of_gaussian(u: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """|Laplacian (G_sigma * u)| (5-point Laplacian, replicated border), (N, 1, H, W) -> same."""
    s = F.pad(smooth(u, sigma), (1, 1, 1, 1), mode="replicate")
    lap = s[..., 2:, 1:-1] + s[..., :-2, 1:-1] + s[..., 1:-1, 2:] + s[..., 1:-1, :-2] - 4 * s[..., 1:-1, 1:-1]
    return lap.abs()


def _near(mask: torch.Tensor, tolerance: int) -> torch.Tensor:
    """Pixels within ``tolerance`` (Chebyshev) of a True pixel of ``mask``."""
    if tolerance <= 0:
        return mask
    k = 2 * tolerance + 1
    return F.max_pool2d(mask.float(), k, stride=1, padding=tolerance) > 0


def precision_recall(strength: torch.Tensor, edges: torch.Tensor, tolerance: int = 1,
                     levels: int = 50) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(thresholds, precision, recall)`` over the set, at ``levels`` thresholds (quantiles of the strengths,
    from detecting nearly everything to nearly nothing)."""
    if strength.shape != edges.shape:
        raise ValueError(f"strength and edges differ in shape: {tuple(strength.shape)} vs {tuple(edges.shape)}")
    edges = edges.bool()
    if not edges.any():
        raise ValueError("the edge maps hold no edge pixel")
    s = strength.double()
    flat = s.flatten()
    sample = flat[torch.linspace(0, flat.numel() - 1, min(flat.numel(), 200_000)).long()]
    thresholds = torch.quantile(sample, torch.linspace(0.5, 0.995, levels, dtype=torch.float64))
    near_truth = _near(edges, tolerance)
    precision, recall = [], []
    for t in thresholds:
        detected = s > t
        n = int(detected.sum())
        precision.append(float((detected & near_truth).sum()) / n if n else 1.0)
        recall.append(float((edges & _near(detected, tolerance)).sum()) / float(edges.sum()))
    return thresholds, torch.tensor(precision, dtype=torch.float64), torch.tensor(recall, dtype=torch.float64)


def edge_scores(strength: torch.Tensor, edges: torch.Tensor, tolerance: int = 1, levels: int = 50) -> dict[str, float]:
    """The best F-measure over thresholds, its precision and recall, and the average precision (area under the
    precision-recall curve, trapezoidal, from recall 0, where the precision of the strictest threshold is held,
    to the largest recall reached)."""
    _, p, r = precision_recall(strength, edges, tolerance, levels)
    f = torch.where(p + r > 0, 2 * p * r / (p + r).clamp_min(1e-300), torch.zeros_like(p))
    best = int(torch.argmax(f))
    order = torch.argsort(r)
    rs, ps = torch.cat([r.new_zeros(1), r[order]]), torch.cat([p[order][:1], p[order]])  # from recall 0
    ap = float(torch.trapezoid(ps, rs))
    return {"F": float(f[best]), "precision": float(p[best]), "recall": float(r[best]), "AP": ap}
