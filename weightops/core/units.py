"""Sizes in bytes, written and read the way people write them (binary units)."""

from __future__ import annotations

import re

from weightops.errors import UsageError

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_size(n: int | float | None, missing: str = "-") -> str:
    """`12 B`, `3.4 MiB`, `1.2 TiB` (powers of 1024); `missing` for None."""
    if n is None:
        return missing
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(n)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def parse_size(text: str | int) -> int:
    """`5MB`, `512k`, `1.5 GiB` or a number of bytes -> bytes (k/M/G/T are powers of 1024).
    UsageError (2) for anything else."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", str(text).lower())
    if not m:
        raise UsageError(f"'{text}' is not a size; write it like 5MB, 512KB or 1048576")
    scale = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}[m[2]]
    return int(float(m[1]) * scale)
