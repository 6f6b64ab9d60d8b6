"""Model signatures in MLflow's format: parse and validate, compare (inferring one from an ONNX
graph is model/signature_infer.py, which reads the graph through formats/onnx.py).

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
from weightops.model import mlflow_schema as rules


@dataclass(frozen=True)
class Spec:
    """One input or output: a column (`type` is a column type) or a tensor (`type` is its dtype)."""

    name: str | int | None         # MLflow writes integer column names for an array's columns
    kind: str                      # "column", "tensor", or "other" (a non-tensor ONNX graph value)
    type: str                      # column type, numpy dtype name, or the ONNX type's description
    shape: tuple[int, ...] | None = None   # tensors: -1 a variable dimension, None an unknown rank
    required: bool = True
    extra: tuple[tuple[str, object], ...] = ()   # array items, map values, object properties: verbatim

    def describe(self) -> str:
        """The type in one line: `float32`, `array<double>`, `map<string, long>`."""
        return _describe({"type": self.type, **dict(self.extra)})

    def to_dict(self) -> dict:
        """The spec in MLflow's JSON layout (`{type: tensor, tensor-spec: {dtype, shape}}` or a
        ColSpec with `required`), as mlflow/types/schema.py writes it."""
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
    """A model signature in MLflow's schema (mlflow/models/signature.py `ModelSignature`): input and
    output Specs, and params (ParamSpec dicts) or None when not declared."""
    inputs: tuple[Spec, ...]
    outputs: tuple[Spec, ...] = ()
    params: tuple[dict, ...] | None = None

    def to_dict(self) -> dict:
        """MLflow's layout; a list the signature does not declare is left out (MLflow reads an
        empty list as "not declared" but refuses an empty JSON list)."""
        d: dict = {}
        if self.inputs:
            d["inputs"] = [s.to_dict() for s in self.inputs]
        if self.outputs:
            d["outputs"] = [s.to_dict() for s in self.outputs]
        d["params"] = [dict(p) for p in self.params] if self.params is not None else None
        return d


@dataclass(frozen=True)
class Change:
    """One difference between two signatures; `field` names it (`inputs.x.dtype`)."""

    field: str
    message: str
    breaking: bool

    def to_dict(self) -> dict:
        """The change as JSON: field, message, breaking."""
        return {"field": self.field, "message": self.message, "breaking": self.breaking}


# ---------------------------------------------------------------- parse
def parse_signature(doc: object, what: str = "signature") -> Signature:
    """A signature mapping (YAML/JSON, or an MLmodel's `signature:` block whose lists are JSON
    strings) checked with MLflow's rules (`ModelSignature.from_dict`): what MLflow reads is
    accepted, what it refuses is refused, except the stricter cases the README names.
    Raises UsageError (exit 2) naming the field (`inputs[1].tensor-spec.shape`)."""
    if not isinstance(doc, dict):
        raise UsageError(f"{what} must be a mapping with 'inputs' and/or 'outputs' in MLflow's format")
    unknown = set(doc) - {"inputs", "outputs", "params"}
    if unknown:
        raise UsageError(f"{what} has unknown key(s) {', '.join(sorted(map(str, unknown)))}; MLflow's format has inputs, outputs, params")
    # As in MLflow, an empty or missing list means "not declared"; one of the three is needed.
    inputs = _specs(doc["inputs"], "inputs", what) if doc.get("inputs") else ()
    outputs = _specs(doc["outputs"], "outputs", what) if doc.get("outputs") else ()
    params = None
    if doc.get("params"):
        items = _json_list(doc["params"], "params", what)
        params = tuple(rules.param_spec(p, f"{what} params[{i}]") for i, p in enumerate(items))
        names = [p["name"] for p in params]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise UsageError(f"{what} params: '{dup}' appears twice")
    if not inputs and not outputs and not params:
        raise UsageError(f"{what} declares none of inputs, outputs, params; MLflow needs at least one")
    return Signature(inputs, outputs, params)


def _json_list(value: object, key: str, what: str) -> list:
    if isinstance(value, str):  # MLmodel stores the lists as JSON strings
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UsageError(f"{what} {key} is a string but not a JSON list") from None
    if not isinstance(value, list):
        raise UsageError(f"{what} {key} must be a list of specs")
    if not value:
        raise UsageError(f"{what} {key} is an empty list; MLflow refuses an empty schema (leave it out instead)")
    return value


def _specs(value: object, key: str, what: str) -> tuple[Spec, ...]:
    items = _json_list(value, key, what)
    specs = tuple(_spec(item, f"{what} {key}[{i}]") for i, item in enumerate(items))
    if len({s.kind for s in specs}) > 1:
        raise UsageError(f"{what} {key} mixes column-based and tensor-based specs; MLflow allows one kind per list")
    named = [s.name is not None for s in specs]
    if any(named) and not all(named):
        raise UsageError(f"{what} {key}: either every spec has a name or none does")
    if specs[0].kind == "tensor" and len(specs) > 1 and not all(named):
        raise UsageError(f"{what} {key}: several tensors need names")
    if not any(named) and not all(s.required for s in specs):
        raise UsageError(f"{what} {key}: an optional column needs a name (MLflow refuses unnamed optional columns)")
    names = [s.name for s in specs if s.name is not None]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:  # MLflow keeps both; weightops could not tell which one a change is about
        raise UsageError(f"{what} {key}: name {dup!r} appears twice")
    return specs


def _spec(item: object, where: str) -> Spec:
    if not isinstance(item, dict) or "type" not in item:
        raise UsageError(f"{where} must be a mapping with a 'type'")
    name = item.get("name")
    # MLflow keeps any name; a DataFrame built from an array has integer column names (0, 1, ...).
    if name is not None and (isinstance(name, bool) or not isinstance(name, (str, int))):
        raise UsageError(f"{where}.name must be a string or an integer")
    if item["type"] == "tensor":
        ts = item.get("tensor-spec")
        if not isinstance(ts, dict) or "dtype" not in ts or "shape" not in ts:
            raise UsageError(f"{where} is a tensor and needs 'tensor-spec: {{dtype, shape}}'")
        return Spec(name, "tensor", rules.tensor_dtype(ts["dtype"], f"{where}.tensor-spec.dtype"),
                    rules.tensor_shape(ts["shape"], f"{where}.tensor-spec.shape"))
    kind, extra = rules.column_type(item, where)
    required = item.get("required", True)
    if not isinstance(required, bool):
        raise UsageError(f"{where}.required must be true or false")
    return Spec(name, "column", kind, None, required, extra)


def load_signature(path: str | os.PathLike) -> Signature:
    """A YAML or JSON file with inputs/outputs in MLflow's layout; an MLmodel file's `signature:`
    block also works. NotFoundError (3) when the file is missing; UsageError (2) when it does not
    parse or is not a signature MLflow accepts (see `parse_signature`)."""
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
    for name in sorted(old_p.keys() - new_p.keys()):
        # MLflow ignores a param the signature no longer declares: callers' values stop mattering.
        changes.append(Change(f"params.{name}", f"param '{name}' removed", True))
    for name in sorted(old_p.keys() & new_p.keys()):
        for suffix, message, is_breaking in rules.param_change(old_p[name], new_p[name]):
            changes.append(Change(f"params.{name}.{suffix}", message, is_breaking))
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
        if o.type != n.type or o.extra != n.extra:
            what = "dtype" if o.kind == "tensor" else "type"
            changes.append(Change(f"{label}.{what}", f"{label} {what} {o.describe()} -> {n.describe()}", True))
        if o.kind == "tensor" and o.shape is not None and n.shape is not None:
            # An unknown rank (shape None, an ONNX input without a shape) constrains nothing.
            why = shape_change(o.shape, n.shape) if side == "inputs" else \
                (None if o.shape == n.shape else f"{list(o.shape)} -> {list(n.shape)}")
            if why:
                changes.append(Change(f"{label}.shape", f"{label} shape {why}", True))
            elif o.shape != n.shape:
                changes.append(Change(f"{label}.shape", f"{label} shape {list(o.shape)} -> {list(n.shape)} (widened)", False))
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


def _describe(t: dict) -> str:
    if t.get("type") == "array":
        return f"array<{_describe(t['items'])}>"
    if t.get("type") == "map":
        return f"map<string, {_describe(t['values'])}>"
    if t.get("type") == "object":
        return "object{" + ", ".join(f"{k}: {_describe(v)}" for k, v in t["properties"].items()) + "}"
    return str(t.get("type"))


def breaking(changes: list[Change]) -> list[Change]:
    """The `changes` that break callers (those with `breaking` set), in order."""
    return [c for c in changes if c.breaking]


def graph_differences(card: Signature, graph: Signature) -> list[Change]:
    """Breaking differences between a card's signature and the graph's own (formats/onnx.py).
    A graph value that is not a tensor cannot be compared with MLflow's specs and is left out;
    a graph tensor of unknown rank is compared by dtype only."""
    opaque = {s.name for s in graph.inputs + graph.outputs if s.kind == "other"}
    changes = diff_signatures(card, graph)
    return [c for c in breaking(changes)
            if not any(c.field == f"{side}.{n}" or c.field.startswith(f"{side}.{n}.")
                       for n in opaque for side in ("inputs", "outputs"))]
