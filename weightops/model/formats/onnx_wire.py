"""An ONNX model parsed without its weights' bytes, so memory follows the graph, not the weights.

`onnx.load` holds the whole protobuf (every inline weight) in memory, and `numpy_helper.to_array`
copies each tensor again. Here the file's protobuf wire format (varint keys, length-delimited
fields: https://protobuf.dev/programming-guides/encoding/) is walked over a read-only mmap:
every field is kept as is except the `raw_data` of the top-level graph's initializers, which
is replaced by its (offset, length) in the file; the payload pages are never touched. Field
numbers are onnx.proto's: ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.raw_data
= 9. The tensors are then read from the file in chunks.
"""

from __future__ import annotations

import mmap
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from weightops.errors import FormatError

MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_RAW_DATA = 7, 5, 9
CHUNK_BYTES = 16 * 1024 * 1024


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise ValueError("a varint runs past the end of its message")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("a varint is longer than 10 bytes")


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _fields(buf, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, value start, value end) of each field."""
    pos = start
    while pos < end:
        key, vpos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, vend = _varint(buf, vpos, end)
        elif wire == 1:
            vend = vpos + 8
        elif wire == 2:
            n, vpos = _varint(buf, vpos, end)
            vend = vpos + n
        elif wire == 5:
            vend = vpos + 4
        else:
            raise ValueError(f"wire type {wire} (groups are not used by ONNX)")
        if field == 0 or vend > end:
            raise ValueError("a field runs past the end of its message")
        yield field, wire, pos, vpos, vend
        pos = vend


def _message(field: int, payload: bytes) -> bytes:
    return _encode_varint(field << 3 | 2) + _encode_varint(len(payload)) + payload


# The last file parsed, by identity (path, size, mtime, inode): `validate` reads one model's
# graph three times (checker and roles, subgraph constants, signature); parsing is most of its cost.
_LAST: dict = {}


def lazy_model(path: Path):
    """(ModelProto whose top-level initializers have no raw_data, {initializer name: (offset,
    length) of its raw_data in the file}); the same objects again for an unchanged file, so
    callers must not modify them. Raises FormatError (exit 5) when the file is not a protobuf
    message onnx.load would read."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _LAST:
        result = _parse(path)
        _LAST.clear()
        _LAST[key] = result
    return _LAST[key]


def _parse(path: Path):
    import onnx

    raws: list[tuple[int, int] | None] = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return onnx.ModelProto(), {}
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        parts = []
        for field, wire, start, vstart, vend in _fields(mm, 0, size):
            if field != MODEL_GRAPH or wire != 2:
                parts.append(mm[start:vend])
                continue
            graph = []
            for gfield, gwire, gstart, gvstart, gvend in _fields(mm, vstart, vend):
                if gfield != GRAPH_INITIALIZER or gwire != 2:
                    graph.append(mm[gstart:gvend])
                    continue
                stub, raw = [], None
                for tfield, twire, tstart, tvstart, tvend in _fields(mm, gvstart, gvend):
                    if tfield == TENSOR_RAW_DATA and twire == 2:
                        raw = (tvstart, tvend - tvstart)
                    else:
                        stub.append(mm[tstart:tvend])
                graph.append(_message(GRAPH_INITIALIZER, b"".join(stub)))
                raws.append(raw)
            parts.append(_message(MODEL_GRAPH, b"".join(graph)))
        model = onnx.ModelProto.FromString(b"".join(parts))
    except Exception as exc:  # noqa: BLE001 - ValueError here, DecodeError from protobuf
        raise FormatError(f"'{path}' is not an ONNX model onnx.load reads ({str(exc).splitlines()[0][:200]})") from None
    finally:
        mm.close()
    where = {init.name: raw for init, raw in zip(model.graph.initializer, raws) if raw is not None}
    return model, where


def file_chunks(path: Path, offset: int, length: int, dtype: np.dtype) -> Callable[[], Iterator[np.ndarray]]:
    """A reader of `length` bytes at `offset` as flat little-endian `dtype` arrays, in chunks. The
    reader raises FormatError (5) when the file ends early."""
    dt = dtype if sys.byteorder == "little" or dtype.byteorder == "|" else dtype.newbyteorder("<")

    def gen() -> Iterator[np.ndarray]:
        step = max(dt.itemsize, CHUNK_BYTES // dt.itemsize * dt.itemsize)
        with open(path, "rb", buffering=0) as f:
            f.seek(offset)
            left = length
            while left > 0:
                raw = f.read(min(step, left))
                if not raw:
                    raise FormatError(f"'{path}' is truncated")
                left -= len(raw)
                yield np.frombuffer(raw, dtype=dt)
    return gen


def inline_reader(path: Path, init, raw: tuple[int, int], dtype: np.dtype | None) -> Callable | None:
    """The reader of an initializer whose raw_data is at `raw` ((offset, length) in bytes) in the
    model file; None when `dtype` is None. Sub-byte types (int4, float4: two values a byte) are
    decoded whole by onnx's numpy_helper. FormatError (5) when the raw data's length fits neither the
    element count nor packed 4-bit values."""
    offset, length = raw
    count = int(np.prod(init.dims, dtype=np.int64)) if init.dims else 1
    if dtype is None:
        return None
    if length == count * dtype.itemsize:
        return file_chunks(path, offset, length, dtype)
    if length == (count + 1) // 2:   # packed 4-bit values
        def whole() -> Iterator[np.ndarray]:
            from onnx import numpy_helper

            with open(path, "rb") as f:
                f.seek(offset)
                full = type(init)()
                full.CopyFrom(init)
                full.raw_data = f.read(length)
            yield numpy_helper.to_array(full).reshape(-1)
        return whole
    raise FormatError(f"'{path}': tensor '{init.name}' has {length} bytes of raw data for {count} "
                     f"{dtype.name} values ({count * dtype.itemsize} bytes)")
