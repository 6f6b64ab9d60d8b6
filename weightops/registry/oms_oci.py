"""A version's OMS signature attached to its OCI artifact, so a puller that only has the registry
finds it next to the manifest it pulls.

Attached as the OCI distribution spec (v1.1) says for an artifact that refers to another: a
manifest with `artifactType` `application/vnd.dev.sigstore.bundle.v0.3+json`, the empty config,
one layer (the bundle's bytes) and `subject` the version's ModelPack manifest. Registries without
the referrers API (Debian's docker-registry, CNCF distribution 2.x) are served by the spec's
referrers tag schema, which weightops always writes: an image index tagged `sha256-<hex of the
subject's digest>` listing the referring manifests (with their `artifactType`), updated by
adding the signature's descriptor. A reader asks for that tag, picks the descriptor of the
signature's type, and checks the bundle as any other (trust/oms.py).
"""

from __future__ import annotations

import hashlib
import json

from weightops.errors import IntegrityError, NotFoundError
from weightops.oci.client import OCI_INDEX, OCI_MANIFEST

SIGNATURE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
MAX_BUNDLE = 4 * 1024 * 1024


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fallback_tag(subject_digest: str) -> str:
    """The referrers tag schema's tag for `subject_digest`: `sha256:abc…` -> `sha256-abc…`."""
    return subject_digest.replace(":", "-")


def signature_manifest(bundle: bytes, subject: dict, card_sha256: str) -> bytes:
    """The signature artifact's manifest (pure): `subject` is the ModelPack manifest's descriptor
    (mediaType, digest, size)."""
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIGNATURE_TYPE,
           "config": {"mediaType": EMPTY_TYPE, "digest": _digest(EMPTY), "size": len(EMPTY)},
           "layers": [{"mediaType": SIGNATURE_TYPE, "digest": _digest(bundle), "size": len(bundle)}],
           "subject": subject,
           "annotations": {"dev.weightops.oms.card-sha256": card_sha256}}
    return json.dumps(doc, separators=(",", ":")).encode()


def attach(client, repo: str, manifest: bytes, bundle: bytes, card_sha256: str) -> str:
    """Push the signature `bundle` as an artifact referring to `manifest` (the version's ModelPack
    manifest bytes, already in `repo`) and add it to the referrers tag; returns the signature
    manifest's digest. The registry's errors (1) as the client raises them."""
    for blob in (EMPTY, bundle):
        if client.blob_size(repo, _digest(blob)) is None:
            client.upload_blob(repo, _digest(blob), len(blob), iter((blob,)), what="OMS signature")
    subject = {"mediaType": OCI_MANIFEST, "digest": _digest(manifest), "size": len(manifest)}
    data = signature_manifest(bundle, subject, card_sha256)
    digest = client.put_manifest(repo, _digest(data), data)
    tag = fallback_tag(subject["digest"])
    try:
        index = json.loads(client.get_manifest(repo, tag)[0])
    except NotFoundError:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    listed = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    if not any(m.get("digest") == digest for m in listed):
        listed.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(data), "artifactType": SIGNATURE_TYPE,
                       "annotations": {"dev.weightops.oms.card-sha256": card_sha256}})
        index["manifests"] = listed
        client.put_manifest(repo, tag, json.dumps(index, separators=(",", ":")).encode(), OCI_INDEX)
    return digest


def fetch(client, repo: str, subject_digest: str) -> list[bytes]:
    """The OMS bundles attached to `subject_digest` in `repo` (newest last), read through the
    referrers tag. [] when none is attached; IntegrityError (4) for a malformed listing."""
    try:
        index = json.loads(client.get_manifest(repo, fallback_tag(subject_digest))[0])
    except NotFoundError:
        return []
    except ValueError:
        raise IntegrityError(f"{repo}:{fallback_tag(subject_digest)} is not an OCI image index") from None
    found = []
    for entry in index.get("manifests") or []:
        if not isinstance(entry, dict) or entry.get("artifactType") != SIGNATURE_TYPE:
            continue
        doc = json.loads(client.get_manifest(repo, entry["digest"])[0])
        if (doc.get("subject") or {}).get("digest") != subject_digest:
            continue   # a listing entry that refers elsewhere is not this version's signature
        layer = (doc.get("layers") or [{}])[0]
        data = client.read_blob(repo, layer["digest"], MAX_BUNDLE)
        if _digest(data) != layer["digest"]:
            raise IntegrityError(f"{repo}: blob {layer['digest']} holds other bytes")
        found.append(data)
    return found


def attach_version(project, client, repo: str, located, manifest: bytes) -> str | None:
    """Attach the version's signature from its DVC remote (trust/oms_store.py) to its OCI manifest;
    None when the remote holds none (an unsigned version: nothing to attach)."""
    from weightops.errors import RefusedError
    from weightops.storage.backends import open_store
    from weightops.trust import oms_store

    try:
        signed = oms_store.signed_set(project, located)
    except RefusedError:
        return None
    remote = project.remote(located.commit, None, root=located.dvc_root, pointer=located.pointer)
    if remote is None:
        return None
    store = open_store(project, remote)
    try:
        bundle = store.read_small(store.join(signed.key))
    except NotFoundError:
        return None
    return attach(client, repo, manifest, bundle, signed.card_sha256)
