"""Read weight files tensor by tensor, in bounded memory, without executing anything.

Every reader yields `Tensor` records whose `chunks()` stream the values as flat numpy arrays of
at most CHUNK_BYTES, so a 2 GB file is checked in tens of megabytes. Formats:

- safetensors: the 8-byte header length + JSON header is parsed and bounds-checked here, then
  each tensor's bytes are read with `readinto` (not mmap: pages touched through a mapping count
  in the process's RSS, so `safetensors.safe_open` would grow memory to the file size);
- `.npz` / `.npy`: the `.npy` header is parsed with numpy's own format helpers and each member
  is streamed out of the zip; object arrays (which need pickle) are refused;
- PyTorch `.pt`/`.pth`/`.bin` (needs the `torch` extra): the pickle is scanned opcode by opcode
  first (nothing is executed) and anything referencing a global outside the state-dict set is
  refused; then `torch.load(weights_only=True)` must return a plain mapping of names to tensors;
- ONNX initializers (needs the `onnx` extra): see formats/onnx.py (external data streamed).
"""

from __future__ import annotations

import io
import json
import os
import pickletools
import struct
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from weightops.errors import NotFoundError, RefusedError, UsageError

CHUNK_BYTES = 16 * 1024 * 1024
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit for the JSON header

# safetensors dtype -> numpy dtype; BF16 is widened to float32 as it is read.
ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
ST_SIZES = {"F8_E4M3": 1, "F8_E5M2": 1}  # known but not decoded: reported, values skipped
NUMPY_NAMES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
               "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32", "uint16": "U16",
               "uint8": "U8", "bool": "BOOL"}

PICKLE_FORMATS = (".pt", ".pth", ".bin", ".ckpt")
# Globals a plain torch state dict may name in its pickle (what torch's weights_only allows
# for tensors and containers). Anything else (os.system, builtins.eval, a model class) is refused.
STATE_DICT_GLOBALS = {
    "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter_with_state",
    "torch._tensor._rebuild_from_type_v2", "torch.Size", "torch.device", "torch.Tensor",
    "torch.nn.parameter.Parameter", "builtins.set", "_codecs.encode",
    *(f"torch.{n}Storage" for n in ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short",
                                    "Char", "Byte", "Bool", "ComplexFloat", "ComplexDouble", "Untyped")),
    *(f"torch.{n}" for n in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16",
                             "int8", "uint8", "bool", "complex64", "complex128")),
}


@dataclass(frozen=True)
class Tensor:
    """One named tensor: its declared dtype and shape, and a way to stream its values."""

    name: str
    dtype: str                     # safetensors spelling (F32, BF16, I64, ...)
    shape: tuple[int, ...]
    _chunks: Callable[[], Iterator[np.ndarray]] | None = field(default=None, repr=False, compare=False)
    role: str = "weight"           # ONNX initializers: "weight", "constant" or "unused" (formats/onnx.py)

    @property
    def size(self) -> int:
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
        return flat.reshape(self.shape)


def weight_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return "safetensors"
    if suffix in (".npz", ".npy"):
        return "numpy"
    if suffix in PICKLE_FORMATS:
        return "pytorch"
    if suffix == ".onnx":
        return "onnx"
    raise UsageError(f"'{path}' is not a weights format weightops reads "
                     "(.safetensors, .npz, .npy, .pt/.pth with the torch extra, .onnx with the onnx extra)")


def read_tensors(path: str | os.PathLike, name: str | None = None) -> Iterator[Tensor]:
    """Tensors of a weights file (or of every weights file in a directory), one at a time.
    `name` gives the format when `path` has no telling suffix (a DVC cache object)."""
    path = Path(path)
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            try:
                weight_format(f)
            except UsageError:
                continue
            prefix = f.relative_to(path).as_posix() + ":"
            for t in read_tensors(f):
                yield replace(t, name=prefix + t.name)
        return
    if not path.is_file():
        raise NotFoundError(f"weights file '{path}' does not exist")
    named = Path(name) if name else path
    fmt = weight_format(named)
    if fmt == "safetensors":
        yield from _safetensors(path)
    elif fmt == "numpy":
        yield from (_npy_file(path, named.stem) if named.suffix.lower() == ".npy" else _npz(path))
    elif fmt == "pytorch":
        yield from _torch(path)
    else:
        yield from _onnx(path)


# ---------------------------------------------------------------- safetensors
def safetensors_header(path: Path) -> tuple[dict, int]:
    """The JSON header (tensor name -> {dtype, shape, data_offsets}) and where the data starts."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise UsageError(f"'{path}' is not a safetensors file (shorter than its header)")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_HEADER or 8 + n > size:
            raise UsageError(f"'{path}' is not a safetensors file (header length {n} out of bounds)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise UsageError(f"'{path}' is not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise UsageError(f"'{path}' is not a safetensors file (header is not a mapping)")
    base, data_len = 8 + n, size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        ok = isinstance(info, dict) and isinstance(info.get("shape"), list) and \
            all(isinstance(d, int) and d >= 0 for d in info["shape"]) and \
            isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2
        if not ok:
            raise UsageError(f"'{path}': tensor '{name}' has a malformed header entry")
        start, end = info["data_offsets"]
        width = np.dtype(ST_DTYPES[info["dtype"]]).itemsize if info.get("dtype") in ST_DTYPES \
            else ST_SIZES.get(info.get("dtype"))
        if width is None:
            raise UsageError(f"'{path}': tensor '{name}' has unknown dtype {info.get('dtype')!r}")
        count = int(np.prod(info["shape"], dtype=np.int64)) if info["shape"] else 1
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= data_len) \
                or end - start != count * width:
            raise UsageError(f"'{path}': tensor '{name}' points outside the file or has the wrong byte size")
    return header, base


def _safetensors(path: Path) -> Iterator[Tensor]:
    header, base = safetensors_header(path)
    entries = sorted((k, v) for k, v in header.items() if k != "__metadata__")
    for name, info in entries:
        dtype, start, end = info["dtype"], *info["data_offsets"]
        reader = None
        if dtype in ST_DTYPES:
            reader = _range_reader(path, base + start, base + end, ST_DTYPES[dtype], widen_bf16=dtype == "BF16")
        yield Tensor(name, dtype, tuple(info["shape"]), reader)


def _range_reader(path: Path, start: int, end: int, np_dtype: str, widen_bf16: bool = False) -> Callable:
    def gen() -> Iterator[np.ndarray]:
        dt = np.dtype(np_dtype)
        step = max(dt.itemsize, CHUNK_BYTES // dt.itemsize * dt.itemsize)
        # One buffer, reused: each chunk is a view valid until the next one (see Tensor.chunks).
        buf = memoryview(bytearray(min(step, end - start)))
        with open(path, "rb", buffering=0) as f:
            f.seek(start)
            pos = start
            while pos < end:
                want = min(step, end - pos)
                if f.readinto(buf[:want]) != want:
                    raise UsageError(f"'{path}' is truncated")
                pos += want
                arr = np.frombuffer(buf[:want], dtype=dt)
                yield (arr.astype(np.uint32) << 16).view(np.float32) if widen_bf16 else arr
    return gen


# ---------------------------------------------------------------- numpy
def _npy_header(f, where: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    from numpy.lib import format as npf

    try:
        major, _ = npf.read_magic(f)
        shape, fortran, dtype = (npf.read_array_header_1_0 if major == 1 else npf.read_array_header_2_0)(f)
    except ValueError as exc:
        raise UsageError(f"{where} is not a .npy array ({exc})") from None
    if dtype.hasobject:
        raise RefusedError(f"{where} holds Python objects (needs pickle to load); refused: weights must be numeric arrays")
    return dtype, tuple(shape), fortran


def _stream(opener: Callable, dtype: np.dtype, count: int) -> Callable:
    """Re-open, skip the header, and read `count` values in chunks."""
    def gen() -> Iterator[np.ndarray]:
        with opener() as f:
            _npy_header(f, "array")
            left = count
            per = max(1, CHUNK_BYTES // max(1, dtype.itemsize))
            while left > 0:
                n = min(per, left)
                data = f.read(n * dtype.itemsize)
                if len(data) != n * dtype.itemsize:
                    raise UsageError("numpy array is truncated")
                yield np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=True)
                left -= n
    return gen


def _np_tensor(name: str, dtype: np.dtype, shape: tuple[int, ...], opener: Callable) -> Tensor:
    label = NUMPY_NAMES.get(dtype.name, dtype.name)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    reader = _stream(opener, dtype, count) if dtype.name in NUMPY_NAMES else None
    # Fortran order only changes the element order, not mean/std/norm/NaN counts.
    return Tensor(name, label, shape, reader)


def _npy_file(path: Path, name: str) -> Iterator[Tensor]:
    with open(path, "rb") as f:
        dtype, shape, _ = _npy_header(f, f"'{path}'")
    yield _np_tensor(name, dtype, shape, lambda: open(path, "rb"))


def _npz(path: Path) -> Iterator[Tensor]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UsageError(f"'{path}' is not a .npz archive") from None
    with zf:
        members = [m for m in zf.namelist() if m.endswith(".npy")]
    for member in sorted(members):
        @contextmanager
        def opener(member: str = member) -> Iterator[BinaryIO]:
            with zipfile.ZipFile(path) as z, z.open(member) as f:
                yield f
        with opener() as f:
            dtype, shape, _ = _npy_header(f, f"'{path}' member {member}")
        yield _np_tensor(member[:-4], dtype, shape, opener)


# ---------------------------------------------------------------- PyTorch (pickle, scanned first)
def scan_pickle(stream: BinaryIO, where: str) -> None:
    """Refuse a pickle naming any global outside STATE_DICT_GLOBALS. Reads opcodes only: the
    stack is simulated with opaque values, so module/name strings are tracked through the memo
    and nothing is ever constructed. Scans the consecutive pickles of torch's legacy format."""
    count = 0
    while count < 8:
        pos = stream.tell()
        if stream.read(1) != b"\x80":
            break
        stream.seek(pos)
        _scan_one(stream, where)
        count += 1
    if count == 0:
        raise UsageError(f"{where} is not a pickle weightops can scan (protocol 2 or newer expected)")


def _scan_one(stream: BinaryIO, where: str) -> None:
    mark, unknown = object(), object()
    stack: list = []
    memo: dict = {}
    try:
        for op, arg, pos in pickletools.genops(stream):
            name, before = op.name, op.stack_before
            if name in ("INST", "OBJ", "EXT1", "EXT2", "EXT4"):
                raise RefusedError(f"{where} builds objects with {name}: not a plain state dict, refused without unpickling")
            if name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
                continue
            if name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
                continue
            if name == "GLOBAL":
                _allow(arg.replace(" ", "."), where)
            popped: list = []
            if pickletools.markobject in before:
                while stack and stack[-1] is not mark:
                    popped.append(stack.pop())
                if not stack:
                    raise ValueError("MARK missing")
                stack.pop()
                extra = before.index(pickletools.markobject)
            else:
                extra = len(before)
            for _ in range(extra):
                popped.append(stack.pop())
            if name == "STACK_GLOBAL":
                qual, module = popped[0], popped[1]
                if not (isinstance(module, str) and isinstance(qual, str)):
                    raise RefusedError(f"{where} computes the name of a global: not a plain state dict, refused without unpickling")
                _allow(f"{module}.{qual}", where)
            if name == "MARK":
                stack.append(mark)
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, unknown))
            elif name == "DUP":
                stack.extend(popped * 2)
            elif "UNICODE" in name:
                stack.extend([arg] * len(op.stack_after))
            else:
                stack.extend([unknown] * len(op.stack_after))
            if name == "STOP":
                return
    except (ValueError, IndexError, struct.error) as exc:
        raise UsageError(f"{where} is not a readable pickle ({exc})") from None
    raise UsageError(f"{where} is not a readable pickle (no STOP)")


def _allow(name: str, where: str) -> None:
    if name not in STATE_DICT_GLOBALS:
        raise RefusedError(f"{where} references {name}: not a plain state dict, refused without unpickling "
                           "(save `model.state_dict()`, or better, safetensors)")


def scan_torch_file(path: Path) -> None:
    """Scan the pickles of a torch file: every .pkl in the zip format, or the legacy file's
    leading pickles (streamed from disk: the raw storages after them are never read)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for n in (n for n in zf.namelist() if n.endswith(".pkl")):
                scan_pickle(io.BytesIO(zf.read(n)), f"'{path}' ({n})")
        return
    with open(path, "rb") as f:
        scan_pickle(f, f"'{path}'")


def _torch(path: Path) -> Iterator[Tensor]:
    scan_torch_file(path)
    try:
        import torch
    except ImportError:
        raise UsageError(f"reading PyTorch file '{path}' needs torch: pip install 'weightops[torch]' "
                         "(or convert it to safetensors)") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # noqa: BLE001 - torch's unpickler raises many types
        raise RefusedError(f"'{path}' is not a plain state dict torch loads with weights_only ({type(exc).__name__})") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise RefusedError(f"'{path}' is not a plain state dict (a mapping of names to tensors); refused")
    for name in sorted(obj):
        t = obj[name]
        yield Tensor(name, _torch_dtype(t), tuple(t.shape), _torch_reader(t))


def _torch_dtype(t) -> str:
    name = str(t.dtype).replace("torch.", "")
    return "BF16" if name == "bfloat16" else NUMPY_NAMES.get(name, name)


def _torch_reader(t) -> Callable:
    def gen() -> Iterator[np.ndarray]:
        flat = t.detach().reshape(-1)
        per = max(1, CHUNK_BYTES // max(1, t.element_size()))
        for i in range(0, flat.numel(), per):
            part = flat[i:i + per]
            yield (part.float() if _torch_dtype(t) == "BF16" else part).numpy().copy()
    return gen


# ---------------------------------------------------------------- ONNX initializers
def _onnx(path: Path) -> Iterator[Tensor]:
    from weightops.model.formats.onnx import read_initializers

    for name, dtype, shape, role, reader in read_initializers(path):
        yield Tensor(name, NUMPY_NAMES.get(dtype, dtype), shape, reader, role)
