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


def terminal_width() -> int | None:
    """The width human tables fit: COLUMNS when set (as a terminal or `COLUMNS=80` says), else
    the terminal's; None (no limit) when stdout is not a terminal, so a file gets every column."""
    import os
    import shutil

    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def table(columns: list[tuple[str, list[str]]], *, width: int | None, drop: tuple[str, ...] = (),
          flex: str | None = None, cap: dict[str, int] | None = None) -> list[str]:
    """Lines of an aligned table: `columns` are (header, cells) with one cell per row. Each
    column is as wide as its widest cell. Over `width` (None: no limit), the headers named in
    `drop` leave in that order, the columns in `cap` (header -> characters) are cut to that
    width, then the `flex` column (the last one, free text) is cut to what is left (never
    narrower than its header); a cut cell ends in an ellipsis. A column empty on every row is
    left out. Pure: the caller prints the lines."""
    cols = [(h, [c or "" for c in cells]) for h, cells in columns]
    cols = [(h, cells) for h, cells in cols if any(cells)]   # a column empty on every row says nothing

    def total(cs) -> int:
        return sum(max([len(h)] + [len(c) for c in cells]) for h, cells in cs) + 2 * (len(cs) - 1)

    for name in drop:
        if width is None or total(cols) <= width:
            break
        cols = [(h, cells) for h, cells in cols if h != name]
    def cut(cells: list[str], room: int) -> list[str]:
        return [c if len(c) <= room else c[:room - 1] + "…" for c in cells]

    if width is not None and total(cols) > width:
        cols = [(h, cut(cells, (cap or {})[h]) if h in (cap or {}) else cells) for h, cells in cols]
    if width is not None and flex and any(h == flex for h, _ in cols) and total(cols) > width:
        rest = total([(h, cells) for h, cells in cols if h != flex]) + 2
        room = max(width - rest, len(flex))
        cols = [(h, cut(cells, room)) if h == flex else (h, cells) for h, cells in cols]
    widths = [max([len(h)] + [len(c) for c in cells]) for h, cells in cols]
    rows = [[h for h, _ in cols]] + [list(r) for r in zip(*(cells for _, cells in cols))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]


def wrap(text: str, width: int | None, indent: int = 0) -> list[str]:
    """`text` as lines of at most `width` characters (None: one line), later lines indented by
    `indent` spaces; words (paths, digests) are never split, so one longer than the width
    stands alone on its line."""
    if width is None or len(text) <= width:
        return [text]
    import textwrap

    return textwrap.wrap(text, width, subsequent_indent=" " * indent, break_long_words=False,
                         break_on_hyphens=False) or [text]


def wrapped(text: str, indent: int = 0) -> list[str]:
    """`wrap` at the terminal's width (`terminal_width`)."""
    return wrap(text, terminal_width(), indent)
