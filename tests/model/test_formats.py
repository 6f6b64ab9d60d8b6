"""Sharded checkpoints, GGUF, Keras/HDF5 and TensorFlow: what `validate` reads, refuses and
says it cannot check; and which findings fail and which only warn (per project)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from helpers import assert_one_line_error, run_cli
from safetensors.numpy import save_file

from weightops.errors import FormatError
from weightops.model.formats import read_tensors


# ---------------------------------------------------------------- sharded checkpoints
def sharded(folder, index: dict | None = None, total: int | None = None) -> None:
    folder.mkdir(exist_ok=True)
    save_file({"a.weight": np.array([[1, 2], [3, 4]], np.float32), "a.bias": np.array([0.5, 1.5], np.float32)},
              folder / "model-00001-of-00002.safetensors")
    save_file({"b.weight": np.arange(1, 7, dtype=np.float32).reshape(3, 2)}, folder / "model-00002-of-00002.safetensors")
    wmap = index if index is not None else {"a.weight": "model-00001-of-00002.safetensors",
                                            "a.bias": "model-00001-of-00002.safetensors",
                                            "b.weight": "model-00002-of-00002.safetensors"}
    doc = {"metadata": {"total_size": 48 if total is None else total}, "weight_map": wmap}
    (folder / "model.safetensors.index.json").write_text(json.dumps(doc))


def test_a_consistent_sharded_checkpoint_validates_through_its_index(tmp_path):
    sharded(tmp_path / "ckpt")
    names = sorted(t.name for t in read_tensors(tmp_path / "ckpt" / "model.safetensors.index.json"))
    assert names == ["a.bias", "a.weight", "b.weight"]
    proc = run_cli(["validate", "ckpt", "--against", "none"], cwd=tmp_path)   # the folder: read once, via the index
    assert proc.returncode == 0, proc.stderr
    assert "3 tensors, 12 parameters" in proc.stdout


@pytest.mark.parametrize("change, needles", [
    ({"a.weight": "model-00002-of-00002.safetensors"}, ("a.weight", "does not hold it")),
    ({"c.weight": "model-00003-of-00003.safetensors"}, ("model-00003-of-00003.safetensors", "does not exist")),
    ({"a.bias": None}, ("a.bias", "not in the index")),
    ({"a.bias": "../outside.safetensors"}, ("outside the checkpoint's folder",)),
])
def test_an_index_that_disagrees_with_its_shards_is_refused(tmp_path, change, needles):
    wmap = {"a.weight": "model-00001-of-00002.safetensors", "a.bias": "model-00001-of-00002.safetensors",
            "b.weight": "model-00002-of-00002.safetensors"}
    for k, v in change.items():
        if v is None:
            wmap.pop(k)
        else:
            wmap[k] = v
    sharded(tmp_path / "ckpt", wmap)
    assert_one_line_error(run_cli(["validate", "ckpt/model.safetensors.index.json"], cwd=tmp_path), 5, *needles)


def test_a_tensor_mapped_twice_and_a_wrong_total_size_are_refused(tmp_path):
    sharded(tmp_path / "ckpt", total=47)
    assert_one_line_error(run_cli(["validate", "ckpt/model.safetensors.index.json"], cwd=tmp_path), 5,
                          "total_size is 47", "48")
    sharded(tmp_path / "ckpt")
    index = tmp_path / "ckpt" / "model.safetensors.index.json"
    text = index.read_text().replace('"a.bias": "model-00001-of-00002.safetensors"',
                                     '"a.bias": "model-00001-of-00002.safetensors", "a.bias": "model-00002-of-00002.safetensors"')
    index.write_text(text)
    assert_one_line_error(run_cli(["validate", "ckpt/model.safetensors.index.json"], cwd=tmp_path), 5,
                          "maps 'a.bias' more than once")


def test_a_pytorch_sharded_index_reads_its_bin_shards(tmp_path):
    from pathlib import Path

    corpus = Path(__file__).resolve().parent / "corpus" / "torch"
    (tmp_path / "pytorch_model-00001-of-00001.bin").write_bytes((corpus / "zip_state_dict.pt").read_bytes())
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 64}, "weight_map": {"fc.weight": "pytorch_model-00001-of-00001.bin",
                                                        "fc.bias": "pytorch_model-00001-of-00001.bin"}}))
    assert sorted(t.name for t in read_tensors(tmp_path / "pytorch_model.bin.index.json")) == ["fc.bias", "fc.weight"]


# ---------------------------------------------------------------- GGUF
def write_gguf(path, nan: bool = False) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    emb = np.random.default_rng(0).normal(size=(2, 32)).astype(np.float32)
    if nan:
        emb[1, 3] = np.nan
    w.add_tensor("token_embd.weight", emb)
    q = gguf.quants.quantize(np.random.default_rng(1).normal(size=(4, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_float_tensors_are_checked_and_quantised_ones_reported(tmp_path):
    write_gguf(tmp_path / "m.gguf")
    tensors = {t.name: (t.dtype, t.shape) for t in read_tensors(tmp_path / "m.gguf")}
    assert tensors == {"token_embd.weight": ("F32", (2, 32)), "blk.0.attn_q.weight": ("Q8_0", (4, 64))}
    proc = run_cli(["validate", "m.gguf", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "present, not decoded (Q8_0)" in proc.stdout
    write_gguf(tmp_path / "nan.gguf", nan=True)
    assert_one_line_error(run_cli(["validate", "nan.gguf"], cwd=tmp_path), 5, "finite", "token_embd.weight")


def test_gguf_damage_gets_the_gguf_readers_verdict(tmp_path):
    import gguf

    write_gguf(tmp_path / "m.gguf")
    good = (tmp_path / "m.gguf").read_bytes()
    variants = {"magic": b"GGUX" + good[4:], "version": good[:4] + b"\x63\0\0\0" + good[8:]}
    for cut in (6, 20, 60, 120, 300, len(good) - 100, len(good) - 1):
        variants[f"cut at {cut}"] = good[:cut]
    for name, blob in variants.items():
        path = tmp_path / "bad.gguf"
        path.write_bytes(blob)
        try:
            reader = gguf.GGUFReader(str(path))
            ref = "ok" if all(t.data.size * t.data.itemsize == t.n_bytes for t in reader.tensors) else "refused"
        except Exception:  # noqa: BLE001 - the reader raises ValueError and numpy errors
            ref = "refused"
        try:
            list(read_tensors(path))
            mine = "ok"
        except FormatError:
            mine = "refused"
        assert mine == ref, name


# ---------------------------------------------------------------- Keras / HDF5
def test_hdf5_and_keras_weights_are_read(tmp_path):
    import h5py

    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["layers/dense/vars/0"] = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
        f["layers/dense/vars/1"] = np.array([0.1, np.nan, 0.3], np.float32)
        f["optimizer/vars/0"] = np.zeros(5, np.float32)        # optimizer state: a constant
    names = {t.name: t.role for t in read_tensors(tmp_path / "m.h5")}
    assert names == {"layers/dense/vars/0": "weight", "layers/dense/vars/1": "weight", "optimizer/vars/0": "constant"}
    assert_one_line_error(run_cli(["validate", "m.h5"], cwd=tmp_path), 5, "finite", "layers/dense/vars/1")
    with h5py.File(tmp_path / "model.weights.h5", "w") as f:
        f["layers/dense/vars/0"] = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as z:
        z.writestr("config.json", "{}")
        z.write(tmp_path / "model.weights.h5", "model.weights.h5")
    proc = run_cli(["validate", "m.keras", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 tensors, 12 parameters" in proc.stdout


# ---------------------------------------------------------------- TensorFlow
def test_tensorflow_is_recognised_and_validate_says_what_it_did_not_check(tmp_path):
    saved = tmp_path / "saved"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"\x08\x01\x12\x00")
    (saved / "variables" / "variables.data-00000-of-00001").write_bytes(b"\0" * 64)
    (saved / "variables" / "variables.index").write_bytes(b"\0" * 16)
    for target in ("saved", "saved/saved_model.pb"):
        proc = run_cli(["validate", target, "--against", "none"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "does not read their variables" in proc.stdout and "no finite/zero/constant checks ran" in proc.stdout
    from weightops.review.guard import check_file

    finding = check_file(tmp_path, "saved/variables/variables.data-00000-of-00001", 10 ** 9)
    assert finding is not None and finding.format == "TensorFlow variables"
    assert check_file(tmp_path, "saved/saved_model.pb", 10 ** 9).format == "TensorFlow"


# ---------------------------------------------------------------- roles and severities
def onnx_with_zero_state(path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32), "fc.weight")
    h0 = numpy_helper.from_array(np.zeros((1, 4), np.float32), "initial_state")   # a constant, not a weight
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "fc.weight"], ["h"]),
                               helper.make_node("Concat", ["h", "initial_state"], ["y"], axis=0)],
                              "g", [x], [y], [w, h0])
    onnx.save(helper.make_model(graph), str(path))


def test_zero_constants_warn_and_projects_can_make_them_fail(tmp_path):
    onnx_with_zero_state(tmp_path / "m.onnx")
    proc = run_cli(["validate", "m.onnx", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warn all_zero   initial_state" in proc.stdout
    proc = run_cli(["validate", "m.onnx", "--against", "none", "--json"], cwd=tmp_path)
    assert json.loads(proc.stdout)["checks"]["all_zero"]["warnings"] == ["initial_state"]


def test_severity_and_constant_patterns_come_from_weightops_yaml(project):
    root = project.root
    np.savez(root / "extra.npz", w=np.zeros(8, np.float32), state=np.zeros(4, np.float32))
    assert_one_line_error(run_cli(["validate", "extra.npz"], cwd=root), 5, "all_zero", "state", "w")
    cfg = root / "weightops.yaml"
    cfg.write_text(cfg.read_text() + "validation:\n  constants: ['state']\n")
    assert_one_line_error(run_cli(["validate", "extra.npz"], cwd=root), 5, "all_zero", "w")
    cfg.write_text(cfg.read_text() + "  severity:\n    weights: {all_zero: warn}\n")
    assert run_cli(["validate", "extra.npz", "--against", "none"], cwd=root).returncode == 0
    cfg.write_text(cfg.read_text() + "    constants: {all_zero: sometimes}\n")
    assert_one_line_error(run_cli(["validate", "extra.npz"], cwd=root), 2, "severity")


def test_torchscript_is_recognised_by_guard_and_card_whatever_its_name(tmp_path):
    from pathlib import Path

    from weightops.model.card import artifact_format
    from weightops.review.guard import check_file

    archive = (Path(__file__).resolve().parent / "corpus" / "torch" / "torchscript_sequential.pt").read_bytes()
    (tmp_path / "blob").write_bytes(archive)
    (tmp_path / "model.pt").write_bytes(archive)
    finding = check_file(tmp_path, "blob", 10 ** 9)
    assert (finding.reason, finding.format) == ("magic", "TorchScript")
    assert artifact_format(tmp_path / "model.pt") == "torchscript"
    assert artifact_format(Path(__file__).resolve().parent / "corpus" / "torch" / "zip_state_dict.pt") == "pytorch"


def test_a_training_checkpoints_optimizer_state_is_constants(tmp_path):
    from pathlib import Path

    ckpt = Path(__file__).resolve().parent / "corpus" / "torch" / "checkpoint_nested.pt"
    roles = {t.name: t.role for t in read_tensors(ckpt)}
    assert roles["state_dict.fc.weight"] == "weight"
    assert roles["optimizer.state.0.momentum_buffer"] == "constant"   # all zeros after a zero-gradient step
    proc = run_cli(["validate", str(ckpt), "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warn all_zero   optimizer.state.0.momentum_buffer" in proc.stdout
