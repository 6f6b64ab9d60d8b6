"""`weightops guard`: keep weight files out of git (a pre-commit hook).

A weight file committed to git stays in its history forever, bloats every clone and bypasses
the registry's hashes. A file is refused when its extension is a weight format, when its first
bytes are one (a renamed file is still a weight file), or when it is larger than the threshold.
What is judged is what git will store: the staged blob of each path (its size and first bytes,
read from the index, not the work tree). A Git LFS pointer is fine, whatever the file behind it:
git stores the pointer. Detection is pure: `sniff(head_bytes, ...)` and `lfs_pointer(blob)`.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from weightops.core import git, git_review
from weightops.core.config import CONFIG_FILE, GuardSettings, parse_config
from weightops.core.units import parse_size
from weightops.errors import NotFoundError, UsageError
from weightops.core.sniff import sniff  # the one detector, shared with the weight readers

DEFAULT_MAX_SIZE = 5 * 1024 * 1024
HEAD_BYTES = 4096
WEIGHT_EXTENSIONS = {
    ".safetensors": "safetensors", ".pt": "PyTorch", ".pth": "PyTorch", ".bin": "PyTorch/binary",
    ".ckpt": "checkpoint", ".onnx": "ONNX", ".h5": "HDF5", ".hdf5": "HDF5", ".keras": "Keras",
    ".gguf": "GGUF", ".ggml": "GGML", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib",
    ".npy": "NumPy", ".npz": "NumPy", ".pb": "TensorFlow", ".tflite": "TFLite",
    ".msgpack": "Flax", ".mlmodel": "Core ML", ".mar": "TorchServe",
    ".jit": "TorchScript", ".ptl": "TorchScript", ".torchscript": "TorchScript",
}
# TensorFlow checkpoint / SavedModel variable shards: variables.data-00000-of-00001.
TF_SHARD = re.compile(r"\.data-\d{5}-of-\d{5}$")
ZIP_READ_MAX = 64 * 1024 * 1024   # a staged zip up to this size is opened to look for weights inside
SMALL_BLOB = 64 * 1024            # blobs up to this size are read together, whole
# Git LFS pointer files (git-lfs docs/spec.md): under 1024 bytes, `version` first, then an
# `oid sha256:` and a `size`.
LFS_MAX = 1024
LFS_VERSIONS = (b"version https://git-lfs.github.com/spec/v1", b"version https://hawser.github.com/spec/v1")


@dataclass(frozen=True)
class Finding:
    """A file that should not go into git: its repository path, why (`extension`, `magic` for
    content whatever the name, or `size`), the detected format, its size in bytes, and what already
    tracks it in DVC (`dvc.yaml stage NAME` or `FILE.dvc`), if anything."""
    path: str
    reason: str          # "extension", "magic", "size"
    format: str | None   # detected format, when known
    size: int
    tracked_by: str | None = None   # DVC already tracks it: "dvc.yaml stage NAME" or "FILE.dvc"

    def message(self, max_size: int) -> str:
        """One line saying why the file is refused and the commands that fix it
        (`git rm --cached ... && dvc add ...`, or `dvc commit` when DVC already tracks it);
        `max_size` is the limit in bytes."""
        article = "an" if (self.format or "x")[0] in "AEIOU" else "a"
        why = {"extension": f"is {article} {self.format} weight file (extension)",
               "magic": f"is {article} {self.format} weight file (by its content, whatever its name)",
               "size": f"is {self.size} bytes, over the {max_size} byte limit"}[self.reason]
        quoted = _quote(self.path)
        if self.tracked_by and self.tracked_by.startswith("dvc.yaml stage "):
            # `dvc add` refuses a stage's output; DVC records it with the stage.
            stage = self.tracked_by[len("dvc.yaml stage "):]
            return (f"{self.path} {why} and is staged in git, but it is an output of stage '{stage}' in dvc.yaml, "
                    f"so DVC tracks it: git rm --cached {quoted} && dvc commit {_quote(stage)} && dvc push "
                    "(`dvc repro` records it too; DVC lists it in .gitignore)")
        if self.tracked_by:
            return (f"{self.path} {why} and is staged in git, but {self.tracked_by} already tracks it with DVC: "
                    f"git rm --cached {quoted} && dvc commit {_quote(self.tracked_by)} && dvc push")
        return (f"{self.path} {why} and is staged in git; track it with DVC instead: "
                f"git rm --cached {quoted} && dvc add {quoted} && git add {_quote(self.path + '.dvc')}")


@dataclass(frozen=True)
class GuardReport:
    """A guard run: how many paths were checked, the findings, and the size limit used (bytes)."""
    checked: int
    findings: tuple[Finding, ...]
    max_size: int

    @property
    def ok(self) -> bool:
        """True when no file was refused (the hook exits 5 otherwise)."""
        return not self.findings


def _quote(path: str) -> str:
    return path if re.fullmatch(r"[\w./@%+=:,-]+", path) else "'" + path.replace("'", "'\\''") + "'"


def lfs_pointer(blob: bytes) -> bool:
    """Whether `blob` is a Git LFS pointer file (what the LFS clean filter stages)."""
    if len(blob) >= LFS_MAX or not any(blob.startswith(v + b"\n") for v in LFS_VERSIONS):
        return False
    keys = dict(line.split(b" ", 1) for line in blob.splitlines()[1:] if b" " in line)
    return re.fullmatch(rb"sha256:[0-9a-f]{64}", keys.get(b"oid", b"")) is not None and keys.get(b"size", b"").isdigit()


def judge(rel: str, head: bytes, size: int, max_size: int, opener=None) -> Finding | None:
    """The finding for content of `size` bytes starting with `head`, or None (pure)."""
    if size < LFS_MAX and lfs_pointer(head):
        return None
    ext = WEIGHT_EXTENSIONS.get(Path(rel).suffix.lower()) or \
        ("TensorFlow variables" if TF_SHARD.search(rel) else None)
    if ext is None and rel.lower().endswith((".onnx.data", ".onnx_data")):
        ext = "ONNX external data"
    if ext:
        return Finding(rel, "extension", ext, size)
    fmt = sniff(head, size, opener=opener)
    if fmt:
        return Finding(rel, "magic", fmt, size)
    if size > max_size:
        return Finding(rel, "size", None, size)
    return None


def check_file(root: Path, rel: str, max_size: int) -> Finding | None:
    """A file that is not in the index, judged by its bytes in the work tree."""
    path = root / rel
    if not path.is_file() or path.is_symlink():
        return None  # deleted, a directory, or a symlink (git stores the link, not the bytes)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    return judge(rel, head, size, max_size, opener=lambda: path.open("rb"))


def index_entries(root: Path, rels: list[str]) -> tuple[dict[str, tuple[str, int]], set[str]]:
    """(path -> (blob id, size) of the regular files among `rels` in the index, every path of
    `rels` the index holds): one `git ls-files -s` and one `git cat-file --batch-check`."""
    wanted = set(rels)
    entries, indexed = {}, set()
    for mode, sha, stage, path in git_review.index_entries(root):
        if path in wanted:
            indexed.add(path)
            if stage == "0" and mode.startswith("100"):
                entries[path] = (mode, sha)
    # Symlinks (120000) and submodules (160000) are left out: git stores no file bytes for them.
    sizes = git_review.object_sizes(root, sorted({sha for _, sha in entries.values()}))
    return {path: (sha, sizes[sha]) for path, (mode, sha) in entries.items()}, indexed


def small_blobs(root: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of small blobs (under SMALL_BLOB bytes each), all through one
    `git cat-file --batch`: a commit of thousands of source files costs one process."""
    return {k: v for k, v in git.read_blobs(root, shas).items() if v is not None}


def check_blob(root: Path, rel: str, sha: str, size: int, max_size: int,
               content: bytes | None = None) -> Finding | None:
    """The staged blob of `rel` (`size` bytes), judged as git will store it; `content` when
    it was read already (small_blobs)."""
    if content is not None:
        return judge(rel, content[:HEAD_BYTES], size, max_size, opener=lambda: io.BytesIO(content))
    # Only the first bytes are read; a zip small enough is read whole to look inside it.
    want = size if size <= ZIP_READ_MAX else HEAD_BYTES
    with git_review.open_blob(root, sha) as stream:
        head = stream.read(HEAD_BYTES)
        rest = stream.read(want - len(head)) if head.startswith(b"PK\x03\x04") and want > len(head) else b""
    data = head + rest
    opener = (lambda: io.BytesIO(data)) if len(data) == size else None
    return judge(rel, head, size, max_size, opener=opener)


def guard(paths: list[str] | None = None, *, repo: str | os.PathLike = ".",
          max_size: str | int | None = None) -> GuardReport:
    """Check `paths` (default: the files staged for the next commit): each path in the index is
    judged by its staged blob, a path outside it by the file on disk; `max_size` is bytes or a size
    string (`50MB`), default the `guard:` setting. UsageError (2) for a path outside the repository
    or a size that is not one; NotFoundError (3) outside a git repository or for a path that is
    neither on disk nor in the index."""
    root = git.toplevel(repo)
    settings = _settings(root)
    configured = settings.max_size if settings.max_size is not None else DEFAULT_MAX_SIZE
    limit = parse_size(max_size if max_size is not None else configured)
    allow = list(settings.allow)
    missing: dict[str, str] = {}
    if paths is None:
        rels = git_review.staged_paths(root)
    else:
        cwd = Path(repo).resolve()
        rels = []
        for p in paths:
            full = (cwd / p).resolve()
            if not full.is_relative_to(root.resolve()):
                raise UsageError(f"'{p}' is outside the repository {root}")
            rels.append(full.relative_to(root.resolve()).as_posix())
            if not (cwd / p).exists() and not (cwd / p).is_symlink():
                missing.setdefault(rels[-1], p)
    rels = [r for r in rels if not any(fnmatch.fnmatch(r, pat) for pat in allow)]
    staged, in_index = index_entries(root, rels) if rels else ({}, set())
    for rel, given in missing.items():
        if rel not in staged and rel not in in_index:   # neither on disk nor in the index: a typo
            raise NotFoundError(f"'{given}' does not exist; name a file to check, or run `weightops guard` "
                                "without paths to check the files staged for commit")
    small = small_blobs(root, sorted({sha for sha, size in staged.values() if size <= SMALL_BLOB}))
    found = []
    for r in rels:
        if r in staged:
            found.append(check_blob(root, r, *staged[r], limit, small.get(staged[r][0])))
        elif r not in in_index:   # not tracked: what `git add` would store is the file on disk
            found.append(check_file(root, r, limit))
    findings = tuple(f for f in found if f is not None)
    if findings and (root / ".dvc").is_dir():
        from dataclasses import replace

        from weightops.storage.outputs import dvc_outputs

        tracked = {o.path: o.tracked_by for o in dvc_outputs(root)}
        findings = tuple(replace(f, tracked_by=tracked.get(f.path)) for f in findings)
    return GuardReport(len(rels), findings, limit)


def _settings(root: Path) -> GuardSettings:
    """The work tree's `guard:` settings (the hook checks what is about to be committed)."""
    cfg = root / CONFIG_FILE
    if not cfg.is_file():
        return GuardSettings()
    return parse_config(cfg.read_bytes()).guard
