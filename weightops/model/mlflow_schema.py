"""MLflow's signature rules, as `mlflow.models.signature.ModelSignature.from_dict` applies them.

Pure functions over parsed JSON/YAML: `column_type`, `tensor_dtype` and `param_spec` accept and
refuse what MLflow's `ColSpec`, `TensorSpec` and `ParamSpec` (mlflow/types/schema.py,
mlflow/models/utils.py `_enforce_param_datatype`) accept and refuse, and raise `UsageError`
(exit 2) with a message naming the field. Where weightops is stricter than MLflow on purpose
(README, "Signatures"), the message says so.
"""

from __future__ import annotations

import numpy as np

from weightops.errors import UsageError

# MLflow's DataType members, and the compound column types ColSpec.from_json_dict dispatches on.
DATA_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")
COMPOUND_TYPES = ("array", "object", "map", "sparkml_vector", "any")
COLUMN_TYPES = frozenset(DATA_TYPES + COMPOUND_TYPES)
# Values a param of each type takes without conversion, and the widenings MLflow allows
# (`_ALLOWED_CONVERSIONS_FOR_PARAMS`: int -> long, float, double; long -> float, double; float -> double).
PARAM_TYPES = {"boolean": (bool,), "integer": (int,), "long": (int,), "float": (float, int),
               "double": (float, int), "string": (str,)}
PARAM_WIDENINGS = {("integer", "long"), ("integer", "float"), ("integer", "double"),
                   ("long", "float"), ("long", "double"), ("float", "double")}


def column_type(item: dict, where: str, *, nested: bool = False) -> tuple[str, tuple]:
    """The column type of a ColSpec (or an array's items, a map's values, an object's property): its
    name and the compound type's description, kept verbatim for comparison and output. `where` names
    the field in messages. UsageError (2) for an unknown type, a compound type without its
    items/values/properties, or unknown keys of a plain column."""
    kind = item.get("type")
    if kind not in COLUMN_TYPES:
        raise UsageError(f"{where}.type {kind!r} is not 'tensor' or an MLflow column type "
                         f"({', '.join(DATA_TYPES + COMPOUND_TYPES)})")
    if kind == "array":
        items = _mapping(item.get("items"), f"{where}.items", "an array needs 'items: {type: ...}'")
        column_type(items, f"{where}.items", nested=True)
        return kind, (("items", items),)
    if kind == "map":
        values = _mapping(item.get("values"), f"{where}.values", "a map needs 'values: {type: ...}'")
        column_type(values, f"{where}.values", nested=True)
        return kind, (("values", values),)
    if kind == "object":
        props = item.get("properties")
        if not isinstance(props, dict) or not props or not all(isinstance(p, dict) for p in props.values()):
            raise UsageError(f"{where}.properties must be a non-empty mapping of property name to {{type: ...}}")
        for name, prop in props.items():
            if "type" not in prop:
                raise UsageError(f"{where}.properties.{name} needs a 'type'")
            column_type(prop, f"{where}.properties.{name}", nested=True)
        return kind, (("properties", props),)
    if kind in DATA_TYPES and not nested:
        # MLflow builds a plain ColSpec from every key: anything but type/name/required is refused.
        unknown = sorted(set(item) - {"type", "name", "required"})
        if unknown:
            raise UsageError(f"{where} has unknown key(s) {', '.join(map(str, unknown))}; a '{kind}' column has type, name, required")
    return kind, ()


def _mapping(value: object, where: str, why: str) -> dict:
    if not isinstance(value, dict) or "type" not in value:
        raise UsageError(f"{where} must be a mapping with a 'type' ({why})")
    return value


def tensor_dtype(value: object, where: str) -> str:
    """A numpy dtype name as MLflow's TensorInfo takes it (`np.dtype(value)`), normalised to the
    name MLflow writes back (`<f4` -> float32). Sized strings (`U8`) are refused, as MLflow does;
    record dtypes (`f4,i4`) are refused by weightops, which MLflow would keep as `void64`.
    UsageError (2) for both."""
    try:
        dt = np.dtype(value) if isinstance(value, str) else None
    except (TypeError, ValueError, SyntaxError):
        dt = None
    if dt is None or dt.names is not None or dt.subdtype is not None or dt.kind == "V":
        raise UsageError(f"{where} {value!r} is not a numpy dtype name (float32, int64, bool, str, ...)")
    if dt.char in ("U", "S") and not dt.name.isalpha():
        raise UsageError(f"{where} {value!r} has a size; MLflow takes flexible dtypes without one ('str', 'bytes')")
    return dt.name


def tensor_shape(value: object, where: str) -> tuple[int, ...]:
    """Sizes, -1 for a variable dimension. MLflow keeps any iterable (a string "8" becomes ('8',));
    weightops refuses anything but a list of integers >= -1 (UsageError, exit 2)."""
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= -1
                                              for d in value):
        raise UsageError(f"{where} must be a list of sizes (-1 for a variable dimension)")
    return tuple(value)


def param_spec(item: object, where: str) -> dict:
    """One ParamSpec `{name, type, default, shape}` checked as MLflow's ParamSpec checks it: a known
    type (not binary), shape absent or [-1], and a default of that type and shape. Returns it
    normalised: `type` (MLflow also reads the old key `dtype`) and `shape`. UsageError (2) naming
    the field otherwise."""
    if not isinstance(item, dict):
        raise UsageError(f"{where} must be a mapping with name, type and default")
    kind = item.get("type") or item.get("dtype")
    missing = [k for k, ok in (("name", "name" in item), ("type", kind is not None), ("default", "default" in item)) if not ok]
    if missing:
        raise UsageError(f"{where} needs {', '.join(missing)} (MLflow's ParamSpec has name, type, default and optional shape)")
    name = str(item["name"])
    where = f"{where} ('{name}')"
    if kind == "object":
        column_type({"type": "object", "properties": item.get("properties")}, where)
    elif kind == "binary":
        raise UsageError(f"{where}.type binary is not supported for params (MLflow refuses it)")
    elif kind not in DATA_TYPES:
        raise UsageError(f"{where}.type {kind!r} is not an MLflow param type ({', '.join(t for t in DATA_TYPES if t != 'binary')}, object)")
    shape = item.get("shape")
    if shape is not None:
        if not isinstance(shape, (list, tuple)) or list(shape) != [-1]:
            raise UsageError(f"{where}.shape must be absent (a scalar) or [-1] (a 1-D list); got {shape!r}")
        shape = [-1]
    default = item["default"]
    if shape == [-1]:
        if not isinstance(default, list) or any(isinstance(v, (list, dict)) for v in default):
            raise UsageError(f"{where}.default must be a 1-D list for shape [-1]")
        for i, v in enumerate(default):
            _param_value(v, kind, f"{where}.default[{i}]")
    elif kind == "object":
        _object_value(default, item["properties"], f"{where}.default")
    else:
        _param_value(default, kind, f"{where}.default")
    out = {"name": name, "type": kind, "default": default, "shape": shape}
    if kind == "object":
        out["properties"] = item["properties"]
    return out


def _param_value(value: object, kind: str, where: str) -> None:
    if value is None:
        return
    if kind == "datetime":
        if isinstance(value, (bool, int, float)):
            raise UsageError(f"{where} {value!r} is not a date or time")
        try:
            np.datetime64(value)
        except (ValueError, TypeError):
            raise UsageError(f"{where} {value!r} is not a date or time") from None
        return
    if isinstance(value, (list, dict)):
        raise UsageError(f"{where} must be a single {kind} value, not a {type(value).__name__}")
    # Exact types: MLflow refuses a boolean where a number is declared, and a number for a string.
    if type(value) not in PARAM_TYPES[kind]:
        raise UsageError(f"{where} {value!r} is not a {kind}")


def _object_value(value: object, props: dict, where: str) -> None:
    """A value of an object type as MLflow's `_enforce_object` checks it: a mapping with every
    required property, no property the type does not define, each of its declared type."""
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping with the properties {', '.join(map(str, props))}")
    unknown = sorted(map(str, set(value) - set(props)))
    if unknown:
        raise UsageError(f"{where} has properties the type does not define: {', '.join(unknown)}")
    for name, prop in props.items():
        required = prop.get("required", True)
        if value.get(name) is None:
            if required:
                raise UsageError(f"{where}.{name} is required")
            continue
        _typed_value(value[name], prop, f"{where}.{name}")


def _typed_value(value: object, t: dict, where: str) -> None:
    kind = t.get("type")
    if kind == "any":
        return
    if kind in ("array", "sparkml_vector"):
        if not isinstance(value, list):
            raise UsageError(f"{where} must be a list")
        for i, v in enumerate(value):
            _typed_value(v, t.get("items") or {"type": "double"}, f"{where}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise UsageError(f"{where} must be a mapping")
        for k, v in value.items():
            _typed_value(v, t["values"], f"{where}.{k}")
    elif kind == "object":
        _object_value(value, t["properties"], where)
    elif kind == "binary":
        if not isinstance(value, str):
            raise UsageError(f"{where} {value!r} is not binary data")
    else:
        _param_value(value, kind, where)


def param_change(old: dict, new: dict) -> list[tuple[str, str, bool]]:
    """(field suffix, message, breaking) for one param present in both signatures. MLflow checks
    a caller's value against the type and shape and fills in the default when none is sent: a
    narrower type or another shape refuses values callers send; another default changes what
    callers that send none get."""
    name, out = old["name"], []
    if old["type"] != new["type"] or old.get("properties") != new.get("properties"):
        widened = (old["type"], new["type"]) in PARAM_WIDENINGS
        out.append(("type", f"param '{name}' type {old['type']} -> {new['type']}" + (" (widened)" if widened else ""),
                    not widened))
    if old.get("shape") != new.get("shape"):
        out.append(("shape", f"param '{name}' shape {old.get('shape')} -> {new.get('shape')}", True))
    if old.get("default") != new.get("default"):
        why = "callers that omit it get another value"
        out.append(("default", f"param '{name}' default {old.get('default')!r} -> {new.get('default')!r} ({why})", True))
    return out
