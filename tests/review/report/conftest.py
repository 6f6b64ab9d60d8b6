"""The report tests' registry: built once per session from the golden project (real git, real
DVC, real CLI), then copied for each test, which may change it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import building, copy_project
from helpers import Project

from .scenario import build_registry


@pytest.fixture(scope="session")
def built_registry(golden: Path, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("report-registry")
    with building(golden, base) as p:
        own_remote(p)
        build_registry(p)
    return base


def own_remote(p: Project) -> None:
    """Point DVC at this copy's own remote folder. (The golden project's relative URL is
    resolved by DVC from .dvc/, which puts it outside the copy, shared by every test.)"""
    p.remote.mkdir(exist_ok=True)
    p.dvc("remote", "modify", "--local", "storage", "url", str(p.remote))


@pytest.fixture
def registry_project(built_registry: Path, tmp_path: Path) -> Project:
    p = copy_project(built_registry, tmp_path / "ws")
    own_remote(p)
    return p
