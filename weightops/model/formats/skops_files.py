"""skops files (`skops.io.dump`): a zip of `schema.json` and `.npy` arrays, judged by skops' own
trusted-type check and read as numpy's format, with no pickle involved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from weightops.errors import FormatError, RefusedError
from weightops.model.formats.base import Tensor
from weightops.model.formats.tabular import MAX_NESTING, array_tensor, walk_arrays


def read_skops(path: Path) -> Iterator[Tensor]:
    """A skops file (`skops.io.dump`: a zip of `schema.json` and `.npy` arrays), judged by skops'
    own trusted-type check (`skops.io.get_untrusted_types`, which reads the schema and loads
    nothing): RefusedError (5) naming the types `skops.io.load` would not trust by default.
    Then its arrays, read as numpy's format (no pickle), named by their attribute path in the
    schema. FormatError (5) for a file skops cannot read; FormatError when skops is missing."""
    import json
    import zipfile

    path = Path(path)
    try:
        from skops.io import get_untrusted_types
    except ImportError:
        raise FormatError("reading skops files needs skops: pip install skops") from None
    try:
        untrusted = get_untrusted_types(file=path)
        with zipfile.ZipFile(path) as zf:
            schema = json.loads(zf.read("schema.json"))
            arrays = list(_skops_arrays(schema, ""))
            out = []
            for name, member in arrays:
                with zf.open(member) as f:
                    out.append((name, np.lib.format.read_array(f, allow_pickle=False)))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise FormatError(f"'{path}' is not a readable skops file ({type(exc).__name__}: {exc})") from None
    if untrusted:
        raise RefusedError(f"'{path}' holds types skops does not trust by default ({', '.join(untrusted[:5])}): "
                           "skops.io.load would refuse them; refused without loading")
    for name, arr in out:
        for sub, a in walk_arrays(arr, name, 0):
            yield array_tensor(sub, a)


def _skops_arrays(node: object, prefix: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    if depth > MAX_NESTING:
        raise FormatError(f"skops schema nested deeper than {MAX_NESTING} levels")
    join = (lambda k: f"{prefix}.{k}" if prefix else str(k))
    if isinstance(node, dict):
        if node.get("__loader__") == "NdArrayNode" and node.get("type") == "numpy" and isinstance(node.get("file"), str):
            yield prefix or "array", node["file"]
            return
        for k, v in node.items():
            if k == "content":
                yield from _skops_arrays(v, prefix, depth + 1)
            elif not k.startswith("__") and isinstance(v, (dict, list)):
                yield from _skops_arrays(v, join(k), depth + 1)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _skops_arrays(v, join(i), depth + 1)
