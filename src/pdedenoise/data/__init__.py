"""Image data: a checksummed registry with local-or-download fetching, readers, and image sets.

* :mod:`.registry` -- the registered datasets, where their files come from, checksums, errors;
* :mod:`.readers` -- image files (PNG/JPEG/TIFF, DICOM, MRC) to float tensors (N, C, H, W);
* :mod:`.imagesets` -- random crops, grey crop sets, STL-10's binary format, synthetic discs.

The common names are importable from here (``from pdedenoise import data; data.load_image(...)``).
Noise and other degradations are in :mod:`pdedenoise.degradations`.
"""
from .imagesets import (discs, embedded_crops, grey_crops, random_patches, read_stl10, scale_to_max, stl10_count,
                        stl10_subset, write_stl10)
from .readers import (EMBEDDED_DEFAULT, GREY_WEIGHTS, SUPPORTED, embedded_image, load_image, read_image, rgb_to_grey,
                      to_tensor)
from .registry import (CACHE_ENV, DATA_ENV, DATASET_INFO, ChecksumError, DataError, DataUnavailableError,
                       UnknownDataError, cache_dir, data_dir, datasets, fetch, files, sha256sum)

__all__ = ["discs", "embedded_crops", "grey_crops", "random_patches", "read_stl10", "scale_to_max", "stl10_count",
           "stl10_subset", "write_stl10", "EMBEDDED_DEFAULT", "GREY_WEIGHTS", "SUPPORTED", "embedded_image",
           "load_image", "read_image", "rgb_to_grey", "to_tensor", "CACHE_ENV", "DATA_ENV", "DATASET_INFO",
           "ChecksumError", "DataError", "DataUnavailableError", "UnknownDataError", "cache_dir", "data_dir",
           "datasets", "fetch", "files", "sha256sum"]
