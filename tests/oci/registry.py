"""Debian's `docker-registry` (CNCF distribution) on 127.0.0.1, started as a process with its
storage in a temp folder: one open, one behind htpasswd (Basic) authentication, and a
pull-through cache of the open one. Its access log is kept, so a test counts the requests a
client made (blob uploads, blob GETs) from the server's side."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from needs import missing, require_tool
from storage.servers import free_port, wait_port


@dataclass
class Registry:
    """A running registry: `host` (127.0.0.1:PORT), its storage folder and access log."""

    host: str
    storage: Path
    log: Path
    proc: subprocess.Popen
    user: str | None = None
    password: str | None = None

    def mark(self) -> int:
        """A position in the access log; `requests(since=mark)` reads what came after."""
        return self.log.stat().st_size if self.log.exists() else 0

    def requests(self, since: int = 0) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request logged after `since` (bytes into the log)."""
        with open(self.log, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        return [(m.group(1), m.group(2), int(m.group(3)))
                for m in re.finditer(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d{3})', text)]

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (distribution's filesystem layout)."""
        hexd = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_registry(base: Path, *, htpasswd: tuple[str, str] | None = None, proxy: str | None = None,
                   token=None) -> Registry:
    """Start `docker-registry serve` on a free loopback port with storage under `base`;
    `htpasswd` (user, password) turns on Basic auth; `token` (a tokenauth.TokenServer) the token
    flow; `proxy` (an URL) makes it a pull-through cache."""
    program = require_tool("docker-registry", "the OCI registry the OCI tests push to and pull from", "registry")
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: false", "storage:",
           "  filesystem:", f"    rootdirectory: {base / 'data'}", "  delete:", "    enabled: true",
           "  maintenance:", "    uploadpurging:", "      enabled: false",
           "http:", f"  addr: 127.0.0.1:{port}", "  secret: weightops-tests"]
    user = password = None
    if htpasswd:
        tool = shutil.which("htpasswd")
        if tool is None:
            missing("the program 'htpasswd' (apache2-utils)", "writes the registry's bcrypt password file")
        user, password = htpasswd
        line = subprocess.run([tool, "-Bbn", user, password], capture_output=True, text=True, check=True).stdout
        (base / "htpasswd").write_text(line)
        cfg += ["auth:", "  htpasswd:", "    realm: weightops-tests", f"    path: {base / 'htpasswd'}"]
    if token is not None:
        from oci.tokenauth import ISSUER, SERVICE

        user, password = token.user, token.password
        cfg += ["auth:", "  token:", f"    realm: {token.realm}", f"    service: {SERVICE}", f"    issuer: {ISSUER}",
                f"    rootcertbundle: {token.bundle}"]
    if proxy:
        cfg += ["proxy:", f"  remoteurl: {proxy}"]
    (base / "config.yml").write_text("\n".join(cfg) + "\n")
    log = base / "access.log"
    out = open(log, "wb")
    proc = subprocess.Popen([program, "serve", str(base / "config.yml")], stdout=out, stderr=subprocess.STDOUT)
    out.close()
    wait_port(port, proc, "docker-registry")
    return Registry(f"127.0.0.1:{port}", base / "data", log, proc, user, password)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def wait_for(predicate, timeout: float = 10.0) -> None:
    """Poll `predicate` until true (the registry writes its access log line after answering)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
