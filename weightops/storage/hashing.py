"""Hash while reading: SHA-256 and MD5 in one streamed pass, in constant memory.

hashlib releases the GIL on large buffers, so MD5 runs in a helper thread over the same
buffer SHA-256 reads in this one: both digests cost about as much as MD5 alone.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import BinaryIO

from weightops.errors import IntegrityError

CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Digests:
    """The digests of one file or stream: `sha256` and `md5` (lower-case hex) and `size` in bytes."""

    sha256: str
    md5: str | None     # None when MD5 was not asked for (see MultiHasher)
    size: int

    def to_dict(self) -> dict:
        """{"sha256", "md5", "size"}: the card's and lock file's field names."""
        return {"sha256": self.sha256, "md5": self.md5, "size": self.size}


class MultiHasher:
    """Feed bytes with `update`; SHA-256 here, MD5 in a worker thread over the same buffer.
    `md5=False` computes SHA-256 only (no thread): a pull whose card gives the SHA-256 needs
    nothing more, and on two cores the MD5 pass is what separates it from network speed."""

    def __init__(self, md5: bool = True) -> None:
        """`md5`: compute MD5 too (in a helper thread); False for SHA-256 only."""
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5() if md5 else None
        self.size = 0
        self._buf: bytes | memoryview | None = None
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._worker = threading.Thread(target=self._run, daemon=True)
        if md5:
            self._worker.start()

    def _run(self) -> None:
        while True:
            self._go.acquire()
            buf = self._buf
            if buf is None:
                return
            self._md5.update(buf)
            self._done.release()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Hash `data` (any bytes-like). Small buffers are hashed inline; a large one is shared
        with the MD5 thread and must not change until this returns."""
        if not data:
            return
        self.size += len(data)
        if self._md5 is None:
            self._sha.update(data)
            return
        if len(data) < 64 * 1024:  # a thread handoff costs more than hashing a small buffer
            self._sha.update(data)
            self._md5.update(data)
            return
        self._buf = data
        self._go.release()
        self._sha.update(data)
        self._done.acquire()

    def finish(self) -> Digests:
        """The digests of everything fed (md5 None when not asked for); ends the helper thread."""
        if self._md5 is None:
            return Digests(self._sha.hexdigest(), None, self.size)
        self._buf = None
        self._go.release()
        self._worker.join()
        return Digests(self._sha.hexdigest(), self._md5.hexdigest(), self.size)

    def __enter__(self) -> "MultiHasher":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._worker.is_alive():
            self._buf = None
            self._go.release()
            self._worker.join()


def hash_stream(stream: BinaryIO, chunk: int = CHUNK, md5: bool = True) -> Digests:
    """SHA-256, MD5 (unless `md5` is False: then None) and size of a binary stream read to its end
    in `chunk`-byte reads (`readinto`), in constant memory. Errors of the stream propagate (OSError)."""
    hasher = MultiHasher(md5)
    try:
        buf = bytearray(chunk)
        view = memoryview(buf)
        while True:
            n = stream.readinto(buf)
            if not n:
                break
            hasher.update(view[:n])
    except BaseException:
        hasher.__exit__()
        raise
    return hasher.finish()


def hash_file(path: str | os.PathLike, md5: bool = True) -> Digests:
    """`hash_stream` of the file at `path`. OSError (FileNotFoundError, ...) propagates."""
    with open(path, "rb", buffering=0) as f:
        return hash_stream(f, md5=md5)


def sha256_file(path: str | os.PathLike) -> str:
    """The lower-case hex SHA-256 of the file at `path` (no MD5 pass). OSError propagates."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def check_digests(actual: Digests, *, sha256: str | None = None, md5: str | None = None,
                  size: int | None = None, what: str = "file", ref: str | None = None) -> None:
    """Raise IntegrityError (exit 4) naming the first field that disagrees with `actual`
    (size in bytes, then sha256, md5; a None expectation is not checked). `what` names the
    file and `ref` the registry reference in the message."""
    for field, expected, got in (("size", size, actual.size), ("sha256", sha256, actual.sha256),
                                 ("md5", md5, actual.md5)):
        if expected is not None and expected != got:
            raise IntegrityError(
                f"{field} mismatch for {what}: expected {expected}, got {got}",
                expected=expected, actual=got, ref=ref, field=field,
            )


def dvc2_md5(path: str | os.PathLike) -> str:
    """The md5 DVC 2 recorded for a file (dvc_data's "md5-dos2unix", hash.py): read in 1 MiB
    chunks, and each chunk whose first 512 bytes look like text (no NUL, at most 30% non-text
    characters: dvc_data's `istextblock`) is hashed with CRLF turned into LF. Binary files hash
    as plain md5."""
    md5 = hashlib.md5()
    text_chars = bytes(range(32, 127)) + b"\n\r\t\f\b"
    with open(path, "rb") as f:
        while chunk := f.read(2**20):
            block = chunk[:512]
            is_text = b"\x00" not in block and len(block.translate(None, text_chars)) <= 0.30 * len(block)
            md5.update(chunk.replace(b"\r\n", b"\n") if is_text else chunk)
    return md5.hexdigest()


def is_sha256(text: str) -> bool:
    """Whether `text` is a SHA-256 in hex (64 hex digits, either case)."""
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def dir_md5(entries: list[tuple[str, str]]) -> str:
    """DVC's id of a directory: md5 of its sorted JSON listing, plus `.dir`."""
    import json  # only directory ids need it

    listing = sorted(({"md5": md5, "relpath": rel} for rel, md5 in entries), key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"
