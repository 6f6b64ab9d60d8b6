"""Several models in one repo: root dvc.yaml artifacts, `.dvc` pointers, a nested dvc.yaml."""

import os
import subprocess

import numpy as np
import yaml
from safetensors.numpy import save_file

from helpers import assert_one_line_error

T0 = 1_767_225_600


def add_model(project, rel_weights, model, dvcyaml, value):
    path = project.root / rel_weights
    path.parent.mkdir(parents=True, exist_ok=True)
    # varied values: the production gate (on by default) refuses constant tensors
    save_file({"w": (np.arange(16, dtype=np.float32).reshape(4, 4) + 1) * value}, str(path))
    project.dvc("add", "-q", rel_weights)
    card = rel_weights.rsplit(".", 1)[0] + ".card.yaml"
    project.wo("card", rel_weights, "-o", card, "--model", model, check=True)
    doc_path = project.root / dvcyaml
    doc = yaml.safe_load(doc_path.read_text()) if doc_path.exists() else {}
    base = os.path.dirname(dvcyaml)
    doc.setdefault("artifacts", {})[model.split(":")[-1]] = {"path": os.path.relpath(rel_weights, base or "."), "type": "model"}
    doc_path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_three_models_each_with_versions_and_stages(project):
    add_model(project, "models/det.safetensors", "det", "dvc.yaml", 1.0)
    add_model(project, "sub/weights.safetensors", "sub:other", "sub/dvc.yaml", 2.0)
    project.git("add", "-A")
    project.git("commit", "-qm", "two more models")
    project.release("v1.0.0", at=T0)                        # default model, plain tag
    project.release("v1.0.0", "--model", "det", at=T0 + 1)  # named model: det@v1.0.0
    project.release("v2.0.0", "--model", "sub:other", at=T0 + 2)
    assert set(project.git("tag", "-l").split()) == {"v1.0.0", "det@v1.0.0", "sub=other@v2.0.0"}

    det = project.wo_json("resolve", "v1.0.0", "--model", "det")
    assert det["model"] == "det" and det["path"] == "models/det.safetensors" and det["tag"] == "det@v1.0.0"
    other = project.wo_json("resolve", "sub=other@v2.0.0")
    assert other["model"] == "sub:other" and other["path"] == "sub/weights.safetensors"
    assert open(other["url"], "rb").read() == (project.root / "sub/weights.safetensors").read_bytes()
    assert project.wo_json("resolve", "v1.0.0")["model"] == "clf"  # the configured default

    project.wo("promote", "v1.0.0", "production", "--model", "det", env={"WEIGHTOPS_NOW": str(T0 + 10)}, check=True)
    project.wo("promote", "v2.0.0", "staging", "--model", "sub:other", env={"WEIGHTOPS_NOW": str(T0 + 11)}, check=True)
    assert project.git("tag", "-l", "sub=other#*") == "sub=other#staging#1"
    assert project.wo_json("resolve", "production", "--model", "det")["model"] == "det"
    assert_one_line_error(project.wo("resolve", "production"), 3, "clf", "production")
    rows = project.wo_json("list")["versions"]
    assert {(r["model"], r["version"], tuple(r["stages"])) for r in rows} == {
        ("clf", "v1.0.0", ()), ("det", "v1.0.0", ("production",)), ("sub:other", "v2.0.0", ("staging",))}
    gto = subprocess.run(["gto", "show", "--json"], cwd=project.root, capture_output=True, text=True,
                         env=dict(os.environ, GTO_NO_ANALYTICS="1"))
    assert gto.returncode == 0 and "sub:other" in gto.stdout


def test_no_default_model_asks_for_model(project):
    add_model(project, "models/det.safetensors", "det", "dvc.yaml", 1.0)
    cfg = project.root / "weightops.yaml"
    cfg.write_text("\n".join(l for l in cfg.read_text().splitlines() if not l.startswith("model:")) + "\n")
    project.git("add", "-A")
    project.git("commit", "-qm", "two models, no default")
    assert_one_line_error(project.wo("release", "v1.0.0"), 2, "--model")
