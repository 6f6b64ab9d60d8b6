"""Session-wide storage servers (started once, stopped at the end) and, per test, a fresh
remote of each kind with the golden project pointed at it."""

from __future__ import annotations

import pytest

from storage import servers as srv
from storage.backends import KINDS, make_backend
from deploy.s3env import moto_server  # noqa: F401 - pytest fixture


@pytest.fixture(scope="session")
def storage_servers(tmp_path_factory, request):
    """Servers by kind, each started on first use and stopped when the session ends."""
    started: dict = {}
    cleanup = []

    def get(kind: str):
        if kind in started:
            return started[kind]
        tmp = tmp_path_factory.mktemp(kind)
        if kind == "s3":
            moto = request.getfixturevalue("moto_server")
            started[kind] = srv.Server(None, int(moto.endpoint.rsplit(":", 1)[1]), {"endpoint": moto.endpoint})
            return started[kind]
        if kind == "gs":
            started[kind] = srv.start_gcs(tmp)
        elif kind == "azure":
            started[kind] = srv.start_azurite(tmp)
        elif kind == "ssh":
            started[kind] = srv.start_sshd(tmp)
        elif kind == "http":
            started[kind] = srv.start_http(tmp)
            started[kind].extra["dir"] = tmp
        cleanup.append(started[kind])
        return started[kind]

    class Lazy(dict):
        def __missing__(self, kind):
            return get(kind)

    yield Lazy()
    for server in cleanup:
        server.stop()


@pytest.fixture
def backend_of(storage_servers, tmp_path, isolated_env, monkeypatch):
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")   # gcsfs's gRPC probe: see servers
    made = []

    def make(kind: str):
        backend = make_backend(kind, storage_servers, tmp_path / f"b{len(made)}", isolated_env)
        made.append(backend)
        return backend
    yield make
    for b in made:
        if b.proxy is not None:
            b.proxy.stop()


@pytest.fixture(params=KINDS)
def backend(request, backend_of):
    return backend_of(request.param)


@pytest.fixture
def remote_project(project, backend):
    """The golden project with `backend` as its default DVC remote, objects published."""
    backend.configure(project)
    backend.publish(project)
    project.backend = backend
    return project
