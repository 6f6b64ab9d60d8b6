"""`shadow report` from the CLI, and `promote ... --require-shadow LOG` as a promotion gate."""

from __future__ import annotations

import json

from helpers import assert_one_line_error

from weightops.deploy.shadow import ShadowRunner


def _write_log(path, primary, candidate, n=120, raises=False):
    def cand(x):
        if raises and x % 2:
            raise RuntimeError("candidate crashed")
        return x * 3

    with ShadowRunner(lambda x: x * 3, cand, log=path, model="clf", primary_version=primary,
                      candidate_version=candidate, queue_size=n + 1) as runner:
        for i in range(n):
            runner(i)


def _tag_message(project, tag):
    return project.git("tag", "-l", "--format=%(contents)", tag)


def test_shadow_report_cli_json_and_text(released, tmp_path):
    log = tmp_path / "shadow.jsonl"
    _write_log(log, "v1.0.0", "v1.1.0", n=50)
    rep = released.wo_json("shadow", "report", str(log))
    assert rep["calls"] == 50 and rep["agreement"] == 1.0 and rep["candidate_version"] == "v1.1.0"
    assert rep["verdict"] == "fail" and "min_calls" in rep["reasons"][0]   # default min_calls 100
    assert released.wo("shadow", "report", str(log), "--check").returncode == 5
    # Thresholds come from the project's weightops.yaml `shadow:` section.
    cfg = released.root / "weightops.yaml"
    cfg.write_text(cfg.read_text() + "shadow:\n  min_calls: 20\n")
    text = released.wo("shadow", "report", str(log), check=True).stdout
    assert "verdict: pass" in text and "calls 50" in text and "latency candidate" in text
    assert released.wo("shadow", "report", str(log), "--check").returncode == 0
    bad = released.root / "bad.jsonl"
    bad.write_text('{"type": "call"}\nnot json\n{"type": "call"}\n')
    assert_one_line_error(released.wo("shadow", "report", str(bad)), 2, "line 2")
    assert_one_line_error(released.wo("shadow", "report", "missing.jsonl"), 3, "missing.jsonl")


def test_promotion_requires_a_passing_shadow_log_against_production(released, tmp_path):
    released.wo("promote", "v1.0.0", "production", check=True)
    good, wrong_candidate, wrong_primary, failing = (tmp_path / f"{n}.jsonl" for n in ("good", "wc", "wp", "fail"))
    _write_log(good, "v1.0.0", "v1.1.0")
    _write_log(wrong_candidate, "v1.0.0", "v1.2.0")
    _write_log(wrong_primary, "v0.9.0", "v1.1.0")
    _write_log(failing, "v1.0.0", "v1.1.0", raises=True)

    assert_one_line_error(released.wo("promote", "v1.1.0", "production", "--require-shadow", str(wrong_candidate)),
                          5, "candidate v1.2.0", "not v1.1.0")
    assert_one_line_error(released.wo("promote", "v1.1.0", "production", "--require-shadow", str(wrong_primary)),
                          5, "v0.9.0", "holds v1.0.0")
    assert_one_line_error(released.wo("promote", "v1.1.0", "production", "--require-shadow", str(failing)),
                          5, "fails the thresholds", "error rate")
    assert_one_line_error(released.wo("promote", "v1.1.0", "production", "--require-shadow", str(tmp_path / "nope.jsonl")),
                          5, "nope.jsonl")
    # Nothing was written by the refused attempts: production still holds v1.0.0.
    assert released.wo_json("resolve", "production")["version"] == "v1.0.0"

    released.wo("promote", "v1.1.0", "production", "--require-shadow", str(good), check=True)
    assert released.wo_json("resolve", "production")["version"] == "v1.1.0"
    rep = released.wo_json("shadow", "report", str(good))
    newest = max(released.git("tag", "-l", "clf#production#*").split(), key=lambda t: int(t.rsplit("#", 1)[1]))
    message = _tag_message(released, newest)
    assert f"shadow_report: {rep['digest']}" in message
    assert f"shadow_log_sha256: {rep['log_sha256']}" in message


def test_require_shadow_needs_a_current_holder(released, tmp_path):
    log = tmp_path / "s.jsonl"
    _write_log(log, "v1.0.0", "v1.1.0")
    assert_one_line_error(released.wo("promote", "v1.1.0", "production", "--require-shadow", str(log)),
                          5, "nothing the shadow log could have compared against")
    # Without the option the gate stays out of the way.
    released.wo("promote", "v1.1.0", "production", check=True)
    assert json.loads(released.wo("resolve", "production", "--json", check=True).stdout)["version"] == "v1.1.0"
