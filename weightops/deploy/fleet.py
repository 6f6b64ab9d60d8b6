"""Deploy hosts that follow the published registry index (`--index URL`) instead of git.

A host polls one small document with a conditional GET, recomputes the registry from the tag
objects the document carries (the same `Registry` code that reads git), and, with
`--require-signed`, verifies those very tag objects against the allowed signers of a trust
policy it holds locally (`--trust-policy FILE`), exactly as `resolve --require-signed` does.
Someone who can write to the bucket but holds no allowed key cannot make such a host deploy
anything: the sha256 a host downloads against comes from a signed tag message.

Replays: a document whose sequence is lower than the last one the host applied is refused, and
so is a stage holder older (by its tag's time and counter) than the one it applied: an old,
validly signed index with its sequence raised still cannot roll a host back.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from weightops.core.atomic import plain_mode
from weightops.deploy.host_policy import load_trust_policy
from weightops.errors import IntegrityError, NotFoundError, RefusedError, UsageError
from weightops.registry import index
from weightops.registry.resolve import Resolved
from weightops.registry.state import Registry
from weightops.registry.tags import is_stage_name, is_version, normalize_version

log = logging.getLogger(__name__)


def base_of(url: str) -> str:
    """The remote's root, from the index URL (`<root>/weightops/index/v1/NAME.json`). UsageError (2)
    when the URL has no such part."""
    marker = "/" + index.PREFIX + "/"
    where = url.replace(os.sep, "/").rfind(marker)
    if where < 0:
        raise UsageError(f"--index {url} is not a published index URL (…/{index.PREFIX}/NAME.json)")
    return url[:where]


@dataclass
class IndexState:
    """What this host applied last, per index URL; a small JSON file written atomically."""

    path: Path
    entries: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "IndexState":
        """The state saved at `path`; an empty state when the file is missing or not a JSON object."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            data = {}
        return cls(path, data if isinstance(data, dict) else {})

    def get(self, url: str) -> dict:
        """The mutable entry for index `url` (`sequence`, `stages`: {stage: [tagger time, tag]}),
        created empty on first use."""
        return self.entries.setdefault(url, {})

    def save(self) -> None:
        """Write every entry to the state file atomically (sorted JSON)."""
        from weightops.core.atomic import atomic_write_text

        atomic_write_text(self.path, json.dumps(self.entries, indent=1, sort_keys=True) + "\n")


@dataclass(frozen=True)
class Index:
    """One fetched, schema-checked document and the registry its tags make."""

    url: str
    doc: dict
    registry: Registry

    @property
    def model(self) -> str:
        """The model the document publishes."""
        return self.doc["model"]

    @property
    def sequence(self) -> int:
        """The document's sequence number; a host refuses one lower than it applied."""
        return self.doc["sequence"]


def parse(data: bytes, url: str) -> Index:
    """Document bytes -> Index. IntegrityError (4) for anything malformed or inconsistent."""
    doc = index.decode(data, url)
    refs = [index.to_tagref(t) for t in doc["tags"]]
    registry = Registry(refs, doc.get("default_model"))
    model = doc["model"]
    for stage, stated in doc["stages"].items():
        held = registry.stage_event(model, stage)
        if held is None or held.tag != stated["tag"] or held.version != stated["version"]:
            raise IntegrityError(f"index {url} states {stage} = {stated['version']} ({stated['tag']}), but its own "
                                 f"tags say {held.version + ' (' + held.tag + ')' if held else 'nothing'}")
    return Index(url, doc, registry)


def fetch(url: str, etag: str | None = None) -> tuple[Index | None, str | None]:
    """Conditional GET + parse: (None, etag) when unchanged since `etag`. NotFoundError (3) when the
    document is missing, IntegrityError (4) when it is oversized, malformed or inconsistent,
    WeightopsError (1) when the URL is unreachable."""
    from weightops.storage.objects import get_if_changed

    got = get_if_changed(url, etag, limit=index.MAX_BYTES)
    if got.data is None:
        return None, got.etag
    return parse(got.data, url), got.etag


def resolve(idx: Index, ref: str = "latest", *, require_signed: bool = False, policy=None,
            stage_floor: list | None = None) -> Resolved:
    """REF (a stage, a version, `NAME@VERSION` or `latest`) -> Resolved, from the index alone;
    `resolve_event` without the assignment. Raises as `resolve_event`."""
    return resolve_event(idx, ref, require_signed=require_signed, policy=policy, stage_floor=stage_floor)[0]


def resolve_event(idx: Index, ref: str = "latest", *, require_signed: bool = False, policy=None,
                  stage_floor: list | None = None):
    """REF (a stage, a version, `NAME@VERSION` or `latest`) -> (Resolved, the assignment obeyed or
    None for a version), from the index alone.

    With `require_signed`, only assignments the `policy` allows are obeyed and the sha256 must come
    from a verified tag message. `stage_floor` ([tagger time, tag]) refuses a stage holder older
    than what the host already applied. UsageError (2) for a REF that is none of those or names
    another model; NotFoundError (3) for an unknown version or stage holder, or no servable record;
    RefusedError (5) for an untrusted, replayed or unsigned choice; IntegrityError (4) from a
    malformed document."""
    registry, model = idx.registry, idx.model
    stage = event = None
    if "@" in ref:   # NAME@v1.2.0, GTO's spelling of a version
        name, _, ref = ref.rpartition("@")
        if name != model:
            raise UsageError(f"index {idx.url} is model '{model}'s; '{name}@{ref}' names another model")
    trusted_sha = None
    if is_stage_name(ref) and ref != "latest":
        stage = ref
        event = _stage_holder(idx, stage, require_signed, policy)
        if _older(event, stage_floor):
            raise RefusedError(f"index {idx.url} says {model} {stage} is {event.version} ({event.tag}), older than "
                               f"the assignment this host already applied: a replayed index; keeping what is live")
        version = event.version
        trusted_sha = event.meta.get("sha256") if require_signed else None
    elif ref == "latest":
        version = registry.latest(model).version
    elif is_version(ref):
        version = registry.version(model, normalize_version(ref)).version
    else:
        raise UsageError(f"'{ref}' is not a stage, a version or 'latest'")
    if require_signed and stage is None:
        raise RefusedError("--require-signed with --index takes a stage (its signed assignment pins the sha256)")
    entry = idx.doc["versions"].get(version)
    if entry is None or not entry.get("sha256"):
        raise NotFoundError(f"index {idx.url} has no servable record of {model} {version} (card missing at release?)")
    if require_signed and trusted_sha != entry["sha256"]:
        raise RefusedError(f"index {idx.url}: {model} {version} is stated with sha256 {entry['sha256'][:16]}…, "
                           f"but the signed assignment says {trusted_sha or 'nothing'}; not deployed")
    base = base_of(idx.url)
    url = base.rstrip("/") + "/" + entry["key"]
    card = {"artifact": {"sha256": entry["sha256"], "size": entry["size"], "files": entry.get("files") or []},
            "index_base": base, "oms": entry.get("oms")}
    return Resolved(model, version, entry["tag"], entry["commit"], entry["path"], entry["md5"], entry["sha256"],
                    entry["size"], idx.doc["remote"]["name"], url, stage, card), event


def _older(event, floor) -> bool:
    """Is `event` older than the applied holder `floor` ([tagger time, tag]), in the registry's
    own order? A floor this version did not write is ignored rather than trusted."""
    if not (isinstance(floor, list) and len(floor) == 2 and isinstance(floor[0], int) and isinstance(floor[1], str)):
        return False
    return (event.time, event.tag) < (floor[0], floor[1]) and event.tag != floor[1]


def _stage_holder(idx: Index, stage: str, require_signed: bool, policy):
    registry, model = idx.registry, idx.model
    if not require_signed:
        event = registry.stage_event(model, stage)
        if event is None:
            raise NotFoundError(f"no version of '{model}' holds stage '{stage}' in index {idx.url}")
        return event
    if policy is None:
        raise UsageError("--require-signed with --index needs --trust-policy FILE (the host's trusted policy)")
    from weightops.trust.policy import trusted_stage

    if not registry.events(model, stage=stage):
        raise NotFoundError(f"no version of '{model}' holds stage '{stage}' in index {idx.url}")
    with tempfile.TemporaryDirectory(prefix="weightops-index-") as tmp:
        # resolve --require-signed's own rules, on the index's tag objects
        found = trusted_stage(None, registry, model, stage, policy=policy, verify_repo=_tag_repo(Path(tmp), idx))
    return found.event


def _tag_repo(tmp: Path, idx: Index) -> Path:
    """A throwaway bare repository holding the index's tag objects under their names, so git's
    own `verify-tag` checks them; the commits they tag need not be there."""
    from weightops.core import git_remote

    repo = tmp / "tags.git"
    git_remote.init_bare(repo)
    annotated = [t for t in idx.doc["tags"] if "raw" in t]
    ids = git_remote.store_tag_objects(repo, [t["raw"] for t in annotated])
    git_remote.create_refs(repo, {f"refs/tags/{t['name']}": i for t, i in zip(annotated, ids)})
    return repo


def download(r: Resolved, dest: str | os.PathLike, *, fsync: bool = False, progress=None) -> int:
    """Fetch the resolved object to `dest`: verified (size, sha256) while it streams, written
    beside it and renamed into place only when whole. Returns the bytes transferred (0 when
    `dest` already holds them). Raises IntegrityError (4) on a mismatch, leaving nothing."""
    from weightops.storage import transfer
    from weightops.storage.hashing import hash_file

    target = Path(dest)
    if r.md5.endswith(".dir"):
        return _download_dir(r, target, fsync)
    if target.is_file() and hash_file(target).sha256 == r.sha256:
        return 0
    return _copy(r, r.url, target, transfer.Expected(size=r.size, md5=r.md5, sha256=r.sha256), fsync, progress)


def _copy(r: Resolved, url: str, target: Path, expected, fsync: bool, progress=None) -> int:
    from weightops.storage import transfer
    from weightops.storage.backends import open_store
    from weightops.storage.pointers import Remote

    # The object's own URL is all a copy needs; the store only picks the backend by scheme.
    store = open_store(None, Remote("index", url), base=url)
    try:
        return transfer.copy_object(store, url, target, expected, ref=r.tag, progress=progress, fsync=fsync).transferred
    except IntegrityError as exc:
        raise IntegrityError(f"{r.tag}: {exc.fields.get('field', 'digest')} of {url} is {exc.actual}, expected "
                             f"{exc.expected}; nothing was written to {target}", expected=exc.expected,
                             actual=exc.actual, ref=r.tag, url=url) from None


def _download_dir(r: Resolved, target: Path, fsync: bool) -> int:
    """A directory artifact: its file list must hash to the (trusted) sha256, as the card's
    does; each file is fetched and verified into a temp folder, then one rename."""
    import hashlib
    import shutil

    from weightops.storage import transfer
    from weightops.storage.pointers import safe_join

    files = sorted(r.card["artifact"]["files"], key=lambda f: f["path"])
    listing = "".join(f"{f['sha256']}  {f['path']}\n" for f in files)
    if not files or hashlib.sha256(listing.encode()).hexdigest() != r.sha256:
        raise IntegrityError(f"{r.tag}: the index's file list does not hash to its sha256 {r.sha256}; nothing written",
                             expected=r.sha256, ref=r.tag)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, plain_mode(target, directory=True))   # mkdtemp's 0700 would survive the rename
    moved = 0
    try:
        for f in files:
            dest = tmp / safe_join(".", f["path"])   # refuses a path that climbs out
            dest.parent.mkdir(parents=True, exist_ok=True)
            url = r.card["index_base"].rstrip("/") + "/" + f["key"]
            moved += _copy(r, url, dest, transfer.Expected(size=f["size"], md5=f["md5"], sha256=f["sha256"]), fsync)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.rename(target, old / "x")
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return moved


class IndexFollower:
    """A host's view of one published index: conditional polls, the replay checks, and the
    state it keeps between runs (sequence, ETag, the applied holder per stage)."""

    def __init__(self, url: str, state_path: str | os.PathLike, *, require_signed: bool = False,
                 trust_policy: str | os.PathLike | None = None) -> None:
        base_of(url)  # refuse a URL that is not an index before the first poll
        self.url = url
        self.require_signed = require_signed
        self.policy = load_trust_policy(trust_policy) if trust_policy else None
        if require_signed and self.policy is None:
            raise UsageError("--require-signed with --index needs --trust-policy FILE (the host's trusted policy)")
        self.state = IndexState.load(state_path)
        self._etag: str | None = None

    def check(self) -> Index | None:
        """The document when it changed since the last successful poll, else None. Raises
        RefusedError (5) for a sequence lower than the one applied, and the fetch/parse errors."""
        idx, etag = fetch(self.url, self._etag)
        if idx is None:
            return None
        last = self.state.get(self.url).get("sequence")
        if last is not None and idx.sequence < last:
            raise RefusedError(f"index {self.url} has sequence {idx.sequence}, lower than {last} already applied: "
                               "a replayed older index, not applied")
        self._pending_etag = etag
        return idx

    def target(self, idx: Index, stage: str) -> Resolved | None:
        """The stage's holder by the index, or None when the stage is empty. Raises as
        `resolve_event` (RefusedError 5 for an untrusted or replayed holder, ...)."""
        self._obeyed = None
        if not self.require_signed and idx.registry.stage_event(idx.model, stage) is None:
            return None
        floor = self.state.get(self.url).get("stages", {}).get(stage)
        try:
            r, self._obeyed = resolve_event(idx, stage, require_signed=self.require_signed, policy=self.policy,
                                            stage_floor=floor)
            return r
        except NotFoundError as exc:
            if "holds stage" in str(exc):
                return None
            raise

    def applied(self, idx: Index, stage: str, r: Resolved | None) -> None:
        """Remember that the host now serves `r` for `stage` from `idx`: its sequence, the obeyed
        assignment as the stage's floor, and the ETag for the next conditional GET. The state file
        is saved atomically."""
        entry = self.state.get(self.url)
        entry["sequence"] = idx.sequence
        obeyed = getattr(self, "_obeyed", None)
        if r is not None and obeyed is not None:
            entry.setdefault("stages", {})[stage] = [obeyed.time, obeyed.tag]
        self.state.save()
        self._etag = getattr(self, "_pending_etag", None)


def resolve_from(url: str, ref: str = "latest", *, require_signed: bool = False,
                 trust_policy: str | os.PathLike | None = None) -> Resolved:
    """`weightops resolve REF --index URL`: the published index alone, no git. Raises as `fetch` and
    `resolve_event`; NotFoundError (3) for a missing `trust_policy` file."""
    idx, _ = fetch(url)
    policy = load_trust_policy(trust_policy) if trust_policy else None
    return resolve(idx, ref, require_signed=require_signed, policy=policy)


def is_index_url(url: object) -> bool:
    """Does `url` name a published index (…/weightops/index/v1/NAME.json)?"""
    return isinstance(url, str) and f"/{index.PREFIX}/" in url.replace(os.sep, "/")


def pull_from(url: str | None, ref: str = "latest", dest: str | os.PathLike | None = None, *,
              require_signed: bool = False, trust_policy: str | os.PathLike | None = None,
              fsync: bool = False, progress=None, lock: str | os.PathLike | None = None,
              oms=None) -> tuple[Resolved, Path, int]:
    """`weightops pull REF --index URL`: resolve from the index, then the verified download.
    With `lock` (a lock written by `lock --index`), exactly the pinned version, halting with
    IntegrityError (4) when the index now says otherwise. `oms` (deploy/oms.py OmsOptions): verify
    the OMS signature the index carries first. Returns (what was resolved, where it is, bytes
    transferred)."""
    pinned = None
    if lock is not None:
        from weightops.deploy.lockfile import check_lock_against, read_lock

        pinned = read_lock(lock)
        url, ref = url or pinned.get("repo"), pinned["version"]
    r = resolve_from(url, ref, require_signed=require_signed, trust_policy=trust_policy)
    if pinned is not None:
        check_lock_against(pinned, r, str(lock))
    target = Path(dest) if dest is not None else Path.cwd() / Path(r.path).name
    if target.is_dir() or str(dest or "").endswith(("/", os.sep)):   # `-o DIR/` names a folder, like cp
        target = target / Path(r.path).name
    from weightops.deploy.oms import check_index_entry, write_beside

    checked = check_index_entry(r, url, target, oms)
    transferred = download(r, target, fsync=fsync, progress=progress)
    if checked is not None and oms.with_signature:
        write_beside(target, checked)
    return r, target, transferred
