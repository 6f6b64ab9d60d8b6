"""The storage interface: one `Store` per opened DVC remote, with backends chosen by URL scheme.

A Store answers four questions about objects named by URL (as `dvc.api.get_url` prints them):
`stat` (size, etag, version), `open_range` (the bytes from an offset, as chunks), `list` (keys
under a prefix) and `exists`. Every backend maps its failures the same way (see `retry`):
a missing object is NotFoundError (exit 3) naming its URL, refused credentials WeightopsError
(exit 1) naming the remote, transient failures are retried under one RetryPolicy.

Backends: a local directory (here), S3 through botocore (`s3`, the fast path with parallel
ranged GETs), and every other DVC remote through DVC's own plugin filesystems (`dvcfs`: gs,
azure, ssh, http/https), configured by DVC's own translation of the remote's settings
(from DVC's four config levels, storage/dvc_config.py). `open_store`
(storage/backends.py) picks the backend; adding a remote type means adding one there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import urlsplit

from weightops.errors import NotFoundError, WeightopsError
from weightops.storage.pointers import Pointer, Remote, object_rel
from weightops.storage.retry import RetryPolicy, with_retries

CHUNK = 4 * 1024 * 1024
SMALL_LIMIT = 64 * 1024 * 1024     # a `.dir` listing larger than this is not one

# Scheme -> the extra that installs DVC's plugin for it (the error names the pip command).
EXTRAS = {"gs": "gs", "gcs": "gs", "azure": "azure", "ssh": "ssh", "http": "http", "https": "http"}


@dataclass(frozen=True)
class Stat:
    """One object's metadata: `size` in bytes; `etag` and `version` as the backend reports
    them (S3 ETag/VersionId, GCS etag/generation, Azure etag/version_id; None when unknown)."""

    size: int
    etag: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ObjectVersion:
    """One stored version of a key in a bucket with object versioning."""

    version: str
    size: int
    etag: str | None
    latest: bool
    modified: str = ""


@dataclass
class Store:
    """One DVC remote, opened. `base` is the remote's URL (a local remote: its absolute path);
    object URLs are `base/files/md5/ab/cdef...` as DVC lays them out."""

    remote: Remote
    base: str
    jobs: int = 1
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    kind = "local"
    parallel_ranges = False          # the backend can fetch one object as parallel ranged reads

    # ---------------------------------------------------------------- naming
    def url(self, pointer: Pointer) -> str:
        """The URL of the pointer's object in this remote, laid out as `dvc push` does
        (`files/md5/ab/cdef...`, or the out's path on a cloud-versioned remote; see
        pointers.object_rel)."""
        return self.join(object_rel(self.remote, pointer))

    def version_of(self, pointer: Pointer) -> str | None:
        """The object version to read: on a cloud-versioned remote, the `version_id` that
        `dvc push` recorded for this remote in the out's `cloud:` entry. NotFoundError (exit 3)
        when the out records none (it was never pushed there, or the .dvc file not committed)."""
        if not self.remote.cloud_versioned:
            return None
        entry = pointer.cloud_version(self.remote.name)
        if entry is None:
            raise NotFoundError(f"{pointer.source} records no version of {pointer.path} for cloud-versioned remote "
                                f"'{self.remote.name}'; run `dvc push -r {self.remote.name}` and commit {pointer.source}",
                                url=self.url(pointer))
        return str(entry["version_id"])

    def join(self, rel: str) -> str:
        """URL of `rel` (a posix path under the remote)."""
        return self.base.rstrip("/") + "/" + rel.lstrip("/")

    # ---------------------------------------------------------------- the interface
    def stat(self, url: str, *, version: str | None = None) -> Stat | None:
        """Metadata of the object at `url` (that `version` of it, when given), None when absent."""
        raise NotImplementedError

    def open_range(self, url: str, start: int = 0, *, version: str | None = None,
                   etag: str | None = None) -> Iterator[bytes]:
        """The object's bytes from offset `start` to its end, in chunks of at most CHUNK bytes.
        `etag`: refuse (IntegrityError) when the object is no longer that one."""
        raise NotImplementedError

    def list(self, prefix: str) -> list[str]:
        """URLs of the objects under `prefix` (a URL), recursively."""
        raise NotImplementedError

    def open(self, url: str, *, version: str | None = None) -> tuple[Stat, Iterator[bytes]]:
        """The object's metadata and its bytes from the start: `stat` + `open_range`, or one
        request where the backend's answer carries both (S3's GET). NotFoundError when absent."""
        stat = self.stat(url, version=version)
        if stat is None:
            raise self.missing(url)
        return stat, self.open_range(url, 0, version=version)

    def exists(self, url: str) -> bool:
        """Does the remote hold an object at `url`? Errors other than absence raise as `stat` does."""
        return self.stat(url) is not None

    def read_small(self, url: str, *, version: str | None = None, limit: int = SMALL_LIMIT) -> bytes:
        """A small object (a `.dir` listing) read whole; NotFoundError (exit 3) when absent.
        WeightopsError (1) when it is larger than `limit` bytes."""
        def once() -> bytes:
            data = bytearray()
            for chunk in self.open_range(url, version=version):
                data += chunk
                if len(data) > limit:
                    raise WeightopsError(f"{url} is larger than {limit} bytes; it is not a DVC directory listing")
            return bytes(data)
        return self.call(once, url, "read")

    def versions(self, url: str) -> list[ObjectVersion]:
        """Every stored version of the key, newest first; [] where the backend keeps none."""
        return []

    def versioning(self) -> bool | None:
        """Whether the bucket keeps object versions; None when the backend cannot say."""
        return None

    # ---------------------------------------------------------------- errors and retries
    def translate(self, exc: BaseException, url: str) -> BaseException:
        """Map a backend exception to Retryable or a WeightopsError (see module docstring)."""
        return exc

    def call(self, fn, url: str, what: str = "request"):
        """Run `fn()` under this store's RetryPolicy, mapping failures with `translate`; `what`
        names the request in messages. Raises the mapped WeightopsError (NotFoundError 3,
        IntegrityError 4, ...) or, when retries run out, WeightopsError (1) naming the remote and
        URL."""
        return with_retries(fn, translate=self.translate, url=url, policy=self.policy,
                            remote=self.remote.name, what=what)

    def missing(self, url: str) -> NotFoundError:
        """The NotFoundError (3) for an absent object at `url`, naming the remote and suggesting
        `dvc push`."""
        return NotFoundError(f"object {url} not found in remote '{self.remote.name}'; run `dvc push`", url=url)


class LocalStore(Store):
    """A local-directory remote (also what `file://` URLs name)."""

    kind = "local"

    def join(self, rel: str) -> str:
        """The filesystem path of `rel` (a posix path) under the remote's folder."""
        return os.path.join(self.base, *rel.strip("/").split("/"))

    def stat(self, url: str, *, version: str | None = None) -> Stat | None:
        """As Store.stat: the file's size in bytes, or None when absent or not a regular file (no
        etag or version)."""
        try:
            st = os.stat(url)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return Stat(st.st_size) if os.path.isfile(url) else None

    def open_range(self, url: str, start: int = 0, *, version: str | None = None,
                   etag: str | None = None) -> Iterator[bytes]:
        """As Store.open_range, reading the file from `start` in chunks of CHUNK bytes; `version`
        and `etag` are ignored. NotFoundError (3) when the file is missing."""
        try:
            f = open(url, "rb", buffering=0)
        except (FileNotFoundError, NotADirectoryError):
            raise self.missing(url) from None
        with f:
            if start:
                f.seek(start)
            while True:
                buf = bytearray(CHUNK)
                n = f.readinto(buf)
                if not n:
                    return
                yield memoryview(buf)[:n]

    def list(self, prefix: str) -> list[str]:
        """As Store.list: every file below `prefix`, sorted; [] when it does not exist."""
        found = []
        for top, _dirs, files in os.walk(prefix):
            found += [os.path.join(top, f) for f in files]
        return sorted(found)


def scheme_of(url: str) -> str:
    """The URL's scheme in lower case, `local` for a path or a `file://` URL."""
    if "://" not in url or url.startswith("file://"):
        return "local"
    return urlsplit(url).scheme.lower()
