"""Reading image files into float tensors: PNG/TIFF (:mod:`.rasters`), JPEG and others (Pillow), DICOM (pydicom),
MRC (mrcfile).

Images come out as float tensors of shape (N, C, H, W) on their stored scale: 8-bit images keep
0–255, 16-bit TIFFs 0–65535, DICOM images are in their rescaled units (Hounsfield units for CT),
MRC images as stored. :func:`load_image` fetches a registered file first; :func:`embedded_image`
reads the images bundled with scikit-image (no data folder, no network).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .registry import DataError, DataUnavailableError, UnknownDataError, fetch

EMBEDDED_DEFAULT = ("camera", "astronaut", "coins", "moon")
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".pgm", ".ppm", ".pnm", ".webp")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
MRC_SUFFIXES = (".mrc", ".mrcs", ".map", ".st", ".ali", ".rec")
SUPPORTED = "PNG/JPEG/TIFF/BMP/GIF (Pillow), DICOM .dcm (pydicom), MRC/MRCS (mrcfile)"


# ----------------------------------------------------------------------------- readers

def _corrupt(path: Path, exc: BaseException | str) -> DataError:
    return DataError(f"cannot read {path} as an image: {exc}. The file may be corrupt or truncated "
                     f"(delete it and fetch/copy it again). Supported formats: {SUPPORTED}.")


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _read_pil(path: Path) -> np.ndarray:
    """PNG/TIFF/JPEG/... -> float32 (H, W) or (H, W, C); multi-page -> (pages, H, W[, C]), on the stored scale
    (16-bit colour stays 0-65535; a grey+alpha image gives its grey channel)."""
    from .rasters import read_raster

    r = read_raster(path)
    arr = r.array.astype(np.float32)
    if r.alpha and arr.shape[-1] == 2:  # grey + alpha: the grey values (as Pillow's convert("L") gave them)
        arr = arr[..., :1]
    if arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr[0] if arr.shape[0] == 1 else arr


def _dicom_rescale(ds) -> list[tuple[float, float]] | None:
    """[(slope, intercept)] per frame (or one for all), from plain or enhanced (functional-group) DICOM."""
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        return [(float(ds.get("RescaleSlope", 1.0)), float(ds.get("RescaleIntercept", 0.0)))]

    def from_group(group):
        if group is not None and "PixelValueTransformationSequence" in group:
            t = group.PixelValueTransformationSequence[0]
            return float(t.get("RescaleSlope", 1.0)), float(t.get("RescaleIntercept", 0.0))
        return None

    per_frame = [from_group(g) for g in ds.get("PerFrameFunctionalGroupsSequence", [])]
    if per_frame and all(p is not None for p in per_frame):
        return per_frame
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared = from_group(shared[0]) if shared else None
    return [shared] if shared else None


def _read_dicom(path: Path) -> np.ndarray:
    """DICOM -> float32 (H, W), (frames, H, W) or (H, W, 3), with Rescale Slope/Intercept applied."""
    import pydicom
    ds = pydicom.dcmread(path)
    if "PixelData" not in ds:
        raise DataError(f"{path} is a DICOM file without pixel data (e.g. a report or DICOMDIR)")
    try:
        arr = ds.pixel_array.astype(np.float64)
    except Exception as exc:
        raise DataError(f"cannot decode the pixel data of {path} (transfer syntax "
                        f"{getattr(ds.file_meta, 'TransferSyntaxUID', '?')}): {exc}. Compressed DICOM needs "
                        "a decoder plugin, e.g. `pip install pylibjpeg pylibjpeg-libjpeg` or `pip install "
                        "python-gdcm`.") from exc
    rescale = _dicom_rescale(ds)
    if rescale:
        if len(rescale) == 1:
            slope, icpt = rescale[0]
            arr = arr * slope + icpt
        else:
            slope, icpt = (np.asarray(v, np.float64)[:, None, None] for v in zip(*rescale))
            arr = arr * slope + icpt
    return arr.astype(np.float32)


def _read_mrc(path: Path) -> np.ndarray:
    """MRC/MRCS -> float32 (H, W) or (n, H, W)."""
    import mrcfile
    with mrcfile.open(path, permissive=True) as mrc:
        if mrc.data is None:
            raise DataError(f"{path}: MRC header could not be parsed (no data); the file may be corrupt")
        return np.array(mrc.data, dtype=np.float32)


def read_stored(path: str | os.PathLike):
    """A PNG/TIFF/JPEG/BMP/GIF file's pixels as stored (:class:`pdedenoise.data.rasters.Raster`: (F, H, W, C) in the
    file's dtype, its bit depth and whether it has alpha). Raises DataError for a missing or damaged file."""
    from .rasters import read_raster

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    try:
        return read_raster(path)
    except DataError:
        raise
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError, ValueError, tifffile errors ...
        raise _corrupt(path, f"{type(exc).__name__}: {exc}") from exc


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into a float32 array on its stored scale.

    Shapes: grey (H, W); colour (H, W, 3|4) channel-last; multi-page TIFF (pages, H, W[, C]);
    multi-frame DICOM (frames, H, W); MRC/MRCS stack (n, H, W). 8-bit images keep 0–255, 16-bit
    PNGs and TIFFs (grey or colour) 0–65535, float TIFFs their values (:mod:`pdedenoise.data.rasters`), DICOM gets
    RescaleSlope/Intercept applied (CT in HU), MRC values as stored. A grey+alpha image gives its grey channel
    (:func:`read_stored` keeps the alpha).
    Raises DataError for a missing, unsupported or corrupt file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    suffix = path.suffix.lower()
    try:
        if suffix in DICOM_SUFFIXES or (suffix not in PIL_SUFFIXES + MRC_SUFFIXES and _is_dicom(path)):
            return _read_dicom(path)
        if suffix in MRC_SUFFIXES:
            return _read_mrc(path)
        if suffix in PIL_SUFFIXES or suffix == "":
            return _read_pil(path)
    except DataError:
        raise
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError, ValueError, InvalidDicomError ...
        raise _corrupt(path, f"{type(exc).__name__}: {exc}") from exc
    raise DataError(f"unsupported file type {suffix!r} for {path}. Supported formats: {SUPPORTED}.")


# ----------------------------------------------------------------------------- tensors

def to_tensor(img: np.ndarray | torch.Tensor, grey: bool = True) -> torch.Tensor:
    """Array from :func:`read_image` -> float32 tensor (N, C, H, W), values unchanged in scale.

    Accepts (H, W), (H, W, 3|4) channel-last colour, (N, H, W) stacks and (N, H, W, 3|4).
    Colour -> C=3 (alpha dropped), or C=1 if ``grey`` using ITU-R 601 weights 0.299 R + 0.587 G +
    0.114 B. Grey input always gives C=1. A 3-D array whose last axis is 3 or 4 is taken as colour.
    """
    t = torch.as_tensor(np.asarray(img) if not isinstance(img, torch.Tensor) else img)
    t = t.detach().to(torch.float32)
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3 and t.shape[-1] in (3, 4):
        t = t[None].permute(0, 3, 1, 2)
    elif t.ndim == 3:
        t = t[:, None]
    elif t.ndim == 4 and t.shape[-1] in (1, 3, 4):
        t = t.permute(0, 3, 1, 2)
    else:
        raise ValueError(f"to_tensor expects (H,W), (H,W,3|4), (N,H,W) or (N,H,W,3|4); got {tuple(t.shape)}")
    if t.shape[1] == 4:
        t = t[:, :3]
    if grey and t.shape[1] == 3:
        t = rgb_to_grey(t)
    return t.contiguous()


def rgb_to_grey(x: torch.Tensor, weights: Sequence[float] = GREY_WEIGHTS) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W): the weighted sum of the channels (default ITU-R BT.601), any scale."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"need 3 channels, got shape {tuple(x.shape)}")
    w = torch.tensor(weights, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def load_image(dataset: str, relpath: str, grey: bool = True) -> torch.Tensor:
    """Fetch, read and convert one registered image -> float32 (N, C, H, W).

    N is 1, or the number of pages/frames/particles for stacks; C is 1 (grey) or 3.
    Scale: 0–255 for 8-bit images (PNG/JPEG/most TIFF), 0–65535 for 16-bit TIFF, rescaled units for
    DICOM (HU for CT), stored values for MRC (cryo-EM stacks are normalised floats).
    """
    return to_tensor(read_image(fetch(dataset, relpath)), grey=grey)


def embedded_image(name: str = "camera", grey: bool = True) -> torch.Tensor:
    """An image bundled with scikit-image (no data folder, no network) -> (1, C, H, W), 0–255 float32.

    ``name`` is a ``skimage.data`` loader, e.g. one of EMBEDDED_DEFAULT ("camera", "astronaut",
    "coins", "moon"); float images (0–1) and bool images are scaled to 0–255.
    """
    import skimage.data
    loader = getattr(skimage.data, name, None)
    if loader is None or not callable(loader) or name.startswith("_"):
        raise UnknownDataError(f"skimage.data has no image {name!r}; try one of {', '.join(EMBEDDED_DEFAULT)}")
    try:
        arr = loader()
    except Exception as exc:
        raise DataUnavailableError(f"skimage.data.{name}() failed ({type(exc).__name__}: {exc}); it may need a "
                                   f"download. Images that load offline include {', '.join(EMBEDDED_DEFAULT)}") from exc
    if not isinstance(arr, np.ndarray):
        raise DataError(f"skimage.data.{name}() does not return a single image array")
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32) * 255.0
    t = to_tensor(arr, grey=grey)
    if t.shape[0] != 1:
        raise DataError(f"skimage.data.{name}() is a stack of {t.shape[0]} images; use to_tensor() on it")
    return t
