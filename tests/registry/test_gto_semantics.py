"""GTO's registry semantics on tags weightops did not write: lightweight stage tags, several
versions on one commit, deregistration, deprecation, DVC's model-name spellings. Each answer is
checked against `gto show` where GTO has one."""

import json
import os
import subprocess

from helpers import assert_one_line_error

T0 = 1_767_225_600


def gto_json(p, *args):
    proc = subprocess.run(["gto", *args, "--json"], cwd=p.root, capture_output=True, text=True,
                          env=dict(os.environ, GTO_NO_ANALYTICS="1"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def gto_holders(p, model="clf"):
    return {s["stage"]: v["version"] for v in gto_json(p, "show", model) for s in v["stages"]}


def tag(p, name, rev="HEAD", t=None, annotated=True):
    env = {"GIT_COMMITTER_DATE": f"@{t} +0000"} if t else None
    p.git("tag", *(["-a", "-m", "by hand"] if annotated else []), name, rev, env=env)


def at(p, t, *args):
    return p.wo(*args, env={"WEIGHTOPS_NOW": str(t)})


def two_versions(p):
    """v1.0.0 and v1.1.0 of clf on two commits holding the same pushed weights."""
    p.release("v1.0.0", at=T0)
    first = p.head()
    p.git("commit", "-q", "--allow-empty", "-m", "second commit")
    p.release("v1.1.0", at=T0 + 10)
    return first, p.head()


def test_release_refuses_a_second_version_on_a_commit(named):
    p = named
    p.release("v1.3.0-rc.1", at=T0)
    proc = at(p, T0 + 5, "release", "v1.3.0")
    line = assert_one_line_error(proc, 5, "clf@v1.3.0-rc.1", "one version per commit")
    assert p.head()[:12] in line
    assert "clf@v1.3.0" not in p.git("tag", "-l").split()
    # GTO still works for the model, and it refuses the same thing
    assert [v["version"] for v in gto_json(p, "show", "clf")] == ["v1.3.0-rc.1"]
    # an existing version is refused naming the tag that exists, counter included
    p.git("commit", "-q", "--allow-empty", "-m", "next")
    tag(p, "clf@v2.0.0#7", t=T0 + 20)
    p.git("commit", "-q", "--allow-empty", "-m", "next again")
    assert_one_line_error(at(p, T0 + 30, "release", "v2.0.0"), 5, "clf@v2.0.0#7")


def test_lightweight_stage_tag_is_ignored_with_one_warning(named):
    p = named
    first, second = two_versions(p)
    assert at(p, T0 + 100, "promote", "v1.1.0", "production").returncode == 0
    # a rollback written by hand as a lightweight tag: GTO and DVC ignore it, so does weightops
    tag(p, "clf#production#9", first, annotated=False)
    proc = p.wo("resolve", "production", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == "v1.1.0" == gto_holders(p)["production"]
    warnings = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(warnings) == 1 and "clf#production#9" in warnings[0] and "lightweight" in warnings[0]
    # the same tag, annotated, is obeyed by all
    p.git("tag", "-d", "clf#production#9")
    tag(p, "clf#production#9", first, t=T0 + 200)
    assert p.wo_json("resolve", "production")["version"] == "v1.0.0" == gto_holders(p)["production"]


def test_deregistration_falls_back_and_says_why(named):
    p = named
    first, second = two_versions(p)
    at(p, T0 + 100, "promote", "v1.0.0", "production")
    at(p, T0 + 200, "promote", "v1.1.0", "production")
    tag(p, "clf@v1.1.0!", second, t=T0 + 300)          # what `gto deregister clf v1.1.0` writes
    proc = p.wo("resolve", "production", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == "v1.0.0" == gto_holders(p)["production"]
    assert "falls back to v1.0.0" in proc.stderr and "deregistered by clf@v1.1.0!" in proc.stderr
    assert [r["version"] for r in p.wo_json("list")["versions"]] == ["v1.0.0"] == [v["version"] for v in gto_json(p, "show", "clf")]
    assert_one_line_error(p.wo("resolve", "v1.1.0"), 3, "deregistered by clf@v1.1.0!")
    assert_one_line_error(at(p, T0 + 400, "promote", "v1.1.0", "staging"), 3, "deregistered")
    # every version that held the stage deregistered: empty, and the reason is named
    tag(p, "clf@v1.0.0!", first, t=T0 + 500)
    assert_one_line_error(p.wo("resolve", "production"), 3, "deregistered", "clf@v1.0.0!")
    assert "production" not in gto_holders(p)


def test_deprecated_model_is_not_served_or_promoted_silently(named):
    p = named
    p.release("v1.0.0", at=T0)
    at(p, T0 + 100, "promote", "v1.0.0", "production")
    tag(p, "clf@deprecated", t=2_000_000_000)             # what `gto deprecate clf` writes
    assert gto_json(p, "show", "clf") == []
    proc = p.wo("list", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["versions"] == []
    assert "clf@deprecated" in proc.stderr
    assert_one_line_error(p.wo("resolve", "production"), 5, "deprecated", "clf@deprecated", "--allow-deprecated")
    assert_one_line_error(p.wo("pull", "production", "-o", "w.bin"), 5, "deprecated")
    assert_one_line_error(at(p, 2_000_000_100, "promote", "v1.0.0", "staging"), 5, "deprecated")
    assert p.wo_json("resolve", "production", "--allow-deprecated")["version"] == "v1.0.0"
    assert [r["version"] for r in p.wo_json("list", "--deprecated")["versions"]] == ["v1.0.0"]
    # a newer event revives the model, for GTO and for weightops
    assert at(p, 2_000_000_200, "promote", "v1.0.0", "staging", "--allow-deprecated").returncode == 0
    assert [v["version"] for v in gto_json(p, "show", "clf")] == ["v1.0.0"]
    assert p.wo_json("resolve", "staging")["version"] == "v1.0.0"


def test_audit_reports_two_versions_on_a_commit_and_plain_versions(project):
    p = project
    p.release("v1.0.0", at=T0)                            # plain style: invisible to GTO
    tag(p, "clf@v1.0.1", t=T0 + 1)                        # someone else adds a second version here
    proc = p.wo("audit", "--json", "--offline")
    assert proc.returncode == 4
    doc = json.loads(proc.stdout)
    found = [f for f in doc["findings"] if f["kind"] == "two-versions"]
    assert len(found) == 1 and "v1.0.0" in found[0]["message"] and "clf@v1.0.1" in found[0]["message"]
    assert doc["invisible_to_gto"] == ["v1.0.0"]


def test_dvc_spellings_of_a_nested_model_name(named):
    """`dir/dvc.yaml:name` is DVC's other name for `dir:name`."""
    p = named
    p.release("v1.0.0", at=T0)
    for spelling in ("clf", "dvc.yaml:clf", "./dvc.yaml:clf"):
        assert p.wo_json("resolve", "v1.0.0", "--model", spelling)["model"] == "clf", spelling
    from weightops.registry.tags import validate_model_name

    assert validate_model_name("models/nlp/dvc.yaml:bert") == "models/nlp:bert"
    assert validate_model_name("models/nlp:bert") == "models/nlp:bert"
