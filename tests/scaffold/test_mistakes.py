"""The usual first-hour mistakes get an answer that says what was understood and what to do."""

from __future__ import annotations

import re

from helpers import assert_one_line_error, run_cli

T0 = 1767225600  # 2026-01-01T00:00:00Z


def at(project, when, *args, check=True):
    return project.wo(*args, env={"WEIGHTOPS_NOW": str(when)}, check=check)


def test_version_and_short_help(tmp_path):
    import weightops

    proc = run_cli(["--version"], cwd=tmp_path, check=True)
    assert proc.stdout.strip() == f"weightops {weightops.__version__}"
    for args in (["-h"], ["list", "-h"], ["ci", "check-tag", "-h"]):
        proc = run_cli(args, cwd=tmp_path, check=True)
        assert "Usage:" in proc.stdout, args


def test_list_and_history_print_one_object_and_headed_tables(project):
    project.release("v1.0.0", at=T0)
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    listed = project.wo_json("list")
    assert list(listed) == ["versions", "not_versions"] and listed["not_versions"] == [] and [r["version"] for r in listed["versions"]] == ["v1.0.0"]
    events = project.wo_json("history")
    assert list(events) == ["events"]
    assert [e["action"] for e in events["events"]] == ["registration", "assignment"]
    lines = project.wo("list", check=True).stdout.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "VERSION", "COMMIT"] and "v1.0.0" in lines[1]
    lines = project.wo("history", check=True).stdout.splitlines()
    assert lines[0].split()[:2] == ["TIME", "ACTION"] and len(lines) == 3


def test_a_stage_typo_gets_the_same_answer_everywhere(project, tmp_path):
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.release("v1.1.0", at=T0 + 10)
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    at(project, T0 + 200, "promote", "v1.1.0", "production")
    answers = set()
    for args in (("resolve", "prodution"), ("promote", "v1.0.0", "prodution"), ("demote", "prodution"),
                 ("rollback", "prodution"), ("history", "prodution"),
                 ("pull", "prodution", "-o", str(tmp_path / "w.safetensors")),
                 ("sync", "prodution", "--repo", str(project.root), "-o", str(tmp_path / "s.safetensors"), "--once")):
        line = assert_one_line_error(at(project, T0 + 300, *args, check=False), 2, "did you mean production?")
        answers.add(line)
    assert answers == {"error: 'prodution' is not a stage of this project (stages: staging, production, shadow); "
                       "did you mean production?"}
    assert not (tmp_path / "w.safetensors").exists() and not (tmp_path / "s.safetensors").exists()
    # nothing was written to the registry by the refused commands
    assert project.git("tag", "-l", "clf#*").split() == ["clf#production#1", "clf#production#2"]
    # a stage that exists but is empty still answers "never assigned"
    assert_one_line_error(project.wo("resolve", "staging"), 3, "never assigned")


def test_version_lookalike_tags_are_explained(project):
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.git("tag", "1.2.0")          # the `v` forgotten
    project.git("tag", "-a", "v1.3", "-m", "short")
    line = assert_one_line_error(project.wo("resolve", "1.2.0"), 3, "read '1.2.0' as v1.2.0", "tag '1.2.0' is not a version tag")
    assert "weightops release v1.2.0" in line
    assert_one_line_error(project.wo("resolve", "v1.3"), 2, "did you mean v1.3.0?")
    assert_one_line_error(project.wo("release", "v1.3"), 2, "did you mean v1.3.0?")
    listed = project.wo("list", "--json", check=True)
    assert json_of(listed)["not_versions"] == [{"tag": "1.2.0", "meant": "v1.2.0"}, {"tag": "v1.3", "meant": "v1.3.0"}]
    assert "did you mean v1.2.0?" in project.wo("list", check=True).stderr
    audit = project.wo("audit", "--offline", "--json")
    notices = {n["tag"]: n for n in json_of(audit)["notices"]}
    assert set(notices) == {"1.2.0", "v1.3"} and notices["1.2.0"]["kind"] == "not-a-version"
    assert "did you mean v1.2.0?" in notices["1.2.0"]["message"]
    assert "not-a-version" in project.wo("audit", "--offline").stdout


def test_release_without_v_says_what_it_understood(project):
    project.dvc("push", "-q")
    proc = project.wo("release", "1.3.0", check=True)
    assert "read '1.3.0' as v1.3.0" in proc.stderr
    assert project.git("tag", "-l") == "v1.3.0"
    proc = project.wo("resolve", "1.3.0", "--json", check=True)
    assert json_of(proc)["version"] == "v1.3.0" and "read '1.3.0' as v1.3.0" in proc.stderr


def json_of(proc):
    import json

    return json.loads(proc.stdout)
