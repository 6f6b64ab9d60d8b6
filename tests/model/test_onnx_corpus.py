"""ONNX files judged as ONNX judges them: a corpus of valid models and crafted broken ones (built
here, small) goes to `onnx.load` + `onnx.checker.check_model` and to weightops' reader; the
verdicts must agree. Then the external-data layout (`model.onnx` + `model.onnx.data`) as one
artifact, and which initializers are weights and which are constants."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import yaml
from helpers import assert_one_line_error, run_cli
from onnx import TensorProto, helper, numpy_helper

from model.test_onnx import unknown_rank_model, zipmap_classifier
from weightops.errors import WeightopsError
from weightops.model.formats import read_tensors


def matmul_model(w: np.ndarray | None = None) -> onnx.ModelProto:
    w = np.arange(1, 17, dtype=np.float32).reshape(8, 2) if w is None else w
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", w.shape[0]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", w.shape[1]])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y],
                              [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def save_external(model, path, location=None) -> None:
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location or path.name + ".data", size_threshold=0)


def set_location(path, location: str) -> None:
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(model, str(path))


def if_model() -> onnx.ModelProto:
    """A weight used only inside the branches of an If (as exporters write models with modes)."""
    w = numpy_helper.from_array(np.full((4, 4), 0.5, np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    then = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["n", 4])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, ["n", 4])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    return helper.make_model(helper.make_graph([node], "g", [x, c], [y], [w]),
                             opset_imports=[helper.make_opsetid("", 17)])


def build(case: str, d) -> object:
    """Write corpus file `case` in folder `d`; returns its path."""
    path = d / f"{case}.onnx"
    if case == "valid":
        onnx.save(matmul_model(), str(path))
    elif case == "valid-external":
        save_external(matmul_model(), path)
    elif case == "valid-zipmap":
        zipmap_classifier(path)
    elif case == "valid-if-subgraph":
        onnx.save(if_model(), str(path))
    elif case == "unknown-rank-input":
        unknown_rank_model(path)
    elif case == "truncated":
        onnx.save(matmul_model(), str(path))
        path.write_bytes(path.read_bytes()[:60])
    elif case == "not-protobuf":
        path.write_bytes(b"this is not an ONNX model\n" * 8)
    elif case in ("raw-data-too-short", "raw-data-too-long", "dims-too-large", "undefined-input", "unknown-op",
                  "ir-too-new", "output-not-produced"):
        m = matmul_model()
        if case == "raw-data-too-short":
            m.graph.initializer[0].raw_data = b"\0" * 12
        elif case == "raw-data-too-long":
            m.graph.initializer[0].raw_data += b"\0" * 8
        elif case == "dims-too-large":
            m.graph.initializer[0].dims[:] = [8, 3]
        elif case == "undefined-input":
            m.graph.node[0].input[1] = "nope"
        elif case == "unknown-op":
            m.graph.node[0].op_type = "NotAnOp"
        elif case == "ir-too-new":
            m.ir_version = 99
        else:
            m.graph.output[0].name = "zzz"
        onnx.save(m, str(path))
    elif case.startswith("external-"):
        save_external(matmul_model(), path)
        data = d / f"{case}.onnx.data"
        if case == "external-missing":
            data.unlink()
        elif case == "external-short":
            with open(data, "r+b") as f:
                f.truncate(20)
        elif case == "external-escapes":
            (d.parent / "escaped.bin").write_bytes(data.read_bytes())
            set_location(path, "../escaped.bin")
        elif case == "external-absolute":
            set_location(path, str(data.resolve()))
        elif case == "external-symlink-inside":
            data.rename(d / "real.bin")
            data.symlink_to(d / "real.bin")
        elif case == "external-symlink-out":
            (d.parent / "secret.bin").write_bytes(data.read_bytes())
            data.unlink()
            data.symlink_to(d.parent / "secret.bin")
    else:
        raise AssertionError(case)
    return path


CASES = ["valid", "valid-external", "valid-zipmap", "valid-if-subgraph", "unknown-rank-input", "truncated",
         "not-protobuf", "raw-data-too-short", "dims-too-large", "undefined-input", "unknown-op", "ir-too-new",
         "output-not-produced", "external-missing", "external-short", "external-escapes", "external-absolute",
         "external-symlink-out", "external-symlink-inside", "raw-data-too-long"]
# Where weightops is stricter than onnx.load + onnx.checker (README, "ONNX"): an initializer with
# more raw bytes than its shape holds passes both, but onnx's own numpy_helper cannot convert it.
STRICTER = {"raw-data-too-long"}


def onnx_verdict(path) -> bool:
    try:
        onnx.load(str(path))           # loads external data too, with ONNX's own bounds checks
        onnx.checker.check_model(str(path))
        return True
    except Exception:  # noqa: BLE001 - DecodeError, ValidationError, ValueError, ...
        return False


def weightops_verdict(path) -> bool:
    try:
        for t in read_tensors(path):
            for _ in t.chunks():
                pass
        return True
    except WeightopsError:
        return False


@pytest.mark.parametrize("case", CASES)
def test_weightops_reads_exactly_the_onnx_files_onnx_accepts(case, tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    path = build(case, d)
    theirs = onnx_verdict(path)
    if case in STRICTER:
        assert theirs, f"{case} is no longer a divergence: onnx refuses it too"
        with pytest.raises(ValueError):
            numpy_helper.to_array(onnx.load(str(path)).graph.initializer[0])
        theirs = False
    else:
        assert theirs == case.startswith("valid"), f"corpus case {case} is not what it says"
    assert weightops_verdict(path) == theirs
    if not theirs:   # and the CLI says so in one line, exit 2, never a traceback
        assert_one_line_error(run_cli(["validate", str(path), "--against", "none"], cwd=tmp_path), 5, path.name)


# ---------------------------------------------------------------- external data: one artifact
def test_external_data_is_read_hashed_and_validated_with_the_graph(tmp_path):
    w = np.random.default_rng(3).normal(size=(64, 4)).astype(np.float32)
    save_external(matmul_model(w), tmp_path / "m.onnx")
    data = tmp_path / "m.onnx.data"
    run_cli(["card", "m.onnx", "-o", "m.card.yaml", "--model", "m"], cwd=tmp_path, check=True)
    art = yaml.safe_load((tmp_path / "m.card.yaml").read_text())["artifact"]
    import hashlib
    assert art["external_data"] == [{"path": "m.onnx.data", "size": data.stat().st_size,
                                     "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
                                     "md5": hashlib.md5(data.read_bytes()).hexdigest()}]
    assert run_cli(["validate", "m.onnx", "--against", "none"], cwd=tmp_path).returncode == 0
    assert run_cli(["verify", "m.card.yaml", "m.onnx"], cwd=tmp_path).returncode == 0
    # Weights changed beside an unchanged graph: the card no longer matches.
    raw = bytearray(data.read_bytes())
    raw[0] ^= 0xFF
    data.write_bytes(bytes(raw))
    assert_one_line_error(run_cli(["verify", "m.card.yaml", "m.onnx"], cwd=tmp_path), 4, "m.onnx.data")
    # A NaN stored in the external file is found and named.
    w[3, 1] = np.nan
    save_external(matmul_model(w), tmp_path / "m.onnx")
    assert_one_line_error(run_cli(["validate", "m.onnx", "--against", "none"], cwd=tmp_path), 5, "finite", "w")
    # Without its data file the model is refused, naming the file.
    data.unlink()
    assert_one_line_error(run_cli(["validate", "m.onnx"], cwd=tmp_path), 5, "m.onnx.data")
    assert_one_line_error(run_cli(["card", "m.onnx", "-o", "x.card.yaml"], cwd=tmp_path), 5, "m.onnx.data")


@pytest.mark.parametrize("external", [True, False], ids=["external", "inline"])
def test_onnx_reads_in_bounded_memory(tmp_path, external):
    import subprocess
    import sys

    from helpers import ROOT

    w = np.random.default_rng(4).normal(size=(4096, 4096)).astype(np.float32)   # 64 MiB of weights
    if external:
        save_external(matmul_model(w), tmp_path / "m.onnx")
    else:   # inline: onnx.load would hold all of it, and the checker a second copy
        onnx.save(matmul_model(w), str(tmp_path / "m.onnx"))
    del w
    code = ("import sys; from weightops.model.formats import read_tensors\n"
            "for t in read_tensors(sys.argv[1]):\n    [c.sum() for c in t.chunks()]\n"
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.onnx")], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    baseline = subprocess.run([sys.executable, "-c", "import onnx, numpy\n" + code.splitlines()[-1]],
                              capture_output=True, text=True, check=False)
    grown = (int(proc.stdout.split()[-1]) - int(baseline.stdout.split()[-1])) / 1024
    assert grown < 48, f"reading 64 MiB of weights grew RSS by {grown:.0f} MiB"


# ---------------------------------------------------------------- weights vs constants
def test_initializers_are_told_apart_as_weights_constants_or_unused(tmp_path):
    """A small recurrent model laid out as exported voice-activity models are: trained weights,
    a zero initial state, zero padding, shape constants, and an initializer nothing reads."""
    f = np.float32
    rng = np.random.default_rng(0)
    inits = {
        "lstm.W": rng.normal(size=(1, 16, 4)).astype(f), "lstm.R": rng.normal(size=(1, 16, 4)).astype(f),
        "lstm.B": np.zeros((1, 32), f),                 # a zero bias: its role, a notice when zero
        "h0": np.zeros((1, 1, 4), f), "c0": np.zeros((1, 1, 4), f),   # initial states
        "pad": np.zeros((1, 2, 4), f),                  # left padding, concatenated to the input
        "shape": np.array([1, -1], np.int64),           # a Reshape's target shape
        "dead": np.zeros(258, f),                       # left behind by the exporter
    }
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, -1])
    nodes = [helper.make_node("Concat", ["pad", "x"], ["xp"], axis=1),
             helper.make_node("Transpose", ["xp"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "lstm.W", "lstm.R", "lstm.B", "", "h0", "c0"], ["", "h", ""], hidden_size=4),
             helper.make_node("Reshape", ["h", "shape"], ["y"])]
    graph = helper.make_graph(nodes, "vad", [x], [y], [numpy_helper.from_array(v, k) for k, v in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "vad.onnx"))
    roles = {t.name: t.role for t in read_tensors(tmp_path / "vad.onnx")}
    assert roles == {"lstm.W": "weight", "lstm.R": "weight", "lstm.B": "bias", "h0": "constant", "c0": "constant",
                     "pad": "constant", "shape": "constant", "dead": "unused"}
    # Inside an If branch, a weight is still a weight.
    onnx.save(if_model(), str(tmp_path / "if.onnx"))
    assert {t.name: t.role for t in read_tensors(tmp_path / "if.onnx")} == {"w": "weight"}


def test_inline_initializers_read_as_onnx_reads_them(tmp_path):
    """Values streamed from the file (without onnx.load) equal onnx's numpy_helper, dtype by dtype."""
    rng = np.random.default_rng(5)
    arrays = {
        "f32": rng.normal(size=(3, 5)).astype(np.float32), "f64": rng.normal(size=(7,)),
        "f16": rng.normal(size=(2, 2)).astype(np.float16), "i8": rng.integers(-100, 100, (9,)).astype(np.int8),
        "u16": rng.integers(0, 60000, (4,)).astype(np.uint16), "i64": np.array([1, -2, 3], np.int64),
        "b": np.array([True, False, True]), "scalar": np.array(2.5, np.float32),
    }
    inits = [numpy_helper.from_array(v, k) for k, v in arrays.items()]
    inits.append(helper.make_tensor("i4", TensorProto.INT4, [5], [1, -2, 3, -4, 7]))   # two values a byte
    inits.append(helper.make_tensor("typed", TensorProto.FLOAT, [3], [0.5, 1.5, 2.5]))  # float_data, not raw
    outs = []
    for init in inits:
        outs.append(helper.make_tensor_value_info(f"o_{init.name}", init.data_type, list(init.dims)))
    nodes = [helper.make_node("Identity", [i.name], [f"o_{i.name}"]) for i in inits]
    model = helper.make_model(helper.make_graph(nodes, "g", [], outs, inits), opset_imports=[helper.make_opsetid("", 21)])
    onnx.save(model, str(tmp_path / "m.onnx"))
    theirs = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(tmp_path / "m.onnx")).graph.initializer}
    ours = {t.name: t for t in read_tensors(tmp_path / "m.onnx")}
    assert set(ours) == set(theirs)
    for name, want in theirs.items():
        got = np.concatenate([c.copy() for c in ours[name].chunks()]) if ours[name].size else np.zeros(0)
        assert ours[name].shape == want.shape, name
        np.testing.assert_array_equal(got.astype(np.float64), want.reshape(-1).astype(np.float64), err_msg=name)
