"""Shared fixtures: real git, real DVC, real repositories in temporary folders.

Every test runs with a temporary HOME, a fixed git identity, no DVC analytics, and DVC's
machine-wide state folder inside the test's temp folder. Tag times are passed explicitly.
"""

from __future__ import annotations

import compileall
from collections.abc import Iterator
from contextlib import contextmanager
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# This checkout's package first (a git worktree may sit beside an editable install elsewhere).
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import Project, run_cli, two_versions  # noqa: E402

# Per-test environment; applied with monkeypatch so the tests' own git/dvc calls see it too.
BASE_ENV = {
    "GIT_AUTHOR_NAME": "Test Engineer",
    "GIT_AUTHOR_EMAIL": "engineer@example.com",
    "GIT_COMMITTER_NAME": "Test Engineer",
    "GIT_COMMITTER_EMAIL": "engineer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "DVC_NO_ANALYTICS": "1",
    "GTO_NO_ANALYTICS": "1",  # GTO reads its own switch
    "PYTHONPATH": str(ROOT),
    "COLUMNS": "200",
}


def pytest_configure(config):
    """Compile this checkout's package once, in the controlling process, before any test runs.
    The tests start thousands of `python -m weightops` processes; under PYTHONDONTWRITEBYTECODE
    (set on some machines) an editable checkout never gets bytecode, so each process would
    compile every module it imports again. An installed package has its bytecode from pip."""
    if not hasattr(config, "workerinput"):          # pytest-xdist workers start after this
        compileall.compile_dir(str(ROOT / "weightops"), quiet=1)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(home / ".dvc-site-cache"))
    # DVC's system config level (/etc/xdg/dvc) stays out of the tests; the global one is in HOME.
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(home / ".dvc-system"))
    for key in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "DVC_GLOBAL_CONFIG_DIR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    return home


@pytest.fixture(scope="session")
def golden(tmp_path_factory) -> Path:
    """A scaffolded project (model `clf`) trained once and committed; copied per test.
    Layout: <base>/project and <base>/remote (the DVC remote, referenced relatively)."""
    base = tmp_path_factory.mktemp("golden")
    env = dict(os.environ, HOME=str(base), DVC_SITE_CACHE_DIR=str(base / ".site"), **BASE_ENV)
    project = base / "project"
    (base / "remote").mkdir()
    run_cli(["init", str(project), "--model", "clf", "--remote", str(base / "remote")], cwd=base, env=env, check=True)
    # A relative remote so copies of <base> stay self-contained (DVC reads the path relative to
    # the cwd and stores it relative to .dvc/).
    subprocess.run([sys.executable, "-m", "dvc", "remote", "modify", "storage", "url", "../remote"],
                   cwd=project, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=project, env=env, check=True, capture_output=True)
    subprocess.run(["git", "add", "-A"], cwd=project, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "train clf"], cwd=project, env=env, check=True)
    return base


def copy_project(template: Path, base: Path) -> Project:
    """A copy of a golden folder (`project/` and its DVC `remote/`) at `base`, as a Project."""
    shutil.copytree(template, base, symlinks=True, ignore=shutil.ignore_patterns(".site"), dirs_exist_ok=True)
    return Project(base / "project", base / "remote")


@contextmanager
def building(golden: Path, base: Path) -> Iterator[Project]:
    """A copy of `golden` at `base` to build a shared template in. While the block runs, HOME,
    DVC's site cache and the tests' git identity point into `base`: a session- or module-wide
    fixture is built before any test's own environment is in place."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(base))
        mp.setenv("DVC_SITE_CACHE_DIR", str(base / ".site"))
        for key, value in BASE_ENV.items():
            mp.setenv(key, value)
        yield copy_project(golden, base)


@pytest.fixture
def project(golden, tmp_path) -> Project:
    """A fresh copy of the golden project: one trained commit, nothing released yet."""
    return copy_project(golden, tmp_path / "ws")


@pytest.fixture(scope="session")
def golden_two_versions(golden, tmp_path_factory) -> Path:
    """The golden project after `helpers.two_versions` (v1.0.0 and v1.1.0 released and pushed);
    copied per test."""
    base = tmp_path_factory.mktemp("golden-two")
    with building(golden, base) as p:
        two_versions(p)
    return base


@pytest.fixture
def two_versions_project(golden_two_versions, tmp_path) -> Project:
    """A fresh copy of the golden project with v1.0.0 and v1.1.0 released (see `golden_two_versions`)."""
    return copy_project(golden_two_versions, tmp_path / "ws")
