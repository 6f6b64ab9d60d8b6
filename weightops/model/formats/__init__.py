"""Weight file formats, one module each; `read_tensors` picks the reader by file name.

Every reader yields `Tensor` records (base.py) in bounded memory and executes nothing from
the file. What each format's reader checks, and the library whose loader it agrees with:

| format | module | judged as |
| --- | --- | --- |
| safetensors | safetensors.py | the `safetensors` library's loader |
| .npy / .npz | npy.py | numpy's format helpers (object arrays refused) |
| PyTorch zip, legacy, TorchScript | pytorch.py + pickles.py | `torch.load(weights_only=True)` / `torch.jit.load` |
| sharded index + shards | sharded.py | transformers' index layout |
| ONNX | onnx.py | `onnx.load` |
| GGUF | gguf.py | the `gguf` package's reader |
| Keras / HDF5 | hdf5.py | h5py |
| TensorFlow .pb / SavedModel | recognised only: values not read (`UNREAD` below) |
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from weightops.errors import NotFoundError, UsageError
from weightops.model.formats import sharded
from weightops.model.formats.base import CHUNK_BYTES, CONSTANT, WEIGHT, Tensor  # noqa: F401 - re-exported

SUFFIXES = {
    ".safetensors": "safetensors", ".npz": "numpy", ".npy": "numpy",
    ".pt": "pytorch", ".pth": "pytorch", ".bin": "pytorch", ".ckpt": "pytorch", ".jit": "pytorch",
    ".ptl": "pytorch", ".torchscript": "pytorch",
    ".onnx": "onnx", ".gguf": "gguf", ".h5": "hdf5", ".hdf5": "hdf5", ".keras": "hdf5",
    ".pb": "tensorflow",
}
# Formats weightops recognises (card, guard, hashes) but whose values it does not read.
UNREAD = {
    "tensorflow": "TensorFlow graphs and SavedModels are recognised and hashed, but weightops does not "
                  "read their variables: no finite/zero/constant checks ran on them",
}


def weight_format(path: Path) -> str:
    """The format a file name announces; raises UsageError (exit 2) for anything else."""
    path = Path(path)
    if sharded.is_index(path):
        return "sharded"
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"'{path}' is not a weights format weightops reads (.safetensors, .npz, .npy, "
                         ".pt/.pth/.bin/.jit, .onnx, .gguf, .h5/.keras, a *.index.json shard index)")
    return fmt


def is_saved_model(path: Path) -> bool:
    """Is `path` a TensorFlow SavedModel folder (holding `saved_model.pb`)? Its values are not read."""
    return path.is_dir() and (path / "saved_model.pb").is_file()


def unread_reason(path: str | os.PathLike, name: str | None = None) -> str | None:
    """Why validate cannot check the values of this artifact (None when it can)."""
    path = Path(path)
    if is_saved_model(path):
        return UNREAD["tensorflow"]
    try:
        return UNREAD.get(weight_format(Path(name) if name else path)) if path.is_file() else None
    except UsageError:
        return None


def read_tensors(path: str | os.PathLike, name: str | None = None) -> Iterator[Tensor]:
    """Tensors of a weights file (or of every weights file in a directory), one at a time.
    `name` gives the format when `path` has no telling suffix (a DVC cache object).
    Raises NotFoundError (3), UsageError (2: not a format, damaged structure), RefusedError
    (5: a pickle naming code)."""
    path = Path(path)
    if path.is_dir():
        yield from _directory(path)
        return
    if not path.is_file():
        raise NotFoundError(f"weights file '{path}' does not exist")
    named = Path(name) if name else path
    fmt = weight_format(named)
    if fmt in ("onnx", "sharded"):   # ONNX: roles from the graph; sharded: from each shard's read
        yield from _read(path, named, fmt)
        return
    from weightops.model.formats.roles import name_role

    for t in _read(path, named, fmt):
        role = name_role(t.name, t.shape, t.dtype, t.role)
        yield t if role == t.role else t.renamed(t.name, role)


def _read(path: Path, named: Path, fmt: str) -> Iterator[Tensor]:
    if fmt == "safetensors":
        from weightops.model.formats import safetensors
        yield from safetensors.read(path)
    elif fmt == "numpy":
        from weightops.model.formats import npy
        yield from (npy.read_npy(path, named.stem) if named.suffix.lower() == ".npy" else npy.read_npz(path))
    elif fmt == "pytorch":
        from weightops.model.formats import pytorch
        yield from pytorch.read(path)
    elif fmt == "onnx":
        from weightops.model.formats import onnx
        yield from onnx.read(path)
    elif fmt == "gguf":
        from weightops.model.formats import gguf
        yield from gguf.read(path)
    elif fmt == "hdf5":
        from weightops.model.formats import hdf5
        yield from hdf5.read(path)
    elif fmt == "sharded":
        yield from sharded.read(path, read_tensors)
    # tensorflow: recognised, nothing to read (see UNREAD)


def _directory(path: Path) -> Iterator[Tensor]:
    if is_saved_model(path):
        return
    files = sorted(p for p in path.rglob("*") if p.is_file())
    covered: set[Path] = set()
    for f in files:
        if sharded.is_index(f):
            covered |= {(f.parent / s).resolve() for s in sharded.shard_files(f)}
    for f in files:
        if f.resolve() in covered:
            continue   # read through its index, which checks it
        try:
            weight_format(f)
        except UsageError:
            continue
        prefix = f.relative_to(path).as_posix() + ":"
        for t in read_tensors(f):
            yield t.renamed(prefix + t.name)
