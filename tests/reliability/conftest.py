"""Reliability fixtures: moto's S3 server (shared with tests/deploy) and fault injection."""

import hashlib

import pytest

from deploy.s3env import bucket, moto_server, object_key, s3_project, use_s3_remote  # noqa: F401 - fixtures
from reliability.faults import SIZE, big_weights


@pytest.fixture
def big_s3(project, bucket):
    """v1.0.0 released on the S3 remote (moto), weights of a few MiB uploaded as `dvc push` would."""
    use_s3_remote(project, bucket)
    data = big_weights(project, SIZE)
    md5 = hashlib.md5(data).hexdigest()
    bucket.put_file(object_key("dvcstore", md5), project.weights)
    project.release("v1.0.0", push=False)
    project.data, project.bucket = data, bucket
    return project


