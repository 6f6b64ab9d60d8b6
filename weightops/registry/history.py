"""Reading the registry's stage history: every registration, assignment, unassignment and
rollback, as rows (read-only; the writes are in registry/stages.py)."""

from __future__ import annotations

import os

from weightops.opening import open_project
from weightops.project import Project
from weightops.registry.records import Event
from weightops.registry.tags import check_stage, validate_stage


def history(*, model: str | None = None, stage: str | None = None, repo: str | os.PathLike = ".") -> list[dict]:
    """Every registration, assignment, unassignment and rollback of MODEL (default: the
    project's), oldest first, optionally only STAGE's: dicts with time (ISO 8601 UTC), action,
    model, stage, version, commit, sha256, tag, tagger (`Name <email>`), author and author_email
    (its two parts, GTO's `history` keys), reason (see `event_row`). UsageError (2) for a bad name
    or stage, NotFoundError (3) outside a repository."""
    project = open_project(repo)
    name = project.model(model)
    registry = project.registry()
    if stage is not None:
        validate_stage(stage)
    events = [e for e in registry.events(name) if stage is None or e.stage == stage]
    if stage is not None and not events:
        check_stage(stage, project.config.stages, registry.stage_names(name))
    missing = {e.commit for e in events if not e.meta.get("sha256") and e.version}
    shas = _card_shas(project, name, missing)
    return [event_row(e, e.meta.get("sha256") or shas.get(e.commit)) for e in events]


def event_row(e: Event, sha256: str | None) -> dict:
    """One history row (the dicts `history` returns) for event `e`; `sha256` is the hex digest from
    its tag message or card, or None. `reason` is the `reason:` field weightops writes (from
    `--message`), else the message of a tag weightops did not write, as GTO keeps it (`gto
    assign --message`, or GTO's default `Assigning stage ...`); None when there is neither."""
    meta = e.meta
    reason = meta.get("reason")
    if reason is None and not meta.get("title", "").startswith("weightops "):
        reason = " ".join(e.message.split()) or None
    author, email = split_tagger(e.tagger)
    return {"time": e.when, "action": e.action, "model": e.model, "stage": e.stage, "version": e.version,
            "commit": e.commit, "sha256": sha256, "tag": e.tag, "tagger": e.tagger,
            "author": author, "author_email": email, "reason": reason}


def split_tagger(tagger: str) -> tuple[str, str]:
    """Pure: git's `Name <email>` -> (name, email), as GTO splits a tag's author; either part
    may be "" (a lightweight tag has no tagger at all)."""
    name, _, email = (tagger or "").partition("<")
    return name.strip(), email.rstrip(">").strip()


def _card_shas(project: Project, model: str, commits: set[str]) -> dict[str, str]:
    """sha256 from the card at each commit, for events whose tag message lacks it (GTO's tags,
    lightweight tags)."""
    result = {}
    for commit in commits:
        try:
            card = project.locate(model, commit).card
            if card is not None:   # no card (released before weightops): no sha256 to show
                result[commit] = card["artifact"]["sha256"]
        except Exception:  # noqa: BLE001 - history shows what it can; audit reports the rest
            continue
    return result
