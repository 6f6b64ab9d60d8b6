"""The deploy log of a host: one JSONL record per change `weightops sync` made or tried, and
the question it answers: which weights were live at a given moment.

Record: {"time" (ISO, UTC), "ts" (Unix seconds), "host", "stage", "model", "version",
"sha256", "previous", "path", "outcome", "error", "on_change"}. outcome is `deployed` (the file
was swapped in), `failed` (the old weights stayed live) or `unassigned` (the stage lost its
version; the old weights stayed live).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from weightops.core.jsonl import read_jsonl
from weightops.errors import NotFoundError, UsageError
from weightops.registry.records import iso, parse_time


@dataclass(frozen=True)
class Deployment:
    """One deploy-log record (the JSONL fields listed at the top of this module): `time` ISO 8601
    UTC, `ts` Unix seconds, `outcome` deployed/failed/unassigned, `on_change` the hook's exit
    status."""
    time: str
    ts: float
    host: str
    stage: str
    model: str | None
    version: str | None
    sha256: str | None
    previous: str | None
    path: str
    outcome: str
    error: str | None = None
    on_change: int | None = None

    def to_dict(self) -> dict:
        """The record as a JSON-ready dict, one key per field."""
        return asdict(self)


def record(*, stage: str, model: str | None, version: str | None, sha256: str | None,
           previous: str | None, path: str, outcome: str, error: str | None = None,
           on_change: int | None = None, now: float | None = None) -> Deployment:
    """A Deployment stamped with this host's name and the time `now` (Unix seconds; the clock when
    None). Keyword arguments are the record's fields; nothing is written (see `append`)."""
    ts = time.time() if now is None else now
    return Deployment(iso(int(ts)), round(ts, 3), socket.gethostname(), stage, model, version, sha256,
                      previous, str(path), outcome, error, on_change)


def append(log: str | os.PathLike, dep: Deployment) -> None:
    """One line, one write, fsync'd: a crash leaves whole records (at worst a torn last one)."""
    path = Path(log)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(dep.to_dict()) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read(log: str | os.PathLike) -> list[Deployment]:
    """The deploy log's records, oldest first (JSON Lines; a torn last line is ignored).
    NotFoundError (3) when it is missing, UsageError (2) for a line that is not a record."""
    fields = set(Deployment.__dataclass_fields__)
    result = []
    for n, doc in read_jsonl(log, f"deploy log '{log}'")[0]:
        try:
            result.append(Deployment(**{k: v for k, v in doc.items() if k in fields}))
        except (AttributeError, TypeError):
            raise UsageError(f"deploy log '{log}' line {n} is not a deploy record") from None
    return sorted(result, key=lambda d: d.ts)


def live_at(records: list[Deployment], at: str | int | float | None = None,
            path: str | None = None) -> Deployment | None:
    """The last successful deployment at or before `at` (now when None)."""
    when = parse_time(at) + 0.999 if isinstance(at, str) else (at if at is not None else float("inf"))
    found = None
    for dep in records:
        if dep.ts > when:
            break
        if dep.outcome == "deployed" and (path is None or dep.path == path):
            found = dep
    return found


def live(log: str | os.PathLike, at: str | int | None = None) -> dict:
    """What `weightops deployments LOG --at T` prints: the live record's fields plus `live_since`,
    `live_until` (ISO 8601 or None) and `replaced_by` (a version or None). `at` is ISO 8601 or Unix
    seconds (now when None). NotFoundError (3) when the log is missing or nothing was live then;
    UsageError (2) for a line that is not a record."""
    records = read(log)
    dep = live_at(records, at)
    if dep is None:
        when = f" at {at}" if at else ""
        first = next((d for d in records if d.outcome == "deployed"), None)
        hint = f"; the first deployment was at {first.time}" if first else "; nothing was ever deployed"
        raise NotFoundError(f"no weights were live{when} according to {log}{hint}")
    after = next((d for d in records if d.ts > dep.ts and d.outcome == "deployed" and d.path == dep.path), None)
    return {**dep.to_dict(), "live_since": dep.time, "live_until": after.time if after else None,
            "replaced_by": after.version if after else None}
