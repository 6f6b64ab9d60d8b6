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
from weightops.storage.pointers import load_yaml, lock_lineage, pointer_from_dvcfile, pointer_from_lock, safe_join


@dataclass(frozen=True)
class Difference:
    """One input whose content differs: `name` is `deps PATH` or `params KEY.PATH`."""

    name: str
    recorded: object        # what the card (dvc.lock at training time) names
    found: object           # what the commit holds (None: absent)

    def describe(self) -> str:
        """One line: the input's name, the card's recorded value and the commit's (shortened)."""
        return f"{self.name} (card {_short(self.recorded)}, commit {_short(self.found)})"


def training_lineage(root: Path, weights_rel: str) -> dict:
    """The card's `lineage` at training time, for weights at `weights_rel` (repo-relative) in
    the work tree at `root`: HEAD, branch, the producing stage's deps and params from the work
    tree's dvc.lock, `inputs_differ` (input names whose content HEAD does not hold; every
    input when there is no commit yet) and `dirty` (whether that list is non-empty)."""
    from weightops.model.card import now_iso

    lineage = {"commit": git.head(root), "dirty": False, "branch": git.current_branch(root),
               "created_at": now_iso(), "stage": None, "params": {}, "deps": {}, "inputs_differ": []}
    lock = root / "dvc.lock"
    if lock.is_file():
        lineage.update(lock_lineage(lock.read_bytes(), "dvc.lock", weights_rel))
    if lineage["commit"] is None:
        differ = [f"deps {p}" for p in sorted(lineage["deps"])] + \
                 [f"params {k}" for k in sorted(_flatten(lineage["params"]))]
    else:
        differ = [d.name for d in compare_inputs(root, lineage["commit"], lineage)]
    lineage["inputs_differ"] = differ
    lineage["dirty"] = bool(differ)
    return lineage


def compare_inputs(repo: Path | str, commit: str, lineage: dict, lockfile: str = "dvc.lock") -> list[Difference]:
    """Inputs named by `lineage` (a card's: `deps` path -> md5, `params`, `stage`) whose content
    at `commit` differs, in name order. Reads git objects only (works in a bare clone)."""
    deps = lineage.get("deps") or {}
    params = lineage.get("params") or {}
    lock_text = git.read_blobs(repo, [f"{commit}:{lockfile}"]).get(f"{commit}:{lockfile}")
    base = posixpath.dirname(lockfile)
    found: list[Difference] = []
    for path, md5 in sorted(deps.items()):
        actual = md5_at(repo, commit, path, lock_text, lockfile)
        if actual != md5:
            found.append(Difference(f"deps {path}", md5, actual))
    if params:
        held = _flatten(params_at(repo, commit, lineage.get("stage"), lock_text, lockfile, base, list(params)))
        for key, value in sorted(_flatten(params).items()):
            if key not in held or held[key] != value:
                found.append(Difference(f"params {key}", value, held.get(key)))
    return found


def md5_at(repo: Path | str, commit: str, path: str, lock_text: bytes | None, lockfile: str) -> str | None:
    """DVC's md5 of `path` at `commit`: git-tracked file or folder, else the `.dvc` file's or
    dvc.lock's record for a DVC-tracked one; None when the commit has none of these."""
    blob = git.read_blobs(repo, [f"{commit}:{path}"]).get(f"{commit}:{path}")
    if blob is not None:
        return hashlib.md5(blob).hexdigest()
    listed = git.run(["ls-tree", "-r", "-z", "--name-only", commit, "--", path], cwd=repo, check=False).stdout
    files = [p for p in listed.split("\0") if p and p.startswith(path.rstrip("/") + "/")]
    if files:
        from weightops.model.card import dir_md5

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


def params_at(repo: Path | str, commit: str, stage: str | None, lock_text: bytes | None, lockfile: str,
              base: str, keys: list[str]) -> dict:
    """The values of the top-level params `keys` in the params files the stage reads at
    `commit` (the files its dvc.lock entry names; DVC's default `params.yaml` otherwise)."""
    files = ["params.yaml"]
    try:
        doc = load_yaml(lock_text, lockfile) if lock_text is not None else None
        entry = ((doc or {}).get("stages") or {}).get(stage) if isinstance(doc, dict) and stage else None
        if isinstance(entry, dict) and isinstance(entry.get("params"), dict) and entry["params"]:
            files = [str(f) for f in entry["params"]]
    except WeightopsError:
        pass
    specs = {f: f"{commit}:{safe_join(base, f)}" for f in files}
    blobs = git.read_blobs(repo, list(specs.values()))
    values: dict = {}
    for f, spec in specs.items():
        try:
            doc = load_yaml(blobs.get(spec), spec) if blobs.get(spec) is not None else None
        except WeightopsError:
            doc = None
        if isinstance(doc, dict):
            values.update({k: doc[k] for k in keys if k in doc and k not in values})
    return values


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
