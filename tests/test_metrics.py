import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from pdedenoise import metrics


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    clean = torch.stack([torch.tensor(data.camera()), torch.tensor(data.moon())]).double()[:, None]
    noisy = clean + 20 * torch.randn(clean.shape, generator=g, dtype=torch.float64)
    return noisy, clean


def test_psnr_matches_scikit_image(pair):
    noisy, clean = pair
    ours = metrics.psnr(noisy, clean, data_range=255.0)
    assert ours.shape == (2,)
    for i in range(2):
        ref = peak_signal_noise_ratio(clean[i, 0].numpy(), noisy[i, 0].numpy(), data_range=255)
        assert abs(float(ours[i]) - ref) < 1e-10


def test_psnr_data_range_matters(pair):
    noisy, clean = pair
    a = metrics.psnr(noisy, clean, 255.0)
    b = metrics.psnr(noisy / 255, clean / 255, 1.0)
    torch.testing.assert_close(a, b)
    assert float(metrics.psnr(noisy, clean, 1.0)[0]) < float(a[0]) - 40


def test_ssim_matches_scikit_image(pair):
    noisy, clean = pair
    ours = metrics.ssim(noisy, clean, data_range=255.0)
    assert ours.shape == (2,)
    for i in range(2):
        ref = structural_similarity(noisy[i, 0].numpy(), clean[i, 0].numpy(), data_range=255,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert abs(float(ours[i]) - ref) < 1e-9


def test_ssim_of_identical_images_is_one(pair):
    _, clean = pair
    torch.testing.assert_close(metrics.ssim(clean, clean, 255.0), torch.ones(2, dtype=torch.float64))


def test_shape_mismatch_is_refused(pair):
    noisy, clean = pair
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(noisy[:, :, :100], clean, 255.0)
    with pytest.raises(ValueError, match="same shape"):
        metrics.ssim(noisy[:1], clean, 255.0)


def test_ssim_of_a_large_batch_is_scored_in_chunks_with_the_same_values(pair, monkeypatch):
    """A batch larger than the working-memory budget gives the same per-image values as one image at a time
    (torchmetrics would otherwise unfold 121 values per pixel for the whole batch at once)."""
    import pdedenoise.metrics as metrics

    x, y = pair
    xs, ys = x[:1].repeat(5, 1, 1, 1), y[:1].repeat(5, 1, 1, 1) * torch.linspace(0.9, 1.1, 5).reshape(-1, 1, 1, 1)
    whole = metrics.ssim(xs, ys, 255.0)
    monkeypatch.setattr(metrics, "SSIM_CHUNK_BYTES", 1)  # one image per chunk
    torch.testing.assert_close(metrics.ssim(xs, ys, 255.0), whole)
