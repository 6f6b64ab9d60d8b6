"""Rendering shared by every command, without Typer: JSON, `key: value` fields, warnings and
the resolve answer. The fast resolve path (cli/fast.py) and the Typer commands print through
here, so both print the same bytes."""

from __future__ import annotations

import json
import sys

_COLORS = {"red": "31", "yellow": "33"}


def echo(text: str, *, err: bool = False, color: str | None = None) -> None:
    """One line to stdout (or stderr); coloured only on a terminal, as Click does."""
    stream = sys.stderr if err else sys.stdout
    if color and stream.isatty():
        text = f"\x1b[{_COLORS[color]}m{text}\x1b[0m"
    stream.write(text + "\n")
    stream.flush()


def print_json(obj: object) -> None:
    """`obj` as indented JSON on stdout (keys in their order; other values as `str`)."""
    echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


def print_fields(d: dict) -> None:
    """`d` as aligned `key: value` lines on stdout (None prints as nothing)."""
    width = max(len(k) for k in d)
    for k, v in d.items():
        echo(f"{k + ':':<{width + 1}} {'' if v is None else v}")


def trust_fields(found) -> dict:
    """Print one loud warning per skipped tag (stderr) of `found` (trust.policy.Trusted),
    and return the fields JSON readers get: signer, policy revision, skipped tags."""
    for s in found.skipped:
        echo(f"warning: {s.message()}", err=True, color="yellow")
    return {"signer": found.signer, "policy": found.policy_rev, "skipped": [s.to_dict() for s in found.skipped]}


def render_resolved(r, ref: str, as_json: bool) -> None:
    """`weightops resolve`'s answer for `r` (a registry.resolve.Resolved) asked as `ref`: one
    JSON object (`as_json`), or aligned fields; notes and trust warnings go to stderr."""
    from weightops.registry.tags import understood_version

    if getattr(r, "note", None):   # why a stage answers an older assignment
        echo(f"note: {r.note}", err=True)
    out = r.to_dict()
    note = understood_version(ref)
    if note:
        echo(f"note: {note}", err=True, color="yellow")
    if r.trust is not None:
        out.update(trust_fields(r.trust))
    if as_json:
        print_json(out)
    else:
        if "skipped" in out:
            out["skipped"] = ", ".join(s["tag"] for s in out["skipped"]) or "none"
        print_fields(out)
