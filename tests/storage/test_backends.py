"""One behaviour suite for every remote type: local, S3 (moto), GCS (gcp-storage-emulator),
Azure Blob (Azurite), SSH (OpenSSH) and HTTP (read-only), each a real server on 127.0.0.1.
The same cases, the same verdicts: a backend is only done when all of these pass."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from storage.backends import NETWORK
from helpers import SHARDS, add_dir_artifact, assert_one_line_error


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.name.endswith(".tmp") or p.name.endswith(".old"))


def _object_rel(md5: str) -> str:
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def _release(project, version: str = "v1.0.0", *extra: str) -> None:
    """`release --push` where the remote takes writes; for read-only HTTP the objects were
    published beforehand and release checks they are there."""
    project.release(version, *extra, push=project.backend.writable)


def test_fresh_pull_then_a_second_pull_transfers_nothing(remote_project, tmp_path):
    p = remote_project
    _release(p)
    data = p.weights.read_bytes()
    out = tmp_path / "deploy" / "w.safetensors"
    first = p.wo_json("pull", "v1.0.0", "-o", str(out))
    assert out.read_bytes() == data
    assert first["transferred"] == len(data) and first["sha256"] == hashlib.sha256(data).hexdigest()
    assert first["url"] == p.backend.object_url(_object_rel(hashlib.md5(data).hexdigest()))
    again = p.wo_json("pull", "v1.0.0", "-o", str(out))
    assert again["transferred"] == 0 and out.read_bytes() == data
    assert _leftovers(tmp_path / "deploy") == []


def test_tampered_object_is_exit_4_and_a_missing_one_exit_3_and_nothing_is_written(remote_project, tmp_path):
    p = remote_project
    _release(p)
    data = p.weights.read_bytes()
    rel = _object_rel(hashlib.md5(data).hexdigest())
    other = bytes(reversed(data))
    p.backend.put(rel, other)
    out = tmp_path / "deploy" / "w.safetensors"
    proc = p.wo("pull", "v1.0.0", "-o", str(out))
    assert_one_line_error(proc, 4, hashlib.sha256(data).hexdigest(), hashlib.sha256(other).hexdigest())
    assert not out.exists() and _leftovers(tmp_path) == []

    p.backend.delete(rel)
    proc = p.wo("pull", "v1.0.0", "-o", str(out))
    assert_one_line_error(proc, 3, p.backend.object_url(rel), "'cloud'")
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.fixture(params=NETWORK)
def network_backend(request, backend_of):
    return backend_of(request.param)


def test_server_stopped_mid_transfer_leaves_nothing(project, network_backend, tmp_path, monkeypatch):
    """The server goes away after the first chunk has landed: bounded retries, one error,
    nothing at the destination and no temp file."""
    from reliability.faults import big_weights

    from weightops.deploy.pull import pull_detailed
    from weightops.errors import WeightopsError
    from weightops.storage import dvcfs, s3, store, transfer

    size = 24 * 1024 * 1024 + 7
    big_weights(project, size)
    network_backend.configure(project)
    network_backend.publish(project)
    project.backend = network_backend
    _release(project)
    for module in (store, transfer, dvcfs, s3):   # small reads: the stop lands mid-object
        monkeypatch.setattr(module, "CHUNK", 64 * 1024, raising=False)
    monkeypatch.setattr(dvcfs, "BLOCK", 256 * 1024)
    monkeypatch.setenv("WEIGHTOPS_RETRIES", "2")
    monkeypatch.chdir(project.root)
    stopped = threading.Event()
    seen = []

    def progress(done: int, total: int | None) -> None:
        seen.append(done)
        if not stopped.is_set():
            stopped.set()
            network_backend.proxy.stop()
    out = tmp_path / "deploy" / "w.bin"
    with pytest.raises(WeightopsError) as err:
        pull_detailed("v1.0.0", out, repo=project.root, progress=progress)
    assert stopped.is_set() and seen[-1] < size
    assert err.value.exit_code == 1 and "'cloud'" in str(err.value), str(err.value)
    assert not out.exists() and _leftovers(tmp_path / "deploy") == []


def test_directory_artifact_pulls_whole_and_a_tampered_shard_is_refused(remote_project, tmp_path):
    p = remote_project
    add_dir_artifact(p, SHARDS)
    p.backend.publish(p)
    _release(p, "v1.0.0", "--model", "shards")
    out = tmp_path / "deploy" / "shards"
    result = p.wo_json("pull", "shards@v1.0.0", "-o", str(out))
    assert {f.relative_to(out).as_posix(): f.read_bytes() for f in out.rglob("*") if f.is_file()} == SHARDS
    assert result["files"] == 3 and result["transferred"] == sum(map(len, SHARDS.values()))
    assert p.wo_json("pull", "shards@v1.0.0", "-o", str(out))["transferred"] == 0

    p.backend.put(_object_rel(hashlib.md5(b"B" * 7000).hexdigest()), b"C" * 7000)
    fresh = tmp_path / "deploy" / "fresh"
    proc = p.wo("pull", "shards@v1.0.0", "-o", str(fresh))
    assert_one_line_error(proc, 4, hashlib.sha256(b"C" * 7000).hexdigest())
    assert not fresh.exists() and _leftovers(tmp_path / "deploy") == []


def test_release_push_then_check_tag_and_a_missing_object_refuses(remote_project):
    p = remote_project
    _release(p)
    checked = p.wo_json("ci", "check-tag", "v1.0.0")
    assert checked["remote"] == "cloud" and any("present" in c for c in checked["checked"])
    p.backend.delete(_object_rel(hashlib.md5(p.weights.read_bytes()).hexdigest()))
    proc = p.wo("ci", "check-tag", "v1.0.0")
    assert_one_line_error(proc, 5, "'cloud'", "dvc push")
    audit = json.loads(p.wo("audit", "--json").stdout)
    assert [f["kind"] for f in audit["findings"]] == ["missing-object"]
