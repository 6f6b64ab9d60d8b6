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


def test_card_killed_at_any_point_leaves_the_old_card_or_the_new_one(project, tmp_path):
    weights = tmp_path / "big.safetensors"
    with open(weights, "wb") as f:
        for _ in range(48):
            f.write(os.urandom(1024 * 1024))
    card = tmp_path / "big.card.yaml"
    old = "schema_version: 1\nmodel: previous\n"
    card.write_text(old)
    args = ("card", str(weights), "-o", str(card), "--model", "clf")
    started = time.monotonic()
    project.wo(*args, check=True)
    whole = card.read_text()
    runtime = time.monotonic() - started
    card.write_text(old)
    for frac in (0.3, 0.6, 0.8, 0.9, 0.95):
        proc = start(project, *args)
        time.sleep(runtime * frac)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        text = card.read_text()
        assert text in (old, whole) or yaml.safe_load(text)["artifact"]["sha256"] == yaml.safe_load(whole)["artifact"]["sha256"]
    project.wo(*args, check=True)
    assert yaml.safe_load(card.read_text())["artifact"]["size"] == 48 * 1024 * 1024
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


def test_promote_killed_at_any_point_then_rerun(project):
    project.release("v1.0.0", at=1_767_225_600)
    for i, delay in enumerate((0.2, 0.5, 0.8, 1.1)):
        stage = ("staging", "production", "shadow", "staging")[i]
        proc = start(project, "promote", "v1.0.0", stage)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        again = project.wo("promote", "v1.0.0", stage)
        assert again.returncode == 0 or (again.returncode == 5 and "already holds" in again.stderr), again.stderr
        assert project.wo_json("resolve", stage)["version"] == "v1.0.0"
    locks = [p for p in (Path(project.root) / ".git").rglob("*.lock")]
    assert locks == [], f"git lock files left behind: {locks}"
    tags = project.git("tag", "-l", "clf#*").split()
    assert len(tags) == len(set(tags)) and len({t.rsplit("#", 1)[1] for t in tags}) == len(tags)


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
