"""Lineage: which commit a model's inputs came from, and whether a commit holds exactly them.

The README's flow runs `dvc repro` (which writes the card) before `git commit`, so at training
time the work tree always differs from HEAD: whole-tree "dirty" says nothing. What matters is
content: the inputs DVC recorded for the stage that produced the weights (each dependency's
md5 and each parameter's value, from dvc.lock) compared with what a commit holds.

- `training_lineage` (card time): HEAD, and the inputs whose content differs from HEAD.
- `compare_inputs` (release time): the inputs that differ between a card and a commit; none
  means the weights are reproducible from that commit (`dvc repro` there runs the same stage
  on the same bytes and params).

A dependency's md5 at a commit is DVC's: the md5 of a git-tracked file's bytes, DVC's `.dir`
md5 for a git-tracked folder, or the md5 the commit's `.dvc` file or dvc.lock records for a
DVC-tracked one (DVC 3 hashes raw bytes; see dvc-data's `hashfile`).
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path

from weightops.core import git
from weightops.errors import WeightopsError
from weightops.storage.pointers import lock_lineage, pointer_from_dvcfile, pointer_from_lock, safe_join


@dataclass(frozen=True)
class Difference:
    """One input whose content differs: `name` is `deps PATH`, `params KEY.PATH` (`params
    FILE:KEY.PATH` for a params file other than params.yaml) or `cmd STAGE`."""

    name: str
    recorded: object        # what the card (dvc.lock at training time) names
    found: object           # what the commit holds (None: absent)

    def describe(self) -> str:
        """One line: the input's name, the card's recorded value and the commit's (shortened)."""
        return f"{self.name} (card {_short(self.recorded)}, commit {_short(self.found)})"


def training_lineage(root: Path, weights_rel: str) -> dict:
    """The card's `lineage` at training time, for weights at `weights_rel` (repo-relative) in
    the work tree at `root`: HEAD, branch, the producing stage's deps and params from the work
    tree's dvc.lock, `params_files` (params file -> {key: value}, as dvc.lock records them),
    `params_whole` (the files the stage tracks whole, from dvc.yaml), `inputs_differ` (input
    names whose content HEAD does not hold; every input when there is no commit yet) and
    `dirty` (whether that list is non-empty)."""
    from weightops.core.clock import now_iso

    lineage = {"commit": git.head(root), "dirty": False, "branch": git.current_branch(root),
               "created_at": now_iso(), "stage": None, "params": {}, "deps": {}, "inputs_differ": []}
    found = _producing_lock(root, weights_rel)
    if found is not None:
        lockfile, doc, produced = found
        lineage.update(produced)
        if lockfile != "dvc.lock":   # a pipeline below the top (`dvc init --subdir`, a nested dvc.yaml)
            lineage["lockfile"] = lockfile
        lineage["cmd"] = ((doc.get("stages") or {}).get(lineage["stage"]) or {}).get("cmd")
        lineage["params_files"] = _lock_params(doc, lineage["stage"])
        dvcyaml = root / posixpath.dirname(lockfile) / "dvc.yaml"
        whole = _whole_files(_parse(dvcyaml.read_bytes(), "dvc.yaml") if dvcyaml.is_file() else None,
                             lineage["stage"])
        lineage["params_whole"] = sorted(f for f in whole if f in lineage["params_files"])
    if lineage["commit"] is None:
        differ = [f"deps {p}" for p in sorted(lineage["deps"])] + \
                 [f"params {k}" for k in sorted(_flatten(lineage["params"]))]
    else:
        differ = [d.name for d in compare_inputs(root, lineage["commit"], lineage, lineage.get("lockfile", "dvc.lock"))]
    lineage["inputs_differ"] = differ
    lineage["dirty"] = bool(differ)
    return lineage


def _producing_lock(root: Path, weights_rel: str) -> tuple[str, dict, dict] | None:
    """(repo-relative dvc.lock, its document, `lock_lineage`) of the nearest dvc.lock at or above
    the weights' folder whose stage outputs them (a `dvc init --subdir` project keeps its pipeline
    in its own folder), as DVC finds the stage; None when no dvc.lock does."""
    folder = posixpath.dirname(weights_rel)
    while True:
        lockfile = posixpath.join(folder, "dvc.lock") if folder else "dvc.lock"
        if (root / lockfile).is_file():
            doc = _parse((root / lockfile).read_bytes(), lockfile)
            produced = lock_lineage(doc if isinstance(doc, dict) else None, lockfile, weights_rel)
            if produced["stage"]:
                return lockfile, doc, produced
        if not folder:
            return None
        folder = posixpath.dirname(folder)


def compare_inputs(repo: Path | str, commit: str, lineage: dict, lockfile: str = "dvc.lock") -> list[Difference]:
    """Inputs named by `lineage` (a card's: `deps` path -> md5, `params_files`/`params`,
    `stage`) whose content at `commit` differs, in name order, judged as `dvc status` judges a
    stage's deps (dvc/dependency/param.py: each recorded key path looked up with dpath's "."
    separator in the params file DVC's own parser reads, a wholly tracked file compared key by
    top-level key, new keys included). Reads git objects only (works in a bare clone)."""
    deps = lineage.get("deps") or {}
    lock_text = git.read_blobs(repo, [f"{commit}:{lockfile}"]).get(f"{commit}:{lockfile}")
    base = posixpath.dirname(lockfile)
    found: list[Difference] = []
    for path, md5 in sorted(deps.items()):
        actual = md5_at(repo, commit, path, lock_text, lockfile)
        if actual != md5:
            found.append(Difference(f"deps {path}", md5, actual))
    if lineage.get("cmd") is not None and lineage.get("stage"):
        cmd = _cmd_at(repo, commit, lineage["stage"], posixpath.join(base, "dvc.yaml"))
        if cmd is not _MISSING and cmd != lineage["cmd"]:
            found.append(Difference(f"cmd {lineage['stage']}", lineage["cmd"], cmd))
    files = lineage.get("params_files")
    if not isinstance(files, dict):   # a card from before params were recorded per file
        files = _legacy_files(lineage, lock_text, lockfile)
    whole = set(lineage.get("params_whole") or [])
    specs = {f: f"{commit}:{safe_join(base, f)}" for f in files}
    blobs = git.read_blobs(repo, list(specs.values())) if specs else {}
    for f, recorded in sorted(files.items()):
        if not isinstance(recorded, dict):
            continue
        text = blobs.get(specs[f])
        conf = _parse(text, f) if text is not None else None
        label = (lambda k: f"params {k}") if f == "params.yaml" else (lambda k, f=f: f"params {f}:{k}")
        keys = list(recorded)
        if f in whole and isinstance(conf, dict):
            keys += [k for k in conf if k not in recorded]
        for key in keys:
            held = _lookup(conf, key, whole=f in whole)
            want = recorded.get(key, _MISSING)
            if isinstance(held, dict) and isinstance(want, dict):   # a section: name the keys inside that differ
                held, want = _flatten(held, key), _flatten(want, key)
                found += [Difference(label(k), want.get(k), held.get(k)) for k in {**want, **held}
                          if k not in held or k not in want or not _same(held[k], want[k])]
            elif held is _MISSING or want is _MISSING or not _same(held, want):
                found.append(Difference(label(key), None if want is _MISSING else want,
                                        None if held is _MISSING else held))
    return sorted(found, key=lambda d: d.name)


def md5_at(repo: Path | str, commit: str, path: str, lock_text: bytes | None, lockfile: str) -> str | None:
    """DVC's md5 of `path` at `commit`: git-tracked file or folder, else the `.dvc` file's or
    dvc.lock's record for a DVC-tracked one; None when the commit has none of these."""
    blob = git.read_blobs(repo, [f"{commit}:{path}"]).get(f"{commit}:{path}")
    if blob is not None:
        return hashlib.md5(blob).hexdigest()
    listed = git.run(["ls-tree", "-r", "-z", "--name-only", commit, "--", path], cwd=repo, check=False).stdout
    files = [p for p in listed.split("\0") if p and p.startswith(path.rstrip("/") + "/")]
    if files:
        from weightops.storage.hashing import dir_md5

        blobs = git.read_blobs(repo, [f"{commit}:{f}" for f in files])
        return dir_md5([(f[len(path.rstrip("/")) + 1:], hashlib.md5(blobs[f"{commit}:{f}"] or b"").hexdigest())
                        for f in files])
    try:
        dvcfile = git.read_blobs(repo, [f"{commit}:{path}.dvc"]).get(f"{commit}:{path}.dvc")
        pointer = pointer_from_dvcfile(dvcfile, f"{path}.dvc", path) if dvcfile is not None \
            else pointer_from_lock(lock_text, lockfile, path) if lock_text is not None else None
    except WeightopsError:
        return None
    return pointer.md5 if pointer is not None else None


_MISSING = object()


def _parse(text: bytes | str | None, path: str) -> object:
    """A params file or DVC file as DVC parses it (dvc.utils.serialize: YAML 1.2 by ruamel, so
    `1e-3` is a float; JSON, TOML and Python params files by extension); None when unreadable."""
    if text is None:
        return None
    from dvc.utils.serialize import PARSERS

    try:
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        return PARSERS[posixpath.splitext(path)[1].lower()](text, path)
    except Exception:   # noqa: BLE001 - DVC's parse errors and bad bytes alike: nothing readable
        return None


def _lookup(conf: object, key: str, *, whole: bool) -> object:
    """dvc/dependency/param.py's read: a wholly tracked file's top-level key, else the key path
    through dpath with "." as separator."""
    if not isinstance(conf, dict):
        return _MISSING
    if whole:
        return conf.get(key, _MISSING)
    import dpath

    try:
        return dpath.get(conf, key, separator=".")
    except (KeyError, ValueError):
        return _MISSING


def _same(held: object, want: object) -> bool:
    # DVC: a tuple read from a .py params file equals the list dvc.lock holds.
    return held == want or (isinstance(held, tuple) and list(held) == want)


def _cmd_at(repo: Path | str, commit: str, stage: str, dvcyaml: str) -> object:
    """The command dvc.yaml at `commit` gives `stage`, as dvc.lock would record it: the text as
    written, or, when dvc.yaml interpolates (`${...}` from `vars` or params files), as DVC's own
    parser renders it at that commit (the only case that imports DVC's repository code);
    _MISSING when DVC cannot render it there, which decides nothing."""
    text = git.read_blobs(repo, [f"{commit}:{dvcyaml}"]).get(f"{commit}:{dvcyaml}")
    if text is None:
        return None
    if b"${" not in text:
        doc = _parse(text, dvcyaml)
        spec = (doc.get("stages") or {}).get(stage) if isinstance(doc, dict) else None
        return spec.get("cmd") if isinstance(spec, dict) else None
    from dvc.repo import Repo

    try:
        with Repo(str(repo), rev=commit) as at:
            wanted = posixpath.normpath(dvcyaml)
            for candidate in at.index.stages:
                path = getattr(candidate, "path_in_repo", "")
                if candidate.name == stage and (not path or posixpath.normpath(path) == wanted):
                    return candidate.cmd
    except Exception:   # noqa: BLE001 - DVC cannot build the pipeline there (a bare clone): undecided
        return _MISSING
    return None


def _lock_params(doc: object, stage: str) -> dict:
    """dvc.lock's `params:` of `stage`: params file -> {key path: value}, as DVC wrote them."""
    entry = ((doc.get("stages") or {}).get(stage) or {}) if isinstance(doc, dict) else {}
    params = entry.get("params") if isinstance(entry, dict) else None
    return {str(f): dict(v) for f, v in params.items() if isinstance(v, dict)} if isinstance(params, dict) else {}


def _whole_files(doc: object, stage: str) -> set[str]:
    """Params files dvc.yaml's `stage` tracks whole (`- params.yaml:` or `- f.json: []` with no
    keys; dvc/dependency/__init__.py `_merge_params`). A foreach/matrix stage `name@key` reads
    its template."""
    stages = doc.get("stages") if isinstance(doc, dict) else None
    spec = stages.get(stage.split("@")[0]) if isinstance(stages, dict) else None
    spec = spec.get("do", spec) if isinstance(spec, dict) and "foreach" in spec else spec
    entries = spec.get("params") if isinstance(spec, dict) else None
    return {str(f) for e in entries or [] if isinstance(e, dict) for f, keys in e.items() if not keys} \
        if isinstance(entries, list) else set()


def _legacy_files(lineage: dict, lock_text: bytes | None, lockfile: str) -> dict:
    """Old cards kept params merged into one mapping: each key is looked for in the params files
    the commit's dvc.lock names for the stage (DVC's default params.yaml otherwise)."""
    params = lineage.get("params") or {}
    if not params:
        return {}
    files = list(_lock_params(_parse(lock_text, lockfile), lineage.get("stage") or "")) or ["params.yaml"]
    return {files[0]: dict(params)} if len(files) == 1 else {"params.yaml": dict(params)}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def _short(value: object) -> str:
    if value is None:
        return "none"
    text = str(value)
    return text[:12] if len(text) == 32 and all(c in "0123456789abcdef" for c in text) else text
