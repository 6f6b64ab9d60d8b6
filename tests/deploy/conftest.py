"""Fixtures for the deploy tests: a real S3 endpoint (moto's server), and a project with two
released, pushed versions of `clf`."""

from __future__ import annotations

import pytest

from deploy.s3env import bucket, moto_server, s3_project  # noqa: F401 - pytest fixtures


@pytest.fixture
def released(project):
    """`project` with v1.0.0 and v1.1.0 of clf released and pushed to the local DVC remote."""
    project.release("v1.0.0")
    project.train("retrain", lr=0.2, epochs=300, seed=11)
    project.release("v1.1.0")
    return project
