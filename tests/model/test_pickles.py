"""PyTorch files are pickles: weightops scans their opcodes and refuses anything that is not a
plain state dict without ever unpickling it. torch is an optional extra."""

from __future__ import annotations

import collections
import io
import json
import pickle
import pickletools
import zipfile

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli

class Payload:
    """Unpickling this creates the marker file: the proof that the pickle was executed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_state_dict(marker) -> dict:
    return collections.OrderedDict([("layer.weight", [0.1, 0.2]), ("layer.bias", Payload(str(marker)))])


@pytest.mark.parametrize("protocol", [2, 4])
def test_legacy_pickle_with_a_payload_is_refused_without_being_executed(tmp_path, protocol):
    marker = tmp_path / "PWNED"
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(evil_state_dict(marker), protocol=protocol))
    proc = run_cli(["validate", "evil.pt"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "evil.pt", "open", "not a plain state dict", "without unpickling")
    assert not marker.exists()
    # Sanity: the file really is armed (unpickling it would create the marker).
    pickle.loads((tmp_path / "evil.pt").read_bytes())
    assert marker.exists()


def test_zip_format_torch_file_with_a_payload_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    with zipfile.ZipFile(tmp_path / "evil.pth", "w") as zf:   # torch.save's zip layout
        zf.writestr("archive/data.pkl", pickle.dumps(evil_state_dict(marker), protocol=2))
        zf.writestr("archive/version", "3\n")
    proc = run_cli(["validate", "evil.pth"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "archive/data.pkl", "not a plain state dict")
    assert not marker.exists()


class TinyModel:
    """Stands for an nn.Module: torch.save(model) pickles the class by reference."""

    def __init__(self) -> None:
        self.weight = [0.1, 0.2]


def test_a_whole_model_object_is_refused(tmp_path):
    (tmp_path / "model.pt").write_bytes(pickle.dumps(TinyModel(), protocol=4))
    proc = run_cli(["validate", "model.pt"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "TinyModel", "not a plain state dict", "state_dict()")


def test_memo_tricks_cannot_smuggle_a_global_name(tmp_path):
    # Module and name come from the memo (BINGET) rather than literal strings: still resolved.
    marker = tmp_path / "PWNED"
    body = (b"\x80\x04" + b"\x8c\x08builtins\x940" + b"\x8c\x04open\x940" + b"h\x00h\x01\x93"
            + b"\x8c" + bytes([len(str(marker))]) + str(marker).encode() + b"\x8c\x01w\x86R.")
    (tmp_path / "memo.pt").write_bytes(body)
    pickletools.dis(body, out=io.StringIO())  # a well-formed pickle (disassembled, not run)
    proc = run_cli(["validate", "memo.pt"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "builtins.open")
    assert not marker.exists()
    pickle.loads(body)  # armed: really unpickling it creates the marker
    assert marker.exists()


def test_a_bare_pickle_is_not_a_pytorch_file(tmp_path):
    # torch.load reads a non-zip file as its legacy format, which starts with a magic number.
    (tmp_path / "ok.pt").write_bytes(pickle.dumps(collections.OrderedDict([("w", [1.0, 2.0])]), protocol=2))
    proc = run_cli(["validate", "ok.pt"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "ok.pt", "not a PyTorch file", "magic number")


@pytest.mark.torch
def test_real_torch_state_dict_is_validated(tmp_path):
    import torch

    sd = {"fc.weight": torch.randn(8, 4), "fc.bias": torch.randn(8)}
    torch.save(sd, tmp_path / "m.pt")
    ok = run_cli(["validate", "m.pt", "--json"], cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert (report["passed"], report["tensors"], report["parameters"]) == (True, 2, 40)
    sd["fc.bias"][3] = float("nan")
    torch.save(sd, tmp_path / "m.pt")
    proc = run_cli(["validate", "m.pt"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "finite", "fc.bias")


def torch_like_state_dict(path) -> None:
    """The pickle torch.save writes for {name: tensor} (zip layout, protocol 2, storages as
    persistent ids), produced here without torch by standing in for the few names it references."""
    import sys
    import types

    fake_torch, fake_utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: the file is only written
        raise AssertionError

    class FloatStorage:
        pass

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    fake_utils._rebuild_tensor_v2, fake_torch.FloatStorage, fake_torch._utils = _rebuild_tensor_v2, FloatStorage, fake_utils

    class Storage:
        def __init__(self, key):
            self.key = key

    class Tensor:
        def __init__(self, key, shape):
            self.storage, self.shape = Storage(key), shape

        def __reduce__(self):
            stride = (self.shape[1], 1) if len(self.shape) == 2 else (1,)
            return (_rebuild_tensor_v2, (self.storage, 0, self.shape, stride, False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, obj.key, "cpu", 4 if obj.key == "0" else 2)
            return None

    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": fake_torch, "torch._utils": fake_utils})
    try:
        sd = collections.OrderedDict([("fc.weight", Tensor("0", (2, 2))), ("fc.bias", Tensor("1", (2,)))])
        sd._metadata = collections.OrderedDict([("", {"version": 1})])
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(sd)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/data/0", np.array([0.5, -1.0, 2.0, 0.25], dtype="<f4").tobytes())
        zf.writestr("archive/data/1", np.array([0.1, 0.2], dtype="<f4").tobytes())
        zf.writestr("archive/version", "3\n")


def test_a_genuine_state_dict_layout_passes_the_scan(tmp_path):
    from weightops.model.formats.pytorch import scan_torch_file

    torch_like_state_dict(tmp_path / "sd.pt")
    scan_torch_file(tmp_path / "sd.pt")   # raises RefusedError if any name were not allowed
    proc = run_cli(["validate", "sd.pt", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 tensors, 6 parameters" in proc.stdout
    from weightops.model.formats import read_tensors

    values = {t.name: t.values().tolist() for t in read_tensors(tmp_path / "sd.pt")}
    assert values == {"fc.weight": [[0.5, -1.0], [2.0, 0.25]], "fc.bias": [pytest.approx(0.1), pytest.approx(0.2)]}


@pytest.mark.torch
def test_a_file_written_by_torch_save_passes_the_scan_and_validates(tmp_path):
    import torch

    from weightops.model.formats.pytorch import scan_torch_file

    torch.save({"fc.weight": torch.randn(2, 2), "fc.bias": torch.randn(2)}, tmp_path / "sd.pt")
    scan_torch_file(tmp_path / "sd.pt")
    proc = run_cli(["validate", "sd.pt", "--json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (json.loads(proc.stdout)["tensors"], json.loads(proc.stdout)["parameters"]) == (2, 6)


def test_a_pickle_cannot_make_weightops_allocate_what_it_names(tmp_path):
    # builtins.bytearray is allowed (torch writes bytes that way); bytearray(N) from a few
    # pickle bytes would allocate N bytes: refused. Zip layout, so the magic number is no issue.
    body = b"\x80\x02cbuiltins\nbytearray\n" + b"\x8a\x05\x00\x00\x00\x00\x01" + b"\x85R."
    with zipfile.ZipFile(tmp_path / "big.pt", "w") as zf:
        zf.writestr("archive/data.pkl", body)
    assert_one_line_error(run_cli(["validate", "big.pt"], cwd=tmp_path), 5, "big.pt", "bytearray")
