"""Hosts that follow the published registry index (`weightops publish` + `--index URL`) with no
git access at all: through promote, rollback and demote on a real S3 endpoint (moto's server),
refusing replayed indexes and entries the host's trust policy does not allow, and keeping their
weights through every fault of the index or the bucket."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy.s3env import KEY_ID, SECRET, free_port, use_s3_remote
from helpers import SHARDS, add_dir_artifact, assert_one_line_error, at, run_cli
from trust.signing import POLICY, Key, allowed_signers

T0 = 1_790_000_000


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _card_sha(project) -> str:
    import yaml

    return yaml.safe_load(project.card.read_text())["artifact"]["sha256"]


class Host:
    """A deploy host: its own folder, no repository, S3 settings from AWS_* variables only."""

    def __init__(self, root: Path, index: str, endpoint: str | None = None, *extra: str) -> None:
        self.root, self.index, self.extra = root, index, list(extra)
        root.mkdir(parents=True, exist_ok=True)
        self.out = root / "model.safetensors"
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                        AWS_DEFAULT_REGION="us-east-1")
        if endpoint:
            self.env["AWS_ENDPOINT_URL"] = endpoint

    def sync(self, stage: str = "production") -> subprocess.CompletedProcess:
        return run_cli(["sync", stage, "--index", self.index, "-o", str(self.out), "--once", *self.extra],
                       cwd=self.root, env=self.env)

    def log(self) -> list[dict]:
        path = self.root / "model.safetensors.deployments.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _published(project, *args: str, at: int) -> dict:
    proc = project.wo("publish", "--json", *args, env={"WEIGHTOPS_NOW": str(at)}, check=True)
    return json.loads(proc.stdout)["published"][0]


@pytest.fixture(scope="module")
def fleet_template(golden, moto_server, tmp_path_factory):
    """Built once per worker: v1.0.0 and v1.1.0 released and `dvc push`ed to an S3 remote on
    moto; the bucket's objects are kept so each test starts from them (`s3_fleet`)."""
    from conftest import building
    from deploy.s3env import make_bucket

    base = tmp_path_factory.mktemp("fleet")
    bucket = make_bucket(moto_server.endpoint)
    with building(golden, base) as project:
        use_s3_remote(project, bucket)
        project.release("v1.0.0", at=T0)
        shas = {"v1.0.0": _card_sha(project)}
        project.train("retrain", lr=0.2, epochs=300, seed=11)
        project.release("v1.1.0", at=T0 + 10)
        shas["v1.1.0"] = _card_sha(project)
    objects = {key: bucket.get(key) for key in bucket.keys()}
    return base, bucket, shas, objects


@pytest.fixture
def s3_fleet(fleet_template, tmp_path):
    """A fresh copy of the template project, its bucket put back as the template left it."""
    from conftest import copy_project

    template, bucket, shas, objects = fleet_template
    for key in set(bucket.keys()) - objects.keys():
        bucket.delete(key)
    for key, data in objects.items():
        bucket.put(key, data)
    project = copy_project(template, tmp_path / "ws")
    project.shas, project.bucket = dict(shas), bucket
    project.index_url = f"s3://{bucket.name}/dvcstore/weightops/index/v1/clf.json"
    return project


def test_a_host_follows_a_stage_from_the_index_alone_through_promote_rollback_demote(s3_fleet, tmp_path):
    p = s3_fleet
    host = Host(tmp_path / "host", p.index_url, p.bucket.endpoint)

    at(p, T0 + 100, "promote", "v1.0.0", "production")
    first = _published(p, at=T0 + 101)
    assert first["stages"] == {"production": "v1.0.0"} and first["url"] == p.index_url
    assert host.sync().returncode == 0
    assert _sha(host.out) == p.shas["v1.0.0"]

    at(p, T0 + 200, "promote", "v1.1.0", "production")
    second = _published(p, at=T0 + 201)
    assert second["sequence"] > first["sequence"]
    assert host.sync().returncode == 0
    assert _sha(host.out) == p.shas["v1.1.0"]

    at(p, T0 + 300, "rollback", "production")
    _published(p, at=T0 + 301)
    proc = host.sync()
    assert proc.returncode == 0, proc.stderr
    assert _sha(host.out) == p.shas["v1.0.0"]

    at(p, T0 + 400, "demote", "production")
    _published(p, at=T0 + 401)
    proc = host.sync()
    assert proc.returncode == 0 and "v1.0.0 live" in proc.stdout   # an empty stage keeps what is live
    assert _sha(host.out) == p.shas["v1.0.0"]
    outcomes = [(r["outcome"], r["version"]) for r in host.log()]
    assert outcomes == [("deployed", "v1.0.0"), ("deployed", "v1.1.0"), ("deployed", "v1.0.0"), ("unassigned", None)]


def test_resolve_and_pull_read_the_index_without_git(s3_fleet, tmp_path):
    p = s3_fleet
    at(p, T0 + 100, "promote", "v1.1.0", "production")
    _published(p, at=T0 + 101)
    host = Host(tmp_path / "host", p.index_url, p.bucket.endpoint)
    git_answer = p.wo_json("resolve", "production")
    proc = run_cli(["resolve", "production", "--index", p.index_url, "--json"], cwd=host.root, env=host.env)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    for key in ("model", "version", "tag", "commit", "path", "md5", "sha256", "size", "url"):
        assert answer[key] == git_answer[key], key
    proc = run_cli(["pull", "production", "--index", p.index_url, "-o", "w.safetensors"], cwd=host.root, env=host.env)
    assert proc.returncode == 0, proc.stderr
    assert _sha(host.root / "w.safetensors") == p.shas["v1.1.0"]


def test_a_replayed_older_index_is_refused_and_the_host_keeps_serving(s3_fleet, tmp_path):
    p = s3_fleet
    key = "dvcstore/weightops/index/v1/clf.json"
    host = Host(tmp_path / "host", p.index_url, p.bucket.endpoint)
    at(p, T0 + 100, "promote", "v1.0.0", "production")
    _published(p, at=T0 + 101)
    old = p.bucket.get(key)
    at(p, T0 + 200, "promote", "v1.1.0", "production")
    _published(p, at=T0 + 201)
    assert host.sync().returncode == 0 and _sha(host.out) == p.shas["v1.1.0"]

    p.bucket.put(key, old)                                  # the old document, as it was
    proc = host.sync()
    assert_one_line_error(proc, 5, "lower than", "replayed")
    assert _sha(host.out) == p.shas["v1.1.0"]

    doc = json.loads(old)
    doc["sequence"] = 10 ** 15                              # ...and with its sequence raised
    p.bucket.put(key, json.dumps(doc).encode())
    proc = host.sync()
    assert_one_line_error(proc, 5, "older than the assignment this host already applied")
    assert _sha(host.out) == p.shas["v1.1.0"]
    assert [r["outcome"] for r in host.log()][-2:] == ["failed", "failed"]


@pytest.mark.parametrize("fault", ["missing", "truncated", "malformed", "oversized", "tampered_bytes", "unreachable"])
def test_index_faults_keep_the_current_weights(s3_fleet, tmp_path, fault):
    p = s3_fleet
    key = "dvcstore/weightops/index/v1/clf.json"
    host = Host(tmp_path / "host", p.index_url, p.bucket.endpoint)
    at(p, T0 + 100, "promote", "v1.0.0", "production")
    _published(p, at=T0 + 101)
    assert host.sync().returncode == 0
    live = host.out.read_bytes()
    at(p, T0 + 200, "promote", "v1.1.0", "production")
    _published(p, at=T0 + 201)
    good = p.bucket.get(key)
    expect = {"missing": (3, "does not exist"), "truncated": (4, "not valid JSON"),
              "malformed": (4, "not a weightops-index/1 document"), "oversized": (4, "over the"),
              "tampered_bytes": (4, "nothing was written"), "unreachable": (1, "unreachable")}[fault]
    if fault == "missing":
        p.bucket.delete(key)
    elif fault == "truncated":
        p.bucket.put(key, good[: len(good) // 2])
    elif fault == "malformed":
        doc = json.loads(good)
        doc["stages"]["production"]["commit"] = "not-a-commit"
        p.bucket.put(key, json.dumps(doc).encode())
    elif fault == "oversized":
        p.bucket.put(key, b" " * (16 * 1024 * 1024 + 1))
    elif fault == "tampered_bytes":
        doc = json.loads(good)
        obj = "dvcstore/" + doc["versions"]["v1.1.0"]["key"]
        data = p.bucket.get(obj)
        p.bucket.put(obj, bytes(b ^ 0xFF for b in data[:64]) + data[64:])   # same size, other bytes
    else:
        host.env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"     # nothing listens there
    proc = host.sync()
    assert_one_line_error(proc, expect[0], expect[1])
    assert host.out.read_bytes() == live
    assert sorted(x.name for x in host.root.iterdir()) == sorted(
        ["model.safetensors", "model.safetensors.deployments.jsonl", "model.safetensors.index-state.json"])
    assert host.log()[-1]["outcome"] == "failed"


# ------------------------------------------------------------------ signatures, from the index alone
@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("fleet-keys")
    found = {}
    for name in ("alice", "mallory"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name)],
                       check=True, capture_output=True)
        found[name] = Key(name, f"{name}@example.com", folder / name)
    return found


def test_require_signed_refuses_an_entry_signed_by_a_signer_the_policy_does_not_allow(project, keys, tmp_path):
    p = project
    p.release("v1.0.0", at=T0)
    first_sha = _card_sha(p)
    p.train("retrain", lr=0.2, epochs=300, seed=11)
    p.release("v1.1.0", at=T0 + 10)
    # The host's own trusted policy: only alice may assign production.
    policy_dir = tmp_path / "policy"
    (policy_dir / ".weightops").mkdir(parents=True)
    (policy_dir / ".weightops" / "allowed_signers").write_text(allowed_signers(keys["alice"], keys["mallory"]))
    (policy_dir / "weightops.yaml").write_text(POLICY.replace("[alice@example.com]", "[alice@example.com]", 1))
    p.wo("promote", "v1.0.0", "production", "--sign", env=keys["alice"].env(T0 + 100), check=True)
    p.wo("publish", env={"WEIGHTOPS_NOW": str(T0 + 101)}, check=True)
    index = str((p.remote / "weightops" / "index" / "v1" / "clf.json").resolve())
    host = Host(tmp_path / "host", index, None, "--require-signed", "--trust-policy", str(policy_dir / "weightops.yaml"))
    assert host.sync().returncode == 0 and _sha(host.out) == first_sha

    # mallory (a known key, but not a release manager) assigns v1.1.0 and publishes: refused.
    p.wo("promote", "v1.1.0", "production", "--sign", env=keys["mallory"].env(T0 + 200), check=True)
    p.wo("publish", env={"WEIGHTOPS_NOW": str(T0 + 201)}, check=True)
    proc = host.sync()
    assert proc.returncode == 0, proc.stderr      # the newest trusted assignment is still v1.0.0
    assert _sha(host.out) == first_sha

    # Someone with bucket access rewrites the entry's sha256: the signed message disagrees.
    doc = json.loads(Path(index).read_text())
    doc["versions"]["v1.0.0"]["sha256"] = "0" * 64
    doc["sequence"] += 1
    Path(index).write_text(json.dumps(doc))
    proc = host.sync()
    assert_one_line_error(proc, 5, "signed assignment says")
    assert _sha(host.out) == first_sha
    # The same index, without --require-signed, is read plainly (the registry says v1.1.0).
    plain = run_cli(["resolve", "production", "--index", index, "--json"], cwd=host.root, env=host.env)
    assert json.loads(plain.stdout)["version"] == "v1.1.0"
    shutil.rmtree(host.root)


def test_publish_true_makes_pushed_stage_changes_publish_the_index(project, tmp_path):
    p = project
    with open(p.root / "weightops.yaml", "a") as f:
        f.write("publish: true\n")
    bare = tmp_path / "origin.git"
    p.git("init", "-q", "--bare", str(bare))
    p.git("remote", "add", "origin", str(bare))
    p.git("commit", "-qam", "publish the index on stage changes")
    p.git("push", "-q", "origin", "HEAD:refs/heads/main")
    p.release("v1.0.0", at=T0)
    index = p.remote / "weightops" / "index" / "v1" / "clf.json"
    assert not index.exists()
    p.wo("promote", "v1.0.0", "production", "--push", env={"WEIGHTOPS_NOW": str(T0 + 100)}, check=True)
    assert json.loads(index.read_text())["stages"]["production"]["version"] == "v1.0.0"
    p.wo("demote", "production", "--push", env={"WEIGHTOPS_NOW": str(T0 + 200)}, check=True)
    assert json.loads(index.read_text())["stages"] == {}
    p.wo("promote", "v1.0.0", "staging", env={"WEIGHTOPS_NOW": str(T0 + 300)}, check=True)   # not pushed
    assert "staging" not in json.loads(index.read_text())["stages"]


def test_a_directory_artifact_is_pulled_from_the_index_whole_and_verified(project, tmp_path):

    p = project
    add_dir_artifact(p, SHARDS)
    p.wo("release", "v1.0.0", "--model", "shards", "--push", env={"WEIGHTOPS_NOW": str(T0)}, check=True)
    p.wo("publish", "--model", "shards", env={"WEIGHTOPS_NOW": str(T0 + 1)}, check=True)
    index = str((p.remote / "weightops" / "index" / "v1" / "shards.json").resolve())
    host = Host(tmp_path / "host", index)
    out = host.root / "shards"
    proc = run_cli(["pull", "shards@v1.0.0", "--index", index, "-o", str(out)], cwd=host.root, env=host.env)
    assert proc.returncode == 0, proc.stderr
    assert {f.relative_to(out).as_posix(): f.read_bytes() for f in out.rglob("*") if f.is_file()} == SHARDS

    # the index's file list edited (a shard swapped for other bytes): refused, the copy untouched
    doc = json.loads(Path(index).read_text())
    doc["versions"]["v1.0.0"]["files"][0]["sha256"] = hashlib.sha256(b"evil").hexdigest()
    Path(index).write_text(json.dumps(doc))
    again = run_cli(["pull", "shards@v1.0.0", "--index", index, "-o", str(tmp_path / "second")], cwd=host.root, env=host.env)
    assert_one_line_error(again, 4, "file list does not hash")
    assert not (tmp_path / "second").exists()


def _production_published(p, tmp_path) -> tuple[str, "Host"]:
    """v1.0.0 released, promoted to production and the index published to the local remote;
    (the index's path, a host that reads it)."""
    p.release("v1.0.0", at=T0)
    at(p, T0 + 100, "promote", "v1.0.0", "production")
    p.wo("publish", env={"WEIGHTOPS_NOW": str(T0 + 101)}, check=True)
    index = str((p.remote / "weightops" / "index" / "v1" / "clf.json").resolve())
    return index, Host(tmp_path / "host", index)


def test_an_unchanged_holder_is_no_change_across_restarts_and_republications(project, tmp_path):
    p = project
    index, host = _production_published(p, tmp_path)
    assert host.sync().returncode == 0
    again = host.sync()                                   # a restarted service, nothing new
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stderr
    at(p, T0 + 200, "promote", "v1.0.0", "staging")
    p.wo("publish", env={"WEIGHTOPS_NOW": str(T0 + 201)}, check=True)   # same production holder
    third = host.sync()
    assert third.returncode == 0, third.stderr
    assert [r["outcome"] for r in host.log()] == ["deployed"]
    # `-o DIR/` for a folder that does not exist yet receives the file under its own name
    proc = run_cli(["pull", "production", "--index", index, "-o", str(tmp_path / "new") + "/"], cwd=host.root, env=host.env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "new" / "clf.safetensors").is_file()
    # ...and so does the git path's pull
    proc = p.wo("pull", "production", "-o", str(tmp_path / "new2") + "/")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "new2" / "clf.safetensors").is_file()


def test_lock_from_the_index_pins_and_pull_lock_halts_when_the_index_changes(project, tmp_path):
    p = project
    index, host = _production_published(p, tmp_path)
    lock = host.root / "model.lock.yaml"
    proc = run_cli(["lock", "production", "--index", index, "-o", str(lock), "--json"], cwd=host.root, env=host.env)
    assert proc.returncode == 0, proc.stderr
    pinned = json.loads(proc.stdout)
    assert pinned["version"] == "v1.0.0" and pinned["repo"] == index
    proc = run_cli(["pull", "--lock", str(lock), "-o", "w.safetensors"], cwd=host.root, env=host.env)
    assert proc.returncode == 0, proc.stderr
    assert _sha(host.root / "w.safetensors") == pinned["sha256"]
    doc = json.loads(Path(index).read_text())
    doc["versions"]["v1.0.0"]["sha256"] = "0" * 64          # the index now says other bytes
    Path(index).write_text(json.dumps(doc))
    proc = run_cli(["pull", "--lock", str(lock), "-o", "x.safetensors"], cwd=host.root, env=host.env)
    assert_one_line_error(proc, 4, "lock")
    assert not (host.root / "x.safetensors").exists()
