"""PyTorch files are pickles: weightops scans their opcodes and refuses anything that is not a
plain state dict without ever unpickling it. torch is an optional extra."""

from __future__ import annotations

import collections
import importlib.util
import io
import pickle
import pickletools
import zipfile

import pytest

from helpers import assert_one_line_error, run_cli

HAS_TORCH = importlib.util.find_spec("torch") is not None


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


@pytest.mark.skipif(HAS_TORCH, reason="checks the message given when torch is not installed")
def test_plain_state_dict_without_torch_names_the_extra(tmp_path):
    (tmp_path / "ok.pt").write_bytes(pickle.dumps(collections.OrderedDict([("w", [1.0, 2.0])]), protocol=2))
    proc = run_cli(["validate", "ok.pt"], cwd=tmp_path)
    assert_one_line_error(proc, 2, "needs torch", "weightops[torch]")


@pytest.mark.skipif(not HAS_TORCH, reason="torch is an optional extra")
def test_real_torch_state_dict_is_validated(tmp_path):
    import torch

    sd = {"fc.weight": torch.randn(8, 4), "fc.bias": torch.zeros(8)}
    sd["fc.bias"][3] = float("nan")
    torch.save(sd, tmp_path / "m.pt")
    proc = run_cli(["validate", "m.pt"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "finite", "fc.bias")
