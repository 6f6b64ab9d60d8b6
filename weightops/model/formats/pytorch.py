"""PyTorch files without torch and without executing their pickles (see pickles.py):

- `torch.save` zip archives: `<archive>/data.pkl` plus one record per storage under
  `<archive>/data/<key>` (torch/serialization.py, `_load`);
- the legacy (non-zip) format, followed pickle by pickle as torch's `_legacy_load` reads it:
  magic number, protocol version (1001), system info, the object, the list of storage keys,
  then per key an 8-byte element count and the storage's raw bytes. Exactly these five
  pickles are read: the bytes after them are storage data, even when one happens to be 0x80
  (the PROTO opcode);
- TorchScript archives (`torch.jit.save`, often `.pt`/`.jit`): `data.pkl` (the module's
  attributes, storages under `data/`) and `constants.pkl` (storages under `constants/`).
  Module classes are read as attribute bags; the archive's code is never run.

Tensors come from nested dicts/lists (a checkpoint's `state_dict`, `optimizer`, ...) named by
their path, joined with dots. Contiguous tensors stream from their bytes (range reads of a
stored zip member), strided ones are assembled from their storage's extent.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from weightops.errors import FormatError
import weightops.model.formats.pickles as pickles  # the module itself, not via the package namespace
from weightops.model.formats.base import (
    CONSTANT,
    WEIGHT,
    Tensor,
    decoder,
    range_reader,
    stream_reader,
)
from weightops.model.formats.pickles import ELEMENT_BYTES, StorageRef, TensorRef

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
MAX_NESTING = 64
OPTIMIZER_KEYS = {"optimizer", "optimizer_states", "optimizer_state_dict", "lr_scheduler", "lr_schedulers",
                  "scheduler", "scaler"}

Locate = Callable[[StorageRef], tuple[int, int] | Callable]   # -> (absolute start, nbytes) or opener


def is_torchscript(names: list[str]) -> bool:
    """Do the archive's member `names` include a `constants.pkl` (what `torch.jit.save` writes)?"""
    return any(n.endswith("constants.pkl") for n in names)


def scan_torch_file(path: Path) -> None:
    """Read a PyTorch file's pickles (raises RefusedError/FormatError as `read` would)."""
    for _ in read(path):
        pass


def read(path: Path) -> Iterator[Tensor]:
    """The tensors of a PyTorch file (zip archive, legacy format or TorchScript; see the module
    docstring), named by their dotted path in the pickled object; nothing is executed. RefusedError
    (5) for a pickle referencing a global outside the state-dict set; FormatError (5) for an
    unreadable or truncated file, an unknown byte order record, or inconsistent storage records. A zip
    saved on a big-endian machine (`byteorder` record `big`) is byte-swapped as torch.load does."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        try:
            yield from _zip(path)
        except zipfile.BadZipFile as exc:   # a member's local header or CRC is damaged
            raise FormatError(f"'{path}' is a damaged zip archive ({exc})") from None
    else:
        yield from _legacy(path)


# ---------------------------------------------------------------- zip archives
def _zip(path: Path) -> Iterator[Tensor]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"'{path}' is not a readable zip archive ({exc})") from None
    with zf:
        names = zf.namelist()
        infos = {i.filename: i for i in zf.infolist()}
        pkls = sorted(n for n in names if n == "data.pkl" or n.endswith("/data.pkl"))
        if len(pkls) != 1:
            raise FormatError(f"'{path}' is a zip archive but not a PyTorch file "
                             f"({len(pkls)} data.pkl records; torch.save writes one)")
        prefix = pkls[0][:-len("data.pkl")]
        # torch's `_load`: the `byteorder` record is exactly b"little" or b"big" (no record:
        # little); a big-endian file's storages are byte-swapped element by element.
        order = zf.read(prefix + "byteorder") if prefix + "byteorder" in infos else b"little"
        if order not in (b"little", b"big"):
            raise FormatError(f"'{path}' has an unknown byte order record {order[:20]!r} "
                              "(torch.load accepts 'little' or 'big')")
        big = order == b"big"
        torchscript = is_torchscript(names)
        sources = [("data.pkl", "data/", WEIGHT)]
        if torchscript and prefix + "constants.pkl" in infos:
            sources.append(("constants.pkl", "constants/", CONSTANT))
        loaded = []
        for pkl, folder, role in sources:
            where = f"'{path}' ({prefix}{pkl})"
            data = zf.read(prefix + pkl)
            pickles.scan_one(io.BytesIO(data), where, torchscript)

            def storage(pid: tuple, folder: str = folder, where: str = where) -> StorageRef:
                key, dtype, numel = pickles.storage_from_pid(pid, where)
                if prefix + folder + key not in infos:
                    raise FormatError(f"{where} refers to storage '{key}', which the archive does not hold")
                return StorageRef(folder + key, dtype, numel)
            obj = pickles.load(io.BytesIO(data), where, storage, torchscript)
            loaded.append((pkl, obj, role))

    def locate(s: StorageRef) -> tuple[int, int] | Callable:
        info = infos[prefix + s.key]
        want = s.numel * ELEMENT_BYTES.get(s.dtype, 1)
        if info.file_size != want:
            raise FormatError(f"'{path}': storage record {s.key} holds {info.file_size} bytes, "
                             f"its {s.numel} {s.dtype} elements need {want}")
        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as f:
                f.seek(info.header_offset)
                head = f.read(30)
            if head[:4] != b"PK\x03\x04":
                raise FormatError(f"'{path}': storage record {s.key} has a damaged zip header")
            n, m = struct.unpack("<HH", head[26:30])
            return info.header_offset + 30 + n + m, want
        return lambda: zipfile.ZipFile(path).open(prefix + s.key)

    for pkl, obj, role in loaded:
        top = "constants" if pkl == "constants.pkl" else ""
        yield from _tensors(path, obj, top, role, locate, torchscript, big)


# ---------------------------------------------------------------- legacy format
def _legacy(path: Path) -> Iterator[Tensor]:
    where = f"'{path}'"
    storages: dict[str, StorageRef] = {}

    def storage(pid: tuple) -> StorageRef:
        key, dtype, numel = pickles.storage_from_pid(pid, where)
        root = storages.setdefault(key, StorageRef(key, dtype, numel))
        view = pid[5] if len(pid) > 5 else None
        if view:   # (view key, offset in elements, size): a slice of the root storage
            return StorageRef(key, dtype, int(view[2]), int(view[1]))
        return root

    with open(path, "rb") as f:
        values = []
        for what in ("magic number", "protocol version", "system info", "object", "storage keys"):
            pos = f.tell()
            if not f.read(1):
                raise FormatError(f"{where} is not a PyTorch file (ends before its {what})")
            f.seek(pos)
            pickles.scan_one(f, f"{where} ({what})")
            f.seek(pos)
            values.append(pickles.load(f, f"{where} ({what})", storage if what == "object" else None))
            if what == "magic number" and values[0] != MAGIC_NUMBER:
                raise FormatError(f"{where} is not a PyTorch file (invalid magic number)")
            if what == "protocol version" and values[1] != PROTOCOL_VERSION:
                raise FormatError(f"{where} is not a PyTorch file (protocol version {values[1]!r}, 1001 expected)")
            # system info's `little_endian` says where the file was written, not how: the legacy
            # writer stores every storage little-endian (torch/csrc/generic/serialization.cpp,
            # writeFileRaw), so a big-endian machine's file reads the same.
        keys = values[4]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise FormatError(f"{where} is not a PyTorch file (the storage keys are not a list of names)")
        offsets: dict[str, int] = {}
        pos = f.tell()
        size = path.stat().st_size
        for key in keys:
            if key not in storages:
                raise FormatError(f"{where}: storage key {key!r} is not used by any tensor")
            s = storages[key]
            f.seek(pos)
            head = f.read(8)
            nbytes = s.numel * ELEMENT_BYTES.get(s.dtype, 1)
            if len(head) < 8:
                raise FormatError(f"{where} is truncated (storage {key} missing)")
            (count,) = struct.unpack("<q", head)
            if count * ELEMENT_BYTES.get(s.dtype, 1) != nbytes:
                raise FormatError(f"{where}: storage {key} has wrong size: expected {s.numel} elements, got {count}")
            if pos + 8 + nbytes > size:
                raise FormatError(f"{where} is truncated (storage {key} needs {nbytes} bytes)")
            offsets[key] = pos + 8
            pos += 8 + nbytes

    def locate(s: StorageRef) -> tuple[int, int] | None:
        if s.key not in offsets:
            return None   # never written: torch leaves such a storage uninitialised
        root = storages[s.key]
        es = ELEMENT_BYTES.get(root.dtype, 1)
        return offsets[s.key], root.numel * es

    yield from _tensors(path, values[3], "", WEIGHT, locate, False)


# ---------------------------------------------------------------- objects -> tensors
def _walk(obj: object, prefix: str, role: str, torchscript: bool, depth: int = 0) -> Iterator[tuple[str, TensorRef, str]]:
    if depth > MAX_NESTING:
        raise FormatError(f"objects nested deeper than {MAX_NESTING} levels")
    join = (lambda k: f"{prefix}.{k}" if prefix else str(k))
    if isinstance(obj, TensorRef):
        yield prefix or "tensor", obj, role
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, (str, int)):
                # A training checkpoint's optimizer and scheduler state (momenta, step counts)
                # sits beside the weights: constants, not trained parameters.
                sub = CONSTANT if depth == 0 and k in OPTIMIZER_KEYS else role
                yield from _walk(v, join(k), sub, torchscript, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk(v, join(i), role, torchscript, depth + 1)
    elif isinstance(obj, pickles.ModuleState):
        for k, v in obj.attrs.items():
            # A tensor a TorchScript module holds in a private attribute (`_state`, `_context`)
            # is a buffer its code keeps, not a trained parameter; a private submodule is not.
            sub = CONSTANT if torchscript and str(k).startswith("_") and isinstance(v, TensorRef) else role
            yield from _walk(v, join(k), sub, torchscript, depth + 1)


def _tensors(path: Path, obj: object, prefix: str, role: str, locate: Locate, torchscript: bool,
             big: bool = False) -> Iterator[Tensor]:
    seen: set[str] = set()
    for name, ref, r in sorted(_walk(obj, prefix, role, torchscript), key=lambda x: x[0]):
        if name in seen:
            continue
        seen.add(name)
        yield Tensor(name, ref.dtype, ref.shape, _reader(path, name, ref, locate, big), r)


def _reader(path: Path, name: str, t: TensorRef, locate: Locate, big: bool = False) -> Callable | None:
    es = ELEMENT_BYTES.get(t.dtype)
    if es is None or len(t.shape) != len(t.stride) or any(d < 0 for d in t.shape) or any(s < 0 for s in t.stride):
        raise FormatError(f"'{path}': tensor '{name}' has a malformed shape, stride or dtype")
    storage_es = ELEMENT_BYTES.get(t.storage.dtype, 1)
    numel = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
    first = t.storage.offset * storage_es + t.offset * es   # byte offset into the root storage
    if numel:
        last = first + (sum((d - 1) * s for d, s in zip(t.shape, t.stride)) + 1) * es
        if last > (t.storage.offset + t.storage.numel) * storage_es:
            raise FormatError(f"'{path}': tensor '{name}' (shape {list(t.shape)}) reaches past the end of its storage")
    where = locate(t.storage)
    if where is None or decoder(t.dtype) is None or numel == 0:
        return None if numel else (lambda: iter(()))
    contiguous, expect = True, 1
    for d, s in reversed(list(zip(t.shape, t.stride))):
        if d != 1 and s != expect:
            contiguous = False
        expect *= d
    if callable(where):
        if not contiguous:
            return _strided(lambda: where().read(), first, t, big)
        return stream_reader(where, first, numel * es, t.dtype, big)
    start, _ = where
    if contiguous:
        return range_reader(path, start + first, start + first + numel * es, t.dtype, big)

    def read_extent() -> bytes:
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(last)
    return _strided(read_extent, first, t, big)


def _strided(read_bytes: Callable[[], bytes], first: int, t: TensorRef, big: bool = False) -> Callable:
    np_dtype, convert = decoder(t.dtype, big)

    def gen() -> Iterator[np.ndarray]:
        raw = np.frombuffer(read_bytes(), dtype=np.uint8)
        dt = np.dtype(np_dtype)
        base = raw[first:].view(dt) if (len(raw) - first) % dt.itemsize == 0 else \
            raw[first:len(raw) - (len(raw) - first) % dt.itemsize].view(dt)
        scale = 2 if t.dtype in ("C64", "C128") else 1   # complex: (re, im) pairs of floats
        shape = t.shape + ((2,) if scale == 2 else ())
        strides = tuple(s * dt.itemsize * scale for s in t.stride) + ((dt.itemsize,) if scale == 2 else ())
        arr = np.lib.stride_tricks.as_strided(base, shape, strides).reshape(-1).copy()
        yield convert(arr) if convert else arr
    return gen
