"""`--repo PATH_OR_URL` means the same everywhere: commands that only read the registry read a
git URL without a clone and answer as they do in the clone; commands that write refuse a URL
with one line (exit 2). `--output`/`-o` is the spelling everywhere; the older `--out` still works."""

from __future__ import annotations

import json
import subprocess

from helpers import assert_one_line_error, run_cli

T0 = 1_790_000_000


def test_reads_take_a_url_and_writes_refuse_it(project, tmp_path):
    project.dvc("remote", "modify", "storage", "url", str(project.remote))   # meaningful outside the clone
    project.git("commit", "-qam", "absolute DVC remote")
    project.release("v1.0.0", at=T0)
    project.wo("promote", "v1.0.0", "production", env={"WEIGHTOPS_NOW": str(T0 + 10)}, check=True)
    bare = tmp_path / "registry.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(bare)], check=True)
    url = bare.as_uri()
    env = {"WEIGHTOPS_CACHE": str(tmp_path / "cache")}
    for args in (["list", "--json"], ["history", "--json"], ["resolve", "production", "--json"]):
        here = json.loads(project.wo(*args, check=True).stdout)
        there = json.loads(project.wo(*args, "--repo", url, env=env, check=True, cwd=tmp_path).stdout)
        assert there == here, args
    for args in (["promote", "v1.0.0", "staging"], ["release", "v2.0.0"], ["audit"]):
        assert_one_line_error(project.wo(*args, "--repo", url, env=env, cwd=tmp_path), 2, url, "local clone")


def test_output_and_its_older_spelling(project, tmp_path):
    project.release("v1.0.0", at=T0)
    project.wo("lock", "v1.0.0", "--output", str(tmp_path / "a.lock.yaml"), check=True)
    project.wo("lock", "v1.0.0", "--out", str(tmp_path / "b.lock.yaml"), check=True)
    project.wo("lock", "v1.0.0", "-o", str(tmp_path / "c.lock.yaml"), check=True)
    texts = [(tmp_path / f"{n}.lock.yaml").read_text().splitlines() for n in "abc"]
    strip = [[l for l in t if not l.startswith(("resolved_at", "checksum"))] for t in texts]
    assert strip[0] == strip[1] == strip[2] and strip[0]
    assert "--out " not in project.wo("lock", "--help").stdout          # hidden, still accepted
    assert_one_line_error(project.wo("lock", "v1.0.0"), 2, "--output")


def test_repo_url_says_which_refs_settings_it_read(project, tmp_path):
    """A deploy host reading `--repo URL` gets the settings of the remote's default branch: it
    is told which branch and commit, since they may differ from the clone it was set up from."""
    project.dvc("remote", "modify", "storage", "url", str(project.remote))   # a URL outside any clone
    project.git("commit", "-qam", "absolute remote")
    project.release("v1.0.0")
    url = f"file://{project.root}"
    proc = run_cli(["resolve", "v1.0.0", "--repo", url, "--json"], cwd=tmp_path, check=True)
    head = project.git("rev-parse", "HEAD")[:12]
    notes = [l for l in proc.stderr.splitlines() if "weightops.yaml" in l]
    assert notes == [f"note: read weightops.yaml from {url} at refs/heads/main ({head})"]


def test_repo_url_is_a_whole_registry_though_its_cache_is_shallow(project, tmp_path):
    """The `--repo URL` cache fetches tips only (`--depth=1`) but every tag the remote lists, so
    it answers from the whole registry and says nothing of a partial one; a clone made with
    `git clone --depth 1` does hold part of it, and is told so."""
    project.dvc("remote", "modify", "storage", "url", str(project.remote))
    project.git("commit", "-qam", "absolute remote")
    project.release("v1.0.0", at=T0)
    project.wo("promote", "v1.0.0", "production", env={"WEIGHTOPS_NOW": str(T0 + 10)}, check=True)
    project.git("commit", "-q", "--allow-empty", "-m", "later work")
    url = f"file://{project.root}"
    env = {"WEIGHTOPS_CACHE": str(tmp_path / "cache")}
    via_url = project.wo("resolve", "production", "--repo", url, env=env, check=True, cwd=tmp_path)
    assert "fetch --unshallow" not in via_url.stderr
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", url, str(shallow)], check=True)
    read = run_cli(["list"], cwd=shallow)
    assert "git fetch --unshallow --tags" in read.stderr
