"""Writing to the registry: release a version (an annotated tag on the commit).

Tags are created, never moved or deleted; the one exception is a tag this process just made
and failed to push, which it removes so no counter or version is claimed twice.
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass

from weightops.core import clock, dvc, git
from weightops.storage import remotes as storage
from weightops.model.card import artifact_files, check_card_against_file, missing_card, require_card_matches
from weightops.errors import IntegrityError, NotFoundError, RefusedError, WeightopsError
from weightops.storage.hashing import dvc2_md5
from weightops.storage.dvc_config import dvc_cache_dir
from weightops.storage.pointers import stay_inside
from weightops.project import Project
from weightops.registry.state import Registry, tag_time
from weightops.registry.records import format_message
from weightops.registry.tags import format_version_tag, normalize_version
from weightops.trust.signing import choose_signing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Released:
    """A release: model, version (`vX.Y.Z`), the tag written (`vX.Y.Z` or GTO's `NAME@vX.Y.Z`), the
    commit it tags, the weights' sha256 (hex), whether the tag was pushed and to which git remote."""
    model: str
    version: str
    tag: str
    commit: str
    sha256: str
    pushed: bool
    remote: str | None = None      # the git remote the tag was pushed to (None: not pushed)
    signature: str | None = None   # the OMS signature's URL in the DVC remote, when signed


def release(version: str, *, model: str | None = None, repo: str | os.PathLike = ".",
            push: bool = False, message: str | None = None, now: int | None = None,
            sign: bool | None = None, remote: str | None = None, oms_key: str | os.PathLike | None = None,
            oms_cert: str | os.PathLike | None = None, oms_chain: tuple = ()) -> Released:
    """Release the work tree's HEAD as VERSION of MODEL: an annotated tag `vX.Y.Z` (plain style,
    the default model) or `NAME@vX.Y.Z` (GTO's registration), after checking the tree is clean,
    the card matches the DVC pointer and the weights, and the object is in the DVC remote:
    `remote` (a name) if given, else the out's own `remote:`, else `core.remote`.

    `version` is SemVer with or without `v`; `now` is the tag date in Unix seconds (default:
    core.clock); `sign` None follows `trust.sign` in weightops.yaml; `push` runs `dvc push`
    to that remote first, then pushes the tag. `oms_key` (default $WEIGHTOPS_OMS_KEY; with `oms_cert`
    and `oms_chain` for certificate mode) writes an OMS signature into the remote before the tag
    (registry/oms_sign.py); `trust.oms.require` refuses a release without one. Raises UsageError (2) for a bad name,
    NotFoundError (3) for a missing declaration or pointer, IntegrityError (4) when card and
    bytes disagree, RefusedError (5) for an existing version, a dirty tree, a missing remote
    object or a rejected push, DvcError/GitError (1) when a tool fails.
    """
    project = Project(repo)
    if project.bare:
        raise RefusedError("release needs a work tree; run it in a clone, not a bare repository")
    sign = choose_signing(project, sign)
    from weightops.registry.oms_sign import KEY_ENV, sign_located, signing_key

    oms_key = signing_key(oms_key, oms_cert, oms_chain, root=project.root)
    if oms_key is None and project.config.trust.oms.signs:
        raise RefusedError(f"trust.oms.require: releases carry an OMS signature; pass --oms-key PEM or set {KEY_ENV}")
    name = project.model(model)
    version = normalize_version(version)
    style_plain = project.config.tag_style == "plain" and name == project.default_model
    tag = format_version_tag(version, None if style_plain else name)
    registry = project.registry()
    existing = registry.find_version(name, version)
    if existing is not None or git.tag_exists(project.root, tag):
        which = existing.tag if existing is not None else tag
        gone = registry.deregistration(name, version) if existing is not None else None
        state = f", deregistered by {gone.tag}" if gone else ""
        raise RefusedError(f"version {version} of '{name}' already exists (tag {which}{state}); "
                           "tags are never moved, pick a new version")
    dirty = git.dirty_paths(project.root)
    if dirty:
        raise RefusedError(f"the work tree has uncommitted changes ({', '.join(dirty[:3])}); commit them before releasing")
    commit = git.head(project.root)
    if commit is None:
        raise RefusedError("the repository has no commits; train and commit first")
    refuse_second_version(registry, name, commit, version)
    try:
        located = project.locate(name, commit, ref=tag)
        if located.card_source != "commit":   # a new release pins its bytes by a card it holds itself
            raise missing_card(f"model card {located.artifact.card_path} at {commit[:12]}")
        require_card_matches(located.card, located.pointer, tag)
    except (NotFoundError, IntegrityError) as exc:
        if getattr(exc, "card", None) is None and not isinstance(exc, IntegrityError):
            raise
        # A missing or stale card: say what writes it here, not a `dvc repro` that may be up to date.
        raise type(exc)(f"{exc.message.split('; ')[0]}; {card_advice(project, name, commit)}", **exc.fields) from None
    weights = project.root / located.pointer.path
    if weights.exists() or weights.is_symlink():
        cache = dvc_cache_dir(project.root / located.dvc_root)
        stay_inside(weights, project.root, "weights", also=(cache,) if cache else ())
        if weights.is_dir():
            artifact_files(weights, project.root)   # no file of the directory may lead out either
        check_card_against_file(located.card, weights, tag)
        if located.pointer.legacy and located.card["artifact"].get("md5") != located.pointer.md5 \
                and weights.is_file() and dvc2_md5(weights) != located.pointer.md5:
            raise IntegrityError(f"{tag}: {located.pointer.source} (written by DVC 2) records md5 {located.pointer.md5}, "
                                 f"but {located.pointer.path} hashes differently by DVC 2's rule too; run `dvc commit`",
                                 expected=located.pointer.md5, ref=tag)
    external = [e["path"] for e in located.card["artifact"].get("external_data") or ()]
    if external:
        folder = posixpath.dirname(located.pointer.path) or "."
        raise RefusedError(f"the weights of {located.pointer.path} live in {', '.join(external)}, which DVC does not "
                           f"track with it: the remote would hold the graph without its weights; track the folder "
                           f"as one artifact instead (dvc add {folder})")
    remote_name = remote
    remote = project.remote(commit, remote_name, root=located.dvc_root, pointer=located.pointer)
    if remote is None:
        raise RefusedError("no DVC remote is configured; add one with `dvc remote add -d NAME URL`")
    if push:
        dvc.push(project.root / located.dvc_root, remote.name)
        if remote.cloud_versioned and git.dirty_paths(project.root):
            raise RefusedError(f"`dvc push` to cloud-versioned remote '{remote.name}' recorded the object versions in "
                               f"{located.pointer.source}; commit it and release again")
    url = project.object_url(remote, located.pointer)
    if not storage.object_exists(project, remote, located.pointer):
        hint = (f"push with `dvc push -r {remote.name}` and commit {located.pointer.source}" if remote.cloud_versioned
                else "run `dvc push` or pass --push")
        imported = (f"; it is imported from {located.pointer.imported_from} (dvc import), and weightops serves it "
                    "only from this project's remote, never from the import's source") if located.pointer.imported_from else ""
        raise RefusedError(f"object for {located.pointer.path} is not in remote '{remote.name}' ({url}); {hint}{imported}")
    sha256 = located.card["artifact"]["sha256"]
    # Before the tag: a signature nobody's tag names is harmless, a tag missing its signature is not.
    signed = sign_located(project, located, remote, oms_key, tag) if oms_key else None
    text = format_message(message or f"weightops release {name} {version}", {
        "model": name, "version": version, "sha256": sha256, "md5": located.pointer.md5,
        "size": located.pointer.size, "path": located.pointer.path, "by": git.identity(project.root),
    })
    git.create_tag(project.root, tag, commit, text, time=tag_time(registry, name, clock.now(now)), sign=sign)
    pushed, git_remote = False, None
    if push:
        git_remote = git.default_remote(project.root)
        pushed = push_new_tag(project, tag, git_remote)
        from weightops.registry.oci import publish_after

        publish_after(project, name, version, f"released {tag}")
    log.info("released %s %s as %s at %s", name, version, tag, commit[:12])
    return Released(name, version, tag, commit, sha256, pushed, git_remote if pushed else None,
                    signed.url if signed else None)


def card_advice(project: Project, name: str, commit: str) -> str:
    """What writes the card of NAME at `commit` again, as the rest of a one-line message: `dvc
    repro` when a stage of its dvc.yaml has the card among its outs (the pipeline writes it),
    else the `weightops card WEIGHTS -o CARD --model NAME` to run; then commit. Never raises."""
    from weightops.storage.pointers import dvcyaml_for, load_yaml, parse_artifacts

    dvcyaml = dvcyaml_for(name)
    base = posixpath.dirname(dvcyaml)
    try:
        doc = load_yaml(project.blobs([f"{commit}:{dvcyaml}"])[f"{commit}:{dvcyaml}"], dvcyaml) or {}
        artifact = parse_artifacts(doc, dvcyaml)[name]
    except (WeightopsError, KeyError):
        return "write it with `weightops card WEIGHTS -o CARD` and commit it"
    for stage, spec in ((doc.get("stages") or {}) if isinstance(doc, dict) else {}).items():
        outs = spec.get("outs") if isinstance(spec, dict) else None
        for out in outs or []:
            path = next(iter(out)) if isinstance(out, dict) and out else out
            if isinstance(path, str) and posixpath.normpath(posixpath.join(base, path)) == artifact.card_path:
                return f"run `dvc repro` (stage '{stage}' writes the card), commit, and release again"
    here = os.path.relpath(project.root / artifact.path), os.path.relpath(project.root / artifact.card_path)
    return (f"write it with `weightops card {here[0]} -o {here[1]} --model {name}`, commit it ({here[1]}), "
            "and release again")


def refuse_second_version(registry: Registry, name: str, commit: str, version: str) -> None:
    """GTO registers one version per commit (`VersionExistsForCommit`); a second one makes every
    GTO command for the model fail. Raises RefusedError (exit 5) naming the tag that exists."""
    held = registry.versions_at(name, commit)
    if held:
        tags = ", ".join(v.tag for v in held)
        raise RefusedError(f"commit {commit[:12]} already holds version {held[0].version} of '{name}' (tag {tags}); "
                           f"GTO allows one version per commit: make a new commit for {version} "
                           "(`git commit --allow-empty` is enough) or use that version")


def push_new_tag(project: Project, tag: str, remote: str | None = None) -> bool:
    """Push a tag this process just created to `remote` (default: the repository's default git
    remote); False when there is no git remote. When the remote refuses it (someone else took the
    name first), remove the local tag and raise RefusedError (5); no counter or version is used
    twice."""
    remote = remote or git.default_remote(project.root)
    if remote is None:   # `release --push` still pushed the bytes (dvc push); the CLI says the tag stayed local
        return False
    proc = git.push_tag(project.root, remote, tag)
    if proc.returncode != 0:
        git.delete_local_tag(project.root, tag)
        reason = "the remote already has this tag (someone else wrote it first)" \
            if "already exists" in proc.stdout + proc.stderr or "rejected" in proc.stdout + proc.stderr \
            else (proc.stderr.strip().splitlines() or ["push failed"])[-1]
        raise RefusedError(f"push of {tag} to '{remote}' was rejected: {reason}; "
                           "the local tag was removed, fetch tags and retry", tag=tag)
    push_cards_along(project, remote)
    return True


def push_cards_along(project: Project, remote: str) -> None:
    """Push the attached cards (core.refs.CARDS_REF, when this clone has them) with a tag, so a
    clone that fetches the tags gets the cards too. Best effort: the tag is what was asked for;
    a rejected push is one warning naming the fix. Raises nothing."""
    proc = git.push_cards(project.root, remote)
    if proc is not None and proc.returncode != 0:
        from weightops.registry.attach import cards_push_failure

        log.warning("warning: the attached cards were not pushed: %s", cards_push_failure(proc, remote))

