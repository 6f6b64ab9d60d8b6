"""ONNX (the `onnx` extra): signatures inferred from the graph, initializers checked, and the
card's signature checked against the graph."""

from __future__ import annotations

import json

import numpy as np
import pytest
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
    checked = run_cli(["validate", "m.onnx", "--json"], cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert (report["passed"], report["tensors"], report["parameters"]) == (True, 2, 9)   # fc.weight 8x1, fc.bias 1
    assert report["checks"]["signature"]["passed"] is True and "note" not in report["checks"]["signature"]


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


# ---------------------------------------------------------------- graphs as exporters write them
def zipmap_classifier(path) -> None:
    """What skl2onnx writes for a classifier: a label tensor and a sequence of maps (ZipMap)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])
    label = helper.make_tensor_value_info("output_label", TensorProto.INT64, [None])
    probs = helper.make_value_info("output_probability", helper.make_sequence_type_proto(
        helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))
    clf = helper.make_node("LinearClassifier", ["X"], ["output_label", "probabilities"], domain="ai.onnx.ml",
                           classlabels_ints=[0, 1, 2], coefficients=[0.1 * i for i in range(12)],
                           intercepts=[0.0, 0.1, 0.2], post_transform="SOFTMAX")
    zipmap = helper.make_node("ZipMap", ["probabilities"], ["output_probability"], domain="ai.onnx.ml",
                              classlabels_int64s=[0, 1, 2])
    graph = helper.make_graph([clf, zipmap], "clf", [x], [label, probs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def unknown_rank_model(path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)   # no shape at all: unknown rank
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    onnx.save(helper.make_model(graph), str(path))


def test_unknown_rank_input_is_not_a_scalar(tmp_path):
    import onnx

    from weightops.model.formats.onnx import graph_signature
    from weightops.model.signature import graph_differences, parse_signature

    unknown_rank_model(tmp_path / "m.onnx")
    graph = graph_signature(tmp_path / "m.onnx")
    assert graph.inputs[0].shape is None        # unknown, not () (a scalar)
    # A card saying rank 2 does not differ from a graph that says nothing about the rank...
    sig = {"inputs": [{"type": "tensor", "name": "x", "tensor-spec": {"dtype": "float32", "shape": [-1, 8]}}],
           "outputs": [{"type": "tensor", "name": "y", "tensor-spec": {"dtype": "float32", "shape": [-1, 8]}}]}
    assert graph_differences(parse_signature(sig), graph) == []
    # ... while the dtype the graph does declare is still compared.
    sig["inputs"][0]["tensor-spec"]["dtype"] = "float64"
    assert [c.field for c in graph_differences(parse_signature(sig), graph)] == ["inputs.x.dtype"]
    # Inferring cannot write the shape MLflow needs: it names the input instead of writing [].
    proc = run_cli(["signature", "infer", "m.onnx"], cwd=tmp_path)
    assert_one_line_error(proc, 2, "input 'x'", "unknown rank")
    # onnx.checker refuses a main graph input without a shape; validate says so, naming it.
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(str(tmp_path / "m.onnx"))
    assert_one_line_error(run_cli(["validate", "m.onnx"], cwd=tmp_path), 5, "onnx.checker", "input 'x'", "no shape")


def test_zipmap_classifier_output_is_named_not_a_keyerror(tmp_path):
    zipmap_classifier(tmp_path / "clf.onnx")
    proc = run_cli(["signature", "infer", "clf.onnx"], cwd=tmp_path)
    assert_one_line_error(proc, 2, "output 'output_probability'", "seq(map(int64,tensor(float)))", "--signature FILE")
    # validate reads it: the sequence output is left out of the graph comparison, the rest compared.
    sig = {"inputs": [{"type": "tensor", "name": "X", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}],
           "outputs": [{"type": "tensor", "name": "output_label", "tensor-spec": {"dtype": "int64", "shape": [-1]}},
                       {"type": "tensor", "name": "output_probability", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]}
    for features, passed in ((4, True), (5, False)):
        sig["inputs"][0]["tensor-spec"]["shape"] = [-1, features]
        (tmp_path / "sig.yaml").write_text(yaml.safe_dump(sig))
        run_cli(["card", "clf.onnx", "-o", "clf.card.yaml", "--signature", "sig.yaml"], cwd=tmp_path, check=True)
        proc = run_cli(["validate", "clf.onnx", "--against", "none", "--json"], cwd=tmp_path)
        assert proc.returncode == (0 if passed else 5), proc.stdout + proc.stderr
        signature = json.loads(proc.stdout)["checks"]["signature"]
        assert signature["passed"] is passed
        if not passed:
            assert_one_line_error(proc, 5, "signature", "X")
