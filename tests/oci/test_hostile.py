"""Hostile artifacts are refused with exit 5 before anything is written: layer paths that leave the
destination, sizes that disagree with the bytes, manifests or configs larger than any real one,
media types weightops does not know. Each is stored in a real registry by hand (pushraw.py), or,
for a manifest over the registry's own limit, served by a hostile HTTP server."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from helpers import assert_one_line_error, run_cli
from oci.pushraw import modelpack

CASES = {
    "dotdot": dict(files=[("../evil.bin", b"x" * 100)], needle="'..'"),
    "nested-dotdot": dict(files=[("models/../../evil.bin", b"x" * 100)], needle="'..'"),
    "absolute": dict(files=[("/etc/evil.bin", b"x" * 100)], needle="absolute"),
    "size-lie": dict(files=[("w.bin", b"y" * 1000)], size_of=lambda p, n: n - 10, needle="1000 bytes"),
    "unknown-type": dict(files=[("w.bin", b"z" * 10)], media_type="application/x-evil", needle="unknown layer media type"),
    "archive-type": dict(files=[("w.bin", b"z" * 10)], media_type="application/vnd.cncf.model.weight.v1.tar",
                         needle="archive"),
    "huge-config": dict(files=[("w.bin", b"z" * 10)], config=b"{" + b" " * (5 * 1024 * 1024) + b"}", needle="limit"),
    "file-and-folder": dict(files=[("a", b"1"), ("a/b", b"2")], needle="both a file and a folder"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_artifact_refused_before_writing(case, oci_registry, tmp_path):
    spec = dict(CASES[case])
    needle = spec.pop("needle")
    modelpack(oci_registry.host, f"hostile/{case}", "v1", **spec)
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = run_cli(["pull", f"oci://{oci_registry.host}/hostile/{case}:v1", "-o", str(dest / "out")], cwd=dest)
    assert_one_line_error(proc, 5, needle)
    assert list(dest.iterdir()) == []
    assert not list(tmp_path.glob("evil*")) and not list(tmp_path.parent.glob("evil*"))


class _Hostile(http.server.BaseHTTPRequestHandler):
    """A registry that answers every manifest request with 5 MiB (no Content-Length: streamed)."""

    def do_GET(self):
        if self.path == "/v2/":
            self.send_response(200)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.end_headers()
        chunk = b" " * 65536
        try:
            self.wfile.write(b'{"schemaVersion":2,"pad":"')
            for _ in range(80):
                self.wfile.write(chunk)
            self.wfile.write(b'"}')
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_manifest_larger_than_any_real_one_is_refused(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        dest = tmp_path / "dest"
        dest.mkdir()
        proc = run_cli(["pull", f"oci://{host}/big/manifest:v1", "-o", str(dest / "x")], cwd=dest)
        assert_one_line_error(proc, 5, "limit")
        assert list(dest.iterdir()) == []
    finally:
        server.shutdown()
