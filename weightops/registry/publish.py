"""`weightops publish`: write each model's registry index into the DVC remote, so a fleet of
deploy hosts reads object storage (built for that load, usually behind a CDN) instead of git.

One JSON document per model at `<remote>/weightops/index/v1/NAME.json` (registry/index.py has
the format), written with one PUT (local remote: temp file + rename), so a reader sees the old
document or the new one, never half. Its sequence number only grows.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from weightops.core import clock as _clock, git, git_review
from weightops.errors import NotFoundError, WeightopsError
from weightops.project import Project
from weightops.registry import index
from weightops.registry.records import iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """One model's published index: the model, the document's URL, its sequence, {stage: version} it
    states, how many versions it lists, and the versions `skipped`, each with why."""
    model: str
    url: str              # where the document was written
    sequence: int
    stages: dict          # stage -> version
    versions: int
    skipped: tuple = ()   # versions left out, each with why


def publish(*, model: str | None = None, repo: str | os.PathLike = ".", remote: str | None = None,
            now: int | None = None) -> list[Published]:
    """Publish the index of `model` (default: every model in the registry) into the DVC remote
    `remote` (default: the one configured at HEAD).

    Raises NotFoundError (exit 3) when no remote is configured or the registry is empty, and the
    storage errors of the remote (exit 1, naming the remote) when the write is refused.
    """
    project = Project(repo)
    registry = project.registry()
    head = git.head(project.root)
    if head is None:
        raise NotFoundError("the repository has no commits yet; commit and release a version before publishing")
    rem = project.remote(head, remote)
    if rem is None:
        raise NotFoundError("no DVC remote is configured to publish into; pass --remote NAME or run `dvc remote add -d`")
    base = project.remote_base_url(rem)
    models = [project.model(model)] if model else registry.models()
    if not models:
        raise NotFoundError("the registry has no models yet; release one with `weightops release v1.0.0`")
    clock = _clock.now(now)
    return [_publish_one(project, registry, name, rem, base, clock) for name in models]


def _publish_one(project: Project, registry, model: str, rem, base: str, clock: float) -> Published:
    refs = {e.tag: e for e in registry.events(model)}
    versions: dict[str, dict] = {}
    skipped = []
    for v in registry.versions(model):
        try:
            versions[v.version] = _version_entry(project, model, v, rem, base)
        except WeightopsError as exc:   # a version without card or pointer cannot be served
            skipped.append((v.version, str(exc).splitlines()[0]))
            log.warning("publish %s: leaving out %s: %s", model, v.version, exc)
    stages = {}
    for stage, event in registry.stages(model).items():
        if event.version in versions:
            stages[stage] = {"version": event.version, "tag": event.tag, "commit": event.commit}
    names = [v.tag for v in registry.versions(model)] + list(refs)
    tag_refs = {r.name: r for r in git.list_tags(project.root, [f"refs/tags/{n}" for n in names])}
    raws = git_review.read_tag_objects(project.root, [n for n, r in tag_refs.items() if r.annotated])
    tags = [index.tag_entry(tag_refs[n], raws.get(n)) for n in dict.fromkeys(names) if n in tag_refs]
    key = index.index_key(model)
    from weightops.storage import objects

    previous = objects.read_json(rem, base, key)
    sequence = index.next_sequence(previous.get("sequence") if isinstance(previous, dict) else None,
                                   int(clock * 1000))
    doc = index.build(model=model, sequence=sequence, published=iso(int(clock)),
                      default_model=project.default_model, remote={"name": rem.name, "url": rem.url},
                      stages=stages, versions=versions, tags=tags)
    url = objects.put(rem, base, key, index.encode(doc))
    log.info("published %s (sequence %d) to %s", model, sequence, url)
    return Published(model, url, sequence, {s: e["version"] for s, e in stages.items()}, len(versions),
                     tuple(skipped))


def _version_entry(project: Project, model: str, v, rem=None, base: str | None = None) -> dict:
    located = project.locate(model, v.commit, v.tag)
    if located.card is None:   # the index pins every version by sha256, which only a card gives
        raise NotFoundError(f"{v.tag} has no model card; give it one with `weightops card --attach {v.tag}`")
    art = located.card.get("artifact") or {}
    pointer = located.pointer
    entry = {"tag": v.tag, "commit": v.commit, "sha256": art.get("sha256"), "md5": pointer.md5,
             "size": pointer.size if pointer.size is not None else art.get("size"), "path": pointer.path,
             "key": pointer.object_path()}
    if pointer.is_dir:
        from weightops.storage.pointers import Pointer

        entry["files"] = [{"path": f["path"], "md5": f["md5"], "sha256": f["sha256"], "size": f["size"],
                           "key": Pointer(f["path"], f["md5"], f["size"], "", legacy=pointer.legacy).object_path()}
                          for f in art.get("files") or []]
    if rem is not None:
        _add_oms(project, located, rem, base, entry)
    return entry


def _add_oms(project: Project, located, rem, base: str, entry: dict) -> None:
    """The version's OMS signature (when the remote has one), with the card it signs, so a host
    reading only the index verifies it (deploy/oms.py)."""
    from weightops.storage import objects
    from weightops.trust import oms_store

    from weightops.errors import RefusedError

    try:
        signed = oms_store.signed_set(project, located)
    except RefusedError:   # no committed card: nothing an OMS signature could cover
        return
    bundle = objects.read_json(rem, base, signed.key)
    if isinstance(bundle, dict):
        entry["oms"] = {"key": signed.key, "card": signed.card_name, "card_sha256": signed.card_sha256,
                        "card_text": signed.card.decode("utf-8"), "bundle": bundle}
