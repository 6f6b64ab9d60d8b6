"""`--repo URL`: resolve and pull from a bare repository served over file://, without a clone."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from deploy.s3env import KEY_ID, SECRET, assign_stage
from helpers import ROOT, assert_one_line_error, run_cli


def objects(git_dir) -> set[str]:
    """Object ids present in a repository (never triggers a lazy fetch)."""
    out = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
                         cwd=git_dir, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def kind(git_dir, oid: str) -> str:
    return subprocess.run(["git", "cat-file", "-t", oid], cwd=git_dir, capture_output=True, text=True,
                          check=True).stdout.strip()


def rev(git_dir, spec: str) -> str:
    return subprocess.run(["git", "rev-parse", spec], cwd=git_dir, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_repo_url_resolves_and_pulls_without_a_full_clone(s3_project, tmp_path):
    s3_project.train("second training", seed=8)       # more history the deploy host must not fetch
    assign_stage(s3_project, "production", "v1.0.0")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(s3_project.root), str(bare)], check=True)
    # what GitHub and GitLab serve: partial-clone filters allowed
    subprocess.run(["git", "config", "uploadpack.allowFilter", "true"], cwd=bare, check=True)
    url = bare.as_uri()
    assert url.startswith("file://")
    host = tmp_path / "host"
    host.mkdir()
    env = dict(os.environ, WEIGHTOPS_CACHE=str(tmp_path / "cache"),
               AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)  # no .dvc/config.local on a host

    remote_view = json.loads(run_cli(["resolve", "production", "--repo", url, "--json"], cwd=host, env=env,
                                     check=True).stdout)
    assert remote_view == s3_project.wo_json("resolve", "production")

    pulled = json.loads(run_cli(["pull", "production", "--repo", url, "--json", "-o", str(host / "model.safetensors")],
                                cwd=host, env=env, check=True).stdout)
    data = (host / "model.safetensors").read_bytes()
    assert pulled["commit"] == remote_view["commit"]
    assert hashlib.sha256(data).hexdigest() == remote_view["sha256"]

    # No full clone: a shallow partial cache holding the one commit's pointer and card only.
    [cache] = [p for p in (tmp_path / "cache" / "repos").iterdir() if p.is_dir()]
    assert (cache / "shallow").is_file()
    have, source = objects(cache), objects(bare)
    commit = remote_view["commit"]
    assert rev(bare, f"{commit}:models/clf.card.yaml") in have          # what resolve needed
    assert rev(bare, f"{commit}:src/train.py") not in have              # a blob it did not need
    assert rev(bare, f"{commit}:params.yaml") not in have
    assert rev(bare, f"{commit}~1") not in have                         # no history
    assert rev(bare, "main:dvc.lock") not in have                       # nor the newer commit's files
    blobs = {o for o in have if kind(cache, o) == "blob"}
    needed = {rev(bare, f"{c}:{path}") for c in (commit, "main")
              for path in ("dvc.yaml", "dvc.lock", "models/clf.card.yaml", ".dvc/config", "weightops.yaml")}
    assert blobs <= needed and len(have) < len(source)

    # A second resolve lists the tags once and fetches nothing new.
    run_cli(["resolve", "production", "--repo", url, "--json"], cwd=host, env=env, check=True)
    assert objects(cache) == have

    # The Python API takes the URL too.
    api = subprocess.run([sys.executable, "-c", f"import weightops; print(weightops.resolve('production', repo={url!r}).commit)"],
                         cwd=host, env=env, capture_output=True, text=True, check=True)
    assert api.stdout.strip() == remote_view["commit"] and objects(cache) == have


def test_repo_url_that_does_not_exist_is_one_line_exit_3(tmp_path):
    env = dict(os.environ, WEIGHTOPS_CACHE=str(tmp_path / "cache"))
    proc = run_cli(["resolve", "latest", "--repo", (tmp_path / "nope.git").as_uri()], cwd=tmp_path, env=env)
    assert_one_line_error(proc, 3, "nope.git")


def test_parallel_resolves_share_one_cache(s3_project, tmp_path):
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(s3_project.root), str(bare)], check=True)
    subprocess.run(["git", "config", "uploadpack.allowFilter", "true"], cwd=bare, check=True)
    env = dict(os.environ, WEIGHTOPS_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "weightops", "resolve", "v1.0.0", "--repo", bare.as_uri(),
                               "--json"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert len({json.loads(out)["sha256"] for out, _ in results}) == 1
