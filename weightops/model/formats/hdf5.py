"""Keras / HDF5 weights through `h5py` (the `h5` extra): `.h5`/`.hdf5` files and the
`model.weights.h5` inside a `.keras` zip. Every numeric dataset is a tensor named by its HDF5
path; values are read in slices along the first axis (bounded memory). An optimizer's state
(`optimizer/...`, `optimizer_weights/...`) is recorded as constants, not trained weights.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from weightops.errors import FormatError
from weightops.model.formats.base import (
    CHUNK_BYTES,
    CONSTANT,
    NUMPY_NAMES,
    WEIGHT,
    Tensor,
)


def _h5py():
    try:
        import h5py
    except ImportError:
        raise FormatError("reading HDF5/Keras weights needs h5py: pip install 'weightops[h5]'") from None
    return h5py


def read(path: Path) -> Iterator[Tensor]:
    """The tensors of an HDF5 weights file or a `.keras` zip, one per numeric dataset, named by HDF5
    path (prefixed `MEMBER.h5:` when the zip holds several); optimizer state has role `constant`.
    FormatError (5) when `h5py` is missing, the file is not readable HDF5, or a zip holds no `.h5`
    member."""
    h5py = _h5py()
    path = Path(path)
    if zipfile.is_zipfile(path):   # a .keras archive: config.json, metadata.json, model.weights.h5
        with zipfile.ZipFile(path) as z:
            members = [n for n in z.namelist() if n.endswith(".h5")]
        if not members:
            raise FormatError(f"'{path}' is a zip archive without HDF5 weights (not a .keras file)")
        for member in members:
            def opener(member: str = member):
                return h5py.File(zipfile.ZipFile(path).open(member), "r")
            yield from _datasets(path, opener, f"{member}:" if len(members) > 1 else "")
        return
    yield from _datasets(path, lambda: h5py.File(path, "r"), "")


def _datasets(path: Path, opener, prefix: str) -> Iterator[Tensor]:
    h5py = _h5py()
    found: list[tuple[str, np.dtype, tuple[int, ...]]] = []
    try:
        with opener() as f:
            def visit(name: str, obj) -> None:
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiubc":
                    found.append((name, obj.dtype, tuple(obj.shape)))
            f.visititems(visit)
    except OSError as exc:
        raise FormatError(f"'{path}' is not a readable HDF5 file ({exc})") from None
    for name, dtype, shape in sorted(found):
        role = CONSTANT if name.split("/", 1)[0] in ("optimizer", "optimizer_weights") else WEIGHT

        def gen(name: str = name, dtype: np.dtype = dtype, shape: tuple = shape) -> Iterator[np.ndarray]:
            with opener() as f:
                ds = f[name]
                if not shape:
                    yield np.asarray(ds[()]).reshape(-1)
                    return
                row = max(1, int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)
                step = max(1, CHUNK_BYTES // row)
                for i in range(0, shape[0], step):
                    part = np.asarray(ds[i:i + step]).reshape(-1)
                    yield part.view(np.float32).reshape(-1) if dtype.kind == "c" and dtype.itemsize == 8 else \
                        (part.view(np.float64).reshape(-1) if dtype.kind == "c" else part)
        label = NUMPY_NAMES.get(dtype.name, dtype.name.upper())
        yield Tensor(prefix + name, label, shape, gen if dtype.name in NUMPY_NAMES else None, role)
