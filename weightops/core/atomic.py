"""Atomic writes: a temp file beside the target, fsync, rename. A reader sees the old file or
the whole new one, never half of it; a crash leaves at most a hidden `.*.tmp` file.

Each writer holds an flock on its temp file while it writes (the kernel drops it when the
process dies, even by SIGKILL), so the next writer to the same target can tell a stale temp
file from one being written right now, and removes only the stale ones."""

from __future__ import annotations

import fcntl
import glob
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


@contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "wb") -> Iterator[BinaryIO]:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(target)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_open(target, "w") as f:
        f.write(text)



def temp_beside(target: Path) -> tuple[int, str]:
    """A new hidden temp file beside `target` (`.NAME.XXXX.tmp`), flock'ed for as long as its
    descriptor is open; stale temp files of killed writers are removed first."""
    sweep_stale(target)
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            ours = os.stat(tmp).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:  # a sweeper took it between mkstemp and flock: make another
            ours = False
        if ours:
            return fd, tmp
        os.close(fd)


def sweep_stale(target: Path) -> list[str]:
    """Remove `.NAME.*.tmp` files beside `target` whose writer is gone (nobody holds their
    lock). A temp file being written now is locked and left alone. Returns what was removed."""
    removed = []
    for path in glob.glob(os.path.join(glob.escape(str(target.parent)), f".{glob.escape(target.name)}.*.tmp")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.isfile(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)
                removed.append(path)
        except OSError:  # locked: its writer is alive
            pass
        finally:
            os.close(fd)
    return removed
