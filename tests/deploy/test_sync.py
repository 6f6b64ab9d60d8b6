"""`weightops sync`: a rollback in the registry reaches a syncing host within two poll intervals;
failures keep the old weights live; the deploy log answers which weights were live when."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import ROOT, assert_one_line_error

from .setups import add_sensor_variant

INTERVAL = 2.0  # a deploy-host poll does ls-remote, a partial fetch and a pull: ~0.3-0.9 s here


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shared_registry(project, tmp_path) -> Path:
    """A bare repository as the shared registry; the DVC remote by absolute path, as a deploy
    host reaches it; v1.0.0 and v1.1.0 released and pushed."""
    project.dvc("remote", "modify", "storage", "url", str(project.remote.resolve()))
    project.git("commit", "-qam", "absolute DVC remote")
    bare = tmp_path / "registry.git"
    project.git("init", "-q", "--bare", str(bare))
    project.git("remote", "add", "origin", str(bare))
    project.git("push", "-q", "origin", "HEAD:refs/heads/main")
    project.release("v1.0.0")
    project.train("retrain", lr=0.2, epochs=300, seed=11)
    project.git("push", "-q", "origin", "HEAD:refs/heads/main")
    project.release("v1.1.0")
    return bare


def _log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def _wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_rollback_reaches_a_syncing_host_within_two_poll_intervals(project, tmp_path):
    bare = _shared_registry(project, tmp_path)
    project.wo("promote", "v1.0.0", "production", "--push", check=True)
    project.wo("promote", "v1.1.0", "production", "--push", check=True)
    v10 = project.wo_json("resolve", "v1.0.0")["sha256"]
    v11 = project.wo_json("resolve", "v1.1.0")["sha256"]

    host = tmp_path / "host"
    out, dlog, hook_log = host / "clf.safetensors", host / "deploy.jsonl", host / "hook.txt"
    hook = f"{sys.executable} -c \"import os; open(r'{hook_log}', 'a').write(os.environ['WEIGHTOPS_VERSION'] + '\\n')\""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # The host has no clone: it reads the registry by URL (a partial cache, no blobs it does not need).
    proc = subprocess.Popen([sys.executable, "-m", "weightops", "sync", "production", "--repo", bare.as_uri(),
                             "-o", str(out), "--log", str(dlog), "--interval", str(INTERVAL), "--on-change", hook],
                            cwd=host.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: any(r["outcome"] == "deployed" for r in _log(dlog)), 60), proc.stderr
        assert _sha(out) == v11
        # `deployments --at` answers to the second: the rollback must land in a later second than
        # the first deployment. The log says when that was; wait for the clock to pass it.
        first_ts = next(r["ts"] for r in _log(dlog) if r["outcome"] == "deployed")
        assert _wait_for(lambda: int(time.time()) > int(first_ts), 5)
        project.wo("rollback", "production", "--push", check=True)
        pushed = time.monotonic()
        reached = _wait_for(lambda: len([r for r in _log(dlog) if r["outcome"] == "deployed"]) == 2, 2 * INTERVAL)
        elapsed = time.monotonic() - pushed
        assert reached, f"rollback not live after {elapsed:.2f}s: {_log(dlog)}"
        print(f"rollback live on the host {elapsed:.2f}s after the push (poll interval {INTERVAL}s)")
        assert _sha(out) == v10
    finally:
        proc.terminate()
        proc.wait(10)
    first, second = [r for r in _log(dlog) if r["outcome"] == "deployed"]
    assert (first["version"], first["previous"], first["sha256"]) == ("v1.1.0", None, v11)
    assert (second["version"], second["previous"], second["sha256"]) == ("v1.0.0", "v1.1.0", v10)
    assert second["stage"] == "production" and second["host"] and second["on_change"] == 0
    assert hook_log.read_text().split() == ["v1.1.0", "v1.0.0"]

    # Which weights were live during "the drop", before the rollback? v1.1.0.
    assert int(first["ts"]) < int(second["ts"])
    at = first["time"]
    live = json.loads(subprocess.run([sys.executable, "-m", "weightops", "deployments", str(dlog), "--at", at, "--json"],
                                     env=env, capture_output=True, text=True, check=True).stdout)
    assert (live["version"], live["sha256"], live["replaced_by"]) == ("v1.1.0", v11, "v1.0.0")
    now = json.loads(subprocess.run([sys.executable, "-m", "weightops", "deployments", str(dlog), "--at",
                                     f"@{int(time.time()) + 5}", "--json"], env=env, capture_output=True, text=True,
                                    check=True).stdout)
    assert now["version"] == "v1.0.0" and now["live_until"] is None
    early = subprocess.run([sys.executable, "-m", "weightops", "deployments", str(dlog), "--at", "2020-01-01"],
                           env=env, capture_output=True, text=True)
    assert_one_line_error(early, 3, "no weights were live at 2020-01-01")


def test_failed_verification_keeps_old_weights_live_and_retries(project, tmp_path):
    bare = _shared_registry(project, tmp_path)
    project.wo("promote", "v1.0.0", "production", "--push", check=True)
    v10 = project.wo_json("resolve", "v1.0.0")["sha256"]
    out, dlog = tmp_path / "host" / "clf.safetensors", tmp_path / "host" / "deploy.jsonl"
    args = ("sync", "production", "--repo", str(bare), "-o", str(out), "--log", str(dlog), "--once")
    assert "v1.0.0 live" in project.wo(*args, check=True).stdout
    assert _sha(out) == v10
    assert "(unchanged)" in project.wo(*args, check=True).stdout  # nothing new: no download, no record

    # The v1.1.0 object in the DVC remote is corrupted (same size, other bytes).
    obj = Path(project.wo_json("resolve", "v1.1.0")["url"])
    good = obj.read_bytes()
    obj.chmod(0o644)
    obj.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    project.wo("promote", "v1.1.0", "production", "--push", check=True)
    assert_one_line_error(project.wo(*args), 4, "sha256", "not the released one")
    assert _sha(out) == v10                                  # the old weights stayed live
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]   # no temp file left behind
    failed = _log(dlog)[-1]
    assert (failed["outcome"], failed["version"], failed["previous"]) == ("failed", "v1.1.0", "v1.0.0")
    assert "not the released one" in failed["error"]

    obj.write_bytes(good)   # repaired: the next poll succeeds
    assert "v1.1.0 live" in project.wo(*args, check=True).stdout
    assert [r["outcome"] for r in _log(dlog)] == ["deployed", "failed", "deployed"]
    rows = json.loads(project.wo("deployments", str(dlog), "--json", check=True).stdout)
    assert [r["version"] for r in rows] == ["v1.0.0", "v1.1.0", "v1.1.0"]


def test_unassigned_stage_keeps_weights_and_bad_input_is_one_line(project, tmp_path):
    bare = _shared_registry(project, tmp_path)
    project.wo("promote", "v1.0.0", "production", "--push", check=True)
    out, dlog = tmp_path / "host" / "clf.safetensors", tmp_path / "host" / "deploy.jsonl"
    args = ("sync", "production", "--repo", str(bare), "-o", str(out), "--log", str(dlog), "--once")
    project.wo(*args, check=True)
    project.wo("demote", "production", "--push", check=True)
    assert "v1.0.0 live" in project.wo(*args, check=True).stdout and out.is_file()
    assert _log(dlog)[-1]["outcome"] == "unassigned"
    assert_one_line_error(project.wo("sync", "Prod!", "--repo", str(bare), "-o", str(out), "--once"), 2, "stage")
    assert_one_line_error(project.wo("sync", "production", "--repo", str(tmp_path / "nowhere"), "-o", str(out), "--once"),
                          3, "cannot list", "nowhere")
    assert_one_line_error(project.wo("deployments", str(tmp_path / "none.jsonl")), 3, "none.jsonl")


def test_sync_follows_the_hosts_hardware_variant(project, tmp_path):
    project.dvc("remote", "modify", "storage", "url", str(project.remote.resolve()))
    project.git("commit", "-qam", "absolute DVC remote")
    add_sensor_variant(project)   # clf (sensor=v1) and clf-v2 (sensor=v2) both in production
    bare = tmp_path / "registry.git"
    project.git("init", "-q", "--bare", str(bare))
    project.git("push", "-q", str(bare), "HEAD:refs/heads/main", "--tags")
    device = tmp_path / "device.yaml"
    device.write_text("sensor: v2\n")
    out = tmp_path / "edge" / "model.safetensors"
    proc = project.wo("sync", "production", "--repo", bare.as_uri(), "-o", str(out), "--match-file", str(device),
                      "--once", check=True)
    assert "v1.0.0 live" in proc.stdout
    v2_sha = project.wo_json("resolve", "production", "--model", "clf-v2")["sha256"]
    assert _sha(out) == v2_sha
    # The same choice by `resolve` and `pull` against the URL, from a folder with no clone.
    edge = tmp_path / "edge2"
    edge.mkdir()
    resolved = json.loads(project.wo("resolve", "production", "--match", "sensor=v2", "--repo", bare.as_uri(),
                                     "--json", cwd=edge, check=True).stdout)
    assert (resolved["model"], resolved["sha256"]) == ("clf-v2", v2_sha)
    pulled = json.loads(project.wo("pull", "production", "--match", "sensor=v2", "--repo", bare.as_uri(),
                                   "-o", str(edge / "w.safetensors"), "--json", cwd=edge, check=True).stdout)
    assert (pulled["model"], pulled["sha256"]) == ("clf-v2", v2_sha) and _sha(edge / "w.safetensors") == v2_sha
    assert _log(out.with_name(out.name + ".deployments.jsonl"))[-1]["model"] == "clf-v2"
    assert_one_line_error(project.wo("sync", "production", "--repo", str(bare), "-o", str(out), "--match",
                                     "accelerator=cpu", "--once"), 3, "ambiguous")
