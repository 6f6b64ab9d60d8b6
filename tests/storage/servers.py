"""Real storage servers on 127.0.0.1 for the storage suite, each started as a process by a
fixture and stopped after: moto (S3), gcp-storage-emulator (GCS), Azurite (Azure Blob), an
OpenSSH server with a throwaway key (SSH), Python's http.server (HTTP, read-only). Every
server sits behind a `Proxy`, so a test can stop it mid-transfer (listener closed and every
live connection dropped). With CI=true a missing server program is a failure, not a skip."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = [Path(os.environ.get("WEIGHTOPS_NODE_PREFIX", "/work/wt/node")) / "node_modules" / ".bin",
            ROOT / "node_modules" / ".bin"]
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited at start (code {proc.returncode})")
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not listen on {port} in {timeout} s")


def missing(what: str, how: str) -> None:
    """A server program that is not installed: a failure in CI, a visible skip elsewhere."""
    message = f"{what} is not installed ({how}); .ci/run installs it"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class Proxy:
    """A TCP forwarder in front of a server. `stop()` closes the listener and drops every live
    connection: to the client it is the server going away mid-transfer."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.live: list[socket.socket] = []
        self.stopped = False
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.stopped:
                    client.close()
                    upstream.close()
                    return
                self.live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(256 * 1024):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            try:
                self.server.close()
            except OSError:
                pass
            for s in self.live:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass


@dataclass
class Server:
    proc: subprocess.Popen | None
    port: int
    extra: dict = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_gcs(tmp: Path) -> Server:
    exe = shutil.which("gcp-storage-emulator") or str(Path(sys.executable).parent / "gcp-storage-emulator")
    if not os.path.exists(exe):
        missing("gcp-storage-emulator", "pip install gcp-storage-emulator")
    port = free_port()
    proc = subprocess.Popen([exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    wait_port(port, proc, "gcp-storage-emulator")
    return Server(proc, port)


def start_azurite(tmp: Path) -> Server:
    exe = next((str(d / "azurite-blob") for d in NODE_BIN if (d / "azurite-blob").exists()),
               shutil.which("azurite-blob"))
    if not exe:
        missing("Azurite", "npm install azurite")
    port = free_port()
    proc = subprocess.Popen([exe, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
                             "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    wait_port(port, proc, "Azurite")
    return Server(proc, port)


def start_sshd(tmp: Path) -> Server:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd):
        missing("OpenSSH server", "apt-get install openssh-server")
    port = free_port()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "client_key")], check=True)
    shutil.copy(tmp / "client_key.pub", tmp / "authorized_keys")
    os.chmod(tmp / "authorized_keys", 0o600)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    (tmp / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\nPidFile none\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
        "MaxSessions 64\nMaxStartups 64\nLogLevel ERROR\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(tmp / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "sshd")
    host_key = (tmp / "host_key.pub").read_text().split()[:2]
    return Server(proc, port, {"user": user, "key": str(tmp / "client_key"), "host_key": " ".join(host_key)})


def start_http(directory: Path) -> Server:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                             "--directory", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "http.server")
    return Server(proc, port)


def unique(prefix: str = "wo") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
