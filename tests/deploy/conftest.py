"""Fixtures for the deploy tests; the S3 endpoint and helpers live in s3env.py."""

from deploy.s3env import bucket, moto_server, s3_project  # noqa: F401 - pytest fixtures
