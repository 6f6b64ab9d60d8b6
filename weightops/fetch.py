"""Fetch one resolved weights file into place, verified and atomic: the serving side's only
download path, kept to one function (`fetch_verified`) so `weightops.pull` can replace it.

Streams the object from the DVC remote into a temp file beside the destination while hashing
it (sha256 + md5 in one pass), checks size, sha256 (the card's) and md5 (DVC's), and only
then renames it over the destination. A failure leaves the destination untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import NotFoundError, UsageError
from .hashing import CHUNK, Digests, MultiHasher, check_digests
from .resolve import Resolved


def fetch_verified(resolved: Resolved, dest: str | os.PathLike) -> Digests:
    """Copy `resolved`'s object to `dest` atomically after verifying it. Local and file://
    DVC remotes only (remote object stores go through `weightops pull`)."""
    if resolved.md5.endswith(".dir"):
        raise UsageError(f"{resolved.tag}: {resolved.path} is a directory artifact; "
                         "use `weightops pull` for directories")
    url = resolved.url
    if url is None:
        raise NotFoundError(f"{resolved.tag}: no DVC remote is configured; add one with `dvc remote add -d`")
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" in url:
        raise UsageError(f"{resolved.tag}: remote {resolved.remote} ({url.split('://')[0]}) needs "
                         "`weightops pull`; this build fetches from local DVC remotes only")
    source = Path(url)
    if not source.is_file():
        raise NotFoundError(f"{resolved.tag}: object {source} is missing from DVC remote "
                            f"'{resolved.remote}'; run `dvc push` where it was trained")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".incomplete", dir=dest.parent)
    try:
        hasher = MultiHasher()
        with hasher, os.fdopen(fd, "wb") as out, open(source, "rb", buffering=0) as src:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while n := src.readinto(buf):
                out.write(view[:n])
                hasher.update(view[:n])
            out.flush()
            os.fsync(out.fileno())
            digests = hasher.finish()
        check_digests(digests, size=resolved.size, sha256=resolved.sha256, md5=resolved.md5,
                      what=f"{resolved.tag} ({source})", ref=resolved.tag)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a serving process may run as another user
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return digests
