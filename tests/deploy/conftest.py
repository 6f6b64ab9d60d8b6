"""Fixtures for the deploy tests: a real S3 endpoint (moto's server), and a project with two
released, pushed versions of `clf`."""

from __future__ import annotations

import pytest

from deploy.s3env import bucket, moto_server, s3_project  # noqa: F401 - pytest fixtures


@pytest.fixture(scope="session")
def golden_released(golden, tmp_path_factory):
    """The golden project with v1.0.0 and v1.1.0 of clf released and pushed to its local DVC
    remote (retrained between them: lr 0.2, 300 epochs, seed 11); built once, copied per test."""
    from conftest import building

    base = tmp_path_factory.mktemp("released")
    with building(golden, base) as project:
        project.release("v1.0.0")
        project.train("retrain", lr=0.2, epochs=300, seed=11)
        project.release("v1.1.0")
    return base


@pytest.fixture
def released(golden_released, tmp_path):
    """A fresh copy of the project with v1.0.0 and v1.1.0 released (see `golden_released`)."""
    from conftest import copy_project

    return copy_project(golden_released, tmp_path / "ws")
