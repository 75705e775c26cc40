import numpy as np
import pytest
import torch
from PIL import Image

from pdedenoise import cli, data, degradations, metrics


@pytest.fixture
def noisy_png(tmp_path):
    clean = data.embedded_image("camera")[:, :, ::2, ::2]
    noisy = degradations.add_gaussian_noise(clean, sigma=25, seed=0, clip=True)
    path = tmp_path / "noisy.png"
    Image.fromarray(noisy[0, 0].round().to(torch.uint8).numpy()).save(path)
    return path, clean


@pytest.mark.parametrize("method", ["heat", "perona-malik"])
def test_denoise_command_improves_psnr(noisy_png, tmp_path, method, capsys):
    path, clean = noisy_png
    out = tmp_path / f"out-{method}.png"
    own = ["--T", "0.5"] if method == "heat" else ["--K", "15", "--steps", "15"]  # another method's option is refused
    args = [str(path), str(out), "--method", method, "--dt", "0.25", *own]
    assert cli.main(["denoise", *args]) == 0
    before = metrics.psnr(data.to_tensor(data.read_image(path)), clean, 255.0)
    after = metrics.psnr(data.to_tensor(data.read_image(out)), clean, 255.0)
    assert float(after) > float(before) + 3
    assert np.asarray(Image.open(out)).dtype == np.uint8


def test_denoise_command_reports_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    assert cli.main(["denoise", str(bad), str(tmp_path / "out.png")]) == 2
    assert "broken.png" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_methods_listing_shows_the_labels_of_the_book_tables(capsys):
    from pdedenoise.labels import LABELS

    assert cli.main(["methods"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    for name in ("foe-s-authors", "perona-malik-tuned", "bm3d", "heat"):
        assert LABELS[name] in lines[name]
