"""Stage tags in OCI follow git: pushed promote, rollback and demote move them; pulling a stage
through OCI asks for the digest git computes, so a tag moved by hand in the registry is not
followed (and `audit` names it)."""

from __future__ import annotations

import hashlib
import json
import urllib.request

import yaml

from helpers import T0, assert_one_line_error, at
from oci.registry import sha256_of
from oci.test_publish_pull import configure, skopeo_manifest, with_git_remote


def _digest(registry, repo: str, ref: str) -> str:
    req = urllib.request.Request(f"http://{registry.host}/v2/{repo}/manifests/{ref}", method="HEAD",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req) as resp:
        return resp.headers["Docker-Content-Digest"]


def _move_by_hand(registry, repo: str, tag: str, to: str) -> None:
    """What an operator does with curl: PUT another version's manifest under the stage tag."""
    get = urllib.request.Request(f"http://{registry.host}/v2/{repo}/manifests/{to}",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(get) as resp:
        data = resp.read()
    put = urllib.request.Request(f"http://{registry.host}/v2/{repo}/manifests/{tag}", data=data, method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(put).close()


def test_stage_tags_follow_promote_rollback_demote_and_hand_moves_are_ignored(project, oci_registry, tmp_path):
    repo = "acme/stages"
    target = configure(project, oci_registry, repo)
    with_git_remote(project, tmp_path)
    at(project, T0, "release", "v1.0.0", "--push")            # pushed release: published by itself
    sha1 = yaml.safe_load(project.card.read_text())["artifact"]["sha256"]
    project.train(epochs=40)
    at(project, T0 + 10, "release", "v1.1.0", "--push")
    v1, v2 = _digest(oci_registry, repo, "v1.0.0"), _digest(oci_registry, repo, "v1.1.0")
    assert v1 != v2
    at(project, T0 + 20, "promote", "v1.0.0", "production", "--push")
    assert _digest(oci_registry, repo, "production") == v1
    at(project, T0 + 30, "promote", "v1.1.0", "production", "--push")
    assert _digest(oci_registry, repo, "production") == v2
    at(project, T0 + 40, "rollback", "production", "--push")
    assert _digest(oci_registry, repo, "production") == v1
    # the skopeo view agrees: production is v1.0.0's artifact
    assert skopeo_manifest(f"{target}:production")["annotations"]["org.opencontainers.image.version"] == "v1.0.0"

    # someone moves `production` by hand to v1.1.0
    _move_by_hand(oci_registry, repo, "production", "v1.1.0")
    assert _digest(oci_registry, repo, "production") == v2
    out = tmp_path / "via" / "clf.safetensors"
    proc = project.wo("pull", "production", "--via", "oci", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert sha256_of(out) == sha1 and json.loads(proc.stdout)["version"] == "v1.0.0"
    # the registry's own word (the tag) is what `pull oci://...:production` gives: v1.1.0
    raw = tmp_path / "raw" / "clf.safetensors"
    proc = project.wo("pull", f"oci://{target}:production", "-o", str(raw))
    assert proc.returncode == 0, proc.stderr
    assert sha256_of(raw) != sha1
    # it names the file's SHA-256, as every pull does, and the manifest's digest apart
    assert f"clf v1.1.0 sha256 {sha256_of(raw)} verified" in proc.stdout
    assert f"manifest {v2}" in proc.stdout
    # audit names the disagreement (exit 5 when it fails)
    audit = project.wo("audit", "--json")
    assert audit.returncode == 4, audit.stderr
    oci = [f for f in json.loads(audit.stdout)["findings"] if f["kind"] == "oci-tag"]
    assert [f["tag"] for f in oci] == [f"{target}:production"]
    assert v2 in oci[0]["message"] and v1 in oci[0]["message"]

    # demote: the stage is empty in git, and in OCI pulling it gives nothing
    at(project, T0 + 50, "demote", "production", "--push")
    proc = project.wo("pull", f"oci://{target}:production", "-o", str(tmp_path / "none"))
    assert_one_line_error(proc, 3, "stage 'production' of 'clf' was unassigned")
    assert "ModelPack" not in proc.stderr and not (tmp_path / "none").exists()
    assert _digest(oci_registry, repo, "v1.0.0") == v1        # the version itself stays
    after = json.loads(project.wo("audit", "--json").stdout)
    assert after["ok"] and not [f for f in after["findings"] if f["kind"] == "oci-tag"], after


def test_corrupted_blob_is_refused_and_nothing_is_written(project, oci_registry, tmp_path):
    target = configure(project, oci_registry, "acme/corrupt")
    at(project, T0, "release", "v1.0.0", "--push")
    sha = yaml.safe_load(project.card.read_text())["artifact"]["sha256"]
    blob = oci_registry.blob_file(f"sha256:{sha}")
    good = blob.read_bytes()
    blob.write_bytes(bytes([good[0] ^ 0xFF]) + good[1:])      # same size, other bytes
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = project.wo("pull", f"oci://{target}:v1.0.0", "-o", str(dest / "clf.safetensors"))
    assert_one_line_error(proc, 4, "damaged")
    assert list(dest.iterdir()) == []
    proc = project.wo("pull", "v1.0.0", "--via", "oci", "-o", str(dest / "clf.safetensors"))
    assert_one_line_error(proc, 4)
    assert list(dest.iterdir()) == []
    blob.write_bytes(good)
