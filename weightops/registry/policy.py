"""Promotion policy: rules from the `policy:` section of weightops.yaml, checked by `promote`.

    policy:
      stage_order: [staging, production]   # production only after the version held staging
      branches: [main]                      # the promoted commit must be on one of these
      min_time: {production: 24h}           # time in the previous stage before production

Each rule refuses with RefusedError (exit 5) naming itself. `policy_gate` is registered in
gates.GATES; the rules (read by core/config.py) and the stage-history checks are pure.
"""

from __future__ import annotations

from weightops.core import git, git_review
from weightops.core.config import PolicySettings
from weightops.errors import RefusedError
from weightops.registry.records import Event, iso
from weightops.registry.tags import Kind

def tenures(events: list[Event], stage: str, version: str, now: int) -> list[tuple[int, int]]:
    """(start, end) of every period `version` carried the `stage` label (GTO's meaning, as the
    registry reads it: an assignment labels the version until an unassignment of that version)."""
    spans, start = [], None
    for e in events:
        if e.stage != stage or e.version != version:
            continue
        if e.kind is Kind.ASSIGN and start is None:
            start = e.time
        elif e.kind is Kind.UNASSIGN and start is not None:
            spans.append((start, e.time))
            start = None
    if start is not None:
        spans.append((start, now))
    return spans


def check_order(policy: PolicySettings, events: list[Event], model: str, version: str, stage: str, now: int) -> None:
    """Policy rule `stage_order`: `version` must have held the stage before `stage` in the order at
    some time (GTO's label meaning, see `tenures`); `now` in Unix seconds. RefusedError (5) naming
    the rule otherwise."""
    prev = policy.previous_stage(stage)
    if prev is None:
        return
    if not tenures(events, prev, version, now):
        raise RefusedError(f"policy rule 'stage_order': {model} {version} never held '{prev}', and '{stage}' "
                           f"comes after it; promote it to {prev} first")


def check_min_time(policy: PolicySettings, events: list[Event], model: str, version: str, stage: str, now: int) -> None:
    """Policy rule `min_time`: `version` must have held the previous stage for at least the
    configured seconds in one stretch before `now` (Unix seconds). RefusedError (5) naming the rule
    and the time to wait until (ISO 8601) otherwise."""
    need = dict(policy.min_time).get(stage)
    if not need:
        return
    prev = policy.previous_stage(stage)
    spans = [s for s in tenures(events, prev, version, now) if s[0] <= now]
    longest = max((min(end, now) - start for start, end in spans), default=0)
    if longest < need:
        since = f" (in it since {iso(spans[-1][0])})" if spans else ""
        raise RefusedError(f"policy rule 'min_time': {model} {version} has been in '{prev}' for {longest}s{since}; "
                           f"'{stage}' needs {need}s there; wait until {iso((spans[-1][0] if spans else now) + need)}")


def check_branches(policy: PolicySettings, root, commit: str, model: str, version: str) -> None:
    """Policy rule `branches`: `commit` must be reachable from one of the allowed branches
    (`refs/heads/B` or `refs/remotes/origin/B`) of the repository at `root`. RefusedError (5) when
    it is not, or when none of those branches exists here."""
    if not policy.branches:
        return
    tips = []
    for branch in policy.branches:
        for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"):
            tip = git.try_rev_parse(root, ref)
            if tip is not None:
                tips.append(ref)
                if git_review.is_ancestor(root, commit, tip):
                    return
    if not tips:
        raise RefusedError(f"policy rule 'branches': none of the allowed branches ({', '.join(policy.branches)}) "
                           "exists here; fetch them first")
    raise RefusedError(f"policy rule 'branches': {model} {version} was made at {commit[:12]}, which is not on "
                       f"{' or '.join(policy.branches)}; merge it there and release a new version")


def policy_gate(ctx) -> dict[str, str]:
    """The promotion gate (gates.GATES): every rule of the project's policy, in order. Returns
    {`policy`: the rules checked} for the tag message, {} without a policy. RefusedError (5) naming
    the first rule that fails."""
    policy = ctx.project.config.policy
    if policy == PolicySettings():
        return {}
    events = ctx.registry.events(ctx.model)
    version = ctx.version.version
    check_order(policy, events, ctx.model, version, ctx.stage, ctx.now)
    check_min_time(policy, events, ctx.model, version, ctx.stage, ctx.now)
    check_branches(policy, ctx.project.root, ctx.version.commit, ctx.model, version)
    rules = [name for name, on in (("stage_order", policy.previous_stage(ctx.stage)),
                                   ("min_time", dict(policy.min_time).get(ctx.stage)),
                                   ("branches", policy.branches)) if on]
    return {"policy": ", ".join(rules) + " ok"} if rules else {}
