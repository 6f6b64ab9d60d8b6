"""Registry state, recomputed from tags on every call (nothing cached on disk, nothing stale).

Pure: takes the `TagRef`s that `git.list_tags` read in one pass and answers version and stage
queries with GTO's rules (see `Registry`). `at` limits a query to events at or before a moment.
Without `at` every event counts, whatever its date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from weightops.errors import NotFoundError
from weightops.core.refs import TagRef
from weightops.registry.fold import Fold as _Fold
from weightops.registry.records import Event, Version
from weightops.registry.tags import Kind, normalize_version, try_parse_tag, version_lookalike


class Registry:
    """Every model's versions and stage events, from one list of tags, with GTO's semantics.

    The rules are GTO's (gto/base.py, gto/tag.py), so `gto show` and weightops name the same
    holder for every stage in every state, including tags weightops did not write:
    - only annotated tags count; a lightweight GTO-style tag is ignored (`lightweight`), as GTO
      and DVC ignore it. The plain `v1.2.0` style is weightops' own (GTO never reads it), so a
      lightweight plain version tag still counts (`invisible` lists every plain version tag);
    - events are taken in tagger-time order, ties in tag-name order (GTO sorts `git tag` output
      by time, stably); counters are names, not order;
    - a version is active while its newest registration is newer than its newest
      deregistration (`NAME@vX!`; on a tie the deregistration wins);
    - a stage tag belongs to the version registered on its commit (whenever it was registered,
      even if deregistered since); on a commit with no version, GTO counts the tag as its own
      unregistered version (named by the commit), which a later unassignment cannot clear;
    - a stage's holder is, among active versions whose newest event for that stage is an
      assignment (a tie goes to the unassignment), the one assigned most recently; ties go to
      the version registered earlier;
    - a model is deprecated while its newest event is a deprecation (`NAME@deprecated`).
    """

    def __init__(self, refs: Iterable[TagRef], default_model: str | None = None,
                 commit_times: Callable[[list[str]], dict[str, int]] | None = None) -> None:
        """`refs`: tags as `git.list_tags` reads them (any iterable, read once); tags outside the grammar are kept in
        `ignored`. `default_model` owns the plain `v1.2.0` tags. `commit_times` (commit ids ->
        committer dates in Unix seconds) is asked only where GTO dates an event by its commit:
        a deprecation as a model's newest tag, a stage tag on a commit with no version.
        Raises nothing: a registry is whatever the tags say."""
        self.default_model = default_model
        self._commit_times = commit_times
        self.ignored: list[str] = []      # tags outside the grammar (not registry tags)
        self.lightweight: list[str] = []  # GTO-style tags without a tag object: GTO ignores them
        self.invisible: list[str] = []    # plain `v1.2.0` version tags: GTO and DVC never read them
        self._events: dict[str, list[Event]] = {}
        self._raw: dict[str, list[tuple]] = {}    # model -> (time, name, TagRef, Tag), read order
        for ref in refs:
            tag = try_parse_tag(ref.name)
            if tag is None:
                self.ignored.append(ref.name)
                continue
            model = tag.model or default_model
            if model is None:
                self.ignored.append(ref.name)
                continue
            if tag.model is None:
                self.invisible.append(ref.name)
            elif not ref.annotated:
                self.lightweight.append(ref.name)
                continue
            self._raw.setdefault(model, []).append((ref.time, ref.name, ref, tag))
        self._folds: dict[str, _Fold] = {}
        for model, raw in self._raw.items():
            raw.sort()   # by (time, name), GTO's order: names are unique, so nothing after them decides
            fold = _Fold(model, raw, commit_times)
            self._folds[model] = fold
            self._events[model] = fold.events
        self.conflicts = [c for f in self._folds.values() for c in f.conflicts]
        self.ambiguous = bool(self.conflicts)

    def _fold(self, model: str, at: int | None = None) -> "_Fold":
        fold = self._folds.get(model) or _Fold(model, [], None)
        if at is None or not fold.events or fold.events[-1].time <= at:
            return fold
        return _Fold(model, [r for r in self._raw[model] if r[0] <= at], self._commit_times)

    # ---- models and versions ----
    def models(self) -> list[str]:
        """Every model with an event, sorted (DVC's `dir:name` spelling for nested ones)."""
        return sorted(self._events)

    def deprecation(self, model: str, at: int | None = None) -> Event | None:
        """The `NAME@deprecated` tag in force (the model's newest event), or None."""
        return self._fold(model, at).deprecated

    def is_deprecated(self, model: str) -> bool:
        """Whether `model` is deprecated now (GTO's `NAME@deprecated` is its newest event)."""
        return self.deprecation(model) is not None

    def versions(self, model: str) -> list[Version]:
        """Active (registered, not deregistered) versions, newest first (SemVer precedence);
        [] for an unknown model."""
        return sorted(self._fold(model).active_versions(), key=lambda v: v.semver, reverse=True)

    def deregistration(self, model: str, version: str) -> Event | None:
        """The `NAME@vX!` tag that deregistered `version`, when it is not active now."""
        return self._fold(model).deregistered.get(normalize_version(version))

    def version(self, model: str, version: str) -> Version:
        """The active registration of `version` (`v1.2.0` or `1.2.0`) of `model`. Raises
        NotFoundError (exit 3) when it was never registered or was deregistered (naming the
        deregistration tag, or a tag that looks like the version but is outside GTO's grammar),
        TagError (exit 2) when `version` is not SemVer."""
        version = normalize_version(version)
        fold = self._fold(model)
        found = fold.versions.get(version)
        if found is None or version in fold.deregistered:
            gone = fold.deregistered.get(version)
            if gone is not None:
                raise NotFoundError(f"version {version} of '{model}' was deregistered by {gone.tag} ({gone.when}); "
                                    "GTO and weightops no longer serve it")
            known = ", ".join(v.version for v in self.versions(model)[:5]) or "none"
            typo = next((name for name, meant in self.lookalikes().items()
                         if meant.rpartition("@")[2] == version and meant.rpartition("@")[0] in ("", model.replace(":", "="))), None)
            hint = (f"; tag '{typo}' is not a version tag (versions are tagged {version}, with the `v`): "
                    f"release it with `weightops release {version}`") if typo else ""
            raise NotFoundError(f"model '{model}' has no version {version} (known: {known}){hint}")
        return found

    def latest(self, model: str, pre: bool = False) -> Version:
        """The newest release (SemVer precedence). Pre-releases (`v1.4.0-rc.1`) count only with
        `pre`: SemVer's `latest` is the newest release, as package managers read it.
        NotFoundError (exit 3) when there is none."""
        versions = self.versions(model)
        if not versions:
            raise NotFoundError(f"model '{model}' has no versions yet; release one with `weightops release v1.0.0`")
        if pre:
            return versions[0]
        releases = [v for v in versions if not v.semver.pre]
        if not releases:
            raise NotFoundError(f"model '{model}' has only pre-releases ({', '.join(v.version for v in versions[:3])}); "
                                "name one, or pass --pre to include pre-releases in 'latest'")
        return releases[0]

    def find_version(self, model: str, version: str) -> Version | None:
        """The version's newest registration, active or deregistered, or None."""
        return self._fold(model).versions.get(normalize_version(version))

    def versions_at(self, model: str, commit: str) -> list[Version]:
        """Every version (active or not) registered on `commit`: GTO allows one."""
        return [v for v in self._fold(model).versions.values() if v.commit == commit]

    # ---- events and stages ----
    def events(self, model: str, *, stage: str | None = None, at: int | None = None) -> list[Event]:
        """`model`'s events in GTO's order (tagger time, then tag name), oldest first; with
        `stage`, only that stage's assignments and unassignments; with `at` (Unix seconds),
        only those tagged by then. A new list; [] for an unknown model."""
        result = self._events.get(model, [])
        if stage is not None:
            result = [e for e in result if e.stage == stage]
        if at is not None:
            result = [e for e in result if e.time <= at]
        return list(result)

    def stage_event(self, model: str, stage: str, at: int | None = None) -> Event | None:
        """The assignment that holds `stage` (GTO's holder, see the class), or None. Its
        `version` is None when GTO counts the tag as an unregistered version of its commit."""
        return self._fold(model, at).holders().get(stage)

    def stages(self, model: str, at: int | None = None) -> dict[str, Event]:
        """Every stage currently held, stage -> assignment."""
        return dict(sorted(self._fold(model, at).holders().items()))

    def labelled(self, model: str, stage: str, at: int | None = None) -> list[Event]:
        """Assignments still in force for `stage` on active versions, newest first: what an
        unassignment must clear so no reader falls back to an older one."""
        return self._fold(model, at).labelled(stage)

    def why_empty(self, model: str, stage: str, at: int | None = None) -> str:
        """Why no version holds `stage`, in a user's words."""
        fold = self._fold(model, at)
        history = [e for e in fold.events if e.stage == stage]
        if not history:
            return "it was never assigned" + (" by then" if at is not None else "")
        gone = sorted({e.version for e in history if e.version in fold.deregistered
                       and fold.stage_active(e.version, stage)})
        if gone:
            tags = ", ".join(fold.deregistered[v].tag for v in gone)
            return f"the version(s) assigned to it were deregistered ({tags})"
        return "it was unassigned"

    def fallback_note(self, model: str, stage: str, at: int | None = None) -> str | None:
        """When a stage answers an older assignment because newer ones were undone, say why."""
        fold = self._fold(model, at)
        holder = fold.holders().get(stage)
        if holder is None:
            return None
        newer = [e for e in fold.events if e.stage == stage and e.kind is Kind.ASSIGN
                 and (e.time, e.tag) > (holder.time, holder.tag) and e.version != holder.version]
        if not newer:
            return None
        last = newer[-1]
        if last.version in fold.deregistered:
            why = f"{last.version} was deregistered by {fold.deregistered[last.version].tag}"
        else:
            why = f"{last.version or last.commit[:12]} was unassigned from it"
        return f"'{stage}' falls back to {holder.version or holder.commit[:12]} ({holder.tag}): {why}"

    def previous_holder(self, model: str, stage: str) -> str | None:
        """The version that held `stage` before the current holder (for rollback): the newest
        earlier assignment to another version that is still active."""
        fold = self._fold(model)
        current = fold.holders().get(stage)
        current_version = current.version if current else None
        for e in reversed([e for e in fold.events if e.stage == stage]):
            if current is not None and (e.time, e.tag) >= (current.time, current.tag):
                continue
            if e.kind is Kind.ASSIGN and e.version and e.version != current_version \
                    and e.version not in fold.deregistered:
                return e.version
        return None

    def stage_names(self, model: str) -> set[str]:
        """Every stage a tag of `model` has named (GTO may use stages the config lacks)."""
        return {e.stage for e in self._events.get(model, []) if e.stage}

    def lookalikes(self) -> dict[str, str]:
        """Tags outside the grammar that look like versions -> the tag they were meant to be
        (`1.2.0` -> `v1.2.0`): never read as versions, but named so a user learns why."""
        found = {name: version_lookalike(name) for name in self.ignored}
        return {name: meant for name, meant in found.items() if meant}

    def next_counter(self, model: str) -> int:
        """GTO's next counter: one more than the highest of the model's annotated tags."""
        counters = [e.counter for e in self._events.get(model, []) if e.counter]
        return max(counters, default=0) + 1

    def newest_time(self, model: str) -> int:
        """The newest tagger time (Unix seconds) among `model`'s tags, 0 when it has none."""
        return max((e.time for e in self._events.get(model, [])), default=0)


def tag_time(registry: Registry, model: str, now: int) -> int:
    """The tagger date for a new tag of `model` (Unix seconds): the later of `now` and one
    second after the model's newest tag, so every reader that orders by whole-second tagger
    time (GTO, DVC) sees the order the counters give."""
    newest = registry.newest_time(model)
    return max(now, newest + 1) if newest else now
