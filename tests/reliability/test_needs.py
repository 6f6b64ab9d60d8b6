"""A test whose tool is missing skips locally, naming the tool, and fails under CI."""

from __future__ import annotations

import pytest

from needs import require_tool


def test_a_missing_tool_skips_locally_naming_it(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="'no-such-tool-here'.*for the test"):
        require_tool("no-such-tool-here", "for the test")


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_missing_tool_fails_under_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="'no-such-tool-here'.*CI must provide it"):
        require_tool("no-such-tool-here", "for the test")


def test_a_present_tool_is_found_by_path(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert require_tool("no-such-tool-here", "for the test", "git").endswith("/git")
