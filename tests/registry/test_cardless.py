"""Releases made before weightops: a DVC project whose versions were registered and assigned by
GTO itself (`gto register`, `gto assign`), with weights tracked by `dvc add` and pushed by `dvc
push`, and no model card anywhere. Such versions resolve, pull, lock, sync, list and pass CI
from their DVC pointer (checked by DVC's MD5 and size, `.dir` listings included), audit and the
report show them as notices, and `weightops card --attach` gives them cards without moving a tag.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import T0, assert_one_line_error, run_cli

_GTO_AT = "import sys, time; t = float(sys.argv.pop(1)); time.time = lambda: t; from gto.cli import app; app()"
V1 = b"\x80\x04pre-adoption sklearn pickle v1" * 64
V2 = b"\x80\x04pre-adoption sklearn pickle v2" * 80
SHARDS = {"model-00001.bin": b"A" * 3000, "sub/config.json": b'{"n": 1}'}
NOTES = "refs/notes/weightops-cards"


class Repo:
    """A pre-adoption project: git + DVC + GTO only (what a team has before weightops)."""

    def __init__(self, root: Path, remote: Path, origin: Path) -> None:
        self.root, self.remote, self.origin = root, remote, origin

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True, text=True).stdout.strip()

    def dvc(self, *args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=self.root, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def gto(self, *args: str, at: int) -> None:
        env = dict(os.environ, GTO_NO_ANALYTICS="1", GIT_COMMITTER_DATE=f"@{at} +0000")
        proc = subprocess.run([sys.executable, "-c", _GTO_AT, str(at), *args], cwd=self.root, capture_output=True,
                              text=True, env=env)
        assert proc.returncode == 0, proc.stderr

    def wo(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return run_cli(list(args), cwd=cwd or self.root)

    def wo_json(self, *args: str, cwd: Path | None = None) -> dict:
        proc = self.wo(*args, "--json", cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def object(self, md5: str) -> Path:
        return self.remote / "files" / "md5" / md5[:2] / md5[2:]


def _build(base: Path, env: dict) -> None:
    """Two GTO releases of `clf` (a pickle, `dvc add`) and one of `shards` (a folder), GTO's own
    stage names `dev` and `prod`, pushed to a DVC remote and a bare git remote."""
    root, remote, origin = base / "project", base / "remote", base / "origin.git"
    root.mkdir()
    remote.mkdir()

    def run(*args, **kw):
        proc = subprocess.run(list(args), cwd=root, env=env, capture_output=True, text=True, **kw)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    dvc = [sys.executable, "-m", "dvc"]
    run("git", "init", "-q", "-b", "main")
    run(*dvc, "init", "-q")
    run(*dvc, "remote", "add", "-d", "storage", str(remote))
    (root / "models").mkdir()
    (root / "models" / "model.pkl").write_bytes(V1)
    for rel, data in SHARDS.items():
        (root / "models" / "shards" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "models" / "shards" / rel).write_bytes(data)
    run(*dvc, "add", "-q", "models/model.pkl", "models/shards")
    (root / "dvc.yaml").write_text("artifacts:\n  clf:\n    path: models/model.pkl\n    type: model\n"
                                   "  shards:\n    path: models/shards\n    type: model\n")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "first model")
    repo = Repo(root, remote, origin)
    repo.gto("register", "clf", "HEAD", "--version", "v1.0.0", at=T0)
    repo.gto("register", "shards", "HEAD", "--version", "v1.0.0", at=T0 + 1)
    (root / "models" / "model.pkl").write_bytes(V2)
    run(*dvc, "add", "-q", "models/model.pkl")
    run("git", "commit", "-qam", "retrain")
    repo.gto("register", "clf", "HEAD", "--version", "v1.1.0", at=T0 + 10)
    repo.gto("assign", "clf", "--version", "v1.0.0", "--stage", "prod", at=T0 + 20)
    repo.gto("assign", "clf", "--version", "v1.1.0", "--stage", "dev", at=T0 + 21)
    repo.gto("assign", "shards", "--version", "v1.0.0", "--stage", "prod", at=T0 + 22)
    run(*dvc, "push", "-q", "--all-commits")
    run("git", "init", "-q", "--bare", str(origin))
    run("git", "remote", "add", "origin", str(origin))
    run("git", "push", "-q", "origin", "main", "--tags")


@pytest.fixture(scope="session")
def pre_adoption_golden(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("pre-adoption")
    from conftest import BASE_ENV

    env = dict(os.environ, HOME=str(base), DVC_SITE_CACHE_DIR=str(base / ".site"), **BASE_ENV)
    _build(base, env)
    return base


@pytest.fixture
def repo(pre_adoption_golden, tmp_path) -> Repo:
    """A fresh copy of the pre-adoption project, its DVC remote and git remote. The released
    commits name the golden's DVC remote (an absolute path, as a deploy host needs it); the
    copy's `.dvc/config.local` points this clone at its own copy, as DVC reads it. (A deploy
    host reading the git remote by URL reads the golden's remote, which no test changes.)"""
    base = tmp_path / "ws"
    shutil.copytree(pre_adoption_golden, base, symlinks=True, ignore=shutil.ignore_patterns(".site"))
    r = Repo(base / "project", base / "remote", base / "origin.git")
    r.dvc("remote", "modify", "--local", "storage", "url", str(r.remote))
    r.git("remote", "set-url", "origin", str(r.origin))
    return r


def _pointer_md5(repo: Repo, dvcfile: str, commit: str = "HEAD") -> str:
    return yaml.safe_load(repo.git("show", f"{commit}:{dvcfile}"))["outs"][0]["md5"]


def _no_card_lines(proc) -> list[str]:
    return [l for l in proc.stderr.splitlines() if "has no model card" in l]


def test_a_gto_release_without_a_card_resolves_from_its_dvc_pointer(repo):
    v1_md5 = _pointer_md5(repo, "models/model.pkl.dvc", "clf@v1.0.0")
    proc = repo.wo("resolve", "prod", "-m", "clf", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["version"], out["tag"], out["stage"]) == ("v1.0.0", "clf@v1.0.0", "prod")
    assert out["md5"] == v1_md5 == hashlib.md5(V1).hexdigest() and out["size"] == len(V1)
    assert out["sha256"] is None and out["card"] is None and out["verified_by"] == "dvc-md5"
    assert out["url"] == str(repo.object(v1_md5))
    # Said once, on stderr, with what to do about it.
    assert len(_no_card_lines(proc)) == 1 and "weightops card --attach clf@v1.0.0" in proc.stderr
    # The assignment tag GTO wrote and the directory model answer the same way.
    assert repo.wo_json("resolve", "clf#prod#1")["version"] == "v1.0.0"
    shards = repo.wo_json("resolve", "prod", "-m", "shards")
    assert shards["md5"].endswith(".dir") and shards["verified_by"] == "dvc-md5"


def test_pull_lock_and_verify_check_dvc_md5_for_a_file_and_a_folder(repo, tmp_path):
    proc = repo.wo("pull", "prod", "-m", "clf", "-o", str(tmp_path / "clf.pkl"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "clf.pkl").read_bytes() == V1 and len(_no_card_lines(proc)) == 1
    assert repo.wo("pull", "prod", "-m", "shards", "-o", str(tmp_path / "shards")).returncode == 0
    assert {p.relative_to(tmp_path / "shards").as_posix(): p.read_bytes()
            for p in (tmp_path / "shards").rglob("*") if p.is_file()} == SHARDS
    lock = tmp_path / "model.lock.yaml"
    assert repo.wo("lock", "prod", "-m", "clf", "-o", str(lock)).returncode == 0
    doc = yaml.safe_load(lock.read_text())
    assert doc["sha256"] is None and doc["md5"] == hashlib.md5(V1).hexdigest() and doc["version"] == "v1.0.0"
    proc = repo.wo("pull", "--lock", str(lock), "-o", str(tmp_path / "locked.pkl"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "locked.pkl").read_bytes() == V1
    assert repo.wo("verify", str(lock), str(tmp_path / "locked.pkl")).returncode == 0
    (tmp_path / "locked.pkl").write_bytes(V2)
    assert_one_line_error(repo.wo("verify", str(lock), str(tmp_path / "locked.pkl")), 4, "md5")
    # A caller's own SHA-256 pin is checked too, with DVC's md5.
    pinned = repo.wo("pull", "prod", "-m", "clf", "-o", str(tmp_path / "pinned.pkl"),
                     "--expect-sha256", hashlib.sha256(V1).hexdigest())
    assert pinned.returncode == 0 and (tmp_path / "pinned.pkl").read_bytes() == V1, pinned.stderr
    wrong = repo.wo("pull", "prod", "-m", "clf", "-o", str(tmp_path / "wrong.pkl"), "--expect-sha256", "0" * 64)
    assert wrong.returncode == 4 and not (tmp_path / "wrong.pkl").exists()


def test_a_tampered_object_is_refused_and_nothing_is_written(repo, tmp_path):
    obj = repo.object(hashlib.md5(V1).hexdigest())
    os.chmod(obj, 0o644)
    obj.write_bytes(b"X" * len(V1))   # same size, other bytes: only the MD5 tells
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    dest = deploy / "out.pkl"
    proc = repo.wo("pull", "prod", "-m", "clf", "-o", str(dest))
    assert proc.returncode == 4 and "md5" in proc.stderr and "nothing was written" in proc.stderr, proc.stderr
    assert list(deploy.iterdir()) == []
    listing = json.loads(repo.object(_pointer_md5(repo, "models/shards.dvc")).read_bytes())
    shard = repo.object(next(e["md5"] for e in listing if e["relpath"] == "model-00001.bin"))
    os.chmod(shard, 0o644)
    shard.write_bytes(b"Z" * 3000)
    proc = repo.wo("pull", "prod", "-m", "shards", "-o", str(deploy / "shards"))
    assert proc.returncode == 4 and "nothing was written" in proc.stderr, proc.stderr
    assert list(deploy.iterdir()) == []


def test_list_ci_audit_and_report_treat_cardless_versions_as_notices(repo, tmp_path):
    rows = repo.wo_json("list")["versions"]
    assert {(r["model"], r["version"]): (r["card"], r["verified_by"], r["sha256"]) for r in rows} == {
        ("clf", "v1.1.0"): (None, "dvc-md5", None), ("clf", "v1.0.0"): (None, "dvc-md5", None),
        ("shards", "v1.0.0"): (None, "dvc-md5", None)}
    for tag in ("clf@v1.0.0", "clf#prod#1", "shards@v1.0.0"):
        proc = repo.wo("ci", "check-tag", tag, "--json")
        assert proc.returncode == 0, proc.stderr
        checked = json.loads(proc.stdout)
        assert checked["sha256"] is None and "no model card" in checked["checked"][0]
        assert any("present in DVC remote" in c for c in checked["checked"])
        assert len(_no_card_lines(proc)) == 1
    proc = repo.wo("audit", "--json", "--offline")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] and doc["findings"] == []
    assert sorted(n["tag"] for n in doc["notices"] if n["kind"] == "no-card") == ["clf@v1.0.0", "clf@v1.1.0", "shards@v1.0.0"]
    page = tmp_path / "registry.html"
    assert repo.wo("report", "-o", str(page)).returncode == 0
    html = page.read_text()
    assert "do not trust" not in html and 'data-state="ok"' in html
    assert 'id="no-card"' in html and html.count('data-verified-by="dvc-md5"') == 3
    # A damaged object is still a failure (exit 4), cardless or not.
    obj = repo.object(hashlib.md5(V2).hexdigest())
    os.chmod(obj, 0o644)
    obj.write_bytes(b"Y" * (len(V2) - 1))
    assert repo.wo("audit", "--offline").returncode == 4
    proc = repo.wo("ci", "check-tag", "clf@v1.1.0")
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("error: clf@v1.1.0: object") and len(_no_card_lines(proc)) == 1


def test_sync_deploys_a_cardless_stage_from_the_git_remote(repo, tmp_path):
    out, dlog = tmp_path / "live" / "model.pkl", tmp_path / "deploy.jsonl"
    out.parent.mkdir()
    proc = repo.wo("sync", "prod", "-m", "clf", "--repo", repo.origin.as_uri(), "-o", str(out), "--log", str(dlog),
                   "--once")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == V1
    record = json.loads(dlog.read_text().splitlines()[-1])
    assert record["outcome"] == "deployed" and record["version"] == "v1.0.0"
    assert record["sha256"] == hashlib.sha256(V1).hexdigest()


def test_attach_push_fresh_clone_then_sha256_checks(repo, tmp_path):
    v1_sha = hashlib.sha256(V1).hexdigest()
    before = repo.git("for-each-ref", "refs/tags")
    done = repo.wo_json("card", "--attach", "clf@v1.0.0", "--push")
    assert (done["action"], done["sha256"], done["pushed"], done["ref"]) == ("attached", v1_sha, True, NOTES)
    assert repo.git("for-each-ref", "refs/tags") == before            # no tag moved or added
    note = yaml.safe_load(repo.git("notes", "--ref", NOTES, "show", "clf@v1.0.0^{commit}"))["cards"]["clf"]
    assert note["artifact"] == {"path": "models/model.pkl", "format": "pickle", "size": len(V1), "sha256": v1_sha,
                                "md5": hashlib.md5(V1).hexdigest()}
    assert note["lineage"]["commit"] == repo.git("rev-parse", "clf@v1.0.0^{commit}")
    assert repo.wo_json("card", "--attach", "clf@v1.0.0")["action"] == "unchanged"
    # A different card is refused unless forced; the bytes must be the ones DVC recorded.
    assert_one_line_error(repo.wo("card", "--attach", "clf@v1.0.0", "--label", "team=vision"), 5, "--force")
    wrong = tmp_path / "model.pkl"
    wrong.write_bytes(V2)
    assert_one_line_error(repo.wo("card", str(wrong), "--attach", "clf@v1.0.0", "--force"), 4, "md5")
    # Here: SHA-256 like any release, and audit no longer calls it cardless.
    here = repo.wo_json("resolve", "prod", "-m", "clf")
    assert (here["sha256"], here["card"], here["verified_by"]) == (v1_sha, NOTES, "sha256")
    notices = [n["tag"] for n in repo.wo_json("audit", "--offline")["notices"] if n["kind"] == "no-card"]
    assert notices == ["clf@v1.1.0", "shards@v1.0.0"]
    # A deploy host reading the git remote by URL gets the attached card with the tags.
    remote = repo.wo_json("resolve", "prod", "-m", "clf", "--repo", repo.origin.as_uri())
    assert (remote["sha256"], remote["card"]) == (v1_sha, NOTES)
    # A fresh clone: git clone does not fetch notes; the line a cardless answer prints does.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.origin), str(clone)], check=True)
    proc = repo.wo("resolve", "prod", "-m", "clf", "--json", cwd=clone)
    assert json.loads(proc.stdout)["sha256"] is None
    fetch = next(l for l in proc.stderr.splitlines() if "git fetch" in l).split("`git fetch ")[1].split("`")[0]
    subprocess.run(["git", "fetch", "-q", *fetch.split()], cwd=clone, check=True)
    assert repo.wo_json("resolve", "prod", "-m", "clf", cwd=clone)["sha256"] == v1_sha
    # The SHA-256 now guards the pull too: same-size other bytes fail on it.
    obj = repo.object(hashlib.md5(V1).hexdigest())
    os.chmod(obj, 0o644)
    obj.write_bytes(b"X" * len(V1))
    proc = repo.wo("pull", "prod", "-m", "clf", "-o", str(tmp_path / "p.pkl"))
    assert proc.returncode == 4 and "sha256" in proc.stderr and not (tmp_path / "p.pkl").exists()


def test_attached_card_disagreeing_with_the_pointer_is_refused_and_a_commit_card_wins(repo):
    commit = repo.git("rev-parse", "clf@v1.0.0^{commit}")
    forged = {"cards": {"clf": {"artifact": {"path": "models/model.pkl", "sha256": "0" * 64,
                                             "md5": hashlib.md5(b"other").hexdigest(), "size": len(V1)}}}}
    subprocess.run(["git", "notes", "--ref", NOTES, "add", "-m", yaml.safe_dump(forged), commit], cwd=repo.root, check=True)
    assert_one_line_error(repo.wo("resolve", "prod", "-m", "clf"), 4, "clf@v1.0.0", "md5")
    assert repo.wo("audit", "--offline").returncode == 4
    # A card the commit holds itself wins over an attached one, and attaching to it is refused.
    real = {"artifact": {"path": "models/model.pkl", "sha256": hashlib.sha256(V2).hexdigest(),
                         "md5": hashlib.md5(V2).hexdigest(), "size": len(V2)}}
    (repo.root / "models" / "model.card.yaml").write_text(yaml.safe_dump(real))
    repo.git("add", "-A")
    repo.git("commit", "-qm", "card")
    other = {"cards": {"clf": {"artifact": dict(real["artifact"], sha256="1" * 64)}}}
    subprocess.run(["git", "notes", "--ref", NOTES, "add", "-m", yaml.safe_dump(other), "HEAD"], cwd=repo.root, check=True)
    repo.git("tag", "-a", "clf@v1.2.0", "-m", "Registering artifact clf version v1.2.0")
    out = repo.wo_json("resolve", "v1.2.0", "-m", "clf")
    assert (out["sha256"], out["card"]) == (hashlib.sha256(V2).hexdigest(), "commit")
    assert_one_line_error(repo.wo("card", "--attach", "clf@v1.2.0"), 5, "holds its own card")
