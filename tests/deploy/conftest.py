"""Fixtures for the deploy tests: a real S3 endpoint (moto's server), and a project with two
released, pushed versions of `clf`."""

from __future__ import annotations

import shutil

import pytest

from deploy.s3env import bucket, moto_server, s3_project  # noqa: F401 - pytest fixtures


@pytest.fixture(scope="session")
def golden_released(golden, tmp_path_factory):
    """The golden project with v1.0.0 and v1.1.0 of clf released and pushed to its local DVC
    remote (retrained between them: lr 0.2, 300 epochs, seed 11); built once, copied per test."""
    from conftest import BASE_ENV
    from helpers import Project

    base = tmp_path_factory.mktemp("released")
    shutil.copytree(golden, base, symlinks=True, ignore=shutil.ignore_patterns(".site"), dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(base))
        mp.setenv("DVC_SITE_CACHE_DIR", str(base / ".site"))
        for key, value in BASE_ENV.items():
            mp.setenv(key, value)
        project = Project(base / "project", base / "remote")
        project.release("v1.0.0")
        project.train("retrain", lr=0.2, epochs=300, seed=11)
        project.release("v1.1.0")
    return base


@pytest.fixture
def released(golden_released, tmp_path):
    """A fresh copy of the project with v1.0.0 and v1.1.0 released (see `golden_released`)."""
    from helpers import Project

    base = tmp_path / "ws"
    shutil.copytree(golden_released, base, symlinks=True, ignore=shutil.ignore_patterns(".site"))
    return Project(base / "project", base / "remote")
