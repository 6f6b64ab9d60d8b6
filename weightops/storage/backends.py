"""Opening a DVC remote as a Store: the one place that picks a backend by URL scheme (local
here in store.py, `s3`, or DVC's plugin filesystems in `dvcfs`). It sits above the backends so
they import the interface from store.py without store.py importing them back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from weightops.errors import UsageError
from weightops.storage.pointers import Remote
from weightops.storage.retry import RetryPolicy
from weightops.storage.store import EXTRAS, LocalStore, Store, scheme_of

if TYPE_CHECKING:
    from weightops.project import Project


def open_store(project: "Project | None", remote: Remote, *, jobs: int = 1,
               policy: RetryPolicy | None = None, base: str | None = None) -> Store:
    """Open `remote` with the backend its URL scheme names. `base` overrides where a local
    remote is (default: its URL resolved against the project's `.dvc/`, as DVC does).

    Raises UsageError (exit 2) for a scheme no backend handles, or whose DVC plugin is not
    installed (naming the `pip install "weightops[EXTRA]"` that adds it)."""
    policy = policy or RetryPolicy.from_env()
    jobs = max(1, jobs)
    scheme = scheme_of(remote.url)
    if scheme == "local":
        if base is None:
            base = project.remote_base_url(remote) if project is not None else remote.url.removeprefix("file://")
        return LocalStore(remote, base, jobs, policy)
    if scheme == "s3":
        from weightops.storage.s3 import S3Store
        return S3Store(remote, (base or remote.url).rstrip("/"), jobs, policy)
    if scheme in EXTRAS:
        from weightops.storage.dvcfs import open_dvc_store
        return open_dvc_store(project, remote, jobs, policy)
    raise UsageError(f"remote '{remote.name}' ({remote.url}) is a {scheme}:// remote, which weightops does not read; "
                     "supported: local, s3, gs, azure, ssh, http(s)")
