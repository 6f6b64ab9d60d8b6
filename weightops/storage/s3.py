"""S3 access with the settings DVC users already have (dvc-s3's remote options).

A client is built from the remote's options as `.dvc/config` and `.dvc/config.local` hold them
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
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar
from urllib.parse import urlsplit

from weightops.errors import IntegrityError, NotFoundError, UsageError, WeightopsError
from weightops.storage.pointers import Remote

log = logging.getLogger(__name__)
T = TypeVar("T")

_FALSE = {"false", "0", "no", "off"}
_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
               "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AuthorizationHeaderMalformed"}
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "503", "500", "502", "504"}


class Retryable(Exception):
    """A dropped connection or a 5xx answer: worth another attempt after a pause."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5        # total tries per request, the first included
    base: float = 0.25       # seconds before the second try; doubles, with jitter
    cap: float = 4.0

    def pause(self, attempt: int) -> float:
        return min(self.cap, self.base * (2 ** attempt)) * (0.5 + random.random() / 2)


def split_url(url: str) -> tuple[str, str]:
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


def with_retries(fn: Callable[[], T], *, remote: Remote, url: str, policy: RetryPolicy,
                 what: str = "request") -> T:
    """Call fn; translate its failure; try again on Retryable with bounded backoff."""
    last = ""
    for attempt in range(policy.attempts):
        try:
            return fn()
        except Retryable as exc:
            last = str(exc)
        except WeightopsError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below
            mapped = translate(exc, remote, url)
            if not isinstance(mapped, Retryable):
                if mapped is exc:
                    raise
                raise mapped from None
            last = str(mapped)
        if attempt + 1 < policy.attempts:
            pause = policy.pause(attempt)
            log.info("%s of %s failed (%s); retry %d/%d in %.2fs", what, url, last, attempt + 1,
                     policy.attempts - 1, pause)
            time.sleep(pause)
    raise WeightopsError(f"S3 remote '{remote.name}' unreachable: {what} of {url} failed {policy.attempts} times "
                         f"({last}); check the endpoint and the network, then retry", url=url)


def content_length(resp: dict, url: str) -> int:
    """The answer's Content-Length in bytes. Raises Retryable when it has none: a connection
    dropped inside the headers leaves botocore a 200 without them."""
    try:
        return int(resp["ContentLength"])
    except (KeyError, TypeError, ValueError):
        raise Retryable(f"incomplete answer from {url} (no Content-Length)") from None


def head(s3, remote: Remote, url: str, policy: RetryPolicy) -> dict | None:
    """HEAD an object: its metadata (with a ContentLength), or None when it does not exist."""
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
    """A small object (a directory listing) read whole, bounded."""
    bucket, key = split_url(url)

    def once() -> bytes:
        resp = s3.get_object(Bucket=bucket, Key=key)
        if int(resp.get("ContentLength") or 0) > limit:
            raise WeightopsError(f"{url} is larger than {limit} bytes; it is not a DVC directory listing")
        return resp["Body"].read()
    return with_retries(once, remote=remote, url=url, policy=policy, what="GET")
