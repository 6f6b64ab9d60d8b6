"""The usual first-hour mistakes get an answer that says what was understood and what to do."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
from helpers import ROOT, T0, assert_one_line_error, at, run_cli
from safetensors.numpy import save_file

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
    assert lines[0].split()[:3] == ["TIME", "(UTC)", "ACTION"] and len(lines) == 3


def test_a_stage_typo_gets_the_same_answer_everywhere(project, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.release("v1.1.0", at=T0 + 10)
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    at(project, T0 + 200, "promote", "v1.1.0", "production")
    answers = set()
    for args in (("resolve", "prodution"), ("promote", "v1.0.0", "prodution"), ("demote", "prodution"),
                 ("rollback", "prodution"), ("history", "prodution"),
                 ("pull", "prodution", "-o", str(out / "w.safetensors")),
                 ("sync", "prodution", "--repo", str(project.root), "-o", str(out / "s.safetensors"), "--once")):
        line = assert_one_line_error(at(project, T0 + 300, *args, check=False), 2, "did you mean production?")
        answers.add(line)
    # a sync daemon stops at once too: polling again cannot make the stage exist
    daemon = run_cli(["sync", "prodution", "--repo", str(project.root), "-o", str(out / "d.safetensors"),
                      "--interval", "1"], cwd=project.root, timeout=120)
    answers.add(assert_one_line_error(daemon, 2, "did you mean production?"))
    assert answers == {"error: 'prodution' is not a stage of this project (stages: staging, production, shadow); "
                       "did you mean production?"}
    assert sorted(os.listdir(out)) == []   # no weights, no deploy log: nothing was written
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
    return json.loads(proc.stdout)


def test_a_git_repository_without_dvc_points_to_init(tmp_path):
    root = tmp_path / "plain"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for args in (("resolve", "production"), ("release", "v1.0.0"), ("promote", "v1.0.0", "production")):
        line = assert_one_line_error(run_cli(list(args), cwd=root), 3, "weightops init")
        assert "several models" not in line


def test_model_names_are_checked_where_they_enter(tmp_path, project):
    for bad in ("clf/v2", "-clf", "clf.v2", "a b"):
        assert_one_line_error(run_cli(["init", str(tmp_path / "p"), "--model", bad], cwd=tmp_path), 2, "letters, digits")
    assert not (tmp_path / "p").exists()
    assert_one_line_error(project.wo("card", str(project.weights), "-o", str(tmp_path / "c.yaml"), "--model", "clf/v2"),
                          2, "letters, digits")


def test_init_in_an_existing_dvc_project_registers_its_output(tmp_path):
    root = tmp_path / "theirs"
    (root / "models").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    def dvc(*args):
        subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, check=True, capture_output=True)

    dvc("init", "-q")
    (root / "dvc.yaml").write_text("# our pipeline\nstages:\n  train:\n    cmd: python -c \"print(1)\"\n"
                                   "    outs:\n      - models/net.safetensors\n")
    save_file({"w": np.ones(4, dtype=np.float32)}, str(root / "models" / "net.safetensors"))
    (root / "data.txt").write_text("rows\n")
    dvc("add", "-q", "data.txt")
    dvc("commit", "-q", "-f")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "theirs"], cwd=root, check=True)
    before = (root / "dvc.yaml").read_text()
    # plain init would put the example pipeline beside their outputs: refused, with the offer
    line = assert_one_line_error(run_cli(["init", "--model", "net"], cwd=root), 5,
                                 "--artifact models/net.safetensors", "data.txt")
    assert "DVC project" in line and (root / "dvc.yaml").read_text() == before
    assert not (root / "params.yaml").exists() and not (root / "src").exists()
    assert_one_line_error(run_cli(["init", "--model", "net", "--artifact", "models/none.bin"], cwd=root), 3,
                          "not an output DVC tracks", "models/net.safetensors")
    proc = run_cli(["init", "--model", "net", "--artifact", "models/net.safetensors"], cwd=root, check=True)
    text = (root / "dvc.yaml").read_text()
    assert text.startswith(before) and "artifacts:\n  net:\n    path: models/net.safetensors\n" in text
    assert not (root / "params.yaml").exists() and not (root / "src").exists()
    nxt = next(l for l in proc.stdout.splitlines() if l.startswith("next: "))
    assert "cd " not in nxt and "weightops release v1.0.0" in nxt and "dvc push" in nxt   # no git remote here
    # the hint, followed as written, releases the model
    steps = nxt[len("next: "):].split(";")[0]
    subprocess.run(steps, shell=True, cwd=root, check=True, capture_output=True, env=cli_env())  # noqa: S602 - the hint is a shell line
    resolved = json_of(run_cli(["resolve", "v1.0.0", "--json"], cwd=root, check=True))
    assert resolved["model"] == "net" and resolved["path"] == "models/net.safetensors"


def test_init_hint_fits_where_it_ran(tmp_path):
    proc = run_cli(["init", "proj", "--model", "clf", "--remote", str(tmp_path / "r")], cwd=tmp_path, check=True)
    nxt = next(l for l in proc.stdout.splitlines() if l.startswith("next: "))
    assert nxt.startswith("next: cd proj && dvc repro") and nxt.endswith("dvc push && weightops release v1.0.0")
    proc = run_cli(["init", ".", "--model", "clf", "--remote", str(tmp_path / "r2")], cwd=mk(tmp_path / "here"), check=True)
    assert "next: dvc repro" in proc.stdout


def cli_env():
    """The hint runs `weightops` and `dvc` by name: this checkout's, from this interpreter."""
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    return dict(os.environ, PYTHONPATH=str(ROOT), PATH=path)


def mk(path):
    path.mkdir(parents=True)
    return path


def test_report_leaves_no_untracked_file_unless_asked(project, tmp_path):
    project.release("v1.0.0", at=T0)
    proc = project.wo("report", "--no-audit", check=True)
    page = project.root / ".git" / "weightops" / "registry.html"
    assert page.is_file() and str(page) in proc.stdout and "<html" in page.read_text().lower()
    assert project.git("status", "--porcelain") == ""
    project.wo("report", "--no-audit", "-o", "registry.html", check=True)   # asked for: written there
    assert project.git("status", "--porcelain") == "?? registry.html"


def test_validate_production_is_not_compared_with_itself_and_reports_name_the_bytes(project):
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.release("v1.1.0", at=T0 + 10)
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    prod = project.wo_json("validate", "production")
    v1 = project.wo_json("resolve", "v1.0.0")
    assert prod["against"] is None and prod["sha256"] == v1["sha256"]
    assert any("same file" in n for n in prod["notes"])
    # a real comparison still happens for another version
    other = project.wo_json("validate", "v1.1.0")
    assert other["against"] == "clf v1.0.0 (production)" and other["sha256"] == project.wo_json("resolve", "v1.1.0")["sha256"]
    # each report names the bytes it checked
    a = project.wo_json("validate", "v1.0.0", "--against", "none")
    b = project.wo_json("validate", "v1.1.0", "--against", "none")
    assert a["sha256"] != b["sha256"] and a["digest"] != b["digest"]
    # a file path names its bytes too
    f = project.wo_json("validate", str(project.weights), "--against", "none")
    assert f["sha256"] == hashlib.sha256(project.weights.read_bytes()).hexdigest()
    assert_one_line_error(project.wo("validate", "prodution"), 2, "did you mean production?")


def test_nested_models_without_a_default_are_not_told_to_init(tmp_path):
    root = tmp_path / "nested"
    (root / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "sub" / "dvc.yaml").write_text("artifacts:\n  other:\n    path: w.safetensors\n")
    line = assert_one_line_error(run_cli(["resolve", "v1.0.0"], cwd=root), 2, "several models", "--model")
    assert "weightops init" not in line
