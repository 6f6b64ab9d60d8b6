"""ONNX (the `onnx` extra): signatures inferred from the graph, initializers checked, and the
card's signature checked against the graph."""

from __future__ import annotations

import numpy as np
import yaml

from helpers import assert_one_line_error, run_cli


def linear_onnx(path, bias=(0.1,), features: int = 8) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(features, 1)).astype(np.float32), "fc.weight")
    b = numpy_helper.from_array(np.array(bias, np.float32), "fc.bias")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "fc.weight"], ["h"]),
                               helper.make_node("Add", ["h", "fc.bias"], ["y"])], "linear", [x], [y], [w, b])
    onnx.save(helper.make_model(graph), str(path))


def test_infer_reads_graph_inputs_and_outputs(tmp_path):
    linear_onnx(tmp_path / "m.onnx")
    proc = run_cli(["signature", "infer", "m.onnx", "-o", "sig.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sig = yaml.safe_load((tmp_path / "sig.yaml").read_text())
    assert sig["inputs"] == [{"type": "tensor", "name": "x", "tensor-spec": {"dtype": "float32", "shape": [-1, 8]}}]
    assert sig["outputs"] == [{"type": "tensor", "name": "y", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]
    # The proposal is accepted by the card as is (initializers are not inputs).
    run_cli(["card", "m.onnx", "-o", "m.card.yaml", "--signature", "sig.yaml"], cwd=tmp_path, check=True)
    assert run_cli(["validate", "m.onnx"], cwd=tmp_path).returncode == 0


def test_nan_in_an_onnx_initializer_is_named(tmp_path):
    linear_onnx(tmp_path / "m.onnx", bias=(float("nan"),))
    assert_one_line_error(run_cli(["validate", "m.onnx"], cwd=tmp_path), 5, "finite", "fc.bias")


def test_graph_that_disagrees_with_the_card_fails_the_signature_check(tmp_path):
    linear_onnx(tmp_path / "m.onnx", features=8)
    sig = {"inputs": [{"type": "tensor", "name": "x", "tensor-spec": {"dtype": "float32", "shape": [-1, 9]}}],
           "outputs": [{"type": "tensor", "name": "y", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]}
    (tmp_path / "sig.yaml").write_text(yaml.safe_dump(sig))
    run_cli(["card", "m.onnx", "-o", "m.card.yaml", "--signature", "sig.yaml"], cwd=tmp_path, check=True)
    proc = run_cli(["validate", "m.onnx", "--json"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "signature", "inputs.x.shape")
