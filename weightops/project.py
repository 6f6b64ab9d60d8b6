"""A weightops project: a git repository (work tree or bare) plus what its commits declare.

Reads git objects only (no DVC import, no checkout), so it works in a bare clone and is fast.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from weightops.core import git
from weightops.model.card import parse_card
from weightops.core.config import CONFIG_FILE, Settings, parse_config
from weightops.errors import NotFoundError, UsageError
from weightops.storage.pointers import (Artifact, Pointer, Remote, dvcyaml_for, object_url, parse_artifacts,
                       out_remote, parse_dvc_config, pointer_from_dvcfile, pointer_from_lock)
from weightops.registry.state import Registry
from weightops.registry.tags import model_to_tag, validate_model_name, validate_stage


@dataclass(frozen=True)
class Located:
    """What one commit says about one model: its declaration, DVC pointer and card."""

    artifact: Artifact
    pointer: Pointer
    card: dict
    commit: str


class Project:
    def __init__(self, path: str | os.PathLike = ".") -> None:
        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"repository path '{path}' does not exist")
        self.git_dir, self.bare, top = git.locate_repo(path)
        self.root = self.git_dir if self.bare else top
        self._blobs: dict[str, bytes | None] = {}

    def blobs(self, specs: list[str]) -> dict[str, bytes | None]:
        """`REV:PATH` -> contents, batched; each object is read once per Project."""
        missing = [s for s in specs if s not in self._blobs]
        if missing:
            self._blobs.update(git.read_blobs(self.root, missing))
        return {s: self._blobs[s] for s in specs}

    @cached_property
    def config(self) -> Settings:
        """The work tree's weightops.yaml, or HEAD's in a bare repository."""
        if not self.bare and (self.root / CONFIG_FILE).is_file():
            return parse_config((self.root / CONFIG_FILE).read_bytes())
        head = git.head(self.root)
        return parse_config(git.read_blob(self.root, head, CONFIG_FILE) if head else None)

    @cached_property
    def default_model(self) -> str | None:
        if self.config.default_model:
            return self.config.default_model
        head = git.head(self.root)
        text = None
        if not self.bare and (self.root / "dvc.yaml").is_file():
            text = (self.root / "dvc.yaml").read_bytes()
        elif head:
            text = git.read_blob(self.root, head, "dvc.yaml")
        arts = parse_artifacts(text) if text else {}
        return next(iter(arts)) if len(arts) == 1 else None

    def model(self, name: str | None) -> str:
        """The model a command means: the one named, else the project's default."""
        if name:
            return validate_model_name(name)
        if self.default_model:
            return self.default_model
        raise UsageError("this project has several models and no default; pass --model NAME "
                         f"or set 'model:' in {CONFIG_FILE}")

    def registry(self, model: str | None = None, stage: str | None = None) -> Registry:
        """The registry from the tags. With `model` and `stage`, only what answering for that
        stage needs (its assignments and the model's versions): at 50,000 tags, a fraction."""
        if model is None or stage is None:
            return Registry(git.list_tags(self.root), self.default_model)
        name = model_to_tag(validate_model_name(model))
        stage = validate_stage(stage)
        patterns = [f"refs/tags/{name}#{stage}#*", f"refs/tags/{name}#{stage}!#*", f"refs/tags/{name}#{stage}",
                    f"refs/tags/{name}@*"]
        if model == self.default_model:
            patterns.append("refs/tags/v*")
        # Messages only matter where a commit holds several versions (the message then names
        # which one a stage tag means): read them only in that rare case.
        registry = Registry(git.list_tags(self.root, patterns, messages=False), self.default_model)
        if registry.ambiguous:
            registry = Registry(git.list_tags(self.root, patterns), self.default_model)
        return registry

    def locate(self, model: str, commit: str, ref: str | None = None) -> Located:
        """Declaration, pointer and card of `model` at `commit`: two batched object reads."""
        ref = ref or commit[:12]
        dvcyaml = dvcyaml_for(model)
        lockfile = posixpath.join(posixpath.dirname(dvcyaml), "dvc.lock")
        # .dvc/config rides along: resolve needs the remote next, and it costs no extra process.
        first = self.blobs([f"{commit}:{dvcyaml}", f"{commit}:{lockfile}", f"{commit}:.dvc/config"])
        text = first[f"{commit}:{dvcyaml}"]
        if text is None:
            raise NotFoundError(f"{ref}: commit {commit[:12]} has no {dvcyaml}; is '{model}' declared there?")
        artifacts = parse_artifacts(text, dvcyaml)
        artifact = artifacts.get(model)
        if artifact is None:
            known = ", ".join(artifacts) or "none"
            raise NotFoundError(f"{ref}: model '{model}' is not declared under artifacts: in {dvcyaml} (declared: {known})")
        second = self.blobs([f"{commit}:{artifact.path}.dvc", f"{commit}:{artifact.card_path}"])
        dvcfile = second[f"{commit}:{artifact.path}.dvc"]
        if dvcfile is not None:
            pointer = pointer_from_dvcfile(dvcfile, f"{artifact.path}.dvc", artifact.path)
        else:
            pointer = pointer_from_lock(first[f"{commit}:{lockfile}"], lockfile, artifact.path)
            if pointer is not None and pointer.remote is None:
                named = out_remote(text, dvcyaml, artifact.path)
                pointer = replace(pointer, remote=named) if named else pointer
        if pointer is None:
            raise NotFoundError(f"{ref}: no DVC pointer for {artifact.path} at {commit[:12]} "
                                f"(neither {artifact.path}.dvc nor an out in {lockfile}); run `dvc repro` or `dvc add` and commit")
        card = parse_card(second[f"{commit}:{artifact.card_path}"], f"model card {artifact.card_path} at {commit[:12]}")
        return Located(artifact, pointer, card, commit)

    def remotes(self, commit: str | None) -> tuple[str | None, dict[str, Remote]]:
        """DVC remotes configured at `commit` (`.dvc/config`), with the work tree's
        `.dvc/config.local` on top, as DVC itself reads them."""
        committed = self.blobs([f"{commit}:.dvc/config"])[f"{commit}:.dvc/config"] if commit else None
        local = None
        if not self.bare:
            f = self.root / ".dvc" / "config.local"
            local = f.read_bytes() if f.is_file() else None
            if commit is None:
                f = self.root / ".dvc" / "config"
                committed = f.read_bytes() if f.is_file() else None
        return parse_dvc_config(committed, local)

    def remote(self, commit: str | None, name: str | None = None, pointer: Pointer | None = None) -> Remote | None:
        """The DVC remote to use at `commit`: `name` (an explicit --remote) first, then the
        output's own `remote:` field, then `core.remote` (.dvc/config, .dvc/config.local on top).
        NotFoundError (exit 3) when the chosen name is not configured."""
        default, remotes = self.remotes(commit)
        want = name or (pointer.remote if pointer is not None else None) or default
        if want is None:
            return None
        found = remotes.get(want)
        if found is None:
            raise NotFoundError(f"DVC remote '{want}' is not configured (known: {', '.join(remotes) or 'none'}); "
                                "see `dvc remote list`")
        return found

    def remote_base_url(self, remote: Remote) -> str:
        """A relative local remote is relative to `.dvc/`, as DVC resolves it."""
        url = remote.url
        if url.startswith("file://"):
            url = url[len("file://"):]
        if "://" in url:
            return url
        base = (self.root / ".dvc") if not self.bare else self.root
        return os.path.normpath(os.path.join(base, os.path.expanduser(url)))

    def object_url(self, remote: Remote | None, pointer: Pointer) -> str | None:
        if remote is None:
            return None
        return object_url(self.remote_base_url(remote), pointer, remote)
