"""`weightops audit`: the registry's integrity over its whole history.

Tags are the registry, and git lets anyone move one (`git tag -f v1.0.0 && git push -f`). The
records that stay behind say what each version meant: every stage tag written by weightops
records the version, and sha256 it assigned, and a release tag records the sha256. Audit compares
those records with what the tags point at now, checks every version's card against its DVC
pointer (and against the bytes, when the object is on this machine), that every version's object
is in the remote, reports commits holding several versions of one model (GTO forbids them), and
lists as notices (never failures) registry tags GTO cannot see: lightweight tags, plain `v1.2.0`
versions. The report is a frozen value; the CLI and the HTML report render it.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, replace
from pathlib import Path

from weightops.core import git, git_remote
from weightops.model.attached import no_card_notice, note_specs, pick_card
from weightops.model.card import CardError, check_card_against_pointer, validate_card
from weightops.errors import NotFoundError, WeightopsError
from weightops.storage.hashing import hash_file
from weightops.storage.dvc_config import dvc_remotes
from weightops.storage.pointers import (Artifact, Remote, dvcyaml_for, out_remote, parse_artifacts,
                       pointer_from_dvcfile, pointer_from_lock)
from weightops.project import Located, Project
from weightops.registry.state import Registry
from weightops.registry.tags import Kind, recreate_hint, reserved_stage_reading

KINDS = ("moved-tag", "card-mismatch", "missing-object", "damaged-object", "two-versions", "unreadable", "oci-tag")
NOTICE_KINDS = ("lightweight-tag", "not-a-version", "no-card", "reserved-stage",
                "oci-unpublished")   # information, never a failure


@dataclass(frozen=True)
class Finding:
    """One audit result: `kind` (one of KINDS, a failure, or NOTICE_KINDS, information only), the
    tag it concerns, and a one-line message."""
    kind: str       # one of KINDS (a finding) or NOTICE_KINDS (a notice)
    tag: str
    message: str

    def to_dict(self) -> dict:
        """The finding as JSON: kind, tag, message."""
        return {"kind": self.kind, "tag": self.tag, "message": self.message}


@dataclass(frozen=True)
class RemoteInfo:
    """A DVC remote the audit read: `versioning` is whether its bucket keeps object versions
    (None: the backend cannot say, e.g. a local directory or SSH)."""

    name: str
    url: str
    versioning: bool | None

    def to_dict(self) -> dict:
        """The remote as JSON: name, url, versioning."""
        return {"name": self.name, "url": self.url, "versioning": self.versioning}


@dataclass(frozen=True)
class AuditReport:
    """The whole audit: findings (each fails it), versions checked, registry tags read, notices
    (never failing), plain-style version tags GTO does not read, and the DVC remotes read."""
    findings: tuple[Finding, ...]
    versions: int          # versions checked
    tags: int              # registry tags read
    # Information that does not fail the audit: tags that look like versions but are outside
    # the grammar (`1.2.0`, `v1.2`), which every reader ignores, and lightweight version tags,
    # which weightops reads but GTO does not list.
    notices: tuple[Finding, ...] = ()
    # Plain `v1.2.0` version tags: weightops reads them, GTO and `dvc artifacts` never do.
    invisible_to_gto: tuple[str, ...] = ()

    @property
    def gto_note(self) -> str | None:
        """A line naming the plain `vX.Y.Z` version tags that GTO and `dvc artifacts` do not read
        (they read `NAME@vX.Y.Z`, GTO's registration grammar), or None when there are none."""
        if not self.invisible_to_gto:
            return None
        shown = ", ".join(self.invisible_to_gto[:5]) + (" ..." if len(self.invisible_to_gto) > 5 else "")
        return (f"{len(self.invisible_to_gto)} version tag(s) in the plain style ({shown}): weightops reads them, "
                "GTO and `dvc artifacts` do not (they read NAME@vX.Y.Z); `tag_style: named` makes releases all three see")
    remotes: tuple[RemoteInfo, ...] = ()

    @property
    def ok(self) -> bool:
        """True when there is no finding (notices do not count); the CLI exits 4 otherwise."""
        return not self.findings

    @property
    def summary(self) -> str:
        """One line: `audit ok: ...` with the counts, or the number and kinds of problems found."""
        if self.ok:
            light = sum(1 for n in self.notices if n.kind == "lightweight-tag")
            cardless = sum(1 for n in self.notices if n.kind == "no-card")
            asides = ([f"{light} lightweight tag(s): GTO does not list them"] if light else []) + \
                ([f"{cardless} version(s) without a model card, checked by DVC's md5"] if cardless else [])
            aside = f" ({'; '.join(asides)})" if asides else ""
            return f"audit ok: {_count(self.versions, 'version')} and {_count(self.tags, 'registry tag')} checked{aside}"
        kinds = sorted({f.kind for f in self.findings})
        return (f"audit found {_count(len(self.findings), 'problem')} ({', '.join(kinds)}) in "
                f"{_count(self.tags, 'registry tag')}")

    def to_dict(self) -> dict:
        """The report as JSON for `audit --json`: ok, counts, summary, findings, notices,
        invisible_to_gto, remotes."""
        return {"ok": self.ok, "versions": self.versions, "tags": self.tags, "summary": self.summary,
                "findings": [f.to_dict() for f in self.findings], "notices": [f.to_dict() for f in self.notices],
                "invisible_to_gto": list(self.invisible_to_gto),
                "remotes": [r.to_dict() for r in self.remotes]}


def audit(repo: str | os.PathLike = ".", *, remote: str | None = None, rehash: bool = True,
          offline: bool = False) -> AuditReport:
    """Check the whole registry: tags moved since an assignment recorded them (or against the git
    remote's, unless `offline`), cards against pointers, objects in DVC remote `remote`
    (re-hashed where local when `rehash`); lightweight tags are notices. Returns an AuditReport; `ok` is
    False when any finding (the CLI exits 4). NotFoundError (3) outside a repository."""
    project = Project(repo)
    project.warn_partial()   # a shallow or tagless clone audits only the tags it has
    refs = git.list_tags(project.root)
    registry = Registry(refs, project.default_model)
    findings: list[Finding] = []
    registry_tags = [r for r in refs if r.name not in set(registry.ignored)]
    # A plain `git tag v1.0.0` is the README's release and weightops reads it; GTO (and DVC's
    # artifacts commands) list annotated tags only. That is worth knowing, never a failure (tags
    # never move, so a failure could never be cleared).
    # A lightweight GTO-style tag (`NAME@v1.0.0`, `NAME#prod#1`) is ignored by every reader,
    # weightops included (registry.lightweight), as `list` and `resolve` warn.
    named = set(registry.lightweight)
    notes = [Finding("lightweight-tag", r.name, f"{r.name} is a lightweight tag: weightops, GTO and `dvc artifacts` "
                     f"read GTO-style tags only when annotated and ignore it; {recreate_hint(r.name)}")
             if r.name in named else
             Finding("lightweight-tag", r.name, f"{r.name} is a lightweight tag: weightops reads it as a release "
                     "(its sha256 comes from the card at its commit); GTO and `dvc artifacts` read annotated "
                     "tags only and do not list it; `weightops release` writes annotated tags they see too")
             for r in registry_tags if not r.annotated]
    if not offline:
        findings += _diverged(project, registry_tags)
    versions = [v for model in project.models_in(registry) for v in registry.versions(model)]   # not datasets
    located_all, remotes = _locate_all(project, [(v.model, v.commit) for v in versions], remote)
    hashed: dict[str, object] = {}   # path -> Digests: each local copy hashed once
    stores: dict[str, object] = {}
    for v in versions:
        findings += _moved(registry, v.model, v)
        located = located_all[(v.model, v.commit)]
        if isinstance(located, WeightopsError):
            findings.append(Finding("unreadable", v.tag, f"{v.tag}: {located}"))
            continue
        rem = remotes[v.commit]
        if ":" in v.model:   # a nested dvc.yaml may belong to a DVC project in a subfolder, with its own remotes
            try:
                located = project.locate(v.model, v.commit, v.tag)
                rem = project.remote(v.commit, remote, root=located.dvc_root)
            except WeightopsError as exc:
                findings.append(Finding("unreadable", v.tag, f"{v.tag}: {exc}"))
                continue
        if located.card is None:   # released before weightops: worth knowing, never a failure
            notes.append(Finding("no-card", v.tag, no_card_notice(v.tag)))
        findings += _card(project, v.tag, v.meta.get("sha256"), located, rem, hashed if rehash else None)
        findings += _stage_records(registry, v.model, v.version, v.tag, located)
        if isinstance(rem, Remote) and located.pointer.remote and remote is None:
            rem = _pointer_remote(project, located, rem)
        findings += _object(project, v.tag, located, rem, stores)
    for model, commit, tags in dict.fromkeys(registry.conflicts):
        findings.append(Finding("two-versions", tags[-1], f"commit {commit[:12]} holds several versions of '{model}' "
                                f"({', '.join(tags)}): GTO allows one version per commit and fails on any stage tag "
                                "there; deregister all but one (`gto deregister`) or tag the others on new commits"))
    if not offline:   # with oci.repository: OCI tags that disagree with git (review/oci_tags.py)
        from weightops.review.oci_tags import oci_checks

        for kind, tag, message in oci_checks(project, project.models_in(registry)):
            (notes if kind in NOTICE_KINDS else findings).append(Finding(kind, tag, message))
    infos = tuple(RemoteInfo(s.remote.name, s.base, _versioning(s)) for s in stores.values() if not isinstance(s, Exception))
    notices = tuple(notes) + tuple(Finding("not-a-version", name, f"{name} looks like a version but is not a registry tag, so "
                            f"weightops, GTO and DVC ignore it; did you mean {meant}? (release it with "
                            f"`weightops release {meant.rpartition('@')[2]}`)")
                    for name, meant in registry.lookalikes().items())
    notices += tuple(Finding("reserved-stage", f"{model}#{stage}", reading) for model in registry.models()
                     for stage in sorted(registry.stage_names(model)) if (reading := reserved_stage_reading(stage)))
    return AuditReport(tuple(findings), len(versions), len(registry_tags), notices,
                       tuple(registry.invisible), infos)


def _pointer_remote(project: Project, located: Located, default: Remote) -> object:
    """The out's own `remote:` wins over the default, as in DVC."""
    try:
        return project.remote(located.commit, located.pointer.remote, root=located.dvc_root) or default
    except WeightopsError as exc:
        return exc


def _versioning(store) -> bool | None:
    try:
        return store.versioning()
    except WeightopsError:
        return None


def _locate_all(project: Project, wanted: list[tuple[str, str]], remote: str | None) -> tuple[dict, dict]:
    """What `Project.locate` and `Project.remote` answer, for every (model, commit) at once, in
    two `git cat-file --batch` processes instead of three per version. Values are the answer
    or the WeightopsError it raised."""
    first: dict[str, None] = {}
    for model, commit in wanted:
        dvcyaml = dvcyaml_for(model)
        first.update({f"{commit}:{dvcyaml}": None,
                      f"{commit}:{posixpath.join(posixpath.dirname(dvcyaml), 'dvc.lock')}": None,
                      f"{commit}:.dvc/config": None})
    blobs = git.read_blobs(project.root, list(first))
    artifacts: dict[tuple[str, str], Artifact] = {}
    result: dict[tuple[str, str], object] = {}
    second: dict[str, None] = {}
    for model, commit in dict.fromkeys(wanted):
        dvcyaml = dvcyaml_for(model)
        try:
            text = blobs[f"{commit}:{dvcyaml}"]
            if text is None:
                raise NotFoundError(f"commit {commit[:12]} has no {dvcyaml}; is '{model}' declared there?")
            artifact = parse_artifacts(text, dvcyaml).get(model)
            if artifact is None:
                raise NotFoundError(f"model '{model}' is not declared under artifacts: in {dvcyaml} at {commit[:12]}")
        except WeightopsError as exc:
            result[(model, commit)] = exc
            continue
        artifacts[(model, commit)] = artifact
        second.update({f"{commit}:{artifact.path}.dvc": None, f"{commit}:{artifact.card_path}": None})
    blobs.update(git.read_blobs(project.root, list(second)))
    cardless = {c for (_, c), a in artifacts.items() if blobs[f"{c}:{a.card_path}"] is None}   # attached cards?
    blobs.update(git.read_blobs(project.root, [spec for c in sorted(cardless) for spec in note_specs(c)]))
    for (model, commit), a in artifacts.items():
        lockfile = posixpath.join(posixpath.dirname(a.dvcyaml), "dvc.lock")
        try:
            dvcfile = blobs[f"{commit}:{a.path}.dvc"]
            pointer = pointer_from_dvcfile(dvcfile, f"{a.path}.dvc", a.path) if dvcfile is not None \
                else pointer_from_lock(blobs[f"{commit}:{lockfile}"], lockfile, a.path)
            if dvcfile is None and pointer is not None and pointer.remote is None:
                named = out_remote(blobs[f"{commit}:{a.dvcyaml}"], a.dvcyaml, a.path)
                pointer = replace(pointer, remote=named) if named else pointer
            if pointer is None:
                raise NotFoundError(f"no DVC pointer for {a.path} at {commit[:12]}")
            committed = blobs[f"{commit}:{a.card_path}"]
            notes = [blobs[spec] for spec in note_specs(commit)] if committed is None else None
            card, source = pick_card(model, commit, committed, notes, f"model card {a.card_path} at {commit[:12]}")
            result[(model, commit)] = Located(a, pointer, card, commit, card_source=source)
        except WeightopsError as exc:
            result[(model, commit)] = exc
    dvc_dir = None if project.bare else project.root / ".dvc"
    local = (dvc_dir / "config.local").read_bytes() if dvc_dir and (dvc_dir / "config.local").is_file() else None
    remotes: dict[str, object] = {}
    for commit in {c for _, c in wanted}:
        try:
            default, known = dvc_remotes(blobs[f"{commit}:.dvc/config"], local, dvc_dir=dvc_dir)
            name = remote or default
            if name is not None and name not in known:
                raise NotFoundError(f"DVC remote '{name}' is not configured at {commit[:12]} (known: "
                                    f"{', '.join(known) or 'none'})")
            remotes[commit] = known.get(name) if name else None
        except WeightopsError as exc:
            remotes[commit] = exc
    return result, remotes


def _diverged(project: Project, refs: list) -> list[Finding]:
    """Registry tags the git remote has on another commit: one side was moved (`git tag -f`
    and a force-push); `git fetch --tags` keeps the local one, so the clones disagree."""
    name = git.default_remote(project.root)
    theirs = git_remote.remote_tags(project.root, name) if name else None
    if not theirs:
        return []
    return [Finding("moved-tag", r.name, f"{r.name} is on {r.commit[:12]} here but on {theirs[r.name][:12]} in git "
                    f"remote '{name}': a tag was moved and force-pushed; find out which is right before deploying it")
            for r in refs if r.name in theirs and theirs[r.name] != r.commit]


def _moved(registry: Registry, model: str, v) -> list[Finding]:
    """Stage tags written for this version sit on the commit the version tag had then."""
    found = []
    for e in registry.events(model):
        if e.kind in (Kind.ASSIGN, Kind.UNASSIGN) and e.meta.get("version") == v.version and e.commit != v.commit:
            found.append(Finding("moved-tag", v.tag, f"{v.tag} points at {v.commit[:12]} but {e.tag} recorded "
                                 f"{v.version} on {e.commit[:12]}: the version tag was moved (git tag -f); "
                                 f"restore it with `git tag -f {v.tag} {e.commit[:12]}` after checking which is right"))
            break
    return found


def _card(project: Project, tag: str, recorded: str | None, located: Located, rem: object,
          hashed: dict | None) -> list[Finding]:
    card = located.card
    found = []
    if card is not None:
        where = "card" if located.card_source == "commit" else f"card attached in {located.card_source}"
        try:
            validate_card(card, f"{tag}: {where} {located.artifact.card_path}")
        except CardError as exc:
            return [Finding("card-mismatch", tag, str(exc))]
        found = [Finding("card-mismatch", tag, f"{tag}: {p}; the {where} no longer describes the weights")
                 for p in check_card_against_pointer(card, located.pointer)]
    sha = (card or {}).get("artifact", {}).get("sha256")   # None without a card: the md5 check below still runs
    if recorded and sha and recorded != sha:
        found.append(Finding("moved-tag", tag, f"{tag}: the tag message recorded sha256 {recorded[:16]}... but the "
                             f"card at {located.commit[:12]} says {sha[:16]}...: the tag was moved or the card rewritten"))
    if hashed is not None and not found and not located.pointer.is_dir:
        rem = rem if isinstance(rem, Remote) else None
        for where, path in _local_copies(project, located, rem):
            key = str(path)
            if key not in hashed:
                hashed[key] = hash_file(path)
            d = hashed[key]
            if d.md5 is not None and d.md5 != located.pointer.md5 and not located.pointer.legacy:
                if where == "remote":   # what every deploy downloads: overwritten after release
                    found.append(Finding("damaged-object", tag, f"{tag}: object {path} in DVC remote '{rem.name}' "
                                         f"is not the released bytes (md5 {d.md5}, the pointer says "
                                         f"{located.pointer.md5}); push them again from a good copy"))
                    break
                continue                # a damaged cache copy says nothing about the card
            if sha is not None and d.sha256 != sha:
                found.append(Finding("card-mismatch", tag, f"{tag}: card sha256 {sha[:16]}... but the bytes DVC stores "
                                     f"for md5 {located.pointer.md5} hash to {d.sha256[:16]}...: the card was edited"))
            break
    return found


def _local_copies(project: Project, located: Located, rem: Remote | None) -> list[tuple[str, Path]]:
    """The object's local copies, the remote's first (deploys read that one), then the cache."""
    copies = []
    if rem is not None and rem.is_local:
        copies.append(("remote", Path(project.object_url(rem, located.pointer))))
    if not project.bare:
        copies.append(("cache", project.root / ".dvc" / "cache" / located.pointer.object_path()))
    return [(where, path) for where, path in copies if path.is_file()]


def _stage_records(registry: Registry, model: str, version: str, tag: str, located: Located) -> list[Finding]:
    sha = ((located.card or {}).get("artifact") or {}).get("sha256")
    if sha is None:
        return []   # no card: nothing recorded by sha256 to compare (the object check compares md5)
    for e in registry.events(model):
        recorded = e.meta.get("sha256")
        if e.kind is Kind.ASSIGN and e.meta.get("version") == version and recorded and recorded != sha \
                and e.commit == located.commit:
            return [Finding("moved-tag", tag, f"{e.tag} recorded sha256 {recorded[:16]}... for {version}, the card at "
                            f"{located.commit[:12]} says {sha[:16]}...")]
    return []


def _object(project: Project, tag: str, located: Located, rem: object, stores: dict) -> list[Finding]:
    from weightops.storage.recovery import object_health
    from weightops.storage.backends import open_store
    from weightops.storage.transfer import object_exists

    if isinstance(rem, WeightopsError):
        return [Finding("missing-object", tag, f"{tag}: cannot check the remote: {rem}")]
    if rem is None:
        return [Finding("missing-object", tag, f"{tag}: no DVC remote configured at {located.commit[:12]}")]
    pointer = located.pointer
    try:
        store = stores.get(rem.name)
        if store is None or store.remote != rem:
            store = stores[rem.name] = open_store(project, rem)
        health = object_health(store, pointer)
        if health.state == "damaged":
            fix = (f"version {health.repair.version} in the versioned bucket holds the released bytes "
                   "(`weightops pull --recover` delivers them)" if health.repair
                   else "no stored version of it holds the released bytes; push them again from a good copy")
            return [Finding("damaged-object", tag, f"{tag}: object {store.url(pointer)} in DVC remote '{rem.name}' is "
                            f"not the released bytes (md5 {pointer.md5}); {fix}")]
        if health.state == "missing" or (health.state != "ok" and not object_exists(store, pointer)):
            extra = (f"; version {health.repair.version} in the versioned bucket still holds it "
                     "(`weightops pull --recover` delivers it)" if health.repair else "")
            return [Finding("missing-object", tag, f"{tag}: object md5 {pointer.md5} is not in DVC remote "
                            f"'{rem.name}'; run `dvc push` from {located.commit[:12]}{extra}")]
    except WeightopsError as exc:
        return [Finding("missing-object", tag, f"{tag}: cannot check the remote: {exc}")]
    return []


def _count(n: int, noun: str) -> str:
    """`1 version`, `2 versions`: a count with its noun in the right number."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
