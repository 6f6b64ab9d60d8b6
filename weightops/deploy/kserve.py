"""`weightops kserve STAGE`: a KServe InferenceService (serving.kserve.io/v1beta1) whose predictor's
`storageUri` pins the stage's version by manifest digest (`oci://REGISTRY/REPOSITORY@sha256:...`),
the digest git computes for that version (registry/oci.py), so applying it twice serves the same
bytes whatever happens to the registry's tags.

Fields follow the InferenceService CRD (kserve/kserve config/crd/full/
serving.kserve.io_inferenceservices.yaml): `spec.predictor.model.modelFormat.name` (required) and
`storageUri`. The model format is the card's format mapped to KServe's runtime names (`onnx`,
`pytorch`, `sklearn`, `tensorflow`, `huggingface`, ...), or `--format`.
"""

from __future__ import annotations

import os
import re

from weightops.errors import UsageError

# weightops' card formats (model/card.py FORMATS) -> KServe's modelFormat names.
KSERVE_FORMATS = {"onnx": "onnx", "torchscript": "pytorch", "pytorch": "pytorch", "tensorflow": "tensorflow",
                  "keras": "tensorflow", "tflite": "tensorflow", "pickle": "sklearn", "joblib": "sklearn",
                  "safetensors": "huggingface", "directory": "huggingface", "gguf": "huggingface"}
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def inference_service(stage: str, *, model: str | None = None, repo: str | os.PathLike = ".",
                      name: str | None = None, namespace: str | None = None, model_format: str | None = None,
                      runtime: str | None = None) -> dict:
    """The InferenceService for STAGE (a dict ready for YAML): metadata `name` (default: the model,
    as a DNS-1035 label) and `namespace`, annotations naming the model, version, commit and sha256,
    predictor.model {modelFormat, storageUri pinned by digest, runtime}. UsageError (2) for a
    name that is not a DNS-1035 label or a format with no KServe name (pass `model_format`);
    errors of `resolve` (3 for an empty stage) and of OCI settings (3 when no repository)."""
    from weightops.opening import open_project
    from weightops.registry.oci import build_version, repository_for
    from weightops.registry.resolve import resolve

    project = open_project(repo)
    r = resolve(stage, model=model, project=project)
    built = build_version(project, r.model, r.version, r.located)
    uri = str(repository_for(project, r.model).with_digest(built.digest))
    name = name or r.model.lower().replace("_", "-").replace(":", "-")
    if len(name) > 63 or not _DNS1035.match(name):
        raise UsageError(f"InferenceService name {name!r} must be a DNS-1035 label (lower-case letters, digits, '-', "
                         "starting with a letter, at most 63); pass --name")
    card_format = str((r.card.get("artifact") or {}).get("format") or "")
    fmt = model_format or KSERVE_FORMATS.get(card_format)
    if not fmt:
        raise UsageError(f"{r.tag}: KServe has no model format for '{card_format}'; pass --format NAME "
                         "(e.g. sklearn, onnx, pytorch, huggingface)")
    meta = {"name": name, "annotations": {
        "weightops.dev/model": r.model, "weightops.dev/version": r.version, "weightops.dev/stage": stage,
        "weightops.dev/commit": r.commit, "weightops.dev/sha256": r.sha256}}
    if namespace:
        meta["namespace"] = namespace
    predictor_model = {"modelFormat": {"name": fmt}, "storageUri": uri}
    if runtime:
        predictor_model["runtime"] = runtime
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": meta,
            "spec": {"predictor": {"model": predictor_model}}}
