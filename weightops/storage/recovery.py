"""Damaged objects in a bucket that keeps object versions: find the version that still holds
the released bytes. On a content-addressed remote the key is the bytes' MD5, and S3 reports
a single-part object's MD5 as its ETag, so a matching version is found from metadata alone;
a recovered download is still verified against the card's SHA-256 like any other."""

from __future__ import annotations

from dataclasses import dataclass

from weightops.storage.pointers import Pointer
from weightops.storage.store import ObjectVersion, Store


def etag_md5(etag: str | None) -> str | None:
    """The MD5 an S3 ETag states (single-part uploads), else None (multipart `...-N`, other stores)."""
    value = (etag or "").strip().strip('"').lower()
    return value if len(value) == 32 and all(c in "0123456789abcdef" for c in value) else None


@dataclass(frozen=True)
class Health:
    """What the remote holds for one object: `state` is "ok", "missing", "damaged" or
    "unknown" (the backend cannot tell without reading the bytes); `repair` is the stored
    version that holds the released bytes, when one does."""

    state: str
    repair: ObjectVersion | None = None


def repair_candidates(store: Store, url: str, pointer: Pointer) -> list[ObjectVersion]:
    """Non-current versions of the key whose size and MD5 are the pointer's, newest first."""
    if pointer.is_dir or pointer.legacy:
        return []
    return [v for v in store.versions(url) if not v.latest and etag_md5(v.etag) == pointer.md5
            and (pointer.size is None or v.size == pointer.size)]


def object_health(store: Store, pointer: Pointer) -> Health:
    """Check one file object from its metadata: present, of the pointer's size and (where the
    backend's etag is the MD5) of its MD5; when not, look for a version that repairs it."""
    url = store.url(pointer)
    if pointer.is_dir or store.remote.cloud_versioned:
        return Health("unknown")
    stat = store.stat(url)
    if stat is None:
        found = repair_candidates(store, url, pointer)
        return Health("missing", found[0] if found else None)
    damaged = (pointer.size is not None and stat.size >= 0 and stat.size != pointer.size) or \
        (store.kind == "s3" and etag_md5(stat.etag) not in (None, pointer.md5))
    if not damaged:
        return Health("ok" if store.kind == "s3" and etag_md5(stat.etag) else "unknown")
    found = repair_candidates(store, url, pointer)
    return Health("damaged", found[0] if found else None)
