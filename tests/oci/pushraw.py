"""Writing arbitrary (hostile) artifacts into a registry by hand, with urllib: what an attacker with
push rights, or a broken tool, can store. Nothing here goes through weightops' client."""

from __future__ import annotations

import hashlib
import json
import urllib.request


def put_blob(host: str, repo: str, data: bytes) -> str:
    """Upload `data` (POST, then PUT ?digest=); returns its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    post = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with urllib.request.urlopen(post) as resp:
        location = resp.headers["Location"]
    if location.startswith("/"):
        location = f"http://{host}{location}"
    put = urllib.request.Request(f"{location}{'&' if '?' in location else '?'}digest={digest}", data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(put).close()
    return digest


def put_manifest(host: str, repo: str, tag: str, manifest: dict) -> str:
    data = json.dumps(manifest).encode()
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", data=data, method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(req).close()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def modelpack(host: str, repo: str, tag: str, files: list[tuple[str, bytes]], *, media_type: str | None = None,
              size_of=None, config: bytes | None = None) -> str:
    """A ModelPack manifest over `files` (path, bytes), each uploaded; `size_of(path, size)` may lie
    about sizes, `media_type` replaces the layers' type, `config` the config blob."""
    config = config if config is not None else json.dumps({"descriptor": {"name": repo}, "modelfs": {
        "type": "layers", "diffIds": []}, "config": {}}).encode()
    layers = []
    for path, data in files:
        digest = put_blob(host, repo, data)
        size = size_of(path, len(data)) if size_of else len(data)
        layers.append({"mediaType": media_type or "application/vnd.cncf.model.weight.v1.raw", "digest": digest,
                       "size": size, "annotations": {"org.cncf.model.filepath": path}})
    cdigest = put_blob(host, repo, config)
    return put_manifest(host, repo, tag, {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.model.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.model.config.v1+json", "digest": cdigest, "size": len(config)},
        "layers": layers})
