"""`weightops diff`: what a change does to the models, for code review.

A pointer diff (`md5: 3f2a..` -> `md5: 9c1b..`) says nothing a reviewer can judge. This reads
every model declared at two revisions (git objects, or files on disk for the work tree) and
reports the weights' digests and size, and what changed in each card: metrics with deltas,
params, data dependencies, environment, labels and signature. Comparing is pure; rendering
(text, markdown, json) is too.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from weightops.core import git, git_review
from weightops.core.units import format_size
from weightops.errors import NotFoundError, UsageError, WeightopsError
from weightops.storage.pointers import dvcyaml_for, model_artifacts, pointer_from_dvcfile, pointer_from_lock
from weightops.project import Project
from weightops.core.yamlio import safe_load

FORMATS = ("text", "markdown", "json")
WORKTREE = "work tree"
Reader = Callable[[list[str]], dict[str, "bytes | None"]]


@dataclass(frozen=True)
class ModelState:
    """One model at one revision: the DVC pointer's md5/size and the card (None if unreadable)."""

    model: str
    path: str
    md5: str | None
    size: int | None
    card: dict | None

    @property
    def sha256(self) -> str | None:
        """The weights' sha256 (hex) the card records, or None without a card."""
        return ((self.card or {}).get("artifact") or {}).get("sha256")


@dataclass(frozen=True)
class FieldChange:
    """One changed field of a card section: `key` old -> new (None = absent)."""

    key: str
    old: object
    new: object

    @property
    def delta(self) -> float | None:
        """new - old when both are numbers (rounded to 10 decimals), else None."""
        if _number(self.old) and _number(self.new):
            return round(self.new - self.old, 10) + 0.0  # type: ignore[operator]  # + 0.0: no -0.0
        return None


@dataclass(frozen=True)
class ModelDiff:
    """One model's change between two revisions: status (added, removed, changed), its state at each
    (None where absent), and the card sections that changed, {section: tuple of FieldChange}."""
    model: str
    status: str                      # added, removed, changed
    old: ModelState | None
    new: ModelState | None
    sections: dict = field(default_factory=dict, compare=False, hash=False)  # name -> tuple[FieldChange]

    @property
    def weights_changed(self) -> bool:
        """Did the weights change (md5 or card sha256 differs, or the model was added or removed)?"""
        o, n = self.old, self.new
        return o is None or n is None or o.md5 != n.md5 or o.sha256 != n.sha256

    @property
    def size_delta(self) -> int | None:
        """new size - old size in bytes, or None when either is unknown."""
        if self.old and self.new and self.old.size is not None and self.new.size is not None:
            return self.new.size - self.old.size
        return None


@dataclass(frozen=True)
class DiffReport:
    """A diff's result: the base and head labels (revision names with 12-hex commits, or
    `work tree`) and the changed models only."""
    base: str
    head: str
    models: tuple[ModelDiff, ...]

    def to_dict(self) -> dict:
        """The report as JSON for `diff --format json`: base, head, `changed`, and each model with
        its states, size delta and per-section changes."""
        return {"base": self.base, "head": self.head, "changed": bool(self.models),
                "models": [_model_dict(m) for m in self.models]}


# ---------------------------------------------------------------- reading revisions
def _git_reader(project: Project, commit: str) -> Reader:
    def read(paths: list[str]) -> dict:
        blobs = git.read_blobs(project.root, [f"{commit}:{p}" for p in paths])
        return {p: blobs[f"{commit}:{p}"] for p in paths}
    return read


def _disk_reader(project: Project) -> Reader:
    def read(paths: list[str]) -> dict:
        out = {}
        for p in paths:
            f = project.root / p
            out[p] = f.read_bytes() if f.is_file() else None
        return out
    return read


def _dvcyamls(project: Project, commit: str | None) -> list[str]:
    if commit is not None:
        return git_review.ls_tree_paths(project.root, commit, ("dvc.yaml",))
    return [p for p in git_review.ls_files_named(project.root, "dvc.yaml") if (project.root / p).is_file()]


def models_at(project: Project, commit: str | None) -> dict[str, ModelState]:
    """Every model declared at `commit` (None: the work tree), with pointer and card."""
    read = _disk_reader(project) if commit is None else _git_reader(project, commit)
    yamls = _dvcyamls(project, commit)
    texts = read(yamls)
    states: dict[str, ModelState] = {}
    for dvcyaml in yamls:
        try:
            artifacts = model_artifacts(texts[dvcyaml], dvcyaml)   # a dataset is not weights
        except WeightopsError:
            continue  # a dvc.yaml that does not parse declares nothing we can compare
        if not artifacts:
            continue
        lockfile = posixpath.join(posixpath.dirname(dvcyaml), "dvc.lock")
        wanted = [lockfile]
        for a in artifacts.values():
            wanted += [f"{a.path}.dvc", a.card_path]
        files = read(wanted)
        for name, a in artifacts.items():
            if dvcyaml_for(name) != dvcyaml:
                continue
            pointer = None
            try:
                if files.get(f"{a.path}.dvc") is not None:
                    pointer = pointer_from_dvcfile(files[f"{a.path}.dvc"], f"{a.path}.dvc", a.path)
                else:
                    pointer = pointer_from_lock(files.get(lockfile), lockfile, a.path)
            except WeightopsError:
                pointer = None
            card = None
            if files.get(a.card_path) is not None:
                try:
                    doc = safe_load(files[a.card_path], a.card_path)
                    card = doc if isinstance(doc, dict) else None
                except WeightopsError:
                    card = None
            states[name] = ModelState(name, a.path, pointer.md5 if pointer else None,
                                      pointer.size if pointer else None, card)
    return states


def revision_commit(project: Project, rev: str, model: str | None = None) -> str:
    """The commit REV names: a version in the form every command takes (`v1.3.0`, `1.3.0`, read
    through the registry, so a GTO `NAME@v1.3.0` tag counts), else any git revision (a branch,
    a tag such as `NAME@v1.3.0`, a commit). NotFoundError (3) when it names none; UsageError (2)
    for an option-like revision or several models and no `model`."""
    from weightops.registry.tags import is_version, normalize_version

    if not is_version(rev):
        return git.rev_parse(project.root, rev)
    try:
        return project.registry().version(project.model(model), normalize_version(rev)).commit
    except (NotFoundError, UsageError) as exc:
        try:   # not a release of the model: perhaps a branch or tag of that name
            return git.rev_parse(project.root, rev)
        except NotFoundError:
            raise exc from None


def resolve_revisions(project: Project, base: str | None, head: str | None,
                      model: str | None = None) -> tuple[str, str, str | None, str | None]:
    """(base label, head label, base commit, head commit or None for the work tree). HEAD None, '',
    `WORKTREE` or `.` is the work tree; BASE None is the merge base of the default branch with HEAD.
    Either may be a version of `model` (see `revision_commit`). NotFoundError (3) for an unknown
    revision, no default branch, no commits, or no shared history; UsageError (2) for an
    option-like revision."""
    if head in (None, "", "WORKTREE", "."):
        head_commit, head_label = None, WORKTREE
    else:
        head_commit, head_label = revision_commit(project, head, model), head
    if base:
        return base, head_label, revision_commit(project, base, model), head_commit
    branch = git_review.default_branch(project.root)
    if branch is None:
        raise NotFoundError("no default branch (origin/HEAD, main or master) to diff against; pass BASE")
    tip = head_commit or git.head(project.root)
    if tip is None:
        raise NotFoundError("the repository has no commits yet; nothing to diff")
    mb = git_review.merge_base(project.root, branch, tip)
    if mb is None:
        raise NotFoundError(f"'{branch}' and {head_label} share no history; pass BASE")
    return f"merge-base({branch})", head_label, mb, head_commit


def diff(base: str | None = None, head: str | None = None, *, repo: str | Path = ".",
         model: str | None = None) -> DiffReport:
    """What changed for each model between revisions BASE and HEAD (default: the merge base
    with the default branch, and the work tree): DVC pointer (md5, size), card sha256, metrics,
    params and labels, read from git objects only. Raises UsageError (2) for a bare repository
    without HEAD or a bad model name, NotFoundError (3) for an unknown revision."""
    project = Project(repo)
    if head is None and project.bare:
        raise UsageError("a bare repository has no work tree; pass BASE and HEAD revisions")
    base_label, head_label, base_commit, head_commit = resolve_revisions(project, base, head, model)
    old = models_at(project, base_commit)
    new = models_at(project, head_commit)
    names = sorted(set(old) | set(new))
    if model is not None:
        if model not in names:
            raise NotFoundError(f"model '{model}' is declared at neither revision (declared: {', '.join(names) or 'none'})")
        names = [model]
    models = tuple(d for d in (compare(old.get(n), new.get(n)) for n in names) if d is not None)
    return DiffReport(f"{base_label} ({base_commit[:12]})", head_label if head_commit is None
                      else f"{head_label} ({head_commit[:12]})", models)


# ---------------------------------------------------------------- comparing (pure)
SECTIONS = ("metrics", "params", "deps", "environment", "labels", "signature")


def card_sections(card: dict | None) -> dict[str, dict]:
    """Each reviewed card section flattened to `dotted.key -> value`."""
    card = card or {}
    lineage = card.get("lineage") or {}
    env = dict(card.get("environment") or {})
    return {
        "metrics": flatten(card.get("metrics") or {}),
        "params": flatten(lineage.get("params") or {}),
        "deps": flatten(lineage.get("deps") or {}, sep=None),
        "environment": flatten(env),
        "labels": flatten(card.get("labels") or {}),
        "signature": {"signature": json.dumps(card.get("signature"), sort_keys=True)}
        if card.get("signature") is not None else {},
    }


def flatten(d: object, prefix: str = "", sep: str | None = ".") -> dict:
    """Nested mappings -> {dotted.key: value}; `sep` None keeps each top-level key whole (DVC dep
    paths hold dots). A non-mapping is {prefix or `value`: it}; an empty mapping stays a value."""
    if not isinstance(d, dict):
        return {prefix or "value": d}
    out = {}
    for k, v in d.items():
        key = f"{prefix}{sep}{k}" if prefix and sep else f"{prefix}{k}" if prefix else str(k)
        if isinstance(v, dict) and sep is not None and v:
            out.update(flatten(v, key, sep))
        else:
            out[key] = v
    return out


def section_changes(old: dict, new: dict) -> tuple[FieldChange, ...]:
    """The keys whose values differ between two flattened sections, sorted, as FieldChange (None =
    absent)."""
    return tuple(FieldChange(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                 if old.get(k) != new.get(k))


def compare(old: ModelState | None, new: ModelState | None) -> ModelDiff | None:
    """The model's diff, or None when neither its weights nor its reviewed card fields changed."""
    if old is None and new is None:
        return None
    status = "added" if old is None else "removed" if new is None else "changed"
    a = card_sections(old.card if old else None)
    b = card_sections(new.card if new else None)
    sections = {s: section_changes(a[s], b[s]) for s in SECTIONS}
    sections = {s: c for s, c in sections.items() if c}
    result = ModelDiff(new.model if new else old.model, status, old, new, sections)
    if status == "changed" and not result.weights_changed and not sections:
        return None
    return result


# ---------------------------------------------------------------- rendering (pure)
def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fmt_value(v: object) -> str:
    """A value for display: `-` for None, floats to 6 significant digits, anything else as str."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def fmt_delta(c: FieldChange) -> str:
    """The numeric delta with a sign (`+0.012`); `unchanged` when both values print alike (a
    change below the 6 digits shown); '' without a numeric delta."""
    if c.delta is None:
        return ""
    return "unchanged" if fmt_value(c.old) == fmt_value(c.new) else f"{c.delta:+.6g}"


def fmt_change(c: FieldChange) -> str:
    """`old -> new (delta)` for the text output; `1 (unchanged)` when the two print alike."""
    d = fmt_delta(c)
    if d == "unchanged":
        return f"{fmt_value(c.new)} (unchanged)"
    return f"{fmt_value(c.old)} -> {fmt_value(c.new)}{f' ({d})' if d else ''}"


def fmt_signed_size(n: int | None) -> str:
    """A size delta as `+1.5 MiB`/`-12 B` (powers of 1024), `unchanged` for 0, '' for None."""
    if not n:
        return "" if n is None else "unchanged"
    return ("+" if n >= 0 else "-") + format_size(abs(n))


def _model_dict(m: ModelDiff) -> dict:
    def state(s: ModelState | None) -> dict | None:
        return None if s is None else {"path": s.path, "md5": s.md5, "sha256": s.sha256, "size": s.size}
    return {
        "model": m.model, "status": m.status, "weights_changed": m.weights_changed,
        "old": state(m.old), "new": state(m.new), "size_delta": m.size_delta,
        "changes": {s: [{"key": c.key, "old": c.old, "new": c.new, **({"delta": c.delta} if c.delta is not None else {})}
                        for c in cs] for s, cs in m.sections.items()},
    }


def no_change_line(report: DiffReport) -> str:
    """The one line printed when no model changed between the report's revisions."""
    return f"no model changes between {report.base} and {report.head}"


def render_text(report: DiffReport) -> str:
    """The report as plain text for a terminal: per model the md5, sha256, size and each changed
    card field with its delta."""
    if not report.models:
        return no_change_line(report)
    lines = [f"model changes: {report.base} -> {report.head}"]
    for m in report.models:
        lines += ["", f"{m.model} ({m.status}{', weights changed' if m.weights_changed else ', weights unchanged'})"]
        o, n = m.old, m.new
        for name, before, after in (("md5", o.md5 if o else None, n.md5 if n else None),
                                    ("sha256", o.sha256 if o else None, n.sha256 if n else None)):
            # one digest a line (a SHA-256 pair is 150 columns); unchanged: the model's line says so
            lines += [f"  {name:<7} {fmt_value(after)}"] if before == after else \
                [f"  {name:<7} {fmt_value(before)}", f"       -> {fmt_value(after)}"]
        delta = f" ({fmt_signed_size(m.size_delta)})" if m.size_delta is not None else ""
        lines.append(f"  size    {format_size(n.size)} (unchanged)" if m.size_delta == 0 else
                     f"  size    {format_size(o.size if o else None)} -> {format_size(n.size if n else None)}{delta}")
        for section, changes in m.sections.items():
            lines += [f"  {section}:"] + [f"    {c.key}: {fmt_change(c)}" for c in changes]
    return "\n".join(lines)


def md_value(v: object) -> str:
    """A value for a markdown table cell: code-quoted, pipes escaped, newlines flattened; `-` for
    None."""
    text = fmt_value(v).replace("|", "\\|").replace("\n", " ")
    return f"`{text}`" if v is not None else "-"


def render_markdown(report: DiffReport) -> str:
    """The report as GitHub-flavoured markdown for a pull-request comment: a table of digests and
    size per model, then one table per changed card section."""
    if not report.models:
        return f"**weightops:** {no_change_line(report)}."
    out = ["### weightops: model changes", "", f"`{report.base}` → `{report.head}`", ""]
    for m in report.models:
        o, n = m.old, m.new
        flag = "weights changed" if m.weights_changed else "weights unchanged, card changed"
        out += [f"#### `{m.model}` ({m.status}: {flag})", "",
                "| | before | after | change |", "| --- | --- | --- | --- |",
                f"| md5 | {md_value(o.md5 if o else None)} | {md_value(n.md5 if n else None)} | |",
                f"| sha256 | {md_value(o.sha256 if o else None)} | {md_value(n.sha256 if n else None)} | |",
                f"| size | {format_size(o.size if o else None)} | {format_size(n.size if n else None)} | {fmt_signed_size(m.size_delta)} |",
                ""]
        for section, changes in m.sections.items():
            out += [f"**{section}**", "", "| key | before | after | change |", "| --- | --- | --- | --- |"]
            out += [f"| {c.key} | {md_value(c.old)} | {md_value(c.new)} | {fmt_delta(c)} |" for c in changes]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def render(report: DiffReport, fmt: str) -> str:
    """The report in format `fmt` (`text`, `markdown` or `json`). UsageError (2) for another format."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, default=str)
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "text":
        return render_text(report)
    raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
