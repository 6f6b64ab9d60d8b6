"""PyTorch zips found by their content whatever their name (`.pth.tar`, `.ckpt`, `.bin`, no
extension), and zips saved on a big-endian machine (`byteorder` record `big`) byte-swapped
as torch.load does. The files have torch.save's record layout (format_writers.torch_zip)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import yaml
from model.format_writers import torch_zip
from helpers import assert_one_line_error, run_cli

from weightops.model.formats import read_tensors, weight_format

VALUES = {"fc.weight": np.arange(-6, 6, dtype=np.float32).reshape(3, 4) / 7, "fc.bias": np.array([0.5, -2.0, 1e-3], np.float32)}


def tensors():
    return {k: (v.shape, lambda v=v: iter([v])) for k, v in VALUES.items()}


@pytest.mark.parametrize("name", ["model.pth.tar", "last.ckpt", "pytorch_model.bin", "weights"])
def test_a_torch_zip_is_read_whatever_its_name(tmp_path, name):
    torch_zip(tmp_path / name, tensors())
    assert weight_format(tmp_path / name) == "pytorch"
    got = {t.name: t.values() for t in read_tensors(tmp_path / name)}
    for k, v in VALUES.items():
        np.testing.assert_array_equal(got[k], v)
    proc = run_cli(["validate", name, "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if name in ("model.pth.tar", "weights"):   # a name that says nothing: the card asks the same detector
        run_cli(["card", name, "--model", "m", "-o", "m.card.yaml"], cwd=tmp_path, check=True)
        assert yaml.safe_load((tmp_path / "m.card.yaml").read_text())["artifact"]["format"] == "pytorch"


def test_a_big_endian_zip_reads_the_values_its_little_endian_twin_holds(tmp_path):
    torch_zip(tmp_path / "le.pt", tensors(), byteorder="little")
    torch_zip(tmp_path / "be.pt", tensors(), byteorder="big")
    with zipfile.ZipFile(tmp_path / "be.pt") as z:   # the bytes really are swapped
        assert z.read("archive/data/0") == VALUES["fc.weight"].astype(">f4").tobytes() != \
            VALUES["fc.weight"].astype("<f4").tobytes()
    le = {t.name: t.values() for t in read_tensors(tmp_path / "le.pt")}
    be = {t.name: t.values() for t in read_tensors(tmp_path / "be.pt")}
    for k, v in VALUES.items():
        np.testing.assert_array_equal(be[k], v)
        np.testing.assert_array_equal(be[k], le[k])
    assert run_cli(["validate", "be.pt", "--against", "none"], cwd=tmp_path).returncode == 0


def test_a_nan_in_a_big_endian_zip_is_caught(tmp_path):
    bad = dict(VALUES, **{"fc.weight": VALUES["fc.weight"].copy()})
    bad["fc.weight"][1, 2] = np.nan
    torch_zip(tmp_path / "be.pt", {k: (v.shape, lambda v=v: iter([v])) for k, v in bad.items()}, byteorder="big")
    proc = run_cli(["validate", "be.pt", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 5 and "fc.weight" in proc.stdout, proc.stdout + proc.stderr


def test_an_unknown_byte_order_record_is_refused_as_torch_refuses_it(tmp_path):
    torch_zip(tmp_path / "odd.pt", tensors(), byteorder="middle")
    assert_one_line_error(run_cli(["validate", "odd.pt", "--against", "none"], cwd=tmp_path), 5,
                          "odd.pt", "byte order", "middle")


@pytest.mark.torch
def test_torch_loads_the_big_endian_file_to_the_same_values(tmp_path):
    import torch

    torch_zip(tmp_path / "be.pt", tensors(), byteorder="big")
    loaded = torch.load(tmp_path / "be.pt", weights_only=True)
    ours = {t.name: t.values() for t in read_tensors(tmp_path / "be.pt")}
    for k in VALUES:
        np.testing.assert_array_equal(loaded[k].numpy(), ours[k])
