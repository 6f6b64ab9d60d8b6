"""CI: the workflow templates (parsed, and every weightops command in them run on a real repo),
`weightops ci check-tag` and `weightops release-notes`."""

import hashlib
import json
import re
import shlex
import subprocess

import yaml

from helpers import assert_one_line_error
from weightops.core.resources import template_path
from weightops.scaffold.init import render

WORKFLOWS = {"github": "ci/github-workflow.yml", "gitlab": "ci/gitlab-ci.yml"}


def _scripts(kind: str, doc: dict) -> list[tuple[str, dict]]:
    """(shell line, job env) for every line a job runs."""
    lines = []
    if kind == "github":
        assert set(doc[True]) == {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
        for job in doc["jobs"].values():
            env = dict(job.get("env") or {})
            for step in job["steps"]:
                for line in (step.get("run") or "").splitlines():
                    lines.append((line.strip(), {**env, **(step.get("env") or {})}))
    else:
        for name, job in doc.items():
            if not isinstance(job, dict) or name in ("variables", "stages"):
                continue
            for key in ("before_script", "script"):
                for line in job.get(key) or []:
                    lines.append((" ".join(line.split()), {}))
    return lines


def _weightops_commands(kind: str) -> list[list[str]]:
    doc = yaml.safe_load(template_path(WORKFLOWS[kind]).read_text())
    return [shlex.split(line)[1:] for line, _ in _scripts(kind, doc) if line.startswith("weightops ")], doc


def _substitute(args: list[str], values: dict) -> list[str]:
    out = []
    for a in args:
        a = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m[1]], a)
        assert "$" not in a, a
        out.append(a)
    return out


def _ci_repo(project, tmp_path):
    """main with v1.0.0, a retrained v1.1.0 on main (both pushed), a branch `exp` with one more
    retrain, and an `origin` the CI checkout fetches from (so origin/main exists)."""
    project.release("v1.0.0", at=1_700_000_000)
    project.train("lr 0.2", lr=0.2)
    project.release("v1.1.0", at=1_700_000_100)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.git("fetch", "-q", "origin")
    project.git("checkout", "-qb", "exp")
    project.train("lr 0.05", lr=0.05)
    return origin


def test_init_writes_both_ci_files_and_refuses_to_overwrite(tmp_path):
    from helpers import run_cli

    proc = run_cli(["init", str(tmp_path / "p"), "--model", "m", "--remote", str(tmp_path / "r")], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    gh = tmp_path / "p" / ".github" / "workflows" / "weightops.yml"
    gl = tmp_path / "p" / ".gitlab-ci.yml"
    assert gh.read_text() == render(WORKFLOWS["github"], "m")
    assert gl.read_text() == render(WORKFLOWS["gitlab"], "m")
    gl.write_text("# mine\n")
    again = run_cli(["init", str(tmp_path / "p"), "--model", "m", "--remote", str(tmp_path / "r")], cwd=tmp_path)
    assert_one_line_error(again, 5, ".gitlab-ci.yml", "--force")
    assert gl.read_text() == "# mine\n"
    forced = run_cli(["init", str(tmp_path / "p"), "--model", "m", "--remote", str(tmp_path / "r"), "--force"],
                     cwd=tmp_path)
    assert forced.returncode == 0 and gl.read_text() == render(WORKFLOWS["gitlab"], "m")


def test_workflows_parse_and_every_weightops_command_runs(project, tmp_path):
    _ci_repo(project, tmp_path)
    values = {"TAG": "v1.1.0", "CI_COMMIT_TAG": "v1.1.0", "BASE_REF": "main",
              "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    ran = set()
    for kind in WORKFLOWS:
        commands, doc = _weightops_commands(kind)
        subcommands = {tuple(c[:2]) if c[0] == "ci" else (c[0],) for c in commands}
        assert subcommands == {("ci", "check-tag"), ("publish",), ("release-notes",), ("diff",)}, (kind, subcommands)
        for args in commands:
            args = _substitute(args, values)
            proc = project.wo(*args)
            assert proc.returncode == 0, f"{kind}: weightops {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
            ran.add((kind, args[0]))
        if kind == "github":
            # the tag job's TAG comes from the pushed ref; the PR job diffs against its base
            assert doc["jobs"]["tag"]["env"]["TAG"] == "${{ github.ref_name }}"
            assert doc["jobs"]["diff"]["env"]["BASE_REF"] == "${{ github.base_ref }}"
        notes = (project.root / "release-notes.md").read_text()
        assert notes.startswith("## clf v1.1.0") and "vs v1.0.0" in notes
        comment = (project.root / "weightops-diff.md").read_text()
        assert comment.startswith("### weightops: model changes") and "train.lr | `0.2` | `0.05`" in comment
        for f in ("release-notes.md", "weightops-diff.md"):
            (project.root / f).unlink()
    assert len(ran) == 8
    index = json.loads((project.remote / "weightops" / "index" / "v1" / "clf.json").read_text())
    assert set(index["versions"]) == {"v1.0.0", "v1.1.0"}    # the tag job published the registry index


def test_check_tag_good_tag(project):
    project.release("v1.0.0", at=1_700_000_000)
    sha = hashlib.sha256(project.weights.read_bytes()).hexdigest()
    proc = project.wo("ci", "check-tag", "v1.0.0", check=True)
    assert proc.stdout.startswith("v1.0.0: registration of clf v1.0.0 at")
    assert "object present in DVC remote 'storage'" in proc.stdout and sha in proc.stdout
    project.wo("promote", "v1.0.0", "staging", check=True, env={"WEIGHTOPS_NOW": "1700000100"})
    doc = project.wo_json("ci", "check-tag", "clf#staging#1")
    assert (doc["kind"], doc["version"], doc["stage"], doc["sha256"]) == ("assignment", "v1.0.0", "staging", sha)
    project.wo("demote", "staging", check=True, env={"WEIGHTOPS_NOW": "1700000200"})
    out = project.wo("ci", "check-tag", "clf#staging!#2", check=True).stdout
    assert out.startswith("clf#staging!#2: unassignment of stage 'staging' of clf")


def test_check_tag_refuses_object_never_pushed(project):
    project.release("v1.0.0", at=1_700_000_000)
    project.train("retrain", lr=0.3)
    project.git("tag", "v1.1.0")  # a plain `git tag`, no `dvc push`
    line = assert_one_line_error(project.wo("ci", "check-tag", "v1.1.0"), 5, "v1.1.0", "not in DVC remote", "dvc push")
    assert "storage" in line


def test_check_tag_refuses_card_that_disagrees(project):
    card = project.card.read_text()
    md5 = yaml.safe_load(card)["artifact"]["md5"]
    project.card.write_text(card.replace(md5, "f" * 32))
    project.git("commit", "-qam", "tamper")
    project.git("tag", "-a", "v1.0.0", "-m", "x")
    assert_one_line_error(project.wo("ci", "check-tag", "v1.0.0"), 4, "v1.0.0", "md5")
    assert_one_line_error(project.wo("ci", "check-tag", "not a tag"), 2, "registry tag")
    assert_one_line_error(project.wo("ci", "check-tag", "v9.9.9"), 3, "v9.9.9")


def test_release_notes_compare_with_previous_version(project):
    project.release("v1.0.0", at=1_700_000_000)
    old = json.loads((project.root / "metrics.json").read_text())
    project.train("lr", lr=0.2)
    project.release("v1.1.0", at=1_700_000_100)
    new = json.loads((project.root / "metrics.json").read_text())
    notes = project.wo("release-notes", "v1.1.0", check=True).stdout
    sha = hashlib.sha256(project.weights.read_bytes()).hexdigest()
    assert f"| sha256 | `{sha}` |" in notes
    assert "### Metrics vs v1.0.0" in notes
    delta = new["accuracy"] - old["accuracy"]
    assert f"| accuracy | `{new['accuracy']:.6g}` | `{old['accuracy']:.6g}` | {delta:+.6g} |" in notes
    assert "`train.lr` 0.5 → 0.2" in notes and "Python 3." in notes
    first = project.wo("release-notes", "v1.0.0", check=True).stdout
    assert "### Metrics\n" in first
    assert_one_line_error(project.wo("release-notes", "clf#staging#1"), 2, "version tags")


def test_check_tag_refuses_card_invalid_against_schema(project):
    card = project.card.read_text()
    md5 = yaml.safe_load(card)["artifact"]["md5"]
    project.card.write_text(card.replace(md5, "0" * 32))  # YAML reads 000... as the integer 0
    project.git("commit", "-qam", "broken card")
    project.git("tag", "-a", "v1.0.0", "-m", "x")
    assert_one_line_error(project.wo("ci", "check-tag", "v1.0.0"), 5, "v1.0.0", "not valid at artifact/md5")


def test_gitlab_rules_pick_the_right_tags():
    doc = yaml.safe_load(template_path(WORKFLOWS["gitlab"]).read_text())

    def runs(job, tag):
        cond = doc[job]["rules"][0]["if"]
        ok = []
        for part in re.split(r"\s*(?:&&|\|\|)\s*", cond):
            m = re.fullmatch(r"\$CI_COMMIT_TAG (=~|!~) /(.*)/", part)
            hit = re.search(m[2], tag) is not None
            ok.append(hit if m[1] == "=~" else not hit)
        return all(ok) if "&&" in cond else any(ok)

    for tag, check, notes in [("v1.2.0", True, True), ("clf@v1.2.0-rc.1", True, True),
                              ("clf#production#3", True, False), ("clf#staging!#4", True, False),
                              ("docs-update", False, False)]:
        assert runs("weightops-check-tag", tag) is check, tag
        assert runs("weightops-release-notes", tag) is notes and runs("weightops-release", tag) is notes, tag


def test_check_tag_refuses_stage_tag_whose_version_tag_moved(project):
    project.release("v1.0.0", at=1_700_000_000)
    project.wo("promote", "v1.0.0", "staging", check=True, env={"WEIGHTOPS_NOW": "1700000100"})
    project.git("commit", "-q", "--allow-empty", "-m", "later")
    project.git("tag", "-f", "-a", "v1.0.0", "-m", "moved")
    assert_one_line_error(project.wo("ci", "check-tag", "clf#staging#1"), 4, "clf#staging#1", "v1.0.0",
                          "weightops audit")


def test_ci_installs_weightops_by_the_requirement_line_init_pins(tmp_path):
    from helpers import run_cli
    from weightops.scaffold.requirement import install_requirement, requirement_from

    run_cli(["init", str(tmp_path / "p"), "--model", "m", "--remote", str(tmp_path / "r")], cwd=tmp_path, check=True)
    line = install_requirement()
    gh = yaml.safe_load((tmp_path / "p" / ".github" / "workflows" / "weightops.yml").read_text())
    gl = yaml.safe_load((tmp_path / "p" / ".gitlab-ci.yml").read_text())
    assert gh["env"]["WEIGHTOPS_REQUIREMENT"] == line and gl["variables"]["WEIGHTOPS_REQUIREMENT"] == line
    installs = [l for kind, doc in (("github", gh), ("gitlab", gl)) for l, _ in _scripts(kind, doc) if "pip install" in l]
    assert installs and all(l.endswith('"$WEIGHTOPS_REQUIREMENT"') for l in installs)
    assert "{{" not in (tmp_path / "p" / ".gitlab-ci.yml").read_text()
    # PEP 610 records -> the line pip needs to install the same weightops elsewhere
    assert requirement_from({"url": "https://github.com/o/weightops", "vcs_info": {"vcs": "git", "commit_id": "ab12"}},
                            "0.1.0") == "weightops @ git+https://github.com/o/weightops@ab12"
    assert requirement_from({"url": "https://example.com/weightops-0.1.0.tar.gz", "archive_info": {}}, "0.1.0") \
        == "weightops @ https://example.com/weightops-0.1.0.tar.gz"
    assert requirement_from({"url": "file:///src/weightops", "dir_info": {"editable": True}}, "0.1.0",
                            lambda path: ("https://git.example/weightops.git", "cd34") if path == "/src/weightops" else None) \
        == "weightops @ git+https://git.example/weightops.git@cd34"
    assert requirement_from({"url": "file:///src/weightops", "dir_info": {}}, "0.1.0") == "weightops==0.1.0"
    assert requirement_from(None, "0.1.0") == "weightops==0.1.0"
