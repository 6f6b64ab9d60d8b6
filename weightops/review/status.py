"""`weightops status`: a project on one screen. Which models there are, which version holds
each stage, the last release, whether the audit is clean, and what is not pushed yet (registry
tags the git remote lacks, versions whose object the DVC remote lacks). Read-only; every check
is one the project already has (the registry fold, `audit` without re-hashing, one
`git ls-remote`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from weightops.core import git, git_remote
from weightops.errors import NotFoundError
from weightops.project import Project
from weightops.registry.records import iso


@dataclass(frozen=True)
class ModelStatus:
    """One model: its newest version (None before the first release), how many versions, the
    version holding each stage now ({stage: version}, configured stages first), deprecated."""

    name: str
    latest: str | None
    versions: int
    stages: dict
    deprecated: bool = False

    def to_dict(self) -> dict:
        """As JSON: name, latest, versions, stages, deprecated."""
        return {"name": self.name, "latest": self.latest, "versions": self.versions, "stages": dict(self.stages),
                "deprecated": self.deprecated}


@dataclass(frozen=True)
class Status:
    """The overview. `last_release` is {model, version, tag, time (ISO 8601 UTC)} or None;
    `audit_ok`/`audit_summary` are None when the audit was not run; `git_remote` is the git
    remote's name (None: there is none); `unpushed_tags` the registry tags it lacks (None: no
    remote, or it could not be reached, `remote_problem` says which); `unpushed_objects` the
    version tags whose object is not in the DVC remote (from the audit; None when not run)."""

    root: str
    models: tuple[ModelStatus, ...]
    last_release: dict | None
    audit_ok: bool | None
    audit_summary: str | None
    git_remote: str | None
    unpushed_tags: tuple[str, ...] | None
    unpushed_objects: tuple[str, ...] | None
    remote_problem: str | None = None

    def to_dict(self) -> dict:
        """As JSON for `status --json`: every field, models as a list of dicts."""
        return {"root": self.root, "models": [m.to_dict() for m in self.models], "last_release": self.last_release,
                "audit": {"ok": self.audit_ok, "summary": self.audit_summary}, "git_remote": self.git_remote,
                "unpushed_tags": None if self.unpushed_tags is None else list(self.unpushed_tags),
                "unpushed_objects": None if self.unpushed_objects is None else list(self.unpushed_objects),
                "remote_problem": self.remote_problem}


def status(repo: str | os.PathLike = ".", *, audit: bool = True) -> Status:
    """The project at `repo` (a path) on one screen; see `Status`. Models are those with
    registry tags (GTO's or weightops') and those dvc.yaml declares without a release yet.
    `audit` runs `review.audit.audit` without re-hashing and without its own git remote read,
    and gives the audit result and the objects missing from the DVC remote. NotFoundError (3)
    outside a repository; UsageError (2) for a malformed weightops.yaml or dvc.yaml."""
    project = Project(repo)
    registry = project.registry()
    configured = tuple(project.config.stages)
    names = list(dict.fromkeys([*project.declared_models, *registry.models()]))
    models, newest = [], None
    for name in names:
        versions = registry.versions(name) if name in registry.models() else []
        held = registry.stages(name) if versions else {}
        order = [s for s in configured if s in held] + sorted(s for s in held if s not in configured)
        latest = max(versions, key=lambda v: (v.time, v.tag), default=None)
        models.append(ModelStatus(name, _latest_version(registry, name, versions), len(versions),
                                  {s: held[s].version for s in order}, registry.is_deprecated(name) if versions else False))
        if latest is not None and (newest is None or (latest.time, latest.tag) > (newest.time, newest.tag)):
            newest = latest
    last = None if newest is None else {"model": newest.model, "version": newest.version, "tag": newest.tag,
                                        "time": iso(newest.time)}
    audit_ok = summary = missing = None
    if audit and newest is not None:
        from weightops.review.audit import audit as run_audit

        report = run_audit(project.root, rehash=False, offline=True)
        audit_ok, summary = report.ok, report.summary
        missing = tuple(f.tag for f in report.findings if f.kind == "missing-object")
    remote, unpushed, problem = _unpushed_tags(project, registry)
    return Status(str(project.root), tuple(models), last, audit_ok, summary, remote, unpushed, missing, problem)


def _latest_version(registry, name: str, versions: list) -> str | None:
    """The model's newest release in SemVer order (a pre-release only when there is nothing else)."""
    if not versions:
        return None
    try:
        return registry.latest(name).version
    except NotFoundError:   # only pre-releases: the newest of those
        return registry.latest(name, pre=True).version


def _unpushed_tags(project: Project, registry) -> tuple[str | None, tuple[str, ...] | None, str | None]:
    """(git remote name, registry tags it lacks or has elsewhere, why that is None): one `git ls-remote`."""
    name = git.default_remote(project.root)
    if not name:
        return None, None, "no git remote: the registry's tags exist in this clone only"
    theirs = git_remote.remote_tags(project.root, name)
    if theirs is None:
        return name, None, f"git remote '{name}' could not be reached"
    mine = {e.tag for model in registry.models() for e in registry.events(model)}
    mine |= {v.tag for model in registry.models() for v in registry.versions(model)}
    ours = [r for r in git.list_tags(project.root, messages=False) if r.name in mine]
    return name, tuple(r.name for r in ours if theirs.get(r.name) != r.commit), None
