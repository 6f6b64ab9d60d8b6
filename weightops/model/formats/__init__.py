"""Weight file formats, one module each; `read_tensors` picks the reader by content, then name.

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
| TFLite | tflite.py | the flatbuffer schema (`tflite` package) |
| scikit-learn / joblib pickles | tabular.py + pickles.py | the allow-list pickle scanners use (picklescan, fickling) |
| skops | skops_files.py | `skops.io.get_untrusted_types` (nothing loaded) |
| XGBoost JSON/UBJSON, LightGBM text | boosted.py | each library's documented model format |
| TensorFlow .pb / SavedModel | recognised only: values not read (`UNREAD` below) |

The format is read from the file's first bytes (core/sniff.py, shared with `guard`) before its name.
"""

from __future__ import annotations

import importlib
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from weightops.core.sniff import READERS, sniff_file
from weightops.errors import FormatError, NotFoundError
from weightops.model.formats import sharded
from weightops.model.formats.base import CHUNK_BYTES, CONSTANT, WEIGHT, Tensor  # noqa: F401 - re-exported

SUFFIXES = {
    ".safetensors": "safetensors", ".npz": "numpy", ".npy": "numpy",
    ".pt": "pytorch", ".pth": "pytorch", ".bin": "pytorch", ".ckpt": "pytorch", ".jit": "pytorch",
    ".ptl": "pytorch", ".torchscript": "pytorch",
    ".onnx": "onnx", ".gguf": "gguf", ".h5": "hdf5", ".hdf5": "hdf5", ".keras": "hdf5",
    ".tflite": "tflite", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "pickle", ".skops": "skops",
    ".ubj": "xgboost",
    ".pb": "tensorflow",
}
KNOWN = (".safetensors, .npz, .npy, PyTorch (.pt/.pth/.bin/.ckpt/.jit, or any name holding a torch.save zip), "
         ".onnx, .gguf, .h5/.keras, .tflite, scikit-learn pickles (.pkl/.joblib), .skops, XGBoost (.json/.ubj), "
         "LightGBM (text), a *.index.json shard index")
# Formats that store a flat name -> tensor map: roles come from the names (roles.py). The
# others read roles from their structure (ONNX and TFLite operator inputs, tree tables) or from
# each file they point to (a shard index).
NAMED_ROLES = frozenset({"safetensors", "numpy", "pytorch", "gguf", "hdf5"})
# Formats weightops recognises (card, guard, hashes) but whose values it does not read.
UNREAD = {
    "tensorflow": "TensorFlow graphs and SavedModels are recognised and hashed, but weightops does not "
                  "read their variables: no finite/zero/constant checks ran on them",
}


def weight_format(path: str | os.PathLike, name: str | None = None) -> str:
    """The reader for a file: what its first bytes show (core/sniff.py), whatever its name (a
    `torch.save` zip named `.pth.tar`, a DVC cache object), else what its name (`name`, or
    `path`) announces. Two kinds of content defer to a known name: the ONNX guess (a SavedModel's
    `.pb` starts the same way) and a plain pickle (named `.pt`, torch's reader judges it as
    `torch.load` would). FormatError (5) for anything no reader reads."""
    path = Path(path)
    named = Path(name) if name else path
    if sharded.is_index(named):
        return "sharded"
    by_name = SUFFIXES.get(named.suffix.lower())
    shown = sniff_file(path) if path.is_file() else None
    by_content = READERS.get(shown) if shown else None
    fmt = by_name if by_name and by_content in (None, "onnx", "pickle") else by_content or by_name
    if fmt is None:
        raise FormatError(f"'{named}' is not a weights format weightops reads ({KNOWN})", path=str(named))
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
        return UNREAD.get(weight_format(path, name)) if path.is_file() else None
    except FormatError:
        return None


def read_tensors(path: str | os.PathLike, name: str | None = None) -> Iterator[Tensor]:
    """Tensors of a weights file (or of every weights file in a directory), one at a time.
    `name` is the file's name when `path` is a DVC cache object (the format comes from the
    content first, see `weight_format`). Raises NotFoundError (3), FormatError (5: not a format,
    damaged structure, a file its format's library refuses), RefusedError (5: a pickle naming code)."""
    path = Path(path)
    if path.is_dir():
        yield from _directory(path)
        return
    if not path.is_file():
        raise NotFoundError(f"weights file '{path}' does not exist")
    named = Path(name) if name else path
    fmt = weight_format(path, name)
    if fmt not in NAMED_ROLES:   # ONNX, TFLite: roles from the graph; sharded: from each shard's read
        yield from _read(path, named, fmt)
        return
    from weightops.model.formats.roles import name_role

    for t in _read(path, named, fmt):
        role = name_role(t.name, t.shape, t.dtype, t.role)
        yield t if role == t.role else t.renamed(t.name, role)


# format -> (module under weightops.model.formats, its reader); imported only when a file needs it.
_READ_WITH = {
    "safetensors": ("safetensors", "read"), "pytorch": ("pytorch", "read"), "onnx": ("onnx", "read"),
    "gguf": ("gguf", "read"), "hdf5": ("hdf5", "read"), "tflite": ("tflite", "read"),
    "pickle": ("tabular", "read_pickle"), "skops": ("skops_files", "read_skops"),
    "xgboost": ("boosted", "read_xgboost"), "lightgbm": ("boosted", "read_lightgbm"),
}


def _read(path: Path, named: Path, fmt: str) -> Iterator[Tensor]:
    if fmt == "numpy":
        from weightops.model.formats import npy
        yield from (npy.read_npz(path) if zipfile.is_zipfile(path) else npy.read_npy(path, named.stem))
    elif fmt == "sharded":
        yield from sharded.read(path, read_tensors)
    elif fmt in _READ_WITH:
        module, reader = _READ_WITH[fmt]
        yield from getattr(importlib.import_module(f"weightops.model.formats.{module}"), reader)(path)
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
        except FormatError:
            continue   # a config, a tokenizer, a README beside the weights
        prefix = f.relative_to(path).as_posix() + ":"
        for t in read_tensors(f):
            yield t.renamed(prefix + t.name)
