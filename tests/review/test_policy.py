"""Promotion policy in weightops.yaml: each rule refuses (exit 5, naming itself), then allows."""

import pytest

from helpers import assert_one_line_error
from weightops.errors import UsageError
from weightops.core.config import PolicySettings as Policy, parse_duration, settings_from_doc

T0 = 1_700_000_000


def _policy(project, text):
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text() + "policy:\n" + text)
    project.git("commit", "-qam", "promotion policy")


def _promote(project, version, stage, at):
    return project.wo("promote", version, stage, env={"WEIGHTOPS_NOW": str(at)})


def _allowed(project, version, stage, at) -> None:
    """The promotion went through: exit 0 and the stage now resolves to the version."""
    proc = _promote(project, version, stage, at)
    assert proc.returncode == 0, proc.stderr
    assert project.wo_json("resolve", stage)["version"] == version


def test_stage_order_refuses_then_allows(project):
    _policy(project, "  stage_order: [staging, production]\n")
    project.release("v1.0.0", at=T0)
    assert_one_line_error(_promote(project, "v1.0.0", "production", T0 + 10), 5,
                          "policy rule 'stage_order'", "never held 'staging'")
    assert project.git("tag", "-l", "clf#*") == ""  # nothing was written
    _allowed(project, "v1.0.0", "staging", T0 + 20)
    _allowed(project, "v1.0.0", "production", T0 + 30)
    assert "policy: stage_order ok" in project.git("tag", "-l", "--format=%(contents)", "clf#production#2")
    # stages outside the order are not restricted
    _allowed(project, "v1.0.0", "shadow", T0 + 40)


def test_min_time_in_previous_stage_refuses_then_allows(project):
    _policy(project, "  stage_order: [staging, production]\n  min_time:\n    production: 1h\n")
    project.release("v1.0.0", at=T0)
    _allowed(project, "v1.0.0", "staging", T0 + 100)
    line = assert_one_line_error(_promote(project, "v1.0.0", "production", T0 + 100 + 600), 5,
                                 "policy rule 'min_time'", "600s", "needs 3600s")
    assert "2023-11-14T23:15:00Z" in line  # when it may go: staging time + 1h
    assert project.wo("resolve", "production").returncode == 3, "the refusal wrote nothing"
    _allowed(project, "v1.0.0", "production", T0 + 100 + 3600)


def test_branches_refuses_commit_not_on_main_then_allows_after_merge(project):
    _policy(project, "  branches: [main]\n")
    project.git("checkout", "-qb", "exp")
    project.train("experiment", lr=0.2)
    project.release("v2.0.0-rc.1", at=T0)
    assert_one_line_error(_promote(project, "v2.0.0-rc.1", "staging", T0 + 10), 5,
                          "policy rule 'branches'", "not on main")
    project.git("checkout", "-q", "main")
    project.git("merge", "-q", "--ff-only", "exp")
    _allowed(project, "v2.0.0-rc.1", "staging", T0 + 20)


def parse_policy(section):
    return settings_from_doc({"policy": section}).policy


def test_policy_parse_errors():
    assert parse_policy({}) == Policy()
    assert parse_duration("2d", "x") == 172800 and parse_duration(90, "x") == 90
    with pytest.raises(UsageError, match="unknown key `policy.stage_ordr` .did you mean `stage_order`"):
        parse_policy({"stage_ordr": ["staging"]})
    with pytest.raises(UsageError, match="duration"):
        parse_policy({"stage_order": ["staging", "production"], "min_time": {"production": "soon"}})
    with pytest.raises(UsageError, match="after another stage"):
        parse_policy({"stage_order": ["staging"], "min_time": {"staging": "1h"}})
    with pytest.raises(UsageError, match="branch"):
        parse_policy({"branches": ["-x"]})


def test_bad_policy_config_is_a_usage_error(project):
    project.release("v1.0.0", at=T0)
    _policy(project, "  min_time: {production: soon}\n")
    assert_one_line_error(_promote(project, "v1.0.0", "staging", T0 + 10), 2, "policy.min_time.production")
