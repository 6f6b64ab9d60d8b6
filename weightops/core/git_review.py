"""git reads for review, CI, the guard and signed tags: merge bases, the index and staged
paths, blob streams, tag objects and `git verify-tag`. Split from core/git.py (the runner,
tag listing and object reads of the registry) so each stays one screenful of concerns; the
command lines are built here, run by `git.run`.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess

from weightops.core.git import _batch_answers, _batch_request, _safe, ls_files_matching, run, try_rev_parse


def merge_base(repo: str | os.PathLike, a: str, b: str) -> str | None:
    """The best common ancestor of A and B, or None."""
    proc = run(["merge-base", "--", _safe(a), _safe(b)], cwd=repo, check=False)
    return proc.stdout.strip() or None


def is_ancestor(repo: str | os.PathLike, commit: str, tip: str) -> bool:
    """True when `commit` is reachable from `tip` (the commit is "on" that branch)."""
    proc = run(["merge-base", "--is-ancestor", _safe(commit), _safe(tip)], cwd=repo, check=False)
    return proc.returncode == 0


def default_branch(repo: str | os.PathLike) -> str | None:
    """The branch pull requests merge into: origin's HEAD, else a local main/master."""
    proc = run(["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"], cwd=repo, check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip()[len("refs/remotes/"):]
    for name in ("main", "master"):
        if try_rev_parse(repo, f"refs/heads/{name}"):
            return name
        if try_rev_parse(repo, f"refs/remotes/origin/{name}"):
            return f"origin/{name}"
    return None


def index_entries(repo: str | os.PathLike) -> list[tuple[str, str, str, str]]:
    """(mode, object id, merge stage, path) of every index entry (`git ls-files -s`)."""
    out = run(["ls-files", "-s", "-z"], cwd=repo).stdout
    rows = []
    for record in filter(None, out.split("\0")):
        info, _, path = record.partition("\t")
        mode, sha, stage = info.split()
        rows.append((mode, sha, stage, path))
    return rows


def object_sizes(repo: str | os.PathLike, oids: list[str]) -> dict[str, int]:
    """Object id -> size in bytes, for many objects in one `git cat-file --batch-check`."""
    check = run(["cat-file", "--batch-check"], cwd=repo, input="".join(f"{_safe(o)}\n" for o in oids)).stdout
    return {line.split()[0]: int(line.split()[2]) for line in check.splitlines() if len(line.split()) == 3}


@contextlib.contextmanager
def open_blob(repo: str | os.PathLike, oid: str):
    """A stream of the blob's bytes (`git cat-file blob`): read what is needed; the process
    is ended when the block exits, so a huge blob is never read whole."""
    with subprocess.Popen(["git", "cat-file", "blob", _safe(oid)], cwd=repo, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as proc:
        try:
            yield proc.stdout
        finally:
            proc.kill()


def staged_paths(repo: str | os.PathLike) -> list[str]:
    """Paths added, copied, modified or renamed in the index (what the next commit adds)."""
    out = run(["diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z"], cwd=repo).stdout
    return [p for p in out.split("\0") if p]


def ls_tree_paths(repo: str | os.PathLike, rev: str, names: tuple[str, ...]) -> list[str]:
    """Paths at `rev` whose file name is one of `names` (for example every dvc.yaml)."""
    out = run(["ls-tree", "-r", "--name-only", "-z", _safe(rev)], cwd=repo).stdout
    return [p for p in out.split("\0") if p and p.rsplit("/", 1)[-1] in names]


def verify_tag(repo: str | os.PathLike, name: str, allowed_signers: str | os.PathLike) -> subprocess.CompletedProcess:
    """`git verify-tag --raw` of refs/tags/NAME with the given allowed-signers file (SSH);
    stderr carries ssh-keygen's or gpg's raw status lines (`--format` would silence them)."""
    return run(["-c", f"gpg.ssh.allowedSignersFile={os.fspath(allowed_signers)}", "verify-tag", "--raw",
                "--", f"refs/tags/{_safe(name)}"], cwd=repo, check=False)


def tag_object_names(repo: str | os.PathLike) -> dict[str, str]:
    """ref name -> the name written inside its tag object (annotated tags only), in one process:
    a signed tag copied to another ref keeps its own name inside."""
    out = run(["for-each-ref", "--format=%(refname:strip=2)%00%(tag)", "refs/tags"], cwd=repo).stdout
    pairs = (line.split("\0", 1) for line in out.splitlines() if "\0" in line)
    return {ref: inner for ref, inner in pairs if inner}


def read_tag_objects(repo: str | os.PathLike, names: list[str]) -> dict[str, str]:
    """tag name -> its raw annotated tag object (`git cat-file tag`, signature included), for
    many tags in one `git cat-file --batch`. Lightweight or missing tags are left out."""
    if not names:
        return {}
    request = _batch_request(names, "tag name", prefix="refs/tags/")
    stream = io.BytesIO(run(["cat-file", "--batch"], cwd=repo, input=request, text=False).stdout)
    return {name: body.decode("utf-8", errors="surrogateescape")
            for name, (otype, body) in zip(names, _batch_answers(stream.readline, stream.read, len(names)))
            if otype == "tag"}


def ls_files_named(repo: str | os.PathLike, name: str) -> list[str]:
    """Tracked and untracked-but-not-ignored files called `name`, anywhere in the work tree,
    repo-relative, sorted. GitError (1) when git fails."""
    return ls_files_matching(repo, name, f"*/{name}", check=True)
