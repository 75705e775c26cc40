"""Data layer: registry vs staged data, fetch errors and cache hygiene, readers, patches."""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from pdedenoise import data
from pdedenoise.data import registry

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"staged data folder {SHARED} is absent")


@pytest.fixture
def offline(monkeypatch):
    """Block all network access (DNS and connect)."""
    def refuse(*args, **kwargs):
        raise OSError("network blocked by test")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    """PDEDENOISE_DATA -> empty folder, PDEDENOISE_CACHE -> empty folder; returns (data, cache)."""
    d, c = tmp_path / "data", tmp_path / "cache"
    d.mkdir()
    c.mkdir()
    monkeypatch.setenv(data.DATA_ENV, str(d))
    monkeypatch.setenv(data.CACHE_ENV, str(c))
    return d, c


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if not p.is_dir()]


# ----------------------------------------------------------------------------- registry

def test_registry_lists_datasets_and_globs():
    assert set(data.DATASET_INFO) == set(data.datasets())
    train = data.files("BSDS500", "train/*")
    assert len(train) == 200 and train == sorted(train)
    assert data.files("Set12") == [f"{i:02d}.png" for i in range(1, 13)]
    for ds in data.datasets():
        for rel in data.files(ds):
            sha, size, url = registry._entry(ds, rel)
            assert len(sha) == 64 and size > 0
            assert url == "" or url.startswith("https://raw.githubusercontent.com/")


@needs_shared
def test_registry_matches_shared_data():
    for ds in data.datasets():
        sums = {}
        for line in (SHARED / ds / "SHA256SUMS").read_text().splitlines():
            if line.strip():
                h, name = line.split(maxsplit=1)
                sums[name.strip().removeprefix("./")] = h  # some SHA256SUMS list paths as ./name
        assert sorted(sums) == data.files(ds), ds
        for rel, h in sums.items():
            sha, size, _ = registry._entry(ds, rel)
            assert sha == h and (SHARED / ds / rel).stat().st_size == size, f"{ds}/{rel}"


def test_unknown_names_suggest_close_matches():
    with pytest.raises(KeyError, match="BSDS500"):
        data.files("BSDS50")
    with pytest.raises(data.DataError, match="train/2092.jpg"):
        data.fetch("BSDS500", "train/2092.png")


# ----------------------------------------------------------------------------- fetch

@needs_shared
def test_fetch_from_shared_verifies_once(monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.chdir(SHARED.parent.parent)
    assert data.data_dir() is not None
    calls = []
    real = registry.sha256sum
    monkeypatch.setattr(registry, "sha256sum", lambda p: calls.append(p) or real(p))
    registry._VERIFIED.clear()
    p1 = data.fetch("Set12", "01.png")
    p2 = data.fetch("Set12", "01.png")
    assert p1 == p2 and p1.is_file() and len(calls) == 1


@needs_shared
def test_checksum_mismatch_raises(tmp_path, monkeypatch):
    (tmp_path / "Set12").mkdir()
    bad = tmp_path / "Set12" / "01.png"
    raw = bytearray((SHARED / "Set12" / "01.png").read_bytes())
    raw[100] ^= 0xFF
    bad.write_bytes(bytes(raw))
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(data.ChecksumError, match="delete it") as exc:
        data.fetch("Set12", "01.png")
    msg = str(exc.value)
    assert str(bad) in msg and registry._entry("Set12", "01.png")[0] in msg
    assert data.fetch("Set12", "01.png", verify=False) == bad


def test_data_env_pointing_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "nope"))
    with pytest.raises(data.DataUnavailableError, match=data.DATA_ENV):
        data.data_dir()


def test_offline_missing_file_raises_and_leaves_cache_empty(empty_env, offline):
    _, cache = empty_env
    with pytest.raises(data.DataUnavailableError) as exc:
        data.fetch("Set12", "01.png")
    msg = str(exc.value)
    assert data.DATA_ENV in msg and "raw.githubusercontent.com" in msg and "Set12/01.png" in msg
    assert _files_under(cache) == []


def test_failed_download_leaves_nothing(empty_env, monkeypatch):
    import pooch
    import requests
    _, cache = empty_env

    def half_then_fail(self, url, output_file, pooch_, check_only=False):
        Path(output_file).write_bytes(b"\x89PNG partial")
        raise requests.exceptions.ConnectionError("connection reset mid-download")
    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", half_then_fail)
    with pytest.raises(data.DataUnavailableError, match="connection reset"):
        data.fetch("EM_ISBI2012", "train_03.png")
    assert _files_under(cache) == []


def test_download_with_wrong_hash_raises_checksum_error(empty_env, monkeypatch):
    import pooch
    _, cache = empty_env
    monkeypatch.setattr(pooch.HTTPDownloader, "__call__",
                        lambda self, url, out, p, check_only=False: Path(out).write_bytes(b"<html>gone</html>"))
    with pytest.raises(data.ChecksumError):
        data.fetch("Set12", "02.png")
    assert _files_under(cache) == []


@needs_shared
def test_download_path_into_cache(empty_env, monkeypatch):
    import pooch
    _, cache = empty_env
    seen = []

    def serve_local(self, url, output_file, pooch_, check_only=False):
        seen.append(url)
        shutil.copyfile(SHARED / "STL10_subset" / "airplane" / "ai0-passenger_plane.png", output_file)
    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", serve_local)
    p = data.fetch("STL10_subset", "airplane/ai0-passenger_plane.png")
    assert p == cache / "STL10_subset" / "airplane" / "ai0-passenger_plane.png" and p.is_file()
    assert seen == [registry._entry("STL10_subset", "airplane/ai0-passenger_plane.png")[2]]
    assert "passenger%20plane" in seen[0]
    assert data.fetch("STL10_subset", "airplane/ai0-passenger_plane.png") == p and len(seen) == 1


def test_staging_only_file_has_no_url(empty_env, offline):
    with pytest.raises(data.DataUnavailableError, match="no public source URL"):
        data.fetch("BSD68", "BSD68_to_BSDS500.tsv")


# ----------------------------------------------------------------------------- readers

@needs_shared
@pytest.mark.parametrize("dataset, relpath, shape, tshape, lo, hi", [
    ("Set12", "01.png", (256, 256), (1, 1, 256, 256), 0, 255),                     # PNG L
    ("BSDS500", "val/3096.jpg", (321, 481, 3), (1, 1, 321, 481), 0, 255),          # JPEG RGB
    ("MRI", "skimage_brain.tiff", (10, 256, 256), (10, 1, 256, 256), 0, 65535),    # multi-page TIFF
    ("CT", "693_UNCR.dcm", (512, 512), (1, 1, 512, 512), -3024, 3000),             # DICOM, HU
    ("CT", "eCT_Supplemental.dcm", (2, 512, 512), (2, 1, 512, 512), -1024, 3000),  # enhanced multi-frame
    ("cryoEM", "empiar_10076_7.mrc", (7, 320, 320), (7, 1, 320, 320), -50, 50),    # MRC stack
])
def test_readers_on_shared_data(dataset, relpath, shape, tshape, lo, hi, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(SHARED))
    a = data.read_image(data.fetch(dataset, relpath))
    assert a.shape == shape and a.dtype == np.float32
    assert lo <= a.min() and a.max() <= hi and a.std() > 0
    t = data.load_image(dataset, relpath)
    assert t.shape == tshape and t.dtype == torch.float32


@needs_shared
def test_dicom_rescale_applied():
    import pydicom
    path = SHARED / "CT" / "CT_small.dcm"
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(data.read_image(path), expected)


def test_reader_roundtrip_tiff_and_mrc(tmp_path):
    from PIL import Image
    import mrcfile
    pages = [Image.fromarray(np.full((8, 6), v, np.uint8)) for v in (10, 20, 30)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    a = data.read_image(tmp_path / "stack.tif")
    assert a.shape == (3, 8, 6) and a[2, 0, 0] == 30
    stack = np.random.default_rng(0).normal(size=(4, 5, 7)).astype(np.float32)
    with mrcfile.new(tmp_path / "s.mrcs") as m:
        m.set_data(stack)
    np.testing.assert_array_equal(data.read_image(tmp_path / "s.mrcs"), stack)
    assert data.to_tensor(a).shape == (3, 1, 8, 6)


def test_pydicom_bundled_file_readable():
    from pydicom.data import get_testdata_file
    a = data.read_image(get_testdata_file("MR_small.dcm"))
    assert a.shape == (64, 64) and a.dtype == np.float32


@pytest.mark.parametrize("name, payload", [
    ("bad.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
    ("bad.jpg", b"not a jpeg"),
    ("bad.dcm", b"\x00" * 128 + b"DICM" + b"\x01" * 20),
    ("bad.mrc", b"\x00" * 10),
])
def test_corrupt_files_raise_data_error(tmp_path, name, payload):
    p = tmp_path / name
    p.write_bytes(payload)
    with pytest.raises(data.DataError, match="Supported formats|corrupt") as exc:
        data.read_image(p)
    assert name in str(exc.value)


def test_unsupported_and_missing(tmp_path):
    (tmp_path / "x.star").write_text("data_\n")
    with pytest.raises(data.DataError, match="Supported formats"):
        data.read_image(tmp_path / "x.star")
    with pytest.raises(data.DataError, match="does not exist"):
        data.read_image(tmp_path / "missing.png")


# ----------------------------------------------------------------------------- tensors

def test_grey_conversion_weights():
    rgb = np.zeros((3, 4, 5, 3), np.float32)  # stack of pure R, G, B images
    for k in range(3):
        rgb[k, ..., k] = 255.0
    g = data.to_tensor(rgb)
    assert g.shape == (3, 1, 4, 5)
    torch.testing.assert_close(g[:, 0, 0, 0], 255.0 * torch.tensor(data.GREY_WEIGHTS))
    assert data.to_tensor(rgb, grey=False).shape == (3, 3, 4, 5)
    assert data.to_tensor(np.zeros((4, 5, 4)), grey=False).shape == (1, 3, 4, 5)  # alpha dropped
    assert data.to_tensor(np.zeros((4, 5))).shape == (1, 1, 4, 5)


def test_embedded_image_offline(offline, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, "/nonexistent/never/used")
    cam = data.embedded_image()
    assert cam.shape == (1, 1, 512, 512) and cam.dtype == torch.float32
    assert 0 <= cam.min() and cam.max() <= 255 and cam.max() > 200
    assert data.embedded_image("astronaut", grey=False).shape == (1, 3, 512, 512)
    with pytest.raises(KeyError):
        data.embedded_image("no_such_image")


# ----------------------------------------------------------------------------- patches

def test_random_patches():
    imgs = [torch.arange(40 * 50, dtype=torch.float32).view(1, 1, 40, 50),
            torch.zeros(1, 1, 10, 10)]  # too small: never used
    p = data.random_patches(imgs, size=16, count=32, seed=1)
    assert p.shape == (32, 1, 16, 16)
    assert torch.equal(p, data.random_patches(imgs, size=16, count=32, seed=1))
    # each crop is a contiguous window of the arange image
    assert torch.all(p[:, 0, 0, 1] - p[:, 0, 0, 0] == 1) and torch.all(p[:, 0, 1, 0] - p[:, 0, 0, 0] == 50)
    with pytest.raises(ValueError):
        data.random_patches(imgs, size=64, count=1, seed=0)
