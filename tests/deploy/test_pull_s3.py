"""`weightops pull` against a real S3 HTTP endpoint (moto's server): verified, atomic, resumable."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import yaml

from deploy.s3env import (KEY_ID, SECRET, CuttingProxy, assign_stage, make_bucket, no_leftovers, start_moto,
                          upload_weights, use_s3_remote)
from helpers import ROOT, assert_one_line_error


def card_sha(project) -> str:
    return yaml.safe_load(project.card.read_text())["artifact"]["sha256"]


def test_pull_from_s3_verifies_and_writes_the_released_bytes(s3_project, tmp_path):
    out = tmp_path / "deploy" / "model.safetensors"
    result = s3_project.wo_json("pull", "v1.0.0", "-o", str(out))
    data = s3_project.weights.read_bytes()
    assert out.read_bytes() == data
    assert result["sha256"] == card_sha(s3_project) == hashlib.sha256(data).hexdigest()
    assert result["md5"] == hashlib.md5(data).hexdigest()
    assert result["transferred"] == len(data) and result["dest"] == str(out)
    assert result["url"] == f"s3://{s3_project.bucket.name}/{s3_project.s3_key}"
    assert no_leftovers(out.parent) == []


def test_pull_a_stage_after_real_dvc_push_to_s3(project, bucket, tmp_path):
    use_s3_remote(project, bucket)
    project.release("v1.0.0")                       # --push: real `dvc push` to the S3 endpoint
    assign_stage(project, "production", "v1.0.0")
    proc = project.wo("pull", "production", "-o", str(tmp_path), check=True)
    assert (tmp_path / "clf.safetensors").read_bytes() == project.weights.read_bytes()
    assert "verified" in proc.stdout and proc.stderr == ""   # not a terminal: no progress bar


def test_second_pull_of_a_correct_file_transfers_nothing(s3_project, tmp_path):
    out = tmp_path / "clf.safetensors"
    first = s3_project.wo_json("pull", "v1.0.0", "-o", str(out))
    assert first["transferred"] > 0
    s3_project.bucket.delete(s3_project.s3_key)      # were it fetched again, it would fail
    second = s3_project.wo_json("pull", "v1.0.0", "-o", str(out))
    assert second["transferred"] == 0 and out.read_bytes() == s3_project.weights.read_bytes()


def test_object_altered_on_remote_same_size_halts_and_leaves_nothing(s3_project, tmp_path):
    good = s3_project.weights.read_bytes()
    bad = bytes([good[0] ^ 0xFF]) + good[1:]
    s3_project.bucket.put(s3_project.s3_key, bad)    # overwritten after release: same size
    out = tmp_path / "clf.safetensors"
    proc = s3_project.wo("pull", "v1.0.0", "-o", str(out))
    assert_one_line_error(proc, 4, card_sha(s3_project), hashlib.sha256(bad).hexdigest(), "nothing was written")
    assert not out.exists() and no_leftovers(tmp_path) == []


def test_truncated_object_halts_with_sizes_named(s3_project, tmp_path):
    good = s3_project.weights.read_bytes()
    s3_project.bucket.put(s3_project.s3_key, good[:-100])
    out = tmp_path / "clf.safetensors"
    proc = s3_project.wo("pull", "v1.0.0", "-o", str(out))
    assert_one_line_error(proc, 4, "size", str(len(good)), str(len(good) - 100))
    assert not out.exists() and no_leftovers(tmp_path) == []


def test_a_failed_pull_keeps_the_previous_file_intact(s3_project, tmp_path):
    out = tmp_path / "clf.safetensors"
    out.write_bytes(b"previous deployment")
    good = s3_project.weights.read_bytes()
    s3_project.bucket.put(s3_project.s3_key, good[::-1])
    assert s3_project.wo("pull", "v1.0.0", "-o", str(out)).returncode == 4
    assert out.read_bytes() == b"previous deployment" and no_leftovers(tmp_path) == []


def test_expect_sha256_wrong_halts_before_downloading(s3_project, tmp_path):
    out = tmp_path / "clf.safetensors"
    wrong = "0" * 64
    proc = s3_project.wo("pull", "v1.0.0", "-o", str(out), "--expect-sha256", wrong)
    assert_one_line_error(proc, 4, wrong, card_sha(s3_project))
    assert not out.exists()
    assert_one_line_error(s3_project.wo("pull", "v1.0.0", "-o", str(out), "--expect-sha256", "abc"), 2, "64 hex")
    ok = s3_project.wo_json("pull", "v1.0.0", "-o", str(out), "--expect-sha256", card_sha(s3_project).upper())
    assert ok["sha256"] == card_sha(s3_project) and out.is_file()


def test_missing_object_is_exit_3_naming_the_url(s3_project, tmp_path):
    s3_project.bucket.delete(s3_project.s3_key)
    out = tmp_path / "dl"
    out.mkdir()
    proc = s3_project.wo("pull", "v1.0.0", "-o", str(out / "w"))
    assert_one_line_error(proc, 3, f"s3://{s3_project.bucket.name}/{s3_project.s3_key}")
    assert list(out.iterdir()) == []


def test_credentials_from_the_environment_and_never_written(project, bucket, tmp_path):
    use_s3_remote(project, bucket, creds="env")
    upload_weights(project, bucket)
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    project.wo("release", "v1.0.0", check=True, env=env)
    lock = tmp_path / "model.lock.yaml"
    project.wo("lock", "v1.0.0", "-o", str(lock), check=True, env=env)
    project.wo("pull", "--lock", str(lock), "-o", str(tmp_path), check=True, env=env)
    assert (tmp_path / "clf.safetensors").read_bytes() == project.weights.read_bytes()
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes()
    # without any credential: one line naming the remote, exit 1
    proc = project.wo("pull", "v1.0.0", "-o", str(tmp_path / "x"))
    assert_one_line_error(proc, 1, "s3store", "credentials")


def run_python(code: str, cwd, *args: str) -> dict:
    """Application code in its own process (as a service would call the API); prints JSON.
    Also keeps boto3 out of the pytest process, whose RSS other tests' children inherit."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


API_CALLER = """
import json, sys, weightops
try:
    path = weightops.pull("production", sys.argv[1])
    print(json.dumps({"path": str(path), "type": type(path).__name__}))
except weightops.IntegrityError as e:
    print(json.dumps({"error": type(e).__name__, "expected": e.expected, "actual": e.actual, "ref": e.ref,
                      "exit_code": e.exit_code, "is_weightops_error": isinstance(e, weightops.WeightopsError)}))
"""


def test_python_api_returns_the_verified_path_and_raises_typed_errors(s3_project, tmp_path):
    assign_stage(s3_project, "production", "v1.0.0")
    dest = tmp_path / "w.safetensors"
    done = run_python(API_CALLER, s3_project.root, str(dest))
    assert done == {"path": str(dest), "type": "PosixPath"}
    assert dest.read_bytes() == s3_project.weights.read_bytes()
    size = len(s3_project.weights.read_bytes())
    s3_project.bucket.put(s3_project.s3_key, b"\0" * size)
    err = run_python(API_CALLER, s3_project.root, str(tmp_path / "other.safetensors"))
    assert err == {"error": "IntegrityError", "expected": card_sha(s3_project),
                   "actual": hashlib.sha256(b"\0" * size).hexdigest(), "ref": "v1.0.0", "exit_code": 4,
                   "is_weightops_error": True}
    assert not (tmp_path / "other.safetensors").exists()


RANGED = """
import json, sys
from weightops.deploy import pull as deploy
from weightops.storage import transfer
transfer.PART, transfer.CHUNK = 32, 10      # many parts even for the tiny test model
seen = []
try:
    done = deploy.pull_detailed("v1.0.0", sys.argv[1], jobs=4, progress=lambda n, total: seen.append(n))
    print(json.dumps({"transferred": done.transferred, "seen": seen}))
except deploy.IntegrityError as e:
    print(json.dumps({"error": str(e)}))
"""


def test_parallel_ranged_gets_verify_in_one_pass(s3_project, tmp_path):
    data = s3_project.weights.read_bytes()
    assert len(data) > 4 * 32                        # several parts
    done = run_python(RANGED, s3_project.root, str(tmp_path / "w"))
    assert (tmp_path / "w").read_bytes() == data and done["transferred"] == len(data)
    assert done["seen"] == sorted(done["seen"]) and done["seen"][-1] == len(data) and len(done["seen"]) > 4
    mid = len(data) // 2
    bad = data[:mid] + bytes([data[mid] ^ 1]) + data[mid + 1:]
    s3_project.bucket.put(s3_project.s3_key, bad)
    failed = run_python(RANGED, s3_project.root, str(tmp_path / "v"))
    assert hashlib.sha256(bad).hexdigest() in failed["error"]
    assert not (tmp_path / "v").exists() and no_leftovers(tmp_path) == []


def _big_release(project, bucket, size: int) -> str:
    """Replace the weights by `size` bytes and release them: pointer (dvc.lock), card, object.
    Streams (never holds the bytes) so this pytest process stays small. Returns the sha256."""
    from weightops.api import make_card
    from weightops.storage.hashing import hash_file

    block = hashlib.sha256(b"seed").digest() * (1024 * 1024 // 32)
    with open(project.weights, "wb") as f:
        for start in range(0, size, len(block)):
            f.write(block[:min(len(block), size - start)])
    d = hash_file(project.weights)
    lock = yaml.safe_load((project.root / "dvc.lock").read_text())
    for out in lock["stages"]["train"]["outs"]:
        if out["path"].endswith("clf.safetensors"):
            out.update(md5=d.md5, size=size)
    (project.root / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    make_card(project.weights, project.card, model="clf")
    project.git("add", "-A")
    project.git("commit", "-qm", "big weights")
    bucket.put_file(f"dvcstore/files/md5/{d.md5[:2]}/{d.md5[2:]}", project.weights)
    project.release("v2.0.0", push=False)
    return d.sha256


def test_endpoint_stopped_mid_download_gives_a_clear_error_and_no_file(project, tmp_path):
    server = start_moto()
    try:
        bucket = make_bucket(server.endpoint)
        use_s3_remote(project, bucket)
        _big_release(project, bucket, 160 * 1024 * 1024)
        out = tmp_path / "dl"
        out.mkdir()
        proc = subprocess.Popen([sys.executable, "-m", "weightops", "pull", "v2.0.0", "-o", str(out / "w")],
                                cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:   # stop the endpoint once 8 MiB have landed
            temps = [p for p in out.iterdir() if p.name.endswith(".tmp")]
            if temps and temps[0].stat().st_size > 8 * 1024 * 1024:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.002)
        else:
            raise AssertionError("8 MiB never landed in the temp file within 60 s")
        server.stop()
        stdout, stderr = proc.communicate(timeout=120)
        completed = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        assert_one_line_error(completed, 1, "s3store", "unreachable", "nothing was written")
        assert list(out.iterdir()) == []
    finally:
        server.stop()


def test_lock_then_pull_lock_and_verify(s3_project, tmp_path):
    lock = tmp_path / "deploy" / "model.lock.yaml"
    s3_project.wo("lock", "v1.0.0", "-o", str(lock), check=True)
    doc = yaml.safe_load(lock.read_text())
    for key in ("model", "version", "stage", "commit", "sha256", "md5", "size", "url", "resolved_at"):
        assert key in doc
    assert doc["sha256"] == card_sha(s3_project) and doc["version"] == "v1.0.0"
    out = tmp_path / "clf.safetensors"
    pulled = s3_project.wo_json("pull", "--lock", str(lock), "-o", str(out))
    assert pulled["sha256"] == doc["sha256"] and out.is_file()
    assert s3_project.wo_json("verify", str(lock), str(out))["ok"] is True
    assert s3_project.wo_json("verify", str(s3_project.card), str(out))["against"] == "card"
    out.write_bytes(out.read_bytes()[:-1] + b"\0")
    assert_one_line_error(s3_project.wo("verify", str(lock), str(out)), 4, doc["sha256"])


def test_lock_edited_by_hand_is_caught(s3_project, tmp_path):
    lock = tmp_path / "model.lock.yaml"
    s3_project.wo("lock", "v1.0.0", "-o", str(lock), check=True)
    tags_before = s3_project.git("for-each-ref", "refs/tags", "--format=%(refname) %(objectname)")
    text = lock.read_text()
    doc = yaml.safe_load(text)
    forged = "f" * 64
    lock.write_text(text.replace(doc["sha256"], forged))
    proc = s3_project.wo("pull", "--lock", str(lock), "-o", str(tmp_path / "w"))
    assert_one_line_error(proc, 4, "edited by hand")
    assert_one_line_error(s3_project.wo("verify", str(lock), str(s3_project.weights)), 4, "edited by hand")
    # even with the checksum recomputed, the registry disagrees with the forged hash
    from weightops.deploy.lockfile import _checksum
    doc["sha256"] = forged
    doc["checksum"] = _checksum(doc)
    lock.write_text(yaml.safe_dump(doc))
    proc = s3_project.wo("pull", "--lock", str(lock), "-o", str(tmp_path / "w"))
    assert_one_line_error(proc, 4, forged, card_sha(s3_project), "registry")
    assert not (tmp_path / "w").exists()
    # the registry is untouched: the same tags on the same objects, still resolving to the card's hash
    assert s3_project.git("for-each-ref", "refs/tags", "--format=%(refname) %(objectname)") == tags_before
    assert s3_project.wo_json("resolve", "v1.0.0")["sha256"] == card_sha(s3_project)


def test_dropped_connection_resumes_where_it_stopped(project, bucket, tmp_path):
    proxy = CuttingProxy(bucket.endpoint, cut_after=3 * 1024 * 1024)
    try:
        # the remote's endpoint is the proxy; the object is uploaded straight to moto
        use_s3_remote(project, bucket)
        cfg = project.root / ".dvc" / "config"
        cfg.write_text(cfg.read_text().replace(bucket.endpoint, proxy.endpoint))
        project.git("commit", "-qam", "through a flaky network")
        sha = _big_release(project, bucket, 8 * 1024 * 1024)
        out = tmp_path / "w"
        result = project.wo_json("pull", "v2.0.0", "-o", str(out))
        assert hashlib.sha256(out.read_bytes()).hexdigest() == sha and result["transferred"] == 8 * 1024 * 1024
        assert proxy.cuts == 1
        resumed = [r for r in proxy.requests if b"range: bytes=" in bytes(r).lower()]
        assert len(resumed) == 1 and b"if-match:" in bytes(resumed[0]).lower()
        start = int(bytes(resumed[0]).lower().split(b"range: bytes=")[1].split(b"-")[0])
        assert 0 < start <= 3 * 1024 * 1024                  # resumed, not restarted
    finally:
        proxy.close()


def test_credentials_from_a_profile_named_in_the_dvc_config(s3_project, tmp_path):
    (s3_project.root / ".dvc" / "config.local").unlink()          # no keys in the DVC config
    creds = tmp_path / "aws-credentials"
    creds.write_text(f"[deploy]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    (s3_project.root / ".dvc" / "config.local").write_text(
        f"['remote \"s3store\"']\n    profile = deploy\n    credentialpath = {creds}\n")
    out = tmp_path / "w"
    assert s3_project.wo_json("pull", "v1.0.0", "-o", str(out))["sha256"] == card_sha(s3_project)
    (s3_project.root / ".dvc" / "config.local").write_text(
        f"['remote \"s3store\"']\n    profile = nosuch\n    credentialpath = {creds}\n")
    assert_one_line_error(s3_project.wo("pull", "v1.0.0", "-o", str(tmp_path / "x")), 1, "s3store", "nosuch")


def test_5xx_answers_are_retried_with_backoff(s3_project, tmp_path):
    proxy = CuttingProxy(s3_project.bucket.endpoint, cut_after=1 << 40, fail_first=2)
    try:
        # .dvc/config.local overrides the committed remote settings, as it does for DVC
        local = s3_project.root / ".dvc" / "config.local"
        local.write_text(local.read_text() + f"    endpointurl = {proxy.endpoint}\n")
        out = tmp_path / "w"
        assert s3_project.wo_json("pull", "v1.0.0", "-o", str(out))["sha256"] == card_sha(s3_project)
        assert [bytes(r) for r in proxy.requests[:2]] == [b"503", b"503"] and len(proxy.requests) >= 3
    finally:
        proxy.close()
