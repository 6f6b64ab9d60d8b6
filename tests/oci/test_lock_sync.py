"""`lock` and `sync` through OCI mean what they mean today: a lock of an OCI reference pins the
manifest digest (a tag moved later changes nothing), and a host syncing a stage with `--via oci`
follows git and takes the bytes from the registry, with the DVC remote gone."""

from __future__ import annotations

import json
import shutil

import yaml

from helpers import T0, assert_one_line_error, at
from oci.registry import sha256_of
from oci.test_publish_pull import configure, with_git_remote
from oci.test_stages import _digest, _move_by_hand


def test_lock_pins_the_digest_and_sync_via_oci_needs_no_dvc_remote(project, oci_registry, tmp_path):
    repo = "acme/locked"
    target = configure(project, oci_registry, repo)
    with_git_remote(project, tmp_path)
    at(project, T0, "release", "v1.0.0", "--push")
    sha1 = yaml.safe_load(project.card.read_text())["artifact"]["sha256"]
    project.train(epochs=40)
    at(project, T0 + 10, "release", "v1.1.0", "--push")
    lockfile = tmp_path / "model.lock.yaml"
    doc = project.wo_json("lock", f"oci://{target}:v1.0.0", "-o", str(lockfile))
    assert doc["sha256"] == sha1 and doc["repo"] == f"oci://{target}@{_digest(oci_registry, repo, 'v1.0.0')}"
    _move_by_hand(oci_registry, repo, "v1.0.0", "v1.1.0")          # the tag now names other bytes
    out = tmp_path / "locked" / "clf.safetensors"
    proc = project.wo("pull", "--lock", str(lockfile), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sha256_of(out) == sha1
    # a lock edited by hand is refused as for any lock
    text = lockfile.read_text().replace(sha1, "e" * 64)
    lockfile.write_text(text)
    assert_one_line_error(project.wo("pull", "--lock", str(lockfile), "-o", str(tmp_path / "x"), cwd=tmp_path), 4)

    # a deploy host: git says which version, OCI serves the bytes; the DVC remote is gone
    at(project, T0 + 20, "promote", "v1.0.0", "production", "--push")
    shutil.rmtree(project.remote)
    project.remote.mkdir()
    origin = str(tmp_path / "origin.git")
    live = tmp_path / "host" / "clf.safetensors"
    mark = oci_registry.mark()
    proc = project.wo("sync", "production", "--repo", origin, "--via", "oci", "-o", str(live), "--once", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sha256_of(live) == sha1                       # git's v1.0.0, though the v1.0.0 *tag* was moved
    assert any(m == "GET" and f"/blobs/sha256:{sha1}" in p for m, p, _ in oci_registry.requests(mark))
    log = [json.loads(line) for line in (tmp_path / "host" / "clf.safetensors.deployments.jsonl").read_text().splitlines()]
    assert log[-1]["outcome"] == "deployed" and log[-1]["version"] == "v1.0.0"
    # the same host following the DVC remote cannot: its objects are gone
    other = tmp_path / "host2" / "clf.safetensors"
    proc = project.wo("sync", "production", "--repo", origin, "-o", str(other), "--once", cwd=tmp_path)
    assert proc.returncode != 0 and not other.exists()


def test_oci_pull_setting_makes_oci_the_default_source(project, oci_registry, tmp_path):
    target = configure(project, oci_registry, "acme/default")
    path = project.root / "weightops.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["oci"]["pull"] = True
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    project.git("commit", "-qam", "pull through OCI")
    project.dvc("push", "-q")
    at(project, T0, "release", "v1.0.0")
    sha = yaml.safe_load(project.card.read_text())["artifact"]["sha256"]
    assert project.wo_json("publish", "v1.0.0")["tags"]["v1.0.0"]
    shutil.rmtree(project.remote)                     # the DVC remote is gone: only OCI can serve
    project.remote.mkdir()
    out = tmp_path / "o" / "clf.safetensors"
    proc = project.wo("pull", "v1.0.0", "-o", str(out))
    assert proc.returncode == 0 and "through OCI" in proc.stdout, proc.stderr
    assert sha256_of(out) == sha
    dvc = project.wo("pull", "v1.0.0", "--via", "dvc", "-o", str(tmp_path / "d" / "clf.safetensors"))
    assert dvc.returncode == 3 and target not in dvc.stderr
