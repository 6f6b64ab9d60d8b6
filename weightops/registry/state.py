"""Registry state, recomputed from tags on every call (nothing cached on disk, nothing stale).

Pure: takes the `TagRef`s that `git.list_tags` read in one pass and answers version and stage
queries. Events are ordered by tagger time, ties broken by the counter; `at` limits a query to
events at or before a moment. Without `at` every event counts, whatever its date.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from functools import cached_property

from weightops.errors import NotFoundError, UsageError
from weightops.core.git import TagRef
from weightops.registry.tags import (Kind, SemVer, Tag, normalize_version, parse_version, try_parse_tag,
                                     version_lookalike)


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
        return (self.time, self.counter or 0, self.tag)

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


class Registry:
    """Every model's versions and stage events, from one list of tags."""

    def __init__(self, refs: list[TagRef], default_model: str | None = None) -> None:
        self.default_model = default_model
        self._versions: dict[str, dict[str, Version]] = {}
        self._events: dict[str, list[Event]] = {}
        self._deprecated: set[str] = set()
        self.ignored: list[str] = []   # tags outside the grammar (not registry tags)
        pending: list[tuple[Tag, TagRef]] = []
        deregistered: set[tuple[str, str]] = set()
        for ref in refs:
            tag = try_parse_tag(ref.name)
            if tag is None:
                self.ignored.append(ref.name)
                continue
            model = tag.model or default_model
            if model is None:
                self.ignored.append(ref.name)
                continue
            message = ref.message if ref.annotated else ""
            if tag.kind is Kind.REGISTER:
                self._versions.setdefault(model, {})[tag.version] = Version(
                    model, tag.version, ref.name, ref.commit, ref.time, ref.annotated, ref.tagger, message)
                self._events.setdefault(model, []).append(Event(
                    ref.name, tag.kind, model, ref.commit, ref.time, tag.counter, tag.version,
                    None, ref.tagger, ref.annotated, message))
            elif tag.kind is Kind.DEREGISTER:
                deregistered.add((model, tag.version))
                self._events.setdefault(model, []).append(Event(
                    ref.name, tag.kind, model, ref.commit, ref.time, tag.counter, tag.version,
                    None, ref.tagger, ref.annotated, message))
            elif tag.kind is Kind.DEPRECATE:
                self._deprecated.add(model)
                self._events.setdefault(model, []).append(Event(
                    ref.name, tag.kind, model, ref.commit, ref.time, tag.counter, None, None,
                    ref.tagger, ref.annotated, message))
            else:
                pending.append((tag, ref))
        for model, version in deregistered:
            self._versions.get(model, {}).pop(version, None)
        by_commit: dict[tuple[str, str], list[Version]] = {}
        for model, versions in self._versions.items():
            for v in versions.values():
                by_commit.setdefault((model, v.commit), []).append(v)
        self._by_commit = {k: vs[0] if len(vs) == 1 else max(vs, key=lambda v: v.semver)
                           for k, vs in by_commit.items()}
        self.ambiguous = False  # a stage tag on a commit holding several versions of its model
        for tag, ref in pending:
            model = tag.model or default_model
            # The version a stage tag means: the one its message names, else the version on its commit.
            # A message can only pick among the versions registered on the tagged commit.
            version = _message_field(ref.message, "version") if ref.annotated else None
            named = self._versions.get(model, {}).get(version) if version else None
            if named is None or named.commit != ref.commit:
                held = self._by_commit.get((model, ref.commit))
                version = held.version if held else None
                self.ambiguous = self.ambiguous or len(by_commit.get((model, ref.commit), ())) > 1
            self._events.setdefault(model, []).append(Event(
                ref.name, tag.kind, model, ref.commit, ref.time, tag.counter, version, tag.stage,
                ref.tagger, ref.annotated, ref.message if ref.annotated else ""))
        for events in self._events.values():
            events.sort(key=lambda e: (e.time, e.counter or 0, e.tag))  # Event.sort_key, inlined: hot

    # ---- models and versions ----
    def models(self) -> list[str]:
        return sorted(set(self._versions) | set(self._events))

    def is_deprecated(self, model: str) -> bool:
        return model in self._deprecated

    def versions(self, model: str) -> list[Version]:
        """Newest first (SemVer precedence)."""
        return sorted(self._versions.get(model, {}).values(), key=lambda v: v.semver, reverse=True)

    def version(self, model: str, version: str) -> Version:
        version = normalize_version(version)
        found = self._versions.get(model, {}).get(version)
        if found is None:
            known = ", ".join(v.version for v in self.versions(model)[:5]) or "none"
            typo = next((name for name, meant in self.lookalikes().items()
                         if meant.rpartition("@")[2] == version and meant.rpartition("@")[0] in ("", model.replace(":", "="))), None)
            hint = (f"; tag '{typo}' is not a version tag (versions are tagged {version}, with the `v`): "
                    f"release it with `weightops release {version}`") if typo else ""
            raise NotFoundError(f"model '{model}' has no version {version} (known: {known}){hint}")
        return found

    def latest(self, model: str) -> Version:
        versions = self.versions(model)
        if not versions:
            raise NotFoundError(f"model '{model}' has no versions yet; release one with `weightops release v1.0.0`")
        return versions[0]

    # ---- events and stages ----
    def events(self, model: str, *, stage: str | None = None, at: int | None = None) -> list[Event]:
        """Oldest first; with `stage`, only that stage's assignments and unassignments."""
        result = self._events.get(model, [])
        if stage is not None:
            result = [e for e in result if e.stage == stage]
        if at is not None:
            result = [e for e in result if e.time <= at]
        return list(result)

    def stage_event(self, model: str, stage: str, at: int | None = None) -> Event | None:
        """The assignment that holds `stage`, or None.

        GTO's meaning, so both tools agree: a stage is a label on versions; an unassignment
        removes it from one version; the holder is the newest assignment whose version still
        carries the label (so unassigning the holder falls back to the one before it)."""
        return _holder(self.events(model, stage=stage, at=at))

    def stages(self, model: str, at: int | None = None) -> dict[str, Event]:
        """Every stage currently held, stage -> assignment."""
        by_stage: dict[str, list[Event]] = {}
        for e in self.events(model, at=at):
            if e.stage is not None:
                by_stage.setdefault(e.stage, []).append(e)
        held = {stage: _holder(events) for stage, events in sorted(by_stage.items())}
        return {stage: e for stage, e in held.items() if e is not None}

    def labelled(self, model: str, stage: str, at: int | None = None) -> list[Event]:
        """Assignments whose versions still carry `stage`, newest first (demote clears them all)."""
        return sorted(_labels(self.events(model, stage=stage, at=at)).values(),
                      key=lambda e: e.sort_key, reverse=True)

    def previous_holder(self, model: str, stage: str) -> str | None:
        """The version that held `stage` before the current holder (for rollback)."""
        current = self.stage_event(model, stage)
        current_version = current.version if current else None
        seen_current = current is None
        for e in reversed(self.events(model, stage=stage)):
            if e.kind is not Kind.ASSIGN or e.version is None:
                continue
            if not seen_current:
                if e is current:
                    seen_current = True
                continue
            if e.version != current_version:
                return e.version
        return None

    def stage_names(self, model: str) -> set[str]:
        """Every stage a tag of `model` has named (GTO may use stages the config lacks)."""
        return {e.stage for e in self._events.get(model, []) if e.stage}

    def lookalikes(self) -> dict[str, str]:
        """Tags outside the grammar that look like versions -> the tag they were meant to be
        (`1.2.0` -> `v1.2.0`): never read as versions, but named so a user learns why."""
        found = {name: version_lookalike(name) for name in self.ignored}
        return {name: meant for name, meant in found.items() if meant}

    def next_counter(self, model: str) -> int:
        counters = [e.counter for e in self._events.get(model, []) if e.counter]
        return max(counters, default=0) + 1

    def newest_time(self, model: str) -> int:
        return max((e.time for e in self._events.get(model, [])), default=0)


def _message_field(message: str, key: str) -> str | None:
    """One `key: value` line of a tag message, without parsing the rest."""
    start = message.find(f"\n{key}: ")
    if start < 0:
        return None
    start += len(key) + 3
    end = message.find("\n", start)
    return message[start:end if end >= 0 else None].strip() or None


def _labels(events: list[Event]) -> dict[str, Event]:
    """Version (or commit, for an unversioned assignment) -> its assignment, while labelled."""
    labels: dict[str, Event] = {}
    for e in events:
        key = e.version or e.commit
        if e.kind is Kind.ASSIGN:
            labels[key] = e
        elif e.kind is Kind.UNASSIGN:
            labels.pop(key, None)
    return labels


def _holder(events: list[Event]) -> Event | None:
    labels = _labels(events)
    return max(labels.values(), key=lambda e: e.sort_key) if labels else None


def iso(ts: int) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> int:
    """ISO 8601 (`2026-03-01T12:00:00Z`, a date, or an offset) or `@UNIX` -> Unix seconds."""
    text = (text or "").strip()
    if text.startswith("@") and text[1:].isdigit():
        return int(text[1:])
    try:
        dt = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"'{text}' is not a time; write it like 2026-03-01T12:00:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return int(dt.timestamp())
