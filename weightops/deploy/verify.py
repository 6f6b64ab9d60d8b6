"""`weightops verify`: bytes on disk against a deploy lock or a model card (exit 4 when they
differ), naming which file pinned the digest."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from weightops.errors import IntegrityError, NotFoundError
from weightops.model.card import check_card_against_file, describe_artifact, load_card
from weightops.core.yamlio import safe_load


@dataclass(frozen=True)
class Verified:
    """A successful check: the file checked, its sha256 (hex; None when a lock of a version without
    a card pinned DVC's md5 instead) and size (bytes), `against` (`lock` or `card`), and the model
    and version the lock names (None for a card's version)."""
    path: Path
    sha256: str | None
    size: int
    against: str          # "lock" or "card"
    model: str | None = None
    version: str | None = None

    def to_dict(self) -> dict:
        """The result as JSON for `weightops verify --json`, with `ok: true`."""
        return {"ok": True, "path": str(self.path), "sha256": self.sha256, "size": self.size,
                "against": self.against, "model": self.model, "version": self.version}



def verify(file: str | os.PathLike, path: str | os.PathLike | None = None) -> Verified:
    """Check the bytes at `path` against the lock file or model card `file`; without `path`, the
    file the lock or card names (see `locked_path`; a card's artifact path is repository-relative).
    A directory is compared by the sha256 of its file list. NotFoundError (3) when `file` or the
    weights are missing; IntegrityError (4) when the sha256 or size differs, naming the file that
    pinned it; UsageError (2) or IntegrityError (4) for a malformed or hand-edited lock (see
    `read_lock`)."""
    file = Path(file)
    if not file.is_file():
        raise NotFoundError(f"'{file}' does not exist; pass a lock file or a model card")
    doc = safe_load(file.read_bytes(), str(file))
    if isinstance(doc, dict) and "lock_version" in doc:
        from weightops.deploy.lockfile import read_lock

        pinned = read_lock(file)
        target = Path(path) if path else locked_path(file, pinned)
        card = {"artifact": {"sha256": pinned["sha256"], "size": pinned.get("size"), "md5": pinned["md5"],
                             "path": pinned["path"]}}
        against, model, version, ref = "lock", pinned["model"], pinned["version"], pinned["tag"]
        source = f"lock {file} pins"
    else:
        card = load_card(file)
        art = card["artifact"]
        if path:
            target = Path(path)
        else:  # the card sits in the repo; its artifact path is repo-relative
            from weightops.core import git
            try:
                target = git.toplevel(file.resolve().parent) / art["path"]
            except NotFoundError:
                target = file.parent / Path(art["path"]).name
        against, model, version, ref = "card", card.get("model"), None, str(file)
        source = f"card {file} says"
    if not target.exists():
        raise NotFoundError(f"'{target}' does not exist; pull it first (`weightops pull`)")
    if card["artifact"]["sha256"] is None:   # a lock of a version without a card pins DVC's md5 and size
        from weightops.model.card import check_pointer_against_file
        from weightops.storage.pointers import Pointer

        art = card["artifact"]
        pointer = Pointer(path=art["path"], md5=art["md5"], size=art.get("size"), source=str(file))
        check_pointer_against_file(pointer, target, ref, source)
        size = art.get("size") if not target.is_dir() else sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        return Verified(target, None, size, against, model, version)
    if target.is_dir():
        d = describe_artifact(target, card["artifact"]["path"])
        if d["sha256"] != card["artifact"]["sha256"]:
            raise IntegrityError(f"{ref}: directory {target} has sha256 {d['sha256']}, {source} {card['artifact']['sha256']}",
                                 expected=card["artifact"]["sha256"], actual=d["sha256"], ref=ref)
        return Verified(target, d["sha256"], d["size"], against, model, version)
    d = check_card_against_file(card, target, ref, source)
    size = card["artifact"].get("size")
    if size is not None and d.size != size:
        raise IntegrityError(f"{ref}: {target} has {d.size} bytes, {source} {size}", expected=size, actual=d.size, ref=ref)
    return Verified(target, d.sha256, d.size, against, model, version)


def locked_path(lock_file: Path, pinned: dict) -> Path:
    """The file a lock names: its repository path, inside the lock's `repo` when that is a local
    folder, else inside the git work tree holding the lock file, else under the current folder."""
    from weightops.core import git
    from weightops.core.gitdir import is_url

    repo = pinned.get("repo")
    if isinstance(repo, str) and repo and not is_url(repo) and Path(repo).is_dir():
        return Path(repo) / pinned["path"]
    try:
        return git.toplevel(lock_file.resolve().parent) / pinned["path"]
    except NotFoundError:
        return Path(pinned["path"])
