"""The data registry and where files come from: checksums, a local folder, or a verified download.

Where files come from (:func:`fetch`), in this order:

1. ``$PDEDENOISE_DATA`` (layout ``<dataset>/<relpath>``, e.g. ``BSDS500/train/2092.jpg``);
2. a staged ``shared/data`` folder beside the checkout (``<repo>/../shared/data``) or beside the
   current directory or one of its parents (``<dir>/shared/data``, ``<dir>/../shared/data``);
3. the download cache, ``pooch.os_cache("pdedenoise")`` or ``$PDEDENOISE_CACHE``, filled from the
   public GitHub URL recorded for each file in ``registry/datasets.tsv``.

Every file is checked against its sha256 in the registry (written by ``tools/make_registry.py``).
"""
from __future__ import annotations

import csv
import difflib
import fnmatch
import functools
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..checkout import repo_root

DATA_ENV = "PDEDENOISE_DATA"
CACHE_ENV = "PDEDENOISE_CACHE"
REGISTRY = Path(__file__).resolve().parent.parent / "registry" / "datasets.tsv"

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
    "learned_diffusivities_ckpt": dict(
        description="the trained models of Valdivia Ortega, Haas, Effland (2024): TensorFlow 2 checkpoints of KA, "
                    "FoE (splines, decreasing, monomials, Roth-Black) and U-Net diffusivities for sigma 15/25/50",
        terms="AGPL-3.0 (the authors' repository JoelVO/anisotropic_diffusion); read from the data folder, never "
              "committed or converted into this repository",
        shape="36 checkpoint files (NAME.index + NAME.data-00000-of-00001), architecture_description.csv, LICENSE.txt"),
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

def _looks_like_data(folder: Path) -> bool:
    """True if ``folder`` holds at least one registered dataset folder."""
    try:
        return folder.is_dir() and any((folder / name).is_dir() for name in datasets())
    except OSError:
        return False


def _candidates() -> list[Path]:
    """shared/data-style folders that are searched when $PDEDENOISE_DATA is not set, in order."""
    out: list[Path] = []
    out.append(repo_root().parent / "shared" / "data")
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


#: the lists of :func:`record_reads` blocks open now
_RECORDERS: list[list[tuple[str, str]]] = []
#: the test splits of the book: no tuning step (learning-rate probe, grid search, early stopping) may read them
TEST_SPLITS = (("BSDS500", "val/"), ("BSD68", ""), ("Set12", ""))


@contextmanager
def record_reads() -> Iterator[list[tuple[str, str]]]:
    """Record every ``(dataset, relpath)`` that :func:`fetch` is asked for inside the block (whether or not it is
    found), e.g. to check that a tuning step never reads a test split (:func:`reads_of_test_splits`)."""
    seen: list[tuple[str, str]] = []
    _RECORDERS.append(seen)
    try:
        yield seen
    finally:
        _RECORDERS.remove(seen)


def reads_of_test_splits(reads: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The reads of ``reads`` that fall in a test split (:data:`TEST_SPLITS`)."""
    return [(d, r) for d, r in reads if any(d == ds and r.startswith(prefix) for ds, prefix in TEST_SPLITS)]


def read_verified(dataset: str, relpath: str) -> bytes:
    """The bytes of ``<dataset>/<relpath>``, checked against the registry's sha256 *as read*: what the caller
    parses is exactly what was verified (a file swapped after a check, or a sibling file, is never read in its
    place). Raises ChecksumError naming the file and the fix, and what :func:`fetch` raises."""
    sha, _size, url = _entry(dataset, relpath)
    path = fetch(dataset, relpath, verify=False)
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha:
        source = f"re-fetch it from {url}" if url else "re-copy it from the staged shared/data folder"
        raise ChecksumError(
            f"checksum mismatch for {path} ({dataset}/{relpath}): expected sha256 {sha}, got {actual}. "
            f"The file is corrupt, truncated or a different version: delete it and {source}.")
    return data


def fetch(dataset: str, relpath: str, verify: bool = True) -> Path:
    """Path to a local, checksum-verified copy of ``<dataset>/<relpath>``.

    Looks in :func:`data_dir` first, then the download cache; downloads with pooch if neither has
    the file. ``verify=False`` skips hashing a local copy (downloads are always verified).
    Raises UnknownDataError, ChecksumError or DataUnavailableError, each saying how to fix it.
    """
    for seen in _RECORDERS:
        seen.append((dataset, str(relpath).replace("\\", "/")))
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
