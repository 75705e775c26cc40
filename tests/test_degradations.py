"""Degradations: Gaussian noise (statistics, seeds, scales), storage modes, blurs."""
import pytest
import torch

from pdedenoise import degradations
from pdedenoise.diffusion import perona_malik
from pdedenoise.solvers.spectral import heat_spectral


def test_noise_statistics_and_seeding():
    x = torch.full((1, 1, 512, 512), 128.0)
    y = degradations.add_gaussian_noise(x, 25.0, seed=3)
    n = y - x
    assert abs(float(n.std()) - 25.0) < 0.5 and abs(float(n.mean())) < 0.2
    assert torch.equal(y, degradations.add_gaussian_noise(x, 25.0, seed=3))
    assert not torch.equal(y, degradations.add_gaussian_noise(x, 25.0, seed=4))
    g = torch.Generator().manual_seed(3)
    assert torch.equal(y, degradations.add_gaussian_noise(x, 25.0, generator=g))
    assert torch.equal(x, torch.full((1, 1, 512, 512), 128.0))  # input untouched


def test_noise_data_range_and_clip():
    x = torch.full((1, 1, 256, 256), 0.5, dtype=torch.float64)
    y = degradations.add_gaussian_noise(x, 25.0, seed=0, data_range=1.0)
    assert y.dtype == torch.float64 and abs(float((y - x).std()) - 25 / 255) < 0.03 * 25 / 255
    y32 = degradations.add_gaussian_noise(x.float(), 25.0, seed=0, data_range=1.0)
    torch.testing.assert_close(y32.double(), y, atol=1e-6, rtol=0)  # same realisation in both dtypes
    yc = degradations.add_gaussian_noise(x, 100.0, seed=0, data_range=1.0, clip=True)
    assert float(yc.min()) == 0.0 and float(yc.max()) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        degradations.add_gaussian_noise(torch.tensor([[float("nan")]]), 10.0, seed=0)
    with pytest.raises(ValueError):
        degradations.add_gaussian_noise(x, -1.0, seed=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_noise_same_on_cpu_and_gpu():
    x = torch.rand(1, 1, 64, 64) * 255
    cpu = degradations.add_gaussian_noise(x, 15.0, seed=7)
    gpu = degradations.add_gaussian_noise(x.cuda(), 15.0, seed=7)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu)


def test_storage_modes():
    x = torch.tensor([[[[-3.7, 0.2, 254.6, 300.2]]]], dtype=torch.float64)
    assert degradations.store(x, "clip").tolist() == [[[[0.0, 0.2, 254.6, 255.0]]]]
    assert degradations.store(x, "round_clip").tolist() == [[[[0.0, 0.0, 255.0, 255.0]]]]
    # (x).astype(np.uint8) on x86: truncate towards zero, then modulo 256
    assert degradations.store(x, "wrap").tolist() == [[[[253.0, 0.0, 254.0, 44.0]]]]
    assert degradations.store(x / 255, "clip", data_range=1.0).max() == 1.0
    with pytest.raises(ValueError, match="unknown storage"):
        degradations.store(x, "saturate")
    with pytest.raises(ValueError, match="0-255 scale"):
        degradations.store(x / 255, "wrap", data_range=1.0)


def test_noisy_image_shares_one_realisation_across_storage_modes():
    clean = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 255
    plain = degradations.noisy_image(clean, 50.0, seed=3, mode="plain")
    torch.testing.assert_close(degradations.noisy_image(clean, 50.0, seed=3, mode="clip"), plain.clamp(0, 255))
    torch.testing.assert_close(plain, degradations.add_gaussian_noise(clean, 50.0, seed=3))
    assert not torch.equal(plain, degradations.noisy_image(clean, 50.0, seed=4))


def test_blurs_are_the_solvers():
    u = torch.rand(2, 1, 12, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(degradations.perona_malik_blur(u, 0.2, 0.1, 4, scheme="average"),
                               perona_malik(u, 0.2, 0.1, 4, scheme="average"), rtol=0, atol=0)
    torch.testing.assert_close(degradations.heat_blur(u, 1.0), heat_spectral(u, 1.0, 1.0), rtol=0, atol=0)
