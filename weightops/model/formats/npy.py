""".npy / .npz: the `.npy` header is parsed with numpy's own format helpers and each member is
streamed out of the zip; object arrays (which need pickle to load) are refused.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from weightops.errors import FormatError, RefusedError
from weightops.model.formats.base import CHUNK_BYTES, NUMPY_NAMES, Tensor


def _npy_header(f, where: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    from numpy.lib import format as npf

    try:
        major, _ = npf.read_magic(f)
        shape, fortran, dtype = (npf.read_array_header_1_0 if major == 1 else npf.read_array_header_2_0)(f)
    except ValueError as exc:
        raise FormatError(f"{where} is not a .npy array ({exc})") from None
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
                    raise FormatError("numpy array is truncated")
                yield np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=True)
                left -= n
    return gen


def _np_tensor(name: str, dtype: np.dtype, shape: tuple[int, ...], opener: Callable) -> Tensor:
    label = NUMPY_NAMES.get(dtype.name, dtype.name)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    reader = _stream(opener, dtype, count) if dtype.name in NUMPY_NAMES else None
    # Fortran order only changes the element order, not mean/std/norm/NaN counts.
    return Tensor(name, label, shape, reader)


def read_npy(path: Path, name: str) -> Iterator[Tensor]:
    """The one tensor of a `.npy` file (numpy's format, numpy/lib/format.py), called `name`.
    FormatError (5) for a file that is not a .npy array or is truncated; RefusedError (5) for an
    object array (loading it would need pickle)."""
    with open(path, "rb") as f:
        dtype, shape, _ = _npy_header(f, f"'{path}'")
    yield _np_tensor(name, dtype, shape, lambda: open(path, "rb"))


def read_npz(path: Path) -> Iterator[Tensor]:
    """One tensor per `.npy` member of a `.npz` zip, named by the member without `.npy`, sorted.
    FormatError (5) for a file that is not a zip or a member that is not an array; RefusedError (5)
    for an object array."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise FormatError(f"'{path}' is not a .npz archive") from None
    with zf:
        members = [m for m in zf.namelist() if m.endswith(".npy")]
    for member in sorted(members):
        @contextmanager
        def opener(member: str = member) -> Iterator[BinaryIO]:
            try:
                z, f = None, None
                z = zipfile.ZipFile(path)
                f = z.open(member)
            except zipfile.BadZipFile as exc:   # the member's local header is damaged
                if z is not None:
                    z.close()
                raise FormatError(f"'{path}' member {member} is unreadable ({exc})") from None
            with z, f:
                yield f
        with opener() as f:
            dtype, shape, _ = _npy_header(f, f"'{path}' member {member}")
        yield _np_tensor(member[:-4], dtype, shape, opener)
