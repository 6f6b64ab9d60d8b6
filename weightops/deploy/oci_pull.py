"""Pulls through an OCI registry: `pull oci://REGISTRY/REPOSITORY:TAG` (the registry's word), and
`pull STAGE --via oci` in a project (git's word: the manifest digest git computes for the stage's
version, so a tag moved by hand in the registry changes nothing)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from weightops.deploy.pull import Pulled, destination
from weightops.errors import IntegrityError, UsageError
from weightops.oci import fetch as oci_fetch
from weightops.oci.client import Client
from weightops.oci.reference import parse


def pull_reference(text: str, dest: str | os.PathLike | None = None, *, plain_http: bool | None = None,
                   expect_sha256: str | None = None, progress=None, fsync: bool = False) -> oci_fetch.Fetched:
    """Pull `oci://REGISTRY/REPOSITORY:TAG` or `...@sha256:DIGEST` to `dest` (oci.fetch's rules).
    `expect_sha256`: the single file's SHA-256 (hex) must be this (IntegrityError, 4, before any
    byte is fetched). Errors as oci.fetch.fetch; UsageError (2) for a bad reference."""
    ref = parse(text, need_ref=True)
    client = Client(ref.registry, plain_http=plain_http)
    inspected = oci_fetch.inspect(client, ref)
    if expect_sha256:
        files = inspected.artifact.files
        have = files[0].digest.removeprefix("sha256:") if len(files) == 1 else None
        if have != expect_sha256.lower():
            raise IntegrityError(f"{ref}: --expect-sha256 {expect_sha256.lower()} but the artifact holds "
                                 f"{have or f'{len(files)} files'}; nothing was downloaded",
                                 expected=expect_sha256.lower(), actual=have, ref=str(ref))
    return oci_fetch.fetch(client, ref, dest, inspected=inspected, progress=progress, fsync=fsync)


def resolve_reference(text: str, *, plain_http: bool | None = None) -> oci_fetch.Inspected:
    """The manifest of `oci://...:TAG` read and checked (nothing written): its digest, model,
    version and files. Errors as oci.fetch.inspect."""
    ref = parse(text, need_ref=True)
    return oci_fetch.inspect(Client(ref.registry, plain_http=plain_http), ref)


def pull_via_oci(ref: str | None = "latest", dest: str | os.PathLike | None = None, *, model: str | None = None,
                 repo: str | os.PathLike | None = ".", plain_http: bool | None = None, progress=None,
                 fsync: bool = False, allow_deprecated: bool = False, pre: bool = False,
                 expect_sha256: str | None = None, lock: str | os.PathLike | None = None, oms=None) -> Pulled:
    """REF (stage, version, tag, 'latest') resolved by git, its bytes fetched from the project's OCI
    repository by the manifest digest git computes; destination as `pull`. NotFoundError (3) when
    the registry lacks that manifest (publish it: `weightops publish --oci`), other errors as
    `resolve` and oci.fetch.fetch; IntegrityError (4) when `expect_sha256` is not the card's, or
    when the registry no longer says what `lock` (a deploy lock of a version) pins. `oms` (deploy/oms.py
    OmsOptions): the OMS signature attached to the manifest is verified first (RefusedError 5)."""
    from weightops.opening import open_project
    from weightops.registry.oci import build_version, client_for, repository_for
    from weightops.registry.resolve import resolve

    from weightops.deploy.lockfile import check_lock_against, read_lock

    started = time.monotonic()
    pinned = read_lock(lock) if lock else None
    if pinned:
        if ref not in (None, pinned["version"], pinned.get("stage"), pinned["tag"]):
            raise UsageError(f"'{ref}' is not what lock {lock} names ({pinned['tag']}); drop REF or regenerate the lock")
        ref, model, repo = pinned["version"], pinned["model"], repo or pinned.get("repo") or "."
    project = open_project(repo or ".")
    r = resolve(ref or "latest", model=model, project=project, allow_deprecated=allow_deprecated, pre=pre)
    if pinned:
        check_lock_against(pinned, r, str(lock))
    if expect_sha256 and expect_sha256.lower() != r.sha256:
        raise IntegrityError(f"{r.tag}: --expect-sha256 {expect_sha256.lower()} but the registry says {r.sha256}; "
                             "nothing was downloaded", expected=expect_sha256.lower(), actual=r.sha256, ref=r.tag)
    built = build_version(project, r.model, r.version, r.located)
    target_repo = repository_for(project, r.model)
    pinned = target_repo.with_digest(built.digest)
    client = client_for(project, target_repo, plain_http)
    target = destination(dest, r.located.pointer)
    from weightops.deploy import oms as oms_check

    checked = oms_check.check_oci(project, r, client, target_repo.repository, built.digest, target, oms)
    inspected = oci_fetch.inspect(client, pinned)
    done = oci_fetch.fetch(client, pinned, target, inspected=inspected, progress=progress, fsync=fsync)
    if checked is not None and oms is not None and oms.with_signature:
        oms_check.write_beside(target, checked)
    return Pulled(r, Path(done.path), done.transferred, time.monotonic() - started, done.files,
                  oms_signer=checked.verified.signer if checked else None)


def lock_reference(text: str, out: str | os.PathLike, *, plain_http: bool | None = None) -> dict:
    """Write a deploy lock (deploy/pull.py's format and checksum) pinning `oci://...:TAG` to its
    manifest digest: `repo` and `url` are `oci://REGISTRY/REPOSITORY@sha256:...`, `sha256` the file's
    (one file) or the card rule's listing hash (`sha256  path` lines of a folder's files), `md5`
    empty (OCI records none), `commit` the config's revision. Returns the document. Errors as
    `resolve_reference`."""
    from weightops.deploy.lockfile import write_lock

    found = resolve_reference(text, plain_http=plain_http)
    pinned = str(found.reference.with_digest(found.digest))
    files = found.artifact.files
    if oci_fetch.single_file(found.artifact):
        sha, path = files[0].digest.removeprefix("sha256:"), files[0].path
    else:
        target, entries = oci_fetch.default_target(found, "x")
        sha = listing_sha256(entries)
        path = files[0].path.split("/", 1)[0] if len(entries) and "/" in files[0].path else found.reference.repository
    d = found.descriptor
    fields = {"model": str(d.get("name") or found.reference.repository.rsplit("/", 1)[-1]),
              "version": str(d.get("version") or found.reference.tag or found.digest),
              "tag": found.reference.tag or found.digest, "stage": None, "commit": str(d.get("revision") or ""),
              "path": path, "sha256": sha, "md5": "", "size": sum(f.size for f in files), "remote": None,
              "url": pinned, "repo": pinned}
    return write_lock(fields, out)


def content_sha256(found: oci_fetch.Inspected) -> str:
    """The SHA-256 (hex) a card gives the artifact's weights, from the manifest alone: a single
    file's layer digest (a raw layer's digest is its bytes' SHA-256, checked as they stream), a
    folder's listing digest (listing_sha256). Not the manifest's digest."""
    files = found.artifact.files
    if oci_fetch.single_file(found.artifact):
        return files[0].digest.removeprefix("sha256:")
    return listing_sha256(oci_fetch.default_target(found, "x")[1])


def listing_sha256(entries) -> str:
    """The card's digest of a folder: SHA-256 of `HEX  RELPATH` lines sorted by path (model/card.py)."""
    import hashlib

    lines = "".join(f"{layer.digest.removeprefix('sha256:')}  {rel}\n" for rel, layer in sorted(entries, key=lambda e: e[0]))
    return hashlib.sha256(lines.encode()).hexdigest()


def pull_locked_reference(lock: str | os.PathLike, dest: str | os.PathLike | None = None, *,
                          plain_http: bool | None = None, progress=None, fsync: bool = False) -> oci_fetch.Fetched:
    """Pull what an OCI deploy lock pins (its `repo`, a reference by digest), checking the artifact's
    sha256 against the lock's before any byte is fetched (IntegrityError, 4). Errors as `read_lock`
    and `pull_reference`."""
    from weightops.deploy.lockfile import read_lock

    pinned = read_lock(lock)
    ref = parse(pinned["repo"], need_ref=True)
    client = Client(ref.registry, plain_http=plain_http)
    inspected = oci_fetch.inspect(client, ref)
    files = inspected.artifact.files
    have = files[0].digest.removeprefix("sha256:") if oci_fetch.single_file(inspected.artifact) else \
        listing_sha256(oci_fetch.default_target(inspected, "x")[1])
    if have != pinned["sha256"]:
        raise IntegrityError(f"{ref}: lock {lock} pins sha256 {pinned['sha256']} but the artifact holds {have}; "
                             "nothing was downloaded", expected=pinned["sha256"], actual=have, ref=str(ref))
    return oci_fetch.fetch(client, ref, dest, inspected=inspected, progress=progress, fsync=fsync)
