"""The record every format reader yields, and the shared ways of streaming its values.

A `Tensor` carries its declared dtype (safetensors' spelling: F32, BF16, F8_E4M3, C64, Q4_K,
...), its shape, its role (`weight`; `constant` for values a format stores beside the trained
weights: ONNX initial states and masks, TorchScript constants, optimizer state; `unused` for
an ONNX initializer no node reads; `bias`, `norm` (normalisation scale and shift), `buffer`
(running statistics), `slope` (PReLU) and `quant` (quantisation scales and zero points) for
parameters whose initial values are legitimate in a working model)
and a way to stream its values as flat numpy arrays of at most CHUNK_BYTES, so a 2 GB file is
checked in tens of megabytes. Dtypes weightops cannot decode (sub-byte floats, quantised
blocks) stream nothing and are reported as "present, not decoded".
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from weightops.errors import FormatError

CHUNK_BYTES = 16 * 1024 * 1024
WEIGHT, CONSTANT = "weight", "constant"
# Roles read from a file's structure (which operator input or layer a tensor feeds): parameters
# that legitimately sit at their initial values (zeros, ones, one constant) in a working model.
BIAS, NORM, BUFFER, SLOPE, QUANT = "bias", "norm", "buffer", "slope", "quant"
# A tree model's node table: its length follows the training data, so a retrain reshapes it.
TREE = "tree"
# scikit-learn's ensembles keep their fitted members in the list attribute `estimators_`
# (sklearn/ensemble/_base.py: BaseEnsemble, _BaseHeterogeneousEnsemble); its length is the
# `n_estimators` hyperparameter, so a retrain adds or removes members.
ENSEMBLE_LIST = "estimators_"

# Element width in bits of every dtype the safetensors format defines (safetensors'
# `Dtype::bitsize`, src/tensor.rs), plus C128 for PyTorch's complex128.
BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}
# Dtypes read straight into numpy. Complex values are read as their (real, imaginary) floats.
NUMPY_OF = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?", "C64": "<f4", "C128": "<f8",
}
NUMPY_NAMES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
               "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32", "uint16": "U16",
               "uint8": "U8", "bool": "BOOL", "complex64": "C64", "complex128": "C128"}
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16", "C64", "C128", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                "F8_E4M3FNUZ", "F8_E5M2FNUZ"}


def _f8_table(exp_bits: int, man_bits: int, bias: int, kind: str) -> np.ndarray:
    """Every byte of an 8-bit float as float32. kind: `ieee` (E5M2: Inf and NaN at the top
    exponent), `fn` (E4M3FN: only S.1111.111 is NaN, no Inf), `fnuz` (0x80 is the only NaN)."""
    out = np.empty(256, dtype=np.float32)
    top = (1 << exp_bits) - 1
    for b in range(256):
        sign = -1.0 if b & 0x80 else 1.0
        e, m = (b >> man_bits) & top, b & ((1 << man_bits) - 1)
        if kind == "fnuz" and b == 0x80:
            out[b] = np.nan
            continue
        if kind == "ieee" and e == top:
            out[b] = sign * np.inf if m == 0 else np.nan
            continue
        if kind == "fn" and e == top and m == (1 << man_bits) - 1:
            out[b] = np.nan
            continue
        frac = m / (1 << man_bits)
        out[b] = sign * (frac * 2.0 ** (1 - bias) if e == 0 else (1 + frac) * 2.0 ** (e - bias))
    return out


def _e8m0_table() -> np.ndarray:
    out = np.full(256, np.nan, dtype=np.float32)   # 0xFF: the OCP microscaling spec's only special value
    out[:255] = np.ldexp(1.0, np.arange(255) - 127)
    return out


# Lookup tables decode 8-bit floats exactly (OCP 8-bit float spec; FNUZ as AMD defines it).
F8_TABLES = {
    "F8_E4M3": lambda: _f8_table(4, 3, 7, "fn"), "F8_E5M2": lambda: _f8_table(5, 2, 15, "ieee"),
    "F8_E4M3FNUZ": lambda: _f8_table(4, 3, 8, "fnuz"), "F8_E5M2FNUZ": lambda: _f8_table(5, 2, 16, "fnuz"),
    "F8_E8M0": _e8m0_table,
}


def decoder(dtype: str, big_endian: bool = False) -> tuple[str, Callable[[np.ndarray], np.ndarray] | None] | None:
    """(numpy dtype to read, conversion of a chunk) for a decodable dtype, else None. With
    `big_endian`, each element (each part of a complex one) is read most significant byte
    first and converted to native order, as torch byte-swaps a storage saved on a big-endian
    machine (`UntypedStorage.byteswap(dtype)`)."""
    how = _decoder(dtype)
    if not big_endian or how is None or np.dtype(how[0]).itemsize == 1:
        return how
    np_dtype, convert = how
    big = np.dtype(np_dtype).newbyteorder(">")

    def swap(a: np.ndarray) -> np.ndarray:
        native = a.astype(big.newbyteorder("="))
        return convert(native) if convert else native
    return big.str, swap


def _decoder(dtype: str) -> tuple[str, Callable[[np.ndarray], np.ndarray] | None] | None:
    if dtype in NUMPY_OF:
        return NUMPY_OF[dtype], None
    if dtype == "BF16":
        return "<u2", lambda a: (a.astype(np.uint32) << 16).view(np.float32)
    if dtype in F8_TABLES:
        table = F8_TABLES[dtype]()
        return "u1", lambda a: table[a]
    return None


@dataclass(frozen=True)
class Tensor:
    """One named tensor: declared dtype and shape, its role, and a way to stream its values."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    _chunks: Callable[[], Iterator[np.ndarray]] | None = field(default=None, repr=False, compare=False)
    role: str = WEIGHT

    @property
    def size(self) -> int:
        """Element count: the product of the shape (1 for a scalar)."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    def chunks(self) -> Iterator[np.ndarray]:
        """Flat arrays covering the tensor in order; empty when the dtype cannot be decoded.
        A chunk may share memory with the next one: copy it to keep it."""
        return self._chunks() if self._chunks else iter(())

    def values(self) -> np.ndarray:
        """The whole tensor (small tensors and tests only: this holds it all in memory)."""
        parts = [c.copy() for c in self.chunks()]
        flat = np.concatenate(parts) if parts else np.zeros(0)
        return flat.reshape(self.shape) if flat.size == self.size else flat

    def renamed(self, name: str, role: str | None = None) -> Tensor:
        """The same tensor (same values reader) under another `name`, and `role` when given."""
        return Tensor(name, self.dtype, self.shape, self._chunks, role or self.role)


def range_reader(path: Path, start: int, end: int, dtype: str,
                 big_endian: bool = False) -> Callable[[], Iterator[np.ndarray]] | None:
    """Stream bytes [start, end) of `path` decoded as `dtype` (None when not decodable). Reads with
    `readinto` into one reused buffer, not mmap: pages touched through a mapping count in the
    process's RSS, so a mapping would grow memory to the file size. The returned reader raises
    FormatError (5) when the file ends early; `big_endian` as in `decoder`."""
    how = decoder(dtype, big_endian)
    if how is None:
        return None
    np_dtype, convert = how

    def gen() -> Iterator[np.ndarray]:
        dt = np.dtype(np_dtype)
        step = max(dt.itemsize, CHUNK_BYTES // dt.itemsize * dt.itemsize)
        buf = memoryview(bytearray(max(0, min(step, end - start))))
        with open(path, "rb", buffering=0) as f:
            f.seek(start)
            pos = start
            while pos < end:
                want = min(step, end - pos)
                got = 0
                while got < want:
                    n = f.readinto(buf[got:want])
                    if not n:
                        raise FormatError(f"'{path}' is truncated")
                    got += n
                pos += want
                arr = np.frombuffer(buf[:want], dtype=dt)
                yield convert(arr) if convert else arr
    return gen


def stream_reader(opener: Callable, skip: int, nbytes: int, dtype: str,
                  big_endian: bool = False) -> Callable[[], Iterator[np.ndarray]] | None:
    """Like `range_reader` over a stream `opener()` returns (a compressed zip member, say): skip
    `skip` bytes, then decode `nbytes` bytes as `dtype`. The returned reader raises FormatError (5)
    when the stream ends early or a zip member's header, compressed data or CRC is damaged."""
    how = decoder(dtype, big_endian)
    if how is None:
        return None
    np_dtype, convert = how

    def gen() -> Iterator[np.ndarray]:
        try:
            yield from read()
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            # A zip member whose local header, deflate stream or CRC is damaged.
            raise FormatError(f"tensor data is unreadable ({exc})") from None

    def read() -> Iterator[np.ndarray]:
        dt = np.dtype(np_dtype)
        step = max(dt.itemsize, CHUNK_BYTES // dt.itemsize * dt.itemsize)
        with opener() as f:
            gap = skip
            while gap > 0:
                part = f.read(min(gap, CHUNK_BYTES))
                if not part:
                    raise FormatError("tensor data is truncated")
                gap -= len(part)
            left = nbytes
            while left > 0:
                data = f.read(min(step, left))
                if len(data) != min(step, left):
                    raise FormatError("tensor data is truncated")
                left -= len(data)
                arr = np.frombuffer(data, dtype=dt)
                yield convert(arr) if convert else arr
    return gen


def ensemble_member(name: str, role: str) -> str | None:
    """The ensemble member a tensor belongs to, or None for a tensor of fixed structure.

    `name` is a dotted tensor path (`estimators_.12.tree_.nodes.threshold`), `role` its role.
    A tensor inside an item of scikit-learn's `estimators_` list answers that item's path
    (`estimators_.12`, `steps.1.1.estimators_.3.0` for a 2-D member array); a tree table (role
    `tree`: XGBoost's and LightGBM's per-field tables, a single tree's nodes) answers its own
    name. How many members and tree nodes a model has is a hyperparameter's or the data's
    choice, so such tensors may come and go between retrains."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part == ENSEMBLE_LIST and parts[i + 1].isdigit():
            j = i + 2
            while j < len(parts) - 1 and parts[j].isdigit():   # GradientBoosting's (n, K) array of trees
                j += 1
            return ".".join(parts[:j])
    return name if role == TREE else None
