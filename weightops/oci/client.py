"""A small client for the OCI distribution API (distribution-spec v1.1), on urllib3.

What it speaks: `GET /v2/` ping; blob HEAD, GET (streamed, redirects followed with the
Authorization header dropped off-host, as urllib3 does), upload by `POST` then one `PUT ?digest=`
(the spec's "POST then PUT" monolithic upload, body streamed from an iterator), cross-repository
mount (`POST .../blobs/uploads/?mount=DIGEST&from=REPO`, 201 when mounted, 202 an upload session
otherwise); manifest HEAD, GET (capped), PUT, DELETE; tag listing with `Link` pagination.
Authentication: on a 401 the `WWW-Authenticate` challenge decides: `Basic` sends the
credentials found by auth.find_credentials, `Bearer realm=,service=,scope=` runs the token flow
(GET the realm with the scopes, Basic credentials if any, docker's `identitytoken` as a refresh
token by POST); tokens are cached per scope. Plain HTTP only for loopback registries or when
asked (`plain_http`), as docker does. Secrets never appear in messages or logs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Iterable
from urllib.parse import urlencode, urljoin

import urllib3

from weightops.errors import IntegrityError, NotFoundError, RefusedError, UsageError, WeightopsError
from weightops.oci.auth import Credentials, find_credentials, parse_challenge
from weightops.oci.reference import is_loopback
from weightops.oci.streams import VerifyingReader, read_capped

log = logging.getLogger(__name__)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
# containerd refuses manifests over 4 MiB (remotes' MaxManifestSize); a real ModelPack manifest of
# a 1,000-shard checkpoint is ~400 KB, so anything larger is hostile or broken.
MAX_MANIFEST = 4 * 1024 * 1024
SEND_BLOCK = 4 * 1024 * 1024   # the upload block, equal to the DVC store's chunk, so no chunk is re-sliced


class Client:
    """One registry (`host[:port]`). `plain_http`: None picks HTTP for loopback hosts and HTTPS
    otherwise; `credentials`: None looks them up on the first 401 (auth.find_credentials);
    `ca_certs`: a CA bundle path for HTTPS. Counts `sent` blob bytes (upload bodies) for callers
    that report them."""

    def __init__(self, registry: str, *, plain_http: bool | None = None, credentials: Credentials | None = None,
                 timeout: float = 60.0, ca_certs: str | None = None) -> None:
        self.registry = registry
        insecure = is_loopback(registry) if plain_http is None else plain_http
        self.base = f"{'http' if insecure else 'https'}://{registry}"
        self._creds = credentials
        self._looked_up = credentials is not None
        self._tokens: dict[str, str] = {}     # scope -> "Bearer ..." / "Basic ..."
        self._basic = False
        self.sent = 0
        kw = {"ca_certs": ca_certs} if ca_certs else {}
        self.http = urllib3.PoolManager(num_pools=4, maxsize=8, blocksize=SEND_BLOCK,
                                        timeout=urllib3.Timeout(connect=15.0, read=timeout),
                                        retries=urllib3.Retry(total=3, connect=3, read=0, status=0, redirect=5,
                                                              allowed_methods={"GET", "HEAD"}), **kw)

    # ------------------------------------------------------------------ plumbing
    def _credentials(self) -> Credentials | None:
        if not self._looked_up:
            self._creds = find_credentials(self.registry)
            self._looked_up = True
        return self._creds

    def request(self, method: str, path: str, *, scope: str, headers: dict | None = None, body=None,
                stream: bool = False, fields: dict | None = None, redirect: bool = True):
        """One request to `base + path` with authentication (see module docstring); `scope` is the
        token scope (`repository:NAME:pull`, space-separated for several). Returns the urllib3
        response (body unread when `stream`). WeightopsError (1) when the registry cannot be
        reached or refuses the credentials."""
        url = path if path.startswith(("http://", "https://")) else self.base + path
        if fields:
            url += ("&" if "?" in url else "?") + urlencode(fields)
        for attempt in (1, 2):
            hdrs = dict(headers or {})
            auth = self._tokens.get(scope) or (self._credentials().basic() if self._basic and self._credentials() else None)
            if auth:
                hdrs["Authorization"] = auth
            try:
                resp = self.http.request(method, url, headers=hdrs, body=body, preload_content=not stream,
                                         redirect=redirect, decode_content=False)
            except urllib3.exceptions.HTTPError as exc:
                raise WeightopsError(f"cannot reach registry {self.registry}: {type(exc).__name__}") from None
            if resp.status != 401 or attempt == 2 or (body is not None and not hasattr(body, "seek")
                                                      and not isinstance(body, (bytes, str))):
                break
            resp.drain_conn()
            self._authenticate(resp.headers.get("WWW-Authenticate", ""), scope)
        if resp.status == 401:
            creds = self._credentials()
            resp.drain_conn()
            if creds is None:
                raise WeightopsError(self._login_hint())
            raise WeightopsError(f"registry {self.registry} refused the credentials from {creds.source or 'the auth file'}")
        return resp

    def _login_hint(self) -> str:
        return (f"registry {self.registry} requires credentials: log in with `docker login {self.registry}` "
                "(or podman/oras login), or set REGISTRY_AUTH_FILE")

    def _authenticate(self, header: str, scope: str) -> None:
        scheme, params = parse_challenge(header)
        creds = self._credentials()
        if scheme == "basic":
            if creds is None:
                return   # request() says what to do
            self._basic = True
            self._tokens[scope] = creds.basic()
            return
        if scheme != "bearer" or not params.get("realm"):
            raise WeightopsError(f"registry {self.registry} asks for authentication weightops does not speak ({scheme or 'none'})")
        query = [("service", params["service"])] if params.get("service") else []
        query += [("scope", s) for s in scope.split()]
        realm = params["realm"]
        if not realm.startswith("https://") and not (realm.startswith("http://") and self.base.startswith("http://")):
            raise RefusedError(f"registry {self.registry} sends credentials to a token realm over plain HTTP; refused")
        if creds is not None and creds.identity_token:
            body = urlencode([("grant_type", "refresh_token"), ("refresh_token", creds.identity_token),
                              ("client_id", "weightops"), *query])
            resp = self.http.request("POST", realm, body=body,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            hdrs = {"Authorization": creds.basic()} if creds is not None else {}
            resp = self.http.request("GET", realm + ("&" if "?" in realm else "?") + urlencode(query), headers=hdrs)
        if resp.status in (401, 403) and creds is None:
            raise WeightopsError(self._login_hint())
        if resp.status != 200:
            raise WeightopsError(f"registry {self.registry}: its token service refused "
                                 f"{'the credentials from ' + (creds.source or 'the auth file') if creds else 'an anonymous request'} "
                                 f"(HTTP {resp.status})")
        try:
            doc = json.loads(resp.data)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise WeightopsError(f"registry {self.registry}: its token service answered without a token")
        self._tokens[scope] = f"Bearer {token}"

    def _fail(self, resp, what: str) -> WeightopsError:
        """The error for an unexpected answer: the registry's own error code and message, never headers."""
        detail = ""
        try:
            data = resp.data if resp.data is not None else b""
            errors = json.loads(data[:65536]).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {str(e.get('message'))[:200]}" for e in errors[:3])
        except (ValueError, AttributeError, TypeError):
            pass
        msg = f"registry {self.registry}: {what} answered HTTP {resp.status}" + (f" ({detail})" if detail else "")
        if resp.status == 404:
            return NotFoundError(msg)
        return WeightopsError(msg)

    @staticmethod
    def _scope(repo: str, push: bool = False) -> str:
        return f"repository:{repo}:{'pull,push' if push else 'pull'}"

    # ------------------------------------------------------------------ blobs
    def blob_size(self, repo: str, digest: str) -> int | None:
        """The blob's size in bytes if the repository has it (HEAD), else None."""
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=self._scope(repo))
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self._fail(resp, f"HEAD blob {digest[:19]}")
        length = resp.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else -1

    def mount_blob(self, repo: str, digest: str, source: str) -> bool:
        """Ask the registry to link blob `digest` from repository `source` into `repo` without
        sending it. True when mounted (201); False when the registry declined (it opened an upload
        session instead, which is abandoned; registries expire those)."""
        scope = f"{self._scope(repo, True)} {self._scope(source)}"
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope, fields={"mount": digest, "from": source})
        resp.drain_conn()
        if resp.status == 201:
            return True
        if resp.status in (202, 404):
            return False
        raise self._fail(resp, "mount")

    def upload_blob(self, repo: str, digest: str, size: int, chunks: Iterable[bytes], *, what: str = "") -> int:
        """Upload one blob: POST for a session, then one streamed PUT with `?digest=`. The bytes are
        hashed as they go and the last chunk is held back unless size and SHA-256 match `digest`,
        so a registry never completes an upload of other bytes. Returns the bytes sent.
        IntegrityError (4) when the bytes disagree (`what` names them); WeightopsError (1) when the
        registry refuses."""
        scope = self._scope(repo, True)
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope)
        if resp.status != 202 or not resp.headers.get("Location"):
            raise self._fail(resp, "POST upload")
        location = urljoin(self.base + "/", resp.headers["Location"])
        body = VerifyingReader(chunks, digest, size, what or digest)
        put = self.request("PUT", location, scope=scope, body=body, fields={"digest": digest},
                           headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        if put.status != 201:
            raise self._fail(put, f"PUT blob {digest[:19]}")
        self.sent += size
        return size

    def open_blob(self, repo: str, digest: str):
        """The blob's response, body unread (stream it with `oci.streams.stream_to`; release with
        `.release_conn()`). NotFoundError (3) when absent."""
        resp = self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=self._scope(repo), stream=True)
        if resp.status != 200:
            resp.read()
            raise self._fail(resp, f"GET blob {digest[:19]}")
        return resp

    def read_blob(self, repo: str, digest: str, limit: int = MAX_MANIFEST) -> bytes:
        """A small blob (a config) read whole and checked against `digest`. RefusedError (5) when
        it is larger than `limit` bytes, IntegrityError (4) when its bytes do not hash to `digest`."""
        resp = self.open_blob(repo, digest)
        try:
            data = read_capped(resp, limit, f"blob {digest}")
        finally:
            resp.release_conn()
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise IntegrityError(f"registry {self.registry}: blob {digest} in {repo} holds bytes hashing to {actual}",
                                 expected=digest, actual=actual)
        return data

    # ------------------------------------------------------------------ manifests and tags
    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """(bytes, digest, media type) of the manifest `ref` (tag or digest), at most MAX_MANIFEST
        bytes (RefusedError, 5, otherwise). Pinned by digest, the bytes must hash to it
        (IntegrityError, 4). NotFoundError (3) when absent."""
        resp = self.request("GET", f"/v2/{repo}/manifests/{ref}", scope=self._scope(repo),
                            headers={"Accept": ACCEPT}, stream=True)
        if resp.status != 200:
            resp.read()
            raise self._fail(resp, f"GET manifest {repo}:{ref}") if resp.status != 404 else \
                NotFoundError(f"{self.registry}/{repo}: no manifest '{ref}'")
        try:
            data = read_capped(resp, MAX_MANIFEST, f"manifest {repo}:{ref}")
        finally:
            resp.release_conn()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise IntegrityError(f"registry {self.registry}: manifest {ref} in {repo} holds bytes hashing to {digest}",
                                 expected=ref, actual=digest)
        return data, digest, (resp.headers.get("Content-Type") or "").split(";")[0].strip()

    def manifest_digest(self, repo: str, ref: str) -> str | None:
        """The digest the registry reports for manifest `ref` (HEAD, `Docker-Content-Digest`),
        None when absent; falls back to GET when the header is missing."""
        resp = self.request("HEAD", f"/v2/{repo}/manifests/{ref}", scope=self._scope(repo), headers={"Accept": ACCEPT})
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self._fail(resp, f"HEAD manifest {repo}:{ref}")
        found = resp.headers.get("Docker-Content-Digest")
        return found if found else self.get_manifest(repo, ref)[1]

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str = OCI_MANIFEST) -> str:
        """PUT manifest bytes under `ref` (a tag or their digest); returns the digest."""
        resp = self.request("PUT", f"/v2/{repo}/manifests/{ref}", scope=self._scope(repo, True), body=data,
                            headers={"Content-Type": media_type})
        if resp.status not in (200, 201):
            raise self._fail(resp, f"PUT manifest {repo}:{ref}")
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def delete_manifest(self, repo: str, ref: str) -> bool:
        """DELETE a manifest or tag (`ref`); True when deleted, False when absent. UsageError (2)
        when the registry does not allow deletes (HTTP 405 / UNSUPPORTED)."""
        resp = self.request("DELETE", f"/v2/{repo}/manifests/{ref}", scope=self._scope(repo, True).replace("push", "push,delete"))
        if resp.status in (200, 202):
            return True
        if resp.status == 404:
            return False
        if resp.status in (400, 405):
            raise UsageError(f"registry {self.registry} does not delete '{ref}' in {repo} (HTTP {resp.status})")
        raise self._fail(resp, f"DELETE manifest {repo}:{ref}")

    def tags(self, repo: str) -> list[str]:
        """Every tag of the repository (following `Link` pagination); [] when it does not exist."""
        out: list[str] = []
        path = f"/v2/{repo}/tags/list"
        for _ in range(10_000):
            resp = self.request("GET", path, scope=self._scope(repo))
            if resp.status == 404:
                return out
            if resp.status != 200:
                raise self._fail(resp, "tags/list")
            try:
                out += [t for t in (json.loads(resp.data).get("tags") or []) if isinstance(t, str)]
            except (ValueError, AttributeError):
                raise WeightopsError(f"registry {self.registry}: tags/list of {repo} is not JSON") from None
            link = resp.headers.get("Link", "")
            if "<" not in link:
                return out
            path = link[link.index("<") + 1:link.index(">")]
        return out
