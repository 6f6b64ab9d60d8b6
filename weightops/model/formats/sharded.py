"""Sharded checkpoints: `model.safetensors.index.json` / `pytorch_model.bin.index.json`
(the layout transformers and huggingface_hub write) beside their shard files.

The index is checked against the shards before any value is read: every tensor is mapped
exactly once, every mapped shard exists inside the checkpoint's folder and holds the tensor
mapped to it, no shard holds a tensor the index leaves unmapped, and `metadata.total_size`
(when present) equals the bytes of all the tensors. Tensors are then read from the shards.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from weightops.errors import FormatError
from weightops.model.formats.base import BITS, Tensor

INDEX_SUFFIX = ".index.json"
_EXTRA_BITS = {"C128": 128, "C32": 32, "F4_X2": 8}


def is_index(path: Path) -> bool:
    """Does the file name end in `.index.json` (a shard index such as
    `model.safetensors.index.json`)?"""
    return path.name.lower().endswith(INDEX_SUFFIX)


def _no_duplicates(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise FormatError(f"the index maps '{dup}' more than once")
    return d


def load_index(path: Path) -> tuple[dict[str, str], int | None]:
    """(tensor -> shard file name, total_size or None). Raises FormatError (exit 5)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
    except FormatError as exc:
        raise FormatError(f"'{path}': {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"'{path}' is not a JSON shard index ({exc})") from None
    wmap = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(wmap, dict) or not all(isinstance(v, str) for v in wmap.values()):
        raise FormatError(f"'{path}' has no weight_map of tensor names to shard files")
    total = (doc.get("metadata") or {}).get("total_size") if isinstance(doc.get("metadata"), dict) else None
    if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 0):
        raise FormatError(f"'{path}': metadata.total_size is not a byte count")
    root = path.parent.resolve()
    for shard in set(wmap.values()):
        full = (path.parent / shard).resolve()
        if not full.is_relative_to(root) or Path(shard).is_absolute():
            raise FormatError(f"'{path}' maps tensors to '{shard}', outside the checkpoint's folder; refused")
    return wmap, total


def read(path: Path, read_file: Callable[[Path], Iterator[Tensor]]) -> Iterator[Tensor]:
    """Check the index against its shards, then yield the shards' tensors (names unprefixed) in name
    order; `read_file` reads one shard. FormatError (5) for a malformed index, a missing shard, a
    tensor mapped to a shard that does not hold it, a shard tensor the index does not map to it, or
    a `metadata.total_size` that disagrees with the tensors' bytes."""
    path = Path(path)
    wmap, total = load_index(path)
    by_shard: dict[str, set[str]] = {}
    for tensor, shard in wmap.items():
        by_shard.setdefault(shard, set()).add(tensor)
    shards: dict[str, list[Tensor]] = {}
    for shard in sorted(by_shard):
        file = path.parent / shard
        if not file.is_file():
            raise FormatError(f"'{path}' maps {len(by_shard[shard])} tensor(s) to '{shard}', which does not exist")
        shards[shard] = list(read_file(file))
    held_by: dict[str, str] = {}
    for shard, tensors in shards.items():
        missing = sorted(by_shard[shard] - {t.name for t in tensors})
        if missing:
            raise FormatError(f"'{path}' maps tensor '{missing[0]}' to '{shard}', which does not hold it")
    for shard, tensors in shards.items():
        names = {t.name for t in tensors}
        for name in sorted(names - by_shard[shard]):
            where = f"mapped to '{wmap[name]}'" if name in wmap else "not in the index"
            raise FormatError(f"'{shard}' holds tensor '{name}', {where}: the index {path.name} does not match its shards")
        for name in names:
            held_by[name] = shard
    if total is not None:
        nbytes = sum(t.size * BITS.get(t.dtype, _EXTRA_BITS.get(t.dtype, 8)) // 8
                     for ts in shards.values() for t in ts)
        if nbytes != total and not any(t.dtype not in BITS and t.dtype not in _EXTRA_BITS for ts in shards.values() for t in ts):
            raise FormatError(f"'{path}': metadata.total_size is {total} bytes but the shards' tensors hold {nbytes}")
    by_name = {t.name: t for ts in shards.values() for t in ts}
    for name in sorted(held_by):
        yield by_name[name]


def shard_files(path: Path) -> set[str]:
    """The shard file names an index refers to (skipped when walking a directory)."""
    wmap, _ = load_index(path)
    return set(wmap.values())
