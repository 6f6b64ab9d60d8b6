"""No silent answers from a partial registry: in real `git clone --depth 1` and `--no-tags`
clones, read-only commands warn once naming the git command that completes the clone, and stage
writes refuse (exit 5) writing nothing; a full clone says nothing."""

from __future__ import annotations

import subprocess

import pytest

from helpers import T0, assert_one_line_error, at, two_versions

SHALLOW_FIX = "git fetch --unshallow --tags"


@pytest.fixture
def origin(project):
    """staging: v1.0.0, then v1.1.0, then rolled back to v1.0.0 (a new tag on v1.0.0's commit,
    which a depth-1 clone of the newest commit does not fetch)."""
    two_versions(project)
    at(project, T0 + 20, "promote", "v1.0.0", "staging")
    at(project, T0 + 30, "promote", "v1.1.0", "staging")
    at(project, T0 + 40, "rollback", "staging")
    return project


def clone(origin, dest, *flags: str):
    subprocess.run(["git", "clone", "-q", *flags, f"file://{origin.root}", str(dest)], check=True, capture_output=True)
    return dest


def warnings(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("warning:")]


def test_shallow_clone_warns_on_reads_and_refuses_writes(origin, tmp_path):
    assert origin.wo_json("resolve", "staging")["version"] == "v1.0.0"
    shallow = clone(origin, tmp_path / "ci", "--depth", "1")
    assert subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=shallow, capture_output=True,
                          text=True).stdout.strip() == "true"
    proc = origin.wo("resolve", "staging", "--json", cwd=shallow, check=True)
    assert '"version": "v1.1.0"' in proc.stdout           # what the partial tag set says...
    assert len(warnings(proc)) == 1 and SHALLOW_FIX in warnings(proc)[0] and "shallow" in warnings(proc)[0]
    for args in (["history", "staging"], ["list"], ["audit"]):
        proc = origin.wo(*args, cwd=shallow)
        assert len(warnings(proc)) == 1 and SHALLOW_FIX in warnings(proc)[0], args
    before = subprocess.run(["git", "tag"], cwd=shallow, capture_output=True, text=True).stdout
    for args in (["promote", "v1.1.0", "production"], ["demote", "staging"], ["rollback", "staging"],
                 ["rollback", "staging", "--to", "v1.1.0"]):
        assert_one_line_error(origin.wo(*args, cwd=shallow), 5, SHALLOW_FIX)
    assert subprocess.run(["git", "tag"], cwd=shallow, capture_output=True, text=True).stdout == before
    subprocess.run(["git", "fetch", "-q", "--unshallow", "--tags"], cwd=shallow, check=True, capture_output=True)
    proc = origin.wo("resolve", "staging", "--json", cwd=shallow, check=True)
    assert '"version": "v1.0.0"' in proc.stdout and warnings(proc) == []     # ...and the registry's


def test_clone_without_tags_warns_and_refuses_until_tags_are_fetched(origin, tmp_path):
    bare = clone(origin, tmp_path / "notags", "--no-tags")
    proc = origin.wo("list", cwd=bare)
    fix = "git fetch --tags origin"
    assert len(warnings(proc)) == 1 and fix in warnings(proc)[0] and "remote.origin.tagOpt" in warnings(proc)[0]
    assert_one_line_error(origin.wo("promote", "v1.1.0", "production", cwd=bare), 5, fix)
    subprocess.run(["git", "fetch", "-q", "--tags", "origin"], cwd=bare, check=True)
    subprocess.run(["git", "config", "--unset", "remote.origin.tagOpt"], cwd=bare, check=True)
    proc = origin.wo("resolve", "staging", "--json", cwd=bare, check=True)
    assert '"version": "v1.0.0"' in proc.stdout and warnings(proc) == []


def test_full_clones_and_tagless_repositories_say_nothing(origin, tmp_path):
    full = clone(origin, tmp_path / "full")
    for cwd in (full, origin.root):
        proc = origin.wo("resolve", "staging", "--json", cwd=cwd, check=True)
        assert warnings(proc) == [] and '"version": "v1.0.0"' in proc.stdout
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    fresh = tmp_path / "fresh-clone"   # a clone of a repository with no tags yet
    subprocess.run(["git", "clone", "-q", f"file://{empty}", str(fresh)], check=True, capture_output=True)
    assert warnings(origin.wo("list", cwd=fresh)) == []
