"""safetensors: the header is parsed and judged here by the rules of the `safetensors`
library's own loader (`SafeTensors::read_metadata` and `Metadata::validate` in its
src/tensor.rs), so weightops accepts and refuses exactly the files that loader does:

- 8-byte little-endian header length N, N <= 100,000,000, 8 + N within the file;
- the header is UTF-8 strict JSON (no NaN, no lone surrogates, nothing after the object but
  whitespace) holding an object; `__metadata__` is absent, null, or a map of strings to strings
  and appears once; a repeated tensor name keeps its last entry (serde's map semantics);
- each entry gives `dtype` (one of the format's dtypes), `shape` (unsigned integers) and
  `data_offsets` (two unsigned integers), as an object (extra fields ignored, none repeated)
  or as a 3-element array;
- sorted by offsets, each tensor starts where the previous one ended (no overlap, no gap),
  its byte length is its element count times the dtype's width (whole bytes for sub-byte
  dtypes), and the last one ends exactly at the end of the file.

Values are then streamed with `readinto` (see base.range_reader), never mapped.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

from weightops.errors import FormatError
from weightops.model.formats.base import BITS, Tensor, range_reader

MAX_HEADER = 100_000_000
USIZE = 2 ** 64


class _Dup(dict):
    """A JSON object that remembers repeated keys (json.loads keeps only the last)."""

    repeated: tuple[str, ...] = ()


def _pairs(pairs: list) -> _Dup:
    d = _Dup(pairs)
    if len(d) != len(pairs):
        seen: set = set()
        d.repeated = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return d


def _bad_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _usize(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < USIZE


def _entry(path: Path, name: str, info: object) -> tuple[str, list[int], tuple[int, int]]:
    bad = f"'{path}' is not a valid safetensors file: tensor '{name}'"
    if isinstance(info, list):
        if len(info) != 3:
            raise FormatError(f"{bad} has a header entry of {len(info)} values (3 expected)")
        dtype, shape, offsets = info
    elif isinstance(info, dict):
        if getattr(info, "repeated", ()):
            raise FormatError(f"{bad} repeats the field '{info.repeated[0]}'")
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
        if missing:
            raise FormatError(f"{bad} has no '{missing[0]}'")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    else:
        raise FormatError(f"{bad} has a header entry that is not an object")
    if dtype not in BITS:
        raise FormatError(f"{bad} has unknown dtype {dtype!r} (the format defines {', '.join(BITS)})")
    if not isinstance(shape, list) or not all(_usize(d) for d in shape):
        raise FormatError(f"{bad} has a shape that is not a list of unsigned integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_usize(o) for o in offsets)):
        raise FormatError(f"{bad} has data_offsets that are not two unsigned integers")
    return dtype, shape, (offsets[0], offsets[1])


def safetensors_header(path: Path) -> tuple[dict, int]:
    """Tensor name -> {dtype, shape, data_offsets}, and where the data section starts.
    Raises FormatError (exit 5) naming the first rule the file breaks."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise FormatError(f"'{path}' is not a safetensors file (shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_HEADER:
            raise FormatError(f"'{path}' is not a safetensors file (header of {n} bytes, over the format's 100 MB limit)")
        if 8 + n > size:
            raise FormatError(f"'{path}' is not a safetensors file (header length {n} runs past the end of the file)")
        text = f.read(n)
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_bad_constant)
    except UnicodeDecodeError:
        raise FormatError(f"'{path}' is not a safetensors file (header is not UTF-8)") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise FormatError(f"'{path}' is not a safetensors file (header is not JSON: {exc})") from None
    if not isinstance(header, dict):
        raise FormatError(f"'{path}' is not a safetensors file (header is not a JSON object)")
    if _has_surrogate(header):
        raise FormatError(f"'{path}' is not a safetensors file (header holds a lone UTF-16 surrogate escape)")
    if "__metadata__" in header.repeated:
        raise FormatError(f"'{path}' is not a valid safetensors file: '__metadata__' appears twice")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise FormatError(f"'{path}' is not a valid safetensors file: '__metadata__' must map strings to strings")
    entries = []
    for name, info in header.items():
        if name != "__metadata__":
            dtype, shape, offsets = _entry(path, name, info)
            entries.append((offsets, name, dtype, shape))
    entries.sort(key=lambda e: e[0])
    end = 0
    for (s, e), name, dtype, shape in entries:
        bad = f"'{path}' is not a valid safetensors file: tensor '{name}'"
        if s != end or e < s:
            what = "overlaps the previous tensor's bytes" if s < end else \
                ("leaves a gap before it" if s > end else "ends before it starts")
            raise FormatError(f"{bad} has invalid data_offsets [{s}, {e}]: it {what} "
                             "(tensors must cover the data section back to back)")
        end = e
        count = 1
        for d in shape:
            count *= d
        bits = count * BITS[dtype]
        if count >= USIZE or bits >= USIZE:
            raise FormatError(f"{bad} has a shape whose byte size overflows")
        if bits % 8:
            raise FormatError(f"{bad} ({dtype}, {count} values) does not end on a byte boundary")
        if e - s != bits // 8:
            raise FormatError(f"{bad} holds {e - s} bytes but its shape {shape} of {dtype} needs {bits // 8}")
    if 8 + n + end != size:
        raise FormatError(f"'{path}' is not a valid safetensors file: the tensors cover {end} bytes of a "
                         f"{size - 8 - n}-byte data section (the data must be covered exactly)")
    tensors = {name: {"dtype": dtype, "shape": shape, "data_offsets": [s, e]}
               for (s, e), name, dtype, shape in entries}
    if meta is not None:
        tensors["__metadata__"] = meta
    return tensors, 8 + n


def read(path: Path) -> Iterator[Tensor]:
    """The tensors of a safetensors file, sorted by name, each streaming its bytes; the header is
    judged as the module docstring says (https://github.com/huggingface/safetensors,
    safetensors/src/tensor.rs). FormatError (5) for a file the safetensors loader would refuse."""
    header, base = safetensors_header(path)
    for name in sorted(k for k in header if k != "__metadata__"):
        info = header[name]
        start, end = info["data_offsets"]
        yield Tensor(name, info["dtype"], tuple(info["shape"]),
                     range_reader(path, base + start, base + end, info["dtype"]))


def tensor_names(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (dtype, shape), header only (a shard of a sharded checkpoint)."""
    header, _ = safetensors_header(path)
    return {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items() if k != "__metadata__"}
