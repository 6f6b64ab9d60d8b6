"""S3 access with the settings DVC users already have (dvc-s3's remote options).

A client is built from the remote's options as DVC's config levels hold them (storage/dvc_config.py)
(`endpointurl`, `region`, `profile`, `credentialpath`, `access_key_id`/`secret_access_key`/
`session_token`, `use_ssl`, `ssl_verify`, `connect_timeout`, `read_timeout`), falling back to
botocore's usual chain (environment, profile, instance role). Credentials are only read, never
written anywhere. botocore (already required by dvc-s3; boto3 is not needed) is imported here
only, so `weightops resolve` never pays for it.

Errors are mapped once, here: a missing object is NotFoundError naming the URL, a refused
credential is WeightopsError naming the remote, transient failures are `Retryable`.
"""

from __future__ import annotations

import logging
from typing import Iterator
from urllib.parse import urlsplit

from weightops.errors import IntegrityError, NotFoundError, UsageError, WeightopsError
from weightops.storage.pointers import Remote
from weightops.storage.retry import Retryable, RetryPolicy  # noqa: F401 - re-exported
from weightops.storage.store import CHUNK, ObjectVersion, Stat, Store

log = logging.getLogger(__name__)

_FALSE = {"false", "0", "no", "off"}
_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
               "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AuthorizationHeaderMalformed"}
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "503", "500", "502", "504"}


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key). UsageError (2) for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(f"'{url}' is not an s3://bucket/key URL")
    return parts.netloc, parts.path.lstrip("/")


def client(remote: Remote, *, jobs: int = 1):
    """An S3 client configured like dvc-s3 would configure itself for this remote."""
    import botocore.config
    import botocore.session

    opts = {k.lower(): v for k, v in (remote.options or {}).items()}
    core = botocore.session.Session(profile=opts.get("profile") or None)
    if opts.get("credentialpath"):
        core.set_config_variable("credentials_file", opts["credentialpath"])
    if opts.get("configpath"):
        core.set_config_variable("config_file", opts["configpath"])
    kwargs: dict = {}
    endpoint = opts.get("endpointurl")
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    region = opts.get("region") or core.get_config_variable("region") or "us-east-1"
    kwargs["region_name"] = region
    if opts.get("access_key_id") and opts.get("secret_access_key"):
        kwargs["aws_access_key_id"] = opts["access_key_id"]
        kwargs["aws_secret_access_key"] = opts["secret_access_key"]
        if opts.get("session_token"):
            kwargs["aws_session_token"] = opts["session_token"]
    if str(opts.get("use_ssl", "true")).lower() in _FALSE:
        kwargs["use_ssl"] = False
    verify = opts.get("ssl_verify")
    if verify is not None:
        kwargs["verify"] = False if str(verify).lower() in _FALSE else (True if str(verify).lower() == "true" else verify)
    config = botocore.config.Config(
        max_pool_connections=max(10, jobs + 2),
        retries={"total_max_attempts": 1},  # our own loop retries, and resumes mid-stream
        connect_timeout=float(opts.get("connect_timeout", 10)),
        read_timeout=float(opts.get("read_timeout", 60)),
        # Custom endpoints (MinIO, Ceph, moto) rarely have per-bucket DNS names.
        s3={"addressing_style": "path" if endpoint else "auto"},
    )
    return core.create_client("s3", config=config, **kwargs)


def translate(exc: BaseException, remote: Remote, url: str) -> BaseException:
    """Map a botocore/urllib3 exception to Retryable or a WeightopsError."""
    import botocore.exceptions as bx

    name = remote.name
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return WeightopsError(f"no credentials for S3 remote '{name}': set access_key_id/secret_access_key "
                              "with `dvc remote modify --local`, a profile, or AWS_* variables")
    if isinstance(exc, bx.ProfileNotFound):
        return WeightopsError(f"S3 remote '{name}': {exc}; fix 'profile' in .dvc/config")
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _MISSING_CODES or status == 404:
            what = "bucket" if code == "NoSuchBucket" else "object"
            return NotFoundError(f"{what} {url} not found in remote '{name}'; run `dvc push`", url=url)
        if code in _AUTH_CODES or status == 403:
            return WeightopsError(f"S3 remote '{name}' refused the credentials ({code or status}) for {url}; "
                                  "check access_key_id/profile in .dvc/config.local or AWS_* variables", url=url)
        if code in ("PreconditionFailed",) or status == 412:
            return IntegrityError(f"{url} changed on remote '{name}' during the download; nothing was written",
                                  ref=None, url=url)
        if code in _TRANSIENT_CODES or status >= 500:
            return Retryable(f"{code or status} from {url}")
        return WeightopsError(f"S3 remote '{name}' answered {code or status} for {url}: {err.get('Message', '')}".strip())
    transient = (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.ReadTimeoutError,
                 bx.ConnectTimeoutError, bx.IncompleteReadError, bx.ResponseStreamingError,
                 bx.HTTPClientError, ConnectionError, TimeoutError)
    try:
        import urllib3.exceptions as ux
        transient = transient + (ux.HTTPError,)
    except ImportError:  # pragma: no cover - urllib3 ships with botocore
        pass
    if isinstance(exc, transient):
        return Retryable(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return exc


class S3Store(Store):
    """An S3 remote through botocore: streamed GETs that resume with `Range` + `If-Match`, and
    parallel ranged GETs (`jobs` > 1) for one large object."""

    kind = "s3"
    parallel_ranges = True
    _client: object = None

    @property
    def s3(self):
        """The botocore client for this remote, built on first use (see `client`)."""
        if self._client is None:
            self._client = client(self.remote, jobs=self.jobs)
        return self._client

    def translate(self, exc: BaseException, url: str) -> BaseException:
        """Map a botocore/urllib3 exception as the module-level `translate` does."""
        return translate(exc, self.remote, url)

    def stat(self, url: str, *, version: str | None = None) -> Stat | None:
        """As Store.stat: size (bytes), ETag and VersionId from a HEAD, or None when absent. Refused
        credentials are WeightopsError (1); transient failures are retried."""
        bucket, key = split_url(url)
        kw = {"VersionId": version} if version else {}

        def once() -> dict:
            meta = self.s3.head_object(Bucket=bucket, Key=key, **kw)
            content_length(meta, url)
            return meta
        try:
            meta = self.call(once, url, "HEAD")
        except NotFoundError:
            return None
        return Stat(int(meta["ContentLength"]), meta.get("ETag"), meta.get("VersionId"))

    def open_range(self, url: str, start: int = 0, *, version: str | None = None,
                   etag: str | None = None, end: int | None = None) -> Iterator[bytes]:
        """As Store.open_range, with a `Range` header from `start` (to `end`, exclusive, when given)
        and `If-Match` for `etag`. botocore exceptions propagate untranslated; the caller's retry
        loop maps them (a changed object: IntegrityError, exit 4)."""
        bucket, key = split_url(url)
        kw: dict = {}
        if start or end is not None:
            kw["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        if etag:
            kw["IfMatch"] = etag
        if version:
            kw["VersionId"] = version
        resp = self.s3.get_object(Bucket=bucket, Key=key, **kw)
        content_length(resp, url)
        body = resp["Body"]
        while chunk := body.read(CHUNK):
            yield chunk

    def open(self, url: str, *, version: str | None = None) -> tuple[Stat, Iterator[bytes]]:
        """One GET: its headers give the size and ETag the resume and the size check need."""
        bucket, key = split_url(url)
        resp = self.s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
        stat = Stat(content_length(resp, url), resp.get("ETag"), resp.get("VersionId"))
        body = resp["Body"]

        def chunks() -> Iterator[bytes]:
            while chunk := body.read(CHUNK):
                yield chunk
        return stat, chunks()

    def list(self, prefix: str) -> list[str]:
        """As Store.list: `s3://` URLs of the keys under `prefix`/ (list_objects_v2, every page)."""
        bucket, key = split_url(prefix)
        pages = self.call(lambda: list(self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=key.rstrip("/") + "/")), prefix, "LIST")
        return [f"s3://{bucket}/{o['Key']}" for page in pages for o in page.get("Contents") or []]

    def versions(self, url: str) -> list[ObjectVersion]:
        """Every stored version of the key (list_object_versions), newest first; `null` versions of
        an unversioned bucket are left out."""
        bucket, key = split_url(url)
        pages = self.call(lambda: list(self.s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=key)), url, "LIST versions")
        found = [ObjectVersion(v["VersionId"], int(v.get("Size") or 0), v.get("ETag"), bool(v.get("IsLatest")),
                               str(v.get("LastModified") or ""))
                 for page in pages for v in page.get("Versions") or [] if v.get("Key") == key
                 and v.get("VersionId") not in (None, "null")]
        return sorted(found, key=lambda v: v.modified, reverse=True)

    def versioning(self) -> bool | None:
        """True when the bucket's versioning is Enabled, False otherwise, None when it cannot be
        read (no permission, an endpoint without the call)."""
        bucket, _ = split_url(self.base + "/x")
        try:
            resp = self.call(lambda: self.s3.get_bucket_versioning(Bucket=bucket), self.base, "GET versioning")
        except WeightopsError:
            return None
        return resp.get("Status") == "Enabled"


def content_length(resp: dict, url: str) -> int:
    """The answer's Content-Length in bytes. Raises Retryable when it has none: a connection
    dropped inside the headers leaves botocore a 200 without them."""
    try:
        return int(resp["ContentLength"])
    except (KeyError, TypeError, ValueError):
        raise Retryable(f"incomplete answer from {url} (no Content-Length)") from None


def with_retries(fn, *, remote: Remote, url: str, policy: RetryPolicy, what: str = "request"):
    """`retry.with_retries` with S3's error translation (for callers holding a bare client)."""
    from weightops.storage import retry

    return retry.with_retries(fn, translate=lambda exc, u: translate(exc, remote, u), url=url, policy=policy,
                              remote=remote.name, what=what)


def head(s3, remote: Remote, url: str, policy: RetryPolicy) -> dict | None:
    """HEAD an object: its metadata (with a ContentLength), or None when it does not exist.
    WeightopsError (1) for refused credentials or exhausted retries, naming the remote."""
    bucket, key = split_url(url)

    def once() -> dict:
        meta = s3.head_object(Bucket=bucket, Key=key)
        content_length(meta, url)
        return meta
    try:
        return with_retries(once, remote=remote, url=url, policy=policy, what="HEAD")
    except NotFoundError:
        return None


def get_bytes(s3, remote: Remote, url: str, policy: RetryPolicy, limit: int = 64 * 1024 * 1024) -> bytes:
    """A small object (a directory listing, an index document) read whole, bounded. WeightopsError
    (1) when it is larger than `limit` bytes, for refused credentials or exhausted retries;
    NotFoundError (3) when absent."""
    bucket, key = split_url(url)

    def once() -> bytes:
        resp = s3.get_object(Bucket=bucket, Key=key)
        if content_length(resp, url) > limit:
            raise WeightopsError(f"{url} is larger than {limit} bytes; it is not a DVC directory listing")
        return resp["Body"].read()
    return with_retries(once, remote=remote, url=url, policy=policy, what="GET")
