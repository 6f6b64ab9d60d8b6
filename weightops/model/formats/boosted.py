"""Gradient-boosted tree models, read for structure and values without importing their libraries.

- XGBoost (`Booster.save_model`): JSON, or UBJSON (`.ubj`, the default since 2.1) holding the
  same document (XGBoost's doc/tutorials/saving_model.rst and its JSON schema,
  doc/model.schema). Each tree of `learner.gradient_booster.model.trees` (or of the `gbtree`
  inside a `dart` booster) has per-node arrays of equal length (`tree_param.num_nodes`): child
  indices (-1 for a leaf) and the float fields `split_conditions`, `base_weights`,
  `loss_changes`, `sum_hessian`. UBJSON follows ubjson.org's Draft 12 (big-endian numbers,
  optimised `$type#count` containers), as XGBoost writes it.
- LightGBM (`Booster.save_model`, text): `key=value` lines, a header then `Tree=N` blocks with
  space-separated arrays (`split_feature`, `threshold`, `leaf_value`, `left_child`, ...;
  LightGBM's src/io/gbdt_model_text.cpp and tree.cpp `Tree::ToString`).

Tensors are one per field across all trees (`trees.split_conditions`, `Tree.leaf_value`),
role `tree`: their length follows the data, so a retrain reshapes them. A child index outside
its tree, or arrays whose lengths disagree with the node count, are refused as the libraries'
own loaders refuse them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from weightops.errors import FormatError
from weightops.model.formats.base import TREE, Tensor

XGB_FLOATS = ("split_conditions", "base_weights", "loss_changes", "sum_hessian")
LGB_FLOATS = ("split_gain", "threshold", "leaf_value", "leaf_weight", "internal_value", "internal_weight")
MAX_NESTING = 64


# ---------------------------------------------------------------- UBJSON (ubjson.org, Draft 12)
_NUM = {b"i": ">i1", b"U": ">u1", b"I": ">i2", b"l": ">i4", b"L": ">i8", b"d": ">f4", b"D": ">f8"}


class _UBJ:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise FormatError("truncated UBJSON")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def marker(self) -> bytes:
        m = self.take(1)
        while m == b"N":   # no-op
            m = self.take(1)
        return m

    def count(self) -> int:
        m = self.marker()
        if m not in _NUM or m in (b"d", b"D"):
            raise FormatError(f"UBJSON length of type {m!r}")
        n = int(np.frombuffer(self.take(np.dtype(_NUM[m]).itemsize), _NUM[m])[0])
        if n < 0:
            raise FormatError("negative UBJSON length")
        return n

    def value(self, m: bytes, depth: int = 0) -> object:
        if depth > MAX_NESTING:
            raise FormatError(f"UBJSON nested deeper than {MAX_NESTING} levels")
        if m in _NUM:
            dt = np.dtype(_NUM[m])
            return np.frombuffer(self.take(dt.itemsize), dt)[0].item()
        if m == b"Z":
            return None
        if m in (b"T", b"F"):
            return m == b"T"
        if m == b"C":
            return self.take(1).decode("latin1")
        if m in (b"S", b"H"):
            return self.take(self.count()).decode("utf-8", "replace")
        if m in (b"[", b"{"):
            return self.container(m == b"{", depth)
        raise FormatError(f"unknown UBJSON marker {m!r} at byte {self.pos - 1}")

    def container(self, is_object: bool, depth: int) -> object:
        typ, n = None, None
        if self.data[self.pos:self.pos + 1] == b"$":
            self.pos += 1
            typ = self.take(1)
            if self.take(1) != b"#":
                raise FormatError("UBJSON typed container without a count")
            n = self.count()
        elif self.data[self.pos:self.pos + 1] == b"#":
            self.pos += 1
            n = self.count()
        if not is_object and typ in _NUM:   # a typed numeric array: read in one piece
            dt = np.dtype(_NUM[typ])
            return np.frombuffer(self.take(n * dt.itemsize), dt).astype(dt.newbyteorder("="))
        out: dict | list = {} if is_object else []
        i = 0
        while n is None or i < n:
            if n is None:
                m = self.marker()
                if m == (b"}" if is_object else b"]"):
                    break
            else:
                m = None
            if is_object:
                key = self.take(self.count()).decode("utf-8", "replace") if m is None else \
                    self.take(self.value(m) if m in _NUM else 0).decode("utf-8", "replace")
                out[key] = self.value(typ or self.marker(), depth + 1)
            else:
                out.append(self.value(typ or m or self.marker(), depth + 1))
            i += 1
        return out


def ubjson(data: bytes) -> object:
    """The document a UBJSON byte string holds (typed numeric arrays as numpy arrays)."""
    r = _UBJ(data)
    return r.value(r.marker())


# ---------------------------------------------------------------- XGBoost
def read_xgboost(path: Path) -> Iterator[Tensor]:
    """A saved XGBoost model (JSON or UBJSON, by its first byte): per float node field, one tensor
    over all trees; `learner_model_param.base_score` too. FormatError (5) for a file that does
    not parse or trees whose arrays disagree."""
    path = Path(path)
    data = path.read_bytes()
    try:
        doc = json.loads(data) if data[:2] == b'{"' else ubjson(data)
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise FormatError(f"'{path}' is not a readable XGBoost model ({exc})") from None
    except FormatError as exc:
        raise FormatError(f"'{path}' is not a readable XGBoost model ({exc.message})") from None
    try:
        learner = doc["learner"]
        booster = learner["gradient_booster"]
        model = booster["gbtree"]["model"] if booster.get("name") == "dart" else booster["model"]
        trees = model["trees"]
    except (KeyError, TypeError):
        raise FormatError(f"'{path}' is not an XGBoost model (no learner.gradient_booster.model.trees)") from None
    fields: dict[str, list[np.ndarray]] = {f: [] for f in XGB_FLOATS}
    for i, tree in enumerate(trees):
        try:
            n = int(tree["tree_param"]["num_nodes"])
            left, right = np.asarray(tree["left_children"]), np.asarray(tree["right_children"])
            arrays = {f: np.asarray(tree[f], dtype=np.float64) for f in XGB_FLOATS}
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"'{path}': tree {i} lacks the node arrays XGBoost writes") from None
        for name, a in (("left_children", left), ("right_children", right), *arrays.items()):
            if a.shape != (n,):
                raise FormatError(f"'{path}': tree {i} has {a.size} {name} for {n} nodes")
        if ((left < -1) | (left >= n) | (right < -1) | (right >= n)).any():
            raise FormatError(f"'{path}': tree {i} has a child index outside its {n} nodes")
        for f, a in arrays.items():
            fields[f].append(a)
    for f, parts in fields.items():
        flat = np.concatenate(parts) if parts else np.zeros(0)
        yield _tensor(f"trees.{f}", flat, TREE)
    base = str((learner.get("learner_model_param") or {}).get("base_score", "")).strip("[]")
    if base:
        try:
            values = np.array([float(v) for v in base.split(",")], dtype=np.float64)
        except ValueError:
            raise FormatError(f"'{path}': base_score {base!r} is not a number") from None
        yield _tensor("learner_model_param.base_score", values, "weight")


# ---------------------------------------------------------------- LightGBM
def read_lightgbm(path: Path) -> Iterator[Tensor]:
    """A LightGBM text model: per float field of its trees, one tensor over all trees.
    FormatError (5) for a file that is not one, or trees whose arrays disagree."""
    path = Path(path)
    fields: dict[str, list[np.ndarray]] = {f: [] for f in LGB_FLOATS}
    tree: dict[str, str] | None = None
    count = 0

    def close(t: dict[str, str] | None) -> None:
        if t is None:
            return
        try:
            leaves = int(t["num_leaves"])
        except (KeyError, ValueError):
            raise FormatError(f"'{path}': Tree={count - 1} has no num_leaves") from None
        want = {"leaf_value": leaves, "split_gain": leaves - 1, "threshold": leaves - 1,
                "internal_value": leaves - 1, "leaf_weight": leaves, "internal_weight": leaves - 1}
        for f in LGB_FLOATS:
            if f not in t:
                continue
            try:
                a = np.array(t[f].split(), dtype=np.float64) if t[f] else np.zeros(0)
            except ValueError:
                raise FormatError(f"'{path}': Tree={count - 1} {f} is not a list of numbers") from None
            if leaves > 1 and a.size != want[f]:
                raise FormatError(f"'{path}': Tree={count - 1} has {a.size} {f} values for {leaves} leaves")
            fields[f].append(a)
        for side in ("left_child", "right_child"):
            kids = np.array(t.get(side, "").split(), dtype=np.int64) if t.get(side) else np.zeros(0, np.int64)
            if ((kids >= leaves - 1) | (kids < -leaves)).any():
                raise FormatError(f"'{path}': Tree={count - 1} has a {side} outside its {leaves} leaves")

    with open(path, encoding="utf-8", errors="replace") as f:
        if f.readline().strip() != "tree":
            raise FormatError(f"'{path}' is not a LightGBM text model (its first line is not 'tree')")
        for line in f:
            line = line.strip()
            if line == "end of trees":
                break
            key, _, value = line.partition("=")
            if key == "Tree":
                close(tree)
                tree, count = {}, count + 1
            elif tree is not None and key:
                tree[key] = value
        else:
            raise FormatError(f"'{path}' is truncated (no 'end of trees' line)")
    close(tree)
    if not count:
        raise FormatError(f"'{path}' holds no trees")
    for f_, parts in fields.items():
        if parts:
            yield _tensor(f"trees.{f_}", np.concatenate(parts), TREE)


def _tensor(name: str, values: np.ndarray, role: str) -> Tensor:
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    return Tensor(name, "F64", (flat.size,), lambda: iter((flat,)), role)
