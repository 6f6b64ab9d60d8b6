"""Registry credentials, found where docker, podman and oras look, and the distribution spec's
challenge parsing.

Lookup order (podman's containers-auth.json(5), which also reads docker's file): the file named
by `REGISTRY_AUTH_FILE`; `${XDG_RUNTIME_DIR}/containers/auth.json`;
`~/.config/containers/auth.json`; `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`).
In each file, as docker's cli/config/credentials does: `credHelpers[host]` runs
`docker-credential-NAME get` (host on stdin, JSON `{"Username", "Secret"}` on stdout), else
`auths[host]` (`auth`: base64 `user:password`, or `username`/`password`, or `identitytoken`),
else `credsStore` runs its helper. Secrets are held in a Credentials record whose repr hides
them; nothing here logs them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from weightops.errors import UsageError, WeightopsError


@dataclass(frozen=True)
class Credentials:
    """A user name and a secret (password or token); `identity_token` is docker's OAuth2 refresh
    token. The repr never shows the secrets."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    source: str = ""        # which file or helper gave them (for messages)

    def basic(self) -> str:
        """The `Authorization: Basic ...` header value."""
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def auth_files() -> list[Path]:
    """The credential files in lookup order (existing or not)."""
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    home = Path(os.path.expanduser("~"))
    files.append(Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    files.append(Path(os.environ.get("DOCKER_CONFIG") or home / ".docker") / "config.json")
    return files


def _host_key(key: str) -> str:
    """`https://host:port/v1/` -> `host:port` (docker keeps URL-shaped keys from old logins)."""
    key = re.sub(r"^[a-z]+://", "", key.strip())
    return key.split("/", 1)[0]


def find_credentials(registry: str) -> Credentials | None:
    """Credentials for `registry` (host[:port]) from the first file that names it, or None.
    WeightopsError (1) when a file is not JSON or a named helper fails (the message names the
    file or helper, never a secret)."""
    for path in auth_files():
        try:
            text = path.read_text()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            raise WeightopsError(f"credential file {path} is not JSON; fix or remove it") from None
        if not isinstance(doc, dict):
            continue
        found = credentials_from(doc, registry, str(path))
        if found is not None:
            return found
    return None


def credentials_from(doc: dict, registry: str, where: str) -> Credentials | None:
    """Credentials for `registry` from one parsed auth file `doc` (docker's precedence:
    credHelpers, then auths, then credsStore); `where` names the file in messages."""
    helpers = doc.get("credHelpers") or {}
    for key, helper in helpers.items() if isinstance(helpers, dict) else ():
        if _host_key(key) == registry:
            return run_helper(str(helper), registry)
    auths = doc.get("auths") or {}
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        if _host_key(key) != registry or not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            return Credentials(str(entry.get("username") or ""), "", str(entry["identitytoken"]), where)
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise WeightopsError(f"{where}: the `auth` entry for {registry} is not base64 of user:password") from None
            return Credentials(user, password, "", where)
        if entry.get("username"):
            return Credentials(str(entry["username"]), str(entry.get("password") or ""), "", where)
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        return run_helper(store, registry, missing_ok=True)
    return None


def run_helper(name: str, registry: str, *, missing_ok: bool = False) -> Credentials | None:
    """`docker-credential-NAME get` for `registry`, as docker runs it (the server URL on stdin).
    None when the helper knows no credentials for it (docker's "credentials not found in native
    keychain") or, with `missing_ok`, when the helper is not installed. UsageError (2) for a
    helper name with a path separator; WeightopsError (1) when it fails otherwise."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise UsageError(f"credential helper name {name!r} is not a plain program name")
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run([program, "get"], input=registry.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise WeightopsError(f"credential helper {program} (named for {registry}) is not installed") from None
    except subprocess.TimeoutExpired:
        raise WeightopsError(f"credential helper {program} did not answer within 60 s") from None
    if done.returncode != 0:
        if b"credentials not found" in done.stdout.lower() + done.stderr.lower():
            return None
        raise WeightopsError(f"credential helper {program} failed for {registry} (exit {done.returncode})")
    try:
        doc = json.loads(done.stdout)
        user, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
    except (ValueError, AttributeError):
        raise WeightopsError(f"credential helper {program} printed something other than its JSON answer") from None
    if user == "<token>":   # docker's convention: the secret is an identity (refresh) token
        return Credentials("", "", secret, program)
    return Credentials(user, secret, "", program)


_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`WWW-Authenticate: Bearer realm="...",service="...",scope="..."` -> ("bearer", params).
    The scheme is lower-cased; an empty header gives ("", {}). Pure (RFC 7235's auth-param)."""
    header = (header or "").strip()
    scheme, _, rest = header.partition(" ")
    params = {m.group(1).lower(): (m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3))
              for m in _PARAM.finditer(rest)}
    return scheme.lower(), params
