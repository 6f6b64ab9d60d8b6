"""`weightops card --attach REF`: give a release made before weightops a card, without moving
its tag. The card goes into a git note on the released commit (model/attached.py reads it),
under a ref weightops owns (core.refs.CARDS_REF) that `release --push` and `card --attach
--push` push and `git fetch --tags` through weightops fetches; from then on the version gets
SHA-256 checks like any release.

Rules: the card is built from bytes whose MD5 and size are the ones DVC's pointer at that commit
records (anything else is refused, exit 4); a commit that holds its own card file keeps it (that
card always wins, so attaching is refused, exit 5); attaching the same card again is a no-op and
a different one is refused unless `force` (the note's history keeps the one replaced).
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from weightops.core import git
from weightops.errors import IntegrityError, NotFoundError, RefusedError
from weightops.model.attached import FROM_COMMIT, NOTES_REF, format_note, note_specs, parse_note
from weightops.model.card import (FORMATS, SCHEMA_VERSION, check_card_against_pointer, check_pointer_against_file,
                                  describe_artifact, parse_labels, read_metrics, validate_card)
from weightops.project import Project
from weightops.registry.records import iso

log = logging.getLogger(__name__)
ATTACHED_BY = "weightops card --attach"


@dataclass(frozen=True)
class Attached:
    """One attach: model, version, tag, commit, the card's sha256 (hex) and size (bytes), what
    happened (`attached`, `replaced` or `unchanged`) and whether the notes ref was pushed."""
    model: str
    version: str
    tag: str
    commit: str
    sha256: str
    size: int
    action: str
    pushed: bool = False

    def to_dict(self) -> dict:
        """The result as JSON for `card --attach --json`, one key per field, plus `ref`."""
        return {"model": self.model, "version": self.version, "tag": self.tag, "commit": self.commit,
                "sha256": self.sha256, "size": self.size, "action": self.action, "ref": NOTES_REF,
                "pushed": self.pushed}


def attach_card(ref: str, weights: str | os.PathLike | None = None, *, model: str | None = None,
                repo: str | os.PathLike = ".", force: bool = False, push: bool = False,
                metrics: str | os.PathLike | None = None, labels: list[str] | dict | None = None,
                signature: str | os.PathLike | dict | None = None) -> Attached:
    """Attach a card to the commit of REF (a version, tag or stage of MODEL) in the local clone
    `repo`. The bytes are `weights` (a file or folder; default: a copy on this machine, else the
    version pulled from the DVC remote into a temp folder, checked by DVC's MD5) and must be
    what the pointer records.
    `metrics` (a file), `labels` (KEY=VALUE) and `signature` (MLflow's format) go into the card;
    `push` pushes the notes ref to the default git remote.

    Raises UsageError (2) for a bad REF, NotFoundError (3) for an
    unknown version or missing weights, IntegrityError (4) when the bytes are not the ones DVC
    recorded, RefusedError (5) when the commit holds its own card, a different card is attached
    already (without `force`), or the push is rejected."""
    from weightops.api import load_signature
    from weightops.registry.resolve import find_target

    project = Project(repo)
    # Without a git remote `push` writes the card and pushes nothing (`pushed` False), as
    # `release --push` leaves its tag local; the CLI says so.
    remote = git.default_remote(project.root) if push else None
    with project.reading():
        target = find_target(project, project.registry(), ref, model)
        v = target.version
        located = project.locate(target.model, v.commit, ref=v.tag)
    if located.card_source == FROM_COMMIT:
        raise RefusedError(f"{v.tag}: commit {v.commit[:12]} holds its own card {located.artifact.card_path}, which "
                           "always wins over an attached one; nothing attached")
    with tempfile.TemporaryDirectory(prefix="weightops-attach-") as tmp:
        path = Path(weights) if weights is not None else \
            _released_bytes(project, located, v.tag, target.model, v.version, Path(tmp) / Path(located.pointer.path).name)
        if not path.exists():
            raise NotFoundError(f"weights '{path}' do not exist; pass the released bytes (dvc get, weightops pull)")
        # The bytes must be the ones DVC recorded for this release, or the card would pin others.
        check_pointer_against_file(located.pointer, path, v.tag)
        artifact = describe_artifact(path, located.pointer.path)
        suffix = Path(located.pointer.path).suffix
        if path.is_file() and path.suffix != suffix:   # a DVC cache file is named by its md5: the format is the release's
            artifact["format"] = FORMATS.get(suffix.lower(), suffix.lstrip(".") or "binary")
    artifact["path"] = located.pointer.path
    card = {
        "schema_version": SCHEMA_VERSION, "model": target.model, "artifact": artifact,
        # What is known of a release made before weightops: its commit and when it was tagged.
        "lineage": {"commit": v.commit, "dirty": False, "branch": None, "created_at": iso(v.time),
                    "stage": None, "params": {}, "deps": {}},
        "environment": {"python": "unknown", "platform": "unknown"},
        "metrics": read_metrics(Path(metrics)) if metrics else {},
        "labels": labels if isinstance(labels, dict) else parse_labels(labels),
        "signature": load_signature(signature),
        "attached": {"by": ATTACHED_BY, "tag": v.tag},
    }
    validate_card(card, f"card for {v.tag}")
    problems = check_card_against_pointer(card, located.pointer)
    if problems:
        raise IntegrityError(f"{v.tag}: {problems[0]}; nothing attached", ref=v.tag)
    action = _write_note(project, target.model, v.commit, v.tag, card, force)
    pushed = False
    if push and remote is not None:
        proc = git.push_cards(project.root, remote)
        if proc is None or proc.returncode != 0:
            raise RefusedError(f"push of {NOTES_REF} to '{remote}' was rejected: {cards_push_failure(proc, remote)}")
        pushed = True
    log.info("%s card of %s %s on %s (%s)", action, target.model, v.version, v.commit[:12], NOTES_REF)
    return Attached(target.model, v.version, v.tag, v.commit, artifact["sha256"], artifact["size"], action, pushed)


def _released_bytes(project: Project, located, tag: str, model: str, version: str, dest: Path) -> Path:
    """The released bytes: a copy on this machine (the DVC cache, a local remote, the work tree;
    see model.validation.local_weights), else pulled from the DVC remote to `dest`; verified
    either way by DVC's MD5 and size (or an attached card's SHA-256)."""
    from weightops.deploy.pull import pull_detailed
    from weightops.model.validation import local_weights

    try:
        return local_weights(project, located, tag)
    except NotFoundError:
        return pull_detailed(version, dest, model=model, repo=project.root).path


def _write_note(project: Project, model: str, commit: str, tag: str, card: dict, force: bool) -> str:
    """Merge `card` into the commit's note (other models' cards stay). `unchanged` when the same
    card is there; RefusedError (5) for a different one unless `force`."""
    text = next((t for t in project.blobs(note_specs(commit)).values() if t is not None), None)
    cards = parse_note(text, commit) if text is not None else {}
    old = cards.get(model)
    if old == card:
        return "unchanged"
    if old is not None and not force:
        sha = ((old.get("artifact") or {}).get("sha256") or "?")[:16]
        raise RefusedError(f"{tag}: a different card is attached already (sha256 {sha}..., {NOTES_REF}); "
                           "pass --force to replace it (the notes ref's history keeps the old one)")
    cards[model] = card
    git.run(["notes", "--ref", NOTES_REF, "add", "-f", "-F", "-", commit], cwd=project.root, input=format_note(cards))
    return "replaced" if old is not None else "attached"


def cards_push_failure(proc, remote: str) -> str:
    """Why a push of the notes ref failed, with the fix (fetch, merge, push again)."""
    reason = (proc.stderr.strip().splitlines() or ["push failed"])[-1] if proc is not None else "nothing to push"
    return (f"{reason}; fetch theirs (`git fetch {remote} {NOTES_REF}:refs/notes/theirs`), merge them "
            f"(`git notes --ref {NOTES_REF} merge refs/notes/theirs`) and push again")
