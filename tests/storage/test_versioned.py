"""Buckets that keep object versions, on S3 (moto): DVC's cloud-versioned remotes
(`version_aware`), where the .dvc/dvc.lock records each object's version id, and recovery of
an overwritten object on a content-addressed remote from an earlier version."""

from __future__ import annotations

import hashlib
import http.client

from helpers import assert_one_line_error


def _enable_versioning(backend) -> None:
    bucket = backend.extra["bucket"]
    host, port = bucket.endpoint.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = b'<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>'
    conn.request("PUT", f"/{bucket.name}?versioning", body=body, headers={"Content-Length": str(len(body))})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    conn.close()


def test_version_aware_remote_releases_and_pulls_exactly_the_recorded_version(project, backend_of, tmp_path):
    backend = backend_of("s3")
    _enable_versioning(backend)
    backend.options["version_aware"] = "true"
    backend.configure(project)
    project.dvc("push", "-q", "-r", "cloud")
    lock = (project.root / "dvc.lock").read_text()
    assert "version_id" in lock                          # DVC recorded the version it pushed
    proc = project.wo("release", "v1.0.0", "--push")     # push changes dvc.lock: commit it first
    assert_one_line_error(proc, 5, "commit")
    project.git("add", "-A")
    project.git("commit", "-qm", "record the pushed version")
    project.release("v1.0.0", push=False)
    data = project.weights.read_bytes()
    # the key is the out's path; overwrite it: the bucket's newest version is now other bytes
    backend.put("models/clf.safetensors", bytes(reversed(data)))
    out = tmp_path / "w.safetensors"
    pulled = project.wo_json("pull", "v1.0.0", "-o", str(out))
    assert out.read_bytes() == data and pulled["url"] == backend.object_url("models/clf.safetensors")
    assert project.wo_json("ci", "check-tag", "v1.0.0")["remote"] == "cloud"


def test_overwritten_object_in_a_versioned_bucket_is_recovered_on_request(project, backend_of, tmp_path):
    backend = backend_of("s3")
    _enable_versioning(backend)
    backend.configure(project)
    backend.publish(project)
    project.release("v1.0.0", push=False)
    data = project.weights.read_bytes()
    md5 = hashlib.md5(data).hexdigest()
    rel = f"files/md5/{md5[:2]}/{md5[2:]}"
    backend.put(rel, bytes(reversed(data)))              # same size, other bytes: a new version
    out = tmp_path / "deploy" / "w.safetensors"
    proc = project.wo("pull", "v1.0.0", "-o", str(out))
    line = assert_one_line_error(proc, 4, "--recover", "holds the released bytes")
    assert not out.exists()
    audit = project.wo("audit", "--json")
    assert audit.returncode == 4
    import json
    report = json.loads(audit.stdout)
    assert [f["kind"] for f in report["findings"]] == ["damaged-object"]
    assert "holds the released bytes" in report["findings"][0]["message"]
    assert report["remotes"] == [{"name": "cloud", "url": backend.url, "versioning": True}]

    pulled = project.wo_json("pull", "v1.0.0", "-o", str(out), "--recover")
    assert out.read_bytes() == data and pulled["recovered_version"] in line


def test_audit_says_when_a_bucket_keeps_no_versions(project, backend_of):
    backend = backend_of("s3")
    backend.configure(project)
    backend.publish(project)
    project.release("v1.0.0", push=False)
    report = project.wo_json("audit")
    assert report["ok"] and report["remotes"] == [{"name": "cloud", "url": backend.url, "versioning": False}]
