"""The one place YAML is read and written. Safe loading only (PyYAML's SafeLoader, its C
build when present), and a bound on the expanded size so an alias bomb cannot blow up."""

from __future__ import annotations

import yaml

from weightops.errors import UsageError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
MAX_NODES = 1_000_000
MAX_BYTES = 64 * 1024 * 1024


class YamlError(UsageError):
    """A YAML document that is malformed, too large, or expands too far."""


def safe_load(text: bytes | str | None, what: str = "YAML document") -> object:
    """`text` (YAML, UTF-8 bytes or str) -> the document (dicts, lists, scalars), None for
    None. `what` names the document in errors. Raises YamlError (a UsageError, exit 2) for
    malformed YAML, a document over 64 MiB or one expanding past a million values."""
    if text is None:
        return None
    if len(text) > MAX_BYTES:
        raise YamlError(f"{what} is larger than {MAX_BYTES // (1024 * 1024)} MiB; refusing to parse it")
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader, never the full loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise YamlError(f"{what} is not valid YAML{where}; fix or regenerate it") from None
    except (ValueError, TypeError, RecursionError, OverflowError):
        raise YamlError(f"{what} is not valid YAML; fix or regenerate it") from None
    _check_expansion(doc, what)
    return doc


def _check_expansion(doc: object, what: str) -> None:
    """Count nodes as a reader would visit them (aliases counted each time they are used)."""
    budget = MAX_NODES
    stack = [doc]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise YamlError(f"{what} expands to more than {MAX_NODES} values (YAML aliases?); refusing it")
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)


def dump_yaml(doc: object) -> str:
    """`doc` as block-style YAML, keys in their order, Unicode kept. Pure."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
