"""Streamed, hash-while-copy, atomic fetch of DVC objects from any `Store` backend.

One pass over the bytes: a reader thread pulls chunks off the network (or disk) and writes
them to a temp file beside the destination while this thread feeds the same buffers to the
hasher (SHA-256; MD5 too when asked); the rename happens only after size and digests match.
Any failure removes the temp file, so a destination is either the verified bytes or
untouched. Memory stays at a few chunks whatever the object's size.

Transient failures are retried under the store's one RetryPolicy; a stream resumes from the
byte it reached, pinned to the object's etag (or version), so a changed object cannot be
spliced in. With `jobs > 1` a backend with parallel ranges (S3) fetches one object as that
many ranged GETs written in place (`pwrite`); the hasher follows the contiguous prefix.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from weightops.core.atomic import temp_beside
from weightops.errors import IntegrityError, NotFoundError, RefusedError, WeightopsError
from weightops.storage.hashing import Digests, MultiHasher, check_digests
from weightops.storage.pointers import Pointer, safe_join
from weightops.storage.retry import Retryable
from weightops.storage.store import CHUNK, Store

log = logging.getLogger(__name__)
PART = 64 * 1024 * 1024      # ranged-GET part size when jobs > 1
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class Expected:
    """What the bytes must be; None means 'not known, not checked'. `version` names the
    object version to read (cloud-versioned remotes; bucket recovery)."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Fetched:
    """A finished download: the digests of the bytes written (sha256, md5 hex, size in bytes) and
    how many bytes came from the remote (0 when the destination was already right)."""
    digests: Digests
    transferred: int        # bytes read from the remote (0 when the destination was already right)


# ------------------------------------------------------------------ directory listings
def parse_listing(data: bytes, pointer: Pointer, url: str) -> list[Pointer]:
    """A DVC `.dir` object (a JSON list of {md5, relpath}, DVC's directory listing) -> one Pointer
    per file. Its own md5 must be the pointer's, so the listing is exactly what was released; every
    relpath must stay inside the directory. IntegrityError (4) for a wrong md5, non-JSON or a
    malformed entry; RefusedError (5) for a relpath escaping the directory."""
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


def dir_entries(store: Store, url: str, pointer: Pointer, version: str | None = None) -> list[Pointer]:
    """Entries of a `.dir` object in any remote. NotFoundError (3) when the listing is absent;
    IntegrityError (4)/RefusedError (5) as `parse_listing`."""
    return parse_listing(store.read_small(url, version=version), pointer, url)


def object_exists(store: Store, pointer: Pointer) -> bool:
    """True when the remote holds the object (for a directory: its listing and every file)."""
    url = store.url(pointer)
    if not pointer.is_dir:
        try:
            version = store.version_of(pointer)
        except NotFoundError:
            return False
        return store.stat(url, version=version) is not None
    try:
        entries = dir_entries(store, url, pointer)
    except NotFoundError:
        return False
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
    if expected.size is not None and actual >= 0 and actual != expected.size:
        raise IntegrityError(f"size mismatch for {url}: expected {expected.size}, got {actual} "
                             "(the object on the remote is not the released one)",
                             expected=expected.size, actual=actual, ref=ref, field="size")


def _producer(store: Store, url: str, expected: Expected, ref: str | None):
    """A streamed read that resumes where it stopped after a dropped connection, pinned to the
    object's etag so that a replaced object is never spliced in."""
    policy = store.policy

    def produce(put: Callable[[bytes], None]) -> None:
        offset, etag, failures, last = 0, None, 0, ""
        first = True
        while True:
            try:
                if first:
                    stat, chunks = store.open(url, version=expected.version)
                    _check_size(stat.size, expected, url, ref)
                    etag, first = stat.etag, False
                else:
                    chunks = store.open_range(url, offset, version=expected.version, etag=etag)
                for chunk in chunks:
                    put(chunk)
                    offset += len(chunk)
                    failures = 0
                return
            except (_Stopped, WeightopsError):
                raise
            except Exception as exc:  # noqa: BLE001 - translated, maybe retried
                mapped = exc if isinstance(exc, Retryable) else store.translate(exc, url)
                if not isinstance(mapped, Retryable):
                    if mapped is exc:
                        raise
                    raise mapped from None
                last = str(mapped)
            failures += 1
            if failures >= policy.attempts:
                raise WeightopsError(f"remote '{store.remote.name}' unreachable: download of {url} stopped at "
                                     f"byte {offset} and {policy.attempts} attempts failed ({last}); nothing was written; "
                                     "check the endpoint and retry", url=url)
            pause = policy.pause(failures - 1)
            log.info("download of %s interrupted at byte %d (%s); retrying in %.2fs", url, offset, last, pause)
            time.sleep(pause)
    return produce


def _ranged_copy(store: Store, url: str, fd: int, expected: Expected, ref: str | None,
                 hasher: MultiHasher, progress: Progress | None) -> None:
    """`jobs` parallel ranged reads written in place; hash each part, in order, as it lands."""
    meta = store.stat(url, version=expected.version)
    if meta is None:
        raise store.missing(url)
    size, etag = meta.size, meta.etag
    _check_size(size, expected, url, ref)
    stop = threading.Event()
    os.ftruncate(fd, size)

    def part(start: int, end: int) -> None:
        pos = start

        def once() -> None:
            nonlocal pos
            for chunk in store.open_range(url, pos, version=expected.version, etag=etag, end=end):
                if stop.is_set():
                    return
                os.pwrite(fd, chunk, pos)
                pos += len(chunk)
            if pos < end and not stop.is_set():
                raise Retryable(f"range ended early at byte {pos}")
        store.call(once, url, f"ranged GET at {start}")

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
                progress: Progress | None = None, fsync: bool = False, verify_md5: bool = False,
                before_rename: Callable[[], object] | None = None) -> Fetched:
    """Copy one object to `dest` through a temp file beside it, verified, then renamed.

    Checked while streaming: size, and SHA-256 when `expected.sha256` is known. MD5 is
    computed (and checked) only when there is no SHA-256 to check or `verify_md5` is set.
    Raises IntegrityError (exit 4), NotFoundError (exit 3, naming the URL), WeightopsError
    (exit 1: refused credentials, unreachable remote, full disk); nothing is left behind.

    The rename is what makes it all-or-nothing for readers. `fsync` also makes the bytes
    durable before the rename (against power loss); it costs a full disk flush (~6 s/GiB on a
    164 MB/s disk), so it is opt-in (`pull --fsync`). `before_rename()` runs last, once the bytes
    are verified: a check run beside the download (an OMS signature) that may still refuse them."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(dest)   # flock'ed: a later run removes it only if this process died
    # A file object, not a bare fd: once closed, a late write from the reader thread fails
    # instead of landing in whatever file reuses the descriptor number.
    out = os.fdopen(fd, "wb", buffering=0)
    try:
        want_md5 = verify_md5 or expected.sha256 is None
        with MultiHasher(md5=want_md5) as hasher:
            if store.parallel_ranges and store.jobs > 1:
                _ranged_copy(store, url, out.fileno(), expected, ref, hasher, progress)
            else:
                produce = _producer(store, url, expected, ref)
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
        check_digests(digests, size=expected.size, sha256=expected.sha256,
                      md5=expected.md5 if want_md5 else None,
                      what=f"{url}", ref=ref)
        if fsync:
            os.fsync(out.fileno())
        out.close()
        if before_rename is not None:
            before_rename()
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
