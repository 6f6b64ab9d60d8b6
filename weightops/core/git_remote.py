"""git command lines for repositories read by URL or written throwaway, run by core/git.py's
runner. A deploy host resolves from a URL without a clone: one `ls-remote`, then shallow,
filtered fetches into a cache repository configured as a partial clone (missing blobs load
lazily). The audit compares tags with a remote; a published index's tag objects are verified
in a throwaway bare repository.
"""

from __future__ import annotations

import os

from weightops.core.git import _safe, run
from weightops.core.refs import CARDS_REF
from weightops.errors import NotFoundError, UsageError

_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}  # fail instead of waiting for a password


def _safe_url(url: str) -> str:
    if not url or url.startswith("-") or any(c in url for c in "\0\n\r") or url.lower().startswith("ext::"):
        raise UsageError(f"{url!r} is not a git repository URL")
    return url


SYMREF_HEAD = "ref: HEAD"   # key of `ls_remote`'s answer holding the branch the remote's HEAD names


def ls_remote(url: str) -> tuple[str | None, dict[str, str]]:
    """(the remote HEAD's commit or None, {refname: object id}) for HEAD, every tag and the attached
    cards' notes ref (core.refs.CARDS_REF) when there is one, in one call; the branch HEAD names
    (`refs/heads/main`) is under the key SYMREF_HEAD when the server says.
    `url` is a git URL or a local path. UsageError (2) for something that is not a URL;
    NotFoundError (3) when git cannot list it (wrong URL, no access)."""
    proc = run(["ls-remote", "--symref", _safe_url(url), "HEAD", "refs/tags/*", CARDS_REF], env=_NO_PROMPT, check=False)
    if proc.returncode != 0:
        first = next((l for l in proc.stderr.splitlines() if l.strip()), "").strip()
        raise NotFoundError(f"cannot list {url}: {first or 'git ls-remote failed'}; check the URL and your git credentials")
    refs: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("ref:") and line.endswith("\tHEAD"):
            refs[SYMREF_HEAD] = line[4:-len("\tHEAD")].strip()   # the branch HEAD names
            continue
        if line.startswith("ref:") or "\t" not in line:
            continue
        oid, name = line.split("\t", 1)
        refs[name] = oid
    return refs.get("HEAD"), refs


def init_partial_cache(path: str | os.PathLike, url: str) -> None:
    """A bare repository whose `origin` is a promisor remote: objects not fetched yet are fetched on
    first read, one by one, without history. GitError (1) when git fails."""
    run(["init", "-q", "--bare", str(path)])
    for key, value in (("core.repositoryformatversion", "1"), ("extensions.partialClone", "origin"),
                       ("remote.origin.url", _safe_url(url)), ("remote.origin.promisor", "true"),
                       ("remote.origin.partialclonefilter", "blob:none"), ("gc.auto", "0")):
        run(["config", key, value], cwd=path)


def fetch_shallow(repo: str | os.PathLike, refspecs: list[str], filter_spec: str, *,
                  prune: bool = False) -> None:
    """`git fetch --depth=1 --filter=...` from origin: tips only, no history. GitError (1) when git
    fails."""
    args = ["fetch", "-q", "--no-tags", "--depth=1", f"--filter={filter_spec}", "--no-write-fetch-head"]
    if prune:
        args.append("--prune")
    run(args + ["origin", *refspecs], cwd=repo, env=_NO_PROMPT)


def fetch_object(repo: str | os.PathLike, oid: str, filter_spec: str = "blob:none") -> None:
    """Fetch one object by id (a commit's root tree: every tree below it, no blobs). GitError (1)
    when git fails."""
    run(["fetch", "-q", "--no-tags", f"--filter={filter_spec}", "--no-write-fetch-head", "origin", _safe(oid)],
        cwd=repo, env=_NO_PROMPT)


def local_refs(repo: str | os.PathLike, prefix: str = "refs/tags") -> dict[str, str]:
    """Full ref name -> object id of every local ref under PREFIX. GitError (1) when git fails."""
    out = run(["for-each-ref", "--format=%(refname) %(objectname)", prefix], cwd=repo).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def tree_of(repo: str | os.PathLike, commit: str) -> str:
    """The root tree id of COMMIT. GitError (1) when git fails."""
    return run(["rev-parse", f"{_safe(commit)}^{{tree}}"], cwd=repo).stdout.strip()


def set_symbolic_head(repo: str | os.PathLike, branch: str) -> None:
    """Point HEAD at BRANCH (a full ref name). GitError (1) when git fails."""
    run(["symbolic-ref", "HEAD", branch], cwd=repo)


def remote_tags(repo: str | os.PathLike, remote: str) -> dict[str, str] | None:
    """Tag name -> peeled commit on `remote` (one `git ls-remote`), or None when unreachable."""
    proc = run(["ls-remote", "--tags", "--", _safe(remote)], cwd=repo, check=False, timeout=60)
    if proc.returncode != 0:
        return None
    tags: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith("refs/tags/"):
            continue
        name = ref[len("refs/tags/"):]
        if name.endswith("^{}"):
            tags[name[:-3]] = sha          # the peeled commit wins over the tag object
        else:
            tags.setdefault(name, sha)
    return tags


def init_bare(path: str | os.PathLike) -> None:
    """`git init --bare PATH`. GitError (1) when git fails."""
    run(["init", "-q", "--bare", str(path)])


def create_refs(repo: str | os.PathLike, refs: dict[str, str]) -> None:
    """Set each full ref name to its object id (`{'refs/tags/x': '<40 hex>'}`) in one
    `git update-ref --stdin` transaction. UsageError (2) for a name or id with a space, NUL or
    newline; a git failure raises core/git.py's error."""
    for name, oid in refs.items():
        if any(c in name + oid for c in " \0\n"):
            raise UsageError(f"invalid ref {name!r}")
    if refs:
        run(["update-ref", "--stdin"], cwd=repo, input="".join(f"update {n} {o}\n" for n, o in refs.items()))


def store_tag_objects(git_dir: str | os.PathLike, raws: list[str]) -> list[str]:
    """Write raw tag objects into a (throwaway) bare repository, unchecked, as `git verify-tag`
    needs them there: the objects they tag need not exist. Returns their ids. GitError (1) when git
    fails."""
    ids = []
    for raw in raws:
        proc = run(["hash-object", "-t", "tag", "-w", "--literally", "--stdin"], cwd=git_dir,
                   input=raw.encode("utf-8", errors="surrogateescape"), text=False)
        ids.append(proc.stdout.decode().strip())
    return ids
