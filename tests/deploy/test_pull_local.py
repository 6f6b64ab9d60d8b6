"""Pulls from the local-directory remote (the default), directory artifacts, refused paths."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import yaml

from deploy.s3env import assign_stage, no_leftovers
from helpers import SHARDS, add_dir_artifact, assert_one_line_error


def test_pull_from_the_local_remote_and_verify_against_the_card(project, tmp_path):
    project.release("v1.0.0")
    assign_stage(project, "production", "v1.0.0")
    out = tmp_path / "srv" / "model.safetensors"
    result = project.wo_json("pull", "production", "-o", str(out))
    assert out.read_bytes() == project.weights.read_bytes()
    assert result["stage"] == "production" and result["version"] == "v1.0.0"
    # verify with the card alone: it finds the weights through the card's own path
    assert project.wo_json("verify", str(project.card))["ok"] is True
    assert project.wo_json("verify", str(project.card), str(out))["sha256"] == result["sha256"]


def test_default_destination_is_the_file_name_in_the_current_directory(project, tmp_path):
    project.release("v1.0.0")
    host = tmp_path / "host"
    host.mkdir()
    project.wo("pull", "v1.0.0", "--repo", str(project.root), cwd=host, check=True)
    assert (host / "clf.safetensors").read_bytes() == project.weights.read_bytes()


def test_object_altered_in_the_local_remote_halts(project, tmp_path):
    project.release("v1.0.0")
    url = project.wo_json("resolve", "v1.0.0")["url"]
    data = open(url, "rb").read()
    os.chmod(url, 0o644)
    open(url, "wb").write(data[::-1])  # same size, different bytes
    out = tmp_path / "w"
    proc = project.wo("pull", "v1.0.0", "-o", str(out))
    assert_one_line_error(proc, 4, hashlib.sha256(data).hexdigest(), hashlib.sha256(data[::-1]).hexdigest())
    assert not out.exists() and no_leftovers(tmp_path) == []


def test_directory_artifact_is_pulled_file_by_file_and_appears_whole(project, tmp_path):
    add_dir_artifact(project, SHARDS)
    project.wo("release", "v1.0.0", "--model", "shards", "--push", check=True)
    out = tmp_path / "deploy" / "shards"
    result = project.wo_json("pull", "shards@v1.0.0", "-o", str(out))
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == SHARDS
    assert result["files"] == 3 and result["transferred"] == sum(map(len, SHARDS.values()))
    # modes a plain mkdir/open give under the umask: a model server running as another user reads them
    from weightops.core.atomic import current_umask
    mask = current_umask()
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~mask
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()} == {0o666 & ~mask}
    assert project.wo_json("verify", str(project.root / "models" / "shards.card.yaml"), str(out))["ok"]
    # second pull: already right, nothing transferred
    assert project.wo_json("pull", "shards@v1.0.0", "-o", str(out))["transferred"] == 0

    # one shard altered on the remote (same size): exit 4, and PATH is not touched at all
    url = Path(project.wo_json("resolve", "shards@v1.0.0")["url"])
    remote = url.parents[3]                          # <remote>/files/md5/ab/cdef.dir
    listing = json.loads(url.read_bytes())
    md5 = next(e["md5"] for e in listing if e["relpath"] == "model-00002.bin")
    obj = remote / "files" / "md5" / md5[:2] / md5[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"C" * 7000)
    fresh = tmp_path / "fresh"
    proc = project.wo("pull", "shards@v1.0.0", "-o", str(fresh))
    assert_one_line_error(proc, 4, hashlib.sha256(b"C" * 7000).hexdigest(), hashlib.sha256(b"B" * 7000).hexdigest())
    assert not fresh.exists() and no_leftovers(tmp_path) == []


def test_pointer_path_escaping_the_repository_is_refused(project, tmp_path):
    project.release("v1.0.0")
    dvcyaml = project.root / "dvc.yaml"
    dvcyaml.write_text(dvcyaml.read_text().replace("path: models/clf.safetensors", "path: ../../x"))
    project.git("commit", "-qam", "escaping artifact path")
    project.git("tag", "-a", "v2.0.0", "-m", "hand-made release")
    proc = project.wo("pull", "v2.0.0", "-o", str(tmp_path / "w"))
    assert_one_line_error(proc, 2, "../../x", "escapes")

    # the same through a .dvc pointer whose out path climbs out
    project.git("checkout", "-q", "v1.0.0", "--", "dvc.yaml")
    (project.root / "models" / "clf.safetensors.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 1\n  hash: md5\n  path: ../../../x\n")
    project.git("add", "-A")
    project.git("commit", "-qm", "escaping pointer")
    project.git("tag", "-a", "v3.0.0", "-m", "hand-made release")
    proc = project.wo("pull", "v3.0.0", "-o", str(tmp_path / "w"))
    assert_one_line_error(proc, 2, "escapes")
    assert not (tmp_path / "w").exists() and not (project.root.parent.parent / "x").exists()


def test_directory_listing_escaping_the_destination_is_refused(project, tmp_path):
    add_dir_artifact(project, SHARDS)
    project.wo("release", "v1.0.0", "--model", "shards", "--push", check=True)
    # A listing whose entry climbs out of the destination, stored under its own md5 as DVC would.
    a_md5 = hashlib.md5(SHARDS["model-00001.bin"]).hexdigest()
    evil = json.dumps([{"md5": a_md5, "relpath": "../../evil.bin"}], sort_keys=True).encode()
    evil_md5 = hashlib.md5(evil).hexdigest()
    remote = Path(project.wo_json("resolve", "shards@v1.0.0")["url"]).parents[3]
    obj = remote / "files" / "md5" / evil_md5[:2] / f"{evil_md5[2:]}.dir"
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(evil)
    dvcfile = project.root / "models" / "shards.dvc"
    old_md5 = yaml.safe_load(dvcfile.read_text())["outs"][0]["md5"]
    dvcfile.write_text(dvcfile.read_text().replace(old_md5, f"{evil_md5}.dir"))
    card = project.root / "models" / "shards.card.yaml"
    card.write_text(card.read_text().replace(old_md5, f"{evil_md5}.dir"))
    project.git("commit", "-qam", "evil listing")
    # release itself refuses to vouch for it
    refused = project.wo("release", "v2.0.0", "--model", "shards")
    assert_one_line_error(refused, 5, "../../evil.bin")
    assert project.git("tag", "-l", "shards@v2.0.0") == ""
    project.git("tag", "-a", "shards@v2.0.0", "-m", "hand-made release")
    out = tmp_path / "a" / "b" / "shards"
    proc = project.wo("pull", "shards@v2.0.0", "-o", str(out))
    assert_one_line_error(proc, 5, "../../evil.bin", "escapes the destination")
    assert not out.exists() and not (tmp_path / "evil.bin").exists() and not (tmp_path / "a" / "evil.bin").exists()


def test_directory_upgrade_fetches_only_changed_shards_and_swaps_whole(project, tmp_path):
    from weightops.api import make_card

    add_dir_artifact(project, SHARDS)
    project.wo("release", "v1.0.0", "--model", "shards", "--push", check=True)
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "unrelated.txt").write_text("keep me")
    project.wo("pull", "shards@v1.0.0", "-o", str(deploy), check=True)   # into deploy/shards
    assert (deploy / "shards" / "model-00001.bin").read_bytes() == SHARDS["model-00001.bin"]
    assert (deploy / "unrelated.txt").read_text() == "keep me"

    shards = project.root / "models" / "shards"
    (shards / "model-00002.bin").write_bytes(b"D" * 6000)
    (shards / "sub" / "config.json").unlink()
    project.dvc("add", "-q", "models/shards")
    make_card(shards, project.root / "models" / "shards.card.yaml", model="shards")
    project.git("add", "-A")
    project.git("commit", "-qm", "retrained shard 2")
    project.wo("release", "v1.1.0", "--model", "shards", "--push", check=True)
    result = project.wo_json("pull", "shards@v1.1.0", "-o", str(deploy / "shards"))
    assert result["transferred"] == 6000                 # shard 1 reused from the old copy
    files = {p.relative_to(deploy / "shards").as_posix(): p.read_bytes()
             for p in (deploy / "shards").rglob("*") if p.is_file()}
    assert files == {"model-00001.bin": SHARDS["model-00001.bin"], "model-00002.bin": b"D" * 6000}
    assert sorted(p.name for p in deploy.iterdir()) == ["shards", "unrelated.txt"]


def test_progress_bar_on_a_terminal_only(project, tmp_path):
    import pty
    import subprocess
    import sys

    from helpers import ROOT
    project.release("v1.0.0")

    def stderr_of(*args: str, tty: bool) -> str:
        master, slave = pty.openpty() if tty else os.pipe()[::-1]
        proc = subprocess.Popen([sys.executable, "-m", "weightops", "pull", "v1.0.0", *args], cwd=project.root,
                                stdout=subprocess.DEVNULL, stderr=slave, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:   # the pty closes with EIO once the process is gone
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait() == 0
        os.close(master)
        return b"".join(chunks).decode()

    shown = stderr_of("-o", str(tmp_path / "a"), tty=True)
    assert "/s" in shown and "100%" in shown            # bytes, percentage and rate
    assert stderr_of("-o", str(tmp_path / "b"), "--json", tty=True) == ""
    assert stderr_of("-o", str(tmp_path / "c"), tty=False) == ""
