"""Pulls through an OCI registry: `pull oci://REGISTRY/REPOSITORY:TAG` (the registry's word), and
`pull STAGE --via oci` in a project (git's word: the manifest digest git computes for the stage's
version, so a tag moved by hand in the registry changes nothing)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from weightops.deploy.pull import Pulled, destination
from weightops.errors import IntegrityError
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


def pull_via_oci(ref: str = "latest", dest: str | os.PathLike | None = None, *, model: str | None = None,
                 repo: str | os.PathLike = ".", plain_http: bool | None = None, progress=None,
                 fsync: bool = False, allow_deprecated: bool = False, pre: bool = False,
                 expect_sha256: str | None = None) -> Pulled:
    """REF (stage, version, tag, 'latest') resolved by git, its bytes fetched from the project's OCI
    repository by the manifest digest git computes; destination as `pull`. NotFoundError (3) when
    the registry lacks that manifest (publish it: `weightops publish --oci`), other errors as
    `resolve` and oci.fetch.fetch; IntegrityError (4) when `expect_sha256` is not the card's."""
    from weightops.project import open_project
    from weightops.registry.oci import build_version, client_for, repository_for
    from weightops.registry.resolve import resolve

    started = time.monotonic()
    project = open_project(repo)
    r = resolve(ref, model=model, project=project, allow_deprecated=allow_deprecated, pre=pre)
    if expect_sha256 and expect_sha256.lower() != r.sha256:
        raise IntegrityError(f"{r.tag}: --expect-sha256 {expect_sha256.lower()} but the registry says {r.sha256}; "
                             "nothing was downloaded", expected=expect_sha256.lower(), actual=r.sha256, ref=r.tag)
    built = build_version(project, r.model, r.version, r.located)
    target_repo = repository_for(project, r.model)
    pinned = target_repo.with_digest(built.digest)
    client = client_for(project, target_repo, plain_http)
    target = destination(dest, r.located.pointer)
    inspected = oci_fetch.inspect(client, pinned)
    done = oci_fetch.fetch(client, pinned, target, inspected=inspected, progress=progress, fsync=fsync)
    return Pulled(r, Path(done.path), done.transferred, time.monotonic() - started, done.files)
