"""Library entry points that combine modules: card writing and registry listings."""

from __future__ import annotations

import os
from pathlib import Path

from weightops.core import git
from weightops.model.card import build_card, parse_labels, read_metrics, write_card
from weightops.errors import NotFoundError
from weightops.storage.dvc_config import dvc_cache_dir
from weightops.storage.pointers import stay_inside
from weightops.opening import open_project
from weightops.project import Project
from weightops.registry.records import iso
from weightops.registry.tags import validate_new_model_name


def make_card(weights: str | os.PathLike, out: str | os.PathLike, *, model: str | None = None,
              metrics: str | os.PathLike | None = None, labels: list[str] | dict | None = None,
              signature: str | os.PathLike | dict | None = None) -> dict:
    """Hash the weights (one streamed pass) and write a validated card atomically. `weights` is a
    file or folder, `out` the card path, `labels` KEY=VALUE strings or a dict, `signature` a file or
    mapping in MLflow's format. NotFoundError (3) for missing weights, metrics or signature file;
    UsageError (2) for a bad model name, label, metrics or signature; RefusedError (5) when a
    symlink takes the weights out of the repository; CardError (1) when the card fails
    templates/card.schema.json."""
    weights, out = Path(weights), Path(out)
    if not weights.exists():
        raise NotFoundError(f"weights '{weights}' do not exist; train first (dvc repro)")
    try:  # the repository the path names, not where its symlinks lead
        root = git.toplevel(Path(os.path.abspath(weights)).parent)
    except NotFoundError:
        root = None
    if root is not None:
        cache = dvc_cache_dir(root)
        stay_inside(weights, root, "weights", also=(cache,) if cache else ())
    if model is None:
        model = Project(root).default_model if root else None
        model = model or weights.stem
    model = validate_new_model_name(model)
    card = build_card(weights, model, project=root,
                      metrics=read_metrics(Path(metrics)) if metrics else None,
                      labels=labels if isinstance(labels, dict) else parse_labels(labels or []),
                      signature=load_signature(signature))
    write_card(card, out)
    return card


def load_signature(source: str | os.PathLike | dict | None) -> dict | None:
    """A signature in MLflow's format (file or mapping), validated and normalized. None for None.
    NotFoundError (3) for a missing file; UsageError (2) for a signature MLflow would refuse."""
    from weightops.model.signature import load_signature as _load, parse_signature

    if source is None:
        return None
    sig = parse_signature(source) if isinstance(source, dict) else _load(source)
    return sig.to_dict()


def list_versions(repo: str | os.PathLike = ".", model: str | None = None, *,
                  deprecated: bool = False) -> list[dict]:
    """Every model's active versions (or MODEL's), newest first, as `gto show` lists them:
    dicts with model, version, tag, commit, created (ISO 8601 UTC), sha256, stages held now,
    deprecated, card (`commit`, the notes ref of an attached card, or None: no card) and
    verified_by (`sha256`, or `dvc-md5` for a version without a card). Deregistered versions are left out, and so are a deprecated model's unless
    `deprecated` (GTO's `--deprecated`). `repo` is a path or a git URL (read without a clone).
    `sha256` is the release message's, else (a lightweight or GTO tag) the card's at the tagged
    commit, read in one batch; None only when that commit has no readable card.
    NotFoundError (3) outside a repository, UsageError (2) for a bad model name."""
    from weightops.review.report import read_cards

    project = open_project(repo)
    registry = project.registry()
    models = [project.model(model)] if model else project.models_in(registry)
    unrecorded = [(name, v.commit) for name in models for v in registry.versions(name) if not v.meta.get("sha256")]
    sources: dict = {}
    cards = read_cards(project.root, unrecorded, sources) if unrecorded else {}
    rows = []
    for name in models:
        if registry.is_deprecated(name) and not deprecated:
            continue
        stages = registry.stages(name)
        for v in registry.versions(name):
            key = (name, v.commit)
            card = cards.get(key, "recorded")   # absent: the release message recorded the sha256
            sha256 = v.meta.get("sha256") or (
                (card.get("artifact") or {}).get("sha256") if isinstance(card, dict) else None)
            rows.append({
                "model": name, "version": v.version, "tag": v.tag, "commit": v.commit,
                "created": iso(v.time), "sha256": sha256,
                "stages": sorted(s for s, e in stages.items() if e.version == v.version and e.commit == v.commit),
                "deprecated": registry.is_deprecated(name),
                # where the card is: `commit`, the notes ref of an attached one, or None (no card:
                # a release from before weightops, checked by DVC's md5)
                "card": "commit" if key not in cards or isinstance(card, str) else sources.get(key),
                "verified_by": "sha256" if sha256 else "dvc-md5",
            })
    return rows


def deprecated_models(repo: str | os.PathLike = ".", model: str | None = None) -> list[tuple[str, str]]:
    """(model, deprecation tag) of each deprecated model (`NAME@deprecated` is its newest event).
    NotFoundError (3) outside a repository; UsageError (2) for a bad model name."""
    project = open_project(repo)
    registry = project.registry()
    models = [project.model(model)] if model else registry.models()
    return [(m, registry.deprecation(m).tag) for m in models if registry.is_deprecated(m)]


def version_lookalikes(repo: str | os.PathLike = ".") -> list[dict]:
    """Tags that look like versions but are outside the grammar (`1.2.0`, `v1.2`), each with the tag
    it was probably meant to be: `[{"tag": "1.2.0", "meant": "v1.2.0"}]`. weightops, GTO and DVC all
    ignore such tags; this says so instead of staying silent. NotFoundError (3) outside a
    repository."""
    from weightops.registry.tags import version_lookalike

    project = open_project(repo)
    found = ((r.name, version_lookalike(r.name)) for r in git.list_tags(project.root, messages=False))
    return [{"tag": n, "meant": m} for n, m in found if m]
