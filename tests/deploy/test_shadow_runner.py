"""ShadowRunner: the primary answers at once, the candidate runs beside it, pairs are logged."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from weightops.deploy.shadow import ShadowRunner, compare
from weightops.deploy.shadow_report import report_log, thresholds


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_burst_with_a_stuck_candidate_never_waits_for_it_and_counts_drops(tmp_path):
    # The candidate is stuck until the whole burst has been answered: a runner that waited for
    # it would hang here. How fast the primary path is belongs to benchmarks/shadow_overhead.py.
    release = threading.Event()

    def primary(x):
        return x * 2

    def stuck_candidate(x):
        assert release.wait(60), "the burst never finished"
        return x * 2

    log = tmp_path / "shadow.jsonl"
    with ShadowRunner(primary, stuck_candidate, log=log, primary_version="v1.0.0",
                      candidate_version="v1.1.0", queue_size=8) as runner:
        outs = [runner(i) for i in range(300)]
        assert not release.is_set()
        assert outs == [i * 2 for i in range(300)]
        # One call in the stuck worker and 8 queued at most: the rest of the burst is shed.
        assert runner.calls == 300 and 300 - 9 <= runner.dropped <= 300 - 8
        release.set()
    recs = _records(log)
    calls = [r for r in recs if r["type"] == "call"]
    drops = sum(r["count"] for r in recs if r["type"] == "dropped")
    assert drops == runner.dropped
    assert len(calls) + drops == 300
    assert all(r["agree"] is True and r["diff"] == 0.0 for r in calls)
    assert all(r["primary_version"] == "v1.0.0" and r["candidate_version"] == "v1.1.0" for r in recs)
    rep = report_log(log)
    assert rep["dropped"] == runner.dropped and rep["calls"] == len(calls)


def test_candidate_that_raises_is_logged_never_seen(tmp_path):
    def candidate(x):
        if x % 3 == 0:
            raise RuntimeError(f"bad input {x}")
        return x + 1

    log = tmp_path / "s.jsonl"
    with ShadowRunner(lambda x: x + 1, candidate, log=log, primary_version="v1", candidate_version="v2",
                      queue_size=100) as runner:
        assert [runner(i) for i in range(30)] == list(range(1, 31))
    calls = [r for r in _records(log) if r["type"] == "call"]
    errors = [r for r in calls if r["error"]]
    assert len(calls) == 30 and len(errors) == 10
    assert errors[0]["error"].startswith("RuntimeError: bad input")
    rep = report_log(log)
    assert rep["errors"] == 10 and rep["error_rate"] == pytest.approx(1 / 3)
    assert rep["agreement"] == 1.0  # of the calls that answered
    assert rep["verdict"] == "fail" and any("error rate" in r for r in rep["reasons"])


def test_primary_exceptions_reach_the_caller_and_skip_the_shadow(tmp_path):
    def primary(x):
        raise ValueError("primary down")

    log = tmp_path / "s.jsonl"
    with ShadowRunner(primary, lambda x: x, log=log) as runner:
        with pytest.raises(ValueError, match="primary down"):
            runner(1)
    assert _records(log) == []


def test_numeric_comparison_and_user_comparator(tmp_path):
    assert compare(np.array([1.0, 2.0]), np.array([1.0, 2.5])) == (False, 0.5)
    assert compare([1, 2], [1, 2]) == (True, 0.0)
    assert compare({"p": np.float32(0.25)}, {"p": np.float32(0.5)}) == (False, 0.25)
    assert compare("cat", "cat") == (True, None)
    assert compare(np.zeros(3), np.zeros(4)) == (False, None)

    log = tmp_path / "s.jsonl"
    same_label = lambda a, b: a["label"] == b["label"]  # noqa: E731
    with ShadowRunner(lambda x: {"label": x > 0, "p": 0.9}, lambda x: {"label": x > 1, "p": 0.8},
                      log=log, comparator=same_label, queue_size=10) as runner:
        for x in (-1, 1, 2):
            runner(x)
    calls = [r for r in _records(log) if r["type"] == "call"]
    assert [r["agree"] for r in calls] == [True, False, True]


def test_report_from_a_real_log_with_thresholds(tmp_path):
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=8) for _ in range(150)]
    w = rng.normal(size=8)

    def primary(x):
        return 1 / (1 + np.exp(-(x @ w)))

    def candidate(x):
        return 1 / (1 + np.exp(-(x @ (w + 1e-4))))  # nearly the same weights

    log = tmp_path / "s.jsonl"
    with ShadowRunner(primary, candidate, log=log, model="clf", primary_version="v1.0.0",
                      candidate_version="v1.1.0", queue_size=1000) as runner:
        for x in inputs:
            runner(x)
    strict = report_log(log)
    assert strict["calls"] == 150 and strict["dropped"] == 0
    assert strict["agreement"] < 0.5  # exact agreement: tiny float differences disagree
    assert 0 < strict["diff"]["p50"] <= strict["diff"]["p95"] <= strict["diff"]["p99"] <= strict["diff"]["max"] < 1e-2
    lat = strict["latency_ms"]
    assert lat["primary"]["p50"] <= lat["primary"]["p99"] and lat["candidate"]["p50"] > 0
    assert strict["verdict"] == "fail" and any("agreement" in r for r in strict["reasons"])
    tolerant = report_log(log, {"tolerance": 0.01, "min_calls": 100})
    assert tolerant["agreement"] == 1.0 and tolerant["verdict"] == "pass", tolerant["reasons"]
    assert tolerant["digest"] != strict["digest"]
    too_many = report_log(log, {"tolerance": 0.01, "min_calls": 500})
    assert too_many["verdict"] == "fail" and "min_calls" in too_many["reasons"][0]


def test_thresholds_refuse_unknown_keys_and_non_numbers():
    from weightops.errors import UsageError

    assert thresholds(None)["min_calls"] == 100
    with pytest.raises(UsageError, match="unknown key `shadow.min_call` .did you mean `min_calls`"):
        thresholds({"min_call": 5})
    with pytest.raises(UsageError, match="must be a number"):
        thresholds({"min_agreement": "high"})
