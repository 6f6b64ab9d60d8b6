"""A real S3 HTTP endpoint for the deploy tests: moto's server, as a separate process on
127.0.0.1 on a free port (so a test can stop it mid-download), with a bucket per test.
Never moto's in-process mock decorators."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

KEY_ID, SECRET = "wo-test-key", "wo-test-secret-never-written"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MotoServer:
    proc: subprocess.Popen
    endpoint: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_moto() -> MotoServer:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return MotoServer(proc, f"http://127.0.0.1:{port}")
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("moto server exited at start")
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("moto server did not start in 30 s")


@pytest.fixture(scope="session")
def moto_server():
    server = start_moto()
    yield server
    server.stop()


# Test-side S3 calls are plain HTTP: moto accepts any signature, and keeping boto3 out of the
# pytest process keeps its memory small (children of later tests inherit its peak RSS).
_AUTH = {"Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/s3/aws4_request, "
                          "SignedHeaders=host, Signature=0"}


@dataclass
class Bucket:
    endpoint: str
    name: str

    def _request(self, method: str, key: str = "", body=None, size: int | None = None) -> bytes:
        import http.client
        host, port = self.endpoint.split("//", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        headers = dict(_AUTH)
        if size is not None:
            headers["Content-Length"] = str(size)
        conn.request(method, f"/{self.name}/{key}" if key else f"/{self.name}", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.status >= 300:
            raise AssertionError(f"{method} {key}: HTTP {resp.status} {data[:200]!r}")
        return data

    def put(self, key: str, data: bytes) -> None:
        self._request("PUT", key, data)

    def put_file(self, key: str, path: Path) -> None:
        with open(path, "rb") as f:  # streamed, never held in memory
            self._request("PUT", key, f, size=path.stat().st_size)

    def get(self, key: str) -> bytes:
        return self._request("GET", key)

    def delete(self, key: str) -> None:
        self._request("DELETE", key)

    def keys(self) -> list[str]:
        """Every object key in the bucket (ListObjectsV2, page by page)."""
        import urllib.parse
        import xml.etree.ElementTree as ET

        ns, found, token = "{http://s3.amazonaws.com/doc/2006-03-01/}", [], None
        while True:
            query = "?list-type=2" + (f"&continuation-token={urllib.parse.quote(token)}" if token else "")
            root = ET.fromstring(self._request("GET", query))
            found += [c.findtext(f"{ns}Key") for c in root.iter(f"{ns}Contents")]
            token = root.findtext(f"{ns}NextContinuationToken")
            if not token:
                return found


def make_bucket(endpoint: str) -> Bucket:
    bucket = Bucket(endpoint, f"wo-{uuid.uuid4().hex[:12]}")
    bucket._request("PUT")
    return bucket


@pytest.fixture
def bucket(moto_server) -> Bucket:
    return make_bucket(moto_server.endpoint)


def use_s3_remote(project, bucket: Bucket, *, creds: str = "local", prefix: str = "dvcstore") -> str:
    """Make an S3 DVC remote the default, as `dvc remote add -d` + `modify` would write it;
    credentials in .dvc/config.local (never committed). Returns the remote's URL."""
    url = f"s3://{bucket.name}/{prefix}"
    cfg = project.root / ".dvc" / "config"
    text = cfg.read_text().replace("remote = storage", "remote = s3store")
    text += f"['remote \"s3store\"']\n    url = {url}\n    endpointurl = {bucket.endpoint}\n"
    cfg.write_text(text)
    if creds == "local":
        (project.root / ".dvc" / "config.local").write_text(
            f"['remote \"s3store\"']\n    access_key_id = {KEY_ID}\n    secret_access_key = {SECRET}\n")
    project.git("add", ".dvc/config")
    project.git("commit", "-qm", "S3 remote")
    return url


def object_key(prefix: str, md5: str) -> str:
    return f"{prefix}/files/md5/{md5[:2]}/{md5[2:]}"


def upload_weights(project, bucket: Bucket, prefix: str = "dvcstore") -> str:
    """Put the weights where `dvc push` would (content-addressed by md5); returns the key."""
    data = project.weights.read_bytes()
    key = object_key(prefix, hashlib.md5(data).hexdigest())
    bucket.put(key, data)
    return key


@pytest.fixture
def s3_project(project, bucket):
    """The golden project with an S3 default remote on moto, the object uploaded and v1.0.0
    released (release itself checks the object exists on S3)."""
    use_s3_remote(project, bucket)
    key = upload_weights(project, bucket)
    project.release("v1.0.0", push=False)
    project.s3_key = key
    project.bucket = bucket
    return project


def assign_stage(project, stage: str, rev: str, counter: int = 1, at: int | None = None) -> None:
    """A GTO stage assignment tag (`clf#production#1`), as `gto assign` writes it."""
    env = {"GIT_COMMITTER_DATE": f"@{at} +0000"} if at else None
    project.git("tag", "-a", f"{project.model}#{stage}#{counter}", "-m", f"Assignment of {stage}", f"{rev}^{{commit}}", env=env)


def no_leftovers(folder: Path) -> list[str]:
    """Temp files or directories a failed download might have left."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.endswith(".old")]


def shutdown_listener(server: socket.socket) -> None:
    try:
        server.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def stop_listening(server: socket.socket, acceptor: threading.Thread, stopped: threading.Event) -> None:
    """Stop a listening socket served by `acceptor` so that nothing can connect afterwards."""
    stopped.set()
    shutdown_listener(server)      # wakes the blocked accept() with an error
    if acceptor is not threading.current_thread():
        acceptor.join(timeout=10)
        if acceptor.is_alive():
            raise RuntimeError("the proxy's accepting thread did not stop")
    server.close()


class CuttingProxy:
    """A TCP proxy in front of the S3 endpoint that drops the first connection whose answer
    exceeds `cut_after` bytes, mid-body, then forwards everything faithfully. Records what each
    connection's client sent, so a test can see the resumed request."""

    def __init__(self, target: str, cut_after: int, fail_first: int = 0) -> None:
        self.target_port = int(target.rsplit(":", 1)[1])
        self.cut_after = cut_after
        self.fail_first = fail_first    # answer this many first requests with a 503
        self.cuts = 0
        self.requests: list[bytearray] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.endpoint = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self._stopped = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self._stopped.is_set():
                client.close()
                return
            if self.fail_first:
                self.fail_first -= 1
                client.recv(65536)
                body = b"<Error><Code>SlowDown</Code><Message>slow down</Message></Error>"
                client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                               b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
                client.close()
                self.requests.append(bytearray(b"503"))
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            record = bytearray()
            self.requests.append(record)
            threading.Thread(target=self._up, args=(client, upstream, record), daemon=True).start()
            threading.Thread(target=self._down, args=(client, upstream), daemon=True).start()

    def _up(self, client, upstream, record) -> None:
        try:
            while data := client.recv(65536):
                record += data[:65536 - len(record)]
                upstream.sendall(data)
        except OSError:
            pass

    def _down(self, client, upstream) -> None:
        sent = 0
        try:
            while data := upstream.recv(65536):
                if self.cuts == 0 and sent + len(data) > self.cut_after:
                    client.sendall(data[:self.cut_after - sent])
                    self.cuts += 1
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (client, upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        """Refuse connections from now on."""
        stop_listening(self.server, self._acceptor, self._stopped)
