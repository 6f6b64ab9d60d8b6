"""JSON Lines (https://jsonlines.org): the append-only logs weightops writes (shadow logs,
deploy logs) and the recorded inputs `shadow replay` reads. One reader for all of them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from weightops.errors import NotFoundError, UsageError


def parse_jsonl(data: bytes, what: str, *, torn_ok: bool = True) -> list[tuple[int, object]]:
    """(line number from 1, value) for every non-blank line of `data`. With `torn_ok`, a last
    line without its newline that is not JSON (a writer killed mid-line) is dropped; any other
    line that is not JSON raises UsageError (exit 2) naming `what` and the line number."""
    lines = data.split(b"\n")
    found = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found.append((n, json.loads(line)))
        except ValueError:
            if torn_ok and n == len(lines):
                continue
            raise UsageError(f"{what} line {n} is not JSON (one JSON value per line)") from None
    return found


def read_jsonl(path: str | os.PathLike, what: str, *, torn_ok: bool = True) -> tuple[list[tuple[int, object]], bytes]:
    """`parse_jsonl` of the file at `path`, and its bytes. NotFoundError (3) when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{what} does not exist")
    data = path.read_bytes()
    return parse_jsonl(data, what, torn_ok=torn_ok), data
