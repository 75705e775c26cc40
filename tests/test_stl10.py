"""STL-10 binary reader (on a file the test writes), discs, and crop helpers."""
import numpy as np
import pytest
import torch

from pdedenoise.data import rgb_to_grey
from pdedenoise.data.imagesets import RGB2GRAY, discs, read_stl10, scale_to_max, stl10_count, write_stl10


def _write_by_hand(path, images: np.ndarray):
    """The documented layout, byte by byte: image k, channel ch, row r, column c at k*27648 + ch*9216 + c*96 + r."""
    n = images.shape[0]
    buf = np.zeros(n * 3 * 96 * 96, np.uint8)
    for k in range(n):
        for ch in range(3):
            for c in range(96):
                base = k * 27648 + ch * 9216 + c * 96
                buf[base:base + 96] = images[k, ch, :, c]
    path.write_bytes(buf.tobytes())


def test_reader_gets_rows_columns_and_channels_right(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(3, 3, 96, 96), dtype=np.uint8)
    imgs[0, 0, 5, 70] = 17  # an asymmetric marker: row 5, column 70 of the red plane
    imgs[0, 0, 70, 5] = 200
    path = tmp_path / "unlabeled_X.bin"
    _write_by_hand(path, imgs)
    assert stl10_count(path) == 3
    x = read_stl10(path)
    assert x.shape == (3, 3, 96, 96) and x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), imgs.astype(np.float32))
    assert x[0, 0, 5, 70] == 17 and x[0, 0, 70, 5] == 200
    # slices, grey conversion
    np.testing.assert_array_equal(read_stl10(path, start=1, count=2).numpy(), imgs[1:].astype(np.float32))
    g = read_stl10(path, start=2, count=1, grey=True)
    w = np.array(RGB2GRAY, np.float32).reshape(3, 1, 1)
    np.testing.assert_allclose(g[0, 0].numpy(), (imgs[2].astype(np.float32) * w).sum(0), rtol=1e-6)


def test_write_read_round_trip_and_bad_files(tmp_path):
    x = torch.randint(0, 256, (2, 3, 96, 96)).float()
    p = write_stl10(tmp_path / "a.bin", x)
    torch.testing.assert_close(read_stl10(p), x)
    (tmp_path / "bad.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(ValueError, match="not a multiple"):
        read_stl10(tmp_path / "bad.bin")
    with pytest.raises(IndexError):
        read_stl10(p, start=1, count=5)


def test_discs_are_seeded_and_in_range():
    a, b = discs(8, size=32, seed=3), discs(8, size=32, seed=3)
    torch.testing.assert_close(a, b)
    assert a.shape == (8, 1, 32, 32) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert (a.flatten(1).amax(1) >= 0.2 - 1e-6).all()  # every image holds a disc of contrast >= 0.2
    assert not torch.equal(a, discs(8, size=32, seed=4))


def test_scale_to_max_and_grey():
    x = torch.rand(4, 1, 5, 5) * 7
    assert torch.allclose(scale_to_max(x).flatten(1).amax(1), torch.ones(4))
    assert rgb_to_grey(torch.ones(1, 3, 2, 2), RGB2GRAY).sub(1).abs().max() < 1e-6  # MATLAB weights sum to 1
