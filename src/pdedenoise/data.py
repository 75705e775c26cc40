"""Image data: a checksummed registry, local-or-download fetching, readers, and synthetic noise.

Where files come from (:func:`fetch`), in this order:

1. ``$PDEDENOISE_DATA`` (layout ``<dataset>/<relpath>``, e.g. ``BSDS500/train/2092.jpg``);
2. a staged ``shared/data`` folder beside the checkout (``<repo>/../shared/data``) or beside the
   current directory or one of its parents (``<dir>/shared/data``, ``<dir>/../shared/data``);
3. the download cache, ``pooch.os_cache("pdedenoise")`` or ``$PDEDENOISE_CACHE``, filled from the
   public GitHub URL recorded for each file in ``registry/datasets.tsv``.

Every file is checked against its sha256 in the registry (written by ``tools/make_registry.py``).
Images come out as float tensors of shape (N, C, H, W); 8-bit images keep the 0–255 scale, DICOM
images are in their rescaled units (Hounsfield units for CT), MRC images as stored.
"""
from __future__ import annotations

import csv
import difflib
import fnmatch
import functools
import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

DATA_ENV = "PDEDENOISE_DATA"
CACHE_ENV = "PDEDENOISE_CACHE"
REGISTRY = Path(__file__).resolve().parent / "registry" / "datasets.tsv"
EMBEDDED_DEFAULT = ("camera", "astronaut", "coins", "moon")
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".pgm", ".ppm", ".pnm", ".webp")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
MRC_SUFFIXES = (".mrc", ".mrcs", ".map", ".st", ".ali", ".rec")
SUPPORTED = "PNG/JPEG/TIFF/BMP/GIF (Pillow), DICOM .dcm (pydicom), MRC/MRCS (mrcfile)"

DATASET_INFO: dict[str, dict[str, str]] = {
    "Set12": dict(description="12 classic grey test images (DnCNN testsets/Set12)",
                  terms="no licence; classic test images of unclear/third-party copyright (incl. Lena, Barbara)",
                  shape="12 PNG L; 01-07 256x256, 08-12 512x512"),
    "BSD68": dict(description="68 grey BSDS300-test images (DnCNN testsets/BSD68) = rgb2gray of BSDS500 val",
                  terms="Berkeley: non-commercial research and education only; images from Corel",
                  shape="68 PNG L, 481x321 or 321x481; BSD68_to_BSDS500.tsv maps to BSDS500/val"),
    "BSDS500": dict(description="Berkeley Segmentation Dataset 500, images only (train/val/test)",
                    terms="cite Arbelaez et al. TPAMI 2011; non-commercial research and education; Corel images",
                    shape="500 JPEG RGB (200/100/200), 481x321 or 321x481"),
    "classic": dict(description="Lena, Barbara, Mandrill/Baboon from two repositories (grey and colour)",
                    terms="unclear copyright (USC-SIPI lineage; Lena is refused by some venues)",
                    shape="8 PNG/TIFF, 512x512, L or RGB"),
    "STL10_subset": dict(description="246 curated STL-10 unlabeled images in 26 fine-class folders",
                         terms="repo MIT; STL-10 (ImageNet-derived) states no licence; not a random sample",
                         shape="246 PNG RGB 96x96; FILENAME_MAP.tsv gives the original names"),
    "CT": dict(description="pydicom sample CT slices (head, enhanced multi-frame, NEMA WG04 small)",
               terms="pydicom-data MIT; pydicom test files 'no restriction'; NEMA WG04 public test set",
               shape="693_UNCR 512x512, eCT_Supplemental 2x512x512, CT_small 128x128; values in HU"),
    "MRI": dict(description="pydicom sample MR images and scikit-image's 10-slice MRbrain TIFF",
                terms="pydicom/GDCM BSD-3; brain.tiff: UNC MRbrain via scikit-image, no licence stated",
                shape="MR2_UNCR 1024^2, MR-SIEMENS 484^2, MR_small 64^2, emri_small 10x64^2, brain 10x256^2"),
    "cryoEM": dict(description="EMPIAR-10076 particle stack (cryodrgn tests) and an ASPIRE sample stack",
                   terms="EMPIAR data CC0; aspire_sample.mrcs has undocumented origin (prefer EMPIAR)",
                   shape="empiar_10076_7.mrc 7x320x320 float32 (+ RELION .star); aspire_sample 17x200x200"),
    "EM_ISBI2012": dict(description="ISBI 2012 EM segmentation training slices (ssTEM, Drosophila VNC)",
                        terms="cite Cardona et al. 2010 (PLoS Biol); repo MIT covers code only",
                        shape="30 PNG L 512x512 (train_00..train_29)"),
}


# ----------------------------------------------------------------------------- errors

class DataError(RuntimeError):
    """A data file cannot be found, verified or read; the message says how to fix it."""


class ChecksumError(DataError):
    """A file's sha256 differs from the registry (corrupt, truncated, or a different version)."""


class DataUnavailableError(DataError):
    """No local copy of a file and it could not be downloaded (offline, URL gone, no URL)."""


class UnknownDataError(DataError, KeyError):
    """The dataset or file is not in the registry (also a KeyError)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


# ----------------------------------------------------------------------------- registry

@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, dict[str, tuple[str, int, str]]]:
    """{dataset: {relpath: (sha256, size_bytes, url)}} from ``registry/datasets.tsv``."""
    if not REGISTRY.is_file():
        raise DataError(f"data registry {REGISTRY} is missing; reinstall pdedenoise or run "
                        "`python tools/make_registry.py` in the checkout")
    reg: dict[str, dict[str, tuple[str, int, str]]] = {}
    with open(REGISTRY, newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            reg.setdefault(row["dataset"], {})[row["relpath"]] = (
                row["sha256"], int(row["size_bytes"]), row["url"] or "")
    return reg


def datasets() -> list[str]:
    """Names of the registered datasets, sorted (e.g. ``["BSD68", "BSDS500", ...]``)."""
    return sorted(_registry())


def _dataset(dataset: str) -> dict[str, tuple[str, int, str]]:
    reg = _registry()
    if dataset not in reg:
        close = difflib.get_close_matches(dataset, list(reg), n=3, cutoff=0.3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UnknownDataError(f"unknown dataset {dataset!r}{hint} Known datasets: {', '.join(sorted(reg))}")
    return reg[dataset]


def files(dataset: str, pattern: str | None = None) -> list[str]:
    """Relative paths of ``dataset``'s files, sorted; ``pattern`` is an fnmatch glob on the relpath.

    Example: ``files("BSDS500", "train/*")`` -> ``["train/100075.jpg", ...]`` (200 paths).
    """
    names = sorted(_dataset(dataset))
    return [n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def _entry(dataset: str, relpath: str) -> tuple[str, int, str]:
    ds = _dataset(dataset)
    relpath = str(relpath).replace("\\", "/")
    if relpath not in ds:
        close = difflib.get_close_matches(relpath, list(ds), n=5, cutoff=0.5)
        hint = f"close matches: {', '.join(close)}" if close else f"see pdedenoise.data.files({dataset!r})"
        raise UnknownDataError(f"no file {relpath!r} in dataset {dataset!r}; {hint}")
    return ds[relpath]


# ----------------------------------------------------------------------------- locations

def _repo_root() -> Path | None:
    """The source checkout this module lives in (has pyproject.toml and src/pdedenoise), or None."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "pdedenoise").is_dir():
            return parent
    return None


def _looks_like_data(folder: Path) -> bool:
    """True if ``folder`` holds at least one registered dataset folder."""
    try:
        return folder.is_dir() and any((folder / name).is_dir() for name in datasets())
    except OSError:
        return False


def _candidates() -> list[Path]:
    """shared/data-style folders that are searched when $PDEDENOISE_DATA is not set, in order."""
    out: list[Path] = []
    root = _repo_root()
    if root is not None:
        out.append(root.parent / "shared" / "data")
    cwd = Path.cwd().resolve()
    for d in (cwd, *cwd.parents):
        out += [d / "shared" / "data", d.parent / "shared" / "data"]
    seen, unique = set(), []
    for p in out:
        p = Path(os.path.normpath(p))
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def data_dir() -> Path | None:
    """The local data folder (layout ``<dataset>/<relpath>``), or None to use the download cache.

    Order: ``$PDEDENOISE_DATA`` (must exist if set), then ``<repo>/../shared/data``, then
    ``<dir>/shared/data`` or ``<dir>/../shared/data`` for the cwd and each of its parents.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise DataUnavailableError(
                f"${DATA_ENV} is set to {env!r}, which is not a folder. Point it at a folder laid out as "
                f"<dataset>/<relpath> (e.g. BSDS500/train/2092.jpg), or unset it to use the download "
                f"cache {cache_dir()}")
        return p.resolve()
    for p in _candidates():
        if _looks_like_data(p):
            return p
    return None


def cache_dir() -> Path:
    """Download cache: ``$PDEDENOISE_CACHE`` if set, else ``pooch.os_cache("pdedenoise")``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import pooch
    return Path(pooch.os_cache("pdedenoise"))


# ----------------------------------------------------------------------------- fetch

_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 seen this process


def sha256sum(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, expected: str, url: str, dataset: str, relpath: str) -> None:
    """Raise ChecksumError unless ``path`` hashes to ``expected``; remembered per process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    actual = _VERIFIED.get(key) or sha256sum(path)
    if actual != expected:
        _VERIFIED.pop(key, None)
        source = f"re-fetch it from {url}" if url else "re-copy it from the staged shared/data folder"
        raise ChecksumError(
            f"checksum mismatch for {path} ({dataset}/{relpath}): expected sha256 {expected}, got {actual}. "
            f"The file is corrupt, truncated or a different version: delete it and {source} "
            f"(or fetch again with it deleted to download into the cache {cache_dir()}).")
    _VERIFIED[key] = actual


def _prune_empty(path: Path, stop: Path) -> None:
    """Remove empty folders from ``path`` up to (not including) ``stop``."""
    try:
        path, stop = path.resolve(), stop.resolve()
        while path != stop and stop in path.parents and not any(path.iterdir()):
            path.rmdir()
            path = path.parent
    except OSError:
        pass


def _download(url: str, sha: str, target: Path, cache: Path) -> None:
    """Download ``url`` to ``target`` with pooch (temp file, hash check, then rename)."""
    import pooch
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        pooch.retrieve(url, known_hash=f"sha256:{sha}", fname=target.name, path=target.parent,
                       progressbar=False)
    except BaseException:
        if target.exists() and sha256sum(target) != sha:  # never leave a wrong file behind
            target.unlink()
        _prune_empty(target.parent, cache)
        raise


def fetch(dataset: str, relpath: str, verify: bool = True) -> Path:
    """Path to a local, checksum-verified copy of ``<dataset>/<relpath>``.

    Looks in :func:`data_dir` first, then the download cache; downloads with pooch if neither has
    the file. ``verify=False`` skips hashing a local copy (downloads are always verified).
    Raises UnknownDataError, ChecksumError or DataUnavailableError, each saying how to fix it.
    """
    sha, _size, url = _entry(dataset, relpath)
    relpath = str(relpath).replace("\\", "/")
    looked: list[str] = []
    local_root = data_dir()
    cache = cache_dir()
    for root in ([local_root] if local_root is not None else []) + [cache]:
        path = root / dataset / relpath
        looked.append(str(path))
        if path.is_file():
            if verify:
                _verify(path, sha, url, dataset, relpath)
            return path
    target = cache / dataset / relpath
    if not url:
        raise DataUnavailableError(
            f"{dataset}/{relpath} has no public source URL (it was written while staging the data) and "
            f"there is no local copy in {', '.join(looked)}. Set {DATA_ENV}=/path/to/data "
            f"(layout: {dataset}/{relpath}) pointing at the staged shared/data folder.")
    try:
        _download(url, sha, target, cache)
    except ValueError as exc:  # pooch: hash of the downloaded file does not match
        raise ChecksumError(
            f"downloaded {url} for {dataset}/{relpath}, but its sha256 differs from the registry "
            f"(expected {sha}): {exc}. Nothing was saved to {cache}. The upstream file changed or the "
            f"download was damaged; retry, or set {DATA_ENV}=/path/to/data with a verified copy.") from exc
    except Exception as exc:  # requests/network errors, OSError, ...
        raise DataUnavailableError(
            f"no local copy of {dataset}/{relpath} in {', '.join(looked)} and download from {url} failed: "
            f"{type(exc).__name__}: {exc}. Set {DATA_ENV}=/path/to/data (layout: {dataset}/{relpath}) "
            f"or connect to the internet (downloads are cached in {cache}; override with "
            f"${CACHE_ENV}).") from exc
    st = target.stat()
    _VERIFIED[(str(target), st.st_size, st.st_mtime_ns)] = sha
    return target


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
    """PIL image -> float32 (H, W) or (H, W, C); multi-page -> (pages, H, W[, C])."""
    from PIL import Image, ImageSequence
    with Image.open(path) as im:
        pages = []
        for frame in ImageSequence.Iterator(im):
            frame.load()
            if frame.mode in ("P", "PA"):
                frame = frame.convert("RGBA" if "transparency" in frame.info or frame.mode == "PA" else "RGB")
            elif frame.mode in ("1", "LA"):
                frame = frame.convert("L")
            elif frame.mode == "CMYK" or frame.mode.startswith("YCbCr"):
                frame = frame.convert("RGB")
            pages.append(np.asarray(frame).astype(np.float32))
    if len({p.shape for p in pages}) != 1:
        raise DataError(f"{path}: pages have different shapes {[p.shape for p in pages]}; read them one by one")
    return pages[0] if len(pages) == 1 else np.stack(pages)


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


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into a float32 array on its stored scale.

    Shapes: grey (H, W); colour (H, W, 3|4) channel-last; multi-page TIFF (pages, H, W[, C]);
    multi-frame DICOM (frames, H, W); MRC/MRCS stack (n, H, W). 8-bit images keep 0–255, 16-bit
    TIFFs 0–65535, DICOM gets RescaleSlope/Intercept applied (CT in HU), MRC values as stored.
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


# ----------------------------------------------------------------------------- noise and patches

def add_gaussian_noise(x: torch.Tensor, sigma: float, seed: int | None = None,
                       generator: torch.Generator | None = None, clip: bool = False,
                       data_range: float = 255.0) -> torch.Tensor:
    """x + N(0, (sigma * data_range / 255)^2), i.e. ``sigma`` is always on the 0–255 scale.

    Any shape; returns a new float tensor on x's device and dtype (integer x -> float32). The noise
    is drawn on the CPU (from ``torch.Generator().manual_seed(seed)``, or ``generator``, or the
    global RNG if neither) in float32 and then moved and cast, so a seed gives the same noise on CPU
    and GPU and for float32 and float64 inputs.
    ``clip`` clamps the result to [0, data_range]. NaN/inf in x or sigma < 0 -> ValueError.
    """
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both")
    if not (sigma >= 0 and np.isfinite(sigma)):
        raise ValueError(f"sigma must be a finite number >= 0 (0-255 scale), got {sigma!r}")
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError("add_gaussian_noise: input contains NaN or inf")
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    gen_device = generator.device if generator is not None else torch.device("cpu")
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32, device=gen_device)
    std = float(sigma) * float(data_range) / 255.0
    y = x + (noise * std).to(device=x.device, dtype=x.dtype)
    return y.clamp(0.0, float(data_range)) if clip else y


def random_patches(images: torch.Tensor | Sequence[torch.Tensor], size: int, count: int,
                   seed: int | None = 0) -> torch.Tensor:
    """``count`` random ``size`` x ``size`` crops -> (count, C, size, size), same scale as the input.

    ``images`` is a (N, C, H, W) tensor or a list of (1|n, C, H, W) / (C, H, W) tensors of varying
    H, W (e.g. from :func:`load_image`). Each crop picks an image uniformly among those at least
    ``size`` in both dimensions, then a uniform position. Deterministic for a given ``seed``.
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
        pool = list(images.unbind(0))
    else:
        pool = []
        for im in images:
            pool += list(im.unbind(0)) if im.ndim == 4 else [im]
    if any(im.ndim != 3 for im in pool) or not pool:
        raise ValueError("images must be a non-empty (N, C, H, W) tensor or a list of (N, C, H, W)/(C, H, W)")
    if len({im.shape[0] for im in pool}) != 1:
        raise ValueError(f"images have different channel counts {sorted({im.shape[0] for im in pool})}")
    fit = [im for im in pool if im.shape[-2] >= size and im.shape[-1] >= size]
    if not fit:
        raise ValueError(f"no image is at least {size}x{size} (largest {max(tuple(i.shape[-2:]) for i in pool)})")
    g = torch.Generator().manual_seed(int(seed) if seed is not None else torch.seed())
    which = torch.randint(len(fit), (count,), generator=g).tolist()
    out = []
    for k in which:
        im = fit[k]
        i = int(torch.randint(im.shape[-2] - size + 1, (1,), generator=g))
        j = int(torch.randint(im.shape[-1] - size + 1, (1,), generator=g))
        out.append(im[:, i:i + size, j:j + size])
    return torch.stack(out) if out else torch.empty(0, pool[0].shape[0], size, size,
                                                     dtype=pool[0].dtype, device=pool[0].device)
