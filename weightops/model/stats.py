"""One streamed pass per tensor: `TensorStats` (counts of NaN/Inf/zeros, mean, std, L2 norm,
min, max) computed chunk by chunk in bounded memory, for the checks in checks.py.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from weightops.model.formats import Tensor, read_tensors
from weightops.model.formats.base import FLOAT_DTYPES, WEIGHT

EPS = 1e-12


@dataclass(frozen=True)
class TensorStats:
    """One tensor's figures from one streamed pass: name, dtype code (`F32`, `BF16`, ...), shape,
    element `count`; NaN/Inf/zero counts; mean, std, L2 norm, min and max over the finite values.
    `decoded` is False for a dtype whose values are not read (then only shape and count are known);
    `role` is `weight` or `constant`."""
    name: str
    dtype: str
    shape: tuple[int, ...]
    count: int
    decoded: bool = True      # False when the dtype is not decoded (F4, Q4_K): values unchecked
    nan: int = 0
    inf: int = 0
    zeros: int = 0
    mean: float = 0.0
    std: float = 0.0
    l2: float = 0.0
    min: float = 0.0
    max: float = 0.0
    role: str = WEIGHT        # or "constant": stored beside the weights (masks, initial states)

    @property
    def is_float(self) -> bool:
        """Is the dtype a floating-point one (the value checks apply only to those)?"""
        return self.dtype in FLOAT_DTYPES

    @property
    def rms(self) -> float:
        """Root mean square of the finite values (L2 / sqrt(count)); 0 for an empty tensor."""
        return self.l2 / math.sqrt(self.count) if self.count else 0.0


def tensor_stats(t: Tensor) -> TensorStats:
    """One pass over the chunks: counts, and mean/variance merged chunk by chunk (Chan et al.)."""
    n = nan = inf = zeros = 0
    finite_n, mean, m2, sq = 0, 0.0, 0.0, 0.0
    lo, hi = math.inf, -math.inf
    if t._chunks is None:
        return TensorStats(t.name, t.dtype, t.shape, t.size, decoded=False, role=t.role)
    for chunk in t.chunks():
        n += chunk.size
        c = chunk.view(np.uint8) if chunk.dtype == np.bool_ else chunk
        # Reductions accumulate in float64 without a float64 copy of the chunk (page faults
        # on a fresh 32 MB array cost more than the arithmetic). Not float32 through BLAS: its
        # rounding (1e-7 of the sum of squares) turns into a std error of 3e-4 of the mean
        # for a tensor near one value (a norm scale).
        s = float(c.sum(dtype=np.float64))
        if not math.isfinite(s):
            ok = np.isfinite(c)
            bad_nan = int(np.isnan(c).sum())
            nan += bad_nan
            inf += int(c.size - ok.sum()) - bad_nan
            c = c[ok]
            s = float(c.sum(dtype=np.float64))
        if c.size == 0:
            continue
        zeros += int(c.size - np.count_nonzero(c))
        csq = float(np.einsum("i,i->", c, c, dtype=np.float64))
        cm = s / c.size
        cm2 = max(csq - s * cm, 0.0)
        total = finite_n + c.size
        delta = cm - mean
        m2 += cm2 + delta * delta * finite_n * c.size / total
        mean += delta * c.size / total
        finite_n = total
        sq += csq
        lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
    return TensorStats(t.name, t.dtype, t.shape, n, True, nan, inf, zeros, mean,
                       math.sqrt(m2 / finite_n) if finite_n else 0.0, math.sqrt(sq),
                       lo if finite_n else 0.0, hi if finite_n else 0.0, t.role)


def collect_stats(path: str | os.PathLike, name: str | None = None) -> dict[str, TensorStats]:
    """Stats of every tensor; `name` tells the format of a suffix-less file (a DVC object).
    FormatError (5) for an unreadable or unknown format, RefusedError (5) for an unsafe pickle or
    object array, as the format readers raise."""
    return {t.name: tensor_stats(t) for t in read_tensors(path, name)}
