"""`weightops audit`: moved tags, tampered cards, missing objects; lightweight tags are notes."""

import dataclasses
import os
from pathlib import Path
import json

import pytest
import yaml

from weightops.review.audit import AuditReport, Finding, audit

T0 = 1_700_000_000


def _released_and_staged(project):
    project.release("v1.0.0", at=T0)
    project.wo("promote", "v1.0.0", "staging", check=True, env={"WEIGHTOPS_NOW": str(T0 + 10)})


def test_audit_clean_registry(project):
    _released_and_staged(project)
    proc = project.wo("audit")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "audit ok: 1 version and 2 registry tags checked"
    report = audit(project.root)
    assert isinstance(report, AuditReport) and report.ok and report.findings == ()


def test_audit_catches_force_moved_version_tag(project):
    _released_and_staged(project)
    v1 = project.head()
    project.train("retrain", lr=0.2)
    project.dvc("push", "-q")
    project.git("tag", "-f", "v1.0.0", "HEAD")  # moved: now a lightweight tag on another commit
    proc = project.wo("audit", "--json")
    assert proc.returncode == 4
    doc = json.loads(proc.stdout)
    kinds = {(f["kind"], f["tag"]) for f in doc["findings"]}
    assert kinds == {("moved-tag", "v1.0.0")}
    assert [(n["kind"], n["tag"]) for n in doc["notices"]] == [("lightweight-tag", "v1.0.0")]
    moved = next(f for f in doc["findings"] if f["kind"] == "moved-tag")
    assert "clf#staging#1" in moved["message"] and v1[:12] in moved["message"]
    # moved again as an annotated tag: still caught through the stage tag's record
    project.git("tag", "-f", "-a", "v1.0.0", "-m", "moved", "HEAD")
    report = audit(project.root)
    assert [(f.kind, f.tag) for f in report.findings] == [("moved-tag", "v1.0.0")]
    text = project.wo("audit")
    assert text.returncode == 4 and "audit found 1 problem (moved-tag)" in text.stderr   # the summary once, as the error line
    # failing, it says so on stderr too (one line), where CI logs and `--json > file` users look
    assert [l for l in text.stderr.splitlines() if l.startswith("error:")] == [f"error: {report.summary}"]
    assert json.loads(project.wo("audit", "--json").stdout)["ok"] is False


def test_audit_catches_tampered_card(project):
    project.release("v1.0.0", at=T0)
    card = yaml.safe_load(project.card.read_text())
    # someone "fixes" the card's sha256 by hand: md5 still matches DVC, the bytes do not
    text = project.card.read_text().replace(card["artifact"]["sha256"], "ab" * 32)
    project.card.write_text(text)
    project.git("commit", "-qam", "edit card")
    project.git("tag", "-a", "v1.0.1", "-m", "patch")
    report = audit(project.root)
    assert [(f.kind, f.tag) for f in report.findings] == [("card-mismatch", "v1.0.1")]
    assert "the card was edited" in report.findings[0].message
    # and a card whose md5 disagrees with the DVC pointer
    project.card.write_text(text.replace(card["artifact"]["md5"], "ab" * 16))
    project.git("commit", "-qam", "edit md5")
    project.git("tag", "-a", "v1.0.2", "-m", "patch")
    proc = project.wo("audit", "--json")
    assert proc.returncode == 4, proc.stderr
    found = {(f["kind"], f["tag"]) for f in json.loads(proc.stdout)["findings"]}
    assert found == {("card-mismatch", "v1.0.1"), ("card-mismatch", "v1.0.2")}


def test_audit_catches_missing_object_and_report_is_frozen(project):
    project.release("v1.0.0", at=T0)
    project.train("retrain", lr=0.2)
    project.git("tag", "-a", "v1.1.0", "-m", "no dvc push")
    report = audit(project.root)
    assert [(f.kind, f.tag) for f in report.findings] == [("missing-object", "v1.1.0")]
    assert "dvc push" in report.findings[0].message
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.findings[0].kind = "x"  # type: ignore[misc]
    assert isinstance(report.findings[0], Finding)
    assert report.to_dict()["ok"] is False


def test_audit_catches_tag_force_pushed_to_the_git_remote(project, tmp_path):
    import subprocess

    project.release("v1.0.0", at=T0)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    clean = project.wo("audit")
    assert (clean.returncode, clean.stdout.strip()) == (0, "audit ok: 1 version and 1 registry tag checked")
    # a colleague moves the tag in their clone and force-pushes it
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=other, check=True)
    subprocess.run(["git", "tag", "-f", "-a", "v1.0.0", "-m", "moved"], cwd=other, check=True, capture_output=True)
    subprocess.run(["git", "push", "-q", "-f", "origin", "v1.0.0"], cwd=other, check=True, capture_output=True)
    project.git("fetch", "-q", "--tags", "origin", check=False)  # git keeps the local tag
    report = audit(project.root)
    assert [(f.kind, f.tag) for f in report.findings] == [("moved-tag", "v1.0.0")]
    assert "in git remote 'origin'" in report.findings[0].message
    assert audit(project.root, offline=True).ok


def test_lightweight_release_of_the_readme_audits_clean(project):
    project.git("tag", "v1.0.0")          # the README's release: plain git tag, then dvc push
    project.dvc("push", "-q")
    proc = project.wo("audit")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "v1.0.0 is a lightweight tag" in proc.stdout and "GTO" in proc.stdout
    assert "audit ok: 1 version and 1 registry tag checked (1 lightweight tag(s)" in proc.stdout
    report = audit(project.root)
    assert report.ok and report.findings == () and [n.kind for n in report.notices] == ["lightweight-tag"]


def test_audit_catches_an_object_overwritten_in_the_remote_while_the_cache_is_good(project):
    """The machine that released still has the right bytes in its DVC cache; the remote's copy,
    the one every deploy downloads, was overwritten with other bytes of the same size."""
    project.release("v1.0.0", at=T0)
    url = Path(project.wo_json("resolve", "v1.0.0")["url"])
    data = url.read_bytes()
    os.chmod(url, 0o644)
    url.write_bytes(data[::-1])
    proc = project.wo("audit", "--json")
    assert proc.returncode == 4, proc.stdout
    found = json.loads(proc.stdout)["findings"]
    assert [(f["kind"], f["tag"]) for f in found] == [("damaged-object", "v1.0.0")]
    assert "not the released bytes" in found[0]["message"] and str(url) in found[0]["message"]
    url.write_bytes(data)                       # pushed again from a good copy: clean
    assert audit(project.root).ok


def test_lightweight_named_tags_are_ignored_and_the_hint_names_the_command(project):
    """In GTO's named style a lightweight `clf@v9.0.0` or `clf#production#9` is ignored by GTO,
    DVC and weightops alike: audit says so (as list/resolve warn), and each hint names the
    command that writes that kind of tag annotated."""
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text().replace("tag_style: plain", "tag_style: named"))
    project.git("commit", "-qam", "named tags")
    project.release("v1.0.0", at=T0)
    project.git("tag", "clf@v9.0.0")
    project.git("tag", "clf#production#9")
    notices = {n.tag: n.message for n in audit(project.root).notices}
    assert set(notices) == {"clf@v9.0.0", "clf#production#9"}
    assert "ignore it" in notices["clf@v9.0.0"] and "reads it as a release" not in notices["clf@v9.0.0"]
    assert "`weightops release`" in notices["clf@v9.0.0"]
    assert "`weightops promote`" in notices["clf#production#9"]
    listed = project.wo("list")
    assert listed.returncode == 0, listed.stderr
    assert "clf@v9.0.0" in listed.stderr and "`weightops release`" in listed.stderr
    assert "`weightops promote`" in listed.stderr
    assert "v9.0.0" not in listed.stdout


def test_lightweight_plain_tag_stays_a_release_in_the_audit(project):
    project.git("tag", "v1.0.0")
    project.dvc("push", "-q")
    (note,) = audit(project.root).notices
    assert "weightops reads it as a release" in note.message
    assert project.wo_json("resolve", "v1.0.0")["version"] == "v1.0.0"
