"""Hardware-aware variants: among the models assigned to a stage, the one whose labels match.

A variant is a model whose card labels (`weightops card --label sensor=v2`) or dvc.yaml
artifact labels (`labels: [sensor=v2]`) say what hardware it is for. `--match sensor=v2`
picks the single model holding the stage whose labels contain every given pair; none or
several is NotFoundError (exit 3) naming the candidates.
"""

from __future__ import annotations

import os
from pathlib import Path

from weightops.errors import NotFoundError, RefusedError, UsageError
from weightops.model.card import parse_labels
from weightops.project import Project
from weightops.registry.state import Registry
from weightops.registry.resolve import Resolved, describe, find_target
from weightops.registry.tags import is_stage_name


def read_match_file(path: str | os.PathLike) -> dict[str, str]:
    """A device's YAML file: a flat mapping of label -> value (`sensor: v2`), values as strings
    (booleans as `true`/`false`; an empty file is {}). NotFoundError (3) when the file is missing;
    UsageError (2) when it is not a flat mapping."""
    from weightops.core.yamlio import safe_load

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"match file '{path}' does not exist")
    doc = safe_load(path.read_bytes(), str(path))
    if doc is None:
        return {}
    if not isinstance(doc, dict) or any(isinstance(v, (dict, list)) for v in doc.values()):
        raise UsageError(f"match file '{path}' must be a flat mapping of label: value (for example sensor: v2)")
    return {str(k): _text(v) for k, v in doc.items()}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def match_pairs(pairs: list[str] | None = None, match_file: str | os.PathLike | None = None) -> dict[str, str]:
    """The file's pairs, then the command line's on top. NotFoundError (3) for a missing match file;
    UsageError (2) for a malformed file or pair."""
    result = read_match_file(match_file) if match_file else {}
    result.update(parse_labels(pairs, what="--match", empty_value=False))
    return result


def labels_of(resolved: Resolved) -> dict[str, str]:
    """Card labels, plus `key=value` entries of the artifact's dvc.yaml `labels:` list."""
    labels = {}
    if resolved.located is not None:
        for item in resolved.located.artifact.labels:
            key, sep, value = item.partition("=")
            if sep:
                labels[key.strip()] = value.strip()
    labels.update({str(k): _text(v) for k, v in resolved.labels.items()})
    return labels


def resolve_variant(project: Project, registry: Registry, stage: str, pairs: dict[str, str],
                    *, models: list[str] | None = None, at: str | int | None = None,
                    remote: str | None = None, require_signed: bool | None = None,
                    trust_policy: str | None = None) -> Resolved:
    """The Resolved of the unique model holding `stage` whose labels contain all `pairs`. With
    signatures required, a model whose assignment the trust policy refuses is no candidate (one
    untrusted variant must not block the others). `at` is ISO 8601 or Unix seconds. UsageError (2)
    when `stage` is not a stage name or `pairs` is empty; NotFoundError (3) when no model or several
    match (naming the candidates); RefusedError (5) when nothing matches and some holder was refused
    by the trust policy."""
    if not is_stage_name(stage):
        raise UsageError(f"--match picks among the models holding a stage; '{stage}' is not a stage name")
    if not pairs:
        raise UsageError("--match needs at least one KEY=VALUE pair")
    candidates: list[Resolved] = []
    refused: list[RefusedError] = []
    for name in models or registry.models():
        try:
            target = find_target(project, registry, stage, name, at, require_signed, trust_policy)
        except NotFoundError:
            continue  # this model does not hold the stage
        except RefusedError as exc:
            refused.append(exc)
            continue
        candidates.append(describe(project, target, remote=remote))
    matching = [r for r in candidates if all(labels_of(r).get(k) == v for k, v in pairs.items())]
    if len(matching) == 1:
        return matching[0]
    if not matching and refused:
        raise refused[0]  # the variant may be among the untrusted ones: say why
    if not candidates:
        raise NotFoundError(f"no model holds stage '{stage}'; nothing to match {_show(pairs)} against")
    seen = "; ".join(f"{r.model} {r.version} [{_show(labels_of(r)) or 'no labels'}]" for r in candidates)
    if not matching:
        raise NotFoundError(f"no model holding '{stage}' matches {_show(pairs)} (candidates: {seen})")
    names = ", ".join(f"{r.model} {r.version}" for r in matching)
    raise NotFoundError(f"{_show(pairs)} is ambiguous in '{stage}': {names} all match; "
                        "add --match pairs to pick one")


def _show(pairs: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(pairs.items()))


def resolve_match(stage: str, pairs: dict[str, str], *, repo: str | os.PathLike = ".",
                  model: str | None = None, at: str | int | None = None, remote: str | None = None,
                  require_signed: bool | None = None, trust_policy: str | None = None,
                  project: Project | None = None) -> Resolved:
    """Library entry point: `weightops resolve STAGE --match k=v` (model limits the search). `repo`
    may be a git URL, read without a clone as `weightops pull --repo URL` does. Raises as
    `resolve_variant`; NotFoundError (3) when `repo` is not a repository."""
    if project is None:
        from weightops.opening import open_project

        project = open_project(repo)
    return resolve_variant(project, project.registry(), stage, pairs,
                           models=[project.model(model)] if model else None, at=at, remote=remote,
                           require_signed=require_signed, trust_policy=trust_policy)
