"""Publish to and pull from a real registry (Debian's docker-registry on 127.0.0.1), checked with
the reference clients: `skopeo` (Debian) reads what weightops pushed, the `oras` Python SDK pulls
it with the card's bytes, and weightops pulls what oras pushed."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from helpers import SHARDS, T0, add_dir_artifact, assert_one_line_error, at
from needs import require_tool
from oci.registry import sha256_of

ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"


def configure(project, registry, repo: str) -> str:
    """Set `oci.repository` in weightops.yaml and commit; returns REGISTRY/REPOSITORY."""
    target = f"{registry.host}/{repo}"
    path = project.root / "weightops.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["oci"] = {"repository": target}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    project.git("commit", "-qam", "publish to OCI")
    return target


def with_git_remote(project, tmp_path) -> None:
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    project.git("remote", "add", "origin", str(bare))
    project.git("push", "-q", "origin", "HEAD:main")


def skopeo_manifest(ref: str) -> dict:
    skopeo = require_tool("skopeo", "the reference client that reads what weightops pushed")
    out = subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def card_sha(project, name: str = "clf") -> str:
    return yaml.safe_load((project.root / "models" / f"{name}.card.yaml").read_text())["artifact"]["sha256"]


def test_git_tag_release_is_published_and_reference_clients_read_it(project, oci_registry, tmp_path):
    import oras.client

    target = configure(project, oci_registry, "acme/clf")
    project.git("tag", "v1.0.0")              # a release the way ML engineers make it
    project.dvc("push", "-q")
    sha = card_sha(project)
    done = project.wo_json("publish", "--oci", target)
    assert done["tags"]["v1.0.0"].startswith("sha256:")
    assert {t for t, d in done["tags"].items() if d} == {"v1.0.0"}     # no stage holds a version yet
    manifest = skopeo_manifest(f"{target}:v1.0.0")
    assert manifest["artifactType"] == ARTIFACT
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"
    weights = [layer for layer in manifest["layers"] if layer["mediaType"] == "application/vnd.cncf.model.weight.v1.raw"]
    assert [w["digest"] for w in weights] == [f"sha256:{sha}"]
    assert weights[0]["annotations"]["org.cncf.model.filepath"] == "clf.safetensors"
    # skopeo copies the artifact's blobs with the card's bytes and lists the same tags
    skopeo = require_tool("skopeo", "the reference client that reads what weightops pushed")
    subprocess.run([skopeo, "copy", "--quiet", "--src-tls-verify=false", f"docker://{target}:v1.0.0",
                    f"dir:{tmp_path / 'skopeo'}"], check=True, capture_output=True)
    assert sha256_of(tmp_path / "skopeo" / sha) == sha
    tags = json.loads(subprocess.run([skopeo, "list-tags", "--tls-verify=false", f"docker://{target}"],
                                     capture_output=True, text=True, check=True).stdout)["Tags"]
    assert "v1.0.0" in tags
    # oras (the reference Python client) pulls the same bytes
    client = oras.client.OrasClient(hostname=oci_registry.host, insecure=True)
    files = client.pull(target=f"{target}:v1.0.0", outdir=str(tmp_path / "oras"))
    pulled = [f for f in files if f.endswith("clf.safetensors")]
    assert len(pulled) == 1 and sha256_of(__import__("pathlib").Path(pulled[0])) == sha
    assert sorted(client.get_tags(target)) == sorted(tags)     # oras and skopeo list the same tags
    # weightops pulls it back by tag, verified
    out = tmp_path / "w" / "clf.safetensors"
    proc = project.wo("pull", f"oci://{target}:v1.0.0", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sha256_of(out) == sha
    # an unchanged version published again uploads no blob: the registry logs no upload
    mark = oci_registry.mark()
    again = project.wo_json("publish", "--oci", target)
    assert again["uploaded_bytes"] == 0 and again["blobs_uploaded"] == 0
    assert not [r for r in oci_registry.requests(mark) if r[0] in ("POST", "PATCH", "PUT") and "/blobs/" in r[1]]


def test_directory_artifact_is_one_layer_per_file(project, oci_registry, tmp_path):
    import oras.client

    add_dir_artifact(project, SHARDS)
    target = configure(project, oci_registry, "acme/shards")
    project.git("tag", "-a", "shards@v1.0.0", "-m", "Registering artifact")
    project.dvc("push", "-q")
    card = yaml.safe_load((project.root / "models" / "shards.card.yaml").read_text())
    done = project.wo_json("publish", "--oci", target.replace("shards", "{model}"), "--model", "shards")
    assert "v1.0.0" in done["tags"]
    manifest = skopeo_manifest(f"{target}:v1.0.0")
    paths = {layer["annotations"]["org.cncf.model.filepath"]: layer["digest"] for layer in manifest["layers"]}
    for f in card["artifact"]["files"]:
        assert paths[f"shards/{f['path']}"] == f"sha256:{f['sha256']}"
    client = oras.client.OrasClient(hostname=oci_registry.host, insecure=True)
    client.pull(target=f"{target}:v1.0.0", outdir=str(tmp_path / "oras"))
    for rel, data in SHARDS.items():
        assert (tmp_path / "oras" / "shards" / rel).read_bytes() == data
    out = tmp_path / "pulled"
    proc = project.wo("pull", f"oci://{target}:v1.0.0", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    for rel, data in SHARDS.items():
        assert (out / rel).read_bytes() == data
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(SHARDS)


def test_oras_pushed_artifact_pulls_with_weightops(oci_registry, tmp_path):
    import oras.client
    import oras.provider

    data = bytes(range(256)) * 4096
    src = tmp_path / "src" / "model.safetensors"
    src.parent.mkdir()
    src.write_bytes(data)
    target = f"{oci_registry.host}/other/from-oras:v3"
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps({str(src): {"org.cncf.model.filepath": "model.safetensors"}}))
    client = oras.client.OrasClient(hostname=oci_registry.host, insecure=True)
    client.push(target=target, files=[f"{src}:application/vnd.cncf.model.weight.v1.raw"],
                manifest_config=f"{_config(tmp_path)}:application/vnd.cncf.model.config.v1+json",
                annotation_file=str(annotations), disable_path_validation=True)
    from helpers import run_cli

    out = tmp_path / "dest" / "model.safetensors"
    proc = run_cli(["pull", f"oci://{target}", "-o", str(out), "--json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == data
    assert json.loads(proc.stdout)["files"][0]["digest"] == "sha256:" + sha256_of(src)


def _config(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"descriptor": {"name": "from-oras", "version": "v3"},
                               "modelfs": {"type": "layers", "diffIds": []}, "config": {"format": "safetensors"}}))
    return cfg


def test_blobs_in_another_repository_are_mounted_not_sent(project, oci_registry):
    first = configure(project, oci_registry, "team-a/clf")
    project.dvc("push", "-q")
    at(project, T0, "release", "v1.0.0")
    assert project.wo_json("publish")["oci"]["blobs_uploaded"] == 3    # weights, card, config
    path = project.root / "weightops.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["oci"] = {"repository": f"{oci_registry.host}/team-b/clf", "mount_from": [first]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    mark = oci_registry.mark()
    done = project.wo_json("publish", "v1.0.0")
    assert done["uploaded_bytes"] == 0 and done["blobs_mounted"] == 3, done
    mounts = [r for r in oci_registry.requests(mark) if r[0] == "POST" and "mount=" in r[1]]
    assert len(mounts) == 3 and all(status == 201 for _, _, status in mounts)
    assert not [r for r in oci_registry.requests(mark) if r[0] in ("PUT", "PATCH") and "/blobs/" in r[1]]
    assert skopeo_manifest(f"{oci_registry.host}/team-b/clf:v1.0.0") == skopeo_manifest(f"{first}:v1.0.0")


def test_resolve_reads_an_oci_reference_without_git(project, oci_registry, tmp_path):
    target = configure(project, oci_registry, "acme/resolve")
    project.dvc("push", "-q")
    at(project, T0, "release", "v1.0.0")
    published = project.wo_json("publish", "v1.0.0")["tags"]["v1.0.0"]
    from helpers import run_cli

    proc = run_cli(["resolve", f"oci://{target}:v1.0.0", "--json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["digest"] == published and found["pinned"] == f"oci://{target}@{published}"
    assert (found["model"], found["version"]) == ("clf", "v1.0.0")
    assert [f["digest"] for f in found["files"]] == ["sha256:" + card_sha(project)]
    missing = run_cli(["resolve", f"oci://{target}:v9.9.9"], cwd=tmp_path)
    assert_one_line_error(missing, 3, "v9.9.9")
