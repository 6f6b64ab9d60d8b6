"""DVC's own model of a project: only `type: model` (and untyped) artifacts are models. A
`type: dataset` beside the model, declared and tracked with DVC's own commands, is not a second
model for resolve, list or diff."""

from __future__ import annotations

import json
import os

import yaml

from helpers import T0, assert_one_line_error
from scaffold.adoption_layouts import sh


def declare(project, name: str, spec: dict) -> None:
    doc = yaml.safe_load((project.root / "dvc.yaml").read_text())
    doc["artifacts"][name] = spec
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_dataset_artifact_is_not_a_model(project):
    (project.root / "data").mkdir()
    (project.root / "data" / "train.csv").write_text("x,y\n1,0\n")
    project.dvc("add", "-q", "data/train.csv")
    declare(project, "train-data", {"path": "data/train.csv", "type": "dataset", "desc": "training rows"})
    project.git("add", "-A")
    project.git("commit", "-qm", "the dataset as a DVC artifact")
    project.release("v1.0.0", at=T0)
    # GTO registers datasets too; weightops' list and audit leave them out
    sh(project.root, dict(os.environ), "gto", "register", "train-data", "--version", "v1.0.0", at=T0 + 1)
    assert project.wo_json("resolve", "v1.0.0")["model"] == "clf"          # no "several models"
    assert {r["model"] for r in project.wo_json("list")["versions"]} == {"clf"}
    audit = project.wo("audit", "--json", "--offline")
    assert audit.returncode == 0 and json.loads(audit.stdout)["versions"] == 1, audit.stdout
    base = project.head()
    # the dataset changes, the weights do not: diff reports no weights change
    (project.root / "data" / "train.csv").write_text("x,y\n1,0\n2,1\n")
    project.dvc("add", "-q", "data/train.csv")
    project.git("commit", "-qam", "more rows")
    report = json.loads(project.wo("diff", base, "HEAD", "--format", "json", check=True).stdout)
    assert [m["model"] for m in report["models"]] == []
    # a second model (untyped counts as one) makes the choice ambiguous, and the message names them
    declare(project, "other", {"path": "models/other.bin"})
    cfg = project.root / "weightops.yaml"
    cfg.write_text("".join(l for l in cfg.read_text().splitlines(True) if not l.startswith("model:")))
    line = assert_one_line_error(project.wo("resolve", "v1.0.0"), 2, "several models (clf, other)", "--model")
    assert "train-data" not in line
