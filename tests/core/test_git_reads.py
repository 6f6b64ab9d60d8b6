"""The git reads on resolve's path, checked against git itself in real repositories: finding
the repository without `git rev-parse` (core/gitdir.py), one `git cat-file --batch` kept
open (git.BlobReader), and tags read while git prints them (git.iter_tags)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from weightops.core import git
from weightops.core.gitdir import find_work_tree


def sh(*args: str, cwd: Path, env: dict | None = None, input: str | None = None) -> str:
    full_env = dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com",
                    GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.com", **(env or {}))
    return subprocess.run(args, cwd=cwd, env=full_env, input=input, check=True, capture_output=True, text=True).stdout


def rev_parse(path: Path) -> tuple[Path, bool, Path | None] | None:
    """What `git rev-parse` answers for `path`, in locate_repo's shape (inside a git folder it
    prints the first two answers, then fails for the third)."""
    proc = subprocess.run(["git", "rev-parse", "--is-bare-repository", "--absolute-git-dir", "--show-toplevel"],
                          cwd=path, capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    if len(lines) < 2:
        return None
    bare = lines[0] == "true"
    top = Path(lines[2]) if not bare and len(lines) > 2 and lines[2] else None
    return (Path(lines[1]), True, None) if not bare and top is None else (Path(lines[1]), bare, top)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "sub" / "deeper").mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=root)
    (root / "sub" / "file.txt").write_text("one\n")
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "first", cwd=root)
    return root


def test_plain_work_tree_is_found_as_git_finds_it(repo):
    for where in (repo, repo / "sub", repo / "sub" / "deeper"):
        found = find_work_tree(where)
        assert found is not None, where
        assert (found[0], False, found[1]) == rev_parse(where) == git.locate_repo(where)


def test_a_symlinked_path_resolves_as_git_resolves_it(repo, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(repo / "sub")
    assert find_work_tree(link) is not None
    assert git.locate_repo(link) == rev_parse(link)


def test_what_is_not_a_plain_work_tree_is_left_to_git(repo, tmp_path):
    """Inside .git, a bare repository, a linked worktree (a `.git` file), core.worktree, git's
    environment: find_work_tree steps aside and locate_repo answers what git answers."""
    bare = tmp_path / "bare.git"
    sh("git", "clone", "-q", "--bare", str(repo), str(bare), cwd=tmp_path)
    linked = tmp_path / "linked"
    sh("git", "worktree", "add", "-q", str(linked), "-b", "other", cwd=repo)
    cases = [repo / ".git", repo / ".git" / "refs", bare, bare / "refs", linked]
    for where in cases:
        assert find_work_tree(where) is None, where
        assert git.locate_repo(where) == rev_parse(where), where
    moved = tmp_path / "moved"
    sh("git", "init", "-q", str(moved), cwd=tmp_path)
    sh("git", "config", "core.worktree", str(tmp_path), cwd=moved)
    assert find_work_tree(moved) is None
    assert git.locate_repo(moved) == rev_parse(moved)


def test_git_environment_leaves_the_answer_to_git(repo, tmp_path, monkeypatch):
    other = tmp_path / "other"
    sh("git", "init", "-q", str(other), cwd=tmp_path)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert find_work_tree(repo) is None
    assert git.locate_repo(repo)[0] == (other / ".git").resolve() == rev_parse(repo)[0]


def test_outside_a_repository(tmp_path):
    lone = tmp_path / "lone"
    lone.mkdir()
    if rev_parse(lone) is None:   # (unless tmp itself sits in a work tree)
        assert find_work_tree(lone) is None
        with pytest.raises(Exception) as err:
            git.locate_repo(lone)
        assert getattr(err.value, "exit_code", None) == 3


def test_blob_reader_reads_what_read_blobs_reads(repo):
    head = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    specs = [f"{head}:sub/file.txt", f"{head}:missing.txt", f"{head}:sub", "nope:nothing"]
    with git.BlobReader(repo) as reader:
        first = reader.read(specs)
        again = reader.read(specs[:1])   # the same process answers a second request
    assert first == git.read_blobs(repo, specs) == {specs[0]: b"one\n", specs[1]: None, specs[2]: None, specs[3]: None}
    assert again == {specs[0]: b"one\n"}


def test_blob_reader_with_more_requests_than_a_pipe_holds(repo):
    """Thousands of names (more than a pipe buffer of requests, and of answers) in one read."""
    head = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    big = "x" * 200_000
    (repo / "big.bin").write_text(big)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "big", cwd=repo)
    head = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    specs = [f"{head}:big.bin"] * 3 + [f"{head}:sub/missing-{i:05d}-{'y' * 40}.txt" for i in range(3000)]
    specs += [f"{head}:big.bin", f"{head}:sub/file.txt"]
    with git.BlobReader(repo) as reader:
        found = reader.read(specs)
    assert found[f"{head}:big.bin"] == big.encode()
    assert found[f"{head}:sub/file.txt"] == b"one\n"
    assert sum(v is None for v in found.values()) == 3000


def test_blob_reader_refuses_a_name_with_a_newline(repo):
    with git.BlobReader(repo) as reader, pytest.raises(Exception) as err:
        reader.read(["HEAD:a\nHEAD:b"])
    assert getattr(err.value, "exit_code", None) == 2


def test_tags_read_while_git_prints_them_keep_every_field(repo):
    """Multi-line messages (LF and CRLF), lightweight tags and a tag of a tag come back as
    for-each-ref prints them; patterns filter as git's globs do."""
    sh("git", "tag", "-a", "clf@v1.0.0", "-F", "-", cwd=repo, input="title\n\nversion: v1.0.0\r\nline two\n",
       env={"GIT_COMMITTER_DATE": "@1700000000 +0000"})
    sh("git", "tag", "clf#prod#1", cwd=repo)
    sh("git", "tag", "-a", "outer", "-m", "a tag of a tag", "clf@v1.0.0", cwd=repo)
    head = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    refs = {r.name: r for r in git.iter_tags(repo)}
    assert set(refs) == {"clf@v1.0.0", "clf#prod#1", "outer"}
    v = refs["clf@v1.0.0"]
    assert (v.commit, v.time, v.annotated, v.tagger) == (head, 1700000000, True, "T <t@example.com>")
    assert v.message == sh("git", "for-each-ref", "--format=%(contents)", "refs/tags/clf@v1.0.0", cwd=repo)[:-1]
    assert "line two" in v.message and v.message.startswith("title\n")
    assert refs["clf#prod#1"].annotated is False and refs["clf#prod#1"].commit == head
    assert refs["outer"].commit == head
    assert git.list_tags(repo) == list(git.iter_tags(repo))
    assert [r.name for r in git.iter_tags(repo, ["refs/tags/clf@*"], messages=False)] == ["clf@v1.0.0"]
    assert next(iter(git.iter_tags(repo, ["refs/tags/clf@*"], messages=False))).message == ""


def test_tags_of_a_broken_repository_raise_gits_error(tmp_path):
    lone = tmp_path / "lone"
    lone.mkdir()
    if rev_parse(lone) is None:
        with pytest.raises(git.GitError) as err:
            list(git.iter_tags(lone))
        assert "for-each-ref" in str(err.value) and err.value.exit_code == 1
