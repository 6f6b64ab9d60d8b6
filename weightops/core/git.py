"""The one module that runs git: plain `git` subprocesses, argument lists, never a shell; the
command lines are built here (core/git_remote.py adds those for repositories read by URL,
core/git_review.py those of review, CI, the guard and signed tags).

Reads are batched: one `git for-each-ref` for every tag, one `git cat-file --batch` for the
files needed at a commit. Names reach git only after the tag grammar validated them, and
every ref argument is preceded by `--` or checked not to start with '-'.

Conventions of every function here: `repo` is a path to a work tree or a git folder; a
command whose failure matters raises GitError (exit 1) carrying git's first stderr line; no
git on PATH is a WeightopsError (1); an option-like revision or name is a UsageError (2).
Functions documented as returning None or False on failure raise neither.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from weightops.core.git_run import GitError, run  # noqa: F401 - the runner, re-exported
from weightops.core.git_tags import TagListing
from weightops.core.gitdir import find_work_tree
from weightops.core.refs import CARDS_REF, TagRef
from weightops.errors import NotFoundError, RefusedError, UsageError, WeightopsError

# The signature block git appends to a signed tag's message (gpg, x509 or ssh).
_SIGNATURE = re.compile(r"^-----BEGIN (PGP SIGNATURE|SIGNED MESSAGE|SSH SIGNATURE)-----$", re.M)


def _safe(ref: str) -> str:
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise UsageError(f"'{ref!r}' is not a valid git revision")
    return ref


def locate_repo(path: str | os.PathLike) -> tuple[Path, bool, Path | None]:
    """(git dir, bare?, work tree top or None): a plain work tree found without a process
    (core/gitdir.py), anything else by one `git rev-parse`. NotFoundError (3) outside a repository."""
    found = find_work_tree(path)
    if found is not None:
        return found[0], False, found[1]
    proc = run(["rev-parse", "--is-bare-repository", "--absolute-git-dir", "--show-toplevel"], cwd=path, check=False)
    lines = proc.stdout.splitlines()
    if len(lines) < 2:
        raise NotFoundError(f"{Path(path).resolve()} is not inside a git repository; "
                            "run `weightops init` or pass --repo")
    bare = lines[0].strip() == "true"
    top = Path(lines[2].strip()) if not bare and len(lines) > 2 and lines[2].strip() else None
    if not bare and top is None:  # inside .git of a work tree: treat the git dir as the repo
        return Path(lines[1].strip()), True, None
    return Path(lines[1].strip()), bare, top


def toplevel(path: str | os.PathLike = ".") -> Path:
    """The work tree root above `path`. NotFoundError (3) outside a git repository."""
    proc = run(["rev-parse", "--show-toplevel"], cwd=path, check=False)
    if proc.returncode != 0:
        raise NotFoundError(f"{Path(path).resolve()} is not inside a git repository; run `weightops init` or pass --repo")
    return Path(proc.stdout.strip())


def list_tags(repo: str | os.PathLike, patterns: list[str] | None = None, *,
              messages: bool = True) -> list[TagRef]:
    """Every tag (or those matching `patterns`, git's ref globs) with its peeled commit, time,
    tagger and (unless `messages=False`, which saves git a third of its work) message, in one
    git process. Lightweight tags come back with `annotated=False` and their commit's date.
    GitError (1) when git fails."""
    return list(iter_tags(repo, patterns, messages=messages))


def iter_tags(repo: str | os.PathLike, patterns: list[str] | None = None, *,
              messages: bool = True) -> Iterator[TagRef]:
    """`list_tags`, yielding each tag as git prints it: git parses every tag object, and on a
    second core the caller (the registry) reads the first tags meanwhile. The GitError (1)
    of a failed git comes at the end of the iteration (core/git_tags.py)."""
    yield from TagListing(repo, patterns, messages=messages).refs()


def _batch_request(names: list[str], what: str = "object name", prefix: str = "") -> bytes:
    """`git cat-file --batch` input: PREFIX+name a line. UsageError (2) for a name with a newline."""
    for name in names:
        if "\n" in name:
            raise UsageError(f"invalid {what} {name!r}")
    return "".join(prefix + name + "\n" for name in names).encode()


def _batch_answers(read_line, read, count: int):
    """(object type, contents) of `count` answers of `git cat-file --batch`, read through
    `read_line()` and `read(n)`; (None, None) for a missing or ambiguous name."""
    for _ in range(count):
        header = read_line().decode().rstrip("\n")
        if not header:
            raise GitError("git cat-file stopped answering")
        if header.endswith(" missing") or header.endswith(" ambiguous"):
            yield None, None
            continue
        _, otype, size = header.rsplit(" ", 2)
        body = read(int(size) + 1)[:-1]   # the contents, then a newline
        yield otype, body


def read_blobs(repo: str | os.PathLike, specs: list[str]) -> dict[str, bytes | None]:
    """`REV:PATH` specs -> file contents (bytes), None for a missing file or a non-blob, in
    one `git cat-file --batch`. UsageError (2) for a spec with a newline, GitError (1)."""
    if not specs:
        return {}
    stream = io.BytesIO(run(["cat-file", "--batch"], cwd=repo, input=_batch_request(specs), text=False).stdout)
    return {spec: body if otype == "blob" else None
            for spec, (otype, body) in zip(specs, _batch_answers(stream.readline, stream.read, len(specs)))}


class BlobReader:
    """One `git cat-file --batch` kept open across reads, for reads that depend on earlier
    ones (locating a model reads dvc.yaml, then the pointer and card it names): one git
    process in all. Use it as a context manager: entering starts git (so its start-up
    overlaps whatever the caller does before the first read), leaving ends it."""

    _CHUNK = 4096   # request bytes written at once: at most what any pipe holds, so never a deadlock

    def __init__(self, repo: str | os.PathLike) -> None:
        """`repo`: a work tree or git folder. No process starts before `start` or the first `read`."""
        self.repo = repo
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start git unless it runs. WeightopsError (1) without git."""
        if self._proc is None:
            try:
                self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.repo, stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except FileNotFoundError:
                raise WeightopsError("git is not installed or not on PATH; install git and retry") from None

    def read(self, specs: list[str]) -> dict[str, bytes | None]:
        """As `read_blobs`: `REV:PATH` -> bytes, or None for a missing file or a non-blob.
        GitError (1) when git stops answering, UsageError (2) for a spec with a newline."""
        self.start()
        result: dict[str, bytes | None] = {}
        start = 0
        while start < len(specs):
            end, size = start + 1, len(specs[start])
            while end < len(specs) and size + len(specs[end]) < self._CHUNK:
                size, end = size + len(specs[end]) + 1, end + 1
            chunk = specs[start:end]
            try:
                self._proc.stdin.write(_batch_request(chunk))
                self._proc.stdin.flush()
            except BrokenPipeError:
                raise GitError("git cat-file stopped answering") from None
            answers = _batch_answers(self._proc.stdout.readline, self._proc.stdout.read, len(chunk))
            result.update((spec, body if otype == "blob" else None) for spec, (otype, body) in zip(chunk, answers))
            start = end
        return result

    def close(self) -> None:
        """End the git process (it exits at the end of its input)."""
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.stdout.close()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> "BlobReader":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_blob(repo: str | os.PathLike, rev: str, path: str) -> bytes | None:
    """The file at PATH in commit REV (bytes), or None when it is not there. GitError (1)."""
    return read_blobs(repo, [f"{rev}:{path}"])[f"{rev}:{path}"]


def rev_parse(repo: str | os.PathLike, rev: str) -> str:
    """The full commit id REV names. NotFoundError (3) when it names none; UsageError (2) for an option-like REV."""
    proc = run(["rev-parse", "--verify", "--quiet", f"{_safe(rev)}^{{commit}}"], cwd=repo, check=False)
    if proc.returncode != 0:
        raise NotFoundError(f"no commit '{rev}' in {repo}")
    return proc.stdout.strip()


def head(repo: str | os.PathLike) -> str | None:
    """HEAD's commit id, or None in a repository without commits."""
    proc = run(["rev-parse", "--verify", "--quiet", "HEAD"], cwd=repo, check=False)
    return proc.stdout.strip() or None


def current_branch(repo: str | os.PathLike) -> str | None:
    """The checked-out branch's short name, or None on a detached HEAD."""
    proc = run(["symbolic-ref", "--short", "-q", "HEAD"], cwd=repo, check=False)
    return proc.stdout.strip() or None


def dirty_paths(repo: str | os.PathLike) -> list[str]:
    """Tracked paths with uncommitted changes (untracked files do not count). GitError (1)."""
    out = run(["status", "--porcelain", "--untracked-files=no"], cwd=repo).stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def tag_exists(repo: str | os.PathLike, name: str) -> bool:
    """Whether refs/tags/NAME exists."""
    proc = run(["rev-parse", "--verify", "--quiet", f"refs/tags/{_safe(name)}"], cwd=repo, check=False)
    return proc.returncode == 0


def create_tag(repo: str | os.PathLike, name: str, commit: str, message: str, *,
               time: int | None = None, sign: bool = False) -> None:
    """Create the annotated tag NAME on `commit` with `message`, dated `time` (Unix seconds;
    None: now): signed with git's configured key when `sign` (`git tag -s`), never signed
    otherwise (`git tag -a --no-sign`, whatever `tag.gpgSign` or `tag.forceSignAnnotated`
    say). RefusedError (5) when NAME exists (tags never move); GitError (1) when git fails,
    and when git could not sign (naming the key): then no tag is left behind, even where git
    itself wrote an unsigned one (git 2.39 does when ssh-keygen fails). UsageError (2) for an
    option-like name or commit."""
    _safe(name)
    env = {}
    if time is not None:
        env["GIT_COMMITTER_DATE"] = f"@{int(time)} +0000"
    args = ["tag", "-s" if sign else "-a", *([] if sign else ["--no-sign"]), "-F", "-", "--", name, _safe(commit)]
    proc = run(args, cwd=repo, input=message, env=env, check=False)
    first = next((l.strip() for l in proc.stderr.splitlines() if l.strip()), "")
    if proc.returncode != 0 and "already exists" in proc.stderr:
        raise RefusedError(f"tag '{name}' already exists; weightops never moves or overwrites tags")
    if sign:
        written = run(["rev-parse", "--verify", "--quiet", f"refs/tags/{name}"], cwd=repo, check=False).stdout.strip()
        body = run(["cat-file", "tag", written], cwd=repo, check=False).stdout if written else ""
        if proc.returncode != 0 or not _SIGNATURE.search(body):
            if written:   # our own unsigned tag: removed only if it is still the object git just wrote
                run(["update-ref", "-d", f"refs/tags/{name}", written], cwd=repo, check=False)
            fmt = config_get(repo, "gpg.format") or "openpgp"
            key = config_get(repo, "user.signingkey") or f"the default {fmt} key of {config_get(repo, 'user.email')}"
            why = next((l.strip().removeprefix("error: ") for l in proc.stderr.splitlines()
                        if l.strip() and "unable to sign" not in l), first) or "no signature in the tag"
            raise GitError(f"git could not sign tag {name} with {key} (gpg.format {fmt}): {why}; nothing was written")
        return
    if proc.returncode != 0:
        raise GitError(f"git tag {name} failed: {first}")


def delete_local_tag(repo: str | os.PathLike, name: str) -> None:
    """Only for undoing a tag this process created and failed to push."""
    run(["tag", "-d", "--", _safe(name)], cwd=repo, check=False)


def push_tag(repo: str | os.PathLike, remote: str, name: str) -> subprocess.CompletedProcess:
    """Push refs/tags/NAME to REMOTE (never forced); the finished process, for the caller to judge."""
    return run(["push", "--porcelain", _safe(remote), f"refs/tags/{_safe(name)}:refs/tags/{name}"],
               cwd=repo, check=False)


def push_tag_with_claim(repo: str | os.PathLike, remote: str, name: str, claim: str) -> bool:
    """Push refs/tags/NAME and create the ref CLAIM on `remote` in one atomic push that fails
    when CLAIM exists there already; False when refused. The local CLAIM ref is removed after."""
    # The claim names the new (unique) tag object, not the commit: a claim equal to the remote's
    # would be "up to date". `--force-with-lease=REF:` means: only if REF is not there yet.
    run(["update-ref", _safe(claim), f"refs/tags/{_safe(name)}"], cwd=repo)
    proc = run(["push", "--atomic", "--porcelain", f"--force-with-lease={claim}:", "--", _safe(remote),
                f"refs/tags/{name}:refs/tags/{name}", f"{claim}:{claim}"], cwd=repo, check=False)
    run(["update-ref", "-d", claim], cwd=repo, check=False)
    return proc.returncode == 0


def fetch_tags(repo: str | os.PathLike, remote: str) -> None:
    """`git fetch --tags` from `remote`, with the attached cards' notes ref (core.refs.CARDS_REF,
    only when it fast-forwards: local notes not pushed yet stay), best effort: offline, the local
    tags stand."""
    # A glob: a remote without the ref matches nothing instead of failing the whole fetch.
    run(["fetch", "--quiet", "--tags", "--", _safe(remote), f"{CARDS_REF}*:{CARDS_REF}*"], cwd=repo, check=False)


def push_cards(repo: str | os.PathLike, remote: str) -> subprocess.CompletedProcess | None:
    """Push the attached cards' notes ref (core.refs.CARDS_REF) to `remote`, never forced; None
    when there is none here, else the finished process for the caller to judge."""
    if run(["rev-parse", "-q", "--verify", CARDS_REF], cwd=repo, check=False).returncode != 0:
        return None
    return run(["push", "--porcelain", _safe(remote), f"{CARDS_REF}:{CARDS_REF}"], cwd=repo, check=False)


def init_repo(path: str | os.PathLike) -> None:
    """`git init` with `main` as the first branch. GitError (1) when git fails."""
    run(["init", "-q", "-b", "main"], cwd=path)


def set_config(repo: str | os.PathLike, key: str, value: str) -> None:
    """`git config KEY VALUE` in the repository's own config. GitError (1) when git fails."""
    run(["config", key, value], cwd=repo)


def commit_all(repo: str | os.PathLike, message: str) -> None:
    """Stage every change (git add -A) and commit it with `message`. GitError (1) when git
    fails (nothing to commit included)."""
    run(["add", "-A"], cwd=repo)
    run(["commit", "-q", "-F", "-"], cwd=repo, input=message)


def default_remote(repo: str | os.PathLike) -> str | None:
    """`origin` when configured, else the first remote, else None."""
    out = run(["remote"], cwd=repo, check=False).stdout.split()
    if not out:
        return None
    return "origin" if "origin" in out else out[0]


def config_get(repo: str | os.PathLike, key: str) -> str | None:
    """The value of git config KEY as git resolves it (env, repo, user, system), or None."""
    proc = run(["config", "--get", key], cwd=repo, check=False)
    return proc.stdout.strip() or None


def identity(repo: str | os.PathLike) -> str:
    """`Name <email>` git would write as committer, or "" when git has none."""
    proc = run(["var", "GIT_COMMITTER_IDENT"], cwd=repo, check=False)
    ident = proc.stdout.strip()
    # "Name <email> 1700000000 +0000" -> "Name <email>"
    return ident.rsplit(" ", 2)[0] if ident else ""


def ls_files_matching(repo: str | os.PathLike, *pathspecs: str, check: bool = False) -> list[str]:
    """Tracked and not-ignored paths matching PATHSPECS (git's globs, .gitignore honoured),
    repo-relative, sorted. With `check`, GitError (1) when git fails; else [] then."""
    out = run(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *pathspecs], cwd=repo,
              check=check).stdout
    return sorted(set(filter(None, out.split("\0"))))


def ls_tree_names(repo: str | os.PathLike, rev: str, under: str = ".") -> list[str]:
    """Every file path at REV under the folder UNDER (empty when REV or UNDER is not there)."""
    return run(["ls-tree", "-r", "--name-only", _safe(rev), "--", under], cwd=repo, check=False).stdout.splitlines()


def try_rev_parse(repo: str | os.PathLike, rev: str) -> str | None:
    """The commit `rev` (a full ref name, tag or commit id) names, or None."""
    proc = run(["rev-parse", "--verify", "--quiet", f"{_safe(rev)}^{{commit}}"], cwd=repo, check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def commit_times(repo: str | os.PathLike, commits: list[str]) -> dict[str, int]:
    """Committer dates (Unix seconds) of `commits`, in one git process."""
    if not commits:
        return {}
    out = run(["log", "--no-walk=unsorted", "--format=%H %ct", *commits, "--"], cwd=repo, check=False).stdout
    return {sha: int(ts) for sha, ts in (line.split() for line in out.splitlines() if line.strip())}
