"""Session-scoped registries (see registry.py) shared by the OCI tests."""

from __future__ import annotations

import pytest

from oci.registry import start_registry


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory):
    """An open `docker-registry` on 127.0.0.1 (no authentication)."""
    reg = start_registry(tmp_path_factory.mktemp("registry-open"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def oci_auth_registry(tmp_path_factory):
    """A `docker-registry` on 127.0.0.1 behind htpasswd (Basic) authentication."""
    reg = start_registry(tmp_path_factory.mktemp("registry-auth"), htpasswd=("wo-user", "s3cret-Pa55-xyz"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def oci_token_registry(tmp_path_factory):
    """A `docker-registry` on 127.0.0.1 with distribution's token authentication, and its token
    server (`.token`, which records every token request)."""
    from oci.tokenauth import TokenServer

    base = tmp_path_factory.mktemp("registry-token")
    server = TokenServer(base, "wo-robot", "t0ken-Secret-42")
    reg = start_registry(base / "registry", token=server)
    reg.token = server
    yield reg
    reg.stop()
    server.stop()
