#!/usr/bin/env python
"""Write ``src/pdedenoise/registry/datasets.tsv`` from the staged data's ``SHA256SUMS`` files.

Usage (from the repository root)::

    python tools/make_registry.py [--data ../shared/data] [--no-verify]

One row per file: ``dataset  relpath  sha256  size_bytes  url``. ``url`` is the public source the
file was copied from byte for byte (see ``<data>/SOURCES.md``), as
``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path-in-repo>``; it is empty for the
few files written while staging (``BSD68/BSD68_to_BSDS500.tsv``, ``STL10_subset/FILENAME_MAP.tsv``),
which have no upstream copy. The source table below encodes SOURCES.md; renamed files are mapped
explicitly (classic/, MRI/skimage_brain.tiff, cryoEM/aspire_sample.mrcs, EM_ISBI2012/train_NN.png,
STL10_subset via its FILENAME_MAP.tsv). By default each file is re-hashed and compared with its
``SHA256SUMS`` line, so a stale or damaged staging fails here rather than in a user's session.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "src" / "pdedenoise" / "registry" / "datasets.tsv"
COLUMNS = ("dataset", "relpath", "sha256", "size_bytes", "url")

# (owner/repo, commit) of every source repository named in SOURCES.md.
DNCNN = ("cszn/DnCNN", "e93b27812d3ff523a3a79d19e5e50d233d7a8d0a")
BSDS = ("BIDS/BSDS500", "a04b7c6c3a9f0ace74bf205c72a43d32e1c72722")
NATGRAY = ("csjunxu/NaturalImages_Gray", "18b917f011b28a8165ddd23e501aa865beebc45e")
SIPI = ("mohammadimtiazz/standard-test-images-for-Image-Processing", "e14c591b5188b695f0b47555542bcd46d853916a")
STL10 = ("semihyagli/STL10-Labeled", "6f9f01c52c80253cd533b0240e56bac493cf77b5")
PYDICOM_DATA = ("pydicom/pydicom-data", "b0d40d1e0a42c5696936043bbd8059984259cd33")
PYDICOM = ("pydicom/pydicom", "fb1f24e4f0418008757766d8e79ec92dc2ab9855")
SKIMAGE = ("scikit-image/scikit-image", "aaeb2ffb8646336b0c7f6ca6b3f49eadf7296804")
CRYODRGN = ("ml-struct-bio/cryodrgn", "5b18c4aecd6c5b9dda6a96d2fe69d72e2c4a8a57")
ASPIRE = ("ComputationalCryoEM/ASPIRE-Python", "64ad0dd6afb690547ae48cbdbb38bf62525ed8c7")
UNET = ("zhixuhao/unet", "b45af4d458437d8281cc218a07fd4380818ece4a")
VALDIVIA = ("JoelVO/anisotropic_diffusion", "a3b279aebb890cd3ad34c365e27b2f984db587e1")

# Files staged under a different name: dataset -> {relpath: (source, path in repository)}.
RENAMED = {
    "classic": {
        "lena_gray512.png": (NATGRAY, "lena.png"),
        "barbara_gray512.png": (NATGRAY, "barbara.png"),
        "baboon_gray512.png": (NATGRAY, "baboon.png"),
        "sipi_lena_gray_512.tif": (SIPI, "standard_test_images/lena_gray_512.tif"),
        "sipi_lena_color_512.tif": (SIPI, "standard_test_images/lena_color_512.tif"),
        "sipi_mandril_gray.tif": (SIPI, "standard_test_images/mandril_gray.tif"),
        "sipi_mandril_color.tif": (SIPI, "standard_test_images/mandril_color.tif"),
        "sipi_baboon.png": (SIPI, "standard_test_images/baboon.png"),
    },
    "CT": {
        "693_UNCR.dcm": (PYDICOM_DATA, "data_store/data/693_UNCR.dcm"),
        "eCT_Supplemental.dcm": (PYDICOM_DATA, "data_store/data/eCT_Supplemental.dcm"),
        "CT_small.dcm": (PYDICOM, "src/pydicom/data/test_files/CT_small.dcm"),
    },
    "MRI": {
        "MR2_UNCR.dcm": (PYDICOM_DATA, "data_store/data/MR2_UNCR.dcm"),
        "MR-SIEMENS-DICOM-WithOverlays.dcm": (PYDICOM_DATA, "data_store/data/MR-SIEMENS-DICOM-WithOverlays.dcm"),
        "emri_small.dcm": (PYDICOM_DATA, "data_store/data/emri_small.dcm"),
        "MR_small.dcm": (PYDICOM, "src/pydicom/data/test_files/MR_small.dcm"),
        # git blob 07c6128b…; removed upstream in 5cf0ca1f (the GitLab copy has another hash).
        "skimage_brain.tiff": (SKIMAGE, "skimage/data/brain.tiff"),
    },
    "cryoEM": {
        "empiar_10076_7.mrc": (CRYODRGN, "tests/data/empiar_10076_7.mrc"),
        "empiar_10076_7.star": (CRYODRGN, "tests/data/empiar_10076_7.star"),
        "aspire_sample.mrcs": (ASPIRE, "tests/saved_test_data/sample.mrcs"),
    },
}
# Files written while staging: no upstream copy, so no url.
STAGING_ONLY = {("BSD68", "BSD68_to_BSDS500.tsv"), ("STL10_subset", "FILENAME_MAP.tsv")}


def raw_url(source: tuple[str, str], path: str) -> str:
    """raw.githubusercontent.com address of ``path`` in ``source`` = (owner/repo, commit)."""
    repo, commit = source
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{quote(path)}"


def stl10_map(data: Path) -> dict[str, str]:
    """staged relpath -> path in the STL10-Labeled repository, from FILENAME_MAP.tsv."""
    with open(data / "STL10_subset" / "FILENAME_MAP.tsv", newline="") as fh:
        rows = csv.DictReader(fh, delimiter="\t")
        return {r["staged_path"]: r["original_path_in_repo"] for r in rows}


def source_path(dataset: str, relpath: str, stl: dict[str, str]) -> tuple[tuple[str, str], str]:
    """(source repository, path in it) of one staged file; KeyError if SOURCES.md does not cover it."""
    if dataset in RENAMED:
        return RENAMED[dataset][relpath]
    if dataset == "Set12":
        return DNCNN, f"testsets/Set12/{relpath}"
    if dataset == "BSD68":
        return DNCNN, f"testsets/BSD68/{relpath}"
    if dataset == "BSDS500":
        return BSDS, f"BSDS500/data/images/{relpath}"
    if dataset == "STL10_subset":
        return STL10, stl[relpath]
    if dataset == "learned_diffusivities_ckpt":  # the authors' repository, same paths (AGPL-3.0)
        return VALDIVIA, relpath
    if dataset == "EM_ISBI2012":
        m = re.fullmatch(r"train_(\d\d)\.png", relpath)
        if m:
            return UNET, f"data/membrane/train/image/{int(m.group(1))}.png"
    raise KeyError(f"{dataset}/{relpath}: no source recorded; update tools/make_registry.py from SOURCES.md")


def read_sums(folder: Path) -> list[tuple[str, str]]:
    """[(relpath, sha256)] from ``folder/SHA256SUMS`` (``sha256sum`` format)."""
    rows = []
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            name = name.lstrip("*").strip()
            rows.append((name[2:] if name.startswith("./") else name, digest.lower()))
    return rows


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_rows(data: Path, verify: bool = True) -> list[tuple[str, str, str, int, str]]:
    """Registry rows for every dataset folder of ``data`` that has a SHA256SUMS file, sorted."""
    stl = stl10_map(data)
    rows = []
    for folder in sorted(p for p in data.iterdir() if (p / "SHA256SUMS").is_file()):
        for relpath, digest in read_sums(folder):
            path = folder / relpath
            if verify and sha256(path) != digest:
                raise SystemExit(f"{path}: sha256 differs from {folder / 'SHA256SUMS'}; re-stage the file")
            if (folder.name, relpath) in STAGING_ONLY:
                url = ""
            else:
                url = raw_url(*source_path(folder.name, relpath, stl))
            rows.append((folder.name, relpath, digest, path.stat().st_size, url))
    return sorted(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data",
                    help="staged data folder (default: <repo>/../shared/data)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-verify", action="store_true", help="skip re-hashing the files")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} is not a folder; pass --data /path/to/shared/data")
    rows = build_rows(args.data, verify=not args.no_verify)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tsv.tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(rows)
    tmp.replace(args.out)
    print(f"wrote {len(rows)} rows for {len({r[0] for r in rows})} datasets to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
