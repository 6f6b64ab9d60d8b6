"""The model card: a git-tracked YAML beside the weights holding their SHA-256, lineage,
environment, metrics, labels and signature. Built here, validated against the JSON Schema
shipped in `templates/card.schema.json`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from weightops.errors import IntegrityError, NotFoundError, UsageError, WeightopsError
from weightops.storage.pointers import Pointer, load_yaml
from weightops.core.yamlio import dump_yaml, safe_load

# typing.TYPE_CHECKING without importing typing, which resolve never needs (type checkers
# read any `TYPE_CHECKING` this way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from weightops.storage.hashing import Digests

# Hashing (hashlib, the threaded reader) and the clock are imported by the functions that
# build or re-hash a card: `resolve` reads cards on every deploy start and needs neither.

SCHEMA_VERSION = 1
FORMATS = {
    ".safetensors": "safetensors", ".pt": "pytorch", ".pth": "pytorch", ".bin": "pytorch",
    ".onnx": "onnx", ".npz": "numpy", ".npy": "numpy", ".h5": "hdf5", ".keras": "keras",
    ".gguf": "gguf", ".pb": "tensorflow", ".ckpt": "checkpoint", ".pkl": "pickle",
    ".joblib": "joblib", ".msgpack": "flax", ".hdf5": "hdf5", ".jit": "torchscript", ".ptl": "torchscript",
    ".torchscript": "torchscript", ".tflite": "tflite", ".skops": "skops", ".ubj": "xgboost",
}

# core/sniff.py's display names -> the card's format names.
CONTENT_FORMATS = {
    "safetensors": "safetensors", "GGUF": "gguf", "HDF5": "hdf5", "Keras": "keras", "NumPy": "numpy",
    "NumPy (npz)": "numpy", "PyTorch (zip)": "pytorch", "TorchScript": "torchscript", "PyTorch (legacy)": "pytorch",
    "pickle": "pickle", "TFLite": "tflite", "ONNX": "onnx", "skops": "skops", "XGBoost": "xgboost",
    "LightGBM": "lightgbm",
}


class CardError(WeightopsError):
    """A model card that is missing, unreadable or not valid against the schema."""


def artifact_format(path: str | os.PathLike) -> str:
    """The weight format's name (`safetensors`, `onnx`, `torchscript`, ..., `directory`) from
    `path`'s suffix (FORMATS), else from its content (`model.pth.tar` is `pytorch`), a torch
    `.pt` read as TorchScript when its zip says so."""
    p = Path(path)
    if p.is_dir():
        return "directory"
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None and p.is_file():
        # An unknown name (`.pth.tar`, no extension): what the content shows, by the one
        # detector guard and the weight readers use.
        from weightops.core.sniff import sniff_file
        fmt = CONTENT_FORMATS.get(sniff_file(p) or "")
    fmt = fmt or p.suffix.lstrip(".") or "binary"
    if fmt == "pytorch" and _is_torchscript(p):
        return "torchscript"   # torch.jit.save archives are often named .pt
    return fmt


def _is_torchscript(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def artifact_files(path: Path, root: Path | None = None) -> list[Path]:
    """The files of a directory artifact, sorted. With `root` (the repository), a symlink
    anywhere in the directory (to a file or a folder) that leads out of `root` is refused
    (RefusedError, exit 5): DVC would hash, push and deploy its target's bytes. A link into the
    project's DVC cache (`cache.type symlink`, a shared `cache.dir`) is DVC's own and allowed."""
    from weightops.storage.dvc_config import dvc_cache_dir
    from weightops.storage.pointers import stay_inside

    cache = dvc_cache_dir(root) if root is not None else None
    files = []
    for here, dirs, names in os.walk(path):   # symlinked folders are listed, not entered
        for name in dirs + names:
            entry = Path(here) / name
            if root is not None and entry.is_symlink():
                stay_inside(entry, root, "file of directory artifact", also=(cache,) if cache else ())
            if name in names and entry.is_file():
                files.append(entry)
    return sorted(files)


def describe_artifact(path: Path, display_path: str, root: Path | None = None) -> dict:
    """Path, format, size and both digests; a directory gets a per-file list (its symlinks
    checked against `root`, see artifact_files); an ONNX model whose weights live in external
    data files gets `external_data`, each file with its own digests. Sizes in bytes, digests
    lower-case hex; `md5` of a directory is DVC's `.dir` id. NotFoundError (3) for a missing
    file, RefusedError (5) for a symlink out of `root`."""
    import hashlib

    from weightops.storage.hashing import dir_md5, hash_file

    if path.is_dir():
        files = []
        for f in artifact_files(path, root):
            rel = f.relative_to(path).as_posix()
            d = hash_file(f)
            files.append({"path": rel, "size": d.size, "sha256": d.sha256, "md5": d.md5})
        # The directory's sha256 covers the per-file list, so one digest pins every file.
        listing = "".join(f"{e['sha256']}  {e['path']}\n" for e in files).encode()
        return {
            "path": display_path, "format": "directory", "size": sum(e["size"] for e in files),
            "sha256": hashlib.sha256(listing).hexdigest(),
            "md5": dir_md5([(e["path"], e["md5"]) for e in files]), "files": files,
        }
    if not path.is_file():
        raise NotFoundError(f"weights file '{path}' does not exist; train first (dvc repro)")
    d = hash_file(path)
    out = {"path": display_path, "format": artifact_format(path), "size": d.size,
           "sha256": d.sha256, "md5": d.md5}
    if out["format"] == "onnx":
        from weightops.model.formats.onnx import external_data_files

        external = []
        for rel in external_data_files(path):
            e = hash_file(path.parent / rel)
            external.append({"path": rel, "size": e.size, "sha256": e.sha256, "md5": e.md5})
        if external:
            out["external_data"] = external
    return out


def build_card(weights: Path, model: str, *, project: Path | None, metrics: dict | None = None,
               labels: dict | None = None, signature: dict | None = None) -> dict:
    """Everything a card holds, computed now: the weights' digests (a file or a directory),
    lineage, environment, `metrics`, `labels` (strings) and the MLflow-style `signature`.
    `project` is the repo root (None outside git). NotFoundError (3) when `weights` is
    missing, RefusedError (5) for a symlink out of the project."""
    from weightops.model.environment import environment  # platform probes stay off the resolve path
    from weightops.core.clock import now_iso

    rel = weights.resolve().relative_to(project.resolve()).as_posix() if project and \
        weights.resolve().is_relative_to(project.resolve()) else weights.name
    lineage = {"commit": None, "dirty": False, "branch": None,
               "created_at": now_iso(),
               "stage": None, "params": {}, "deps": {}}
    if project is not None:
        from weightops.model.lineage import training_lineage

        lineage = training_lineage(project, rel)
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "artifact": describe_artifact(weights, rel, project),
        "lineage": lineage,
        "environment": environment(project),
        "metrics": metrics or {},
        "labels": {str(k): str(v) for k, v in (labels or {}).items()},
        "signature": signature,
    }


def validate_card(card: object, what: str = "model card") -> dict:
    """`card` if it is valid against `templates/card.schema.json` (JSON Schema 2020-12,
    checked with jsonschema). CardError (exit 1) naming the first invalid path otherwise."""
    import jsonschema  # not on the resolve path

    from weightops.core.resources import template_path

    schema = json.loads(template_path("card.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(card), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.path) or "(top level)"
        raise CardError(f"{what} is not valid at {where}: {err.message}")
    return card  # type: ignore[return-value]


def dump_card(card: dict) -> str:
    """The card file's text: a header comment, then the card as YAML."""
    return "# weightops model card: written by `weightops card`, reviewed in pull requests.\n" + \
        dump_yaml(card)


def write_card(card: dict, out: Path) -> Path:
    """Validate `card` (CardError, exit 1) and write it to `out` atomically; returns `out`."""
    from weightops.core.atomic import atomic_write_text

    validate_card(card)
    atomic_write_text(out, dump_card(card))
    return out


def parse_card(text: bytes | str | None, what: str = "model card") -> dict:
    """A card's YAML text -> the card (a dict with `artifact.sha256`), not schema-checked:
    `resolve` reads it on every deploy. NotFoundError (3) for None (no card), YamlError (2)
    for bad YAML, CardError (1) for a card without `artifact.sha256`."""
    if text is None:
        raise missing_card(what)
    return card_doc(load_yaml(text, what), what)


def missing_card(what: str = "model card") -> NotFoundError:
    """The error (exit 3) for a card a command needs and the commit does not hold (`release`);
    `release` replaces the advice with what writes the card in that project."""
    return NotFoundError(f"{what} not found; write it with `weightops card` and commit it", card=what)


def card_doc(doc: object, what: str = "model card") -> dict:
    """`doc` (parsed YAML) if it is a card with `artifact.sha256`; CardError (1) otherwise."""
    if not isinstance(doc, dict):
        raise CardError(f"{what} is not a mapping; regenerate it with `weightops card`")
    art = doc.get("artifact")
    if not isinstance(art, dict) or not isinstance(art.get("sha256"), str):
        raise CardError(f"{what} has no artifact.sha256; regenerate it with `weightops card`")
    return doc


def load_card(path: Path) -> dict:
    """`parse_card` of the card file at `path`; NotFoundError (3) when it is not there."""
    if not path.is_file():
        raise NotFoundError(f"model card '{path}' does not exist; run `weightops card`")
    return parse_card(path.read_bytes(), str(path))


def check_card_against_pointer(card: dict, pointer: Pointer) -> list[str]:
    """Problems (one message each) where the card disagrees with what DVC recorded in
    `pointer` (md5, size in bytes); [] when they agree. Pure."""
    art = card.get("artifact") or {}
    problems = []
    # A DVC 2 pointer of a text file records the md5 of its CRLF -> LF form (md5-dos2unix), which
    # the card (md5 of the bytes) cannot match; release checks it against the bytes instead.
    dvc2_text = pointer.legacy and pointer.size is not None and art.get("size") == pointer.size
    if art.get("md5") != pointer.md5 and not dvc2_text:
        problems.append(f"card md5 {art.get('md5')} != pointer md5 {pointer.md5} ({pointer.source})")
    if pointer.size is not None and art.get("size") != pointer.size:
        problems.append(f"card size {art.get('size')} != pointer size {pointer.size} ({pointer.source})")
    return problems


def require_card_matches(card: dict, pointer: Pointer, ref: str) -> None:
    """Raise IntegrityError (exit 4) naming the first disagreement between the card and DVC's
    pointer (md5, size in bytes); `ref` names the version in the message."""
    problems = check_card_against_pointer(card, pointer)
    if problems:
        raise IntegrityError(f"{ref}: {problems[0]}; rerun `dvc repro` so card and weights agree",
                             expected=pointer.md5, actual=(card.get("artifact") or {}).get("md5"), ref=ref)


def check_card_against_file(card: dict, path: Path, ref: str, source: str = "card says") -> Digests:
    """Re-hash the bytes on disk (SHA-256 only: the returned Digests has md5 None); raise
    IntegrityError (exit 4) when they differ from the card. `source` names what holds the
    expected digest in the message ("card says", "lock X pins")."""
    from weightops.storage.hashing import Digests, hash_file, sha256_file

    art = card.get("artifact") or {}
    if path.is_dir():
        fresh = describe_artifact(path, art.get("path", path.name))
        if fresh["sha256"] != art.get("sha256"):
            raise IntegrityError(f"{ref}: directory {path} does not match its card (sha256 of file list differs)",
                                 expected=art.get("sha256"), actual=fresh["sha256"], ref=ref)
        return Digests(fresh["sha256"], fresh["md5"], fresh["size"])
    d = hash_file(path, md5=False)   # the card pins SHA-256; an MD5 pass would double the CPU
    if d.sha256 != art.get("sha256"):
        raise IntegrityError(f"{ref}: sha256 of {path} is {d.sha256}, {source} {art.get('sha256')}",
                             expected=art.get("sha256"), actual=d.sha256, ref=ref)
    for entry in art.get("external_data") or ():
        # The model's weights: they must be beside it and be the bytes the card pinned.
        data = path.parent / entry["path"]
        actual = sha256_file(data) if data.is_file() else None
        if actual != entry["sha256"]:
            why = "is missing" if actual is None else f"has sha256 {actual}, card says {entry['sha256']}"
            raise IntegrityError(f"{ref}: external data '{entry['path']}' of {path.name} {why}",
                                 expected=entry["sha256"], actual=actual, ref=ref)
    return d


def check_pointer_against_file(pointer: Pointer, path: Path, ref: str, source: str | None = None) -> str:
    """Re-hash the bytes on disk as DVC does for a version without a card: a file by its MD5
    (DVC 2's text rule for a legacy pointer) and size, a directory by DVC's `.dir` id of its
    files' MD5s. Returns the md5 found; IntegrityError (exit 4) naming `source` (default: the
    pointer's file) when it differs from `pointer`."""
    from weightops.storage.hashing import dvc2_md5, hash_file

    source = source or f"{pointer.source} records"
    if path.is_dir():
        d = describe_artifact(path, pointer.path)   # DVC records a directory's size as its files' total
        actual, size = d["md5"], d["size"]
    else:
        d = hash_file(path)
        actual, size = d.md5, d.size
        if pointer.legacy and actual != pointer.md5:
            actual = dvc2_md5(path)
    if actual != pointer.md5:
        raise IntegrityError(f"{ref}: md5 of {path} is {actual}, {source} {pointer.md5}",
                             expected=pointer.md5, actual=actual, ref=ref)
    if size is not None and pointer.size is not None and size != pointer.size:
        raise IntegrityError(f"{ref}: {path} has {size} bytes, {source} {pointer.size}",
                             expected=pointer.size, actual=size, ref=ref)
    return actual


def check_bytes(card: dict | None, pointer: Pointer, path: Path, ref: str) -> None:
    """The bytes at `path` against the card's SHA-256 (`check_card_against_file`), or, for a
    version without a card (`card` None or {}), against DVC's MD5 and size
    (`check_pointer_against_file`). IntegrityError (exit 4) when they differ."""
    if card:
        check_card_against_file(card, path, ref)
    else:
        check_pointer_against_file(pointer, path, ref)


def parse_labels(pairs: list[str] | None, *, what: str = "label", empty_value: bool = True) -> dict[str, str]:
    """`KEY=VALUE` strings -> {KEY: VALUE}, stripped; later keys win. UsageError (2) naming
    `what` for a pair without `=` or a key (or, unless `empty_value`, a value)."""
    labels = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not (empty_value or value.strip()):
            raise UsageError(f"{what} '{pair}' is not KEY=VALUE (for example sensor=v2)")
        labels[key.strip()] = value.strip()
    return labels


def read_metrics(path: Path | None) -> dict:
    """The metrics file at `path` (JSON by a `.json` suffix, else YAML) -> metric name ->
    value; {} for None. NotFoundError (3) when missing, UsageError (2) when unreadable or not
    a mapping."""
    if path is None:
        return {}
    if not path.is_file():
        raise NotFoundError(f"metrics file '{path}' does not exist")
    text = path.read_text()
    try:
        doc = json.loads(text) if path.suffix == ".json" else safe_load(text)
    except (json.JSONDecodeError, ValueError):
        raise UsageError(f"metrics file '{path}' is not valid JSON or YAML") from None
    if not isinstance(doc, dict):
        raise UsageError(f"metrics file '{path}' must hold a mapping of metric names to values")
    return doc
