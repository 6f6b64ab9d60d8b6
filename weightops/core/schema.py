"""Checking a weightops.yaml document against templates/weightops.schema.json (JSON Schema
2020-12).

jsonschema is the authority, but importing it costs more than a whole `resolve`, so a pure
pass runs first: it names unknown keys (with the closest known one) and proves the common
valid document valid using only the few keywords the schema uses. Only a document that pass
cannot clear, or finds wrong, is handed to jsonschema, whose first error becomes the message.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache

from weightops.errors import UsageError

SCHEMA_FILE = "weightops.schema.json"
_ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"}
_KNOWN = {"type", "properties", "additionalProperties", "items", "enum", "pattern", "minimum",
          "minItems", "minLength", "$ref"} | _ANNOTATIONS


class _Unsure(Exception):
    """The fast pass met something it does not decide (a keyword or a value type)."""


@lru_cache(maxsize=1)
def config_schema() -> dict:
    """The parsed schema (read once per process)."""
    from weightops.core.resources import template_path

    return json.loads(template_path(SCHEMA_FILE).read_text())


def check_document(doc: dict, where: str, schema: dict | None = None) -> None:
    """Refuse `doc` unless it is valid against the config schema.

    Raises UsageError (exit 2): an unknown key names the key's dotted path, `where` (the file)
    and the closest known key; any other problem names the path and what it must be.
    """
    schema = schema or config_schema()
    unknown = unknown_keys(doc, schema, schema)
    if unknown:
        import difflib   # only to word the error

        path, key, known = unknown[0]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"known: {', '.join(sorted(known)) or 'none'}"
        raise UsageError(f"{where}: unknown key `{path}` ({hint})", key=path)
    try:
        if _valid(doc, schema, schema):
            return
    except _Unsure:
        pass
    _full_check(doc, schema, where)


def unknown_keys(doc: object, node: dict, root: dict, path: str = "") -> list[tuple[str, str, list[str]]]:
    """(dotted path, key, known keys at that level) of every key the schema does not know. Pure."""
    node = _deref(node, root)
    found: list[tuple[str, str, list[str]]] = []
    if isinstance(doc, dict):
        props = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, value in doc.items():
            sub = f"{path}.{key}" if path else str(key)
            if key in props:
                found += unknown_keys(value, props[key], root, sub)
            elif extra is False or not isinstance(key, str):
                found.append((sub, str(key), list(props)))
            elif isinstance(extra, dict):
                found += unknown_keys(value, extra, root, sub)
    elif isinstance(doc, list) and isinstance(node.get("items"), dict):
        for i, value in enumerate(doc):
            found += unknown_keys(value, node["items"], root, f"{path}[{i}]")
    return found


def _deref(node: dict, root: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    if not ref.startswith("#/$defs/") or len(node) > 1 + len(_ANNOTATIONS & set(node)):
        raise _Unsure(ref)
    return root["$defs"][ref[len("#/$defs/"):]]


def _json_type(value: object) -> set[str]:
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Unsure(value)
        return {"number", "integer"} if value.is_integer() else {"number"}
    if isinstance(value, str):
        return {"string"}
    if isinstance(value, list):
        return {"array"}
    if isinstance(value, dict):
        return {"object"}
    raise _Unsure(type(value).__name__)   # dates and other YAML types: jsonschema decides


def _valid(doc: object, node: dict, root: dict) -> bool:
    """JSON Schema's verdict for the keywords in _KNOWN; _Unsure for anything else."""
    node = _deref(node, root)
    if set(node) - _KNOWN:
        raise _Unsure(sorted(set(node) - _KNOWN))
    kinds = _json_type(doc)
    want = node.get("type")
    if want is not None and not kinds & ({want} if isinstance(want, str) else set(want)):
        return False
    if "enum" in node and not any(doc == e and _json_type(e) & kinds for e in node["enum"]):
        return False
    if "string" in kinds:
        if "pattern" in node and not re.search(node["pattern"], doc):
            return False
        if len(doc) < node.get("minLength", 0):
            return False
    if "number" in kinds and "minimum" in node and doc < node["minimum"]:
        return False
    if "array" in kinds:
        if len(doc) < node.get("minItems", 0):
            return False
        items = node.get("items")
        if isinstance(items, dict) and not all(_valid(v, items, root) for v in doc):
            return False
    if "object" in kinds:
        props = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, value in doc.items():
            if not isinstance(key, str):
                raise _Unsure(key)
            sub = props.get(key, extra)
            if sub is False:
                return False
            if isinstance(sub, dict) and not _valid(value, sub, root):
                return False
    return True


def _full_check(doc: object, schema: dict, where: str) -> None:
    import jsonschema  # only for a document the fast pass could not clear

    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is None:
        return
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    what = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator in ("type", "enum", "pattern", "minimum", "minItems", "minLength") and what:
        raise UsageError(f"{where}: {path or 'the document'} must be {what}, not {error.instance!r}", key=path)
    raise UsageError(f"{where}: {path or 'the document'}: {error.message}", key=path)
