"""The S3 endpoint failing during `pull` and `release --push`: 500/503 answers, dropped
connections, an endpoint that stops. Real moto server behind a fault-injecting proxy.

What must hold: transient faults are retried within bounds (a few attempts, seconds); then
one clear line and exit 1; never a partial file at the destination or a temp file beside it;
a file already there is kept; never a registry tag for an object the remote does not hold."""

from __future__ import annotations

import hashlib
import random
import time

import pytest

from deploy.s3env import object_key, use_s3_remote
from helpers import assert_one_line_error
from reliability.faults import SIZE, FaultProxy, always, first, point_remote_at, temp_files

# A guard against a hang, not a speed goal: the retries are bounded by count (proxy.actions);
# their backoff adds up to a few seconds.
HANG = 120
FAULTS = ["503", "500", "reset", "cut"]


def _proxied(project, plan, **kw) -> FaultProxy:
    proxy = FaultProxy(project.bucket.endpoint, plan, **kw)
    point_remote_at(project, proxy.endpoint)
    return proxy


def _pull(project, out):
    started = time.monotonic()
    proc = project.wo("pull", "v1.0.0", "-o", str(out))
    return proc, time.monotonic() - started


def test_pull_retries_500_and_503_then_writes_the_verified_file(big_s3, tmp_path):
    proxy = _proxied(big_s3, lambda i: ("503", "500", "reset")[i] if i < 3 else "pass")
    out = tmp_path / "model.safetensors"
    proc, _ = _pull(big_s3, out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == big_s3.data and temp_files(tmp_path) == []
    assert proxy.actions[:4] == ["503", "500", "reset", "pass"]


def test_pull_from_an_endpoint_answering_503_gives_up_within_bounds(big_s3, tmp_path):
    proxy = _proxied(big_s3, always("503"))
    out = tmp_path / "model.safetensors"
    out.write_bytes(b"the previous deployment")
    proc, seconds = _pull(big_s3, out)
    assert_one_line_error(proc, 1, "s3store", "unreachable")
    assert 2 <= len(proxy.actions) <= 6, f"retries are bounded: {len(proxy.actions)} requests"
    assert seconds < HANG
    assert out.read_bytes() == b"the previous deployment" and temp_files(tmp_path) == []


def test_pull_from_a_stopped_endpoint_fails_in_one_line(big_s3, tmp_path):
    proxy = _proxied(big_s3, always("pass"))
    proxy.stop()                                   # connection refused from now on
    out = tmp_path / "model.safetensors"
    proc, seconds = _pull(big_s3, out)
    assert_one_line_error(proc, 1, "s3store", "unreachable")
    assert proxy.actions == [], "the endpoint was really down: no connection reached it"
    assert seconds < HANG and not out.exists() and temp_files(tmp_path) == []


def test_pull_when_the_endpoint_dies_mid_body_leaves_nothing(big_s3, tmp_path):
    # The first GET streams 1 MiB and the connection drops; the endpoint is then gone.
    proxy = _proxied(big_s3, first(1, "cut", then="reset"), cut_after=1024 * 1024)
    out = tmp_path / "model.safetensors"
    proc, seconds = _pull(big_s3, out)
    assert_one_line_error(proc, 1, "unreachable", "nothing was written")
    assert proxy.actions[0] == "cut" and len(proxy.actions) <= 6
    assert proxy.response_bytes >= 1024 * 1024, "the first megabyte really arrived before the cut"
    assert not out.exists() and temp_files(tmp_path) == [] and seconds < HANG


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pull_through_a_few_random_faults_writes_the_verified_file(big_s3, tmp_path, seed):
    # Four faults in a row, then a healthy endpoint: fewer than the 5 attempts a request gets,
    # so the pull must end with the released bytes (a cut mid-body resumes where it stopped).
    rng = random.Random(seed)
    faults = [rng.choice(FAULTS) for _ in range(4)]
    proxy = _proxied(big_s3, lambda i: faults[i] if i < len(faults) else "pass", cut_after=rng.randrange(1024, SIZE))
    out = tmp_path / "model.safetensors"
    out.write_bytes(b"previous")
    proc, seconds = _pull(big_s3, out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == big_s3.data and temp_files(tmp_path) == []
    assert proxy.actions[:4] == faults and seconds < HANG


@pytest.mark.parametrize("seed", [1, 2])
def test_pull_through_random_faults_that_never_end_keeps_the_previous_file(big_s3, tmp_path, seed):
    rng = random.Random(seed)
    # cut_after below any answer's header size: a "cut" never delivers a usable answer
    proxy = _proxied(big_s3, lambda i: rng.choice(FAULTS), cut_after=rng.randrange(1, 100))
    out = tmp_path / "model.safetensors"
    out.write_bytes(b"previous")
    proc, seconds = _pull(big_s3, out)
    assert_one_line_error(proc, 1, "s3store", "unreachable")
    assert out.read_bytes() == b"previous" and temp_files(tmp_path) == []
    assert 2 <= len(proxy.actions) <= 6 and "pass" not in proxy.actions and seconds < HANG


# ---------------------------------------------------------------- release --push
@pytest.fixture
def unpushed(project, bucket):
    """An S3 remote on moto that does not hold the weights yet: `release --push` must push."""
    use_s3_remote(project, bucket)
    project.bucket = bucket
    project.key = object_key("dvcstore", hashlib.md5(project.weights.read_bytes()).hexdigest())
    return project


def _remote_holds(bucket, key) -> bool:
    try:
        bucket.get(key)
        return True
    except AssertionError:
        return False


def test_release_push_to_an_endpoint_answering_503_writes_no_tag(unpushed):
    _proxied(unpushed, always("503"))
    started = time.monotonic()
    proc = unpushed.wo("release", "v1.0.0", "--push")
    assert time.monotonic() - started < HANG
    assert_one_line_error(proc, 1, "dvc push failed")
    assert unpushed.git("tag", "-l") == "" and not _remote_holds(unpushed.bucket, unpushed.key)


@pytest.mark.parametrize("seed", [4, 5])
def test_release_push_through_a_few_random_faults_tags_once_the_object_is_there(unpushed, seed):
    rng = random.Random(seed)
    faults = [rng.choice(FAULTS) for _ in range(2)]
    proxy = _proxied(unpushed, lambda i: faults[i] if i < len(faults) else "pass", cut_after=rng.randrange(1, 4096))
    proc = unpushed.wo("release", "v1.0.0", "--push")
    assert proc.returncode == 0, proc.stderr
    assert proxy.actions[:2] == faults
    assert unpushed.git("tag", "-l") == "v1.0.0" and _remote_holds(unpushed.bucket, unpushed.key)


@pytest.mark.parametrize("seed", [4, 5])
def test_release_push_through_faults_that_never_end_writes_no_tag(unpushed, seed):
    rng = random.Random(seed)
    proxy = _proxied(unpushed, lambda i: rng.choice(FAULTS), cut_after=rng.randrange(1, 100))
    started = time.monotonic()
    proc = unpushed.wo("release", "v1.0.0", "--push")
    assert time.monotonic() - started < HANG
    assert_one_line_error(proc, 1, "dvc push failed")
    assert "pass" not in proxy.actions and len(proxy.actions) >= 2
    assert unpushed.git("tag", "-l") == "" and not _remote_holds(unpushed.bucket, unpushed.key)
    # The next run, on a healthy endpoint, pushes and tags.
    point_remote_at(unpushed, unpushed.bucket.endpoint)
    unpushed.wo("release", "v1.0.0", "--push", check=True)
    assert _remote_holds(unpushed.bucket, unpushed.key) and unpushed.git("tag", "-l") == "v1.0.0"
