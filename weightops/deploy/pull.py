"""The deploy path: `pull` (a reference -> verified bytes at a path), `lock` (pin a reference
to its hashes in a file), `verify` (bytes on disk vs a lock or a card).

Nothing half-succeeds: a file is renamed into place only after its size and SHA-256 match (and
DVC's MD5, with `verify_md5`); a directory is assembled beside its destination and renamed into place only when every file
matched. A destination already holding the right bytes is left alone and nothing is fetched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from weightops.storage import transfer
from weightops.storage.backends import open_store
from weightops.deploy import oms as oms_check
from weightops.core.atomic import plain_mode, swap_into_place
from weightops.model.card import check_bytes
from weightops.errors import IntegrityError, NotFoundError, UsageError
from weightops.storage.hashing import dvc2_md5, hash_file, is_sha256
from weightops.storage.pointers import stay_inside
from weightops.opening import open_project
from weightops.registry.resolve import Resolved, resolve
from weightops.deploy.lockfile import LOCK_KEYS, check_lock_against, read_lock, write_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pulled:
    """One pull: what was resolved, where the bytes are, bytes `transferred` from the remote (0 when
    the destination was already right), wall-clock `seconds`, files written, and the object version
    the bytes were `recovered` from (or None)."""
    resolved: Resolved
    path: Path
    transferred: int      # bytes fetched from the remote; 0 when PATH was already right
    seconds: float
    files: int = 1
    recovered: str | None = None   # the object version the bytes came from (`recover`)
    oms_signer: str | None = None  # who signed the verified OMS signature (deploy/oms.py), if checked

    def to_dict(self) -> dict:
        """The Resolved fields plus `dest`, `transferred` (bytes), `files`, `seconds` (rounded to
        ms) and `recovered_version`, for `pull --json`."""
        d = self.resolved.to_dict()
        d.update({"dest": str(self.path), "transferred": self.transferred, "files": self.files,
                  "seconds": round(self.seconds, 3), "recovered_version": self.recovered, "oms_signer": self.oms_signer})
        return d


# ------------------------------------------------------------------ pull
def pull_detailed(ref: str | None = "latest", dest: str | os.PathLike | None = None, *,
                  model: str | None = None, repo: str | os.PathLike | None = None, remote: str | None = None,
                  expect_sha256: str | None = None, lock: str | os.PathLike | None = None,
                  jobs: int | None = None, progress: transfer.Progress | None = None,
                  fsync: bool = False, match: dict[str, str] | None = None,
                  allow_deprecated: bool = False, verify_md5: bool = False, recover: bool = False,
                  pre: bool = False, oms=None) -> Pulled:
    """Download REF's weights (stage, version, tag, 'latest'; default what `lock` pins) to `dest`
    (default ./NAME), checking size and the card's SHA-256 as they stream; atomic. `repo`: path or
    git URL; `match`: card labels picking the variant in stage REF; `progress(done, total)` in
    bytes; `verify_md5`: DVC's MD5 too; `recover`: an earlier object version (versioned bucket)
    holding the released bytes when the object is damaged or gone; `pre`: 'latest' may be a
    pre-release; `oms`: the OMS signature check (deploy/oms.py). UsageError (2), NotFoundError (3),
    IntegrityError (4) when bytes, lock or hashes disagree, RefusedError (5) if deprecated or OMS refuses."""
    started = time.monotonic()
    if expect_sha256 is not None and not is_sha256(expect_sha256):
        raise UsageError(f"--expect-sha256 {expect_sha256!r} is not 64 hex digits")
    if match:   # the variant's own version and bytes, then an ordinary pull of them
        from weightops.deploy.variants import resolve_match

        if lock or ref is None:
            raise UsageError("--match picks among the models holding a stage: name the stage "
                             "(weightops pull production --match sensor=v2), without --lock")
        v = resolve_match(ref, match, repo=repo or ".", model=model, remote=remote)
        ref, model, expect_sha256 = v.version, v.model, expect_sha256 or v.sha256
    pinned = read_lock(lock) if lock else None
    if pinned:
        if ref not in (None, pinned["version"], pinned.get("stage"), pinned["tag"]):
            raise UsageError(f"'{ref}' is not what lock {lock} names ({pinned['tag']}); drop REF or regenerate the lock")
        ref, model = pinned["version"], pinned["model"]
        repo = repo or pinned.get("repo") or "."
    project = open_project(repo or ".")
    r = resolve(ref or "latest", model=model, remote=remote, project=project, allow_deprecated=allow_deprecated,
                pre=pre)
    if pinned:
        check_lock_against(pinned, r, str(lock))
    if expect_sha256 and r.sha256 is None and not r.located.pointer.is_dir:
        r = replace(r, sha256=expect_sha256.lower())   # no card: the caller's pin is checked, with DVC's md5
    if expect_sha256 and expect_sha256.lower() != r.sha256:
        raise IntegrityError(f"{r.tag}: --expect-sha256 {expect_sha256.lower()} but the registry says {r.sha256}; "
                             "nothing was downloaded", expected=expect_sha256.lower(), actual=r.sha256, ref=r.tag)
    if r.remote is None:
        raise NotFoundError(f"{r.tag}: no DVC remote is configured at {r.commit[:12]}; pass --remote NAME")
    target = destination(dest, r.located.pointer)
    store = open_store(project, project.remote(r.commit, remote, root=r.located.dvc_root if r.located else None,
                                                       pointer=r.located.pointer if r.located else None),
                                jobs=jobs or default_jobs())
    pointer = r.located.pointer
    gate = oms_check.start(project, r, store, target, oms)   # checked while the bytes stream, before any rename
    recovered = None
    if pointer.is_dir:
        if store.remote.cloud_versioned:
            raise UsageError(f"{r.tag}: directory artifacts on cloud-versioned remote '{store.remote.name}' "
                             "are not supported yet; use `dvc pull`")
        transferred, files = _pull_dir(store, r, target, progress, fsync, verify_md5, gate)
    else:
        (transferred, recovered), files = _pull_file(store, r, target, progress, fsync, verify_md5, recover, gate), 1
    signer = oms_check.finish(gate, target, oms)   # the signer; with --with-signature, model.sig written
    log.info("pulled %s %s to %s (%d bytes transferred)", r.model, r.version, target, transferred)
    return Pulled(r, target, transferred, time.monotonic() - started, files, recovered, signer)


def pull(ref: str | None = "latest", dest: str | os.PathLike | None = None, *,
         model: str | None = None, repo: str | os.PathLike | None = None, remote: str | None = None,
         expect_sha256: str | None = None, lock: str | os.PathLike | None = None, jobs: int | None = None,
         progress: transfer.Progress | None = None, fsync: bool = False,
         match: dict[str, str] | None = None, allow_deprecated: bool = False, verify_md5: bool = False,
         recover: bool = False, pre: bool = False, oms=None) -> Path:
    """`pull_detailed` (same arguments and errors), returning only the path written."""
    return pull_detailed(ref, dest, model=model, repo=repo, remote=remote, expect_sha256=expect_sha256, lock=lock,
                         jobs=jobs, progress=progress, fsync=fsync, match=match, allow_deprecated=allow_deprecated,
                         verify_md5=verify_md5, recover=recover, pre=pre, oms=oms).path


def default_jobs() -> int:
    """Parallel ranged GETs per object when `pull` is given no `jobs` (used by backends that support
    them: S3): `WEIGHTOPS_JOBS`, default 1. UsageError (2) when it is not a positive integer."""
    value = os.environ.get("WEIGHTOPS_JOBS", "1")
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"WEIGHTOPS_JOBS must be a positive integer, not {value!r}")
    return int(value)


def destination(dest: str | os.PathLike | None, pointer) -> Path:
    """`-o PATH`; default ./NAME. An existing directory receives the artifact under its own
    name (like cp), unless, for a directory artifact, it already has that name: then it is
    the previous copy, replaced as a whole once the new one is complete."""
    name = Path(pointer.path).name
    if dest is None:
        return Path.cwd() / name
    target = Path(dest)
    here = Path.cwd()
    if not target.is_absolute() and here in Path(os.path.abspath(target)).parents:
        stay_inside(target, here, "destination")   # `-o sub/x` means under here: no symlink may lead out
    if (target.is_dir() and not (pointer.is_dir and target.resolve().name == name)) or str(dest).endswith(("/", os.sep)):
        return target / name   # an existing folder, or `-o DIR/`: a folder to create (as cp and rsync read it)
    return target


def _already_there(target: Path, r: Resolved) -> bool:
    if r.located.pointer.is_dir or not r.card:   # without a card: DVC's md5 and size
        if not (target.is_dir() if r.located.pointer.is_dir else target.is_file()):
            return False
        try:
            check_bytes(r.card, r.located.pointer, target, r.tag)
            return True
        except IntegrityError:
            return False
    if not target.is_file():
        return False
    d = hash_file(target)
    return d.sha256 == r.sha256 and (r.size is None or d.size == r.size)


def _pull_file(store: transfer.Store, r: Resolved, target: Path, progress, fsync: bool, verify_md5: bool,
               recover: bool, gate=None) -> tuple[int, str | None]:
    if _already_there(target, r):
        log.info("%s already holds %s %s; nothing to transfer", target, r.model, r.version)
        return 0, None
    # The card's md5 is the bytes' own; a DVC 2 pointer of a text file names its object by
    # the md5 of the CRLF -> LF form instead (checked at release; without a card, after the copy).
    pointer = r.located.pointer
    legacy_only = not r.card and pointer.legacy
    md5 = None if legacy_only else (r.card.get("artifact") or {}).get("md5") or r.md5
    expected = transfer.Expected(size=r.size, md5=md5, sha256=r.sha256, version=store.version_of(pointer))
    url = store.url(pointer)
    try:
        fetched = transfer.copy_object(store, url, target, expected, ref=r.tag, progress=progress, fsync=fsync,
                                       verify_md5=verify_md5 or not r.card, before_rename=gate)
        if legacy_only and (found := dvc2_md5(target)) != pointer.md5:   # rare: a DVC 2 text file, no card
            target.unlink()
            raise IntegrityError(f"{r.tag}: {url} does not have DVC 2's md5 {pointer.md5}", expected=pointer.md5,
                                 actual=found, ref=r.tag, field="md5")
        return fetched.transferred, None
    except (IntegrityError, NotFoundError) as exc:
        failure = _named(exc, r, url, target) if isinstance(exc, IntegrityError) else exc
        if store.remote.cloud_versioned:
            raise failure from None
        found = _repairs(store, url, r)
        if not recover:
            if found:
                failure.message += (f"; version {found[0].version} of that object in the versioned bucket holds the "
                                    "released bytes: `weightops pull --recover` fetches it")
                failure.args = (failure.message,)
            raise failure from None
        if not found:
            failure.message += "; --recover found no earlier version of the object holding the released bytes"
            failure.args = (failure.message,)
            raise failure from None
    version = found[0].version
    log.warning("%s: %s is damaged; recovering the released bytes from its version %s", r.tag, url, version)
    try:
        fetched = transfer.copy_object(store, url, target, replace(expected, version=version), ref=r.tag,
                                       progress=progress, fsync=fsync, verify_md5=True, before_rename=gate)
    except IntegrityError as exc:
        raise _named(exc, r, f"{url} (version {version})", target) from None
    return fetched.transferred, version


def _repairs(store: transfer.Store, url: str, r: Resolved) -> list:
    from weightops.storage.recovery import repair_candidates
    from weightops.errors import WeightopsError

    try:
        return repair_candidates(store, url, r.located.pointer)
    except WeightopsError:   # listing versions refused or unsupported: nothing to offer
        return []


def _named(exc: IntegrityError, r: Resolved, url: str, target: Path) -> IntegrityError:
    field_name = exc.fields.get("field", "digest")
    return IntegrityError(f"{r.tag}: {field_name} of {url} is {exc.actual}, expected {exc.expected}; "
                          f"the remote object is not the released one, nothing was written to {target}",
                          expected=exc.expected, actual=exc.actual, ref=r.tag, field=field_name, url=url)


def _pull_dir(store: transfer.Store, r: Resolved, target: Path, progress, fsync: bool,
              verify_md5: bool, gate=None) -> tuple[int, int]:
    """Each file fetched and verified into a temp directory beside `target`, then one rename."""
    if _already_there(target, r):
        return 0, len((r.card.get("artifact") or {}).get("files") or []) or sum(1 for f in target.rglob("*") if f.is_file())
    pointer = r.located.pointer
    url = store.url(pointer)
    entries = transfer.parse_listing(store.read_small(url), pointer, url)
    by_path = {f["path"]: f for f in (r.card.get("artifact") or {}).get("files") or []}   # {} without a card
    total = sum(f["size"] for f in by_path.values()) or None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, plain_mode(target, directory=True))   # mkdtemp's 0700 would survive the rename
    done = transferred = 0
    try:
        for entry in entries:
            rel = entry.path[len(pointer.path) + 1:]
            meta = by_path.get(rel)
            # DVC 2 listed a text file's md5 after CRLF -> LF, the card its plain md5: for such a
            # listing the bytes are checked against both after the download instead.
            if by_path and (meta is None or (meta["md5"] != entry.md5 and not entry.legacy)):
                raise IntegrityError(f"{r.tag}: {rel} in the remote listing does not match the card's file list",
                                     expected=(meta or {}).get("md5"), actual=entry.md5, ref=r.tag)
            expected = transfer.Expected(size=(meta or {}).get("size"), md5=None if entry.legacy else entry.md5,
                                         sha256=(meta or {}).get("sha256"))
            dest = tmp.joinpath(*rel.split("/"))
            old = target.joinpath(*rel.split("/"))
            if meta and old.is_file() and hash_file(old).sha256 == meta["sha256"]:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(old, dest)          # unchanged shard: reuse, no transfer
                done += meta["size"]
                continue
            base = done

            def part(n: int, _t: int | None, base=base) -> None:
                if progress:
                    progress(base + n, total)
            fetched = _copy_entry(store, entry, dest, expected, r, part, fsync, verify_md5)
            if entry.legacy and dvc2_md5(dest) != entry.md5:
                raise IntegrityError(f"{r.tag}: {rel} from {store.url(entry)} does not have DVC 2's md5 {entry.md5}; "
                                     f"the remote object is not the released one, nothing was written to {target}",
                                     expected=entry.md5, ref=r.tag)
            done += fetched
            transferred += fetched
        listing = "".join(f"{f['sha256']}  {f['path']}\n" for f in sorted(by_path.values(), key=lambda f: f["path"]))
        if by_path and hashlib.sha256(listing.encode()).hexdigest() != r.sha256:
            raise IntegrityError(f"{r.tag}: the card's file list does not hash to its sha256 {r.sha256}",
                                 expected=r.sha256, ref=r.tag)
        if gate:
            gate()
        swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return transferred, len(entries)


def _copy_entry(store, entry, dest, expected, r, progress, fsync, verify_md5) -> int:
    url = store.url(entry)
    try:
        return transfer.copy_object(store, url, dest, expected, ref=r.tag, progress=progress, fsync=fsync,
                                    verify_md5=verify_md5).transferred
    except IntegrityError as exc:
        raise _named(exc, r, url, dest.parent) from None



# ------------------------------------------------------------------ lock
def lock(ref: str = "latest", out: str | os.PathLike = "deploy/model.lock.yaml", *, model: str | None = None,
         repo: str | os.PathLike = ".", remote: str | None = None, at: str | int | None = None,
         pre: bool = False, index: str | None = None, oms=None) -> dict:
    """Write the deploy lock for REF (a YAML file at `out`, atomically): model, version, tag,
    commit, path, md5, sha256, size, remote URL and a checksum of them; the user's own keys in
    an existing file are kept. Returns the document. `pre`: 'latest' may be a pre-release.
    `index`: resolve from a published registry index URL instead of git. `oms`: verify the
    version's OMS signature first (deploy/oms.py; RefusedError 5, IntegrityError 4). Errors as `resolve`."""
    if index:   # the published registry index instead of git; the lock records its URL as `repo`
        from weightops.deploy.fleet import resolve_from

        r = resolve_from(index, ref)
        oms_check.check_index_entry(r, index, None, oms)   # the signature the index carries, when asked
    else:
        r = resolve(ref, model=model, repo=repo, at=at, remote=remote, pre=pre)
        oms_check.check_resolved(r, repo=repo, remote=remote, options=oms)
    fields = {k: v for k, v in r.to_dict().items() if k in LOCK_KEYS}
    fields["repo"] = index or (str(repo) if str(repo) != "." else None)
    return write_lock(fields, out)



from weightops.deploy.verify import Verified, verify  # noqa: E402 - re-exported: verify reads locks

__all__ = ["Pulled", "Verified", "pull", "pull_detailed", "lock", "verify", "read_lock", "write_lock"]
