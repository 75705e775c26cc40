"""Synthetic images with exact edges, edge detectors and their scores, paired bootstrap intervals."""
import numpy as np
import pytest
import torch

from pdedenoise.data.synthetic import synthetic_image, synthetic_set
from pdedenoise.edgemaps import edge_scores, gradient_of_gaussian, laplacian_of_gaussian
from pdedenoise.stats import paired_bootstrap


def test_synthetic_set_is_seeded_and_its_edges_are_region_boundaries():
    a, ea = synthetic_set(3, size=64, seed=5)
    b, eb = synthetic_set(3, size=64, seed=5)
    assert torch.equal(a, b) and torch.equal(ea, eb) and a.shape == (3, 1, 64, 64) and ea.dtype == torch.bool
    assert not torch.equal(a, synthetic_set(3, size=64, seed=6)[0])
    assert 0 <= float(a.min()) and float(a.max()) <= 255
    img, edges = synthetic_image(64, seed=1)
    assert 0.01 < float(edges.float().mean()) < 0.5
    # away from the edges the image is smooth: every large jump between neighbours is an edge pixel
    jump = (img[..., :, 1:] - img[..., :, :-1]).abs() > 40
    assert bool(jump.any()) and bool((edges[..., :, 1:] | edges[..., :, :-1])[jump].all())


def test_scores_rank_a_perfect_map_first_and_noise_last(rng):
    img, edges = synthetic_set(2, size=64, seed=0)
    perfect = edges.double()
    good = gradient_of_gaussian(img.double(), 1.0)
    noise = torch.rand(img.shape, generator=rng, dtype=torch.float64)
    s_perfect, s_good, s_noise = (edge_scores(m, edges) for m in (perfect, good, noise))
    assert s_perfect["F"] == pytest.approx(1.0) and s_perfect["precision"] == pytest.approx(1.0)
    assert s_perfect["F"] >= s_good["F"] > s_noise["F"] and s_good["AP"] > s_noise["AP"]
    assert laplacian_of_gaussian(img.double()).shape == img.shape
    with pytest.raises(ValueError, match="no edge pixel"):
        edge_scores(good, torch.zeros_like(edges))


def test_paired_bootstrap_interval():
    rng = np.random.default_rng(0)
    base = rng.normal(30, 2, size=200)
    better = base + 0.5 + rng.normal(0, 0.2, size=200)
    r = paired_bootstrap(better, base)
    assert r["low"] < 0.5 < r["high"] and r["low"] > 0 and r["n"] == 200
    same = paired_bootstrap(base + rng.normal(0, 0.2, size=200), base)
    assert same["low"] < 0 < same["high"]
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap([1.0, 2.0], [1.0])
