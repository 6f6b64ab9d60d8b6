"""GTO and DVC's `dvc artifacts` read the registry weightops writes, and the other way round."""

import hashlib
import json
import os
import subprocess
import sys

from helpers import T0, assert_one_line_error, at



# GTO has no option for its tags' time. With GIT_COMMITTER_DATE set, scmrepo's pygit2 backend
# declines to tag and dulwich does it, stamping the process clock; so GTO's CLI runs with that
# clock set to `at`, and event order comes from the test instead of sleeps.
_GTO_AT = "import sys, time; t = float(sys.argv.pop(1)); time.time = lambda: t; from gto.cli import app; app()"


def gto(project, *args, at: int | None = None):
    """Run GTO's CLI; `at` (Unix seconds) is the time its tags record."""
    env = dict(os.environ, GTO_NO_ANALYTICS="1")
    cmd = ["gto", *args]
    if at is not None:
        env["GIT_COMMITTER_DATE"] = f"@{at} +0000"
        cmd = [sys.executable, "-c", _GTO_AT, str(at), *args]
    proc = subprocess.run(cmd, cwd=project.root, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def gto_stages(project, model="clf"):
    versions = json.loads(gto(project, "show", model, "--json"))
    return {v["version"]: sorted(s["stage"] for s in v["stages"]) for v in versions}


def dvc_artifact_bytes(project, stage, tmp_path):
    out = tmp_path / f"dvc-{stage}.bin"
    subprocess.run([sys.executable, "-m", "dvc", "artifacts", "get", ".", "clf", "--stage", stage, "-o", str(out)],
                   cwd=project.root, check=True, capture_output=True)
    return out.read_bytes()


def test_gto_and_dvc_read_what_weightops_wrote(named, tmp_path):
    p = named
    p.release("v1.0.0", at=T0)
    p.train(epochs=40)
    p.release("v1.1.0", at=T0 + 10)
    at(p, T0 + 100, "promote", "v1.0.0", "production")
    at(p, T0 + 200, "promote", "v1.1.0", "staging")
    at(p, T0 + 300, "promote", "v1.1.0", "production")
    at(p, T0 + 400, "rollback", "production")
    ours = {r["version"]: r["stages"] for r in p.wo_json("list")["versions"]}
    assert ours == {"v1.1.0": ["staging"], "v1.0.0": ["production"]}
    assert gto_stages(p) == ours
    for stage in ("production", "staging"):
        resolved = p.wo_json("resolve", stage)
        ref = gto(p, "show", f"clf#{stage}", "--ref").strip()
        assert p.git("rev-parse", f"{ref}^{{commit}}") == resolved["commit"]
        data = dvc_artifact_bytes(p, stage, tmp_path)
        assert hashlib.sha256(data).hexdigest() == resolved["sha256"]
    history = json.loads(gto(p, "history", "clf", "--json"))
    gto_events = sorted((h["event"], h.get("stage") or "", h["commit"]) for h in history if h["event"] in ("assignment", "registration"))
    our_events = sorted(("assignment" if e["action"] in ("assignment", "rollback") else e["action"], e["stage"] or "", e["commit"])
                        for e in p.wo_json("history")["events"])
    assert gto_events == our_events


def test_weightops_reads_what_gto_wrote(named):
    p = named
    # GTO orders events by their tags' whole-second time; git takes it from GIT_COMMITTER_DATE.
    gto(p, "register", "clf", "HEAD", "--version", "v1.0.0", at=T0)
    p.train(epochs=40)
    gto(p, "register", "clf", "HEAD", "--version", "v1.1.0", at=T0 + 10)
    gto(p, "assign", "clf", "--version", "v1.0.0", "--stage", "production", at=T0 + 100)
    gto(p, "assign", "clf", "--version", "v1.1.0", "--stage", "production", at=T0 + 200)
    assert p.git("for-each-ref", "--format=%(taggerdate:unix)", "refs/tags/clf#production#2") == str(T0 + 200)
    assert p.wo_json("resolve", "production")["version"] == "v1.1.0"
    gto(p, "deprecate", "clf", "v1.1.0", "production", at=T0 + 300)  # unassign v1.1.0: GTO falls back to v1.0.0
    assert gto_stages(p) == {"v1.1.0": [], "v1.0.0": ["production"]}
    assert p.wo_json("resolve", "production")["version"] == "v1.0.0"
    assert [r["version"] for r in p.wo_json("list")["versions"]] == ["v1.1.0", "v1.0.0"]
    gto(p, "deprecate", "clf", "v1.1.0", at=T0 + 400)  # deregister: the version is gone for both tools
    assert [r["version"] for r in p.wo_json("list")["versions"]] == ["v1.0.0"]
    assert_one_line_error(p.wo("resolve", "v1.1.0"), 3, "v1.1.0")


def test_dvc_ignores_unassignment_weightops_does_not(named, tmp_path):
    """DVC's stage lookup ignores GTO's unassignment tags; weightops honours them (as GTO does)."""
    p = named
    p.release("v1.0.0", at=T0)
    at(p, T0 + 100, "promote", "v1.0.0", "production")
    at(p, T0 + 200, "demote", "production")
    assert_one_line_error(p.wo("resolve", "production"), 3, "unassigned")
    assert gto_stages(p) == {"v1.0.0": []}
    # DVC still hands out the demoted weights for "production":
    data = dvc_artifact_bytes(p, "production", tmp_path)
    assert hashlib.sha256(data).hexdigest() == p.wo_json("resolve", "v1.0.0")["sha256"]
