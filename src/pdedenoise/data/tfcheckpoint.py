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
    if data[offset + size] != 0:
        raise CheckpointError("compressed table blocks are not supported")
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


def read_index(index: str | Path) -> dict[str, Entry]:
    """Tensor name -> :class:`Entry` from a checkpoint's ``.index`` file."""
    data = Path(index).read_bytes()
    if len(data) < 48 or struct.unpack_from("<Q", data, len(data) - 8)[0] != _MAGIC:
        raise CheckpointError(f"{index} is not a TensorFlow checkpoint index (no table magic number at its end)")
    footer = data[-48:]
    _, pos = _varint(footer, 0)  # metaindex offset
    _, pos = _varint(footer, pos)  # metaindex size
    idx_off, pos = _varint(footer, pos)
    idx_size, pos = _varint(footer, pos)
    out = {}
    for _, handle in _block(data, idx_off, idx_size):
        off, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block(data, off, size):
            if key:  # the empty key is the bundle header
                out[key.decode()] = _entry(value)
    return out


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint ``prefix`` (the path without ``.index``) as a NumPy array, by name."""
    prefix = Path(prefix)
    index = read_index(prefix.with_name(prefix.name + ".index"))
    shards: dict[int, bytes] = {}
    out = {}
    for name, e in index.items():
        if e.dtype not in _DTYPES:
            continue  # strings (the object graph) and other non-numeric entries
        if e.shard not in shards:
            files = sorted(prefix.parent.glob(f"{prefix.name}.data-{e.shard:05d}-of-*"))
            if not files:
                raise CheckpointError(f"data shard {e.shard} of {prefix} is missing")
            shards[e.shard] = files[0].read_bytes()
        raw = shards[e.shard][e.offset:e.offset + e.size]
        if len(raw) != e.size:
            raise CheckpointError(f"{name}: the data file is truncated ({len(raw)} of {e.size} bytes)")
        out[name] = np.frombuffer(raw, dtype=_DTYPES[e.dtype]).reshape(e.shape).copy()
    return out
