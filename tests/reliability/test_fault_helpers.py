"""The fault helpers produce the fault they name, checked with a plain HTTP client against
moto's server, before any test relies on them to show how weightops copes."""

from __future__ import annotations

import http.client
import socket
import time

import pytest

from deploy.s3env import CuttingProxy, start_moto
from reliability.faults import FaultProxy, always, first

BODY = bytes(range(256)) * 800          # 200 KiB, every byte position distinguishable


@pytest.fixture
def stored(bucket):
    bucket.put("obj", BODY)
    return bucket


def _get(endpoint: str, bucket) -> tuple[int, bytes]:
    host, port = endpoint.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", f"/{bucket.name}/obj", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=k/20260101/"
                                                            "us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _refused(endpoint: str) -> bool:
    port = int(endpoint.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_pass_forwards_the_object_unchanged(stored):
    proxy = FaultProxy(stored.endpoint, always("pass"))
    try:
        assert _get(proxy.endpoint, stored) == (200, BODY)
        assert proxy.actions == ["pass"] and proxy.response_bytes > len(BODY)
    finally:
        proxy.stop()


@pytest.mark.parametrize("status, code", [("500", b"InternalError"), ("503", b"SlowDown")])
def test_error_statuses_answer_with_an_s3_error_body(stored, status, code):
    proxy = FaultProxy(stored.endpoint, first(1, status))
    try:
        got, body = _get(proxy.endpoint, stored)
        assert got == int(status) and b"<Code>%s</Code>" % code in body
        assert _get(proxy.endpoint, stored) == (200, BODY), "then it passes, as planned"
        assert proxy.actions == [status, "pass"]
    finally:
        proxy.stop()


def test_reset_closes_without_an_answer(stored):
    proxy = FaultProxy(stored.endpoint, always("reset"))
    try:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            _get(proxy.endpoint, stored)
    finally:
        proxy.stop()


def test_cut_drops_the_connection_mid_body(stored):
    proxy = FaultProxy(stored.endpoint, always("cut"), cut_after=64 * 1024)
    try:
        with pytest.raises(http.client.IncompleteRead) as caught:
            _get(proxy.endpoint, stored)
        partial = caught.value.partial
        assert 0 < len(partial) < 64 * 1024 and BODY.startswith(partial)
        assert proxy.response_bytes == 64 * 1024, "exactly cut_after bytes, headers included"
    finally:
        proxy.stop()


def test_slow_delivers_everything_in_paced_chunks(stored):
    proxy = FaultProxy(stored.endpoint, always("slow"), slow_chunk=32 * 1024, slow_pause=0.05)
    try:
        started = time.monotonic()
        assert _get(proxy.endpoint, stored) == (200, BODY)
        # at least one pause per full chunk of the answer: a lower bound, never a speed goal
        assert time.monotonic() - started >= (len(BODY) // (32 * 1024)) * 0.05
    finally:
        proxy.stop()


def test_a_stopped_proxy_refuses_every_connection(stored):
    for _ in range(5):      # the race this guards against was intermittent
        proxy = FaultProxy(stored.endpoint, always("pass"))
        assert _get(proxy.endpoint, stored)[0] == 200
        proxy.stop()
        assert _refused(proxy.endpoint)
        assert _refused(proxy.endpoint)
        assert proxy.actions == ["pass"], "nothing was accepted after stop()"


def test_the_proxy_stops_accepting_after_max_connections(stored):
    proxy = FaultProxy(stored.endpoint, always("pass"), max_connections=1)
    try:
        assert _get(proxy.endpoint, stored) == (200, BODY)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            _get(proxy.endpoint, stored)
        assert _refused(proxy.endpoint)
    finally:
        proxy.stop()


def test_cutting_proxy_answers_503s_cuts_once_then_forwards(stored):
    proxy = CuttingProxy(stored.endpoint, cut_after=64 * 1024, fail_first=1)
    try:
        assert _get(proxy.endpoint, stored)[0] == 503
        with pytest.raises(http.client.IncompleteRead):
            _get(proxy.endpoint, stored)
        assert _get(proxy.endpoint, stored) == (200, BODY)
        assert proxy.cuts == 1 and len(proxy.requests) == 3
        assert proxy.requests[2].startswith(f"GET /{stored.name}/obj ".encode())
    finally:
        proxy.close()
    assert _refused(proxy.endpoint)


def test_a_stopped_moto_server_refuses_connections():
    server = start_moto()
    try:
        assert not _refused(server.endpoint)
    finally:
        server.stop()
    assert _refused(server.endpoint)
