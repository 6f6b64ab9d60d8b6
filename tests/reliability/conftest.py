"""Reliability fixtures: moto's S3 server (shared with tests/deploy) and fault injection."""

from deploy.s3env import bucket, moto_server, s3_project  # noqa: F401 - pytest fixtures
