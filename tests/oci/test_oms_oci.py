"""OMS signatures attached to OCI artifacts on a registry without the referrers API (Debian's
docker-registry): `publish --oci` pushes the signature as an artifact whose subject is the
version's manifest and lists it under the referrers tag schema's `sha256-<hex>` tag; skopeo reads
that index; `pull --via oci --require-oms` finds and verifies it before the download."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from helpers import assert_one_line_error
from needs import require_tool
from trust.oms_pki import make_pki, model_signing

PUB = ".weightops/oms/release.pub"


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_signature_attached_to_the_oci_artifact_and_verified_on_pull(project, oci_registry, pki, tmp_path):
    target = f"{oci_registry.host}/acme/clf"
    (project.root / ".weightops" / "oms").mkdir(parents=True)
    shutil.copy(pki.pub, project.root / PUB)
    doc = yaml.safe_load((project.root / "weightops.yaml").read_text())
    doc["oci"] = {"repository": target}
    doc["trust"] = {"oms": {"public_keys": [PUB]}}
    (project.root / "weightops.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    project.git("add", "-A")
    project.git("commit", "-qm", "OCI and the OMS release key")
    project.git("config", "weightops.trustPolicy", project.head())
    project.release("v1.0.0", "--oms-key", str(pki.key))
    digest = project.wo_json("publish", "--oci", target)["tags"]["v1.0.0"]

    skopeo = require_tool("skopeo", "the reference client that reads the referrers tag weightops wrote")
    raw = subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false",
                          f"docker://{target}:{digest.replace(':', '-')}"], capture_output=True, text=True, check=True)
    index = json.loads(raw.stdout)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["artifactType"] for m in index["manifests"]] == ["application/vnd.dev.sigstore.bundle.v0.3+json"]
    sig = json.loads(subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false",
                                     f"docker://{target}@{index['manifests'][0]['digest']}"],
                                    capture_output=True, text=True, check=True).stdout)
    assert sig["subject"]["digest"] == digest

    out = tmp_path / "deploy"
    got = project.wo("pull", "v1.0.0", "--via", "oci", "-o", f"{out}/", "--require-oms", "--with-signature", check=True)
    assert "through OCI; OMS signature by key" in got.stdout
    ref = model_signing("verify", "key", out, "--signature", out / "model.sig", "--public_key", pki.pub)
    assert ref.returncode == 0, ref.stderr

    refused = project.wo("pull", "v1.0.0", "--via", "oci", "-o", f"{tmp_path}/other/", "--require-oms",
                         "--oms-public-key", str(pki.other_pub))
    assert_one_line_error(refused, 5, "oms-key:")
    assert not (tmp_path / "other").exists()
