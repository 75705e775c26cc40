"""Image files as they are stored: bit depth, channels and alpha read and written back unchanged.

Pillow opens a 16-bit colour or grey+alpha PNG and a 16-bit colour TIFF as 8-bit images (it keeps the high byte),
and drops nothing it says so about. This module reads what the file holds:

* PNG: the header (``IHDR``) says bit depth and colour type. 8-bit images and 16-bit grey are read by Pillow (which
  keeps them whole); 16-bit colour, grey+alpha and colour+alpha are decoded here (zlib and the five PNG row filters,
  with every chunk's CRC checked). Written back the same way: Pillow for 8-bit and 16-bit grey, :func:`encode_png`
  for the other 16-bit layouts.
* TIFF: ``tifffile`` (installed with scikit-image) reads and writes 8-bit, 16-bit and float pages, grey or colour,
  with alpha marked as an extra sample; a TIFF it cannot decode (e.g. JPEG-compressed) falls back to Pillow.
* JPEG, BMP, GIF and the rest: Pillow (8-bit; palette images become colour, EXIF orientation is applied).

A :class:`Raster` is ``(F, H, W, C)`` in the file's own integer or float type, with ``kind`` ("8-bit", "16-bit" or
"float") and ``alpha`` (whether the last channel is opacity): grey C=1, grey+alpha C=2, colour C=3, colour+alpha C=4.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from .registry import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type -> (channels, has alpha) for the types read here (3, a palette, goes through Pillow)
_PNG_TYPES = {0: (1, False), 2: (3, False), 4: (2, True), 6: (4, True)}
_TYPE_OF = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> colour type
TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass
class Raster:
    """An image file's pixels: ``array`` (F, H, W, C) in the stored dtype, ``kind`` "8-bit", "16-bit" or "float",
    ``alpha`` True when the last channel is opacity."""

    array: np.ndarray
    kind: str
    alpha: bool

    @property
    def frames(self) -> int:
        return self.array.shape[0]


def kind_of(dtype: np.dtype) -> str:
    """"8-bit" (uint8, bool), "16-bit" (uint16) or "float" (anything else: values kept as they are)."""
    dtype = np.dtype(dtype)
    return {np.dtype(np.uint8): "8-bit", np.dtype(np.bool_): "8-bit", np.dtype(np.uint16): "16-bit"}.get(dtype, "float")


# --------------------------------------------------------------------------- PNG


def _chunks(data: bytes, where: str):
    """``(type, payload)`` of every chunk, each CRC checked."""
    if not data.startswith(PNG_SIGNATURE):
        raise DataError(f"{where} is not a PNG file (no PNG signature)")
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        n, kind = struct.unpack_from(">I4s", data, pos)
        payload = data[pos + 8:pos + 8 + n]
        if len(payload) != n or pos + 12 + n > len(data):
            raise DataError(f"{where}: the PNG chunk {kind!r} is truncated; the file is damaged (copy it again)")
        crc = struct.unpack_from(">I", data, pos + 8 + n)[0]
        if zlib.crc32(kind + payload) & 0xFFFFFFFF != crc:
            raise DataError(f"{where}: the PNG chunk {kind!r} fails its CRC check; the file is damaged (copy it again)")
        yield kind, payload
        if kind == b"IEND":
            return
        pos += 12 + n
    raise DataError(f"{where}: the PNG ends without an IEND chunk; the file is truncated (copy it again)")


def png_header(data: bytes, where: str = "PNG") -> tuple[int, int, int, int, int]:
    """``(width, height, bit depth, colour type, interlace)`` from a PNG's IHDR chunk."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 29:
        raise DataError(f"{where} is not a PNG file (no IHDR header)")
    w, h, depth, ctype, _comp, _filt, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    return w, h, depth, ctype, interlace


def _unfilter(raw: bytes, h: int, stride: int, bpp: int, where: str) -> np.ndarray:
    """The pixel bytes (h, stride) of filtered scanlines (PNG filter types 0-4)."""
    if len(raw) < h * (stride + 1):
        raise DataError(f"{where}: the PNG image data is shorter than its header says; the file is truncated")
    rows = np.frombuffer(raw, np.uint8, h * (stride + 1)).reshape(h, stride + 1)
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int64)
    for y in range(h):
        f, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        if f == 0:
            cur = line
        elif f == 1:  # Sub: a running sum of each byte lane, modulo 256
            cur = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) & 0xFF
        elif f == 2:  # Up
            cur = (line + prev) & 0xFF
        elif f in (3, 4):  # Average, Paeth: each byte depends on the one bpp before it
            cur_l, up = line.tolist(), prev.tolist()
            for i in range(stride):
                a = cur_l[i - bpp] if i >= bpp else 0
                b = up[i]
                if f == 3:
                    cur_l[i] = (cur_l[i] + ((a + b) >> 1)) & 0xFF
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur_l[i] = (cur_l[i] + pred) & 0xFF
            cur = np.asarray(cur_l, np.int64)
        else:
            raise DataError(f"{where}: unknown PNG filter type {int(f)} in row {y}; the file is damaged")
        out[y] = cur
        prev = cur
    return out


def decode_png16(data: bytes, where: str = "PNG") -> tuple[np.ndarray, bool]:
    """A non-interlaced 16-bit PNG of colour type 0, 2, 4 or 6 -> ``(uint16 (H, W, C), alpha)``."""
    w, h, depth, ctype, interlace = png_header(data, where)
    if depth != 16 or ctype not in _PNG_TYPES:
        raise DataError(f"{where}: decode_png16 reads 16-bit grey/colour PNGs, not bit depth {depth} type {ctype}")
    if interlace:
        raise DataError(f"{where} is an interlaced 16-bit PNG, which is not read here; save it without interlacing "
                        "(or as 16-bit TIFF) and try again")
    channels, alpha = _PNG_TYPES[ctype]
    idat = b"".join(p for k, p in _chunks(data, where) if k == b"IDAT")
    try:
        raw = zlib.decompress(idat)
    except zlib.error as exc:
        raise DataError(f"{where}: the PNG image data does not decompress ({exc}); the file is damaged") from exc
    bpp = 2 * channels
    pixels = _unfilter(raw, h, w * bpp, bpp, where)
    return pixels.view(">u2").reshape(h, w, channels).astype(np.uint16), alpha


def encode_png(arr: np.ndarray) -> bytes:
    """(H, W) or (H, W, C) uint8 or uint16, C in 1-4 (grey, grey+alpha, colour, colour+alpha) -> PNG bytes
    (non-interlaced; every row but the first with the Up filter)."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in _TYPE_OF or arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"encode_png takes (H, W[, 1-4]) uint8 or uint16, got {arr.shape} {arr.dtype}")
    h, w, c = arr.shape
    depth = 8 if arr.dtype == np.uint8 else 16
    rows = np.ascontiguousarray(arr.astype(">u2") if depth == 16 else arr).view(np.uint8).reshape(h, -1)
    filtered = np.empty((h, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2
    filtered[0, 0] = 0
    filtered[0, 1:] = rows[0]
    filtered[1:, 1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps modulo 256, as the filter wants

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, depth, _TYPE_OF[c], 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6)) + \
        chunk(b"IEND", b"")


# --------------------------------------------------------------------------- reading


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """(H, W, C) as displayed for a TIFF/EXIF orientation value 1-8."""
    ops = {1: lambda x: x, 2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1], 4: lambda x: x[::-1],
           5: lambda x: x.transpose(1, 0, 2), 6: lambda x: np.rot90(x, -1), 7: lambda x: np.rot90(x, 1)[::-1, ::-1],
           8: lambda x: np.rot90(x, 1)}
    return np.ascontiguousarray(ops.get(int(orientation), ops[1])(a))


def _stack(pages: list[np.ndarray], where: Path) -> np.ndarray:
    if len({p.shape for p in pages}) != 1 or len({p.dtype for p in pages}) != 1:
        raise DataError(f"{where}: pages have different shapes or types {[(p.shape, str(p.dtype)) for p in pages]}; "
                        "read them one by one")
    return np.stack(pages)


def _read_tiff(path: Path) -> Raster:
    import tifffile

    pages, alpha = [], False
    with tifffile.TiffFile(path) as tif:
        for page in tif.pages:
            a = page.asarray()
            axes = page.axes
            if "S" in axes and axes.index("S") != len(axes) - 1:  # planar: samples first
                a = np.moveaxis(a, axes.index("S"), -1)
            if a.ndim == 2:
                a = a[..., None]
            if a.ndim != 3:
                raise DataError(f"{path}: a TIFF page of shape {a.shape} (axes {axes}) is not an image")
            extra = tuple(page.extrasamples or ())
            alpha = bool(extra) and int(extra[-1]) in (1, 2) and a.shape[-1] in (2, 4)
            if a.shape[-1] > 4 or (a.shape[-1] == 2 and not alpha):
                raise DataError(f"{path}: a TIFF page with {a.shape[-1]} samples per pixel (extra samples {extra}) "
                                "is neither grey, grey+alpha, colour nor colour+alpha")
            orientation = page.tags.get("Orientation")
            pages.append(_orient(a, orientation.value if orientation is not None else 1))
    arr = _stack(pages, path)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{path} holds complex values, which an image cannot keep; save the real part or the "
                        "magnitude")
    return Raster(arr, kind_of(arr.dtype), alpha)


def _read_pillow(path: Path) -> Raster:
    from PIL import Image, ImageOps, ImageSequence

    pages, alphas = [], set()
    with Image.open(path) as im:
        for frame in ImageSequence.Iterator(im):
            frame.load()
            frame = ImageOps.exif_transpose(frame)  # a camera's orientation tag: pixels as the image is displayed
            mode = frame.mode
            if mode == "P":
                frame = frame.convert("RGBA" if "transparency" in frame.info else "RGB")
            elif mode == "PA":
                frame = frame.convert("RGBA")
            elif mode == "1":
                frame = frame.convert("L")
            elif mode == "CMYK" or mode.startswith("YCbCr") or mode in ("LAB", "HSV"):
                frame = frame.convert("RGB")
            elif mode == "La":
                frame = frame.convert("LA")
            elif mode == "RGBa":
                frame = frame.convert("RGBA")
            mode = frame.mode
            a = np.asarray(frame)
            if mode == "I":  # 16-bit PNGs may open as 32-bit integers
                lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
                a = a.astype(np.uint16) if 0 <= lo and hi <= 65535 else a.astype(np.float32)
            elif mode.startswith("I;16"):
                a = a.astype(np.uint16)
            elif mode == "F":
                a = a.astype(np.float32)
            if a.ndim == 2:
                a = a[..., None]
            alphas.add(mode in ("LA", "RGBA"))
            pages.append(a)
    return Raster(_stack(pages, path), kind_of(pages[0].dtype), alphas == {True})


def read_raster(path: str | Path) -> Raster:
    """The pixels of a PNG, TIFF, JPEG, BMP, GIF or other Pillow image exactly as stored (see the module
    docstring). Raises DataError for a damaged file or one whose layout cannot be kept."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png" or (suffix not in TIFF_SUFFIXES and _starts_with(path, PNG_SIGNATURE)):
        data = path.read_bytes()
        if data.startswith(PNG_SIGNATURE):
            _w, _h, depth, ctype, _i = png_header(data, str(path))
            if depth == 16 and ctype in (2, 4, 6):
                arr, alpha = decode_png16(data, str(path))
                return Raster(arr[None], "16-bit", alpha)
        return _read_pillow(path)
    if suffix in TIFF_SUFFIXES:
        try:
            return _read_tiff(path)
        except DataError:
            raise
        except Exception:  # a compression tifffile cannot decode without imagecodecs, or not a TIFF: try Pillow
            return _read_pillow(path)
    return _read_pillow(path)


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(magic)) == magic
    except OSError:
        return False


# --------------------------------------------------------------------------- writing

#: what each output format can hold: value kinds, channel counts
CAPACITY = {"PNG": (("8-bit", "16-bit"), (1, 2, 3, 4)), "TIFF": (("8-bit", "16-bit", "float"), (1, 2, 3, 4)),
            "JPEG": (("8-bit",), (1, 3)), "BMP": (("8-bit",), (1, 3, 4))}
_LAYOUT = {1: "grey", 2: "grey+alpha", 3: "colour", 4: "colour+alpha"}


def layout(channels: int) -> str:
    """"grey", "grey+alpha", "colour" or "colour+alpha"."""
    return _LAYOUT.get(channels, f"{channels} channels")


def to_stored(arr: np.ndarray, kind: str) -> np.ndarray:
    """Values (H, W, C) of ``kind`` in the type a file stores: rounded and clipped to 0-255 / 0-65535 for integer
    kinds, float32 otherwise."""
    if kind == "float":
        return np.ascontiguousarray(arr, dtype=np.float32)
    peak, dtype = (255, np.uint8) if kind == "8-bit" else (65535, np.uint16)
    return np.clip(np.rint(arr), 0, peak).astype(dtype)


def write_raster(fh: IO[bytes], arr: np.ndarray, kind: str, fmt: str) -> None:
    """Write (H, W, C) values of ``kind`` (C: 1 grey, 2 grey+alpha, 3 colour, 4 colour+alpha) to an open binary
    file in ``fmt`` ("PNG", "TIFF", "JPEG" or "BMP"), keeping bit depth, channels and alpha. Raises ValueError
    naming what the format cannot hold."""
    from PIL import Image

    kinds, channel_counts = CAPACITY[fmt]
    c = arr.shape[-1]
    if kind not in kinds or c not in channel_counts:
        raise ValueError(f"a {fmt} file cannot hold {kind} {layout(c)} values; write .tif (any of them) or .npy")
    ints = to_stored(arr, kind)
    if fmt == "TIFF":
        import tifffile

        buf = io.BytesIO()
        photometric = "rgb" if c in (3, 4) else "minisblack"
        extra = ["unassalpha"] if c in (2, 4) else None
        tifffile.imwrite(buf, ints if c > 1 else ints[..., 0], photometric=photometric, extrasamples=extra,
                         planarconfig="contig" if c > 1 else None)
        fh.write(buf.getvalue())
        return
    if fmt == "PNG" and kind == "16-bit" and c > 1:
        fh.write(encode_png(ints))
        return
    img = ints[..., 0] if c == 1 else ints
    Image.fromarray(np.ascontiguousarray(img)).save(fh, format=fmt)  # uint16 grey -> I;16; uint8 -> L/LA/RGB/RGBA
