"""Params judged as `dvc status` judges them. Differential: for every form of `params:` DVC
accepts (dotted keys, whole sections, a whole file, other params files in YAML, JSON, TOML and
Python, and values dvc.yaml interpolates from `vars`), a real project is built, `dvc repro` run
and committed; then the params are changed (or something they do not track is) and committed
without repro, and weightops' verdict for the card's lineage at that commit must equal whether
`dvc status` there is clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from weightops.model.lineage import compare_inputs, training_lineage

# form -> (dvc.yaml stage fields, files, edits: (file, old, new, does DVC see it?))
FORMS = {
    "dotted-keys": ({"params": ["train.min_split", "train.lr"]},
                    {"params.yaml": "train:\n  min_split: 2\n  lr: 1e-3\n  note: a\n"},
                    [("params.yaml", "min_split: 2", "min_split: 3", True),
                     ("params.yaml", "note: a", "note: b", False)]),
    "whole-section": ({"params": ["train"]},
                      {"params.yaml": "train:\n  depth: 4\nother: 1\n"},
                      [("params.yaml", "depth: 4", "depth: 5", True), ("params.yaml", "other: 1", "other: 2", False),
                       ("params.yaml", "depth: 4\n", "depth: 4\n  extra: 1\n", True)]),
    "whole-file": ({"params": [{"params.yaml": None}]},
                   {"params.yaml": "a: 1\nb:\n  c: 2\n"},
                   [("params.yaml", "c: 2", "c: 3", True), ("params.yaml", "a: 1\n", "a: 1\nnew: 0\n", True)]),
    "other-yaml-file": ({"params": [{"custom.yaml": ["model.depth"]}, "seed"]},
                        {"custom.yaml": "model:\n  depth: 3\n  width: 8\n", "params.yaml": "seed: 1\n"},
                        [("custom.yaml", "depth: 3", "depth: 4", True), ("custom.yaml", "width: 8", "width: 9", False),
                         ("params.yaml", "seed: 1", "seed: 2", True)]),
    "json-file": ({"params": [{"hp.json": ["opt.lr"]}]},
                  {"hp.json": json.dumps({"opt": {"lr": 0.1, "momentum": 0.9}})},
                  [("hp.json", '"lr": 0.1', '"lr": 0.2', True), ("hp.json", '"momentum": 0.9', '"momentum": 0.8', False)]),
    "toml-file": ({"params": [{"hp.toml": ["opt.lr"]}]},
                  {"hp.toml": "[opt]\nlr = 0.1\nlayers = [1, 2]\n"},
                  [("hp.toml", "lr = 0.1", "lr = 0.2", True), ("hp.toml", "layers = [1, 2]", "layers = [1, 3]", False)]),
    "python-file": ({"params": [{"hp.py": ["LR", "Model.sizes"]}]},
                    {"hp.py": "LR = 0.1\nEPOCHS = 3\n\n\nclass Model:\n    sizes = (1, 2)\n"},
                    [("hp.py", "LR = 0.1", "LR = 0.2", True), ("hp.py", "EPOCHS = 3", "EPOCHS = 4", False),
                     ("hp.py", "(1, 2)", "(1, 3)", True)]),
    "vars-interpolation": ({"cmd": "echo ${model.depth} > model.bin"},
                           {"custom.yaml": "model:\n  depth: 3\n  width: 8\n"},
                           [("custom.yaml", "depth: 3", "depth: 4", True),
                            ("custom.yaml", "width: 8", "width: 9", False)]),
    "params-yaml-interpolation": ({"cmd": "echo ${train.depth} > model.bin"},
                                  {"params.yaml": "train:\n  depth: 3\n  other: 8\n"},
                                  [("params.yaml", "depth: 3", "depth: 4", True),
                                   ("params.yaml", "other: 8", "other: 9", False)]),
}


def run(root: Path, *args: str) -> str:
    proc = subprocess.run(list(args), cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def dvc(root: Path, *args: str) -> str:
    return run(root, sys.executable, "-m", "dvc", *args)


def dvc_status_clean(root: Path, *targets: str) -> bool:
    return json.loads(dvc(root, "status", "--json", *targets)) == {}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_params_verdict_matches_dvc_status(form, tmp_path):
    stage, files, edits = FORMS[form]
    root = tmp_path / form
    root.mkdir()
    run(root, "git", "init", "-q")
    dvc(root, "init", "-q")
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "data.txt").write_text("data\n")
    spec = {"cmd": "cp data.txt model.bin", "deps": ["data.txt"], "outs": ["model.bin"], **stage}
    doc = {"vars": ["custom.yaml"]} if form == "vars-interpolation" else {}
    doc["stages"] = {"train": spec}
    (root / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    dvc(root, "repro", "-q")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "train")
    trained = run(root, "git", "rev-parse", "HEAD").strip()
    lineage = training_lineage(root, "model.bin")
    if "${" in spec["cmd"]:   # interpolated values are not params for DVC: it tracks the rendered command
        assert lineage["cmd"] == "echo 3 > model.bin"
    else:
        assert lineage["params"]
    assert lineage["dirty"] is False and lineage["inputs_differ"] == [] and dvc_status_clean(root)
    assert compare_inputs(root, trained, lineage) == []
    for name, old, new, dvc_sees in edits:
        run(root, "git", "checkout", "-q", trained)
        text = (root / name).read_text()
        assert old in text, (name, old)
        (root / name).write_text(text.replace(old, new, 1))
        run(root, "git", "commit", "-qam", f"edit {name}")
        commit = run(root, "git", "rev-parse", "HEAD").strip()
        clean = dvc_status_clean(root)
        assert clean is (not dvc_sees), (form, old, new)     # the case means what it says
        differences = compare_inputs(root, commit, lineage)
        assert (differences == []) is clean, (form, old, new, differences)


def test_dotted_params_release_reproducible_from_its_commit(project):
    """The shape the public projects have: `params: [train.lr, ...]` in dvc.yaml. The card says
    clean, release notes say reproducible, and a later commit changing one key is named."""
    doc = yaml.safe_load((project.root / "dvc.yaml").read_text())
    keys = sorted(yaml.safe_load((project.root / "params.yaml").read_text())["train"])
    doc["stages"]["train"]["params"] = [f"train.{k}" for k in keys]
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    project.dvc("repro", "-q")
    project.dvc("repro", "-q", "--force", "card")   # same weights, so DVC would keep the old card
    project.git("add", "-A")
    project.git("commit", "-qm", "dotted params")
    card = yaml.safe_load(project.card.read_text())["lineage"]
    assert card["params_files"]["params.yaml"]["train.lr"] == 0.5 and card["dirty"] is False
    project.release("v1.0.0")
    notes = project.wo("release-notes", "v1.0.0", check=True).stdout
    assert "**reproducible from this commit**" in notes and dvc_status_clean(project.root, "train")
    project.set_params(lr=0.25)
    project.git("commit", "-qam", "lr, without retraining")
    project.git("tag", "v1.0.1")
    notes = project.wo("release-notes", "v1.0.1", check=True).stdout
    assert "not reproducible from this commit" in notes and "`params train.lr` (card 0.5, commit 0.25)" in notes
    assert not dvc_status_clean(project.root, "train")
