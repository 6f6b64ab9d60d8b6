"""Fault injection for the reliability tests: a TCP proxy in front of moto's S3 server on
127.0.0.1, and helpers to build a project whose weights are large enough to interrupt.

The proxy decides per connection (botocore opens a new one after any fault) what to do:
  "pass"      forward faithfully, both ways
  "500"/"503" answer that status with an S3 error body and close
  "reset"     accept, then close without a word (a crashed endpoint)
  "cut"       forward, but drop the connection after `cut_after` response bytes
  "slow"      forward `slow_chunk` bytes every `slow_pause` seconds, both ways
`plan(i)` maps the i-th connection to an action. `stop()` shuts the listening socket down,
joins the accepting thread and closes the socket, so from its return every connection is
refused (the endpoint is down). Everything is bounded: the proxy stops accepting after
`max_connections` or `lifetime` seconds, whichever comes first.
tests/reliability/test_fault_helpers.py shows each fault happens as named.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from deploy.s3env import shutdown_listener, stop_listening

Plan = Callable[[int], str]
SIZE = 3 * 1024 * 1024 + 17      # weights large enough to interrupt mid-transfer


class FaultProxy:
    def __init__(self, target: str, plan: Plan, *, cut_after: int = 64 * 1024, slow_chunk: int = 16 * 1024,
                 slow_pause: float = 0.02, max_connections: int = 200, lifetime: float = 120.0) -> None:
        self.target_port = int(target.rsplit(":", 1)[1])
        self.plan = plan
        self.cut_after, self.slow_chunk, self.slow_pause = cut_after, slow_chunk, slow_pause
        self.max_connections, self.deadline = max_connections, time.monotonic() + lifetime
        self.actions: list[str] = []            # what each connection got, in order
        self.response_bytes = 0                 # bytes forwarded to clients (all connections)
        self.request_bytes = 0                  # bytes forwarded to moto (all connections)
        self._lock = threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.endpoint = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self._stopped = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    # ---------------------------------------------------------------- control
    def stop(self) -> None:
        """Refuse connections from now on. Closing alone is not enough: on some kernels a socket
        closed while another thread is blocked in accept() still accepts the next connection.
        shutdown() wakes that accept() with an error; the thread is joined before the close."""
        stop_listening(self.server, self._acceptor, self._stopped)

    close = stop

    # ---------------------------------------------------------------- serving
    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            i = len(self.actions)
            if self._stopped.is_set() or i >= self.max_connections or time.monotonic() > self.deadline:
                # stop listening before the refused client hears anything: once it sees its
                # connection closed, the endpoint must already refuse
                self._stopped.set()
                shutdown_listener(self.server)
                _close(client)
                return
            action = self.plan(i)
            self.actions.append(action)
            threading.Thread(target=self._serve, args=(client, action), daemon=True).start()

    def _serve(self, client: socket.socket, action: str) -> None:
        if action in ("500", "503", "reset"):
            try:
                client.settimeout(2)
                client.recv(65536)
                if action != "reset":
                    code = {"500": b"InternalError", "503": b"SlowDown"}[action]
                    body = b"<Error><Code>%s</Code><Message>injected fault</Message></Error>" % code
                    reason = {"500": b"Internal Server Error", "503": b"Service Unavailable"}[action]
                    client.sendall(b"HTTP/1.1 %s %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
                                   b"Connection: close\r\n\r\n%s" % (action.encode(), reason, len(body), body))
            except OSError:
                pass
            _close(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            _close(client)
            return
        threading.Thread(target=self._up, args=(client, upstream, action), daemon=True).start()
        self._down(client, upstream, action)

    def _up(self, client: socket.socket, upstream: socket.socket, action: str) -> None:
        try:
            while data := client.recv(self.slow_chunk if action == "slow" else 65536):
                with self._lock:
                    self.request_bytes += len(data)
                upstream.sendall(data)
                if action == "slow":
                    time.sleep(self.slow_pause)
        except OSError:
            pass
        _close(upstream)

    def _down(self, client: socket.socket, upstream: socket.socket, action: str) -> None:
        sent = 0
        try:
            while data := upstream.recv(self.slow_chunk if action == "slow" else 65536):
                # counted before sending: once the client holds the bytes, the count has them
                if action == "cut" and sent + len(data) > self.cut_after:
                    part = data[:self.cut_after - sent]
                    with self._lock:
                        self.response_bytes += len(part)
                    client.sendall(part)
                    break
                with self._lock:
                    self.response_bytes += len(data)
                client.sendall(data)
                sent += len(data)
                if action == "slow":
                    time.sleep(self.slow_pause)
        except OSError:
            pass
        _close(client)
        _close(upstream)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


def always(action: str) -> Plan:
    return lambda i: action


def first(n: int, action: str, then: str = "pass") -> Plan:
    return lambda i: action if i < n else then


def point_remote_at(project, endpoint: str) -> None:
    """Send the S3 remote's traffic (weightops and `dvc push`) to `endpoint`: an
    `endpointurl` in .dvc/config.local, which overrides the committed one (as in DVC)."""
    local = project.root / ".dvc" / "config.local"
    lines = [l for l in local.read_text().splitlines() if not l.strip().startswith("endpointurl")]
    lines.insert(1, f"    endpointurl = {endpoint}")
    local.write_text("\n".join(lines) + "\n")


def big_weights(project, size: int, seed: int = 1) -> bytes:
    """Replace the trained weights by `size` random bytes and record them as DVC and the card
    stage would (card, dvc.lock), committed. Returns the bytes."""
    data = os.urandom(size) if seed is None else _pseudo(size, seed)
    project.weights.write_bytes(data)
    project.wo("card", str(project.weights.relative_to(project.root)), "-o",
               str(project.card.relative_to(project.root)), "--model", project.model, "--metrics", "metrics.json",
               check=True)
    project.dvc("commit", "-f", "-q")
    project.git("add", "-A")
    project.git("commit", "-qm", f"weights of {size} bytes")
    return data


def _pseudo(size: int, seed: int) -> bytes:
    import random
    return random.Random(seed).randbytes(size)


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))
