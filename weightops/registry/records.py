"""The registry's records: one Event per registry tag, one Version per registration.
Frozen values; `parse_message` reads the `key: value` lines weightops writes in tag messages."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from functools import cached_property

from weightops.registry.tags import Kind, SemVer, parse_version


@dataclass(frozen=True)
class Event:
    """One registry tag: a registration, assignment, unassignment, deregistration or deprecation."""

    tag: str
    kind: Kind
    model: str
    commit: str
    time: int
    counter: int | None = None
    version: str | None = None     # the version the event concerns (for a stage: what it held)
    stage: str | None = None
    tagger: str = ""
    annotated: bool = True
    message: str = ""

    @cached_property
    def meta(self) -> dict:
        """The tag message's `key: value` fields, parsed on first use (most tags never need it)."""
        return parse_message(self.message)

    @property
    def sort_key(self) -> tuple:
        return (self.time, self.tag)   # GTO's order: tagger time, then tag name

    @property
    def action(self) -> str:
        """What a person calls it: a rollback is an assignment whose message says so."""
        if self.kind is Kind.ASSIGN and self.meta.get("action") == "rollback":
            return "rollback"
        return self.kind.value

    @property
    def when(self) -> str:
        return iso(self.time)


@dataclass(frozen=True)
class Version:
    model: str
    version: str
    tag: str
    commit: str
    time: int
    annotated: bool
    tagger: str = ""
    message: str = ""

    @cached_property
    def meta(self) -> dict:
        return parse_message(self.message)

    @cached_property
    def semver(self) -> SemVer:
        return parse_version(self.version)


def parse_message(message: str) -> dict:
    """`key: value` lines of a tag message (the first line is a title and is kept as `title`)."""
    meta: dict = {}
    lines = message.splitlines()
    if lines:
        meta["title"] = lines[0].strip()
    for line in lines[1:]:
        if line.startswith("-----BEGIN"):
            break  # a signature follows
        key, sep, value = line.partition(":")
        if sep and key and " " not in key.strip() and key.strip().isascii():
            meta.setdefault(key.strip(), value.strip())
    return meta


def iso(ts: int) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat().replace("+00:00", "Z")
