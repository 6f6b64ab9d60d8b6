"""`weightops release-notes TAG`: markdown for a release page, from the tag and its card.

Version, digests, lineage, metrics against the previous version (SemVer order) and the
environment. Reads git objects only, so it runs in a CI clone right after the tag is pushed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from weightops.core.units import format_size
from weightops.review.diff import FieldChange, fmt_delta, fmt_value, md_value, fmt_signed_size, flatten, section_changes
from weightops.errors import NotFoundError, UsageError
from weightops.project import Located, Project
from weightops.registry.records import Version, iso
from weightops.registry.tags import Kind, parse_tag


@dataclass(frozen=True)
class ReleaseNotes:
    """Release notes of one version: the model, the Version and where its card is, the previous
    version (and its card) or None, the markdown text, and the lineage Differences (None when
    undecidable)."""
    model: str
    version: Version
    located: Located
    previous: Version | None
    previous_located: Located | None
    markdown: str
    differences: tuple | None = None   # lineage.Difference per input the commit does not hold; None: undecidable


def version_for_tag(project: Project, tag: str, model: str | None = None) -> tuple[str, Version]:
    """(model name, registered Version) a version tag (`v1.2.0`, GTO's `NAME@v1.2.0`) names; `model`
    applies to a plain tag. UsageError (2) for a tag outside the grammar or a stage tag;
    NotFoundError (3) for an unregistered version."""
    parsed = parse_tag(tag)
    if parsed.kind is not Kind.REGISTER:
        raise UsageError(f"'{tag}' is a {parsed.kind.value} tag; release notes are for version tags (v1.2.0, NAME@v1.2.0)")
    name = project.model(parsed.model or model)
    return name, project.registry().version(name, parsed.version)


def previous_version(versions: list[Version], current: Version) -> Version | None:
    """The highest version below `current` (SemVer precedence); pre-releases only compare
    with pre-releases of the same line, so v1.2.0 is compared with v1.1.0, not v1.2.0-rc.1."""
    older = [v for v in versions if v.semver < current.semver]
    if not current.semver.pre:
        older = [v for v in older if not v.semver.pre] or older
    return max(older, key=lambda v: v.semver, default=None)


def release_notes(tag: str, *, model: str | None = None, repo: str | os.PathLike = ".") -> ReleaseNotes:
    """Release notes for version tag TAG: the card's hashes, size and metrics, and their change
    against the previous version. Raises UsageError (2) for a tag outside the grammar,
    NotFoundError (3) for an unknown tag or a version without a declaration or card."""
    project = Project(repo)
    name, version = version_for_tag(project, tag, model)
    located = project.locate(name, version.commit, ref=version.tag)
    prev = previous_version(project.registry().versions(name), version)
    prev_located = None
    if prev is not None:
        try:
            prev_located = project.locate(name, prev.commit, ref=prev.tag)
        except NotFoundError:
            prev_located = None
    differences = reproducibility(project, version, located)
    text = render_notes(name, version, located, prev, prev_located, differences)
    return ReleaseNotes(name, version, located, prev, prev_located, text, differences)


def reproducibility(project: Project, version: Version, located: Located) -> tuple | None:
    """The inputs the card names (deps md5s, params) that the released commit does not hold;
    () means reproducible from that commit; None when the card names no inputs at all."""
    from weightops.model.lineage import compare_inputs

    lineage = (located.card or {}).get("lineage") or {}   # no card: nothing recorded, so unknown
    if not lineage.get("deps") and not lineage.get("params"):
        return None
    return tuple(compare_inputs(project.root, version.commit, lineage, lineage.get("lockfile") or "dvc.lock"))


def _verdict(lineage: dict, differences: tuple | None) -> str:
    if differences is None:
        return "the card names no inputs (no DVC stage recorded any), so reproducibility is unknown"
    if not differences:
        n_deps, n_params = len(lineage.get("deps") or {}), len(flatten(lineage.get("params") or {}))
        return (f"**reproducible from this commit** (it holds exactly the inputs the card names: "
                f"{n_deps} {'dependency' if n_deps == 1 else 'dependencies'}, {n_params} "
                f"{'param' if n_params == 1 else 'params'})")
    return ("**not reproducible from this commit as is**: these inputs differ from the card's: "
            + "; ".join(f"`{d.name}` (card {_short(d.recorded)}, commit {_short(d.found)})" for d in differences))


def _trained(lineage: dict) -> str:
    """Where the training run's code came from, as the card recorded it then."""
    commit = lineage.get("commit")
    if commit is None:
        return "trained before the repository's first commit"
    differ = lineage.get("inputs_differ")
    if differ is None:   # a card written before inputs were compared by content
        return f"trained from commit `{commit}`{' with uncommitted changes' if lineage.get('dirty') else ''}"
    if not differ:
        return f"trained from commit `{commit}`, all inputs as committed"
    return f"trained from code at commit `{commit}`; inputs that differed from it then: " + \
        ", ".join(f"`{d}`" for d in differ)


def _short(value: object) -> str:
    text = "none" if value is None else str(value)
    return text[:12] if len(text) == 32 else text


def render_notes(model: str, version: Version, located: Located, prev: Version | None,
                 prev_located: Located | None, differences: tuple | None = None) -> str:
    """The release notes in markdown: tag, commit and date (ISO 8601 UTC), a table of path, sha256,
    DVC md5 and size (with the change against `prev`), lineage, metrics against `prev`, environment
    and labels. Pure over the cards given."""
    card = located.card or {}   # a release from before weightops has no card: the pointer's fields only
    art = card.get("artifact") or {}
    lineage = card.get("lineage") or {}
    env = card.get("environment") or {}
    out = [f"## {model} {version.version}", "",
           f"Tag `{version.tag}` on commit `{version.commit[:12]}`, {iso(version.time)}"
           + (f", by {version.tagger}" if version.tagger else "") + ".", "",
           "| | |", "| --- | --- |",
           f"| path | `{art.get('path')}` ({art.get('format')}) |",
           f"| sha256 | `{art.get('sha256')}` |",
           f"| md5 (DVC) | `{located.pointer.md5}` |",
           f"| size | {format_size(art.get('size'))} |"]
    if prev_located is not None:
        delta = (art.get("size") or 0) - (((prev_located.card or {}).get("artifact") or {}).get("size") or 0)
        out.append(f"| size vs {prev.version} | {fmt_signed_size(delta)} |")
    out += ["", "### Lineage", "", f"- released from commit `{version.commit}`: {_verdict(lineage, differences)}",
            f"- {_trained(lineage)} on branch `{lineage.get('branch') or '-'}`",
            f"- produced by DVC stage `{lineage.get('stage') or '-'}` at {lineage.get('created_at') or '-'}"]
    params = flatten(lineage.get("params") or {})
    if params:
        out.append("- params: " + ", ".join(f"`{k}={fmt_value(v)}`" for k, v in params.items()))
    for path, md5 in sorted((lineage.get("deps") or {}).items()):
        out.append(f"- data/code dependency `{path}` md5 `{md5}`")
    out += ["", f"### Metrics{f' vs {prev.version}' if prev else ''}", ""]
    metrics = flatten(card.get("metrics") or {})
    old = flatten((prev_located.card or {}).get("metrics") or {}) if prev_located else {}
    if not metrics and not old:
        out.append("No metrics recorded.")
    else:
        out += [f"| metric | {version.version} | {prev.version if prev else 'previous'} | change |",
                "| --- | --- | --- | --- |"]
        for key in sorted(set(metrics) | set(old)):
            c = FieldChange(key, old.get(key), metrics.get(key))
            out.append(f"| {key} | {md_value(c.new)} | {md_value(c.old)} | {fmt_delta(c)} |")
    if prev_located is not None:
        changed = section_changes(flatten(((prev_located.card or {}).get("lineage") or {}).get("params") or {}), params)
        if changed:
            out += ["", f"Params changed since {prev.version}: "
                    + ", ".join(f"`{c.key}` {fmt_value(c.old)} → {fmt_value(c.new)}" for c in changed)]
    out += ["", "### Environment", "",
            f"- Python {env.get('python') or '-'} on {env.get('platform') or '-'}",
            f"- CPU {env.get('cpu') or '-'}; GPU {env.get('gpu') or 'none'}; CUDA {env.get('cuda') or 'none'}"]
    if env.get("container_image"):
        out.append(f"- container `{env['container_image']}`")
    packages = env.get("packages") or {}
    if packages:
        out.append("- packages: " + ", ".join(f"`{k}=={v}`" for k, v in packages.items()))
    labels = card.get("labels") or {}
    if labels:
        out += ["", "### Labels", "", ", ".join(f"`{k}={v}`" for k, v in labels.items())]
    out += ["", f"Resolve it with `weightops resolve {version.version}"
            f"{'' if version.tag == version.version else f' --model {model}'}`."]
    return "\n".join(out) + "\n"
