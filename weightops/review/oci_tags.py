"""OCI tags against git, for `audit`: every version and stage tag of a model's OCI repository
compared with the manifest digest git computes for it (registry/oci.py builds the manifests)."""

from __future__ import annotations

from dataclasses import dataclass

from weightops.errors import NotFoundError
from weightops.oci.reference import Reference
from weightops.project import Project
from weightops.registry.oci import client_for, expected_digest, repository_for, unassigned


@dataclass(frozen=True)
class TagCheck:
    """One OCI tag compared with git: the `tag`, what git says its manifest digest must be
    (`expected`, None: the tag should not point at a version), what the registry has (`actual`,
    None: absent), and `problem` (a one-line message, None when they agree)."""

    tag: str
    expected: str | None
    actual: str | None
    problem: str | None


def compare_tags(project: Project, model: str, plain_http: bool | None = None) -> tuple[Reference, list[TagCheck]]:
    """Every version and stage tag of `model`'s OCI repository against git: a version tag must
    point at the manifest built from its commit; a stage tag at its holder's manifest (an empty
    stage: absent or the "unassigned" manifest); a version-like tag git does not know is a problem.
    A version never published is reported with `problem` None and `actual` None. Errors as the
    client's (WeightopsError, 1, when the registry cannot be read)."""
    from weightops.registry.tags import is_version

    target = repository_for(project, model)
    client = client_for(project, target, plain_http)
    registry = project.registry()
    published = set(client.tags(target.repository))
    name = target.name
    checks: list[TagCheck] = []
    known = set()
    for v in registry.versions(model):
        known.add(v.version)
        try:
            want = expected_digest(project, model, v.version)
        except NotFoundError:   # no card (released before weightops): nothing to compare with
            continue
        have = client.manifest_digest(target.repository, v.version) if v.version in published else None
        problem = None if have in (None, want) else (
            f"{name}:{v.version} points at {have}, but git's {v.tag} (commit {v.commit[:12]}) builds {want}; "
            f"re-publish it (`weightops publish {v.version}`) after finding who moved it")
        checks.append(TagCheck(v.version, want, have, problem))
    stages = registry.stages(model)
    for stage in sorted(set(project.config.stages) | set(registry.stage_names(model)) | (published - known)):
        if stage in known or not (stage in stages or stage in project.config.stages or stage in registry.stage_names(model)):
            continue
        have = client.manifest_digest(target.repository, stage) if stage in published else None
        event = stages.get(stage)
        if event is None:
            empty = unassigned(model, stage)[1]
            problem = None if have in (None, empty) else (
                f"{name}:{stage} points at {have}, but stage '{stage}' has no version in git; "
                f"run `weightops publish {stage}` to empty it")
            checks.append(TagCheck(stage, None, have, problem))
            continue
        want = expected_digest(project, model, event.version)
        problem = None if have == want else (
            f"{name}:{stage} points at {have or 'nothing'}, but git's {event.tag} assigns {event.version} "
            f"({want}); pullers of the tag get other bytes than git's stage; run `weightops publish {stage}`")
        checks.append(TagCheck(stage, want, have, problem))
    for tag in sorted(published - known):
        if is_version(tag):
            checks.append(TagCheck(tag, None, client.manifest_digest(target.repository, tag),
                                   f"{name}:{tag} looks like a version, but git has no release {tag} of '{model}'"))
    return target, checks


def oci_checks(project: Project, models) -> list[tuple[str, str, str]]:
    """(kind, tag, message) for `audit` when `oci.repository` is set, [] otherwise: an `oci-tag`
    finding for each OCI tag of `models` that disagrees with git (or a repository that cannot be
    read), an `oci-unpublished` notice for each version not in the registry."""
    from weightops.errors import WeightopsError

    if not project.config.section("oci").get("repository"):
        return []
    out = []
    for model in models:
        try:
            target, checks = compare_tags(project, model)
        except WeightopsError as exc:
            out.append(("oci-tag", model, f"cannot compare the OCI tags of '{model}' with git: {exc}"))
            continue
        for c in checks:
            if c.problem:
                out.append(("oci-tag", f"{target.name}:{c.tag}", c.problem))
            elif c.actual is None and c.expected is not None:
                out.append(("oci-unpublished", f"{target.name}:{c.tag}",
                            f"{target.name}:{c.tag} is not in the registry; `weightops publish {c.tag}` pushes it"))
    return out
