"""The deploy lock file: `weightops lock` writes it, `pull --lock`, `verify` and the fleet read
it. A YAML document of the pinned fields (LOCK_KEYS) plus a checksum over them, so a hand
edit shows; `check_lock_against` compares it with what the registry says now."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from weightops.core.yamlio import dump_yaml, safe_load
from weightops.errors import IntegrityError, NotFoundError, UsageError
from weightops.registry.records import iso

if TYPE_CHECKING:
    from weightops.registry.resolve import Resolved

LOCK_VERSION = 1
LOCK_KEYS = ("model", "version", "tag", "stage", "commit", "path", "sha256", "md5", "size", "remote", "url",
             "repo", "resolved_at")
PINNED = ("commit", "path", "sha256", "md5", "size")   # what must still agree with the registry


def _checksum(fields: dict) -> str:
    return hashlib.sha256(json.dumps({k: fields.get(k) for k in LOCK_KEYS}, sort_keys=True).encode()).hexdigest()


def write_lock(fields: dict, out: str | os.PathLike) -> dict:
    """Write a deploy lock of `fields` (LOCK_KEYS; `resolved_at` set now) to `out`, atomically,
    keeping the user's own keys of an existing file; returns the document."""
    from weightops.core.atomic import atomic_write_text

    fields = dict(fields, resolved_at=iso(int(time.time())))
    fields = {k: fields.get(k) for k in LOCK_KEYS}
    doc = {"lock_version": LOCK_VERSION, **fields, "checksum": _checksum(fields)}
    out = Path(out)
    extra = {}
    if out.is_file():  # a deploy config the lock is injected into: keep the user's own keys
        old = safe_load(out.read_bytes(), str(out))
        if isinstance(old, dict):
            extra = {k: v for k, v in old.items() if k not in doc}
    atomic_write_text(out, "# weightops deploy lock: `weightops pull --lock FILE` fetches exactly this.\n"
                           "# Do not edit: the checksum covers every weightops field.\n" + dump_yaml({**doc, **extra}))
    return doc


def read_lock(path: str | os.PathLike) -> dict:
    """A deploy lock written by `weightops lock` as a dict (model, version, tag, commit, path,
    sha256 (null for a version without a card), md5, size, repo, ...). NotFoundError (3) when the file is missing; UsageError (2) when
    it is not a lock of this `lock_version` or lacks a field; IntegrityError (4) when its checksum
    shows a hand edit."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"lock file '{path}' does not exist; write one with `weightops lock REF -o {path}`")
    doc = safe_load(path.read_bytes(), str(path))
    if not isinstance(doc, dict) or doc.get("lock_version") != LOCK_VERSION:
        raise UsageError(f"'{path}' is not a weightops lock (lock_version: {LOCK_VERSION}); write one with `weightops lock`")
    for key in ("model", "version", "tag", "sha256", "md5", "commit"):
        if not isinstance(doc.get(key), str) and not (key == "sha256" and doc.get(key) is None and "sha256" in doc):
            # sha256 null: a version without a card, pinned by DVC's md5 and size
            raise UsageError(f"lock file '{path}' has no '{key}'; regenerate it with `weightops lock`")
    actual = _checksum(doc)
    if doc.get("checksum") != actual:
        raise IntegrityError(f"lock file '{path}' was edited by hand: its checksum is {doc.get('checksum')}, "
                             f"its fields hash to {actual}; regenerate it with `weightops lock`",
                             expected=doc.get("checksum"), actual=actual, ref=doc.get("tag"))
    return doc


def check_lock_against(pinned: dict, r: Resolved, where: str) -> None:
    """The registry must still say, for that version, exactly what the lock pinned (commit, path,
    sha256, md5, size); `where` names the lock in the message. IntegrityError (4, with `field`) on
    the first field that differs."""
    now = r.to_dict()
    for key in PINNED:
        if pinned.get(key) != now.get(key):
            raise IntegrityError(f"{r.tag}: lock {where} pins {key} {pinned.get(key)} but the registry now says "
                                 f"{now.get(key)}; halting, review the change and regenerate the lock",
                                 expected=pinned.get(key), actual=now.get(key), ref=r.tag, field=key)
