"""What a weights file is, from its first bytes, whatever its name: the one detector `guard`
(keep weights out of git) and the weight readers (validate, the promotion gate) share.

`sniff(head, size, opener=...)` is pure and returns a display name (`PyTorch (zip)`, `TFLite`,
...); `READERS` maps each to the reader that reads it. Magic numbers, each from its format's
own definition: safetensors' 8-byte little-endian header length then `{`; GGUF's `GGUF`; HDF5's
8-byte signature; numpy's `\\x93NUMPY`; a pickle's PROTO opcode (`\\x80`, protocol 2..5); a zip
whose members are what `torch.save` / `torch.jit.save` / Keras 3 / `np.savez` write; the
flatbuffer file identifier `TFL3` at bytes 4..8 (TFLite's schema.fbs, `file_identifier`); a
skops zip (`schema.json` beside `.npy` members); XGBoost's saved JSON/UBJSON document (its
first key `learner`); LightGBM's text model (`tree` then `version=`); an ONNX ModelProto's
leading `ir_version` field (a guess, used only when the name says nothing).
"""

from __future__ import annotations

import struct
import zipfile

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# Protobuf field tags that follow an ONNX ModelProto's ir_version (field 1): producer_name (2),
# producer_version (3), domain (4), model_version (5), doc_string (6), graph (7), opset_import (8).
_ONNX_NEXT = {0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42}
# torch's legacy format opens with a pickle of its magic number (torch/serialization.py,
# MAGIC_NUMBER = 0x1950a86a20f9469cfc6c), written as LONG1 with 10 bytes, protocol 2.
TORCH_LEGACY_HEAD = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")

# Display name -> the reader module that reads it (formats/__init__.py dispatches on these).
READERS = {
    "safetensors": "safetensors", "GGUF": "gguf", "HDF5": "hdf5", "Keras": "hdf5", "NumPy": "numpy",
    "NumPy (npz)": "numpy", "PyTorch (zip)": "pytorch", "TorchScript": "pytorch",
    "PyTorch (legacy)": "pytorch", "pickle": "pickle", "TFLite": "tflite", "ONNX": "onnx",
    "skops": "skops", "XGBoost": "xgboost", "LightGBM": "lightgbm",
}


def sniff(head: bytes, size: int, *, opener=None) -> str | None:
    """The weight format the first bytes `head` of a `size`-byte file show (a display name, a key
    of READERS), or None. `opener()` returns a binary stream of the whole file, needed only to
    look inside a zip archive (without it, a zip is not named)."""
    if len(head) >= 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= size - 8:
            return "safetensors"
    if head.startswith(b"GGUF"):
        return "GGUF"
    if head.startswith(HDF5_MAGIC):
        return "HDF5"
    if head.startswith(b"\x93NUMPY"):
        return "NumPy"
    if head.startswith(TORCH_LEGACY_HEAD):
        return "PyTorch (legacy)"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head.startswith(b"PK\x03\x04") and opener is not None:
        return _zip_format(opener)
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "TFLite"
    if head.startswith(b'{"learner":') or (head[:1] == b"{" and head[1:2] in b"iUlL" and b"learner" in head[:20]):
        return "XGBoost"   # its JSON, or UBJSON whose first key is `learner`
    if head.startswith((b"tree\nversion=", b"tree\r\nversion=")):
        return "LightGBM"
    if len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 20 and head[2] in _ONNX_NEXT:
        return "ONNX"
    return None


def sniff_file(path, head_bytes: int = 64) -> str | None:
    """`sniff` on a file on disk (reads its first `head_bytes`, and its zip directory if any);
    None for an unreadable file."""
    try:
        with open(path, "rb") as f:
            head = f.read(head_bytes)
            f.seek(0, 2)
            size = f.tell()
    except OSError:
        return None
    return sniff(head, size, opener=lambda: open(path, "rb"))


def _zip_format(opener) -> str | None:
    try:
        with opener() as f, zipfile.ZipFile(f) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if any(n.endswith("constants.pkl") for n in names) and any(n.endswith("data.pkl") for n in names):
        return "TorchScript"
    if any(n == "data.pkl" or n.endswith("/data.pkl") or n.startswith("archive/") for n in names):
        return "PyTorch (zip)"
    if any(n.endswith(".weights.h5") for n in names):
        return "Keras"
    if "schema.json" in names and all(n == "schema.json" or n.endswith(".npy") or "/" not in n for n in names):
        return "skops"
    if names and all(n.endswith(".npy") for n in names):
        return "NumPy (npz)"
    return None
