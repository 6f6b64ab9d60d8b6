"""`weightops guard`: keep weight files out of git (a pre-commit hook).

A weight file committed to git stays in its history forever, bloats every clone and bypasses
the registry's hashes. A file is refused when its extension is a weight format, when its first
bytes are one (a renamed file is still a weight file), or when it is larger than the threshold.
Detection is pure: `sniff(head_bytes, ...)` over the first few KiB of the file.
"""

from __future__ import annotations

import fnmatch
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from weightops.core import git
from weightops.core.config import CONFIG_FILE, GuardSettings, parse_config
from weightops.core.units import parse_size
from weightops.errors import UsageError

DEFAULT_MAX_SIZE = 5 * 1024 * 1024
HEAD_BYTES = 4096
WEIGHT_EXTENSIONS = {
    ".safetensors": "safetensors", ".pt": "PyTorch", ".pth": "PyTorch", ".bin": "PyTorch/binary",
    ".ckpt": "checkpoint", ".onnx": "ONNX", ".h5": "HDF5", ".hdf5": "HDF5", ".keras": "Keras",
    ".gguf": "GGUF", ".ggml": "GGML", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib",
    ".npy": "NumPy", ".npz": "NumPy", ".pb": "TensorFlow", ".tflite": "TFLite",
    ".msgpack": "Flax", ".mlmodel": "Core ML", ".mar": "TorchServe",
}
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# Protobuf field tags that follow an ONNX ModelProto's ir_version (field 1): producer_name (2),
# producer_version (3), domain (4), model_version (5), doc_string (6), graph (7), opset_import (8).
_ONNX_NEXT = {0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42}


@dataclass(frozen=True)
class Finding:
    path: str
    reason: str          # "extension", "magic", "size"
    format: str | None   # detected format, when known
    size: int

    def message(self, max_size: int) -> str:
        why = {"extension": f"is a {self.format} weight file (extension)",
               "magic": f"is a {self.format} weight file (by its content, whatever its name)",
               "size": f"is {self.size} bytes, over the {max_size} byte limit"}[self.reason]
        quoted = _quote(self.path)
        return (f"{self.path} {why} and is staged in git; track it with DVC instead: "
                f"git rm --cached {quoted} && dvc add {quoted} && git add {_quote(self.path + '.dvc')}")


@dataclass(frozen=True)
class GuardReport:
    checked: int
    findings: tuple[Finding, ...]
    max_size: int

    @property
    def ok(self) -> bool:
        return not self.findings


def _quote(path: str) -> str:
    return path if re.fullmatch(r"[\w./@%+=:,-]+", path) else "'" + path.replace("'", "'\\''") + "'"


def sniff(head: bytes, size: int, *, opener=None) -> str | None:
    """The weight format the first bytes of a file show, or None. `opener()` returns a binary
    stream of the whole file, needed only to look inside a zip archive."""
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
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head.startswith(b"PK\x03\x04") and opener is not None:
        return _zip_format(opener)
    if len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 20 and head[2] in _ONNX_NEXT:
        return "ONNX"
    return None


def _zip_format(opener) -> str | None:
    try:
        with opener() as f, zipfile.ZipFile(f) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if any(n == "data.pkl" or n.endswith("/data.pkl") or n.startswith("archive/") for n in names):
        return "PyTorch (zip)"
    if any(n.endswith(".weights.h5") for n in names):
        return "Keras"
    if names and all(n.endswith(".npy") for n in names):
        return "NumPy (npz)"
    return None


def check_file(root: Path, rel: str, max_size: int) -> Finding | None:
    path = root / rel
    if not path.is_file() or path.is_symlink():
        return None  # deleted, a directory, or a symlink (git stores the link, not the bytes)
    size = path.stat().st_size
    ext = WEIGHT_EXTENSIONS.get(Path(rel).suffix.lower())
    if ext:
        return Finding(rel, "extension", ext, size)
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    fmt = sniff(head, size, opener=lambda: path.open("rb"))
    if fmt:
        return Finding(rel, "magic", fmt, size)
    if size > max_size:
        return Finding(rel, "size", None, size)
    return None


def guard(paths: list[str] | None = None, *, repo: str | os.PathLike = ".",
          max_size: str | int | None = None) -> GuardReport:
    """Check `paths` (default: the files staged for the next commit)."""
    root = git.toplevel(repo)
    settings = _settings(root)
    configured = settings.max_size if settings.max_size is not None else DEFAULT_MAX_SIZE
    limit = parse_size(max_size if max_size is not None else configured)
    allow = list(settings.allow)
    if paths is None:
        rels = git.staged_paths(root)
    else:
        cwd = Path(repo).resolve()
        rels = []
        for p in paths:
            full = (cwd / p).resolve()
            if not full.is_relative_to(root.resolve()):
                raise UsageError(f"'{p}' is outside the repository {root}")
            rels.append(full.relative_to(root.resolve()).as_posix())
    rels = [r for r in rels if not any(fnmatch.fnmatch(r, pat) for pat in allow)]
    findings = tuple(f for f in (check_file(root, r, limit) for r in rels) if f is not None)
    return GuardReport(len(rels), findings, limit)


def _settings(root: Path) -> GuardSettings:
    """The work tree's `guard:` settings (the hook checks what is about to be committed)."""
    cfg = root / CONFIG_FILE
    if not cfg.is_file():
        return GuardSettings()
    return parse_config(cfg.read_bytes()).guard
