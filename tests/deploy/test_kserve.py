"""`weightops kserve STAGE` prints an InferenceService that KServe's own CRD schema accepts (the
openAPIV3Schema of kserve/kserve's serving.kserve.io_inferenceservices.yaml, vendored in
kserve/; the `kserve` SDK itself pulls fastapi, grpcio, pandas and the Kubernetes client, too heavy
for the test environment), checked strictly as `kubectl apply --validate=strict` does (unknown
fields refused), with a storage URI pinned to the digest the registry holds for the stage."""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from helpers import T0, at
from needs import require_tool
from oci.conftest import oci_registry  # noqa: F401 - the session registry fixture
from oci.test_publish_pull import configure, with_git_remote

SCHEMA = Path(__file__).parent / "kserve" / "inferenceservice.v1beta1.schema.json.gz"


def strict(node: object) -> object:
    """The CRD schema with unknown fields refused: kubectl's strict field validation, which the API
    server applies to objects whose schema lists properties and does not preserve unknown fields."""
    if isinstance(node, dict):
        node = {k: strict(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node and \
                not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


@pytest.fixture(scope="module")
def validator():
    schema = strict(json.loads(gzip.decompress(SCHEMA.read_bytes())))
    return jsonschema.Draft7Validator(schema)


def test_kserve_manifest_validates_and_pins_the_stage_digest(project, oci_registry, tmp_path, validator):
    target = configure(project, oci_registry, "acme/served")
    with_git_remote(project, tmp_path)
    at(project, T0, "release", "v1.0.0", "--push")
    at(project, T0 + 10, "promote", "v1.0.0", "production", "--push")
    proc = project.wo("kserve", "production", "--namespace", "models")
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    uri = doc["spec"]["predictor"]["model"]["storageUri"]
    skopeo = require_tool("skopeo", "reads the digest the registry holds for the stage")
    raw = subprocess.run([skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{target}:production"],
                         capture_output=True, check=True).stdout
    import hashlib

    assert uri == f"oci://{target}@sha256:{hashlib.sha256(raw).hexdigest()}"
    assert doc["spec"]["predictor"]["model"]["modelFormat"] == {"name": "huggingface"}   # a safetensors card
    assert doc["metadata"]["annotations"]["weightops.dev/version"] == "v1.0.0"
    # the strict schema is not a rubber stamp: a misspelled field fails it
    typo = copy.deepcopy(doc)
    typo["spec"]["predictor"]["model"]["storageUrl"] = typo["spec"]["predictor"]["model"].pop("storageUri")
    assert list(validator.iter_errors(typo))
    missing = copy.deepcopy(doc)
    del missing["spec"]["predictor"]["model"]["modelFormat"]["name"]
    assert list(validator.iter_errors(missing))
