"""Atomic writes: a temp file beside the target, fsync, rename. A reader sees the old file or
the whole new one, never half of it; a crash leaves at most a hidden `.*.tmp` file.

Each writer holds an flock on its temp file while it writes (the kernel drops it when the
process dies, even by SIGKILL), so the next writer to the same target can tell a stale temp
file from one being written right now, and removes only the stale ones."""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


@contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "wb") -> Iterator[BinaryIO]:
    """Context manager: a file object for `target` (any path; parent folders are created) whose
    bytes replace the file only when the block ends without an exception (temp + fsync + rename);
    `mode` is an `open()` write mode, `wb` by default. On an exception the temp file is removed and
    the exception propagates; OSError when the folder is not writable."""
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
    """Replace `target` with `text` (text mode, the locale's encoding) atomically, as `atomic_open`
    does; OSError when the folder is not writable."""
    with atomic_open(target, "w") as f:
        f.write(text)


def swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished `tmp` (a file or folder beside `target`) to `target`. An existing
    `target` is moved aside first and removed only after the rename, so a failure puts it back:
    a reader sees the old copy or the whole new one. OSError when a rename fails."""
    if not target.exists() and not target.is_symlink():
        os.rename(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rename(target, old / "x")
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old / "x", target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def temp_beside(target: Path) -> tuple[int, str]:
    """A new hidden temp file beside `target` (`.NAME.XXXX.tmp`), flock'ed for as long as its
    descriptor is open; stale temp files of killed writers are removed first. Its mode is the
    one the finished file must have (`plain_mode`): mkstemp's 0600 would survive the rename."""
    sweep_stale(target)
    mode = plain_mode(target)
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            ours = os.stat(tmp).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:  # a sweeper took it between mkstemp and flock: make another
            ours = False
        if ours:
            os.fchmod(fd, mode)
            return fd, tmp
        os.close(fd)


def plain_mode(target: Path, directory: bool = False) -> int:
    """The permission bits a file (or directory) written to `target` should get: those of the
    file it replaces, else what a plain `open()` (`mkdir()`) gives under the umask,
    0666 (0777) & ~umask. Deploy hosts read weights as another user, so 0600 is wrong."""
    try:
        st = os.stat(target)
    except OSError:
        st = None
    if st is not None and (stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)):
        return stat.S_IMODE(st.st_mode)
    return (0o777 if directory else 0o666) & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it (Linux exposes it in /proc); elsewhere the
    set-and-restore dance, which is brief."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
