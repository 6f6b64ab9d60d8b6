"""Trust: which signers may move a model into which stage, as the deploy host's trusted policy
says.

The policy is the `trust:` section of weightops.yaml plus an allowed-signers file in git's own
format, both read from ONE trusted commit: `--trust-policy REV`, else $WEIGHTOPS_TRUST_POLICY,
else the host's git config `weightops.trustPolicy`, else the default branch of the trusted
remote (`origin/HEAD`; a bare mirror's own HEAD). Never from the commit being promoted: its
author controls that file.

    trust:
      allowed_signers: .weightops/allowed_signers   # "principal [namespaces=\"git\"] keytype key"
      groups:
        release-managers: [alice@example.com]
        team: [alice@example.com, bob@example.com]
      stages:                   # stage -> groups or signers (principals, SHA256:..., gpg:FPR)
        production: [release-managers]
        staging: [team]
      release: [team]           # who may sign version tags (checked for version refs)
      require_signed: [production]   # resolve's default, read from the checkout it runs in
      sign: true                # promote/release/rollback/demote sign unless --no-sign

A stage without a rule accepts any verified signer; `"*"` says so explicitly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from weightops.core import git
from weightops.core.config import CONFIG_FILE, DEFAULT_SIGNERS_FILE, settings_from_doc
from weightops.errors import NotFoundError, RefusedError
from weightops.registry.state import Registry
from weightops.registry.records import Event
from weightops.trust.signing import Verification, Verifier
from weightops.registry.tags import Kind
from weightops.core.yamlio import safe_load

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # warnings reach callers that configure logging; the CLI prints its own


@dataclass(frozen=True)
class Policy:
    """A `trust:` policy as read at a trusted commit `rev`: the allowed-signers text (SSH's
    ssh-keygen ALLOWED SIGNERS format) and its path, named groups, per-stage signer lists, and the
    release rule (None: any verified signer)."""
    rev: str                                  # the trusted commit it was read from
    allowed_signers: str | None               # the allowed-signers file's text at that commit
    signers_path: str = DEFAULT_SIGNERS_FILE
    groups: dict = field(default_factory=dict)   # name -> tuple of entries
    stages: dict = field(default_factory=dict)   # stage -> tuple of entries
    release: tuple[str, ...] | None = None

    def rule(self, stage: str | None) -> tuple[str, tuple[str, ...] | None]:
        """(name of the rule, its entries); entries None means any verified signer."""
        if stage is None:
            return "trust.release", self.release
        return f"trust.stages.{stage}", self.stages.get(stage)

    def allowed(self, stage: str | None, identities: set[str]) -> bool:
        """May a signer known by `identities` (principal, fingerprints) write to `stage` (None: a
        release)? True when the rule lists one of them, a group holding one, or `*`, or when there
        is no rule."""
        _, entries = self.rule(stage)
        if entries is None or "*" in entries:
            return True
        for entry in entries:
            members = self.groups.get(entry, (entry,))
            if identities & set(members):
                return True
        return False

    def lists(self, identities: set[str]) -> bool:
        """Whether any rule or group names one of these identities."""
        named = {e for entries in (*self.groups.values(), *self.stages.values(), self.release or ()) for e in entries}
        return bool(identities & named)

    def describe(self, stage: str | None) -> str:
        """The rule for `stage` in one line: its name, who it allows, and the policy commit (12
        hex)."""
        name, entries = self.rule(stage)
        return f"{name}: {', '.join(entries) if entries is not None else 'any allowed signer'} at {self.rev[:12]}"


@dataclass(frozen=True)
class Skipped:
    """An event the trusted policy does not let weightops obey, and why."""

    tag: str
    signer: str
    reason: str
    rule: str
    unassignment: bool = False

    def message(self) -> str:
        """One line: the skipped tag, why, its signer and the rule."""
        return f"skipped {self.tag}: {self.reason} (signer {self.signer}; rule {self.rule})"

    def to_dict(self) -> dict:
        """The skip as JSON: tag, signer, reason, rule."""
        return {"tag": self.tag, "signer": self.signer, "reason": self.reason, "rule": self.rule}


@dataclass(frozen=True)
class Trusted:
    """The outcome of a trusted stage lookup: the assignment obeyed (None when a trusted
    unassignment is newest) and everything newer that was skipped."""

    event: Event | None
    skipped: tuple[Skipped, ...]
    signer: str | None
    policy_rev: str


# ------------------------------------------------------------------ the policy
def parse_policy(doc: object, rev: str, allowed_signers: str | None = None) -> Policy:
    """Pure: a weightops.yaml document (the trusted commit's) -> Policy.

    Raises RefusedError (5) when it has no `trust:` section, UsageError (2) when the document
    does not match the config schema (core/config.py)."""
    trust = settings_from_doc(doc, f"{CONFIG_FILE} at {rev[:12]}").trust if isinstance(doc, dict) else None
    if trust is None or not trust.configured:
        raise RefusedError(f"the trusted policy at {rev[:12]} has no 'trust:' section in {CONFIG_FILE}; "
                           "add one (see README, 'Trust') or pass --trust-policy REV")
    return Policy(rev=rev, allowed_signers=allowed_signers, signers_path=trust.allowed_signers,
                  groups=dict(trust.groups), stages=dict(trust.stages), release=trust.release)


def policy_rev(project, rev: str | None = None) -> str:
    """The commit the deploy host trusts, as a full commit id: `rev`, else `WEIGHTOPS_TRUST_POLICY`,
    else `git config weightops.trustPolicy`, else the default remote's HEAD/main/master (HEAD in a
    bare repository). NotFoundError (3) for a revision naming no commit; RefusedError (5) when none
    is found."""
    rev = rev or os.environ.get("WEIGHTOPS_TRUST_POLICY") or git.config_get(project.root, "weightops.trustPolicy")
    if rev:
        return git.rev_parse(project.root, rev)
    if project.bare:
        found = git.try_rev_parse(project.root, "HEAD")
    else:
        remote = git.default_remote(project.root)
        found = None
        for candidate in ([f"refs/remotes/{remote}/HEAD", f"refs/remotes/{remote}/main",
                           f"refs/remotes/{remote}/master"] if remote else []):
            found = git.try_rev_parse(project.root, candidate)
            if found:
                break
    if not found:
        raise RefusedError("no trusted policy commit: pass --trust-policy REV, set "
                           "`git config weightops.trustPolicy REV`, or clone from the trusted remote")
    return found


def load_policy(project, rev: str | None = None) -> Policy:
    """The trust policy at the trusted commit (two batched object reads; see `policy_rev`).
    RefusedError (5) when there is no trusted commit, or it has no weightops.yaml or no `trust:`
    section; UsageError (2) when its weightops.yaml does not match the config schema; NotFoundError
    (3) for an unknown `rev`."""
    commit = policy_rev(project, rev)
    # One batched read for the config and the usual signers file; a second only when moved.
    blobs = git.read_blobs(project.root, [f"{commit}:{CONFIG_FILE}", f"{commit}:{DEFAULT_SIGNERS_FILE}"])
    text = blobs[f"{commit}:{CONFIG_FILE}"]
    if text is None:
        raise RefusedError(f"the trusted policy commit {commit[:12]} has no {CONFIG_FILE}; pass --trust-policy REV")
    policy = parse_policy(safe_load(text, f"{CONFIG_FILE} at {commit[:12]}"), commit)
    signers = blobs[f"{commit}:{DEFAULT_SIGNERS_FILE}"] if policy.signers_path == DEFAULT_SIGNERS_FILE \
        else git.read_blob(project.root, commit, policy.signers_path)
    if signers is None:
        log.warning("trusted policy %s has no %s: no SSH signature can verify", commit[:12], policy.signers_path)
    return Policy(commit, signers.decode("utf-8", "replace") if signers is not None else None,
                  policy.signers_path, policy.groups, policy.stages, policy.release)


# ------------------------------------------------------------------ judging events (pure)
def judge(event: Event, verdict: Verification, policy: Policy) -> Skipped | None:
    """None when the event may be obeyed; else why not."""
    stage = event.stage if event.kind in (Kind.ASSIGN, Kind.UNASSIGN) else None
    rule = policy.describe(stage)
    if not verdict.valid:
        why = verdict.problem or "its signature does not verify"
        return Skipped(event.tag, verdict.signer, why if verdict.signed else "the tag is not signed", rule,
                       event.kind is Kind.UNASSIGN)
    if verdict.format == "gpg" and not policy.lists(verdict.identities()):
        # The host's keyring, not the policy, made the GPG signature valid: only a fingerprint
        # the trusted policy names is "an allowed signer", even where a rule says "*".
        return Skipped(event.tag, verdict.signer, f"GPG key {verdict.fingerprint} is not named in the trusted policy",
                       rule, event.kind is Kind.UNASSIGN)
    if not policy.allowed(stage, verdict.identities()):
        what = f"may not assign '{stage}'" if stage else "may not sign releases"
        return Skipped(event.tag, verdict.signer, f"{verdict.signer} {what}", rule, event.kind is Kind.UNASSIGN)
    return None


def select(events: Iterable[Event], verify: Callable[[str], Verification], policy: Policy,
           consistent: Callable[[Event], str | None] = lambda e: None) -> Trusted:
    """Pure given `verify`: the registry's (GTO's) stage semantics over the events the policy
    lets weightops obey. A stage is a label on versions; an unassignment removes it from one
    version; the holder is the newest obeyed assignment whose version no newer obeyed
    unassignment cleared. Events that fail are skipped (and reported), never obeyed.
    Walks newest first and calls `verify` lazily (one git process each)."""
    skipped: list[Skipped] = []
    cleared: set[str] = set()
    cleared_by: str | None = None
    for event in sorted(events, key=lambda e: e.sort_key, reverse=True):
        if event.kind not in (Kind.ASSIGN, Kind.UNASSIGN):
            continue
        key = event.version or event.commit
        if event.kind is Kind.ASSIGN and key in cleared:
            continue  # a newer, obeyed unassignment removed this label; nothing to verify
        verdict = verify(event.tag)
        problem = judge(event, verdict, policy)
        if problem is None and event.kind is Kind.ASSIGN:
            reason = consistent(event)
            if reason:
                problem = Skipped(event.tag, verdict.signer, reason, policy.describe(event.stage))
        if problem is not None:
            log.warning("%s", problem.message())
            skipped.append(problem)
        elif event.kind is Kind.UNASSIGN:
            cleared.add(key)
            cleared_by = cleared_by or verdict.signer
        else:
            return Trusted(event, tuple(skipped), verdict.signer, policy.rev)
    return Trusted(None, tuple(skipped), cleared_by, policy.rev)


# ------------------------------------------------------------------ what resolve, pull, lock, sync call
def trusted_target(project, registry: Registry, model: str, stage: str, at: int | None = None,
                   policy_rev: str | None = None, policy: Policy | None = None) -> tuple[Event, tuple[Skipped, ...]]:
    """The newest assignment of STAGE the trusted policy lets a deploy obey, and the newer ones
    it skipped. Raises RefusedError (exit 5) when none is left, NotFoundError (3) when a
    trusted unassignment or nothing at all holds the stage."""
    found = trusted_stage(project, registry, model, stage, at, policy_rev, policy)
    return found.event, found.skipped


def trusted_stage(project, registry: Registry, model: str, stage: str, at: int | None = None,
                  policy_rev: str | None = None, policy: Policy | None = None,
                  verify_repo: str | os.PathLike | None = None) -> Trusted:
    """The newest assignment of `stage` (at `at`, Unix seconds, when given) that the trust policy
    lets a deploy obey, and what it skipped, as Trusted. `verify_repo`: the repository holding the
    tag objects to verify, when not the project's (a deploy host following a published index
    verifies the index's tags; project is then None and `policy` is given). NotFoundError (3) when
    nothing or a trusted unassignment holds the stage; RefusedError (5) when every assignment was
    skipped."""
    events = registry.events(model, stage=stage, at=at)
    if not events:
        raise NotFoundError(f"no version of '{model}' holds stage '{stage}': nothing was ever assigned to it")
    policy = policy or load_policy(project, policy_rev)

    def consistent(e: Event) -> str | None:
        # The signed tag names a commit (and its message a version); a version tag elsewhere
        # (`clf@v1.0.0` beside `v1.0.0`) must not redirect the deploy to other bytes.
        if e.version is None:
            return "the assignment names no version"
        try:
            held = registry.version(model, e.version).commit
        except NotFoundError:
            return f"version {e.version} is not registered"
        return None if held == e.commit else f"version tag {e.version} points at {held[:12]}, not the signed commit {e.commit[:12]}"

    with Verifier(verify_repo or project.root, policy.allowed_signers) as verify:
        found = select(events, verify, policy, consistent)
    if found.event is None:
        # Refused when an assignment was skipped; an empty stage (3) when only unassignments were.
        if any(not s.unassignment for s in found.skipped):
            raise RefusedError(f"no assignment of '{model}' to '{stage}' passes the trust policy at "
                               f"{policy.rev[:12]}; {len(found.skipped)} skipped, newest: {found.skipped[0].message()}",
                               skipped=found.skipped)
        raise NotFoundError(f"no version of '{model}' holds stage '{stage}': it was unassigned"
                            + (f" (signed by {found.signer})" if found.signer else ""))
    return found


def require_trusted_tag(project, event: Event, policy_rev: str | None = None) -> Trusted:
    """For a version or assignment tag named directly: obey it only if it passes, else exit 5."""
    policy = load_policy(project, policy_rev)
    with Verifier(project.root, policy.allowed_signers) as verify:
        verdict = verify(event.tag)
    problem = judge(event, verdict, policy)
    if problem is not None:
        raise RefusedError(f"{event.tag} does not pass the trust policy: {problem.reason} "
                           f"(signer {problem.signer}; rule {problem.rule})", skipped=(problem,))
    return Trusted(event, (), verdict.signer, policy.rev)



def also_trusted_labelled(project, registry: Registry, model: str, stage: str, labelled: list[Event],
                          policy_rev: str | None = None) -> list[Event]:
    """For a signed demote: `labelled` plus the assignments a host requiring signatures still
    obeys because the unassignment that cleared them was skipped (say, signed by someone the
    policy does not allow). Without a trusted policy on this machine, `labelled` as it is."""
    try:
        policy = load_policy(project, policy_rev)
    except RefusedError:
        return labelled
    events = registry.events(model, stage=stage)
    with Verifier(project.root, policy.allowed_signers) as verify:
        verdicts = verify.many([e.tag for e in events if e.annotated])
    labels: dict[str, Event] = {}
    for e in events:   # oldest first: the registry's label semantics over obeyed events only
        verdict = verdicts.get(e.tag)
        if verdict is None or judge(e, verdict, policy) is not None:
            continue
        if e.kind is Kind.ASSIGN:
            labels[e.version or e.commit] = e
        elif e.kind is Kind.UNASSIGN:
            labels.pop(e.version or e.commit, None)
    merged = {e.tag: e for e in [*labelled, *labels.values()]}
    return sorted(merged.values(), key=lambda e: e.sort_key, reverse=True)


# ------------------------------------------------------------------ history and audit
def verify_events(project, events: Iterable[Event], policy_rev: str | None = None,
                  policy: Policy | None = None) -> dict[str, dict]:
    """tag -> {signer, fingerprint, signed, verified, allowed, problem} for each event (one git
    process per annotated tag; lightweight tags are unsigned without asking git). For
    `history --verify` and the audit. Raises as `load_policy` (RefusedError 5 without a trusted
    policy) unless `policy` is given."""
    policy = policy or load_policy(project, policy_rev)
    result: dict[str, dict] = {}
    events = list(events)
    with Verifier(project.root, policy.allowed_signers) as verify:
        verdicts = verify.many([e.tag for e in events if e.annotated])
        for e in events:
            verdict = verdicts.get(e.tag) or Verification(e.tag, False, problem="the tag is not signed")
            problem = judge(e, verdict, policy)
            result[e.tag] = {"signer": verdict.principal or verdict.fingerprint, "fingerprint": verdict.fingerprint,
                             "signed": verdict.signed, "verified": verdict.valid, "allowed": problem is None,
                             "problem": problem.reason if problem else None}
    return result


def annotate_rows(project, model: str, rows: list[dict], policy_rev: str | None = None) -> list[dict]:
    """Add signer / verified / allowed / problem to history rows (matched by tag). Raises as
    `load_policy` (RefusedError 5 without a trusted policy)."""
    registry = project.registry()
    wanted = {r["tag"] for r in rows}
    events = [e for e in registry.events(model) if e.tag in wanted]
    checked = verify_events(project, events, policy_rev)
    blank = {"signer": None, "fingerprint": None, "signed": False, "verified": False, "allowed": False,
             "problem": None}
    return [{**r, **checked.get(r["tag"], blank)} for r in rows]
