"""Paired comparisons of two methods on the same images: mean difference with a bootstrap confidence interval."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def paired_bootstrap(a: Sequence[float], b: Sequence[float], resamples: int = 10_000, level: float = 0.95,
                     seed: int = 0) -> dict[str, float]:
    """Mean of ``a - b`` over paired samples (one per image) and its percentile bootstrap interval.

    Images are resampled with replacement ``resamples`` times (seeded); the interval holds the central ``level``
    share of the resampled means. Returns ``{"mean", "low", "high", "n"}``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"need two paired 1-D samples of the same length >= 2, got {a.shape} and {b.shape}")
    d = a - b
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"mean": float(d.mean()), "low": float(low), "high": float(high), "n": int(d.size)}
