"""The tag listing `weightops resolve STAGE` starts before its imports (core/git_tags.py): its
globs hold every tag the stage-scoped read would, the scope predicate keeps exactly what git's
own matching of the scoped globs keeps, and a registry read from it answers as the scoped read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import T0, at

from weightops.core.git_tags import TagListing, any_model_stage_patterns, stage_scope
from weightops.project import Project

# Names a repository may hold: weightops', GTO's (nested models spelled `dir=name`), other
# models and stages, near misses, and names outside the grammar with `/` in them.
# (git cannot hold both `a` and `a/b`, so the exact `NAME#STAGE` appears for `other` only.)
NAMES = [
    "clf#production#1", "clf#production!#2", "clf#production/x", "clf#production/a/b",
    "clf#productionx#3", "clf#staging#1", "clf#production#7/x", "clf@v1.0.0", "clf@v9/x", "clf@deprecated",
    "clf@v1.0.1!", "clfx@v1.0.0", "clfx#production#1", "other#production#1", "other#production", "other@v2.0.0",
    "dir=clf@v1.0.0", "dir=clf#production#4", "v1.0.0", "v2.0.0-rc.1", "vfoo", "v1/x", "x#production#1",
    "release-1", "production",
]


def git(root: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="T",
               GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def tagged(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "commit", "-q", "--allow-empty", "-m", "one")
    for name in NAMES:
        git(root, "tag", name)
    return root


def for_each_ref(root: Path, patterns: list[str]) -> set[str]:
    return set(git(root, "for-each-ref", "--format=%(refname:strip=2)", *patterns).split())


@pytest.mark.parametrize("model", ["clf", "dir=clf", "other", "clfx"])
@pytest.mark.parametrize("plain", [True, False])
def test_the_scope_keeps_what_git_matches_and_the_listing_holds_all_of_it(tagged, model, plain):
    patterns, in_scope = stage_scope(model, "production", plain)
    expected = for_each_ref(tagged, patterns)
    assert expected, "the sample has tags of every model in scope"
    assert {n for n in NAMES if in_scope(n)} == expected
    listed = {ref.name for ref in TagListing(tagged, any_model_stage_patterns("production"), messages=False).refs()}
    assert {n for n in listed if in_scope(n)} == expected


def test_a_registry_read_from_the_listing_answers_as_the_scoped_read(two_versions_project):
    project = two_versions_project
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    at(project, T0 + 200, "promote", "v1.1.0", "production")
    when = {"GIT_COMMITTER_DATE": f"@{T0 + 300} +0000"}
    # another model's tags on the same commits, a lightweight assignment and a deregistration
    project.git("tag", "-a", "other@v3.0.0", "-m", "other", env=when)
    project.git("tag", "-a", "other#production#9", "-m", "other", env=when)
    project.git("tag", "clf#production#10", "v1.0.0^{commit}")
    project.git("tag", "-a", "clf#staging#11", "-m", "assign", "v1.0.0^{commit}", env=when)
    p = Project(project.root)
    scoped = p.registry("clf", "production")
    listing = TagListing(p.root, any_model_stage_patterns("production"), messages=False)
    prefetched = p.registry("clf", "production", listing=listing)
    assert prefetched.events("clf") == scoped.events("clf") and prefetched.events("clf")
    assert prefetched.versions("clf") == scoped.versions("clf")
    assert prefetched.lightweight == scoped.lightweight == ["clf#production#10"]
    assert prefetched.stage_event("clf", "production") == scoped.stage_event("clf", "production")
    assert prefetched.stage_event("clf", "production").version == "v1.1.0"
    assert "other" not in prefetched.models()


def test_a_listing_that_fails_falls_back_to_the_scoped_read(project, tmp_path):
    project.release("v1.0.0", at=T0)
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    elsewhere = tmp_path / "not-a-repo"
    elsewhere.mkdir()
    p = Project(project.root)
    broken = TagListing(elsewhere, any_model_stage_patterns("production"), messages=False)
    registry = p.registry("clf", "production", listing=broken)
    assert registry.stage_event("clf", "production").version == "v1.0.0"
