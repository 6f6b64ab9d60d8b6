"""OCI references (`oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`), parsed the way docker's
distribution/reference grammar reads them: the first path component is the registry, the rest the
repository (lower-case components separated by `/`), a tag is `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`
and a digest `sha256:` with 64 lower-case hex digits.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from weightops.errors import UsageError

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                      r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class Reference:
    """One artifact or repository: `registry` (host[:port]), `repository`, and a `tag` and/or
    `digest` (None when absent)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def ref(self) -> str:
        """What the manifest endpoint is asked for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def name(self) -> str:
        """`REGISTRY/REPOSITORY`, as `oras` and `skopeo` name it."""
        return f"{self.registry}/{self.repository}"

    def with_tag(self, tag: str) -> "Reference":
        """The same repository at `tag` (validated: UsageError, exit 2)."""
        return Reference(self.registry, self.repository, check_tag(tag), None)

    def with_digest(self, digest: str) -> "Reference":
        """The same repository pinned to `digest`."""
        return Reference(self.registry, self.repository, None, check_digest(digest))

    def __str__(self) -> str:
        tail = (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")
        return f"oci://{self.name}{tail}"


def is_oci(text: object) -> bool:
    """Does `text` name an OCI artifact (`oci://...`)?"""
    return isinstance(text, str) and text.startswith("oci://")


def parse(text: str, *, need_ref: bool = False) -> Reference:
    """`oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]` (the `oci://` prefix is optional) -> Reference.
    `need_ref`: a tag or digest must be present. UsageError (2) naming the part that is wrong."""
    body = text[len("oci://"):] if text.startswith("oci://") else text
    digest = None
    if "@" in body:
        body, digest = body.split("@", 1)
        check_digest(digest)
    registry, sep, rest = body.partition("/")
    if not sep or not rest:
        raise UsageError(f"'{text}' is not an OCI reference: write oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]")
    if not _HOST_RE.match(registry) or not ("." in registry or ":" in registry or registry == "localhost"):
        raise UsageError(f"'{text}': '{registry}' is not a registry host (a name with a dot or a port, or localhost)")
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        check_tag(tag)
    if not REPOSITORY_RE.match(rest) or len(rest) > 255:
        raise UsageError(f"'{text}': repository '{rest}' must be lower-case letters, digits and . _ - separated by /")
    if need_ref and tag is None and digest is None:
        raise UsageError(f"'{text}' names no tag or digest: add :TAG or @sha256:DIGEST")
    return Reference(registry, rest, tag, digest)


def check_tag(tag: str) -> str:
    """`tag` if it is a valid OCI tag; UsageError (2) otherwise."""
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        raise UsageError(f"'{tag}' is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-], at most 128 characters)")
    return tag


def check_digest(digest: str) -> str:
    """`digest` if it is `sha256:` + 64 lower-case hex digits; UsageError (2) otherwise."""
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise UsageError(f"'{digest}' is not a sha256 digest (sha256: and 64 lower-case hex digits)")
    return digest


def is_loopback(registry: str) -> bool:
    """Is the registry host `localhost` or a loopback address? Docker talks plain HTTP to those
    without being told (its built-in insecure range 127.0.0.0/8)."""
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry[1:registry.index("]")]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
