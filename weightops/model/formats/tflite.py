"""TFLite flatbuffers (`.tflite`), read without TensorFlow.

The file is a FlatBuffer of TensorFlow Lite's schema (tensorflow/compiler/mlir/lite/schema/
schema.fbs, file identifier `TFL3`); the `tflite` package (PyPI, generated from that schema
with `flatc --python`, on the `flatbuffers` runtime) reads its tables. A tensor's values are
the bytes of `Model.buffers[tensor.buffer]`: inline in the flatbuffer (`Buffer.data`) or, for
models over 2 GB, at `Buffer.offset`/`Buffer.size` in the file. Buffer 0 is the schema's empty
sentinel; tensors without data (activations, inputs, variables) are not weights and are skipped.
Values stream from the file by byte range (the file is memory-mapped only to read the tables).

Roles come from the operators that read each tensor: the bias input of CONV_2D,
DEPTHWISE_CONV_2D, CONV_3D, FULLY_CONNECTED (input 2) and TRANSPOSE_CONV (input 3) is a bias,
PRELU's alpha a slope. A quantised tensor's scale and zero point are yielded as their own
tensors (`NAME.scale`, `NAME.zero_point`, role `quant`).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from weightops.errors import FormatError
from weightops.model.formats.base import BIAS, BITS, QUANT, SLOPE, WEIGHT, Tensor, range_reader

# schema.fbs `enum TensorType` -> weightops' dtype codes (INT4 is packed two per byte).
DTYPES = {0: "F32", 1: "F16", 2: "I32", 3: "U8", 4: "I64", 5: "STRING", 6: "BOOL", 7: "I16", 8: "C64",
          9: "I8", 10: "F64", 11: "C128", 12: "U64", 13: "RESOURCE", 14: "VARIANT", 15: "U32", 16: "U16",
          17: "I4", 18: "BF16"}
ELEMENT_BITS = {**BITS, "C128": 128, "I4": 4}
# schema.fbs `enum BuiltinOperator`: operator -> {input index: role}.
CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, PRELU, TRANSPOSE_CONV, CONV_3D = 3, 4, 9, 54, 67, 132
INPUT_ROLES = {CONV_2D: {2: BIAS}, DEPTHWISE_CONV_2D: {2: BIAS}, FULLY_CONNECTED: {2: BIAS}, CONV_3D: {2: BIAS},
               TRANSPOSE_CONV: {3: BIAS}, PRELU: {1: SLOPE}}


def _tflite():
    try:
        import tflite
    except ImportError:
        raise FormatError("reading TFLite needs tflite: pip install 'weightops[tflite]'") from None
    return tflite


def read(path: Path) -> Iterator[Tensor]:
    """The constant tensors of a TFLite model (every subgraph; names prefixed `subgraphN.` after
    the first), then their quantisation scales and zero points. FormatError (5) for a file
    without the `TFL3` identifier, tables that do not parse, a tensor naming a buffer the model
    lacks, or data whose size disagrees with the tensor's shape or runs past the file."""
    tflite = _tflite()
    path = Path(path)
    size = path.stat().st_size
    if size < 8:
        raise FormatError(f"'{path}' is not a TFLite model (shorter than a flatbuffer header)")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            tensors = list(_tensors(tflite, buf, path, size))
        except (struct.error, IndexError, ValueError, TypeError) as exc:
            raise FormatError(f"'{path}' is not a readable TFLite model ({type(exc).__name__}: {exc})") from None
    yield from tensors


def _tensors(tflite, buf, path: Path, size: int) -> Iterator[Tensor]:
    if not tflite.Model.ModelBufferHasIdentifier(buf, 0):
        raise FormatError(f"'{path}' is not a TFLite model (no TFL3 file identifier)")
    model = tflite.Model.GetRootAs(buf, 0)
    codes = [max(c.BuiltinCode(), c.DeprecatedBuiltinCode()) for c in
             (model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))]
    nbuffers = model.BuffersLength()
    quant: list[Tensor] = []
    seen: set[str] = set()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        roles: dict[int, str] = {}
        for j in range(graph.OperatorsLength()):
            op = graph.Operators(j)
            if op.OpcodeIndex() >= len(codes):
                raise FormatError(f"'{path}': operator {j} names opcode {op.OpcodeIndex()}, which the model lacks")
            inputs = op.InputsAsNumpy() if op.InputsLength() else []
            for k, role in INPUT_ROLES.get(codes[op.OpcodeIndex()], {}).items():
                if k < len(inputs) and inputs[k] >= 0:
                    roles.setdefault(int(inputs[k]), role)
        for i in range(graph.TensorsLength()):
            t = graph.Tensors(i)
            index = t.Buffer()
            if index >= nbuffers:
                raise FormatError(f"'{path}': tensor {i} names buffer {index}; the model has {nbuffers}")
            name = (t.Name() or b"").decode("utf-8", "replace") or f"tensor{i}"
            name = name if g == 0 else f"subgraph{g}.{name}"
            if name in seen:
                name = f"{name}#{i}"
            seen.add(name)
            where = _data(model.Buffers(index), size) if index else None
            if where is None:
                continue   # no values: an activation, an input or a variable
            start, nbytes = where
            dtype = DTYPES.get(t.Type(), f"TYPE{t.Type()}")
            shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            dense = t.Sparsity() is None and dtype in ELEMENT_BITS
            if dense and (count * ELEMENT_BITS[dtype] + 7) // 8 != nbytes:
                raise FormatError(f"'{path}': tensor '{name}' ({dtype} {list(shape)}) needs "
                                  f"{(count * ELEMENT_BITS[dtype] + 7) // 8} bytes, its buffer {index} holds {nbytes}")
            reader = range_reader(path, start, start + nbytes, dtype) if dense else None
            yield Tensor(name, dtype, shape, reader, roles.get(i, WEIGHT))
            q = t.Quantization()
            if q is not None and q.ScaleLength():
                quant.append(_constant(f"{name}.scale", "F32", q.ScaleAsNumpy().astype("<f4")))
                if q.ZeroPointLength():
                    quant.append(_constant(f"{name}.zero_point", "I64", q.ZeroPointAsNumpy().astype("<i8")))
    yield from quant


def _data(b, size: int) -> tuple[int, int] | None:
    """(absolute start, length) of a buffer's bytes, or None when it holds none."""
    if b.Offset() > 1:   # over 2 GB: data after the flatbuffer (offset 1 marks "none" in the schema)
        if b.Offset() + b.Size() > size:
            raise FormatError(f"a buffer's data (bytes {b.Offset()}..{b.Offset() + b.Size()}) runs past "
                              f"the end of the file ({size} bytes)")
        return b.Offset(), b.Size()
    n = b.DataLength()
    if not n:
        return None
    # The vector's first byte, as the generated `Buffer.Data` finds it (flatbuffers' Table.Vector).
    start = b._tab.Vector(b._tab.Offset(4))
    if start + n > size:
        raise FormatError(f"a buffer's data (bytes {start}..{start + n}) runs past the end of the file ({size} bytes)")
    return start, n


def _constant(name: str, dtype: str, values: np.ndarray) -> Tensor:
    flat = np.ascontiguousarray(values).reshape(-1)
    return Tensor(name, dtype, (flat.size,), lambda: iter((flat,)), QUANT)
