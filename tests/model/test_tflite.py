"""TFLite models that published packages ship, read without TensorFlow: basic-pitch's note
transcription model and tflite-micro's sine example, fetched at test time with `pip download`
into the corpus cache (never committed). Their tensors, roles and values come from the
flatbuffer; damaged copies (cut short, identifier broken) are refused with exit 5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, run_cli
from model import published

from weightops.model.formats import read_tensors, weight_format

# package==version -> the .tflite file inside its wheel
SHIPPED = {
    "basic-pitch==0.4.0": "basic_pitch/saved_models/icassp_2022/nmp.tflite",
    "tflite-micro==0.dev20261023182759": "tflite_micro/python/tflite_micro/sine_float.tflite",
}


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    # The corpus list (tests/model/corpus/published.yaml) names both; fetched into its cache.
    by_package = {e.package: e for e in published.entries()}
    return {package: published.member(by_package[package], member) for package, member in SHIPPED.items()}


def test_shipped_models_are_read_with_shapes_roles_and_values(models):
    sine = {t.name: t for t in read_tensors(models["tflite-micro==0.dev20261023182759"])}
    # Three FULLY_CONNECTED layers: their weight matrices and, as input 2, their biases.
    assert {n: (t.dtype, t.shape, t.role) for n, t in sine.items()} == {
        "sequential/dense/MatMul": ("F32", (16, 1), "weight"),
        "sequential/dense_1/MatMul": ("F32", (16, 16), "weight"),
        "sequential/dense_2/MatMul": ("F32", (1, 16), "weight"),
        "sequential/dense/BiasAdd/ReadVariableOp": ("F32", (16,), "bias"),
        "sequential/dense_1/BiasAdd/ReadVariableOp": ("F32", (16,), "bias"),
        "sequential/dense_2/BiasAdd/ReadVariableOp": ("F32", (1,), "bias"),
    }
    # The values are the flatbuffer's: the tflite package's own accessor agrees.
    import tflite

    buf = models["tflite-micro==0.dev20261023182759"].read_bytes()
    model = tflite.Model.GetRootAs(buf, 0)
    graph = model.Subgraphs(0)
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        name = t.Name().decode()
        if name in sine:
            want = model.Buffers(t.Buffer()).DataAsNumpy().view("<f4")
            np.testing.assert_array_equal(sine[name].values().ravel(), want)
    pitch = {t.name: t for t in read_tensors(models["basic-pitch==0.4.0"])}
    conv = [t for t in pitch.values() if t.dtype == "F32" and len(t.shape) == 4]
    assert len(conv) >= 6 and sum(t.role == "bias" for t in pitch.values()) >= 4


def test_a_tflite_file_is_found_by_content_whatever_its_name(models, tmp_path):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(models["tflite-micro==0.dev20261023182759"].read_bytes())
    assert weight_format(renamed) == "tflite"
    assert weight_format(tmp_path / "blob", "models/sine.tflite") == "tflite"   # a DVC object named by its pointer


def test_shipped_models_validate_and_a_planted_nan_is_caught(models, tmp_path):
    for path in models.values():   # basic-pitch's all-zero conv bias is a bias: a notice, not a refusal
        proc = run_cli(["validate", str(path), "--against", "none"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    src = models["tflite-micro==0.dev20261023182759"]
    sine = {t.name: t for t in read_tensors(src)}
    data = bytearray(src.read_bytes())
    first = sine["sequential/dense_1/MatMul"].values().ravel()[:1].astype("<f4").tobytes()
    at = data.find(first)
    data[at:at + 4] = np.array([np.nan], "<f4").tobytes()
    (tmp_path / "nan.tflite").write_bytes(bytes(data))
    proc = run_cli(["validate", "nan.tflite", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 5 and "sequential/dense_1/MatMul" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("damage, needle", [
    (lambda b: b[:len(b) // 2], "sine.tflite"),              # truncated: buffers run past the end
    (lambda b: b[:4] + b"XXXX" + b[8:], "no TFL3 file identifier"),   # the schema's identifier
    (lambda b: b[:4], "shorter than a flatbuffer header"),
])
def test_a_damaged_tflite_file_is_refused_with_exit_5(models, tmp_path, damage, needle):
    data = models["tflite-micro==0.dev20261023182759"].read_bytes()
    (tmp_path / "sine.tflite").write_bytes(damage(data))
    assert_one_line_error(run_cli(["validate", "sine.tflite", "--against", "none"], cwd=tmp_path), 5, needle)
