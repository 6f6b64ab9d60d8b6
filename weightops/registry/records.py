"""The registry's records: one tag as an event or a version, the `key: value` tag messages
weightops writes and reads, and its times. Pure (registry/state.py folds these into stages)."""

from __future__ import annotations

from collections import namedtuple

from weightops.errors import UsageError
from weightops.registry.tags import Kind, SemVer, parse_version


class Event(namedtuple("Event", "tag kind model commit time counter version stage tagger annotated message",
                       defaults=(None, None, None, "", True, ""))):
    """One registry tag: a registration, assignment, unassignment, deregistration or
    deprecation (GTO's events). `time` is the tagger date in Unix seconds; `counter` GTO's
    `#N`; `version` what the event concerns (for a stage tag, the version registered on its
    commit, None when there is none); `message` the tag message ("" when not read).

    An immutable named tuple rather than a frozen dataclass, as `TagRef` is: every registry
    read builds one per tag, and a tuple is built in a quarter of the time."""

    __slots__ = ()

    @property
    def meta(self) -> dict:
        """The tag message's `key: value` fields (see `parse_message`), parsed when asked."""
        return parse_message(self.message)

    @property
    def sort_key(self) -> tuple:
        """(tagger time, tag name): GTO's order of events."""
        return (self.time, self.tag)

    @property
    def action(self) -> str:
        """What a person calls it: a rollback is an assignment whose message says so."""
        if self.kind is Kind.ASSIGN and self.meta.get("action") == "rollback":
            return "rollback"
        return self.kind.value

    @property
    def when(self) -> str:
        """The tagger time as ISO 8601 UTC (`2026-03-01T12:00:00Z`)."""
        return iso(self.time)


class Version(namedtuple("Version", "model version tag commit time annotated tagger message", defaults=("", ""))):
    """A registration: `version` (`v1.2.0`) of `model`, tagged `tag` on `commit` at `time`
    (tagger date, Unix seconds), by `tagger`, with the tag's `message`. A named tuple, as
    `Event` is (one per registration on every read)."""

    __slots__ = ()

    @property
    def meta(self) -> dict:
        """The tag message's `key: value` fields (see `parse_message`), parsed when asked."""
        return parse_message(self.message)

    @property
    def semver(self) -> SemVer:
        """The version parsed for SemVer precedence."""
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


def format_message(title: str, fields: dict) -> str:
    """A tag message `parse_message` reads back: the title, a blank line, then `key: value`
    lines (empty values left out; newlines in a value become spaces so no field is forged)."""
    lines = [title, ""]
    for key, value in fields.items():
        if value is None or value == "":
            continue
        text = str(value).replace("\n", " ").replace("\r", " ")
        lines.append(f"{key}: {text}")
    return "\n".join(lines) + "\n"


def _message_field(message: str, key: str) -> str | None:
    """One `key: value` line of a tag message, without parsing the rest."""
    start = message.find(f"\n{key}: ")
    if start < 0:
        return None
    start += len(key) + 3
    end = message.find("\n", start)
    return message[start:end if end >= 0 else None].strip() or None


def iso(ts: int) -> str:
    """Unix seconds -> ISO 8601 UTC with a `Z` (`2026-03-01T12:00:00Z`)."""
    import datetime as _dt   # here, not at the top: a stage answer formats no time

    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> int:
    """ISO 8601 (`2026-03-01T12:00:00Z`, a date, or an offset; UTC when it has none) or
    `@UNIX` -> Unix seconds. UsageError (exit 2) for anything else."""
    import datetime as _dt

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
