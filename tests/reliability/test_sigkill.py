"""SIGKILL in the middle of `pull`, `card`, `release` and `promote`: the next run of the same
command succeeds, and nothing half-written sits where a reader would take it for whole.

Temp files are hidden (`.NAME.XXXX.tmp`) and flock'ed by their writer; a killed writer's
temp file is removed by the next write to the same target (weightops.atomic.sweep_stale)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from deploy.s3env import object_key, use_s3_remote
from helpers import ROOT
from reliability.faults import FaultProxy, always, big_weights, point_remote_at, temp_files


def start(project, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "weightops", *args], cwd=project.root,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_when(proc: subprocess.Popen, condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"finished before the kill point: {proc.stderr.read()!r}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def temp_bytes(folder: Path) -> int:
    return max((os.path.getsize(folder / n) for n in temp_files(folder)), default=-1)


def test_pull_killed_mid_download_then_rerun(big_s3, tmp_path):
    proxy = FaultProxy(big_s3.bucket.endpoint, always("slow"), slow_chunk=16 * 1024, slow_pause=0.02)
    point_remote_at(big_s3, proxy.endpoint)
    dest = tmp_path / "srv"
    dest.mkdir()
    out = dest / "model.safetensors"
    out.write_bytes(b"previous deployment")
    proc = start(big_s3, "pull", "v1.0.0", "-o", str(out))
    # Killed with 1 MiB of the body received (the temp file exists, the rename has not happened).
    kill_when(proc, lambda: temp_bytes(dest) >= 0 and proxy.response_bytes >= 1024 * 1024)
    # What a reader sees: the previous file, whole; the partial bytes only in a hidden temp file.
    assert out.read_bytes() == b"previous deployment"
    stale = temp_files(dest)
    assert len(stale) == 1 and stale[0].startswith(".model.safetensors.")
    point_remote_at(big_s3, big_s3.bucket.endpoint)
    big_s3.wo("pull", "v1.0.0", "-o", str(out), check=True)
    assert out.read_bytes() == big_s3.data
    assert temp_files(dest) == [], "the killed run's temp file is removed by the next run"


def test_pull_killed_as_the_temp_file_appears(big_s3, tmp_path):
    point_remote_at(big_s3, FaultProxy(big_s3.bucket.endpoint, always("slow"), slow_pause=0.05).endpoint)
    proc = start(big_s3, "pull", "v1.0.0", "-o", str(tmp_path))
    kill_when(proc, lambda: bool(temp_files(tmp_path)))
    assert not (tmp_path / "clf.safetensors").exists()
    point_remote_at(big_s3, big_s3.bucket.endpoint)
    big_s3.wo("pull", "v1.0.0", "-o", str(tmp_path), check=True)
    assert (tmp_path / "clf.safetensors").read_bytes() == big_s3.data and temp_files(tmp_path) == []


def read_position(proc: subprocess.Popen, path: Path) -> int:
    """How far `proc` has read into `path`, as the kernel reports it (/proc/PID/fdinfo); -1
    while the file is not open."""
    best = -1
    try:
        for fd in os.listdir(f"/proc/{proc.pid}/fd"):
            try:
                if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == str(path):
                    info = Path(f"/proc/{proc.pid}/fdinfo/{fd}").read_text()
                    best = max(best, int(info.split("pos:", 1)[1].split()[0]))
            except (OSError, IndexError, ValueError):
                continue
    except OSError:
        pass
    return best


def test_card_killed_while_hashing_leaves_the_old_card_then_rerun_writes_the_new(project, tmp_path):
    weights = tmp_path / "big.safetensors"
    size = 48 * 1024 * 1024
    with open(weights, "wb") as f:
        for _ in range(48):
            f.write(os.urandom(1024 * 1024))
    card = tmp_path / "big.card.yaml"
    old = "schema_version: 1\nmodel: previous\n"
    card.write_text(old)
    args = ("card", str(weights), "-o", str(card), "--model", "clf")
    # Killed when the process has read the given share of the weights (the kernel's file offset).
    for share in (0.0, 0.25, 0.5, 0.9):
        proc = start(project, *args)
        kill_when(proc, lambda: read_position(proc, weights) >= int(size * share), timeout=120)
        assert card.read_text() == old, f"killed at {share:.0%} of the hashing: the old card, untouched"
    project.wo(*args, check=True)
    written = yaml.safe_load(card.read_text())
    assert written["artifact"]["size"] == size and written["model"] == "clf"
    assert temp_files(tmp_path) == []


def test_release_killed_during_push_then_rerun(project, bucket):
    use_s3_remote(project, bucket)
    data = big_weights(project, 2 * 1024 * 1024)
    proxy = FaultProxy(bucket.endpoint, always("slow"), slow_chunk=4096, slow_pause=0.02)
    point_remote_at(project, proxy.endpoint)
    proc = start(project, "release", "v1.0.0", "--push")
    # Kill weightops once `dvc push` has talked to the endpoint for a while.
    kill_when(proc, lambda: proxy.request_bytes > 256 * 1024, timeout=60)
    assert project.git("tag", "-l") == "", "no tag for a release that did not finish"
    deadline = time.monotonic() + 5     # the `dvc push` child dies with it (no orphan holding DVC's lock)
    while _dvc_children(project.root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dvc_children(project.root) == []
    proxy.stop()
    point_remote_at(project, bucket.endpoint)
    project.wo("release", "v1.0.0", "--push", check=True)
    assert project.git("tag", "-l") == "v1.0.0"
    import hashlib
    assert bucket.get(object_key("dvcstore", hashlib.md5(data).hexdigest())) == data


def _dvc_children(root: Path) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"dvc" in cmd and b"push" in cmd and os.readlink(f"/proc/{pid}/cwd") == str(root):
                found.append(int(pid))
        except OSError:
            continue
    return found


HOLD_HOOK = """#!/bin/sh
# git's reference-transaction hook: on the 'prepared' step of a tag write, say so and wait for
# the test's go-ahead. The tag is being written at this point; weightops gets killed here.
if [ "$1" = prepared ] && grep -q " refs/tags/"; then
  : > "$WO_TEST_HELD"
  while [ ! -e "$WO_TEST_GO" ]; do sleep 0.01; done
fi
exit 0
"""


def test_promote_killed_before_it_starts_then_rerun(project):
    project.release("v1.0.0", at=1_767_225_600)
    proc = start(project, "promote", "v1.0.0", "production")
    os.kill(proc.pid, signal.SIGKILL)       # before the interpreter has read a line of weightops
    proc.wait(timeout=10)
    assert project.git("tag", "-l", "clf#*") == ""
    project.wo("promote", "v1.0.0", "production", check=True)
    assert project.wo_json("resolve", "production")["version"] == "v1.0.0"


def test_promote_killed_while_git_writes_the_tag_then_rerun(project, tmp_path):
    project.release("v1.0.0", at=1_767_225_600)
    held, go = tmp_path / "held", tmp_path / "go"
    hook = project.root / ".git" / "hooks" / "reference-transaction"
    hook.write_text(HOLD_HOOK)
    hook.chmod(0o755)
    proc = start(project, "promote", "v1.0.0", "production", env={"WO_TEST_HELD": str(held), "WO_TEST_GO": str(go)})
    kill_when(proc, held.exists, timeout=120)     # git reports: the tag is being written
    go.touch()                                   # git, now an orphan, finishes its own transaction
    deadline = time.monotonic() + 30
    while project.git("tag", "-l", "clf#*") == "" or list((project.root / ".git").rglob("*.lock")):
        assert time.monotonic() < deadline, "git never finished the tag"
        time.sleep(0.01)
    hook.unlink()
    # The tag is whole (git wrote it), so the rerun finds the stage already held: nothing to do.
    again = project.wo("promote", "v1.0.0", "production")
    assert again.returncode == 0 and "already holds" in again.stdout and "nothing written" in again.stdout, again.stderr
    assert project.wo_json("resolve", "production")["version"] == "v1.0.0"
    assert project.git("tag", "-l", "clf#*").split() == ["clf#production#1"]
    events = project.wo_json("history", "production")["events"]
    assert [(e["action"], e["version"]) for e in events] == [("assignment", "v1.0.0")]


def test_a_live_writers_temp_file_is_never_swept(tmp_path):
    """The sweep removes a dead writer's temp file only: a live writer holds its flock."""
    from weightops.core.atomic import sweep_stale, temp_beside

    target = tmp_path / "model.safetensors"
    fd, live = temp_beside(target)                       # a writer still at work
    stale = tmp_path / ".model.safetensors.deadbeef.tmp"    # a killed writer's leftover: no lock
    stale.write_bytes(b"partial")
    try:
        assert sweep_stale(target) == [str(stale)]
        assert os.path.exists(live) and not stale.exists()
    finally:
        os.close(fd)
    assert sweep_stale(target) == [live]                 # once its writer is gone, it goes too
