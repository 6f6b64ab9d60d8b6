"""GTO's registry state for one model: the fold `Registry` runs over a model's tags.

A port of GTO's rules (gto/base.py, gto/tag.py, gto/registry.py), kept apart from `Registry`
so the rules read in one place; see `Registry`'s docstring for them in words.
"""

from __future__ import annotations

from weightops.registry.records import Event, Version, _message_field
from weightops.registry.tags import Kind


class Fold:
    """GTO's registry state for one model, from its events in (time, name) order."""

    def __init__(self, model: str, raw: list[tuple], commit_times=None) -> None:
        """Fold `raw`: (tagger time, tag name, TagRef, Tag) tuples of one model, sorted by
        (time, name) as GTO reads them. `commit_times` as `Registry`'s. Raises nothing."""
        self.model = model
        self.commit_times = commit_times
        self.versions: dict[str, Version] = {}
        self.registered_at: dict[str, int] = {}      # version -> its newest registration time
        self.order: dict[str, int] = {}              # version key -> creation order (GTO's tie-break)
        self.direct: dict[str, list[Event]] = {}     # version -> registrations and deregistrations
        self.by_commit: dict[str, list[str]] = {}    # commit -> versions registered there, in order
        self.vstages: dict[tuple[str, str], list[Event]] = {}   # (version key, stage) -> events
        self.conflicts: list[tuple[str, str, tuple[str, ...]]] = []
        self.events: list[Event] = []
        # GTO reads every registration and deregistration before any stage tag, so a stage tag
        # belongs to the version registered on its commit whenever that was registered.
        stage_kinds = (Kind.ASSIGN, Kind.UNASSIGN)
        events: list = []     # Events, and (ref, tag) pairs of stage tags to place afterwards
        for time, name, ref, tag in raw:
            if tag.kind in stage_kinds:
                events.append((ref, tag))
                continue
            e = Event(name, tag.kind, model, ref.commit, time, tag.counter, tag.version, None,
                      ref.tagger, ref.annotated, ref.message if ref.annotated else "")
            if tag.kind is not Kind.DEPRECATE:
                self._direct(e)
            events.append(e)
        self.events = [e if type(e) is Event else self._stage(*e) for e in events]
        self.deregistered = {v: [e for e in evs if e.kind is Kind.DEREGISTER][-1]
                             for v, evs in self.direct.items() if not _active(evs, Kind.DEREGISTER)}
        newest = max((e.time for e in self.events), default=None)
        at_newest = [e for e in self.events if e.time == newest]
        self.deprecated = at_newest[-1] if at_newest and all(e.kind is Kind.DEPRECATE for e in at_newest) else None
        if self.deprecated is not None and commit_times is not None:
            # GTO adds an event per version at its commit's date (its "enrichment"); a commit
            # dated at or after the deprecation makes the model active again.
            commits = sorted({e.commit for e in self.events if e.kind is not Kind.DEPRECATE})
            if max(commit_times(commits).values(), default=0) >= self.deprecated.time:
                self.deprecated = None
        self._holders: dict[str, Event] | None = None

    def _direct(self, e: Event) -> None:
        known = self.versions.get(e.version)
        if known is not None and known.commit != e.commit:
            self.conflicts.append((self.model, e.commit, (known.tag, e.tag)))   # a version on two commits
            return
        if e.kind is Kind.REGISTER:
            self.versions[e.version] = Version(self.model, e.version, e.tag, e.commit, e.time, e.annotated,
                                               e.tagger, e.message)
            self.registered_at[e.version] = e.time
        elif known is None:
            return   # GTO reads a deregistration of a version it never saw as a version of its own; not served
        if e.version not in self.order:
            self.order[e.version] = len(self.order)
            held = self.by_commit.setdefault(e.commit, [])
            held.append(e.version)
            if len(held) > 1:
                self.conflicts.append((self.model, e.commit, tuple(self.versions[v].tag for v in held)))
        self.direct.setdefault(e.version, []).append(e)

    def _stage(self, ref, tag) -> Event:
        held = self.by_commit.get(ref.commit, ())
        message = ref.message if ref.annotated else ""
        if not held:
            key, version = f"{ref.commit}/{ref.name}", None    # GTO: an unregistered version of its own
        elif len(held) == 1:
            key = version = held[0]
        else:   # GTO itself fails here; follow the tag message when it names one of them
            named = _message_field(message, "version")
            key = version = named if named in held else max(held, key=lambda v: self.versions[v].semver)
        e = Event(ref.name, tag.kind, self.model, ref.commit, ref.time, tag.counter, version, tag.stage,
                  ref.tagger, ref.annotated, message)
        if key not in self.order:
            self.order[key] = len(self.order)
        self.vstages.setdefault((key, tag.stage), []).append(e)
        return e

    def active_versions(self) -> list[Version]:
        """Versions registered and not deregistered since, in registration order."""
        return [v for name, v in self.versions.items() if name not in self.deregistered]

    def stage_active(self, key: str, stage: str) -> bool:
        """Whether version `key` (a version, or GTO's commit/tag key of an unregistered one) still
        has `stage`: its newest event for the stage is an assignment."""
        return _active(self.vstages.get((key, stage), []), Kind.UNASSIGN)

    def _candidates(self, stage: str | None = None):
        """(stage, holder rank, newest assignment) of every active stage of an active version.
        The rank is GTO's: newest assignment, then the version created first (a registered
        version is created by its newest registration; an unregistered one by its newest event,
        its commit's date included), then the version read first."""
        found = [(key, s, evs) for (key, s), evs in self.vstages.items()
                 if (stage is None or s == stage) and key not in self.deregistered and _active(evs, Kind.UNASSIGN)]
        pseudo = sorted({evs[0].commit for key, _, evs in found if key not in self.registered_at})
        dates = self.commit_times(pseudo) if pseudo and self.commit_times else {}
        for key, s, evs in found:
            # One active event is the assignment itself (the common case: skip the scan).
            newest = evs[0] if len(evs) == 1 else max((e for e in evs if e.kind is Kind.ASSIGN), key=lambda e: e.time)
            created = self.registered_at.get(key)
            if created is None:
                created = max(newest.time, dates.get(newest.commit, 0))
            yield s, (newest.time, -created, -self.order[key]), newest

    def holders(self) -> dict[str, Event]:
        """stage -> the assignment holding it (GTO's rank, see `_candidates`); computed once."""
        if self._holders is None:
            best: dict[str, tuple] = {}
            for stage, rank, event in self._candidates():
                if stage not in best or rank > best[stage][0]:
                    best[stage] = (rank, event)
            self._holders = {s: e for s, (_, e) in best.items()}
        return self._holders

    def labelled(self, stage: str) -> list[Event]:
        """Assignments of `stage` still in force on registered active versions, best rank first."""
        ranked = sorted(self._candidates(stage), key=lambda c: c[1], reverse=True)
        return [e for _, _, e in ranked if e.version is not None]


def _active(events: list[Event], cancel: Kind) -> bool:
    """GTO's `is_active`: the newest event is an addition; at the same second the cancel wins."""
    if len(events) == 1:   # the common case, and every version has one: skip the scans
        return events[0].kind is not cancel
    if not events:
        return False
    newest = max(e.time for e in events)
    return not any(e.time == newest and e.kind is cancel for e in events)
