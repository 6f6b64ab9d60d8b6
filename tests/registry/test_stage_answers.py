"""What promote, demote and resolve answer in the README's flow: re-promoting the holder is a
no-op, demote names every tag it wrote, `--push` without a git remote writes locally and says so,
an object missing from the DVC remote blocks a promotion, `latest` skips pre-releases."""

from helpers import T0, assert_one_line_error, at

def test_repromoting_the_holder_is_a_noop_with_exit_0(two_versions_project):
    project = two_versions_project
    at(project, T0 + 100, "promote", "v1.0.0", "staging")
    tags = project.git("tag", "-l")
    again = at(project, T0 + 200, "promote", "v1.0.0", "staging")
    assert "v1.0.0 already holds staging (clf#staging#1); nothing written" in again.stdout
    assert project.git("tag", "-l") == tags


def test_demote_reports_every_tag_it_wrote_with_its_version(two_versions_project):
    project = two_versions_project
    at(project, T0 + 100, "promote", "v1.0.0", "staging")
    at(project, T0 + 200, "promote", "v1.1.0", "staging")
    out = at(project, T0 + 300, "demote", "staging").stdout.splitlines()
    assert out == ["unassigned clf v1.1.0 from staging: tag clf#staging!#3",
                   "unassigned clf v1.0.0 from staging: tag clf#staging!#4"]
    # each named tag unassigns the version printed beside it
    for line in out:
        version, tag = line.split()[2], line.rsplit(" ", 1)[1]
        assert f"version: {version}" in project.git("tag", "-l", "--format=%(contents)", tag)


def test_push_without_a_git_remote_writes_locally_and_says_nothing_was_pushed(two_versions_project):
    """As `release --push`: the tag is written, stderr says it stayed local, exit 0."""
    project = two_versions_project
    for args, line in ((("promote", "v1.0.0", "staging", "--push"), "assigned clf v1.0.0 to staging: tag clf#staging#1"),
                       (("demote", "staging", "--push"), "unassigned clf v1.0.0 from staging: tag clf#staging!#2")):
        proc = at(project, T0 + 200, *args, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == line and "(pushed)" not in proc.stdout
        tag = line.rsplit(" ", 1)[1]
        assert tag in project.git("tag", "-l").split()
        (note,) = [l for l in proc.stderr.splitlines() if l.strip()]
        assert note.startswith("note: ") and "no git remote" in note and f"git push origin {tag}" in note


def test_release_push_without_git_remote_says_the_tag_stayed_local(project):
    import os
    import subprocess
    import sys

    from helpers import ROOT

    # One stream, as a terminal shows it: the note comes after the success line.
    proc = subprocess.run([sys.executable, "-m", "weightops", "release", "v1.0.0", "--push"], cwd=project.root,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    released = next(i for i, l in enumerate(lines) if l.startswith("released clf v1.0.0"))
    note = next(i for i, l in enumerate(lines) if "tag v1.0.0 was not" in l)
    assert released < note and "no git remote" in lines[note] and "and pushed" not in proc.stdout


def test_promote_refuses_a_version_whose_object_is_not_in_the_remote(project):
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.git("tag", "-a", "v1.1.0", "-m", "tagged, never pushed")
    proc = at(project, T0 + 100, "promote", "v1.1.0", "production", check=False)
    assert_one_line_error(proc, 5, "v1.1.0", "not in DVC remote 'storage'", "`dvc push -r storage`",
                          "--no-check-remote")
    # not at HEAD any more: the command to run checks the version out first
    project.train(epochs=30)
    proc = at(project, T0 + 100, "rollback", "production", "--to", "v1.1.0", check=False)
    assert_one_line_error(proc, 5, "git checkout v1.1.0 && dvc push -r storage")
    assert project.git("tag", "-l", "clf#*") == ""
    # offline work: the check is skipped on request (the gate still validates the local bytes)
    at(project, T0 + 100, "promote", "v1.1.0", "production", "--no-check-remote")
    assert project.wo_json("resolve", "production")["version"] == "v1.1.0"


def test_latest_is_the_newest_release_pre_includes_prereleases(project):
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.release("v1.4.0-rc.1", at=T0 + 10)
    assert project.wo_json("resolve", "latest")["version"] == "v1.0.0"
    assert project.wo_json("resolve")["version"] == "v1.0.0"
    assert project.wo_json("resolve", "latest", "--pre")["version"] == "v1.4.0-rc.1"
    # a named pre-release still resolves
    assert project.wo_json("resolve", "v1.4.0-rc.1")["version"] == "v1.4.0-rc.1"


def test_latest_with_only_prereleases_says_so(project):
    project.release("v1.0.0-rc.1", at=T0)
    assert_one_line_error(project.wo("resolve", "latest"), 3, "only pre-releases", "v1.0.0-rc.1", "--pre")
    assert project.wo_json("resolve", "latest", "--pre")["version"] == "v1.0.0-rc.1"


def test_verify_lock_without_path_checks_the_locked_file(project, tmp_path):
    project.release("v1.0.0", at=T0)
    lock = project.root / "deploy" / "model.lock.yaml"
    project.wo("lock", "v1.0.0", "-o", str(lock), check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # run from another folder: the lock's own path inside its repository is what is checked
    proc = project.wo("verify", str(lock), "--json", cwd=elsewhere, check=True)
    assert str(project.weights) in proc.stdout
    project.weights.unlink()   # never write through a file DVC may have linked to its cache
    project.weights.write_bytes(b"not the weights")
    line = assert_one_line_error(project.wo("verify", str(lock), cwd=elsewhere), 4, f"lock {lock} pins")
    assert "card says" not in line
