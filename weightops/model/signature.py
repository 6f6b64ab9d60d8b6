"""Model signatures in MLflow's format: parse and validate, compare, infer from ONNX.

A signature is `{inputs: [...], outputs: [...], params: [...]}` where each spec is either
column-based `{type, name, required}` or tensor-based `{type: tensor, name, tensor-spec:
{dtype, shape}}` with -1 for a variable dimension. MLflow's MLmodel file stores `inputs` and
`outputs` as JSON strings; both spellings are accepted, so a team moving from MLflow keeps its
schemas. Parsing is pure; errors name the field (`inputs[1].tensor-spec.shape`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from weightops.errors import NotFoundError, UsageError

COLUMN_TYPES = {"boolean", "integer", "long", "float", "double", "string", "binary", "datetime",
                "array", "object", "map", "any"}
TENSOR_DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
                 "uint8", "uint16", "uint32", "uint64", "bool", "str", "bytes", "object"}


@dataclass(frozen=True)
class Spec:
    """One input or output: a column (`type` is a column type) or a tensor (`type` is its dtype)."""

    name: str | None
    kind: str                      # "column" or "tensor"
    type: str
    shape: tuple[int, ...] | None = None
    required: bool = True
    extra: tuple[tuple[str, object], ...] = ()   # array items, object properties...: kept verbatim

    def to_dict(self) -> dict:
        if self.kind == "tensor":
            d: dict = {"type": "tensor"}
            if self.name is not None:
                d["name"] = self.name
            d["tensor-spec"] = {"dtype": self.type, "shape": list(self.shape or ())}
            return d
        d = {"type": self.type}
        if self.name is not None:
            d["name"] = self.name
        d.update(dict(self.extra))
        d["required"] = self.required
        return d


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Spec, ...]
    outputs: tuple[Spec, ...] = ()
    params: tuple[dict, ...] | None = None

    def to_dict(self) -> dict:
        return {"inputs": [s.to_dict() for s in self.inputs],
                "outputs": [s.to_dict() for s in self.outputs],
                "params": list(self.params) if self.params is not None else None}


@dataclass(frozen=True)
class Change:
    """One difference between two signatures; `field` names it (`inputs.x.dtype`)."""

    field: str
    message: str
    breaking: bool

    def to_dict(self) -> dict:
        return {"field": self.field, "message": self.message, "breaking": self.breaking}


# ---------------------------------------------------------------- parse
def parse_signature(doc: object, what: str = "signature") -> Signature:
    if not isinstance(doc, dict):
        raise UsageError(f"{what} must be a mapping with 'inputs' (and 'outputs') in MLflow's format")
    unknown = set(doc) - {"inputs", "outputs", "params"}
    if unknown:
        raise UsageError(f"{what} has unknown key(s) {', '.join(sorted(map(str, unknown)))}; MLflow's format has inputs, outputs, params")
    if doc.get("inputs") is None:
        raise UsageError(f"{what} needs an 'inputs' list in MLflow's format")
    inputs = _specs(doc.get("inputs"), "inputs", what)
    outputs = _specs(doc.get("outputs"), "outputs", what) if doc.get("outputs") is not None else ()
    params = _json_list(doc.get("params"), "params", what) if doc.get("params") is not None else None
    for i, p in enumerate(params or []):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or "type" not in p:
            raise UsageError(f"{what} params[{i}] needs 'name' and 'type'")
    return Signature(inputs, outputs, tuple(params) if params is not None else None)


def _json_list(value: object, key: str, what: str) -> list:
    if isinstance(value, str):  # MLmodel stores the lists as JSON strings
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UsageError(f"{what} {key} is a string but not a JSON list") from None
    if not isinstance(value, list):
        raise UsageError(f"{what} {key} must be a list of specs")
    return value


def _specs(value: object, key: str, what: str) -> tuple[Spec, ...]:
    items = _json_list(value, key, what)
    specs = tuple(_spec(item, f"{key}[{i}]", what) for i, item in enumerate(items))
    kinds = {s.kind for s in specs}
    if len(kinds) > 1:
        raise UsageError(f"{what} {key} mixes column-based and tensor-based specs; MLflow allows one kind per list")
    named = [s.name is not None for s in specs]
    if any(named) and not all(named):
        raise UsageError(f"{what} {key}: either every spec has a name or none does")
    names = [s.name for s in specs if s.name is not None]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise UsageError(f"{what} {key}: name '{dup}' appears twice")
    if kinds == {"tensor"} and len(specs) > 1 and not all(named):
        raise UsageError(f"{what} {key}: several tensors need names")
    return specs


def _spec(item: object, where: str, what: str) -> Spec:
    if not isinstance(item, dict) or "type" not in item:
        raise UsageError(f"{what} {where} must be a mapping with a 'type'")
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise UsageError(f"{what} {where}.name must be a non-empty string")
    kind = item["type"]
    if kind == "tensor":
        ts = item.get("tensor-spec")
        if not isinstance(ts, dict):
            raise UsageError(f"{what} {where} is a tensor and needs 'tensor-spec: {{dtype, shape}}'")
        dtype = ts.get("dtype")
        if dtype not in TENSOR_DTYPES:
            raise UsageError(f"{what} {where}.tensor-spec.dtype {dtype!r} is not a numpy dtype name "
                             f"({', '.join(sorted(TENSOR_DTYPES))})")
        shape = ts.get("shape")
        if isinstance(shape, tuple):
            shape = list(shape)
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool)
                                                  and (d == -1 or d >= 0) for d in shape):
            raise UsageError(f"{what} {where}.tensor-spec.shape must be a list of sizes (-1 for a variable dimension)")
        return Spec(name, "tensor", dtype, tuple(shape))
    if kind not in COLUMN_TYPES:
        raise UsageError(f"{what} {where}.type {kind!r} is not 'tensor' or a column type "
                         f"({', '.join(sorted(COLUMN_TYPES))})")
    required = item.get("required", True)
    if not isinstance(required, bool):
        raise UsageError(f"{what} {where}.required must be true or false")
    extra = tuple((k, v) for k, v in item.items() if k not in ("type", "name", "required"))
    return Spec(name, "column", kind, None, required, extra)


def load_signature(path: str | os.PathLike) -> Signature:
    """A YAML or JSON file with inputs/outputs; an MLmodel file's `signature:` block also works."""
    from weightops.core.yamlio import safe_load

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"signature file '{path}' does not exist")
    text = path.read_text()
    try:
        doc = json.loads(text) if path.suffix == ".json" else safe_load(text, str(path))
    except (json.JSONDecodeError, ValueError):
        raise UsageError(f"signature file '{path}' is not valid JSON or YAML") from None
    if isinstance(doc, dict) and "inputs" not in doc and isinstance(doc.get("signature"), dict):
        doc = doc["signature"]  # an MLflow MLmodel file
    return parse_signature(doc, f"signature file '{path}'")


# ---------------------------------------------------------------- compare
def _keyed(specs: tuple[Spec, ...], side: str) -> dict[str, tuple[str, Spec]]:
    """Specs by name, or by position when unnamed; values carry the field label."""
    out = {}
    for i, s in enumerate(specs):
        key = s.name if s.name is not None else f"#{i}"
        out[key] = (f"{side}.{s.name}" if s.name is not None else f"{side}[{i}]", s)
    return out


def shape_change(old: tuple[int, ...], new: tuple[int, ...]) -> str | None:
    """Why a caller of `old` breaks with `new`, or None (a fixed size may become -1, not back)."""
    if len(old) != len(new):
        return f"rank {len(old)} -> {len(new)}"
    for i, (a, b) in enumerate(zip(old, new)):
        if a != b and b != -1:
            return f"dimension {i} {a} -> {b}"
    return None


def diff_signatures(old: Signature | None, new: Signature | None) -> list[Change]:
    """Changes from `old` to `new`; breaking ones are those that break an existing caller."""
    if old is None and new is None:
        return []
    if old is None:
        return [Change("signature", "signature added", False)]
    if new is None:
        return [Change("signature", "signature removed: callers can no longer be checked", True)]
    changes = _diff_side(old.inputs, new.inputs, "inputs")
    changes += _diff_side(old.outputs, new.outputs, "outputs")
    old_p = {p["name"]: p for p in old.params or ()}
    new_p = {p["name"]: p for p in new.params or ()}
    for name in old_p.keys() - new_p.keys():
        changes.append(Change(f"params.{name}", f"param '{name}' removed", True))
    for name in sorted(old_p.keys() & new_p.keys()):
        if old_p[name].get("type") != new_p[name].get("type"):
            changes.append(Change(f"params.{name}.type", f"param '{name}' type {old_p[name].get('type')} -> {new_p[name].get('type')}", True))
    for name in sorted(new_p.keys() - old_p.keys()):
        changes.append(Change(f"params.{name}", f"param '{name}' added", False))
    return changes


def _diff_side(old: tuple[Spec, ...], new: tuple[Spec, ...], side: str) -> list[Change]:
    changes: list[Change] = []
    a, b = _keyed(old, side), _keyed(new, side)
    removed = [k for k in a if k not in b]
    added = [k for k in b if k not in a]
    # A removed and an added spec at the same position read as a rename.
    pos_old = {k: i for i, k in enumerate(a)}
    pos_new = {k: i for i, k in enumerate(b)}
    renamed = {}
    for k in removed:
        match = next((n for n in added if pos_new[n] == pos_old[k] and n not in renamed.values()), None)
        if match is not None:
            renamed[k] = match
    for k in removed:
        label = a[k][0]
        if k in renamed:
            changes.append(Change(label, f"{label} renamed to '{renamed[k]}'", True))
        else:
            # Removing an output breaks consumers; removing an input breaks every caller sending it.
            changes.append(Change(label, f"{label} removed", True))
    for k in a:
        if k not in b:
            continue
        label, o = a[k]
        n = b[k][1]
        if o.kind != n.kind:
            changes.append(Change(label, f"{label} changed from {o.kind}-based to {n.kind}-based", True))
            continue
        if o.type != n.type:
            what = "dtype" if o.kind == "tensor" else "type"
            changes.append(Change(f"{label}.{what}", f"{label} {what} {o.type} -> {n.type}", True))
        if o.kind == "tensor":
            why = shape_change(o.shape or (), n.shape or ()) if side == "inputs" else \
                (None if o.shape == n.shape else f"{list(o.shape or ())} -> {list(n.shape or ())}")
            if why:
                changes.append(Change(f"{label}.shape", f"{label} shape {why}", True))
            elif o.shape != n.shape:
                changes.append(Change(f"{label}.shape", f"{label} shape {list(o.shape or ())} -> {list(n.shape or ())} (widened)", False))
        elif side == "inputs" and o.required != n.required:
            changes.append(Change(f"{label}.required", f"{label} required {o.required} -> {n.required}", not o.required and n.required))
    for k in added:
        if k in renamed.values():
            continue
        label, n = b[k]
        breaking = side == "inputs" and n.required
        note = " (required: existing callers do not send it)" if breaking else ""
        changes.append(Change(label, f"{label} added{note}", breaking))
    return changes


def breaking(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.breaking]


# ---------------------------------------------------------------- infer
def infer_signature(path: str | os.PathLike) -> Signature:
    """From an ONNX graph's inputs and outputs. Other formats hold weights, not a graph: the
    first and last tensors are not a signature, so this asks for a file instead of guessing."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"weights file '{path}' does not exist")
    if path.suffix.lower() != ".onnx":
        raise UsageError(f"'{path.name}' holds weights, not a graph: its inputs and outputs cannot be read from it; "
                         "write them in MLflow's format and pass `weightops card --signature FILE`")
    return graph_signature(path)


def graph_signature(path: Path) -> Signature:
    """The inputs (minus initializers) and outputs an ONNX graph declares."""
    try:
        import onnx
    except ImportError:
        raise UsageError("inferring a signature from ONNX needs onnx: pip install 'weightops[onnx]'") from None
    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}

    def spec(value) -> Spec:
        tt = value.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim)
        return Spec(value.name, "tensor", "str" if dtype == "object" else dtype, dims)

    return Signature(tuple(spec(v) for v in graph.input if v.name not in initializers),
                     tuple(spec(v) for v in graph.output))
