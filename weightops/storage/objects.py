"""Small documents in a DVC remote (the published registry index): one PUT to write, and a
conditional GET to read, so a poll that finds nothing new moves a few hundred bytes.

Backends by URL: a local path or `file://` (temp file + rename; the ETag is size and mtime),
`s3://` (botocore; `If-None-Match`), and `http(s)://` (a CDN or static server in front of the
bucket; `If-None-Match`). S3 settings come from the remote's options when publishing, and from
botocore's usual chain (AWS_* variables, AWS_ENDPOINT_URL, profiles) on a host that has no
`.dvc/config`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from weightops.errors import IntegrityError, NotFoundError, WeightopsError
from weightops.storage.pointers import Remote


@dataclass(frozen=True)
class Fetched:
    """A conditional GET's answer: the bytes (None when not modified since the given ETag) and the
    ETag to send next time."""
    data: bytes | None      # None: not modified since `etag`
    etag: str | None


def _join(base: str, key: str) -> str:
    if "://" in base:
        return base.rstrip("/") + "/" + key
    return os.path.join(base, *key.split("/"))


def put(remote: Remote, base: str, key: str, data: bytes) -> str:
    """Write `data` at `key` (a posix path) under the remote's root `base` in one step: a local
    remote atomically (temp + rename), an s3:// one with one PUT (retried). Returns the object's
    URL. WeightopsError (1) for another kind of remote, refused credentials or exhausted retries,
    naming the remote; NotFoundError (3) for a missing bucket; OSError for an unwritable local
    folder."""
    url = _join(base, key)
    if "://" not in base:
        from weightops.core.atomic import atomic_open

        with atomic_open(url) as f:
            f.write(data)
        return url
    if base.startswith("s3://"):
        from weightops.storage import s3

        bucket, obj = s3.split_url(url)
        client = s3.client(remote)
        s3.with_retries(lambda: client.put_object(Bucket=bucket, Key=obj, Body=data,
                                                  ContentType="application/json", CacheControl="no-cache"),
                        remote=remote, url=url, policy=s3.RetryPolicy(), what="PUT")
        return url
    raise WeightopsError(f"remote '{remote.name}' ({remote.url}): publishing supports local and s3:// remotes")


def read_json(remote: Remote, base: str, key: str) -> object | None:
    """The JSON document at `key`, or None when there is none (or it cannot be parsed)."""
    url = _join(base, key)
    try:
        if "://" not in base:
            data = Path(url).read_bytes()
        elif base.startswith("s3://"):
            from weightops.storage import s3

            data = s3.get_bytes(s3.client(remote), remote, url, s3.RetryPolicy(), limit=64 * 1024 * 1024)
        else:
            return None
        return json.loads(data)
    except (FileNotFoundError, NotFoundError, ValueError):
        return None


def get_if_changed(url: str, etag: str | None, *, limit: int, timeout: float = 10.0) -> Fetched:
    """GET `url` unless it still has `etag`. Raises NotFoundError (3) when missing,
    IntegrityError (4) when larger than `limit` bytes, WeightopsError (1) when unreachable."""
    if url.startswith(("http://", "https://")):
        return _http(url, etag, limit, timeout)
    if url.startswith("s3://"):
        return _s3(url, etag, limit)
    path = Path(url[len("file://"):] if url.startswith("file://") else url)
    try:
        st = path.stat()
        tag = f"{st.st_size}-{st.st_mtime_ns}"
        if tag == etag:
            return Fetched(None, etag)
        if st.st_size > limit:
            raise IntegrityError(f"index {url} is {st.st_size} bytes, over the {limit}-byte limit; not read")
        with open(path, "rb") as f:
            return Fetched(f.read(limit + 1), tag)
    except FileNotFoundError:
        raise NotFoundError(f"index {url} does not exist; run `weightops publish`", url=url) from None


def _http(url: str, etag: str | None, limit: int, timeout: float) -> Fetched:
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            data = resp.read(limit + 1)
            return Fetched(data, resp.headers.get("ETag"))
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Fetched(None, etag)
        if exc.code == 404:
            raise NotFoundError(f"index {url} does not exist (HTTP 404); run `weightops publish`", url=url) from None
        raise WeightopsError(f"index {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WeightopsError(f"index {url} unreachable: {getattr(exc, 'reason', exc)}") from None


def _s3(url: str, etag: str | None, limit: int) -> Fetched:
    import botocore.exceptions as bx

    from weightops.storage import s3

    remote = Remote("index", url)
    bucket, key = s3.split_url(url)
    client = s3.client(remote)

    def once() -> Fetched:
        try:
            resp = client.get_object(Bucket=bucket, Key=key, **({"IfNoneMatch": etag} if etag else {}))
        except bx.ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if status == 304 or exc.response.get("Error", {}).get("Code") in ("304", "NotModified"):
                return Fetched(None, etag)
            raise
        if int(resp.get("ContentLength") or 0) > limit:
            resp["Body"].close()
            raise IntegrityError(f"index {url} is {resp['ContentLength']} bytes, over the {limit}-byte limit; not read")
        return Fetched(resp["Body"].read(limit + 1), resp.get("ETag"))
    try:
        return s3.with_retries(once, remote=remote, url=url, policy=s3.RetryPolicy(attempts=2), what="GET")
    except NotFoundError:
        raise NotFoundError(f"index {url} does not exist; run `weightops publish`", url=url) from None
