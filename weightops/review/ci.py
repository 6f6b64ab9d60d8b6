"""`weightops ci check-tag TAG`: what CI runs when a registry tag is pushed.

It says what the tag is (registration, assignment, unassignment, ...) and refuses a tag whose
commit does not hold a release: the card must be valid against the schema (exit 5 otherwise),
agree with the DVC pointer and with the sha256 the tag message recorded (exit 4), and the
object must be in the DVC remote (exit 5), so a release page is never published for bytes
nobody can download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from weightops.core import git
from weightops.storage import remotes as storage
from weightops.model.card import CardError, check_card_against_pointer, validate_card
from weightops.errors import IntegrityError, NotFoundError, RefusedError
from weightops.project import Project
from weightops.registry.records import parse_message
from weightops.registry.tags import Kind, parse_tag


@dataclass(frozen=True)
class CheckedTag:
    """A registry tag CI checked: the tag, its kind (registration, assignment, unassignment,
    deregistration, deprecation), model, version and stage where it has them, its commit, the
    weights' sha256 (hex), the DVC remote's name and the object's URL, and what was verified, in
    order."""
    tag: str
    kind: str            # registration, assignment, unassignment, deregistration, deprecation
    model: str
    version: str | None
    stage: str | None
    commit: str
    sha256: str | None
    remote: str | None
    url: str | None
    checked: tuple[str, ...]   # what was verified, in order

    @property
    def summary(self) -> str:
        """One line: the tag, what it does in words, and its commit (12 hex digits)."""
        what = {"registration": f"registration of {self.model} {self.version}",
                "assignment": f"assignment of {self.model} {self.version or '?'} to stage '{self.stage}'",
                "unassignment": f"unassignment of stage '{self.stage}' of {self.model}",
                "deregistration": f"deregistration of {self.model} {self.version}",
                "deprecation": f"deprecation of {self.model}"}[self.kind]
        return f"{self.tag}: {what} at {self.commit[:12]}"

    def to_dict(self) -> dict:
        """The result as JSON for `ci check-tag --json`, one key per field."""
        return {"tag": self.tag, "kind": self.kind, "model": self.model, "version": self.version,
                "stage": self.stage, "commit": self.commit, "sha256": self.sha256,
                "remote": self.remote, "url": self.url, "checked": list(self.checked)}


def check_tag(tag: str, *, repo: str | os.PathLike = ".", remote: str | None = None) -> CheckedTag:
    """CI's check of a pushed registry tag: in the grammar, annotated, its card matching the
    DVC pointer and the object present in DVC remote REMOTE. Raises UsageError (2) outside the
    grammar, NotFoundError (3) for a missing tag or object, IntegrityError (4) when card and
    pointer disagree, RefusedError (5) for a lightweight tag."""
    parsed = parse_tag(tag)  # exit 2 for anything outside the grammar, before git sees it
    project = Project(repo)
    if not git.tag_exists(project.root, tag):
        raise NotFoundError(f"tag '{tag}' does not exist here; fetch tags (`git fetch --tags`) first")
    model = project.model(parsed.model)
    commit = git.rev_parse(project.root, f"refs/tags/{tag}")
    registry = project.registry()
    ref = next((r for r in git.list_tags(project.root) if r.name == tag), None)
    meta = parse_message(ref.message) if ref and ref.annotated else {}
    version = parsed.version
    if parsed.kind in (Kind.ASSIGN, Kind.UNASSIGN):
        event = next((e for e in registry.events(model, stage=parsed.stage) if e.tag == tag), None)
        version = event.version if event else None
        claimed = meta.get("version")
        if claimed and version != claimed and parsed.kind is Kind.ASSIGN:
            raise IntegrityError(f"{tag} records {model} {claimed}, but {claimed} is not registered on its commit "
                                 f"{commit[:12]} (was the version tag moved?); run `weightops audit`",
                                 expected=claimed, actual=version, ref=tag)
    base = CheckedTag(tag, parsed.kind.value, model, version, parsed.stage, commit, None, None, None, ())
    if parsed.kind not in (Kind.REGISTER, Kind.ASSIGN):
        return base  # nothing new to download: removing a stage or version needs no bytes
    checked = []
    located = project.locate(model, commit, ref=tag)
    if located.card is None:
        # Released before weightops: the DVC pointer is the record (its md5 and size are checked
        # against the remote object below); said once, on stderr.
        from weightops.registry.resolve import say_no_card

        say_no_card(model, tag)
        sha256 = None
        checked.append(f"no model card (released before weightops): DVC pointer {located.pointer.source} "
                       f"records md5 {located.pointer.md5}")
    else:
        sha256 = _checked_card(tag, located, checked)
    recorded = meta.get("sha256")
    if recorded and sha256 and recorded != sha256:
        raise IntegrityError(f"{tag}: the tag message records sha256 {recorded} but the card at {commit[:12]} says "
                             f"{sha256}; the tag does not point at what was released", expected=recorded,
                             actual=sha256, ref=tag)
    if recorded:
        checked.append("sha256 recorded in the tag message matches the card")
    rem = project.remote(commit, remote, root=located.dvc_root, pointer=located.pointer)
    if rem is None:
        raise RefusedError(f"{tag}: no DVC remote is configured at {commit[:12]}; add one with `dvc remote add -d`")
    url = project.object_url(rem, located.pointer)
    if not storage.object_exists(project, rem, located.pointer):
        raise RefusedError(f"{tag}: object for {located.pointer.path} (md5 {located.pointer.md5}) is not in DVC remote "
                           f"'{rem.name}' ({url}); run `dvc push` from the commit that made it", tag=tag)
    checked.append(f"object present in DVC remote '{rem.name}'")
    if sha256 is None:
        checked.append(_object_matches_pointer(project, rem, located.pointer, tag))
    return CheckedTag(tag, parsed.kind.value, model, version, parsed.stage, commit, sha256, rem.name, url,
                      tuple(checked))


def _checked_card(tag: str, located, checked: list[str]) -> str:
    """The card's sha256 after checking it against the schema (RefusedError 5) and the DVC pointer
    (IntegrityError 4); appends what was verified to `checked`."""
    where = "model card" if located.card_source == "commit" else f"model card attached in {located.card_source}"
    try:
        validate_card(located.card, f"{tag}: {where} {located.artifact.card_path}")
    except CardError as exc:
        raise RefusedError(f"{exc}; regenerate it with `dvc repro` and tag a new commit", tag=tag) from None
    checked.append(f"{where} valid against the schema")
    problems = check_card_against_pointer(located.card, located.pointer)
    if problems:
        raise IntegrityError(f"{tag}: {problems[0]}; the card does not describe the weights DVC tracks",
                             expected=located.pointer.md5, actual=located.card["artifact"].get("md5"), ref=tag)
    checked.append(f"card md5 and size match the DVC pointer {located.pointer.source}")
    return located.card["artifact"]["sha256"]


def _object_matches_pointer(project: Project, rem, pointer, tag: str) -> str:
    """For a version without a card: the remote object's size (and MD5, where the backend's etag
    is one) must be what the DVC pointer records, read from its metadata. IntegrityError (4)
    otherwise; returns what was verified."""
    from weightops.storage.recovery import object_health
    from weightops.storage.backends import open_store

    health = object_health(open_store(project, rem), pointer)
    if health.state == "damaged":
        raise IntegrityError(f"{tag}: object {pointer.md5} in DVC remote '{rem.name}' is not the size (or md5) the DVC "
                             f"pointer records; it is not the released bytes", expected=pointer.md5, ref=tag)
    return f"object in DVC remote '{rem.name}' has the pointer's size" + (" and md5" if health.state == "ok" else "")
