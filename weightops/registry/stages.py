"""Stage assignments: promote, demote, rollback (the reads are in registry/history.py).

An assignment is an annotated tag `NAME#STAGE#N` on the version's commit (an unassignment is
`NAME#STAGE!#N`), N one more than the model's highest counter. Its tagger date is the later
of now and one second after the model's newest tag, so readers that order by whole-second
tagger time (GTO, DVC) see the order the counters give.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from weightops.core import clock, git
from weightops.model.card import require_card_matches
from weightops.errors import NotFoundError, RefusedError
from weightops.registry.gates import PromotionContext, run_gates
from weightops.project import Project
from weightops.registry.state import Registry, tag_time
from weightops.registry.records import format_message
from weightops.registry.release import push_cards_along
from weightops.registry.tags import check_stage, format_stage_tag, normalize_version, validate_stage
from weightops.trust.signing import choose_signing

log = logging.getLogger(__name__)
COUNTER_REFS = "refs/weightops/counters"


@dataclass(frozen=True)
class Assigned:
    """A stage change: model, stage, the version now holding it (None after an unassignment), the
    tag written (GTO's `NAME#STAGE#N`, or `NAME#STAGE!#N` to unassign), its commit, the action
    (assign, unassign, rollback, or none when the version already held the stage), whether it was
    pushed, the previous holder, and every (tag, version) written."""
    model: str
    stage: str
    version: str | None
    tag: str
    commit: str
    action: str          # assign, unassign, rollback, or none (it already held the stage)
    pushed: bool
    previous: str | None  # the version that held the stage before
    written: tuple[tuple[str, str | None], ...] = ()   # (tag, version) of every tag written


def _open(repo: str | os.PathLike, model: str | None, push: bool) -> tuple[Project, str, Registry]:
    project = Project(repo)
    project.require_full_registry("write a stage tag")
    name = project.model(model)
    remote = git.default_remote(project.root) if push else None
    if remote is not None:
        # Count from the shared registry, not a stale local copy.
        git.fetch_tags(project.root, remote)
    return project, name, project.registry()


def require_object_in_remote(project: Project, located, tag: str) -> None:
    """Refuse (exit 5) to assign a version whose bytes are not in its DVC remote: every deploy
    of it would fail. Names the `dvc push` that fixes it."""
    from weightops.storage import remotes as storage

    remote = project.remote(located.commit)
    if remote is None:
        raise RefusedError(f"{tag}: no DVC remote is configured at {located.commit[:12]}, so no host can fetch "
                           "its weights; add one with `dvc remote add -d NAME URL` and `dvc push`, or pass "
                           "--no-check-remote")
    if storage.object_exists(project, remote, located.pointer):
        return
    here = not project.bare and git.head(project.root) == located.commit
    push = f"dvc push -r {remote.name}" if here else f"git checkout {tag} && dvc push -r {remote.name}"
    raise RefusedError(f"{tag}: the weights ({located.pointer.path}, md5 {located.pointer.md5}) are not in DVC "
                       f"remote '{remote.name}', so every deploy would fail; run `{push}` first, or pass "
                       "--no-check-remote to promote anyway (offline work)", url=project.object_url(remote, located.pointer))


def _write(project: Project, registry: Registry, *, model: str, stage: str, commit: str,
           fields: dict, title: str, unassign: bool, push: bool, now: int,
           sign: bool = False) -> tuple[str, bool]:
    counter = registry.next_counter(model)
    tag = format_stage_tag(model, stage, counter, unassign=unassign)
    fields = {**fields, "by": git.identity(project.root)}
    git.create_tag(project.root, tag, commit, format_message(title, fields),
                   time=tag_time(registry, model, now), sign=sign)
    pushed = False
    if push:
        pushed = push_claimed(project, model, counter, tag)
    if pushed and project.config.publish:
        # The fleet reads the published index, not git: a pushed stage change is not done
        # until the index says so too.
        from weightops.registry.publish import publish

        publish(model=model, repo=project.root, now=now)
    if pushed:
        from weightops.registry.oci import publish_after

        publish_after(project, model, stage, f"pushed {tag}")
    return tag, pushed


def push_claimed(project: Project, model: str, counter: int, tag: str) -> bool:
    """Push the tag together with a claim ref on its counter (`refs/weightops/counters/MODEL/N`),
    atomically: when another clone used the counter first (for any stage), the whole push is
    refused, the local tag removed and RefusedError (5) raised. False (nothing pushed) when the
    repository has no git remote: the tag stays local, as `release --push` leaves its tag."""
    remote = git.default_remote(project.root)
    if remote is None:
        return False
    claim = f"{COUNTER_REFS}/{model.replace(':', '=')}/{counter}"
    if not git.push_tag_with_claim(project.root, remote, tag, claim):
        git.delete_local_tag(project.root, tag)
        raise RefusedError(f"push of {tag} to '{remote}' was rejected: counter {counter} of '{model}' was "
                           "taken by someone else first; the local tag was removed, run the command again",
                           tag=tag)
    push_cards_along(project, remote)
    return True


def promote(version: str, stage: str, *, model: str | None = None, repo: str | os.PathLike = ".",
            message: str | None = None, push: bool = False, now: int | None = None,
            sign: bool | None = None, allow_breaking: bool = False, skip_checks: bool = False,
            require_shadow: str | os.PathLike | None = None, allow_deprecated: bool = False,
            action: str = "assign", check_remote: bool = True) -> Assigned:
    """Assign VERSION to STAGE (GTO's assignment tag `NAME#STAGE#N`) after checking the
    version, its card, that its object is in the DVC remote, and the promotion gates
    (registry/gates.py). A version that holds STAGE already is a no-op: nothing is written and
    the answer's action is "none".

    `now`: the tag date in Unix seconds (default: core.clock); `sign` None follows `trust.sign`;
    `allow_breaking` lets a breaking signature change through and `skip_checks` skips the
    stage's weight checks (both recorded in the tag message); `require_shadow` is a shadow log
    that must pass against the stage's current holder; `push` pushes the tag with a claim on its
    counter; `check_remote` False skips the remote check (offline work). Raises UsageError (2)
    for a bad name or stage or `push` without a git remote, NotFoundError (3) for an unknown
    version, IntegrityError (4) when card and pointer disagree, RefusedError (5) when a gate or
    policy refuses, the object is not in the DVC remote, another clone took the counter, or the
    model is deprecated (GTO's `NAME@deprecated`) and `allow_deprecated` is false.
    """
    project, name, registry = _open(repo, model, push)
    sign = choose_signing(project, sign)
    # One vocabulary with resolve/history/demote: the config's stages and those GTO tags use.
    check_stage(stage, project.config.stages, registry.stage_names(name))
    if not allow_deprecated:
        from weightops.registry.resolve import refuse_deprecated
        refuse_deprecated(registry, name)
    target = registry.version(name, normalize_version(version))
    located = project.locate(name, target.commit, ref=target.tag)
    if located.card is None:   # every assignment records the sha256 and runs the card's gates
        raise RefusedError(f"{target.tag} has no model card (released before weightops); attach one with "
                           f"`weightops card --attach {target.tag}` (no tag moves), then assign it")
    require_card_matches(located.card, located.pointer, target.tag)
    current = registry.stage_event(name, stage)
    # A signed re-assignment is not "nothing to do": deploy hosts that require signatures
    # skip the unsigned or unallowed tag that holds the stage now.
    if current is not None and current.version == target.version and action != "rollback" and not sign:
        log.info("%s of '%s' already holds '%s' (%s); nothing written", target.version, name, stage, current.tag)
        return Assigned(name, stage, target.version, current.tag, target.commit, "none", False, target.version)
    if check_remote:
        require_object_in_remote(project, located, target.tag)
    when = clock.now(now)
    options = {"allow_breaking": allow_breaking, "skip_checks": skip_checks,
               "require_shadow": str(require_shadow) if require_shadow else None}
    ctx = PromotionContext(project, registry, name, target, located, stage, when, options)
    gate_fields = run_gates(ctx)
    previous = current.version if current else None
    fields = {"model": name, "stage": stage, "version": target.version,
              "sha256": located.card["artifact"]["sha256"], "action": action,
              "previous": previous, "reason": message, **gate_fields}
    verb = "roll back" if action == "rollback" else "assign"
    tag, pushed = _write(project, registry, model=name, stage=stage, commit=target.commit, fields=fields,
                         title=f"weightops {verb} {name} {target.version} to {stage}", unassign=False,
                         push=push, now=when, sign=sign)
    log.info("%s: %s %s -> %s", tag, verb, target.version, stage)
    return Assigned(name, stage, target.version, tag, target.commit, action, pushed, previous,
                    ((tag, target.version),))


def demote(stage: str, *, model: str | None = None, repo: str | os.PathLike = ".",
           message: str | None = None, push: bool = False, now: int | None = None,
           sign: bool | None = None) -> Assigned:
    """Empty STAGE: unassign (`NAME#STAGE!#N`) every version that still carries it, newest
    first, so neither weightops nor GTO falls back to an older assignment.

    Arguments as `promote`. Raises UsageError (2) for a bad stage, NotFoundError (3) when no
    version holds it, RefusedError (5) when another clone took the counter."""
    validate_stage(stage)
    project, name, registry = _open(repo, model, push)
    sign = choose_signing(project, sign)
    when = clock.now(now)
    labelled = registry.labelled(name, stage)
    if sign:  # also clear what deploy hosts that require signatures still obey
        from weightops.trust.policy import also_trusted_labelled
        labelled = also_trusted_labelled(project, registry, name, stage, labelled)
    if not labelled:
        check_stage(stage, project.config.stages, registry.stage_names(name))
        raise NotFoundError(f"no version of '{name}' holds stage '{stage}'; nothing to demote")
    current = labelled[0]
    written: list[tuple[str, str | None]] = []
    pushed = False
    for event in labelled:
        fields = {"model": name, "stage": stage, "version": event.version, "action": "unassign",
                  "sha256": event.meta.get("sha256"), "reason": message}
        tag, pushed = _write(project, registry, model=name, stage=stage, commit=event.commit, fields=fields,
                             title=f"weightops unassign {name} {event.version} from {stage}", unassign=True,
                             push=push, now=when, sign=sign)
        written.append((tag, event.version))
        registry = project.registry()  # the next counter and tag time follow this tag
    # `tag` is the current holder's unassignment (the first written), not the last one
    return Assigned(name, stage, current.version, written[0][0], current.commit, "unassign", pushed,
                    current.version, tuple(written))


def rollback(stage: str, *, model: str | None = None, to: str | None = None, repo: str | os.PathLike = ".",
             message: str | None = None, push: bool = False, now: int | None = None,
             sign: bool | None = None, allow_breaking: bool = False, skip_checks: bool = False,
             allow_deprecated: bool = False, check_remote: bool = True) -> Assigned:
    """Assign the version that held STAGE before the current one (or `to`), as a new
    assignment whose message says `action: rollback`. Arguments and errors as `promote`;
    RefusedError (5) also when there is no earlier version or `to` holds the stage already."""
    validate_stage(stage)   # before the name is echoed in a message or reaches git
    project = Project(repo)
    project.require_full_registry("roll back")
    name = project.model(model)
    registry = project.registry()
    current = registry.stage_event(name, stage)
    if current is None:
        check_stage(stage, project.config.stages, registry.stage_names(name))
    target = normalize_version(to) if to else registry.previous_holder(name, stage)
    if target is None:
        raise RefusedError(f"stage '{stage}' of '{name}' has no earlier version to roll back to; "
                           "name one with --to VERSION")
    if current is not None and current.version == target:
        raise RefusedError(f"{target} already holds '{stage}'; nothing to roll back")
    return promote(target, stage, model=name, repo=repo, message=message or f"rollback from {current.version if current else 'none'}",
                   push=push, now=now, action="rollback", sign=sign, allow_breaking=allow_breaking,
                   skip_checks=skip_checks, allow_deprecated=allow_deprecated, check_remote=check_remote)
