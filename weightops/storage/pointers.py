"""DVC's files, read without DVC: `dvc.yaml` artifacts, `.dvc` pointers, `dvc.lock` outs and
`.dvc/config` remotes. The only module that knows their layout. Pure functions over text.
"""

from __future__ import annotations

import configparser
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


@dataclass(frozen=True)
class Pointer:
    """What DVC recorded for one output: the object id in the cache/remote."""

    path: str           # repo-relative
    md5: str            # `<hex>` or `<hex>.dir` for a directory
    size: int | None
    source: str         # the .dvc or dvc.lock file it came from
    legacy: bool = False  # DVC 2 layout (md5 of dos2unix text; no files/md5/ prefix)
    nfiles: int | None = None
    remote: str | None = None   # the out's own `remote:` (wins over the default remote, as in DVC)
    # Cloud versioning (`version_aware`/`worktree` remotes): remote name -> {"version_id", "etag"}
    # as `dvc push` records them under the out's `cloud:`.
    cloud: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")

    def cloud_version(self, remote: str) -> dict | None:
        """`{"version_id", "etag"}` recorded for `remote` by a cloud-versioned push, else None."""
        entry = self.cloud.get(remote)
        return entry if isinstance(entry, dict) and entry.get("version_id") else None

    def object_path(self) -> str:
        """The object's path under a remote, in DVC 3's layout (`files/md5/ab/cdef...`)."""
        prefix = "" if self.legacy else "files/md5/"
        return f"{prefix}{self.md5[:2]}/{self.md5[2:]}"


def load_yaml(text: bytes | str | None, what: str) -> object:
    return safe_load(text, what)


def safe_join(base: str, rel: str) -> str:
    """Join a path from a DVC file onto its directory; refuse anything that leaves the repo."""
    if not isinstance(rel, str) or not rel or "\0" in rel or "\n" in rel or "\r" in rel:
        raise UsageError(f"invalid path {rel!r} in a DVC file")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or rel.startswith("\\"):
        raise UsageError(f"path '{rel}' is absolute; DVC paths must stay inside the repository")
    joined = posixpath.normpath(posixpath.join(base, rel.replace("\\", "/")))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        raise UsageError(f"path '{rel}' escapes the repository")
    return joined


def stay_inside(path: str | os.PathLike, root: str | os.PathLike, what: str) -> Path:
    """`path` (lexically inside `root`) with its symlinks resolved; refuse it when a symlink
    takes it out of `root` (a weights file linked to /etc/passwd, a destination linked
    elsewhere). Issue 10."""
    real, base = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if real != base and base not in real.parents:
        raise RefusedError(f"{what} '{path}' leads through a symlink to {real}, outside {base}; refusing it")
    return real


def parse_artifacts(text: bytes | str | None, dvcyaml: str = "dvc.yaml") -> dict[str, Artifact]:
    """The `artifacts:` section of one dvc.yaml, keyed by artifact id."""
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


def dvcyaml_for(model: str) -> str:
    """`dir:name` is declared in `dir/dvc.yaml`; a plain name in the root `dvc.yaml`."""
    if ":" in model:
        return posixpath.join(model.split(":", 1)[0], "dvc.yaml")
    return "dvc.yaml"


def _out_pointer(out: dict, path: str, source: str) -> Pointer:
    md5 = out.get("md5")
    if not isinstance(md5, str) or len(md5.split(".")[0]) != 32:
        raise PointerError(f"{source}: output '{path}' has no md5; run `dvc commit` or `dvc repro`")
    size = out.get("size")
    nfiles = out.get("nfiles")
    remote = out.get("remote")
    cloud = out.get("cloud")
    return Pointer(path=path, md5=md5, size=int(size) if isinstance(size, int) else None,
                   source=source, legacy=out.get("hash") != "md5",
                   nfiles=int(nfiles) if isinstance(nfiles, int) else None,
                   remote=remote if isinstance(remote, str) and remote else None,
                   cloud={str(k): v for k, v in cloud.items() if isinstance(v, dict)} if isinstance(cloud, dict) else {})


def out_remote(text: bytes | str | None, dvcyaml: str, want: str) -> str | None:
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


def pointer_from_dvcfile(text: bytes | str, dvcfile: str, want: str | None = None) -> Pointer:
    """A `.dvc` file's single out (`want`, repo-relative, picks one if there are several)."""
    doc = load_yaml(text, dvcfile)
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or not outs:
        raise PointerError(f"{dvcfile} has no 'outs'; is it a DVC pointer file?")
    base = posixpath.dirname(dvcfile)
    for out in outs:
        if not isinstance(out, dict) or not isinstance(out.get("path"), str):
            raise PointerError(f"{dvcfile}: an out has no 'path'")
        path = safe_join(base, out["path"])
        if want is None or path == want:
            return _out_pointer(out, path, dvcfile)
    raise NotFoundError(f"{dvcfile} does not track '{want}'")


def pointer_from_lock(text: bytes | str | None, lockfile: str, want: str) -> Pointer | None:
    """The out `want` (repo-relative) among every stage's outs in a dvc.lock, or None."""
    doc = load_yaml(text, lockfile)
    if not isinstance(doc, dict):
        return None
    stages = doc.get("stages") or {}
    if not isinstance(stages, dict):
        raise PointerError(f"{lockfile}: 'stages' must be a mapping")
    base = posixpath.dirname(lockfile)
    for stage in stages.values():
        for out in (stage or {}).get("outs") or [] if isinstance(stage, dict) else []:
            if isinstance(out, dict) and isinstance(out.get("path"), str):
                if safe_join(base, out["path"]) == want:
                    return _out_pointer(out, want, lockfile)
    return None


def lock_lineage(text: bytes | str | None, lockfile: str, want: str) -> dict:
    """For the stage that outputs `want`: its deps' md5s and its params, from dvc.lock."""
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
    name: str
    url: str            # as configured; a relative local path is relative to .dvc/
    options: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    @property
    def is_local(self) -> bool:
        return "://" not in self.url or self.url.startswith("file://")

    @property
    def cloud_versioned(self) -> bool:
        """A `version_aware` or `worktree` remote: objects sit at their repo-relative path and
        are told apart by the bucket's object versions, not by md5 paths."""
        opts = self.options or {}
        return any(str(opts.get(k, "")).strip().lower() in ("true", "1", "yes", "on")
                   for k in ("version_aware", "worktree"))


def parse_dvc_config(*texts: bytes | str | None) -> tuple[str | None, dict[str, Remote]]:
    """`.dvc/config` then `.dvc/config.local` (later wins): (default remote, remotes by name)."""
    default = None
    remotes: dict[str, dict] = {}
    for text in texts:
        if not text:
            continue
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text)
        except configparser.Error:
            raise PointerError(".dvc/config is not a valid config file; check it with `dvc config -l`") from None
        for section in parser.sections():
            key = section.strip().strip("'").strip()  # DVC writes ['remote "name"']
            if key == "core" and parser.has_option(section, "remote"):
                default = parser.get(section, "remote").strip()
            elif key.startswith("remote"):
                name = key[len("remote"):].strip().strip('"').strip("'")
                remotes.setdefault(name, {}).update(dict(parser.items(section)))
    return default, {n: Remote(n, o.get("url", ""), o) for n, o in remotes.items() if o.get("url")}


def object_rel(remote: Remote, pointer: Pointer) -> str:
    """Where the object sits under the remote: `files/md5/ab/cdef..` (content-addressed), or
    the out's repo-relative path on a cloud-versioned remote (as `dvc push` lays them out)."""
    return pointer.path if remote.cloud_versioned else pointer.object_path()


def object_url(remote_url: str, pointer: Pointer, remote: Remote | None = None) -> str:
    """The object's URL as `dvc.api.get_url` prints it: remote URL + `/files/md5/ab/cdef..`."""
    rel = object_rel(remote, pointer) if remote is not None else pointer.object_path()
    return remote_url.rstrip("/") + "/" + rel
