"""Pull a ModelPack artifact from a registry to a path: every check before the first byte is
written, every byte verified while it streams, one rename at the end.

Order: manifest (capped, parsed and refused if hostile, exit 5), config blob (capped, digest
checked), a HEAD of every layer blob whose size must equal its descriptor's (exit 5 otherwise), then
the bytes into a temp file or folder beside the destination, each blob hashed as it streams (a
blob whose bytes disagree: exit 4, the temp removed), then the rename. A destination already
holding the right bytes is left alone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from weightops.core.atomic import plain_mode, swap_into_place, temp_beside
from weightops.errors import IntegrityError, NotFoundError, RefusedError
from weightops.oci import modelpack
from weightops.oci.client import Client
from weightops.oci.streams import stream_to
from weightops.oci.reference import Reference


@dataclass(frozen=True)
class Inspected:
    """A manifest read and checked: the reference asked for, the manifest `digest`, the parsed
    `artifact` and the config document."""

    reference: Reference
    digest: str
    artifact: modelpack.Artifact
    config: dict

    @property
    def descriptor(self) -> dict:
        """The config's `descriptor` (name, version, revision, ...), {} when absent."""
        d = self.config.get("descriptor")
        return d if isinstance(d, dict) else {}

    def to_dict(self) -> dict:
        """JSON shape for `resolve oci://... --json`: reference, digest, pinned (`oci://...@digest`),
        model, version, revision, format and files (path, digest, size, mediaType)."""
        cfg = self.config.get("config") if isinstance(self.config.get("config"), dict) else {}
        return {"reference": str(self.reference), "digest": self.digest,
                "pinned": str(self.reference.with_digest(self.digest)),
                "model": self.descriptor.get("name"), "version": self.descriptor.get("version"),
                "revision": self.descriptor.get("revision"), "format": cfg.get("format"),
                "files": [{"path": f.path, "digest": f.digest, "size": f.size, "mediaType": f.media_type}
                          for f in self.artifact.files]}


@dataclass(frozen=True)
class Fetched:
    """One pull from a registry: what was inspected, the path written, files, bytes transferred
    (0 when the destination was already right) and wall-clock seconds."""

    inspected: Inspected
    path: Path
    files: int
    transferred: int
    seconds: float


def inspect(client: Client, ref: Reference) -> Inspected:
    """Read and check the manifest and config of `ref` and the size of every layer blob (HEAD).
    RefusedError (5) for a hostile or unsupported artifact or a blob whose size disagrees with its
    descriptor; NotFoundError (3) for a missing manifest or blob; IntegrityError (4) when a blob
    pinned by digest holds other bytes."""
    data, digest, _ = client.get_manifest(ref.repository, ref.ref)
    what = str(ref)
    art = modelpack.parse_manifest(data, what)
    raw = client.read_blob(ref.repository, art.config_digest)
    if len(raw) != art.config_size:
        raise RefusedError(f"{what}: the config blob is {len(raw)} bytes, its descriptor says {art.config_size}; "
                           "refused, nothing was written")
    config = modelpack.parse_config(raw, what)
    for layer in art.files:
        size = client.blob_size(ref.repository, layer.digest)
        if size is None:
            raise NotFoundError(f"{what}: blob {layer.digest} ({layer.path}) is not in {ref.name}")
        if size >= 0 and size != layer.size:
            raise RefusedError(f"{what}: layer {layer.path} is {size} bytes in the registry, its descriptor says "
                               f"{layer.size}; refused, nothing was written")
    return Inspected(ref, digest, art, config)


def single_file(art: modelpack.Artifact) -> bool:
    """Is the artifact one file at the top (pulled as a file, not a folder)?"""
    return len(art.files) == 1 and "/" not in art.files[0].path


def default_target(inspected: Inspected, dest: str | os.PathLike | None) -> tuple[Path, list[tuple[str, modelpack.Layer]]]:
    """Where the artifact goes and each layer's path below it. One top-level file: `dest` (an
    existing folder, or one ending in `/`, receives it under its name; default ./NAME). Files under
    one common folder D: the folder `dest` (default ./D) holds what is below D. Otherwise the
    folder `dest` (default ./REPOSITORY-BASENAME) holds the paths as they are."""
    files = inspected.artifact.files
    if single_file(inspected.artifact):
        name = files[0].path
        if dest is None:
            return Path.cwd() / name, [("", files[0])]
        target = Path(dest)
        if target.is_dir() or str(dest).endswith(("/", os.sep)):
            target = target / name
        return target, [("", files[0])]
    tops = {f.path.split("/", 1)[0] for f in files}
    if len(tops) == 1 and all("/" in f.path for f in files):
        top = tops.pop()
        rel = [(f.path.split("/", 1)[1], f) for f in files]
        return (Path(dest) if dest is not None else Path.cwd() / top), rel
    base = inspected.reference.repository.rsplit("/", 1)[-1]
    return (Path(dest) if dest is not None else Path.cwd() / base), [(f.path, f) for f in files]


def _same_file(path: Path, layer: modelpack.Layer) -> bool:
    if not path.is_file() or path.is_symlink() or path.stat().st_size != layer.size:
        return False
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest() == layer.digest


def fetch(client: Client, ref: Reference, dest: str | os.PathLike | None = None, *,
          inspected: Inspected | None = None, progress: Callable[[int, int | None], None] | None = None,
          fsync: bool = False) -> Fetched:
    """Pull `ref` (tag or digest) to `dest` (see default_target), verified and atomic; errors as
    `inspect`, plus IntegrityError (4) when a blob's bytes disagree with its digest or size
    (nothing is left at the destination). `inspected`: a result of `inspect` to reuse;
    `progress(done, total)` in bytes."""
    started = time.monotonic()
    inspected = inspected or inspect(client, ref)
    target, entries = default_target(inspected, dest)
    total = sum(layer.size for _, layer in entries)
    if single_file(inspected.artifact):
        layer = entries[0][1]
        if _same_file(target, layer):
            return Fetched(inspected, target, 1, 0, time.monotonic() - started)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_beside(target)
        try:
            with os.fdopen(fd, "wb") as f:
                _write_layer(client, ref, layer, f, progress, 0, total, fsync)
            os.chmod(tmp, plain_mode(target))
            os.replace(tmp, target)
        except BaseException:
            _unlink(tmp)
            raise
        return Fetched(inspected, target, 1, layer.size, time.monotonic() - started)
    if target.is_dir() and all(_same_file(target.joinpath(*rel.split("/")), layer) for rel, layer in entries):
        return Fetched(inspected, target, len(entries), 0, time.monotonic() - started)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp_dir, plain_mode(target, directory=True))
    done = 0
    try:
        for rel, layer in entries:
            out = tmp_dir.joinpath(*rel.split("/"))
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "xb") as f:
                _write_layer(client, ref, layer, f, progress, done, total, fsync)
            done += layer.size
        _swap(tmp_dir, target)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return Fetched(inspected, target, len(entries), done, time.monotonic() - started)


def _write_layer(client, ref, layer, f, progress, base: int, total: int, fsync: bool) -> None:
    resp = client.open_blob(ref.repository, layer.digest)
    seen = [base]

    def tick(n: int) -> None:
        seen[0] += n
        progress(seen[0], total)
    try:
        stream_to(resp, f.write, layer.size, layer.digest, f"{ref}: {layer.path}", tick if progress else None)
    except IntegrityError as exc:
        raise IntegrityError(f"{exc.message}; the blob in the registry is damaged, nothing was written",
                             expected=exc.expected, actual=exc.actual, ref=str(ref)) from None
    if fsync:
        f.flush()
        os.fsync(f.fileno())


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _swap(tmp: Path, target: Path) -> None:
    """Rename the finished folder into place; a previous copy is moved aside first and removed after."""
    if (target.exists() or target.is_symlink()) and (not target.is_dir() or target.is_symlink()):
        raise RefusedError(f"{target} exists and is not a folder; remove it or choose another -o")
    swap_into_place(tmp, target)
