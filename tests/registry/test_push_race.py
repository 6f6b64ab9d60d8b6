"""Two clones sharing a bare remote: the second to push a counter loses cleanly."""

import subprocess

from helpers import Project, assert_one_line_error

T0 = 1_767_225_600


def clone(src, dest):
    subprocess.run(["git", "clone", "-q", str(src), str(dest)], check=True)
    return Project(dest, src)


def test_push_race_between_two_clones(project, tmp_path):
    # an absolute DVC remote, so the clones reach the objects promote checks for
    project.dvc("remote", "modify", "storage", "url", str(project.remote))
    project.git("commit", "-qam", "absolute remote")
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.release("v1.1.0", at=T0 + 10)
    bare = tmp_path / "shared.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(bare)], check=True)
    alice, bob = clone(bare, tmp_path / "alice"), clone(bare, tmp_path / "bob")
    # Bob fetches from a stale mirror but pushes to the shared remote: exactly the window in
    # which Alice's push lands between Bob's fetch and Bob's push.
    stale = tmp_path / "stale.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(bare), str(stale)], check=True)
    bob.git("remote", "set-url", "origin", str(stale))
    bob.git("remote", "set-url", "--push", "origin", str(bare))

    out = alice.wo("promote", "v1.0.0", "production", "--push", env={"WEIGHTOPS_NOW": str(T0 + 100)}, check=True).stdout
    assert "clf#production#1" in out and "pushed" in out
    # Bob computes counter 1 too; for another stage the tag name differs, but the counter is claimed.
    proc = bob.wo("promote", "v1.1.0", "staging", "--push", env={"WEIGHTOPS_NOW": str(T0 + 101)})
    assert_one_line_error(proc, 5, "rejected", "counter 1")
    assert bob.git("tag", "-l", "clf#*") == ""  # the local tag was removed
    proc = bob.wo("promote", "v1.1.0", "production", "--push", env={"WEIGHTOPS_NOW": str(T0 + 102)})
    assert_one_line_error(proc, 5, "rejected")
    remote_tags = subprocess.run(["git", "tag", "-l", "clf#*"], cwd=bare, capture_output=True, text=True).stdout.split()
    assert remote_tags == ["clf#production#1"]
    # After fetching the real state, Bob's promotion goes through with the next counter.
    bob.git("remote", "set-url", "origin", str(bare))
    out = bob.wo("promote", "v1.1.0", "staging", "--push", env={"WEIGHTOPS_NOW": str(T0 + 103)}, check=True).stdout
    assert "clf#staging#2" in out
    alice.git("fetch", "-q", "--tags")
    assert alice.wo_json("resolve", "staging")["version"] == "v1.1.0"
    assert alice.wo_json("resolve", "production")["version"] == "v1.0.0"
