"""DVC's files, read without DVC: `dvc.yaml` artifacts, `.dvc` pointers, `dvc.lock` outs and
the `Remote` record (storage.dvc_config reads DVC's config). The only module that knows their layout. Pure functions over text.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from weightops.errors import NotFoundError, RefusedError, UsageError, WeightopsError
from weightops.registry.tags import validate_model_name
from weightops.core.yamlio import safe_load


class PointerError(WeightopsError):
    """A DVC file that cannot be read as DVC writes it."""


@dataclass(frozen=True)
class Artifact:
    """A model declared under `artifacts:` in a dvc.yaml. `path` is repo-relative."""

    name: str          # DVC's artifact id: `name`, or `dir:name` for a nested dvc.yaml
    path: str
    dvcyaml: str       # repo-relative path of the dvc.yaml that declares it
    type: str = "model"
    desc: str = ""
    labels: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def card_path(self) -> str:
        """The model card: `meta.card` (relative to the dvc.yaml) or `<weights>.card.yaml`."""
        card = self.meta.get("card") if isinstance(self.meta, dict) else None
        if card:
            return safe_join(posixpath.dirname(self.dvcyaml), str(card))
        stem = self.path[:-len(posixpath.splitext(self.path)[1])] if posixpath.splitext(self.path)[1] else self.path
        return f"{stem}.card.yaml"

    @property
    def is_model(self) -> bool:
        """Whether DVC's model of the project counts it as a model: `type: model`, or no type
        (`dvc artifacts` and GTO default an untyped artifact to nothing more specific); a
        `type: dataset` (or any other type) is not."""
        return self.type == "model"


@dataclass(frozen=True)
class Pointer:
    """What DVC recorded for one output: the object id in the cache/remote."""

    path: str           # repo-relative
    md5: str            # `<hex>` or `<hex>.dir` for a directory
    size: int | None
    source: str         # the .dvc or dvc.lock file it came from
    legacy: bool = False  # DVC 2 layout (md5 of dos2unix text; no files/md5/ prefix)
    nfiles: int | None = None
    cached: bool = True   # False: `cache: false`, DVC keeps the bytes in git, not in its cache
    imported_from: str | None = None   # `dvc import` repo or `dvc import-url` URL
    repo_import: bool = False          # `dvc import` from another repository: `dvc push` skips it
    remote: str | None = None   # the out's own `remote:` (wins over the default remote, as in DVC)
    # Cloud versioning (`version_aware`/`worktree` remotes): remote name -> {"version_id", "etag"}
    # as `dvc push` records them under the out's `cloud:`.
    cloud: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_dir(self) -> bool:
        """Whether the out is a directory (DVC's `.dir` object id)."""
        return self.md5.endswith(".dir")

    def cloud_version(self, remote: str) -> dict | None:
        """`{"version_id", "etag"}` recorded for `remote` by a cloud-versioned push, else None."""
        entry = self.cloud.get(remote)
        return entry if isinstance(entry, dict) and entry.get("version_id") else None

    def object_path(self) -> str:
        """The object's path under a remote, in DVC 3's layout (`files/md5/ab/cdef...`)."""
        prefix = "" if self.legacy else "files/md5/"
        return f"{prefix}{self.md5[:2]}/{self.md5[2:]}"


def load_yaml(text: bytes | str | dict | None, what: str) -> object:
    """A DVC file's YAML (`what` names it in errors): core/yamlio.safe_load's rules and
    errors (YamlError, exit 2). A dict is a document parsed already and comes back as is:
    locating a model reads one dvc.yaml three ways, and parsing it once saves resolve time."""
    return text if isinstance(text, dict) else safe_load(text, what)


def safe_join(base: str, rel: str) -> str:
    """Join `rel`, a path from a DVC file, onto `base` (its repo-relative folder) -> a
    normalized repo-relative path. UsageError (2) for an empty, absolute or escaping path."""
    if not isinstance(rel, str) or not rel or "\0" in rel or "\n" in rel or "\r" in rel:
        raise UsageError(f"invalid path {rel!r} in a DVC file")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or rel.startswith("\\"):
        raise UsageError(f"path '{rel}' is absolute; DVC paths must stay inside the repository")
    joined = posixpath.normpath(posixpath.join(base, rel.replace("\\", "/")))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        raise UsageError(f"path '{rel}' escapes the repository")
    return joined


def stay_inside(path: str | os.PathLike, root: str | os.PathLike, what: str,
                also: tuple[str | os.PathLike, ...] = ()) -> Path:
    """`path` (lexically inside `root`) with its symlinks resolved; refuse it when a symlink
    takes it out of `root` and of every folder in `also` (a weights file linked to /etc/passwd,
    a destination linked elsewhere). RefusedError (5) when it leaves."""
    real, base = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    for allowed in (base, *(Path(os.path.realpath(a)) for a in also)):
        if real == allowed or allowed in real.parents:
            return real
    raise RefusedError(f"{what} '{path}' leads through a symlink to {real}, outside {base}; refusing it")


def parse_artifacts(text: bytes | str | dict | None, dvcyaml: str = "dvc.yaml") -> dict[str, Artifact]:
    """The `artifacts:` section (DVC's, dvc.org/doc/user-guide/project-structure/dvcyaml-files)
    of one dvc.yaml at repo path `dvcyaml`, keyed by artifact id (`name`, `dir:name`).
    PointerError (1) for a malformed section, TagError (2) for an invalid name, UsageError (2)
    for a path leaving the repository, YamlError (2) for bad YAML."""
    doc = load_yaml(text, dvcyaml) or {}
    if not isinstance(doc, dict):
        raise PointerError(f"{dvcyaml} is not a mapping")
    arts = doc.get("artifacts") or {}
    if not isinstance(arts, dict):
        raise PointerError(f"{dvcyaml}: 'artifacts' must be a mapping")
    base = posixpath.dirname(dvcyaml)
    result = {}
    for name, spec in arts.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            raise PointerError(f"{dvcyaml}: artifact '{name}' needs a 'path'")
        full = f"{base}:{name}" if base else str(name)
        validate_model_name(full)
        labels = spec.get("labels") or []
        result[full] = Artifact(
            name=full, path=safe_join(base, spec["path"]), dvcyaml=dvcyaml,
            type=str(spec.get("type") or "model"), desc=str(spec.get("desc") or ""),
            labels=tuple(str(x) for x in labels) if isinstance(labels, list) else (),
            meta=spec.get("meta") if isinstance(spec.get("meta"), dict) else {},
        )
    return result


def model_artifacts(text: bytes | str | dict | None, dvcyaml: str = "dvc.yaml") -> dict[str, Artifact]:
    """`parse_artifacts` keeping only the models (`Artifact.is_model`), in file order: what every
    command means by "the models this dvc.yaml declares". Errors as `parse_artifacts`."""
    return {name: a for name, a in parse_artifacts(text, dvcyaml).items() if a.is_model}


def dvcyaml_for(model: str) -> str:
    """`dir:name` is declared in `dir/dvc.yaml`; a plain name in the root `dvc.yaml`."""
    if ":" in model:
        return posixpath.join(model.split(":", 1)[0], "dvc.yaml")
    return "dvc.yaml"


def _out_pointer(out: dict, path: str, source: str, *, cached: bool = True,
                 imported_from: str | None = None, repo_import: bool = False) -> Pointer:
    """DVC's rule (dvc/output.py, dvc_data hash_info): an out with `hash: md5` is DVC 3's (object
    under `files/md5/`); an `md5` without it was written by DVC 2, whose md5 of a text file is
    taken after CRLF -> LF ("md5-dos2unix") and whose objects sit at the remote's top level."""
    md5 = out.get("md5")
    if not isinstance(md5, str) or len(md5.split(".")[0]) != 32:
        if not cached or out.get("cache") is False:
            return Pointer(path=path, md5=str(md5 or ""), size=None, source=source, cached=False)
        raise PointerError(f"{source}: output '{path}' has no md5; run `dvc commit` or `dvc repro`")
    size = out.get("size")
    nfiles = out.get("nfiles")
    remote = out.get("remote")
    cloud = out.get("cloud")
    return Pointer(path=path, md5=md5, size=int(size) if isinstance(size, int) else None,
                   source=source, legacy=out.get("hash") != "md5",
                   nfiles=int(nfiles) if isinstance(nfiles, int) else None,
                   cached=cached and out.get("cache", True) is not False, imported_from=imported_from,
                   repo_import=repo_import,
                   remote=remote if isinstance(remote, str) and remote else None,
                   cloud={str(k): v for k, v in cloud.items() if isinstance(v, dict)} if isinstance(cloud, dict) else {})


def out_remote(text: bytes | str | dict | None, dvcyaml: str, want: str) -> str | None:
    """The `remote:` a dvc.yaml stage gives its out `want` (repo-relative), or None."""
    doc = load_yaml(text, dvcyaml) if text else None
    stages = doc.get("stages") if isinstance(doc, dict) else None
    base = posixpath.dirname(dvcyaml)
    for stage in (stages or {}).values() if isinstance(stages, dict) else ():
        for out in (stage.get("outs") or []) if isinstance(stage, dict) else ():
            if isinstance(out, dict) and len(out) == 1:
                (path, spec), = out.items()
                if isinstance(path, str) and isinstance(spec, dict) and safe_join(base, path) == want:
                    remote = spec.get("remote")
                    return remote if isinstance(remote, str) and remote else None
    return None


def _import_source(doc: dict) -> tuple[str | None, bool]:
    """(source, is a repo import): `dvc import` writes a dep with `repo:`; `dvc import-url`
    writes a `frozen` stage whose dep is the URL or path it copied."""
    for dep in doc.get("deps") or []:
        if not isinstance(dep, dict):
            continue
        repo = dep.get("repo")
        if isinstance(repo, dict) and repo.get("url"):
            return f"{repo['url']} ({dep.get('path')})", True
        if isinstance(dep.get("path"), str) and doc.get("frozen"):
            return dep["path"], False
    return None, False


def pointer_in_dvcfile(text: bytes | str | None, dvcfile: str, want: str) -> Pointer | None:
    """The out `want` (repo-relative) of a `.dvc` file that may track several outputs, or None
    (also for a file that is not a DVC pointer)."""
    if text is None:
        return None
    try:
        return pointer_from_dvcfile(text, dvcfile, want)
    except (NotFoundError, PointerError):
        return None


def dvc_root_candidates(dvcyaml: str) -> list[str]:
    """Folders that may hold the DVC project (`.dvc/`) of a dvc.yaml, nearest first, up to the
    repository's top (""): `dvc init --subdir` makes a project in a subfolder."""
    folder = posixpath.dirname(dvcyaml)
    found = []
    while folder:
        found.append(folder)
        folder = posixpath.dirname(folder)
    return found + [""]


def require_served(pointer: Pointer, ref: str) -> None:
    """Outputs weightops does not serve, refused with the reason (RefusedError, exit 5)."""
    if not pointer.cached:
        raise RefusedError(f"{ref}: {pointer.path} is not cached by DVC (`cache: false` in {pointer.source}): its bytes "
                           "live in git, not in the DVC remote, so there is nothing to pull or push; weightops serves "
                           "DVC-cached outputs only (drop `cache: false`, run `dvc commit` and `dvc push`)")
    if pointer.repo_import:
        raise RefusedError(f"{ref}: {pointer.path} is imported from {pointer.imported_from} (`dvc import`, "
                           f"{pointer.source}); `dvc push` never stores imports in this project's remote, so weightops "
                           "has no object to serve: track a copy here (`dvc add`) or release the model in its own repository")


def pointer_from_dvcfile(text: bytes | str, dvcfile: str, want: str | None = None) -> Pointer:
    """A `.dvc` file's out (DVC's format: `outs:` with `md5`, `size`, `hash`, ...): the first,
    or `want` (repo-relative) among several. PointerError (1) for a file that is not a DVC
    pointer or an out without md5, NotFoundError (3) when `want` is not tracked there."""
    doc = load_yaml(text, dvcfile)
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or not outs:
        raise PointerError(f"{dvcfile} has no 'outs'; is it a DVC pointer file?")
    base = posixpath.dirname(dvcfile)
    imported, repo_import = _import_source(doc)
    for out in outs:
        if not isinstance(out, dict) or not isinstance(out.get("path"), str):
            raise PointerError(f"{dvcfile}: an out has no 'path'")
        path = safe_join(base, out["path"])
        if want is None or path == want:
            return _out_pointer(out, path, dvcfile, imported_from=imported, repo_import=repo_import)
    raise NotFoundError(f"{dvcfile} does not track '{want}'")


def pointer_from_lock(text: bytes | str | None, lockfile: str, want: str, *,
                      dvcyaml: bytes | str | dict | None = None, dvcyaml_path: str = "dvc.yaml") -> Pointer | None:
    """The out `want` (repo-relative) among every stage's outs in a dvc.lock, or None. DVC 2's
    dvc.lock (`md5` without `hash: md5`) is read with DVC 2's rules. `dvcyaml` (its text) tells
    whether the stage declares the out `cache: false`, which dvc.lock does not record (it may
    be the parsed document too). PointerError (1) for malformed `stages` or an out without md5."""
    doc = load_yaml(text, lockfile)
    if not isinstance(doc, dict):
        return None
    stages = doc.get("stages") or {}
    if not isinstance(stages, dict):
        raise PointerError(f"{lockfile}: 'stages' must be a mapping")
    base = posixpath.dirname(lockfile)
    for name, stage in stages.items():
        for out in (stage or {}).get("outs") or [] if isinstance(stage, dict) else []:
            if isinstance(out, dict) and isinstance(out.get("path"), str):
                if safe_join(base, out["path"]) == want:
                    cached = not _uncached_in_dvcyaml(dvcyaml, dvcyaml_path, str(name), out["path"])
                    return _out_pointer(out, want, lockfile, cached=cached)
    return None


def _uncached_in_dvcyaml(text: bytes | str | dict | None, dvcyaml: str, stage: str, path: str) -> bool:
    """Whether dvc.yaml's `stage` declares its out `path` with `cache: false`."""
    if text is None:
        return False
    doc = load_yaml(text, dvcyaml)
    spec = ((doc or {}).get("stages") or {}).get(stage.split("@")[0]) if isinstance(doc, dict) else None
    for out in (spec or {}).get("outs") or [] if isinstance(spec, dict) else []:
        if isinstance(out, dict) and path in out and isinstance(out[path], dict):
            return out[path].get("cache") is False
    return False


def lock_lineage(text: bytes | str | None, lockfile: str, want: str) -> dict:
    """For the stage that outputs `want` (repo-relative): {"deps": path -> md5, "params":
    name -> value, "stage": its name}, from dvc.lock's text (DVC's format); empty values when
    no stage outputs it. YamlError (2) for bad YAML."""
    doc = load_yaml(text, lockfile)
    if not isinstance(doc, dict):
        return {"deps": {}, "params": {}, "stage": None}
    base = posixpath.dirname(lockfile)
    for name, stage in (doc.get("stages") or {}).items():
        if not isinstance(stage, dict):
            continue
        outs = [o.get("path") for o in stage.get("outs") or [] if isinstance(o, dict)]
        if any(isinstance(p, str) and safe_join(base, p) == want for p in outs):
            deps = {safe_join(base, d["path"]): d.get("md5")
                    for d in stage.get("deps") or [] if isinstance(d, dict) and "path" in d}
            params = {}
            for values in (stage.get("params") or {}).values():
                if isinstance(values, dict):
                    params.update(values)
            return {"deps": deps, "params": params, "stage": name}
    return {"deps": {}, "params": {}, "stage": None}


@dataclass(frozen=True)
class Remote:
    """A DVC remote as `.dvc/config` declares it (DVC's `['remote "NAME"']` section):
    `url`, the section's other `options` (strings), and `base`, the repo-relative folder of
    the DVC project whose config names it."""

    name: str
    url: str            # as configured; a relative local path is relative to <base>/.dvc/
    options: dict = field(default_factory=dict, compare=False, hash=False)
    base: str = ""      # repo-relative folder of the DVC project whose config names it

    @property
    def is_s3(self) -> bool:
        """Whether the remote is on S3 (an `s3://` URL)."""
        return self.url.startswith("s3://")

    @property
    def is_local(self) -> bool:
        """Whether the remote is a local folder (a path or a `file://` URL)."""
        return "://" not in self.url or self.url.startswith("file://")

    @property
    def cloud_versioned(self) -> bool:
        """A `version_aware` or `worktree` remote: objects sit at their repo-relative path and
        are told apart by the bucket's object versions, not by md5 paths."""
        opts = self.options or {}
        return any(str(opts.get(k, "")).strip().lower() in ("true", "1", "yes", "on")
                   for k in ("version_aware", "worktree"))


def object_rel(remote: Remote, pointer: Pointer) -> str:
    """Where the object sits under the remote: `files/md5/ab/cdef..` (content-addressed), or
    the out's repo-relative path on a cloud-versioned remote (as `dvc push` lays them out)."""
    if not remote.cloud_versioned:
        return pointer.object_path()
    base = (remote.base or "").strip("/")
    # `dvc push` lays a versioned remote out relative to the DVC project's folder.
    return pointer.path[len(base) + 1:] if base and pointer.path.startswith(base + "/") else pointer.path


def object_url(remote_url: str, pointer: Pointer, remote: Remote | None = None) -> str:
    """The object's URL as `dvc.api.get_url` prints it: remote URL + `/files/md5/ab/cdef..`."""
    rel = object_rel(remote, pointer) if remote is not None else pointer.object_path()
    return remote_url.rstrip("/") + "/" + rel
