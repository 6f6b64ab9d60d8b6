"""Writers for weight files of several formats, torch-free and streaming (tensor data is
written block by block, so files of gigabytes take little memory). Used by the memory tests
and by benchmarks/validate_throughput.py. Each takes {name: (shape, blocks)} where `blocks()`
yields float32 arrays covering the tensor in order."""

from __future__ import annotations

import collections
import pickle
import struct
import sys
import types
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

Blocks = Callable[[], Iterator[np.ndarray]]
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C


def _fake_torch():
    """Stand-ins named like torch's, so pickle writes the globals torch.save writes."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called: the file is only written")

    class FloatStorage:
        pass
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    utils._rebuild_tensor_v2, torch.FloatStorage, torch._utils = _rebuild_tensor_v2, FloatStorage, utils
    return torch, utils


def _state_dict_pickle(tensors: dict[str, tuple], legacy: bool) -> bytes:
    torch, utils = _fake_torch()

    class Storage:
        def __init__(self, key: str, numel: int) -> None:
            self.key, self.numel = key, numel

    class Tensor:
        def __init__(self, key: str, shape: tuple) -> None:
            self.storage, self.shape = Storage(key, int(np.prod(shape))), tuple(shape)

        def __reduce__(self):
            stride = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
            return (utils._rebuild_tensor_v2, (self.storage, 0, self.shape, stride, False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel) + ((None,) if legacy else ())
            return None

    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        sd = collections.OrderedDict((name, Tensor(str(i), shape)) for i, (name, (shape, _)) in enumerate(tensors.items()))
        import io
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(sd)
        return buf.getvalue()
    finally:
        for k, v in saved.items():
            sys.modules.pop(k, None) if v is None else sys.modules.__setitem__(k, v)


def torch_zip(path: Path, tensors: dict[str, tuple], byteorder: str | None = None) -> None:
    """The layout torch.save writes: archive/data.pkl, archive/data/<key>, archive/version. With
    `byteorder` ("little" or "big"), the `archive/byteorder` record torch >= 2.1 writes
    (`sys.byteorder` of the saving machine), each storage's elements in that order."""
    order = ">f4" if byteorder == "big" else "<f4"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", _state_dict_pickle(tensors, legacy=False))
        if byteorder:
            zf.writestr("archive/byteorder", byteorder)
        for i, (_, (_, blocks)) in enumerate(tensors.items()):
            with zf.open(f"archive/data/{i}", "w", force_zip64=True) as f:
                for b in blocks():
                    f.write(np.ascontiguousarray(b, dtype=order).tobytes())
        zf.writestr("archive/version", "3\n")


def torch_legacy(path: Path, tensors: dict[str, tuple], sparse: bool = False) -> None:
    """torch.save(..., _use_new_zipfile_serialization=False): five pickles, then per storage
    an 8-byte element count and its bytes. `sparse`: only the first block of each storage is
    written, the rest left as a hole (a 2 GB file in a second, little disk)."""
    with open(path, "wb") as f:
        f.writelines(pickle.dumps(value, protocol=2) for value in (MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True,
                                           "type_sizes": {"short": 2, "int": 4, "long": 4}}))
        f.write(_state_dict_pickle(tensors, legacy=True))
        f.write(pickle.dumps([str(i) for i in range(len(tensors))], protocol=2))
        for shape, blocks in tensors.values():
            numel = int(np.prod(shape))
            f.write(struct.pack("<q", numel))
            end = f.tell() + numel * 4
            for b in blocks():
                f.write(np.ascontiguousarray(b, dtype="<f4").tobytes())
                if sparse:
                    break
            f.truncate(max(end, f.tell())) if sparse else None
            f.seek(end)


def gguf_file(path: Path, tensors: dict[str, tuple], sparse: bool = False) -> None:
    """A GGUF file of F32 tensors, data streamed after the header the `gguf` writer lays out."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    for name, (shape, _) in tensors.items():
        w.add_tensor_info(name, tuple(shape), np.dtype(np.float32), int(np.prod(shape)) * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.fout[0].flush() if isinstance(w.fout, list) else w.fout.flush()
    f = w.fout[0] if isinstance(w.fout, list) else w.fout
    for shape, blocks in tensors.values():
        pad = -f.tell() % w.data_alignment
        f.write(b"\0" * pad)
        end = f.tell() + int(np.prod(shape)) * 4
        for b in blocks():
            f.write(np.ascontiguousarray(b, dtype="<f4").tobytes())
            if sparse:
                break
        if sparse:
            f.truncate(end)
            f.seek(end)
    f.write(b"\0" * (-f.tell() % w.data_alignment))
    f.close()
