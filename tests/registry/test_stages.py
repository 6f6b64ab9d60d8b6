"""Stages: promote, demote, rollback, history, resolve by stage and at a point in time."""

from helpers import T0, assert_one_line_error, at

def test_promote_resolve_demote(two_versions_project):
    project = two_versions_project
    out = at(project, T0 + 100, "promote", "v1.0.0", "production", "--message", "first launch").stdout
    assert "clf#production#1" in out
    r = project.wo_json("resolve", "production")
    assert r["stage"] == "production" and r["version"] == "v1.0.0" and r["commit"] == project.git("rev-parse", "v1.0.0^{commit}")
    msg = project.git("tag", "-l", "--format=%(contents)", "clf#production#1")
    assert "version: v1.0.0" in msg and f"sha256: {r['sha256']}" in msg and "reason: first launch" in msg
    assert "by: Test Engineer <engineer@example.com>" in msg
    assert project.git("cat-file", "-t", "clf#production#1") == "tag"
    at(project, T0 + 200, "promote", "v1.1.0", "production")
    assert project.wo_json("resolve", "production")["version"] == "v1.1.0"
    rows = project.wo_json("list")["versions"]
    assert {r["version"]: r["stages"] for r in rows} == {"v1.1.0": ["production"], "v1.0.0": []}
    at(project, T0 + 300, "demote", "production")
    # both versions carried the label; demote clears both, so nothing falls back
    assert project.git("tag", "-l", "clf#production!#*").split() == ["clf#production!#3", "clf#production!#4"]
    assert_one_line_error(project.wo("resolve", "production"), 3, "production", "unassigned")


def test_rollback_assigns_previous_as_new_event(two_versions_project):
    project = two_versions_project
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    at(project, T0 + 200, "promote", "v1.1.0", "production")
    out = at(project, T0 + 300, "rollback", "production").stdout
    assert "v1.0.0" in out and "clf#production#3" in out
    assert project.wo_json("resolve", "production")["version"] == "v1.0.0"
    history = project.wo_json("history", "production")["events"]
    assert [(h["action"], h["version"]) for h in history] == [
        ("assignment", "v1.0.0"), ("assignment", "v1.1.0"), ("rollback", "v1.0.0")]
    assert all(h["sha256"] and h["tagger"].startswith("Test Engineer") for h in history)
    # --to names the version; rolling back to what is live is refused
    assert_one_line_error(at(project, T0 + 400, "rollback", "production", "--to", "v1.0.0", check=False), 5, "already holds")
    at(project, T0 + 400, "rollback", "production", "--to", "v1.1.0")
    assert project.wo_json("resolve", "production")["version"] == "v1.1.0"


def test_rollback_with_nothing_before_is_refused(two_versions_project):
    project = two_versions_project
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    assert_one_line_error(at(project, T0 + 200, "rollback", "production", check=False), 5, "no earlier version")
    assert_one_line_error(at(project, T0 + 200, "rollback", "staging", check=False), 5, "staging")


def test_history_lists_every_event_oldest_first(two_versions_project):
    project = two_versions_project
    at(project, T0 + 100, "promote", "v1.0.0", "staging")
    at(project, T0 + 200, "promote", "v1.0.0", "production")
    at(project, T0 + 300, "demote", "staging")
    rows = project.wo_json("history")["events"]
    assert [(r["action"], r["stage"], r["version"]) for r in rows] == [
        ("registration", None, "v1.0.0"), ("registration", None, "v1.1.0"),
        ("assignment", "staging", "v1.0.0"), ("assignment", "production", "v1.0.0"),
        ("unassignment", "staging", "v1.0.0")]
    assert rows[0]["time"] == "2026-01-01T00:00:00Z"
    text = project.wo("history", check=True).stdout
    assert "unassignment" in text and "clf#staging!#3" in text


def test_resolve_at_a_point_in_time(two_versions_project):
    project = two_versions_project
    at(project, T0 + 1000, "promote", "v1.0.0", "production")
    at(project, T0 + 2000, "promote", "v1.1.0", "production")
    at(project, T0 + 3000, "rollback", "production")
    at(project, T0 + 4000, "demote", "production")
    at(project, T0 + 5000, "promote", "v1.1.0", "production")

    def version_at(t):
        return project.wo_json("resolve", "production", "--at", f"@{t}")["version"]

    assert version_at(T0 + 1500) == "v1.0.0"
    assert version_at(T0 + 2000) == "v1.1.0"
    assert version_at(T0 + 3500) == "v1.0.0"
    assert_one_line_error(project.wo("resolve", "production", "--at", f"@{T0 + 4500}"), 3, "unassigned")
    assert_one_line_error(project.wo("resolve", "production", "--at", "2025-12-31T00:00:00Z"), 3, "never assigned")
    iso = "2026-01-01T00:50:00Z"  # T0 + 3000s
    assert project.wo_json("resolve", "production", "--at", iso)["version"] == "v1.0.0"
    assert project.wo_json("resolve", "production")["version"] == "v1.1.0"
    assert_one_line_error(project.wo("resolve", "production", "--at", "yesterday"), 2, "yesterday")


def test_same_second_tags_are_spaced_by_one_second(two_versions_project):
    project = two_versions_project
    for version in ("v1.0.0", "v1.1.0"):
        at(project, T0 + 100, "promote", version, "production")  # the same clock reading twice
    dates = project.git("for-each-ref", "--format=%(taggerdate:unix)", "refs/tags/clf#production#*").split()
    assert sorted(int(d) for d in dates) == [T0 + 100, T0 + 101]
    assert project.wo_json("resolve", "production")["version"] == "v1.1.0"


def test_future_dated_event_counts_without_at(two_versions_project):
    """A machine whose clock runs ahead must not hide its assignment."""
    project = two_versions_project
    at(project, T0 + 100, "promote", "v1.0.0", "production")
    at(project, 4_000_000_000, "promote", "v1.1.0", "production")
    assert project.wo_json("resolve", "production")["version"] == "v1.1.0"


def test_bad_names_are_refused_before_git(two_versions_project):
    project = two_versions_project
    before = project.git("tag", "-l")
    assert_one_line_error(project.wo("promote", "v1.0.0", "Prod;rm -rf"), 2, "Prod;rm -rf")
    assert_one_line_error(project.wo("promote", "v1.0.0", "canary"), 2, "canary", "not a stage of this project")
    assert_one_line_error(project.wo("promote", "v1.0.0", "--upload-pack=x"), 2)
    assert_one_line_error(project.wo("promote", "1.0", "production"), 2, "1.0")
    assert_one_line_error(project.wo("promote", "v9.0.0", "production"), 3, "v9.0.0")
    assert_one_line_error(project.wo("resolve", "edge-v2"), 2, "edge-v2", "not a stage of this project")
    assert_one_line_error(project.wo("history", "BAD STAGE"), 2, "BAD STAGE")
    assert project.git("tag", "-l") == before


def test_promote_refuses_card_that_disagrees_with_pointer(project):
    project.release("v1.0.0", at=T0)
    card = project.card.read_text()
    sha = next(l.split(":")[1].strip() for l in card.splitlines() if l.strip().startswith("md5:"))
    project.card.write_text(card.replace(sha, "0" * 32))
    project.git("commit", "-qam", "tampered card")
    project.git("tag", "v1.0.1")
    assert_one_line_error(project.wo("promote", "v1.0.1", "production"), 4, "md5")
    assert project.git("tag", "-l", "clf#*") == ""
