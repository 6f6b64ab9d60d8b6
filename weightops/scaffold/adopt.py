"""`weightops init` in an existing DVC project: register the model the project already has, and
take the registry's conventions from its tags, instead of scaffolding the demo pipeline beside
the user's own outputs.

DVC's vocabulary: an *output* is a path a `.dvc` file or a pipeline stage (`dvc.yaml` outs)
tracks; an *artifact* is an output declared under `artifacts:` in `dvc.yaml` (what GTO and
`dvc artifacts` read). Only `type: model` (or untyped) artifacts are models.

The user's `dvc.yaml` is edited as text, never re-serialized: the one edit (declaring an output
as an artifact) inserts lines and leaves every byte of the user's file where it was (comments,
flow lists, indentation, long lines), and is checked by parsing both texts before it is written.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from weightops.core.atomic import atomic_open
from weightops.core.yamlio import safe_load
from weightops.errors import NotFoundError, UsageError
from weightops.storage.outputs import Output, dvc_outputs
from weightops.storage.pointers import Artifact, parse_artifacts


def likely_model(outputs: list[Output]) -> Output | None:
    """The output that looks most like weights (by extension), for a suggestion."""
    from weightops.review.guard import WEIGHT_EXTENSIONS

    return next((o for o in outputs if posixpath.splitext(o.path)[1].lower() in WEIGHT_EXTENSIONS),
                outputs[0] if outputs else None)


def normalize_artifact_path(artifact: str) -> str:
    """`--artifact PATH` as DVC-project-relative posix. UsageError (2) for a path outside it."""
    rel = posixpath.normpath(Path(artifact).as_posix().lstrip("./") or ".")
    if rel.startswith("../") or rel == ".." or Path(artifact).is_absolute():
        raise UsageError(f"--artifact '{artifact}' must be a path inside the project, relative to its root")
    return rel


def find_output(root: Path, artifact: str) -> Output:
    """The tracked output `artifact` names (a path relative to the project). UsageError (exit 2) for
    a path outside the project; NotFoundError (exit 3), naming the outputs there are, when DVC does
    not track it."""
    rel = normalize_artifact_path(artifact)
    outputs = dvc_outputs(root)
    match = next((o for o in outputs if o.path == rel), None)
    if match is None:
        known = ", ".join(o.path for o in outputs[:6]) or "none"
        raise NotFoundError(f"--artifact '{artifact}' is not an output DVC tracks here (outputs: {known}); "
                            "track it first with `dvc add` or as a stage's out")
    return match


def declared_artifacts(root: Path) -> dict[str, Artifact]:
    """The artifacts `root/dvc.yaml` declares (names and paths relative to `root`, file order);
    {} without one. Errors as storage.pointers.parse_artifacts."""
    path = root / "dvc.yaml"
    return parse_artifacts(path.read_bytes(), "dvc.yaml") if path.is_file() else {}


@dataclass(frozen=True)
class Choice:
    """The artifact `init` registers: its name and path (relative to the DVC project), and
    whether dvc.yaml declares it already (False: init adds the declaration)."""
    name: str
    path: str
    declared: bool
    card: str          # the card path Artifact.card_path gives, relative to the DVC project


def choose_artifact(root: Path, model: str | None, artifact: str | None) -> Choice | None:
    """Which artifact `init` registers in the DVC project at `root`: the one declared on
    `artifact`'s path or under `model`'s name; with neither, the only model dvc.yaml declares.
    A path DVC tracks but dvc.yaml does not declare becomes a new artifact (`model`, default
    "model"). None when dvc.yaml declares no model and no `artifact` was given.
    UsageError (2) for several models and no `model`, a name/path clash, or a declared artifact
    that is not a model (`type: dataset`); NotFoundError (3) for an undeclared, untracked one."""
    arts = declared_artifacts(root)
    models = [a for a in arts.values() if a.is_model]
    if artifact is not None:
        rel = normalize_artifact_path(artifact)
        on_path = next((a for a in arts.values() if a.path == rel), None)
        if on_path is not None:
            _require_model(on_path)
            if model and model != on_path.name:
                raise UsageError(f"dvc.yaml already declares {rel} as artifact '{on_path.name}'; init registers it "
                                 f"under that name (pass --model {on_path.name}, or no --model)")
            return Choice(on_path.name, on_path.path, True, on_path.card_path)
        name = model or "model"
        if name in arts:
            raise UsageError(f"dvc.yaml already declares artifact '{name}' on {arts[name].path}, not {rel}; "
                             "pass another --model NAME")
        out = find_output(root, artifact)
        return Choice(name, out.path, False, _card_for(out.path))
    if model:
        if model in arts:
            _require_model(arts[model])
            return Choice(model, arts[model].path, True, arts[model].card_path)
        if arts:
            known = ", ".join(f"{a.name} ({a.path}, {a.type})" for a in arts.values())
            raise NotFoundError(f"dvc.yaml declares no artifact '{model}' (declared: {known}); pass one of them "
                                "as --model, or --artifact PATH to declare an output as a new one")
        return None
    if len(models) > 1:
        raise UsageError(f"dvc.yaml declares several models ({', '.join(a.name for a in models)}); "
                         "pass --model NAME to register one")
    if models:
        return Choice(models[0].name, models[0].path, True, models[0].card_path)
    return None


def _require_model(art: Artifact) -> None:
    if not art.is_model:
        raise UsageError(f"dvc.yaml declares '{art.name}' ({art.path}) as type: {art.type}, not a model; "
                         "weightops registers models only")


def _card_for(path: str) -> str:
    stem = posixpath.splitext(path)[0] if posixpath.splitext(path)[1] else path
    return f"{stem}.card.yaml"


# ----------------------------------------------------------------- the minimal dvc.yaml edit
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*|'[^']*'|\"[^\"]*\")[ \t]*:(?:[ \t]+(?P<rest>.*))?$")


def insert_artifact(text: str, name: str, path: str) -> str:
    """`text` (a dvc.yaml) with `artifacts: NAME: {path: PATH, type: model}` added as new lines
    only: under an existing block `artifacts:` after its last entry, indented as its entries
    are, else as a new block at the end in the file's own indentation. Every byte of `text`
    stays as it was. Pure. UsageError (2) when that cannot be done (an `artifacts:` written in
    flow style, a file YAML does not read the same way afterwards), naming what to change."""
    lines = text.splitlines(keepends=True)
    unit = _indent_unit(lines)
    start = next((i for i, l in enumerate(lines) if (m := _TOP_KEY.match(l.rstrip("\r\n")))
                  and m["key"].strip("'\"") == "artifacts"), None)
    value = _scalar(path)
    newline = "\r\n" if "\r\n" in text else "\n"   # the file's own line ending
    if start is None:
        block = ["artifacts:", f"{unit}{name}:", f"{unit * 2}path: {value}", f"{unit * 2}type: model"]
        sep = "" if not text or text.endswith("\n") else newline
        new = text + sep + "".join(line + newline for line in block)
    else:
        rest = (_TOP_KEY.match(lines[start].rstrip("\r\n"))["rest"] or "").split("#", 1)[0].strip()
        if rest:
            raise UsageError("dvc.yaml writes `artifacts:` in flow style ({...}); write it as a block "
                             f"(one artifact per line) or add `{name}: {{path: {value}, type: model}}` yourself")
        end, child = start + 1, None
        for i in range(start + 1, len(lines)):
            stripped = lines[i].strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not lines[i][0].isspace():
                break
            child = child or lines[i][:len(lines[i]) - len(lines[i].lstrip())]
            end = i + 1
        entry_unit = _field_step(lines[start + 1:end], child) if child else unit
        child = child or unit
        block = [f"{child}{name}:{newline}", f"{child}{entry_unit}path: {value}{newline}",
                 f"{child}{entry_unit}type: model{newline}"]
        head = "".join(lines[:end])
        if head and not head.endswith("\n"):
            head += newline
        new = head + "".join(block) + "".join(lines[end:])
    _check_same_but_added(text, new, name, path)
    return new


def _indent_unit(lines: list[str]) -> str:
    """The file's indentation step: the smallest leading whitespace of an indented mapping line
    (DVC and most editors write two spaces); two spaces when nothing is indented."""
    widths = [l[:len(l) - len(l.lstrip(" "))] for l in lines
              if l.startswith(" ") and l.strip() and not l.lstrip().startswith(("#", "- "))]
    return min(widths, key=len) if widths else "  "


def _field_step(block: list[str], child: str) -> str:
    """How much deeper than an artifact's name (`child`) its fields are indented in `block`."""
    for line in block:
        width = len(line) - len(line.lstrip(" "))
        if line.strip() and not line.lstrip().startswith("#") and width > len(child):
            return " " * (width - len(child))
    return child


def _scalar(path: str) -> str:
    """`path` as a YAML plain scalar when it reads back as itself, else double-quoted (JSON)."""
    try:
        if safe_load(f"k: {path}\n", "path") == {"k": path}:
            return path
    except UsageError:
        pass
    return json.dumps(path)


def _check_same_but_added(old: str, new: str, name: str, path: str) -> None:
    """Refuse (UsageError, 2) an edit after which YAML reads anything but the one artifact added."""
    before = safe_load(old, "dvc.yaml") if old.strip() else {}
    after = safe_load(new, "dvc.yaml")
    before = dict(before or {})
    arts = dict(before.get("artifacts") or {})
    arts[name] = {"path": path, "type": "model"}
    if not isinstance(after, dict) or {**before, "artifacts": arts} != after:
        raise UsageError(f"could not add artifact '{name}' to dvc.yaml by inserting lines alone; add "
                         f"`{name}: {{path: {path}, type: model}}` under artifacts: yourself and run init again")


def declare_artifact(root: Path, name: str, path: str) -> str:
    """Declare output `path` as artifact NAME (`type: model`) in `root/dvc.yaml` by inserting
    lines (see `insert_artifact`), written atomically; dvc.yaml is created when missing. Returns
    the card path (relative to `root`). UsageError (2) as `insert_artifact`, or when dvc.yaml
    is not a mapping or already declares NAME."""
    target = root / "dvc.yaml"
    text = target.read_bytes().decode("utf-8") if target.is_file() else ""   # bytes as they are (CRLF too)
    doc = safe_load(text, "dvc.yaml") if text.strip() else {}
    if doc is not None and not isinstance(doc, dict):
        raise UsageError("dvc.yaml is not a mapping; fix it before `weightops init --artifact`")
    if name in ((doc or {}).get("artifacts") or {}):
        raise UsageError(f"dvc.yaml already declares an artifact '{name}'; pick another --model name")
    with atomic_open(target, "wb") as f:
        f.write(insert_artifact(text, name, path).encode("utf-8"))
    return _card_for(path)


# ----------------------------------------------------------------- conventions from the tags
@dataclass(frozen=True)
class Conventions:
    """What the registry's tags (and GTO's `.gto` config) say about a project: `tag_style`
    ("named" when GTO's annotated tags are there, "plain" for plain `v1.2.0` tags alone), the
    stages in GTO's order, the stage names left out (a name weightops reads otherwise, with
    why), the newest version of the model (None without one) and the number of tags read."""
    tag_style: str
    stages: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    newest: str | None
    tags: int


def read_conventions(top: Path, model: str, default_stages: tuple[str, ...]) -> Conventions:
    """The conventions of the registry in the git repository at `top` for MODEL (its GTO name,
    `dir:name` for a nested dvc.yaml). Stages follow `gto show` (gto/registry.py `get_stages`):
    the `stages:` of GTO's `.gto` config when it sets them, else every stage a tag used, sorted;
    `default_stages` when there are none. Tag style: "named" when an annotated GTO tag
    (`NAME@v1.2.0`, `NAME#STAGE#N`) is there, or no version tag at all (GTO and `dvc artifacts`
    then read every release); "plain" when plain `v1.2.0` tags alone are. One `git for-each-ref`
    (tag messages not read). GitError (1) when git fails; UsageError (2) for a malformed `.gto`."""
    from weightops.core import git
    from weightops.registry.tags import (Kind, SemVer, parse_version, reserved_stage, tag_to_model, try_parse_tag,
                                         validate_stage)

    used: set[str] = set()
    named = plain = False
    newest: SemVer | None = None
    count = 0
    for ref in git.iter_tags(top, messages=False):
        tag = try_parse_tag(ref.name)
        if tag is None:
            continue
        count += 1
        if tag.model is None:
            plain = True
        elif ref.annotated:
            named = True
        if tag.stage and ref.annotated:
            used.add(tag.stage)
        if tag.kind is Kind.REGISTER and (tag.model is None or tag_to_model(tag.model) == model):
            v = parse_version(tag.version)
            newest = v if newest is None or newest < v else newest
    configured = _gto_stages(top)
    stages, skipped = [], []
    for stage in (configured if configured is not None else sorted(used)):
        why = reserved_stage(stage)
        if why is None:
            try:
                validate_stage(stage)
            except UsageError:
                why = "not a stage name weightops writes (lower-case words joined by '-')"
        if why:
            skipped.append((stage, why))
        else:
            stages.append(stage)
    version = None if newest is None else "v" + ".".join(map(str, (newest.major, newest.minor, newest.patch))) + (
        "-" + ".".join(newest.pre) if newest.pre else "")
    return Conventions("named" if named or not plain else "plain", tuple(stages) or default_stages,
                       tuple(skipped), version, count)


def _gto_stages(top: Path) -> list[str] | None:
    """GTO's `.gto` config `stages:` (a YAML list) at `top`, None when it does not set them."""
    path = top / ".gto"
    if not path.is_file():
        return None
    doc = safe_load(path.read_bytes(), ".gto") or {}
    stages = doc.get("stages") if isinstance(doc, dict) else None
    return [str(s) for s in stages] if isinstance(stages, list) else None
