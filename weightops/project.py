"""A weightops project: a git repository (work tree or bare) plus what its commits declare.

Reads git objects only (no DVC import, no checkout), so it works in a bare clone and is fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
import threading
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from weightops.core import git
from weightops.core.git_tags import TagListing, stage_scope
from weightops.core.gitdir import is_url, partial_registry
from weightops.model.attached import note_specs, pick_card, verified_by
from weightops.core.config import CONFIG_FILE, Settings, parse_config
from weightops.errors import NotFoundError, RefusedError, UsageError
from weightops.storage.dvc_config import dvc_remotes
from weightops.storage.pointers import (Artifact, PointerError, Pointer, Remote, dvc_root_candidates, dvcyaml_for,
                                        object_url, model_artifacts, out_remote, parse_artifacts, pointer_in_dvcfile,
                                        require_served, pointer_from_dvcfile, pointer_from_lock, load_yaml)
from weightops.registry.state import Registry
from weightops.registry.tags import model_to_tag, recreate_hint, validate_model_name, validate_stage


@dataclass(frozen=True)
class Located:
    """What one commit says about one model: its declaration, DVC pointer and card. `card` is
    None for a version without one (released before weightops): its bytes are checked by the
    pointer's MD5 and size. `card_source` says where the card came from (model/attached.py:
    `commit`, or the notes ref of an attached card; None without a card)."""

    artifact: Artifact
    pointer: Pointer
    card: dict | None
    commit: str
    dvc_root: str = ""   # repo-relative folder of the DVC project (holding `.dvc/`); "" at the top
    card_source: str | None = "commit"

    @property
    def verified_by(self) -> str:
        """`sha256` (the card's) or `dvc-md5` (no card: DVC's MD5 and size)."""
        return verified_by(self.card)


_WARNED: set[str] = set()


def _warned(registry: Registry) -> Registry:
    """Say once per process which lightweight GTO-style tags are ignored, as GTO and DVC
    ignore them: a rollback written with a plain `git tag NAME#STAGE#N` must not pass silently."""
    new = [t for t in registry.lightweight if t not in _WARNED]
    if new:
        import logging   # only here: importing logging costs resolve a few percent of its time

        _WARNED.update(new)
        shown = ", ".join(new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
        # One hint per kind: a version tag is rewritten by `release`, a stage tag by `promote`.
        hints = list(dict.fromkeys(recreate_hint(t) for t in new))
        logging.getLogger(__name__).warning(
            "warning: ignoring lightweight tag(s) %s: GTO and DVC read only annotated tags; %s",
            shown, "; ".join(hints))
    return registry


class Project:
    """A git repository (work tree or bare) read as a weightops project: its settings,
    declared models, registry (from tags) and what each commit declares (`locate`). Reads
    git objects only (no DVC import, no checkout); objects are read once per Project."""

    def __init__(self, path: str | os.PathLike = ".") -> None:
        """Open the git repository (work tree or bare) at or above `path`. UsageError (2) for a
        URL (only reads take one: see `opening.open_project`), NotFoundError (3) when there is none."""
        if is_url(path):
            raise UsageError(f"--repo {path} is a URL, and this command needs a local clone; "
                             f"run it in one (git clone {path})")
        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"repository path '{path}' does not exist")
        self.git_dir, self.bare, top = git.locate_repo(path)
        self.root = self.git_dir if self.bare else top
        self._blobs: dict[str, bytes | None] = {}
        self._reader: git.BlobReader | None = None   # open inside `reading()`, for its thread only
        self._reader_thread: int | None = None
        self._dvc_roots: dict[str, str] = {}   # commit -> the DVC project folder `locate` found

    @cached_property
    def partial(self) -> str | None:
        """Why this clone may hold only part of the registry's tags (shallow, or made without
        tags), ending in the git command that completes it; None for a full clone."""
        return partial_registry(self.git_dir)

    def warn_partial(self) -> None:
        """Say once per process and repository that its tags may be a partial registry
        (read-only commands still answer; writes refuse: `require_full_registry`)."""
        if self.partial and str(self.git_dir) not in _WARNED:
            import logging

            _WARNED.add(str(self.git_dir))
            logging.getLogger(__name__).warning("warning: %s", self.partial)

    def require_full_registry(self, action: str) -> None:
        """Before a write decided from the tags (`action`, e.g. "promote"): RefusedError (5)
        in a shallow or tagless clone, whose stages may be some other version than the registry's."""
        if self.partial:
            raise RefusedError(f"refusing to {action}: {self.partial}")

    def blobs(self, specs: list[str]) -> dict[str, bytes | None]:
        """`REV:PATH` specs -> contents (bytes, None where missing), batched; each object is
        read once per Project. GitError (1) when git fails."""
        missing = [s for s in specs if s not in self._blobs]
        if missing:
            reader = self._reader if self._reader_thread == threading.get_ident() else None
            found = reader.read(missing) if reader else git.read_blobs(self.root, missing)
            self._blobs.update(found)
        return {s: self._blobs[s] for s in specs}

    @cached_property
    def config(self) -> Settings:
        """The work tree's weightops.yaml, or HEAD's in a bare repository (defaults when
        there is none). UsageError (2) for a malformed or misspelled one (core/config.py)."""
        if not self.bare and (self.root / CONFIG_FILE).is_file():
            return parse_config((self.root / CONFIG_FILE).read_bytes())
        head = git.head(self.root)
        return parse_config(git.read_blob(self.root, head, CONFIG_FILE) if head else None)

    @cached_property
    def _root_dvc_yaml(self) -> bytes | None:
        """The root dvc.yaml's bytes: the work tree's, else HEAD's; None without one."""
        if not self.bare and (self.root / "dvc.yaml").is_file():
            return (self.root / "dvc.yaml").read_bytes()
        head = git.head(self.root)
        return git.read_blob(self.root, head, "dvc.yaml") if head else None

    @cached_property
    def declared_models(self) -> tuple[str, ...]:
        """Models the root dvc.yaml declares under `artifacts:` (work tree, else HEAD), in
        file order: `type: model` and untyped artifacts only, as DVC and GTO read the type (a
        `type: dataset` is not a model); () without one. PointerError (1) for a malformed dvc.yaml."""
        text = self._root_dvc_yaml
        return tuple(model_artifacts(text)) if text else ()

    @cached_property
    def non_models(self) -> frozenset[str]:
        """Artifacts the root dvc.yaml declares with another type than model (`type: dataset`):
        GTO may tag them, and weightops leaves them out of what it lists and checks."""
        text = self._root_dvc_yaml
        return frozenset(n for n, a in parse_artifacts(text).items() if not a.is_model) if text else frozenset()

    def models_in(self, registry: Registry) -> list[str]:
        """The registry's models (names its tags use), without the artifacts dvc.yaml declares as
        something else than a model (`non_models`)."""
        return [m for m in registry.models() if m not in self.non_models]

    @cached_property
    def default_model(self) -> str | None:
        """The model commands mean without --model: weightops.yaml's `model:`, else the only
        model dvc.yaml declares, else None."""
        if self.config.default_model:
            return self.config.default_model
        arts = self.declared_models
        return arts[0] if len(arts) == 1 else None

    def model(self, name: str | None) -> str:
        """The model a command means: the one named, else the project's default. Raises
        UsageError (exit 2) when several are declared, NotFoundError (exit 3) when none is."""
        if name:
            return validate_model_name(name)
        if self.default_model:
            return self.default_model
        if not self.declared_models and not self._nested_dvcyaml():
            dvc = "" if self.bare or (self.root / ".dvc").is_dir() else "no DVC project and "
            raise NotFoundError(f"this repository has {dvc}no model yet (no artifacts: in dvc.yaml); "
                                "run `weightops init` here to set one up, or pass --model NAME")
        candidates = self.declared_models if len(self.declared_models) > 1 else self._nested_models()
        shown = f" ({', '.join(candidates)})" if candidates else ""
        raise UsageError(f"this project has several models{shown} and no default; pass --model NAME "
                         f"or set 'model:' in {CONFIG_FILE}")

    def _nested_models(self) -> tuple[str, ...]:
        """Every model the work tree's dvc.yaml files declare (root first), for an error message;
        () in a bare repository or where one does not parse."""
        if self.bare:
            return ()
        found: list[str] = list(self.declared_models)
        for rel in git.ls_files_matching(self.root, "*/dvc.yaml"):
            path = self.root / rel
            try:
                found += model_artifacts(path.read_bytes(), rel) if path.is_file() else []
            except (OSError, UsageError, PointerError):
                continue
        return tuple(found)

    def _nested_dvcyaml(self) -> bool:
        """Whether a dvc.yaml below the root may declare `dir:name` models (bare: assume so)."""
        if self.bare:
            return True
        return bool(git.ls_files_matching(self.root, "*/dvc.yaml"))

    def registry(self, model: str | None = None, stage: str | None = None,
                 listing: TagListing | None = None) -> Registry:
        """The registry from the tags (GTO's semantics, see registry/state.py). With `model`
        and `stage`, only what answering for that stage needs (its assignments and the
        model's versions): at 50,000 tags, a fraction. `listing`: a `git_tags.TagListing` of
        `any_model_stage_patterns(stage)` already started in this repository, read instead
        of starting one (the resolve CLI starts it before its imports). TagError (2) for a
        bad model or stage name, GitError (1) when git fails."""
        self.warn_partial()
        # The registry reads the tags while git still prints them (git.iter_tags).
        if model is None or stage is None:
            return _warned(Registry(git.iter_tags(self.root), self.default_model, self._commit_times))
        name = model_to_tag(validate_model_name(model))
        stage = validate_stage(stage)
        patterns, in_scope = stage_scope(name, stage, model == self.default_model)
        # Messages only matter where a commit holds several versions (the message then names
        # which one a stage tag means): read them only in that rare case.
        tags = git.iter_tags(self.root, patterns, messages=False)
        if listing is not None and "/" not in name:    # the listing's globs hold this model's tags
            tags = (ref for ref in listing.refs() if in_scope(ref.name))
        try:
            registry = Registry(tags, self.default_model, self._commit_times)
        except git.GitError:
            if listing is None:
                raise
            registry = Registry(git.iter_tags(self.root, patterns, messages=False), self.default_model,
                                self._commit_times)
        if registry.ambiguous:
            registry = Registry(git.iter_tags(self.root, patterns), self.default_model, self._commit_times)
        if registry.is_deprecated(model):
            # Deprecation is "the model's newest event": other stages' tags can undo it.
            return self.registry()
        return _warned(registry)

    def _commit_times(self, commits: list[str]) -> dict[str, int]:
        return git.commit_times(self.root, commits)

    def locate(self, model: str, commit: str, ref: str | None = None) -> Located:
        """Declaration, pointer and card of `model` at `commit`: two batched object reads (a
        third only when the output is tracked by a `.dvc` file not named after it, or the commit
        holds no card file and an attached one is looked for; see model/attached.py).

        The DVC project is the nearest folder at or above the dvc.yaml holding `.dvc/` (a
        monorepo's `dvc init --subdir` project), as `dvc artifacts get` finds it; its
        `.dvc/config` names the remotes. Raises NotFoundError (3) for a missing declaration or
        pointer, RefusedError (5) for outputs weightops does not serve (see storage.pointers)."""
        # Each read names the next (dvc.yaml -> pointer and card): one git process serves them all.
        with self.reading():
            return self._locate(model, commit, ref)

    @contextlib.contextmanager
    def reading(self):
        """Inside the block, every object read goes through one `git cat-file --batch`,
        started on entry: a caller that will `locate` enters it first, so git starts while
        the tags are read. Nested blocks share the outer one's process; another thread's reads
        go on without it (one process answers one request at a time)."""
        if self._reader is not None:
            yield
            return
        with git.BlobReader(self.root) as reader:
            self._reader, self._reader_thread = reader, threading.get_ident()
            try:
                yield
            finally:
                self._reader, self._reader_thread = None, None

    def _locate(self, model: str, commit: str, ref: str | None) -> Located:
        ref = ref or commit[:12]
        dvcyaml = dvcyaml_for(model)
        lockfile = posixpath.join(posixpath.dirname(dvcyaml), "dvc.lock")
        roots = dvc_root_candidates(dvcyaml)
        # .dvc/config rides along: resolve needs the remote next, and it costs no extra process.
        # Below the top a DVC project shows by its `.dvc/config` or `.dvc/.gitignore` (both made by
        # `dvc init`); the top is the default, so nothing more is read for a top-level model.
        configs = [f"{commit}:{posixpath.join(r, '.dvc/config')}" for r in roots]
        markers = [f"{commit}:{posixpath.join(r, '.dvc/.gitignore')}" for r in roots if r]
        first = self.blobs([f"{commit}:{dvcyaml}", f"{commit}:{lockfile}", *configs, *markers])
        text = first[f"{commit}:{dvcyaml}"]
        if text is None:
            raise NotFoundError(f"{ref}: commit {commit[:12]} has no {dvcyaml}; is '{model}' declared there?")
        dvc_root = next((r for r, c, m in zip(roots, configs, markers) if first[c] is not None or first[m] is not None), "")
        self._dvc_roots[commit] = dvc_root
        doc = load_yaml(text, dvcyaml)   # parsed once for the three readings below
        artifacts = parse_artifacts(doc, dvcyaml)
        artifact = artifacts.get(model)
        if artifact is None:
            known = ", ".join(artifacts) or "none"
            raise NotFoundError(f"{ref}: model '{model}' is not declared under artifacts: in {dvcyaml} (declared: {known})")
        second = self.blobs([f"{commit}:{artifact.path}.dvc", f"{commit}:{artifact.card_path}"])
        dvcfile = second[f"{commit}:{artifact.path}.dvc"]
        if dvcfile is not None:
            pointer = pointer_from_dvcfile(dvcfile, f"{artifact.path}.dvc", artifact.path)
        else:
            pointer = pointer_from_lock(first[f"{commit}:{lockfile}"], lockfile, artifact.path,
                                        dvcyaml=doc, dvcyaml_path=dvcyaml)
            if pointer is not None and pointer.remote is None:
                named = out_remote(doc, dvcyaml, artifact.path)
                pointer = replace(pointer, remote=named) if named else pointer
        if pointer is None:
            pointer = self._pointer_in_any_dvcfile(commit, dvc_root, artifact.path)
        if pointer is None:
            raise NotFoundError(f"{ref}: no DVC pointer for {artifact.path} at {commit[:12]} "
                                f"(neither a .dvc file nor an out in {lockfile}); run `dvc repro` or `dvc add` and commit")
        require_served(pointer, ref)
        committed = second[f"{commit}:{artifact.card_path}"]
        # Only a commit without a card file asks for an attached one: carded reads cost nothing more.
        notes = None if committed is not None else list(self.blobs(note_specs(commit)).values())
        card, source = pick_card(model, commit, committed, notes, f"model card {artifact.card_path} at {commit[:12]}")
        return Located(artifact, pointer, card, commit, dvc_root, source)

    def _pointer_in_any_dvcfile(self, commit: str, dvc_root: str, path: str) -> Pointer | None:
        """The out `path` in any `.dvc` file of the DVC project (a `.dvc` file may track several
        outputs under any name): one `git ls-tree` and one batched read."""
        listing = git.ls_tree_names(self.root, commit, dvc_root or ".")
        files = [f for f in listing if f.endswith(".dvc") and "/.dvc/" not in f"/{f}"]
        texts = self.blobs([f"{commit}:{f}" for f in files])
        for f in files:
            found = pointer_in_dvcfile(texts[f"{commit}:{f}"], f, path)
            if found is not None:
                return found
        return None

    def remotes(self, commit: str | None, root: str | None = None) -> tuple[str | None, dict[str, Remote]]:
        """DVC remotes configured at `commit` (`<root>/.dvc/config`, root: the DVC project's
        folder, by default the one `locate` found at that commit) over DVC's system and global
        config, with the work tree's `.dvc/config.local` on top, as DVC itself reads them
        (storage.dvc_config): (default remote name or None, name -> Remote). PointerError (1)
        for a config file that cannot be read."""
        root = self._dvc_roots.get(commit, "") if root is None else root
        config = posixpath.join(root, ".dvc/config")
        committed = self.blobs([f"{commit}:{config}"])[f"{commit}:{config}"] if commit else None
        local = None
        if not self.bare:
            f = self.root / root / ".dvc" / "config.local"
            local = f.read_bytes() if f.is_file() else None
            if commit is None:
                f = self.root / root / ".dvc" / "config"
                committed = f.read_bytes() if f.is_file() else None
        dvc_dir = None if self.bare else self.root / root / ".dvc"
        default, remotes = dvc_remotes(committed, local, dvc_dir=dvc_dir)
        return default, {n: dataclasses.replace(r, base=root) for n, r in remotes.items()}

    def remote(self, commit: str | None, name: str | None = None, root: str | None = None,
               pointer: Pointer | None = None) -> Remote | None:
        """The DVC remote to use at `commit`: `name` (an explicit --remote) first, then the
        output's own `remote:` field, then `core.remote` (.dvc/config, .dvc/config.local on top).
        NotFoundError (exit 3) when the chosen name is not configured."""
        default, remotes = self.remotes(commit, root)
        want = name or (pointer.remote if pointer is not None else None) or default
        if want is None:
            return None
        found = remotes.get(want)
        if found is None:
            raise NotFoundError(f"DVC remote '{want}' is not configured (known: {', '.join(remotes) or 'none'}); "
                                "see `dvc remote list`")
        return found

    def remote_base_url(self, remote: Remote) -> str:
        """`remote`'s URL, with a local path made absolute: a relative one is relative to the
        DVC project's `.dvc/` folder, as DVC resolves it."""
        url = remote.url
        if url.startswith("file://"):
            url = url[len("file://"):]
        if "://" in url:
            return url
        base = (self.root / remote.base / ".dvc") if not self.bare else self.root / remote.base
        return os.path.normpath(os.path.join(base, os.path.expanduser(url)))

    def object_url(self, remote: Remote | None, pointer: Pointer) -> str | None:
        """Where `pointer`'s object sits in `remote` (DVC's layout, see storage.pointers), or
        None without a remote."""
        if remote is None:
            return None
        return object_url(self.remote_base_url(remote), pointer, remote)
