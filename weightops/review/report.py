"""The registry report: gather everything a person wants to see at a glance, which
`report_html.render` turns into one self-contained HTML page (report_page.py writes it).

Gathering costs one tag read (`git for-each-ref`) and two batched object reads for every card
the page shows (`git cat-file --batch`: the dvc.yaml of each version's commit, then each card),
so it stays fast with a thousand versions. Cards are read tolerantly: a missing or broken card
is shown as such on its row (the audit explains why) rather than stopping the report.
"""

from __future__ import annotations

import logging
import math
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

from weightops.core import clock, git
from weightops.errors import NotFoundError, WeightopsError
from weightops.storage.pointers import dvcyaml_for, parse_artifacts
from weightops.project import Project
from weightops.registry.state import Registry
from weightops.registry.tags import Kind
from weightops.review.audit import Finding
from weightops.model.attached import note_specs, pick_card

log = logging.getLogger(__name__)
MAX_KEY_METRICS = 4
DEMOTE_SWEEP = 60   # seconds between the unassignment tags of one `weightops demote`


@dataclass(frozen=True)
class VersionRow:
    """One version in the report's table: model, version, tag, commit, tag time (Unix seconds),
    weights sha256 (hex) and size (bytes) from its card, flattened metrics, labels, the stages it
    holds now, what is wrong with its card, if anything, and where the card came from (`commit`,
    the notes ref of an attached card, or None: no card)."""
    model: str
    version: str
    tag: str
    commit: str
    time: int
    sha256: str | None
    size: int | None
    metrics: dict          # flattened: "eval.accuracy" -> number
    labels: dict
    stages: tuple[str, ...]  # stages it holds now
    card_problem: str | None = None
    card_source: str | None = "commit"   # None: no card (released before weightops), checked by DVC's md5


@dataclass(frozen=True)
class Segment:
    """A version holding a stage from `start` to `end` (None: still holds it)."""

    stage: str
    version: str | None
    start: int
    end: int | None
    tag: str
    action: str               # assignment, rollback or fallback
    ended_by: str | None       # assignment, rollback, unassignment or None
    label: str = ""            # what to print: the version, else what the tag recorded (see shown)


@dataclass(frozen=True)
class Mark:
    """One stage event drawn on the timeline."""

    stage: str
    time: int
    action: str               # assignment, rollback, unassignment
    version: str | None
    tag: str
    tagger: str = ""
    reason: str | None = None


@dataclass(frozen=True)
class ModelReport:
    """One model's part of the page: its versions (newest first), current holders {stage: (version,
    since)}, timeline lanes, segments and marks, the metrics charted, and whether it is deprecated."""
    name: str
    versions: tuple[VersionRow, ...]   # newest first
    holders: dict                      # stage -> (version, since) held now
    stages: tuple[str, ...]            # timeline lanes, configured stages first
    segments: tuple[Segment, ...]
    marks: tuple[Mark, ...]
    metric_keys: tuple[str, ...]
    deprecated: bool = False


@dataclass(frozen=True)
class ReportData:
    """Everything the HTML page shows: title, generation time (Unix seconds), each model's report,
    audit findings, whether the audit ran, and timing `meta`."""
    title: str
    generated: int
    models: tuple[ModelReport, ...]
    findings: tuple[Finding, ...]
    audit_ran: bool
    meta: dict = field(default_factory=dict, compare=False, hash=False)


def gather(repo: str | os.PathLike = ".", *, model: str | None = None,
           findings: list | tuple | None = None, now: int | None = None, audit: bool = True) -> ReportData:
    """Read the registry once and the cards it needs in one batch; `findings` (a list of (kind, tag,
    message)) comes from the audit, which is run here when not given (and `audit`). `now` is Unix
    seconds (default core.clock). NotFoundError (3) outside a repository or when `model` has no
    tags; UsageError (2) for a bad model name."""
    started = _time.perf_counter()
    project = Project(repo)
    registry = project.registry()
    names = project.models_in(registry)   # not the datasets GTO may tag too
    if model is not None:
        name = project.model(model)
        if name not in names:
            raise NotFoundError(f"model '{name}' has no tags in this registry "
                                f"(models: {', '.join(names) or 'none'})")
        names = [name]
    audit_ran = findings is not None
    if findings is None and audit:
        findings, audit_ran = _run_audit(project.root)
    findings = findings or []
    wanted = [(n, v.commit) for n in names for v in registry.versions(n)]
    sources: dict = {}
    cards = read_cards(project.root, wanted, sources)
    configured = tuple(project.config.stages)
    preferred = project.config.report_metrics
    models = tuple(_model_report(registry, n, cards, configured, preferred, sources) for n in names)
    title = Path(project.root).name.removesuffix(".git") or "registry"
    shown = [to_finding(f) for f in findings]
    if model is not None:  # the audit covers the whole registry; keep this model's findings
        ours = {v.tag for v in registry.versions(names[0])} | {e.tag for e in registry.events(names[0])}
        shown = [f for f in shown if not f.tag or f.tag in ours]
    return ReportData(title, clock.now(now), models, tuple(shown), audit_ran,
                      {"gather_seconds": _time.perf_counter() - started, "audit_skipped": not audit})


def _run_audit(root: Path) -> tuple[list, bool]:
    from weightops.review.audit import audit

    return list(audit(root).findings), True


def to_finding(item: object) -> Finding:
    """An audit Finding from a Finding, a (kind, tag, message) triple, or an object with those
    attributes."""
    if isinstance(item, Finding):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 3:
        return Finding(*(str(x) for x in item))
    return Finding(str(getattr(item, "kind", "")), str(getattr(item, "tag", "")),
                   str(getattr(item, "message", item)))


def read_cards(root: str | os.PathLike, wanted: list[tuple[str, str]],
               sources: dict | None = None) -> dict[tuple[str, str], dict | str | None]:
    """(model, commit) -> card dict, None for a commit with no card (a release from before
    weightops, checked by DVC's md5), or a one-line reason why it cannot be read. A card attached
    to the commit counts (model/attached.py decides); `sources`, when given, receives where each
    card came from (`commit` or the notes ref). Two batched reads (every commit's dvc.yaml, then
    every card it declares), a third only for commits without a card file."""
    wanted = list(dict.fromkeys(wanted))
    yaml_specs = {key: f"{key[1]}:{dvcyaml_for(key[0])}" for key in wanted}
    blobs = git.read_blobs(root, list(dict.fromkeys(yaml_specs.values())))
    parsed: dict[bytes, dict | str] = {}   # many commits share one dvc.yaml blob
    card_specs: dict[tuple[str, str], str] = {}
    result: dict[tuple[str, str], dict | str] = {}
    for key, spec in yaml_specs.items():
        text = blobs.get(spec)
        if text is None:
            result[key] = f"no {spec.split(':', 1)[1]} at this commit"
            continue
        if text not in parsed:
            try:
                parsed[text] = parse_artifacts(text, spec.split(":", 1)[1])
            except WeightopsError as exc:
                parsed[text] = str(exc)
        arts = parsed[text]
        if isinstance(arts, str):
            result[key] = arts
        elif key[0] not in arts:
            result[key] = f"'{key[0]}' is not declared in {spec.split(':', 1)[1]}"
        else:
            card_specs[key] = f"{key[1]}:{arts[key[0]].card_path}"
    card_blobs = git.read_blobs(root, list(dict.fromkeys(card_specs.values())))
    cardless = sorted({key[1] for key, spec in card_specs.items() if card_blobs.get(spec) is None})
    card_blobs.update(git.read_blobs(root, [spec for c in cardless for spec in note_specs(c)]))
    for key, spec in card_specs.items():
        committed = card_blobs.get(spec)
        notes = [card_blobs.get(n) for n in note_specs(key[1])] if committed is None else None
        try:
            card, source = pick_card(key[0], key[1], committed, notes, spec)
        except WeightopsError as exc:
            result[key] = str(exc)
            continue
        result[key] = card
        if sources is not None and source is not None:
            sources[key] = source
    return result


def flatten_metrics(metrics: object, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a (nested) metrics mapping, keyed `a.b`."""
    out: dict[str, float] = {}
    if not isinstance(metrics, dict):
        return out
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_metrics(v, key + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = float(v)
    return out


def key_metrics(rows: list[VersionRow], preferred: object = None) -> tuple[str, ...]:
    """The configured `report: metrics:` list, else the metrics most versions have."""
    if isinstance(preferred, (list, tuple)) and preferred:
        return tuple(str(m) for m in preferred[:MAX_KEY_METRICS * 2])
    counts: dict[str, int] = {}
    for r in rows:
        for k in r.metrics:
            counts[k] = counts.get(k, 0) + 1
    return tuple(sorted(counts, key=lambda k: (-counts[k], k))[:MAX_KEY_METRICS])


def _model_report(registry: Registry, name: str, cards: dict, configured: tuple[str, ...],
                  preferred: object, sources: dict | None = None) -> ModelReport:
    held = registry.stages(name)
    by_version: dict[str, list[str]] = {}
    for stage, event in held.items():
        by_version.setdefault(event.version or "", []).append(stage)
    rows = []
    for v in registry.versions(name):
        card = cards.get((name, v.commit))
        ok = isinstance(card, dict)
        art = card.get("artifact") if ok and isinstance(card.get("artifact"), dict) else {}
        size = art.get("size")
        rows.append(VersionRow(
            name, v.version, v.tag, v.commit, v.time,
            art.get("sha256") or v.meta.get("sha256"),
            size if isinstance(size, int) else None,
            flatten_metrics(card.get("metrics")) if ok else {},
            {str(k): str(x) for k, x in card.get("labels").items()} if ok and isinstance(card.get("labels"), dict) else {},
            tuple(sorted(by_version.get(v.version, []))),
            None if ok or card is None else card,
            (sources or {}).get((name, v.commit), "commit") if ok else None,
        ))
    segments, marks = timeline(registry, name)
    seen = {s.stage for s in segments} | {m.stage for m in marks}
    lanes = tuple(s for s in configured) + tuple(sorted(seen - set(configured)))
    holders = {s: (shown(e), e.time) for s, e in held.items()}
    return ModelReport(name, tuple(rows), holders, lanes, tuple(segments), tuple(marks),
                       key_metrics(rows, preferred), registry.is_deprecated(name))


def shown(event) -> str:
    """A stage event's version as a person should read it. When no version tag is on its commit
    any more (the tag was moved), the registry gives no version; show what the tag recorded,
    marked `?`, or the commit."""
    if event.version:
        return event.version
    recorded = event.meta.get("version")
    return f"{recorded}?" if recorded else event.commit[:10]


def timeline(registry: Registry, name: str) -> tuple[list[Segment], list[Mark]]:
    """Holding intervals per stage, and every assignment/rollback/unassignment as a mark.

    GTO's stage semantics, as `Registry.stage_event` applies them: a stage is a label on
    versions and the holder is the newest labelled assignment, so unassigning the holder falls
    back to the version labelled before it. One pass over the events, not a query per event."""
    segments: list[Segment] = []
    marks: list[Mark] = []
    by_stage: dict[str, list] = {}
    for e in registry.events(name):
        if e.stage is None:
            continue
        action = e.action if e.kind is Kind.ASSIGN else "unassignment"
        marks.append(Mark(e.stage, e.time, action, shown(e), e.tag, e.tagger, e.meta.get("reason")))
        by_stage.setdefault(e.stage, []).append((e, action))
    for stage, items in by_stage.items():
        labels: dict[str, object] = {}
        holder, start, how = None, 0, ""
        mine: list[Segment] = []
        for e, action in items:
            # Events come oldest first, so the last label (re)inserted is the newest: O(1) per event.
            labels.pop(e.version or e.commit, None)
            if e.kind is Kind.ASSIGN:
                labels[e.version or e.commit] = e
            now_held = next(reversed(labels.values())) if labels else None
            if now_held is holder:
                continue
            if holder is not None:
                mine.append(Segment(stage, holder.version, start, e.time, holder.tag, how, action, shown(holder)))
            holder, start, how = now_held, e.time, (action if now_held is e else "fallback")
        if holder is not None:
            mine.append(Segment(stage, holder.version, start, None, holder.tag, how, None, shown(holder)))
        # `weightops demote` unassigns every labelled version, newest first, one second apart:
        # the fallbacks in between held nothing a person would call a stage. Leave them out.
        segments += [s for s in mine if not (s.action == "fallback" and s.ended_by == "unassignment"
                                             and s.end is not None and s.end - s.start <= DEMOTE_SWEEP)]
    segments.sort(key=lambda s: (s.stage, s.start))
    return segments, marks
