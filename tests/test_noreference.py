"""Zhu and Milanfar's Q: the threshold, the singular values against an SVD, and what Q is for."""
import math

import numpy as np
import pytest
import torch

from pdedenoise.noreference import patch_content, q_metric, threshold


def test_threshold_of_the_significance_test():
    # alpha = 0.001^(1/63) = 0.89614..., tau = sqrt((1 - alpha) / (1 + alpha))
    alpha = 0.001 ** (1 / 63)
    assert threshold(8, 1e-3) == pytest.approx(math.sqrt((1 - alpha) / (1 + alpha)))
    assert 0.23 < threshold(8, 1e-3) < 0.24
    assert threshold(8, 1e-2) < threshold(8, 1e-3)  # a stricter test needs more coherence


def test_patch_singular_values_match_numpy_svd(rng):
    u = torch.rand(1, 1, 16, 24, generator=rng, dtype=torch.float64) * 255
    content, coherence = patch_content(u, 8)
    gx, gy = np.gradient(u[0, 0].numpy(), axis=1), np.gradient(u[0, 0].numpy(), axis=0)
    for i in range(2):
        for j in range(3):
            G = np.stack([gx[8 * i:8 * i + 8, 8 * j:8 * j + 8].ravel(), gy[8 * i:8 * i + 8, 8 * j:8 * j + 8].ravel()], 1)
            s1, s2 = np.linalg.svd(G, compute_uv=False)
            R = (s1 - s2) / (s1 + s2)
            assert float(coherence[0, 0, i, j]) == pytest.approx(R, rel=1e-9, abs=1e-12)
            assert float(content[0, 0, i, j]) == pytest.approx(s1 * R, rel=1e-9)


def test_q_rewards_structure_not_noise(rng):
    x = torch.arange(64, dtype=torch.float64)
    edges = ((x[None, :] // 8) % 2 * 200.0 + 20.0).expand(64, 64)[None, None].clone()  # vertical stripes
    noise = torch.randn(1, 1, 64, 64, generator=rng, dtype=torch.float64) * 20
    assert float(q_metric(edges)) > 0
    assert math.isnan(float(q_metric(torch.full((1, 1, 64, 64), 7.0))))  # no anisotropic patch at all
    # noise lowers Q of a structured image; Q scales with the intensity scale
    assert float(q_metric(edges + noise)) < float(q_metric(edges))
    assert float(q_metric(2 * edges)) == pytest.approx(2 * float(q_metric(edges)))
    with pytest.raises(ValueError, match="at least 8 x 8"):
        q_metric(torch.zeros(1, 1, 4, 4))
