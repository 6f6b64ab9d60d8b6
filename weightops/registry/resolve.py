"""Turn a reference (stage, version, tag or `latest`) into the exact object to deploy.

Reads git objects only: no DVC import, no checkout, works in a bare clone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from weightops.model.card import require_card_matches
from weightops.errors import NotFoundError, RefusedError, UsageError
from weightops.opening import open_project
from weightops.project import Located, Project
from weightops.registry.state import Registry
from weightops.registry.records import Version, parse_time
from weightops.registry.tags import (Kind, check_stage, is_plain_stage_ref, is_stage_name, is_version, normalize_version, try_parse_tag,
                                     understood_version, version_lookalike)

JSON_KEYS = ("model", "version", "tag", "commit", "path", "md5", "sha256", "size", "remote", "url", "stage",
             "card", "verified_by")


@dataclass(frozen=True)
class Resolved:
    """What a deploy script needs: which bytes, where they are, and how to check them.
    `path` is repo-relative, `md5` DVC's object id (`<hex>` or `<hex>.dir`), `sha256` the
    card's (None for a version without a card), `size` in bytes (None when neither records
    it), `remote` the DVC remote's name and `url` the object's location there (as
    `dvc.api.get_url` prints it), `stage` the stage asked for (None for a version or tag).
    `card_source` is where the card came from (`commit`, the notes ref of an attached card,
    or None: no card, the bytes are checked by DVC's MD5 and size)."""

    model: str
    version: str
    tag: str
    commit: str
    path: str
    md5: str
    sha256: str | None
    size: int | None
    remote: str | None
    url: str | None
    stage: str | None = None
    card: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    located: Located | None = field(default=None, compare=False, hash=False, repr=False)
    trust: object | None = field(default=None, compare=False, hash=False, repr=False)  # trust.Trusted
    note: str | None = field(default=None, compare=False, hash=False, repr=False)
    card_source: str | None = "commit"

    @property
    def verified_by(self) -> str:
        """`sha256` (checked against the card) or `dvc-md5` (no card: DVC's MD5 and size)."""
        return "sha256" if self.sha256 else "dvc-md5"

    def to_dict(self) -> dict:
        """The JSON answer of `weightops resolve --json`: the JSON_KEYS fields, in that order;
        `card` is `card_source`. (All are strings, ints or None, so no copy is needed: `asdict`
        would deep-copy the card.)"""
        return {k: self.card_source if k == "card" else getattr(self, k) for k in JSON_KEYS}

    @property
    def labels(self) -> dict:
        """The card's `labels` (string -> string), {} when it has none (or no card)."""
        return dict((self.card or {}).get("labels") or {})


@dataclass(frozen=True)
class Target:
    """A reference resolved to a version record, before any file is read."""

    model: str
    version: Version
    stage: str | None = None
    trust: object | None = None   # trust.Trusted when signatures were required
    note: str | None = None       # why a stage answers an older assignment, when it does


def refuse_deprecated(registry: Registry, name: str, at: int | None = None) -> None:
    """A deprecated model (GTO's `NAME@deprecated`, its newest event) is not served or promoted
    silently: GTO shows none of its versions. Raises RefusedError (exit 5)."""
    gone = registry.deprecation(name, at)
    if gone is not None:
        raise RefusedError(f"model '{name}' is deprecated ({gone.tag}, {gone.when}): GTO shows none of its versions; "
                           "pass --allow-deprecated to use it anyway, or release a new version to reactivate it")


def find_target(project: Project, registry: Registry, ref: str, model: str | None = None,
                at: str | int | None = None, require_signed: bool | None = None,
                trust_policy: str | None = None, allow_deprecated: bool = False, pre: bool = False) -> Target:
    """Map REF to (model, version): `latest`, `v1.2.0`, `1.2.0`, a tag name or a stage name.
    `latest` is the newest release; `pre` lets a pre-release (v1.4.0-rc.1) be the answer.
    `require_signed` (None: the config's `trust.require_signed` for a stage) obeys only tags
    the trusted policy allows (trust.py); when off, nothing extra is imported or run.
    A deprecated model is refused (RefusedError, exit 5) unless `allow_deprecated`. UsageError
    (2) for a REF of none of these forms, NotFoundError (3) when what it names is not there;
    `at` is ISO 8601 or Unix seconds."""
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise UsageError(f"{ref!r} is not a version, tag, stage or 'latest'")
    at_ts = parse_time(at) if isinstance(at, str) else at
    tag = try_parse_tag(ref)
    if tag is not None and (tag.model is not None or model is None):
        name = tag.model or project.model(model)
        if not allow_deprecated:
            refuse_deprecated(registry, name, at_ts)
        if tag.kind is Kind.REGISTER:
            return _checked(project, registry, Target(name, registry.version(name, tag.version)), require_signed, trust_policy)
        if tag.kind is Kind.ASSIGN:
            event = next((e for e in registry.events(name) if e.tag == ref), None)
            if event is None or event.version is None:
                raise NotFoundError(f"tag '{ref}' does not exist or names no version")
            target = Target(name, registry.version(name, event.version), event.stage)
            return _checked(project, registry, target, require_signed or (
                require_signed is None and project.config.requires_signed(event.stage)), trust_policy, event)
        raise UsageError(f"tag '{ref}' is a {tag.kind.value}, not a version or an assignment")
    name = project.model(model)
    if not allow_deprecated:
        refuse_deprecated(registry, name, at_ts)
    if ref == "latest":
        return _checked(project, registry, Target(name, registry.latest(name, pre)), require_signed, trust_policy)
    if is_version(ref):
        try:
            version = registry.version(name, normalize_version(ref))
        except NotFoundError as exc:
            note = understood_version(ref)   # `1.2.0`: say the `v` was added
            raise NotFoundError(f"{note}: {exc}" if note else str(exc)) from None
        return _checked(project, registry, Target(name, version), require_signed, trust_policy)
    if is_stage_name(ref):
        if require_signed or (require_signed is None and project.config.requires_signed(ref)):
            from weightops.trust.policy import trusted_stage
            found = trusted_stage(project, registry, name, ref, at_ts, trust_policy)
            return Target(name, registry.version(name, found.event.version), ref, found)
        event = registry.stage_event(name, ref, at=at_ts)
        if event is None:
            check_stage(ref, project.config.stages, registry.stage_names(name))
            when = f" at {at}" if at else ""
            raise NotFoundError(f"no version of '{name}' holds stage '{ref}'{when}: {registry.why_empty(name, ref, at_ts)}")
        if event.version is None:
            raise NotFoundError(f"stage '{ref}' is held by {event.tag} on {event.commit[:12]}, where no version of "
                                f"'{name}' is registered (GTO shows the commit as an unregistered version); "
                                "register a version there and assign it again")
        return Target(name, registry.version(name, event.version), ref,
                      note=registry.fallback_note(name, ref, at_ts))
    meant = version_lookalike(ref)
    hint = f"; did you mean {meant}?" if meant else ""
    raise UsageError(f"'{ref}' is not a version (v1.2.0), tag, stage name or 'latest'{hint}")


def _checked(project: Project, registry: Registry, target: Target, require_signed: bool | None,
             trust_policy: str | None, event=None) -> Target:
    """A tag named directly (version or assignment): when signatures are required it must
    pass the trusted policy itself, or the answer is refused (exit 5)."""
    if not require_signed:
        return target
    from weightops.trust.policy import require_trusted_tag
    if event is None:
        event = next(e for e in registry.events(target.model) if e.tag == target.version.tag)
    return Target(target.model, target.version, target.stage, require_trusted_tag(project, event, trust_policy))


def resolve(ref: str = "latest", *, model: str | None = None, repo: str | os.PathLike = ".",
            at: str | int | None = None, remote: str | None = None,
            project: Project | None = None, registry: Registry | None = None,
            require_signed: bool | None = None, trust_policy: str | None = None,
            allow_deprecated: bool = False, pre: bool = False) -> Resolved:
    """Resolve REF (a stage, a version `v1.2.0`, a tag, or 'latest') of MODEL in `repo` (a path,
    or a git URL read without a clone) to a Resolved: version, tag, commit, DVC pointer (path,
    md5, size in bytes), card sha256 and the object's URL in DVC remote `remote`. `at` (ISO 8601
    or Unix seconds) answers from the tag history as of then; `require_signed` (None: the
    project's `trust.require_signed`) obeys only tags the trusted policy at `trust_policy`
    allows; `latest` is the newest release (SemVer), a pre-release only with `pre`. Stage and
    version semantics are GTO's (github.com/iterative/gto).

    Raises UsageError (2) for a bad name, NotFoundError (3) for no such ref, version, stage or
    pointer, IntegrityError (4) when card and pointer disagree, RefusedError (5) when signatures
    are required and no assignment passes the trust policy, or for a deprecated model (GTO's
    `NAME@deprecated`) unless `allow_deprecated`.
    """
    project = project or open_project(repo)
    with project.reading():   # git's object reader starts now and is ready when describe reads
        if registry is None:
            # A stage name (what deploy scripts ask for) needs only that stage's tags and the versions.
            registry = project.registry(project.model(model), ref) if is_plain_stage_ref(ref) else project.registry()
        target = find_target(project, registry, ref, model, at, require_signed, trust_policy, allow_deprecated, pre)
        return describe(project, target, remote=remote)


def describe(project: Project, target: Target, remote: str | None = None) -> Resolved:
    """The Resolved for `target`: its commit's DVC pointer and card (read from git objects,
    see `Project.locate`) and the object's URL in DVC remote `remote` (None: the out's own
    `remote:`, else `core.remote`). A version without a card (released before weightops)
    resolves from its pointer alone (`sha256` None, `card_source` None) and says so once on
    stderr. NotFoundError (3) for a missing declaration, pointer or remote, IntegrityError (4)
    when card and pointer disagree, RefusedError (5) for an output weightops does not serve."""
    v = target.version
    located = project.locate(target.model, v.commit, ref=v.tag)
    if located.card is not None:
        require_card_matches(located.card, located.pointer, v.tag)
    else:
        say_no_card(target.model, v.tag)
    dvc_remote = project.remote(v.commit, remote, root=located.dvc_root, pointer=located.pointer)
    art = (located.card or {}).get("artifact") or {}
    return Resolved(
        model=target.model, version=v.version, tag=v.tag, commit=v.commit,
        path=located.pointer.path, md5=located.pointer.md5, sha256=art.get("sha256"),
        size=located.pointer.size if located.pointer.size is not None else art.get("size"),
        remote=dvc_remote.name if dvc_remote else None,
        url=project.object_url(dvc_remote, located.pointer), stage=target.stage,
        card=located.card or {}, located=located, trust=target.trust, note=target.note,
        card_source=located.card_source,
    )


_SAID: set[str] = set()


def say_no_card(model: str, tag: str) -> None:
    """One stderr line, once per process and tag, that `tag` has no card (model/attached.py
    words it). Logged (a warning): the CLI shows it, a library caller may silence it."""
    if tag in _SAID:
        return
    _SAID.add(tag)
    import logging   # only for a version without a card: resolve of a carded one never imports it

    from weightops.model.attached import no_card_message

    logging.getLogger(__name__).warning("%s", no_card_message(model, tag))
