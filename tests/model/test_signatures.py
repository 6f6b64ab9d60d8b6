"""MLflow-format signatures: validation that names the field, comparison that names what broke."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from helpers import ROOT, assert_one_line_error, run_cli

from weightops.errors import UsageError
from weightops.model.signature import breaking, diff_signatures, parse_signature


def tensor(name, dtype="float32", shape=(-1, 8)):
    return {"type": "tensor", "name": name, "tensor-spec": {"dtype": dtype, "shape": list(shape)}}


def column(name, type_="double", required=True):
    return {"type": type_, "name": name, "required": required}


BASE = {"inputs": [tensor("x"), tensor("mask", "bool")], "outputs": [tensor("p", shape=(-1, 1))]}
COLS = {"inputs": [column("age", "long"), column("income"), column("city", "string", False)],
        "outputs": [{"type": "double"}]}


def changed(old: dict, new: dict) -> list[tuple[str, bool]]:
    return [(c.field, c.breaking) for c in diff_signatures(parse_signature(old), parse_signature(new))]


@pytest.mark.parametrize("new, expected", [
    (BASE, []),
    ({**BASE, "inputs": [tensor("x")]}, [("inputs.mask", True)]),
    ({**BASE, "inputs": [tensor("features"), tensor("mask", "bool")]}, [("inputs.x", True)]),   # renamed
    ({**BASE, "inputs": [tensor("x", "float16"), tensor("mask", "bool")]}, [("inputs.x.dtype", True)]),
    ({**BASE, "inputs": [tensor("x", shape=(-1, 9)), tensor("mask", "bool")]}, [("inputs.x.shape", True)]),
    ({**BASE, "inputs": [tensor("x", shape=(-1, 8, 1)), tensor("mask", "bool")]}, [("inputs.x.shape", True)]),
    ({**BASE, "inputs": [tensor("x", shape=(32, 8)), tensor("mask", "bool")]}, [("inputs.x.shape", True)]),   # narrowed
    ({**BASE, "inputs": [tensor("x", shape=(-1, -1)), tensor("mask", "bool")]}, [("inputs.x.shape", False)]),  # widened
    ({**BASE, "inputs": BASE["inputs"] + [tensor("extra")]}, [("inputs.extra", True)]),   # tensors are required
    ({**BASE, "outputs": []}, [("outputs.p", True)]),
    ({**BASE, "outputs": BASE["outputs"] + [tensor("logit")]}, [("outputs.logit", False)]),
    ({**BASE, "outputs": [tensor("p", shape=(-1, 2))]}, [("outputs.p.shape", True)]),
])
def test_tensor_signature_changes(new, expected):
    assert changed(BASE, new) == expected


@pytest.mark.parametrize("new, expected", [
    ({**COLS, "inputs": COLS["inputs"][:2]}, [("inputs.city", True)]),
    ({**COLS, "inputs": COLS["inputs"] + [column("zip", "string", False)]}, [("inputs.zip", False)]),
    ({**COLS, "inputs": COLS["inputs"] + [column("zip", "string")]}, [("inputs.zip", True)]),
    ({**COLS, "inputs": [column("age", "long"), column("income"), column("city", "string", True)]},
     [("inputs.city.required", True)]),
    ({**COLS, "inputs": [column("age", "long", False), column("income"), column("city", "string", False)]},
     [("inputs.age.required", False)]),
    ({**COLS, "inputs": [column("age", "double"), column("income"), column("city", "string", False)]},
     [("inputs.age.type", True)]),
])
def test_column_signature_changes(new, expected):
    assert changed(COLS, new) == expected


def test_signature_added_or_removed():
    sig = parse_signature(BASE)
    assert [(c.field, c.breaking) for c in diff_signatures(None, sig)] == [("signature", False)]
    assert breaking(diff_signatures(sig, None))[0].field == "signature"


@pytest.mark.parametrize("doc, needle", [
    ({"outputs": []}, "none of inputs, outputs, params"),
    ({"inputs": [{"type": "tensor", "name": "x", "tensor-spec": {"dtype": "float32", "shape": [-2, 8]}}]},
     "inputs[0].tensor-spec.shape"),
    ({"inputs": [{"type": "tensor", "name": "x", "tensor-spec": {"dtype": "float512", "shape": [8]}}]},
     "inputs[0].tensor-spec.dtype"),
    ({"inputs": [{"type": "tensor", "name": "x"}]}, "inputs[0]"),
    ({"inputs": [{"type": "decimal", "name": "x"}]}, "inputs[0].type"),
    ({"inputs": [column("a"), tensor("b")]}, "mixes column-based and tensor-based"),
    ({"inputs": [column("a"), column("a")]}, "'a' appears twice"),
    ({"inputs": [column("a", required="yes")]}, "inputs[0].required"),
    ({"inputs": [], "input": []}, "unknown key"),
])
def test_invalid_signatures_name_the_field(doc, needle):
    with pytest.raises(UsageError) as err:
        parse_signature(doc)
    assert needle in str(err.value)


def test_card_signature_is_validated_and_mlmodel_json_strings_accepted(project, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"inputs": [{"type": "tensor", "name": "x", "tensor-spec": {"dtype": "float32", "shape": "8"}}]}))
    proc = project.wo("card", str(project.weights), "-o", str(tmp_path / "c.yaml"), "--signature", str(bad))
    assert_one_line_error(proc, 2, "bad.yaml", "inputs[0].tensor-spec.shape")
    assert not (tmp_path / "c.yaml").exists()

    # An MLflow MLmodel file stores the lists as JSON strings under `signature:`.
    mlmodel = tmp_path / "MLmodel"
    mlmodel.write_text(yaml.safe_dump({"flavors": {}, "signature": {
        "inputs": json.dumps(BASE["inputs"]), "outputs": json.dumps(BASE["outputs"]), "params": None}}))
    proc = project.wo("card", str(project.weights), "-o", str(tmp_path / "c.yaml"), "--signature", str(mlmodel))
    assert proc.returncode == 0, proc.stderr
    card = yaml.safe_load((tmp_path / "c.yaml").read_text())
    assert card["signature"]["inputs"] == BASE["inputs"]
    assert card["signature"]["outputs"] == BASE["outputs"]


def test_signature_diff_command_on_files(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "b.json").write_text(json.dumps({**BASE, "inputs": [tensor("x", "float64"), tensor("mask", "bool")]}))
    same = run_cli(["signature", "diff", "a.yaml", "a.yaml"], cwd=tmp_path)
    assert same.returncode == 0 and same.stdout.strip() == "no changes"
    proc = run_cli(["signature", "diff", "a.yaml", "b.json", "--json"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "inputs.x.dtype", "float32 -> float64")
    assert json.loads(proc.stdout) == {"breaking": True, "changes": [
        {"field": "inputs.x.dtype", "message": "inputs.x dtype float32 -> float64", "breaking": True}]}
    missing = run_cli(["signature", "diff", "a.yaml", "nope.yaml"], cwd=tmp_path)
    assert_one_line_error(missing, 3, "nope.yaml")


def test_infer_refuses_to_guess_from_plain_weights(tmp_path):
    save_file({"linear.weight": np.ones((1, 8), np.float32)}, tmp_path / "m.safetensors")
    proc = run_cli(["signature", "infer", "m.safetensors"], cwd=tmp_path)
    assert_one_line_error(proc, 2, "m.safetensors", "not a graph", "--signature FILE")


def test_infer_from_onnx_names_the_extra_when_missing(tmp_path):
    # A package that fails to import stands in for onnx not being installed: the file cannot be
    # read here, a refusal (5) naming the extra that reads it.
    blocker = tmp_path / "blocked" / "onnx"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('onnx is not installed')\n")
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker.parent), str(ROOT)]))
    for args in (["signature", "infer", "m.onnx"], ["validate", "m.onnx"]):
        proc = subprocess.run([sys.executable, "-m", "weightops", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert_one_line_error(proc, 5, "needs onnx", "weightops[onnx]")


def test_first_layer_must_take_the_signature_features(tmp_path):
    run_cli(["init", str(tmp_path / "p"), "--model", "m"], cwd=tmp_path, check=True)
    root = tmp_path / "p"
    cfg = root / "weightops.yaml"
    cfg.write_text(cfg.read_text() + "validation:\n  first_layer: linear.weight\n  last_layer: linear.bias\n")
    sig = {"inputs": [tensor("x")], "outputs": [tensor("p", shape=(-1, 1))]}
    rng = np.random.default_rng(1)
    for n_features, ok in ((8, True), (7, False)):
        save_file({"linear.weight": rng.normal(size=(1, n_features)).astype(np.float32),
                   "linear.bias": np.array([0.3], np.float32)}, root / "m.safetensors")
        (root / "sig.yaml").write_text(yaml.safe_dump(sig))
        run_cli(["card", "m.safetensors", "-o", "m.card.yaml", "--signature", "sig.yaml"], cwd=root, check=True)
        proc = run_cli(["validate", "m.safetensors", "--against", "none"], cwd=root)
        if ok:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        else:
            assert_one_line_error(proc, 5, "signature", "linear.weight")
