"""`weightops validate` and the promotion gate: find the bytes of a version locally, run the
checks configured in weightops.yaml, and compare against the version holding a stage.

The bytes of a REF come from the local DVC cache, a local DVC remote, or the work tree file,
and are checked against the card's SHA-256 before any check runs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from weightops.model.card import check_bytes, load_card
from weightops.core.config import ValidationSettings
from weightops.model.checks import Report, run_checks
from weightops.model.stats import collect_stats
from weightops.model.formats import unread_reason
from weightops.errors import FormatError, NotFoundError, RefusedError, UsageError, WeightopsError
from weightops.storage.hashing import hash_file, sha256_file
from weightops.project import Located, Project
from weightops.model.formats.onnx import graph_signature
from weightops.model.signature import Signature, breaking, diff_signatures, parse_signature
from weightops.registry.tags import Kind

log = logging.getLogger(__name__)
DEFAULT_AGAINST = "production"
NO_AGAINST = ("none", "")


@dataclass(frozen=True)
class Subject:
    """A file to validate, what to call it in the report, and the signature its card declares."""

    path: Path
    label: str
    signature: Signature | None
    sha256: str | None = None
    name: str | None = None     # the file name DVC tracks (tells the format of a cache object)

    def stats(self) -> dict:
        """TensorStats of every tensor in the file, keyed by tensor name (one streamed pass).
        FormatError (5)/RefusedError (5) as the format readers raise."""
        return collect_stats(self.path, self.name)


def card_signature(card: dict | None, what: str) -> Signature | None:
    """The card's `signature:` as a Signature, or None when the card (or `card` itself) has none.
    UsageError (2), naming `what`, when it is not a signature MLflow accepts."""
    sig = (card or {}).get("signature")
    return parse_signature(sig, f"{what} signature") if sig else None


def local_weights(project: Project, located: Located, ref: str) -> Path:
    """The version's bytes on this machine (the DVC cache, a local remote, or the work tree),
    verified against the card's SHA-256; `ref` names the version in messages. NotFoundError (3) when
    no copy is here (run `dvc pull`); IntegrityError (4) when a copy's bytes differ from the card."""
    pointer = located.pointer
    candidates = []
    if not project.bare:
        candidates.append(project.root / ".dvc" / "cache" / pointer.object_path())
    try:
        remote = project.remote(located.commit, root=located.dvc_root, pointer=pointer)
    except NotFoundError:
        remote = None  # a misconfigured remote must not hide the cache or the work tree copy
    url = project.object_url(remote, pointer) if remote else None
    if url and "://" not in url:
        candidates.append(Path(url))
    if not project.bare:
        candidates.append(project.root / pointer.path)
    beside = bool(((located.card or {}).get("artifact") or {}).get("external_data"))
    for path in candidates:
        if not path.exists() or (pointer.is_dir and not path.is_dir()):
            continue
        if beside and path != project.root / pointer.path:
            continue  # an ONNX graph whose weights are in files beside it: only the work tree has them
        if path == project.root / pointer.path and path.is_file() and hash_file(path).md5 != pointer.md5:
            continue  # the work tree holds another version
        check_bytes(located.card, pointer, path, ref)   # no card: DVC's md5 and size
        return path
    raise NotFoundError(f"{ref}: the weights ({pointer.path}, md5 {pointer.md5[:12]}) are not on this machine; "
                        "run `dvc pull` (or `dvc fetch`) for that commit first")


def subject_for(target: str, project: Project | None, model: str | None) -> Subject:
    """A path on disk (its `.card.yaml` beside it supplies the signature), or a REF (version, tag or
    stage) resolved through the registry to its local, verified bytes. NotFoundError (3) when
    `target` is neither (or its bytes are not here); IntegrityError (4) as `local_weights`."""
    path = Path(target)
    if path.exists():
        card_file = path.with_name(path.stem + ".card.yaml") if path.is_file() else \
            path.with_name(path.name + ".card.yaml")
        card = load_card(card_file) if card_file.is_file() else None
        return Subject(path, str(target), card_signature(card, str(card_file)))
    if project is None:
        raise NotFoundError(f"'{target}' is neither a file nor, outside a git repository, a version reference")
    r = _resolve_ref(target, model, project, "a weights file")
    label = f"{r.model} {r.version}" + (f" ({r.stage})" if r.stage else "")
    return Subject(local_weights(project, r.located, r.tag), label,
                   card_signature(r.card, r.tag), r.sha256, r.located.pointer.path)


def _project(repo: str | os.PathLike) -> Project | None:
    try:
        return Project(repo)
    except WeightopsError:
        return None


def validation_config(project: Project | None) -> ValidationSettings:
    """The project's `validation:` settings; the defaults outside a project."""
    return project.config.validation if project else ValidationSettings()


def default_against(project: Project | None) -> str:
    """The stage `validate` compares with when not told: the comparison stage of the first gated
    stage (weightops.yaml's `gates:` first, then `stages:` in order; `production` is gated by
    default), else `production` (which `validate` skips, with a note, in a project without it)."""
    if project is None:
        return DEFAULT_AGAINST   # outside a project nothing resolves: the caller notes why
    cfg = project.config
    for stage in (*cfg.gates, *cfg.stages):
        gate = cfg.gate(stage)
        if gate.validate and gate.against:
            return gate.against
    return DEFAULT_AGAINST


def validate(target: str | os.PathLike, *, against: str | None = DEFAULT_AGAINST, repo: str | os.PathLike = ".",
             model: str | None = None, config: ValidationSettings | None = None,
             against_required: bool | None = None) -> Report:
    """Check TARGET (a file, or a version/tag/stage) and compare it with AGAINST.

    The default AGAINST (`production`) means the stage `default_against` names (a gated stage's, else
    production); it is skipped, with a note, when the project has no such stage, no version holds
    it or its bytes are not on this machine; an AGAINST given explicitly must be found. Returns the Report
    (its `passed` says the verdict; the CLI exits 5 when it fails). NotFoundError (3) for a TARGET
    (or explicit AGAINST) that is neither a file nor a version whose bytes are here; IntegrityError
    (4) when local bytes differ from their card; FormatError (5)/RefusedError (5) from the format
    readers for an unreadable or unsafe file."""
    project = _project(repo)
    cfg = config or validation_config(project)
    subject = subject_for(str(target), project, model)
    graph = None
    if Path(subject.name or subject.path).suffix.lower() == ".onnx":
        try:
            graph = graph_signature(subject.path)
        except FormatError:
            graph = None  # onnx not installed (or the file is damaged: the readers below say how)
    stats = subject.stats()
    unread = unread_reason(subject.path, subject.name)
    required = against_required if against_required is not None else against != DEFAULT_AGAINST
    other, other_name, notes = None, None, [unread] if unread else []
    if not required and against == DEFAULT_AGAINST:
        against = default_against(project)
    sha256 = subject.sha256 or (sha256_file(subject.path) if subject.path.is_file() else None)
    if against is not None and against not in NO_AGAINST:
        try:
            ref = subject_for(against, project, model)
            if ref.sha256 is not None and ref.sha256 == sha256:
                # `validate production` (or the bytes production holds): drift against itself is nil
                notes.append(f"not compared against {against}: it is the same file ({ref.label})")
            else:
                other, other_name = ref.stats(), ref.label
        except (NotFoundError, UsageError) as exc:
            if required or (isinstance(exc, UsageError) and not getattr(exc, "stage", None)):
                raise
            notes.append(f"not compared against {against}: {exc}")
    return run_checks(stats, cfg, subject=subject.label, signature=subject.signature, graph=graph,
                      against=other, against_name=other_name, notes=tuple(notes), sha256=sha256)


# ---------------------------------------------------------------- signatures of files or refs
def signature_of(source: str, repo: str | os.PathLike = ".", model: str | None = None) -> Signature | None:
    """A signature file (YAML/JSON/MLmodel), a model card, or the card of a version/tag/stage; None
    when that card declares none. NotFoundError (3) when `source` is none of these; UsageError (2)
    for a signature MLflow would refuse."""
    from weightops.model.signature import load_signature

    path = Path(source)
    if path.is_file():
        if path.name.endswith(".card.yaml"):
            return card_signature(load_card(path), str(path))
        return load_signature(path)
    project = _project(repo)
    if project is None:
        raise NotFoundError(f"'{source}' is neither a signature file nor, outside a git repository, a version")
    r = _resolve_ref(source, model, project, "a signature file")
    return card_signature(r.card, r.tag)


# ---------------------------------------------------------------- the promotion gate
def validation_gate(ctx) -> dict[str, str]:
    """Run before `promote` writes its tag (see gates.py). Refuses (exit 5) a breaking signature
    change against the stage's current holder unless `allow_breaking`, and, when the stage's
    gate says `validate: true`, weights that fail the checks unless `skip_checks` (recorded)."""
    fields: dict[str, str] = {}
    project, registry, model, stage = ctx.project, ctx.registry, ctx.model, ctx.stage
    new_sig = card_signature(ctx.located.card, ctx.version.tag)
    current = registry.stage_event(model, stage)
    if current is not None and current.version and current.version != ctx.version.version:
        held = registry.version(model, current.version)
        old_sig = card_signature(project.locate(model, held.commit, ref=held.tag).card, held.tag)
        broken = breaking(diff_signatures(old_sig, new_sig))
        if broken:
            names = ", ".join(c.field for c in broken)
            if not ctx.option("allow_breaking"):
                raise RefusedError(f"{ctx.version.version} breaks the signature of '{stage}' (held by {current.version}): "
                                   f"{broken[0].message}; field(s) {names}; pass --allow-breaking to promote anyway",
                                   fields=[c.field for c in broken])
            fields["signature"] = f"breaking change allowed (--allow-breaking): {names}"
    gate = project.config.gate(stage)
    if ctx.option("skip_checks"):
        # info, not a warning: the caller asked for it, the tag records it, and the CLI says so
        # once, loudly (a warning here printed it a second time)
        log.info("promoting %s %s to %s WITHOUT weight checks (--skip-checks)", model, ctx.version.version, stage)
        fields["checks"] = "SKIPPED (--skip-checks)"
        return fields
    if not gate.validate:
        return fields
    cfg = validation_config(project)
    subject_path = local_weights(project, ctx.located, ctx.version.tag)
    stats = _gate_stats(subject_path, ctx.located.pointer.path, stage, f"{model} {ctx.version.version}")
    other, other_name = None, None
    if gate.against:
        holder = registry.stage_event(model, gate.against)
        # A version this gate passed before (a rollback) is not compared again, so an emergency
        # rollback is not blocked by drift; one that held the stage unchecked is compared.
        returning = passed_before(registry.events(model, stage=gate.against), ctx.version.version)
        if holder is not None and holder.version and not returning:
            v = registry.version(model, holder.version)
            located = project.locate(model, v.commit, ref=v.tag)
            other = _gate_stats(local_weights(project, located, v.tag), located.pointer.path, stage,
                                f"{model} {v.version} (held by {gate.against})")
            other_name = f"{model} {v.version} ({gate.against})"
    unread = unread_reason(subject_path, ctx.located.pointer.path)
    report = run_checks(stats, cfg, subject=f"{model} {ctx.version.version}", signature=new_sig,
                        against=other, against_name=other_name, notes=(unread,) if unread else (),
                        sha256=((ctx.located.card or {}).get("artifact") or {}).get("sha256")
                        or (sha256_file(subject_path) if subject_path.is_file() else None))
    out = report.save(project.git_dir / "weightops" / "reports" / f"{model.replace(':', '=').replace('/', '_')}-{ctx.version.version}-{stage}.yaml")
    if not report.passed:
        first = report.failed[0]
        who = f" ({', '.join(first.offending[:3])})" if first.offending else ""
        raise RefusedError(f"{ctx.version.version} failed validation for '{stage}': {first.name}{who}; "
                           f"report {out}; fix the weights, or pass --skip-checks with --message WHY "
                           "(recorded in the tag)", report=str(out))
    fields["validation"] = "passed" + (f" against {other_name}" if other_name else "")
    fields["validation_report"] = report.digest
    return fields


def passed_before(events, version: str) -> bool:
    """Whether an assignment among `events` (Events of one model and stage) gave the stage to
    `version` with a tag message recording that this gate passed it: `validation: passed against
    ...` (the message promote writes), or `validation: passed` when that was the stage's first
    assignment (nothing held it to compare with). A version that held the stage by a tag without
    that field (GTO's, before the gate existed, `--skip-checks`) has not passed it. Pure."""
    events = sorted(events, key=lambda e: e.sort_key)
    for i, e in enumerate(events):
        if e.kind is not Kind.ASSIGN or e.version != version:
            continue
        verdict = e.meta.get("validation", "")
        if verdict.startswith("passed against "):
            return True
        if verdict == "passed" and not any(p.kind is Kind.ASSIGN for p in events[:i]):
            return True
    return False


def _gate_stats(path: Path, name: str, stage: str, what: str) -> dict:
    """collect_stats for the gate of `stage`: a file no reader reads, one its format's own library
    refuses, or a pickle naming code, is a refusal by that gate (RefusedError, 5) naming the gate,
    the file and the two ways past it."""
    try:
        return collect_stats(path, name)
    except RefusedError as exc:   # FormatError included
        raise RefusedError(f"gates.{stage}.validate refused {what} ({name}): {exc.message}; to promote it "
                           f"unchecked, pass --skip-checks with --message WHY (recorded in the tag), or set "
                           f"`gates: {{{stage}: {{validate: false}}}}` in weightops.yaml",
                           gate=f"gates.{stage}.validate", path=name) from None


def _resolve_ref(ref: str, model: str | None, project, what: str):
    """A version, tag or stage in `project`; anything else is "not found" (neither a file nor a ref)."""
    from weightops.registry.resolve import resolve

    try:
        return resolve(ref, model=model, project=project)
    except UsageError as exc:
        if getattr(exc, "stage", None):
            raise   # a stage typo gets the one answer every command gives
        raise NotFoundError(f"'{ref}' is neither {what} nor a version, tag or stage") from None
