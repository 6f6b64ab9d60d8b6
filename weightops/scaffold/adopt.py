"""`weightops init` in an existing DVC project: register an output the project already tracks
as the model, instead of scaffolding the demo pipeline beside the user's own outputs.

DVC's vocabulary: an *output* is a path a `.dvc` file or a pipeline stage (`dvc.yaml` outs)
tracks; an *artifact* is an output declared under `artifacts:` in `dvc.yaml` (what GTO and
`dvc artifacts` read).
"""

from __future__ import annotations

import io
import posixpath
from pathlib import Path

from weightops.core.atomic import atomic_write_text
from weightops.errors import NotFoundError, UsageError
from weightops.storage.outputs import Output, dvc_outputs


def likely_model(outputs: list[Output]) -> Output | None:
    """The output that looks most like weights (by extension), for a suggestion."""
    from weightops.review.guard import WEIGHT_EXTENSIONS

    return next((o for o in outputs if posixpath.splitext(o.path)[1].lower() in WEIGHT_EXTENSIONS),
                outputs[0] if outputs else None)


def find_output(root: Path, artifact: str) -> Output:
    """The tracked output `artifact` names (a path relative to the project). UsageError (exit 2) for
    a path outside the project; NotFoundError (exit 3), naming the outputs there are, when DVC does
    not track it."""
    rel = posixpath.normpath(Path(artifact).as_posix().lstrip("./") or ".")
    if rel.startswith("../") or Path(artifact).is_absolute():
        raise UsageError(f"--artifact '{artifact}' must be a path inside the project, relative to its root")
    outputs = dvc_outputs(root)
    match = next((o for o in outputs if o.path == rel), None)
    if match is None:
        known = ", ".join(o.path for o in outputs[:6]) or "none"
        raise NotFoundError(f"--artifact '{artifact}' is not an output DVC tracks here (outputs: {known}); "
                            "track it first with `dvc add` or as a stage's out")
    return match


def declare_artifact(root: Path, name: str, path: str) -> str:
    """Add `artifacts: NAME: {path, type: model, meta: {card}}` to the root dvc.yaml (DVC's artifact
    declaration, as `dvc artifacts` and GTO read it), keeping the file's comments and order
    (ruamel's round trip, as DVC edits it); written atomically. Returns the card path. UsageError
    (2) when dvc.yaml is not a mapping or already declares NAME."""
    from ruamel.yaml import YAML

    card = f"{posixpath.splitext(path)[0]}.card.yaml"
    target = root / "dvc.yaml"
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)   # DVC's own layout for dvc.yaml
    doc = yaml.load(target.read_text()) if target.is_file() else None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise UsageError("dvc.yaml is not a mapping; fix it before `weightops init --artifact`")
    artifacts = doc.setdefault("artifacts", {})
    if name in artifacts:
        raise UsageError(f"dvc.yaml already declares an artifact '{name}'; pick another --model name")
    artifacts[name] = {"path": path, "type": "model", "meta": {"card": card}}
    out = io.StringIO()
    yaml.dump(doc, out)
    atomic_write_text(target, out.getvalue())
    return card
