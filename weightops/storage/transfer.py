"""Streamed, hash-while-copy, atomic fetch of DVC objects from a local-directory or S3 remote.

One pass over the bytes: a reader thread pulls chunks off the network (or disk) while this
thread feeds them to `MultiHasher` (SHA-256 here, MD5 in its helper thread) and writes them to
a temp file beside the destination; the rename happens only after size, MD5 and SHA-256 all
match. Any failure removes the temp file, so a destination is either the verified bytes or
untouched. Memory stays at a few chunks whatever the object's size.

With `jobs > 1` an S3 object is fetched as that many parallel ranged GETs written in place
(`pwrite`); the hasher follows the contiguous prefix as parts land, still in one ordered pass.
Dropped connections and 5xx answers are retried with bounded backoff; a single stream resumes
from the byte it reached (`Range` + `If-Match`, so a changed object cannot be spliced in).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from weightops.storage import s3 as s3mod
from weightops.core.atomic import temp_beside
from weightops.errors import IntegrityError, NotFoundError, RefusedError, WeightopsError
from weightops.storage.hashing import Digests, MultiHasher, check_digests
from weightops.storage.pointers import Pointer, Remote, safe_join

if TYPE_CHECKING:
    from weightops.project import Project

log = logging.getLogger(__name__)
CHUNK = 4 * 1024 * 1024
PART = 64 * 1024 * 1024      # ranged-GET part size when jobs > 1
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class Expected:
    """What the bytes must be; None means 'not known, not checked'."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Fetched:
    digests: Digests
    transferred: int        # bytes read from the remote (0 when the destination was already right)


@dataclass
class Store:
    """One DVC remote, opened: a local directory or an S3 prefix (client built lazily)."""

    remote: Remote
    base: str                                   # local directory or s3://bucket/prefix
    jobs: int = 1
    policy: s3mod.RetryPolicy = field(default_factory=s3mod.RetryPolicy)
    _client: object = None

    @property
    def is_s3(self) -> bool:
        return self.base.startswith("s3://")

    @property
    def s3(self):
        if self._client is None:
            self._client = s3mod.client(self.remote, jobs=self.jobs)
        return self._client

    def url(self, pointer: Pointer) -> str:
        if self.is_s3:
            return self.base.rstrip("/") + "/" + pointer.object_path()
        return os.path.join(self.base, *pointer.object_path().split("/"))

    def exists(self, url: str) -> bool:
        if self.is_s3:
            return s3mod.head(self.s3, self.remote, url, self.policy) is not None
        return os.path.isfile(url)

    def read_small(self, url: str) -> bytes:
        if self.is_s3:
            return s3mod.get_bytes(self.s3, self.remote, url, self.policy)
        try:
            with open(url, "rb") as f:
                return f.read(64 * 1024 * 1024)
        except FileNotFoundError:
            raise NotFoundError(f"object {url} not found in remote '{self.remote.name}'; run `dvc push`", url=url) from None


def open_store(project: "Project", remote: Remote, *, jobs: int = 1,
               policy: s3mod.RetryPolicy | None = None) -> Store:
    if not (remote.is_local or remote.is_s3):
        raise WeightopsError(f"remote '{remote.name}' ({remote.url}) uses a scheme weightops does not support yet; "
                             "use a local directory or s3:// remote")
    return Store(remote, project.remote_base_url(remote), max(1, jobs), policy or s3mod.RetryPolicy())


# ------------------------------------------------------------------ directory listings
def parse_listing(data: bytes, pointer: Pointer, url: str) -> list[Pointer]:
    """A DVC `.dir` object: a JSON list of {md5, relpath}. Its own md5 must be the pointer's,
    so the listing is exactly what was released; every relpath must stay inside the directory."""
    import hashlib

    actual = hashlib.md5(data).hexdigest()
    want = pointer.md5[:-len(".dir")]
    if actual != want:
        raise IntegrityError(f"directory listing {url} has md5 {actual}, expected {want}; the remote object was altered",
                             expected=want, actual=actual, field="md5")
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"directory listing {url} is not JSON") from None
    result = []
    for e in entries if isinstance(entries, list) else []:
        rel, md5 = (e.get("relpath"), e.get("md5")) if isinstance(e, dict) else (None, None)
        if not isinstance(rel, str) or not isinstance(md5, str) or len(md5) != 32:
            raise IntegrityError(f"directory listing {url} has a malformed entry")
        try:
            joined = safe_join(pointer.path, rel)
        except WeightopsError:
            raise RefusedError(f"directory listing {url} names '{rel}', which escapes the destination; refusing it") from None
        if not joined.startswith(pointer.path.rstrip("/") + "/"):
            raise RefusedError(f"directory listing {url} names '{rel}', which escapes the destination; refusing it")
        result.append(Pointer(path=joined, md5=md5, size=None, source=url, legacy=pointer.legacy))
    return result


def dir_entries_local(url: str, pointer: Pointer) -> list[Pointer]:
    """Entries of a `.dir` object in a local remote (storage.object_exists uses it)."""
    with open(url, "rb") as f:
        return parse_listing(f.read(), pointer, url)


def s3_object_exists(project: "Project", remote: Remote, pointer: Pointer) -> bool:
    """True when the S3 remote holds the object (for a directory: its listing and every file)."""
    store = open_store(project, remote)
    url = store.url(pointer)
    if not pointer.is_dir:
        return store.exists(url)
    try:
        entries = parse_listing(store.read_small(url), pointer, url)
    except NotFoundError:
        return False
    store.s3  # built once, before the threads share it (botocore clients are thread-safe)
    with ThreadPoolExecutor(8) as ex:
        return all(ex.map(lambda p: store.exists(store.url(p)), entries))


# ------------------------------------------------------------------ the one-pass copy
class _Stopped(Exception):
    pass


@dataclass(frozen=True)
class _Failure:
    exc: BaseException


_END = object()


def _pump(produce: Callable[[Callable[[bytes], None]], None], sink: Callable[[bytes], None],
          depth: int = 4) -> None:
    """Run `produce(put)` in a reader thread and feed what it puts to `sink` here, in order.
    A bounded queue keeps memory at `depth` chunks; network reads overlap hashing and writing."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def run() -> None:
        try:
            produce(put)
            put(_END)
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            try:
                put(_Failure(exc))
            except _Stopped:
                pass

    reader = threading.Thread(target=run, name="weightops-fetch", daemon=True)
    reader.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            sink(item)
    finally:
        stop.set()
        reader.join(timeout=5)


def _check_size(actual: int, expected: Expected, url: str, ref: str | None) -> None:
    if expected.size is not None and actual != expected.size:
        raise IntegrityError(f"size mismatch for {url}: expected {expected.size}, got {actual} "
                             "(the object on the remote is not the released one)",
                             expected=expected.size, actual=actual, ref=ref, field="size")


def _local_producer(path: str, expected: Expected, ref: str | None, store: Store):
    def produce(put: Callable[[bytes], None]) -> None:
        try:
            f = open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise NotFoundError(f"object {path} not found in remote '{store.remote.name}'; run `dvc push`", url=path) from None
        with f:
            _check_size(os.fstat(f.fileno()).st_size, expected, path, ref)
            while True:
                buf = bytearray(CHUNK)
                n = f.readinto(buf)
                if not n:
                    return
                put(memoryview(buf)[:n])
    return produce


def _s3_producer(store: Store, url: str, expected: Expected, ref: str | None):
    """A single streamed GET that resumes where it stopped after a dropped connection."""
    bucket, key = s3mod.split_url(url)
    policy = store.policy

    def produce(put: Callable[[bytes], None]) -> None:
        offset, etag, failures, last = 0, None, 0, ""
        while True:
            try:
                kw = {"Range": f"bytes={offset}-", "IfMatch": etag} if etag else {}
                resp = store.s3.get_object(Bucket=bucket, Key=key, **kw)
                length = s3mod.content_length(resp, url)
                if etag is None:
                    etag = resp.get("ETag")
                    _check_size(length, expected, url, ref)
                body = resp["Body"]
                while chunk := body.read(CHUNK):
                    put(chunk)
                    offset += len(chunk)
                    failures = 0
                return
            except (_Stopped, WeightopsError):
                raise
            except Exception as exc:  # noqa: BLE001 - translated, maybe retried
                mapped = s3mod.translate(exc, store.remote, url)
                if not isinstance(mapped, s3mod.Retryable):
                    raise mapped from None
                last = str(mapped)
            failures += 1
            if failures >= policy.attempts:
                raise WeightopsError(f"S3 remote '{store.remote.name}' unreachable: download of {url} stopped at "
                                     f"byte {offset} and {policy.attempts} attempts failed ({last}); nothing was written; "
                                     "check the endpoint and retry", url=url)
            pause = policy.pause(failures - 1)
            log.info("download of %s interrupted at byte %d (%s); retrying in %.2fs", url, offset, last, pause)
            time.sleep(pause)
    return produce


def _ranged_copy(store: Store, url: str, fd: int, expected: Expected, ref: str | None,
                 hasher: MultiHasher, progress: Progress | None) -> None:
    """`jobs` parallel ranged GETs written in place; hash each part, in order, as it lands."""
    meta = s3mod.head(store.s3, store.remote, url, store.policy)
    if meta is None:
        raise NotFoundError(f"object {url} not found in remote '{store.remote.name}'; run `dvc push`", url=url)
    size, etag = int(meta["ContentLength"]), meta.get("ETag")
    _check_size(size, expected, url, ref)
    bucket, key = s3mod.split_url(url)
    stop = threading.Event()
    os.ftruncate(fd, size)

    def part(start: int, end: int) -> None:
        pos = start

        def once() -> None:
            nonlocal pos
            resp = store.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={pos}-{end - 1}", IfMatch=etag)
            body = resp["Body"]
            while pos < end and not stop.is_set():
                chunk = body.read(min(CHUNK, end - pos))
                if not chunk:
                    raise s3mod.Retryable(f"range ended early at byte {pos}")
                os.pwrite(fd, chunk, pos)
                pos += len(chunk)
        s3mod.with_retries(once, remote=store.remote, url=url, policy=store.policy, what=f"ranged GET at {start}")

    bounds = [(a, min(size, a + PART)) for a in range(0, size, PART)]
    with ThreadPoolExecutor(store.jobs, thread_name_prefix="weightops-range") as ex:
        futures = [ex.submit(part, a, b) for a, b in bounds]
        try:
            for (a, b), fut in zip(bounds, futures):
                fut.result()
                pos = a
                while pos < b:
                    data = os.pread(fd, min(CHUNK, b - pos), pos)
                    hasher.update(data)
                    pos += len(data)
                    if progress:
                        progress(pos, size)
        finally:
            stop.set()
            for fut in futures:
                fut.cancel()


def copy_object(store: Store, url: str, dest: Path, expected: Expected, *, ref: str | None = None,
                progress: Progress | None = None, fsync: bool = False) -> Fetched:
    """Copy one object to `dest` through a temp file beside it, verified, then renamed.

    The rename is what makes it all-or-nothing for readers. `fsync` also makes the bytes
    durable before the rename (against power loss); it costs a full disk flush (~6 s/GiB on a
    164 MB/s disk), so it is opt-in (`pull --fsync`)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(dest)   # flock'ed: a later run removes it only if this process died
    # A file object, not a bare fd: once closed, a late write from the reader thread fails
    # instead of landing in whatever file reuses the descriptor number.
    out = os.fdopen(fd, "wb", buffering=0)
    try:
        with MultiHasher() as hasher:
            if store.is_s3 and store.jobs > 1:
                _ranged_copy(store, url, out.fileno(), expected, ref, hasher, progress)
            else:
                produce = _s3_producer(store, url, expected, ref) if store.is_s3 \
                    else _local_producer(url, expected, ref, store)
                done = 0

                def produce_and_write(put: Callable[[bytes], None]) -> None:
                    # The reader thread also writes (both release the GIL), so the hashing
                    # thread only hashes: wall time ~ max(copy, md5), not their sum.
                    def write_then_put(chunk: bytes) -> None:
                        view = memoryview(chunk)
                        while view:
                            view = view[out.write(view):]
                        put(chunk)
                    produce(write_then_put)

                def sink(chunk: bytes) -> None:
                    nonlocal done
                    hasher.update(chunk)   # the very buffer that was written
                    done += len(chunk)
                    if progress:
                        progress(done, expected.size)
                _pump(produce_and_write, sink)
            digests = hasher.finish()
        check_digests(digests, size=expected.size, sha256=expected.sha256, md5=expected.md5,
                      what=f"{url}", ref=ref)
        if fsync:
            os.fsync(out.fileno())
        out.close()
        os.replace(tmp, dest)
        return Fetched(digests, digests.size)
    except BaseException as exc:
        try:
            out.close()
        except OSError:   # the close flushes nothing (unbuffered); a full disk may still object
            pass
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRORS:
            raise WeightopsError(f"cannot write {dest}: {exc.strerror} ({expected.size or 'unknown'} bytes needed); "
                                 "nothing was written, free space or pick another destination and retry",
                                 url=url) from None
        raise


_DISK_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
