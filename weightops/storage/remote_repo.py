"""`--repo URL`: resolve from a remote git repository without cloning it.

A deploy host has no clone. One `git ls-remote` lists HEAD and the tags; when they differ from
what the cache already holds, one shallow fetch brings the tag objects and their commits with
no trees and no blobs (`--depth=1 --filter=tree:0`: tag dates and messages are the registry).
Resolving then needs one commit: its trees are fetched without blobs, and only the blobs read
(dvc.yaml, dvc.lock, the pointer, the card, the DVC config) come over, lazily, because the cache
is a partial clone. Credentials are git's own (helpers, ssh agent); weightops stores none.

The cache is `$WEIGHTOPS_CACHE/repos/<hash of URL>` (default `~/.cache/weightops`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import cached_property
from pathlib import Path

from weightops.core import git_remote
from weightops.core.refs import CARDS_REF
from weightops.errors import UsageError
from weightops.storage.pointers import Remote
from weightops.project import Project

log = logging.getLogger(__name__)
HEAD_BRANCH = "refs/heads/weightops-head"
def cache_dir(url: str) -> Path:
    """Where the partial cache of repository `url` lives: `$WEIGHTOPS_CACHE` or
    `$XDG_CACHE_HOME/weightops` (default ~/.cache/weightops), then
    `repos/<24 hex of the URL's sha256>`."""
    base = os.environ.get("WEIGHTOPS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "weightops")
    return Path(base) / "repos" / hashlib.sha256(url.encode()).hexdigest()[:24]


class RemoteProject(Project):
    """A Project over the partial cache of a remote repository."""

    def __init__(self, path: Path, url: str, head_ref: str | None = None) -> None:
        super().__init__(path)
        self.url = url
        self.head_ref = head_ref   # the branch the remote's HEAD names (`refs/heads/main`), when known
        self._prefetched: set[str] = set()

    @property
    def partial(self) -> str | None:
        """None: the cache is shallow by design, but it holds every tag the remote's `ls-remote`
        listed (`open_remote` syncs them all), and a stage is read from tags alone."""
        return None

    @cached_property
    def config(self):
        """The remote HEAD's weightops.yaml (defaults without one), saying once on stderr which
        ref and commit it came from: a deploy host reads the settings of the default branch."""
        from weightops.core import git
        from weightops.core.config import CONFIG_FILE

        settings = super().config
        head = git.head(self.root)
        where = f"{self.head_ref or 'HEAD'} ({head[:12]})" if head else "HEAD (no commit)"
        found = head is not None and git.read_blob(self.root, head, CONFIG_FILE) is not None
        if found:
            log.warning("note: read %s from %s at %s", CONFIG_FILE, self.url, where)
        else:
            log.warning("note: %s has no %s at %s; using the defaults", self.url, CONFIG_FILE, where)
        return settings

    def remote_base_url(self, remote: Remote) -> str:
        """As Project.remote_base_url, refusing a relative local remote path, which means nothing
        outside a clone: UsageError (2)."""
        url = remote.url[len("file://"):] if remote.url.startswith("file://") else remote.url
        if "://" not in url and not os.path.isabs(os.path.expanduser(url)):
            raise UsageError(f"DVC remote '{remote.name}' is a relative path ({remote.url}), which means nothing "
                             f"outside a clone of {self.url}; use an s3:// or absolute remote, or --remote NAME")
        return super().remote_base_url(remote)

    def prefetch(self, commit: str) -> None:
        """Every tree of `commit` in one fetch, no blobs: the few blobs read next are fetched
        lazily, one by one (without this, each tree would be one round trip too)."""
        if commit not in self._prefetched:
            git_remote.fetch_object(self.root, git_remote.tree_of(self.root, commit))
            self._prefetched.add(commit)

    def locate(self, model: str, commit: str, ref: str | None = None):
        """As Project.locate, after fetching every tree of `commit` in one request (blobs load
        lazily)."""
        self.prefetch(commit)
        return super().locate(model, commit, ref)


def open_remote(url: str, cache: str | os.PathLike | None = None) -> RemoteProject:
    """Sync the cache's tags with the remote (one ls-remote; a fetch only when they differ). The
    cache is at `cache` or `cache_dir(url)`. UsageError (2) for something that is not a git URL;
    NotFoundError (3) when the remote cannot be listed; GitError (1) when a fetch fails."""
    import fcntl

    path = Path(cache) if cache else cache_dir(url)
    head, refs = git_remote.ls_remote(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Several deploys on one host may sync the same cache at once: one at a time.
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _sync(path, url, head, refs)
    return RemoteProject(path, url, refs.get(git_remote.SYMREF_HEAD))


def _sync(path: Path, url: str, head: str | None, refs: dict[str, str]) -> None:
    if not (path / "HEAD").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        git_remote.init_partial_cache(path, url)
    tags = {name: oid for name, oid in refs.items() if name.startswith("refs/tags/") and not name.endswith("^{}")}
    local = git_remote.local_refs(path, "refs")   # one read: the tags, the head branch and the cards' ref
    have = {name: oid for name, oid in local.items() if name.startswith("refs/tags/")}
    have_head = local.get(HEAD_BRANCH)
    # Cards attached to released commits (git notes) come with the tags; their trees and blobs
    # load lazily, as the commits' do.
    cards, have_cards = refs.get(CARDS_REF), local.get(CARDS_REF)
    if have != tags or (head and have_head != head) or cards != have_cards:
        refspecs = ["+refs/tags/*:refs/tags/*"] + ([f"+HEAD:{HEAD_BRANCH}"] if head else []) + \
            ([f"+{CARDS_REF}:{CARDS_REF}"] if cards else [])
        log.info("fetching %d tags of %s (no trees, no blobs, no history)", len(tags), url)
        git_remote.fetch_shallow(path, refspecs, "tree:0", prune=True)
    if head:
        git_remote.set_symbolic_head(path, HEAD_BRANCH)
