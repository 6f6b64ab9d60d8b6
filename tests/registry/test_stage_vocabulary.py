"""One stage vocabulary for reads and writes: a stage GTO's tags already use is the project's for
every command; a name weightops reads as something else (`latest`, `v1`) never becomes a stage,
and where GTO's tags use one, audit says how each command reads it. The tags are GTO's own."""

from __future__ import annotations

import json
import os

import yaml

from helpers import T0, assert_one_line_error, at, two_versions
from scaffold.adoption_layouts import sh


def gto(project, *args, t: int):
    """GTO's CLI in the project, its tags dated `t` (Unix seconds)."""
    return sh(project.root, dict(os.environ), "gto", *args, at=t)


def test_a_stage_only_gto_used_is_taken_by_promote_and_rollback(named):
    p = named
    two_versions(p)
    gto(p, "assign", "clf", "--version", "v1.0.0", "--stage", "prod", t=T0 + 20)
    assert "prod" not in yaml.safe_load((p.root / "weightops.yaml").read_text())["stages"]
    at(p, T0 + 30, "promote", "v1.1.0", "prod")
    assert p.wo_json("resolve", "prod")["version"] == "v1.1.0"
    at(p, T0 + 40, "rollback", "prod", "--to", "v1.0.0")
    assert p.wo_json("resolve", "prod")["version"] == "v1.0.0"
    at(p, T0 + 50, "rollback", "prod")
    assert p.wo_json("resolve", "prod")["version"] == "v1.1.0"
    events = p.wo_json("history", "prod")["events"]
    assert [e["version"] for e in events] == ["v1.0.0", "v1.1.0", "v1.0.0", "v1.1.0"]
    # GTO reads what weightops wrote to its stage
    shown = json.loads(gto(p, "show", "clf", "--json", t=T0 + 60))
    assert {v["version"]: [s["stage"] for s in v["stages"]] for v in shown}["v1.1.0"] == ["prod"]
    # a stage neither the config nor a tag has: the one answer every command gives
    assert_one_line_error(p.wo("promote", "v1.0.0", "prd"), 2, "'prd' is not a stage of this project", "prod")
    assert_one_line_error(p.wo("rollback", "prd", "--to", "v1.0.0"), 2, "'prd' is not a stage of this project")


def test_names_weightops_reads_otherwise_are_never_new_stages(named):
    p = named
    two_versions(p)
    for name, needle in (("latest", "newest release"), ("v1", "reads as a version (v1.0.0)")):
        assert_one_line_error(p.wo("promote", "v1.0.0", name), 2, f"'{name}' cannot be a new stage", needle)
    cfg = p.root / "weightops.yaml"
    good = cfg.read_text()
    for name in ("latest", "v2", "1.2.0"):
        cfg.write_text(good.replace("  - shadow\n", f"  - shadow\n  - '{name}'\n"))
        assert_one_line_error(p.wo("resolve", "v1.0.0"), 2, "weightops.yaml: stages:", f"'{name}' cannot be a stage name")
    cfg.write_text(good)


def test_gto_tags_using_such_names_are_reported_with_how_each_command_reads_them(named):
    p = named
    two_versions(p)
    gto(p, "assign", "clf", "--version", "v1.0.0", "--stage", "latest", t=T0 + 20)
    gto(p, "assign", "clf", "--version", "v1.0.0", "--stage", "v1", t=T0 + 30)
    # what each command answers: `resolve latest` is the newest release, the stage is read by history
    assert p.wo_json("resolve", "latest")["version"] == "v1.1.0"
    assert [e["version"] for e in p.wo_json("history", "latest")["events"]] == ["v1.0.0"]
    assert p.wo_json("resolve", "v1")["version"] == "v1.0.0" and p.wo_json("resolve", "v1")["stage"] == "v1"
    at(p, T0 + 40, "promote", "v1.1.0", "latest")    # a stage GTO already uses stays writable
    audit = p.wo("audit", "--json", "--offline")
    assert audit.returncode == 0, audit.stdout
    notes = {n["tag"]: n["message"] for n in json.loads(audit.stdout)["notices"] if n["kind"] == "reserved-stage"}
    assert set(notes) == {"clf#latest", "clf#v1"}
    assert "`resolve latest`" in notes["clf#latest"] and "not this stage" in notes["clf#latest"]
    assert "read it as the stage" in notes["clf#v1"]
