"""`weightops status`: a project on one screen, in a new project, an adopted DVC project, a
GTO-only project, and a released one whose tags and objects are not all pushed."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import T0, at, run_cli


def fits_80(proc) -> None:
    assert all(len(line) <= 80 for line in proc.stdout.splitlines()), proc.stdout


def test_new_project_says_nothing_released_yet(project):
    doc = project.wo_json("status")
    assert [(m["name"], m["latest"], m["versions"], m["stages"]) for m in doc["models"]] == [("clf", None, 0, {})]
    assert doc["last_release"] is None and doc["audit"] == {"ok": None, "summary": None}
    assert doc["git_remote"] is None and doc["unpushed_tags"] is None and "no git remote" in doc["remote_problem"]
    shown = project.wo("status", env={"COLUMNS": "80"}, check=True)
    fits_80(shown)
    assert "no release yet" in shown.stdout and "weightops release v1.0.0" in shown.stdout


def test_released_project_shows_stages_audit_and_what_is_unpushed(project, tmp_path):
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "HEAD")
    project.release("v1.0.0", at=T0)            # --push: the weights and the tag
    project.train(epochs=40)
    project.release("v1.1.0", at=T0 + 10)
    at(project, T0 + 20, "promote", "v1.0.0", "production")   # not pushed
    doc = project.wo_json("status")
    (clf,) = doc["models"]
    assert (clf["latest"], clf["versions"], clf["stages"]) == ("v1.1.0", 2, {"production": "v1.0.0"})
    assert doc["last_release"] == {"model": "clf", "version": "v1.1.0", "tag": "v1.1.0", "time": "2026-01-01T00:00:10Z"}
    assert doc["audit"]["ok"] is True and doc["unpushed_objects"] == []
    assert doc["git_remote"] == "origin" and doc["unpushed_tags"] == ["clf#production#1"]
    shown = project.wo("status", env={"COLUMNS": "80"}, check=True)
    fits_80(shown)
    assert "production: v1.0.0" in shown.stdout and "clf v1.1.0 (tag v1.1.0), 2026-01-01 00:00 UTC" in shown.stdout
    assert "1 registry tag(s) not on 'origin': clf#production#1\n         run: git push origin --tags\n" in shown.stdout
    assert "audit    clean" in shown.stdout and shown.stdout.startswith("project  project (this folder)\n")

    # pushed: nothing left; an object gone from the DVC remote: the audit and the dvc line say so
    project.git("push", "-q", "origin", "--tags")
    v1 = project.wo_json("resolve", "v1.1.0")
    obj = next(p for p in project.remote.rglob("*") if p.is_file() and str(p).replace("/", "").endswith(v1["md5"]))
    obj.chmod(0o644)
    obj.unlink()
    doc = project.wo_json("status")
    assert doc["unpushed_tags"] == [] and doc["unpushed_objects"] == ["v1.1.0"] and doc["audit"]["ok"] is False
    shown = project.wo("status", check=True)
    assert "every registry tag is on 'origin'" in shown.stdout and "not in the DVC remote: v1.1.0\n         run: dvc push" in shown.stdout
    assert "audit    PROBLEMS" in shown.stdout
    assert project.wo_json("status", "--no-audit")["audit"] == {"ok": None, "summary": None}


def test_gto_only_project(project):
    """Tags written by GTO itself (`gto register`, `gto assign`) and no weightops.yaml."""
    from gto.api import assign, register

    project.git("rm", "-q", "weightops.yaml")
    project.git("commit", "-qm", "no weightops config")
    register(str(project.root), "clf", "HEAD", version="v1.0.0")
    assign(str(project.root), "clf", "staging", version="v1.0.0")
    doc = project.wo_json("status")
    (clf,) = doc["models"]
    assert (clf["latest"], clf["stages"]) == ("v1.0.0", {"staging": "v1.0.0"})
    assert doc["last_release"]["tag"] == "clf@v1.0.0"
    fits_80(project.wo("status", env={"COLUMNS": "80"}, check=True))


def test_adopted_dvc_project(tmp_path):
    root = tmp_path / "theirs"
    (root / "models").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "models" / "net.bin").write_bytes(b"\x01" * 4096)
    subprocess.run([sys.executable, "-m", "dvc", "add", "-q", "models/net.bin"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "theirs"], cwd=root, check=True)
    run_cli(["init", "--model", "net", "--artifact", "models/net.bin"], cwd=root, check=True)
    doc = json.loads(run_cli(["status", "--json"], cwd=root, check=True).stdout)
    assert [(m["name"], m["latest"]) for m in doc["models"]] == [("net", None)]
    assert doc["last_release"] is None
