"""The one module that runs git: plain `git` subprocesses, argument lists, never a shell; the
command lines are built here (core/git_remote.py adds those for repositories read by URL).

Reads are batched: one `git for-each-ref` for every tag, one `git cat-file --batch` for the
files needed at a commit. Names reach git only after the tag grammar validated them, and
every ref argument is preceded by `--` or checked not to start with '-'.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from weightops.core.refs import TagRef
from weightops.errors import NotFoundError, RefusedError, UsageError, WeightopsError

_REF_FIELDS = [
    "%(refname:strip=2)", "%(objecttype)", "%(objectname)", "%(*objectname)", "%(*objecttype)",
    "%(taggerdate:unix)", "%(creatordate:unix)", "%(taggername)", "%(taggeremail)",
    "%(contents)",
]


class GitError(WeightopsError):
    """git failed; the message carries git's own first line."""


def run(args: list[str], cwd: str | os.PathLike | None = None, *, input: str | bytes | None = None,
        env: dict | None = None, check: bool = True, text: bool = True,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """`git ARGS` in `cwd`; `env` is added to the environment. With `check`, a non-zero exit
    raises GitError (exit 1) carrying git's first stderr line; WeightopsError (1) without git."""
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, text=text,
            env=full_env, timeout=timeout,
        )
    except FileNotFoundError:
        raise WeightopsError("git is not installed or not on PATH; install git and retry") from None
    if check and proc.returncode != 0:
        err = proc.stderr if text else proc.stderr.decode(errors="replace")
        first = next((line for line in err.splitlines() if line.strip()), "").strip()
        raise GitError(f"git {args[0]} failed: {first or 'exit ' + str(proc.returncode)}",
                       returncode=proc.returncode, stderr=err)
    return proc


def _safe(ref: str) -> str:
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise UsageError(f"'{ref!r}' is not a valid git revision")
    return ref


def locate_repo(path: str | os.PathLike) -> tuple[Path, bool, Path | None]:
    """(git dir, bare?, work tree top or None) in one git process."""
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
    git process."""
    # Separators carry a per-call nonce: a tag message cannot forge a field or record boundary.
    nonce = os.urandom(8).hex()
    fs, rs = f"\x1f{nonce}\x1f", f"\x1e{nonce}\x1e"
    fields = _REF_FIELDS if messages else _REF_FIELDS[:-1] + [""]
    out = run(["for-each-ref", f"--format={fs.join(fields)}{rs}", *(patterns or ["refs/tags"])], cwd=repo).stdout
    refs = []
    for record in out.split(rs):
        record = record.lstrip("\n")
        if not record:
            continue
        parts = record.split(fs)
        if len(parts) != 10:
            continue
        name, otype, obj, peeled, ptype, tdate, cdate, tname, temail, contents = parts
        if otype == "tag":
            commit = peeled or obj
            if ptype == "tag":  # a tag of a tag: peel to the commit (rare, so one call each)
                commit = run(["rev-parse", f"{obj}^{{commit}}"], cwd=repo, check=False).stdout.strip() or peeled
            time = int(tdate or cdate or 0)
            refs.append(TagRef(name, commit, time, True, f"{tname} {temail}".strip(),
                               contents, obj))
        elif otype == "commit":
            refs.append(TagRef(name, obj, int(cdate or 0), False, "", "", obj))
    return refs


def read_blobs(repo: str | os.PathLike, specs: list[str]) -> dict[str, bytes | None]:
    """`git cat-file --batch` over `REV:PATH` specs; a missing object maps to None."""
    if not specs:
        return {}
    for s in specs:
        if "\n" in s:
            raise UsageError(f"invalid object name {s!r}")
    data = "".join(s + "\n" for s in specs).encode()
    proc = run(["cat-file", "--batch"], cwd=repo, input=data, text=False)
    out = proc.stdout
    result: dict[str, bytes | None] = {}
    pos = 0
    for spec in specs:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode()
        pos = nl + 1
        if header.endswith(" missing") or header.endswith(" ambiguous"):
            result[spec] = None
            continue
        _, otype, size = header.rsplit(" ", 2)
        size = int(size)
        body = out[pos:pos + size]
        pos += size + 1
        result[spec] = body if otype == "blob" else None
    return result


def read_blob(repo: str | os.PathLike, rev: str, path: str) -> bytes | None:
    """The file at PATH in commit REV, or None when it is not there."""
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


def is_dirty(repo: str | os.PathLike) -> bool:
    """Whether tracked files have uncommitted changes."""
    return bool(dirty_paths(repo))


def dirty_paths(repo: str | os.PathLike) -> list[str]:
    """Tracked paths with uncommitted changes (untracked files do not count)."""
    out = run(["status", "--porcelain", "--untracked-files=no"], cwd=repo).stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def tag_exists(repo: str | os.PathLike, name: str) -> bool:
    """Whether refs/tags/NAME exists."""
    proc = run(["rev-parse", "--verify", "--quiet", f"refs/tags/{_safe(name)}"], cwd=repo, check=False)
    return proc.returncode == 0


def create_tag(repo: str | os.PathLike, name: str, commit: str, message: str, *,
               time: int | None = None, sign: bool = False) -> None:
    """Create an annotated tag; refuse to overwrite (git itself refuses without -f)."""
    _safe(name)
    env = {}
    if time is not None:
        env["GIT_COMMITTER_DATE"] = f"@{int(time)} +0000"
    args = ["tag", "-a" if not sign else "-s", "-F", "-", "--", name, _safe(commit)]
    proc = run(args, cwd=repo, input=message, env=env, check=False)
    if proc.returncode != 0:
        if "already exists" in proc.stderr:
            raise RefusedError(f"tag '{name}' already exists; weightops never moves or overwrites tags")
        first = next((l for l in proc.stderr.splitlines() if l.strip()), "")
        raise GitError(f"git tag {name} failed: {first.strip()}")


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
    """`git fetch --tags` from `remote`, best effort: offline, the local tags stand."""
    run(["fetch", "--quiet", "--tags", "--", _safe(remote)], cwd=repo, check=False)


def init_repo(path: str | os.PathLike) -> None:
    """`git init` with `main` as the first branch."""
    run(["init", "-q", "-b", "main"], cwd=path)


def set_config(repo: str | os.PathLike, key: str, value: str) -> None:
    """`git config KEY VALUE` in the repository's own config."""
    run(["config", key, value], cwd=repo)


def commit_all(repo: str | os.PathLike, message: str) -> None:
    """Stage every change (git add -A) and commit it."""
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


# ---------------------------------------------------------------- review and CI
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


def ls_files_matching(repo: str | os.PathLike, *pathspecs: str, check: bool = False) -> list[str]:
    """Tracked and not-ignored paths matching PATHSPECS (git's globs, .gitignore honoured), sorted."""
    out = run(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *pathspecs], cwd=repo,
              check=check).stdout
    return sorted(set(filter(None, out.split("\0"))))


def ls_tree_names(repo: str | os.PathLike, rev: str, under: str = ".") -> list[str]:
    """Every file path at REV under the folder UNDER (empty when REV or UNDER is not there)."""
    return run(["ls-tree", "-r", "--name-only", _safe(rev), "--", under], cwd=repo, check=False).stdout.splitlines()


def ls_files_named(repo: str | os.PathLike, name: str) -> list[str]:
    """Tracked and untracked-but-not-ignored files called `name`, anywhere in the work tree."""
    return ls_files_matching(repo, name, f"*/{name}", check=True)


# ---------------------------------------------------------------- tag signatures and the trusted policy commit
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


def read_tag_objects(repo: str | os.PathLike, names: list[str]) -> dict[str, str]:
    """tag name -> its raw annotated tag object (`git cat-file tag`, signature included), for
    many tags in one `git cat-file --batch`. Lightweight or missing tags are left out."""
    if not names:
        return {}
    for n in names:
        if "\n" in n:
            raise UsageError(f"invalid tag name {n!r}")
    data = "".join(f"refs/tags/{n}\n" for n in names).encode()
    out = run(["cat-file", "--batch"], cwd=repo, input=data, text=False).stdout
    found: dict[str, str] = {}
    pos = 0
    for name in names:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode()
        pos = nl + 1
        if header.endswith(" missing") or header.endswith(" ambiguous"):
            continue
        _, otype, size = header.rsplit(" ", 2)
        body = out[pos:pos + int(size)]
        pos += int(size) + 1
        if otype == "tag":
            found[name] = body.decode("utf-8", errors="surrogateescape")
    return found
