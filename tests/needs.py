"""What a test needs from the machine (a program, a kernel feature), said in one place.

Locally a missing need skips the test and names what is missing and how to get it. Under CI
(`CI=true`, set by `.ci/run`, which installs every tool listed at its top) the same test FAILS:
a skip there would hide a test that never ran.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(what: str, why: str) -> None:
    """Skip (locally) or fail (CI) because `what` is not available; `why` says what it is for."""
    message = f"{what} is not available here ({why})"
    if in_ci():
        pytest.fail(f"{message}; CI must provide it (see the package lists at the top of .ci/run)",
                    pytrace=False)
    pytest.skip(message)


def require_tool(name: str, why: str, *alternatives: str) -> str:
    """The path of program `name` (or of the first of `alternatives` found on PATH)."""
    for candidate in (name, *alternatives):
        found = shutil.which(candidate)
        if found:
            return found
    missing(f"the program '{name}'", why)
    raise AssertionError("unreachable")  # pytest.skip/fail raise
