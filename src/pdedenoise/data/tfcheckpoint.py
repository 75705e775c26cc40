"""Read TensorFlow 2 checkpoints without TensorFlow: the tensors of a ``NAME.index`` + ``NAME.data-*`` bundle.

A TF2 checkpoint ("tensor bundle") is two files:

* ``NAME.index``: a LevelDB-format sorted table (SSTable). Its data blocks hold prefix-compressed
  ``key -> value`` entries, where the key is a tensor's name and the value a ``BundleEntryProto``
  (protobuf) with the tensor's dtype, shape, shard, byte offset, byte size and CRC32C; the entry with
  the empty key holds the bundle header. An index block maps keys to data blocks, and a 48-byte
  footer at the end of the file points to the index block.
* ``NAME.data-00000-of-00001``: the raw little-endian bytes of every tensor.

Both formats are stable and documented in TensorFlow's sources (``core/lib/io/table``,
``core/protobuf/tensor_bundle.proto``); this module reads them with a few dozen lines of varint and
protobuf decoding. It reads uncompressed tables of unsliced tensors, which is what ``tf.train.Checkpoint``
writes; anything else raises a clear error.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MAGIC = 0xDB4775248B80FB57
#: TensorFlow DataType enum values -> NumPy dtypes
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
           10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}


class CheckpointError(ValueError):
    """A file is not a readable TensorFlow tensor bundle (the message says why)."""


@dataclass(frozen=True)
class Entry:
    """Where one tensor lives in the data file."""

    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message; length-delimited values are bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _entry(value: bytes) -> Entry:
    dtype, shape, shard, offset, size = 0, [], 0, 0, 0
    for field, _, v in _fields(value):
        if field == 1:
            dtype = v
        elif field == 2:  # TensorShapeProto: repeated Dim dim = 2 { int64 size = 1 }
            for f2, _, dim in _fields(v):
                if f2 == 2:
                    shape.append(next((s for f3, _, s in _fields(dim) if f3 == 1), 0))
        elif field == 3:
            shard = v
        elif field == 4:
            offset = v
        elif field == 5:
            size = v
        elif field == 7:
            raise CheckpointError("sliced tensors are not supported")
    return Entry(dtype, tuple(shape), shard, offset, size)


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` entries of one table block (prefix-compressed keys, restart array at the end)."""
    if offset < 0 or size < 4 or offset + size >= len(data):
        raise CheckpointError(f"a table block at bytes {offset}-{offset + size} lies outside the file; the index is "
                              "damaged")
    if data[offset + size] == 1:
        raise CheckpointError("snappy-compressed table blocks are not supported (TensorFlow 2 writes them "
                              "uncompressed)")
    if data[offset + size] != 0:
        raise CheckpointError(f"a table block has the unknown trailer type {data[offset + size]}; the index is "
                              "damaged")
    block = data[offset:offset + size]
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + vlen]))
        pos += vlen
    return entries


def _header_shards(value: bytes) -> int:
    """``num_shards`` of the bundle header (``BundleHeaderProto`` field 1; 1 when not stored)."""
    for field, _, v in _fields(value):
        if field == 1:
            return int(v)
    return 1


def parse_index(data: bytes, where: str) -> tuple[dict[str, Entry], int]:
    """(tensor name -> :class:`Entry`, number of data shards) of the bytes of an ``.index`` file."""
    if len(data) < 48 or struct.unpack_from("<Q", data, len(data) - 8)[0] != _MAGIC:
        raise CheckpointError(f"{where} is not a TensorFlow checkpoint index (no table magic number at its end); "
                              "the file is corrupt or not a checkpoint: copy it again")
    try:
        footer = data[-48:]
        _, pos = _varint(footer, 0)  # metaindex offset
        _, pos = _varint(footer, pos)  # metaindex size
        idx_off, pos = _varint(footer, pos)
        idx_size, pos = _varint(footer, pos)
        out, shards = {}, 1
        for _, handle in _block(data, idx_off, idx_size):
            off, p = _varint(handle, 0)
            size, _ = _varint(handle, p)
            for key, value in _block(data, off, size):
                if key:  # the empty key is the bundle header
                    out[key.decode()] = _entry(value)
                else:
                    shards = _header_shards(value)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}; copy the checkpoint again") from exc
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{where} is a damaged TensorFlow checkpoint index ({type(exc).__name__}: {exc}); "
                              "copy it again") from exc
    return out, shards


def read_index(index: str | Path) -> dict[str, Entry]:
    """Tensor name -> :class:`Entry` from a checkpoint's ``.index`` file."""
    return parse_index(Path(index).read_bytes(), str(index))[0]


def shard_name(prefix: str, shard: int, shards: int) -> str:
    """The file name TensorFlow gives data shard ``shard`` of ``shards``: ``NAME.data-00000-of-00001``."""
    return f"{prefix}.data-{shard:05d}-of-{shards:05d}"


def read_bundle(index: bytes, shards: dict[int, bytes], name: str = "checkpoint") -> dict[str, np.ndarray]:
    """Every numeric tensor of a checkpoint given as bytes: ``index`` (the ``.index`` file) and ``shards``
    (shard number -> the bytes of its data file), e.g. as read and verified by
    :func:`pdedenoise.data.registry.read_verified`. ``name`` is used in messages."""
    entries, _ = parse_index(index, name)
    out = {}
    for key, e in entries.items():
        if e.dtype not in _DTYPES:
            continue  # strings (the object graph) and other non-numeric entries
        if e.shard not in shards:
            raise CheckpointError(f"data shard {e.shard} of {name} is missing")
        raw = shards[e.shard][e.offset:e.offset + e.size]
        if len(raw) != e.size:
            raise CheckpointError(f"{key}: the data file of {name} is truncated ({len(raw)} of {e.size} bytes); "
                                  "copy it again")
        try:
            out[key] = np.frombuffer(raw, dtype=_DTYPES[e.dtype]).reshape(e.shape).copy()
        except ValueError as exc:
            raise CheckpointError(f"{key} of {name}: {e.size} bytes do not hold a {e.shape} tensor ({exc}); the "
                                  "index is damaged") from exc
    return out


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint ``prefix`` (the path without ``.index``) as a NumPy array, by name.

    The data shards read are exactly those the index names (``NAME.data-0000k-of-0000n`` with ``n`` from its
    header), never another file that happens to match a pattern."""
    prefix = Path(prefix)
    index_path = prefix.with_name(prefix.name + ".index")
    if not index_path.is_file():
        raise CheckpointError(f"{index_path} does not exist: a TensorFlow checkpoint is NAME.index beside "
                              "NAME.data-00000-of-00001; pass the path without the extension")
    index = index_path.read_bytes()
    entries, n = parse_index(index, str(index_path))
    shards = {}
    for k in sorted({e.shard for e in entries.values() if e.dtype in _DTYPES}):
        path = prefix.with_name(shard_name(prefix.name, k, n))
        if not path.is_file():
            raise CheckpointError(f"data shard {k} of {prefix} is missing: expected {path}")
        shards[k] = path.read_bytes()
    return read_bundle(index, shards, str(prefix))
