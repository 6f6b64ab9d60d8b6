"""The outputs a DVC project tracks, read from its files (no DVC import): the root dvc.yaml's
stage outs and every `.dvc` file's outs. DVC's terms: an output is tracked either by `dvc add`
(a `.dvc` file) or as a pipeline stage's out (recorded by `dvc repro` / `dvc commit`)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from weightops.core import git
from weightops.storage.pointers import load_yaml


@dataclass(frozen=True)
class Output:
    """One output DVC tracks: its repository-relative posix path and what tracks it
    (`dvc.yaml stage NAME` or `FILE.dvc`)."""
    path: str            # repo-relative, posix
    tracked_by: str      # "dvc.yaml stage NAME" or "FILE.dvc"

    @property
    def stage(self) -> str | None:
        """The dvc.yaml stage producing it, or None for a `.dvc` file's output."""
        return self.tracked_by[len("dvc.yaml stage "):] if self.tracked_by.startswith("dvc.yaml stage ") else None


def dvc_outputs(root: Path) -> list[Output]:
    """Outputs the project tracks: the root `dvc.yaml` stages' outs and the `.dvc` files' outs
    (those git tracks or would add). Sorted by path."""
    found: dict[str, Output] = {}
    dvcyaml = root / "dvc.yaml"
    if dvcyaml.is_file():
        doc = load_yaml(dvcyaml.read_bytes(), "dvc.yaml") or {}
        stages = doc.get("stages") if isinstance(doc, dict) else None
        for name, stage in (stages or {}).items():
            outs = stage.get("outs") if isinstance(stage, dict) else None
            for out in outs or []:
                path = next(iter(out)) if isinstance(out, dict) and out else out
                if isinstance(path, str):
                    found.setdefault(posixpath.normpath(path), Output(posixpath.normpath(path), f"dvc.yaml stage {name}"))
    # The `.dvc` files git knows or would add (not a walk through .git or DVC's cache).
    for name in git.ls_files_matching(root, "*.dvc"):
        dvcfile, rel = root / name, Path(name)
        if not dvcfile.is_file():
            continue
        doc = load_yaml(dvcfile.read_bytes(), rel.as_posix()) or {}
        for out in (doc.get("outs") or []) if isinstance(doc, dict) else []:
            if isinstance(out, dict) and isinstance(out.get("path"), str):
                path = posixpath.normpath(posixpath.join(rel.parent.as_posix(), out["path"]))
                found.setdefault(path, Output(path, rel.as_posix()))
    return sorted(found.values(), key=lambda o: o.path)
