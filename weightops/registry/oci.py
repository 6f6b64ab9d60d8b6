"""The git registry, mirrored into an OCI registry: each version a ModelPack artifact tagged with
its version (`v1.2.0`), each stage a tag (`production`) on the manifest of its holder.

Git stays the control plane. The manifest of a version is built deterministically from what git
holds at the version's commit (its card, the card's bytes, model, version, commit), so anyone with
the git registry computes the digest a version must have (`expected_digest`): pulling a stage
through OCI asks for that digest, never for the tag, and `audit` compares every tag with it.

Stage tags move only with promote, rollback and demote. A demoted (empty) stage: the tag is
deleted where the registry allows deleting a tag (distribution-spec 1.1); CNCF distribution 2.x
deletes only by digest, which would take the version's manifest and every tag on it, so there the
stage tag points at a small "unassigned" manifest (artifact type UNASSIGNED_TYPE, no weights) that
pullers fail on and weightops reads as "no holder".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from weightops.errors import NotFoundError, UsageError, WeightopsError
from weightops.oci import modelpack
from weightops.oci.client import Client
from weightops.oci.reference import Reference, check_tag, parse
from weightops.project import Located, Project

log = logging.getLogger(__name__)
UNASSIGNED_TYPE = modelpack.UNASSIGNED_TYPE
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
EMPTY_DIGEST = "sha256:" + hashlib.sha256(EMPTY).hexdigest()


@dataclass(frozen=True)
class OciSettings:
    """`oci:` in weightops.yaml: `repository` (REGISTRY/REPOSITORY, `{model}` replaced by the
    model name), `insecure` (plain HTTP to a non-loopback registry), `mount_from` (repositories on
    the same registry to mount blobs from instead of uploading), `pull` (true: `pull STAGE` goes
    through OCI by default)."""

    repository: str | None = None
    insecure: bool = False
    mount_from: tuple[str, ...] = ()
    pull: bool = False

    @classmethod
    def of(cls, project: Project) -> "OciSettings":
        """The settings of the project's weightops.yaml (already schema-checked)."""
        s = project.config.section("oci")
        return cls(s.get("repository"), bool(s.get("insecure", False)), tuple(s.get("mount_from") or ()),
                   bool(s.get("pull", False)))


def repository_for(project: Project, model: str, repository: str | None = None) -> Reference:
    """The OCI repository of `model`: `repository` (argument) or `oci.repository`, `{model}`
    replaced. NotFoundError (3) when neither is set; UsageError (2) for a bad name, or when a
    repository without `{model}` would be shared by a second model."""
    text = repository or OciSettings.of(project).repository
    if not text:
        raise NotFoundError("no OCI repository: pass --oci REGISTRY/REPOSITORY or set `oci: {repository: ...}` "
                            "in weightops.yaml")
    if "{model}" in text:
        text = text.replace("{model}", model.lower().replace(":", "-"))
    elif project.default_model and model != project.default_model:
        raise UsageError(f"OCI repository '{text}' serves the default model '{project.default_model}'; "
                         f"write it with {{model}} (e.g. REGISTRY/models/{{model}}) to publish '{model}' too")
    ref = parse(text)
    if ref.tag or ref.digest:
        raise UsageError(f"'{text}' names a tag or digest; give the repository only (REGISTRY/REPOSITORY)")
    return ref


def client_for(project: Project | None, ref: Reference, plain_http: bool | None = None) -> Client:
    """A registry client: plain HTTP when asked (`plain_http`) or `oci.insecure`, else docker's
    rule (loopback only)."""
    if plain_http is None and project is not None and OciSettings.of(project).insecure:
        plain_http = True
    return Client(ref.registry, plain_http=plain_http)


def card_bytes(project: Project, located: Located) -> bytes:
    """The model card's bytes at the version's commit, exactly as git holds them."""
    path = located.artifact.card_path
    data = project.blobs([f"{located.commit}:{path}"])[f"{located.commit}:{path}"]
    if data is None:
        raise NotFoundError(f"model card {path} not found at {located.commit[:12]}")
    return data


def build_version(project: Project, model: str, version: str, located: Located) -> modelpack.Built:
    """The deterministic ModelPack manifest of one version (see module docstring)."""
    if located.card is None:
        raise NotFoundError(f"{model} {version} has no model card, and its OCI layer digests are the card's "
                            f"SHA-256s; attach one with `weightops card --attach {version}`")
    data = card_bytes(project, located)
    name = Path(located.pointer.path).name
    card_name = Path(located.artifact.card_path).name
    layers = modelpack.layers_from_card(located.card, name, data, card_name)
    return modelpack.build(model=model, version=version, commit=located.commit, card=located.card, layers=layers)


def unassigned(model: str, stage: str) -> tuple[bytes, str]:
    """The manifest a stage tag points at when the stage has no holder, and its digest (pure)."""
    doc = {"schemaVersion": 2, "mediaType": modelpack.MANIFEST_TYPE, "artifactType": UNASSIGNED_TYPE,
           "config": {"mediaType": EMPTY_TYPE, "digest": EMPTY_DIGEST, "size": 2},
           "layers": [{"mediaType": EMPTY_TYPE, "digest": EMPTY_DIGEST, "size": 2}],
           "annotations": {"org.opencontainers.image.title": model, "dev.weightops.stage": stage,
                           "org.opencontainers.image.description":
                               f"stage {stage} of {model} has no version (weightops demote); nothing to serve"}}
    data = json.dumps(doc, separators=(",", ":")).encode()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class OciPublished:
    """What one publish did: the repository, `tags` {tag: manifest digest} written (None: a stage
    tag deleted), blob counts and bytes `uploaded`, blobs `present` (skipped after HEAD) and
    `mounted` (linked from another repository), and versions `skipped` with why."""

    repository: str
    tags: dict = field(default_factory=dict)
    uploaded: int = 0
    blobs_uploaded: int = 0
    present: int = 0
    mounted: int = 0
    skipped: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON answer of `publish --oci --json`."""
        return {"repository": self.repository, "tags": self.tags, "uploaded_bytes": self.uploaded,
                "blobs_uploaded": self.blobs_uploaded, "blobs_present": self.present,
                "blobs_mounted": self.mounted, "skipped": [list(s) for s in self.skipped]}


class _Publisher:
    def __init__(self, project: Project, model: str, target: Reference, client: Client) -> None:
        self.project, self.model, self.target, self.client = project, model, target, client
        self.done = OciPublished(target.name)
        self.sources = self._mount_sources()

    def _mount_sources(self) -> list[str]:
        out = []
        for text in OciSettings.of(self.project).mount_from:
            ref = parse(text)
            if ref.registry == self.target.registry and ref.repository != self.target.repository:
                out.append(ref.repository)
        for other in self.project.registry().models():
            if other == self.model:
                continue
            try:
                ref = repository_for(self.project, other)
            except WeightopsError:
                continue
            if ref.registry == self.target.registry and ref.repository != self.target.repository:
                out.append(ref.repository)
        return list(dict.fromkeys(out))

    def blob(self, digest: str, size: int, chunks, what: str) -> None:
        repo = self.target.repository
        if self.client.blob_size(repo, digest) is not None:
            self.done.present += 1
            return
        for source in self.sources:
            if self.client.blob_size(source, digest) is not None and self.client.mount_blob(repo, digest, source):
                self.done.mounted += 1
                return
        self.done.uploaded += self.client.upload_blob(repo, digest, size, chunks(), what=what)
        self.done.blobs_uploaded += 1

    def version(self, version: str, located: Located, built: modelpack.Built) -> str:
        card = card_bytes(self.project, located)
        sources = _ByteSource(self.project, located)
        for layer in built.layers:
            what = f"{self.model} {version}: {layer.path}"
            if layer.card:
                self.blob(layer.digest, layer.size, lambda: iter((card,)), what)
            else:
                self.blob(layer.digest, layer.size, lambda layer=layer: sources.chunks(layer), what)
        self.blob(built.config_digest, len(built.config), lambda: iter((built.config,)), f"{self.model} {version}: config")
        return self.put(version, built.manifest)

    def put(self, tag: str, manifest: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        if self.client.manifest_digest(self.target.repository, tag) != digest:
            self.client.put_manifest(self.target.repository, tag, manifest)
        self.done.tags[tag] = digest
        return digest

    def empty_stage(self, stage: str) -> None:
        repo = self.target.repository
        data, digest = unassigned(self.model, stage)
        current = self.client.manifest_digest(repo, stage)
        if current is None or current == digest:
            self.done.tags[stage] = None
            return
        held, _, _ = self.client.get_manifest(repo, current)
        try:
            self.client.delete_manifest(repo, stage)
        except UsageError:
            pass   # no tag deletion (distribution 2.x): the "unassigned" manifest instead
        else:
            self.done.tags[stage] = None
            if self.client.manifest_digest(repo, current) is None:
                # A registry that took "delete the tag" as "delete the manifest": put the version back.
                log.warning("%s deleted %s with the tag %s; putting it back", self.target.name, current, stage)
                self.client.put_manifest(repo, current, held)
                for v in self.project.registry().versions(self.model):
                    if expected_digest(self.project, self.model, v.version) == current:
                        self.client.put_manifest(repo, v.version, held)
            return
        self.blob(EMPTY_DIGEST, 2, lambda: iter((EMPTY,)), f"{self.model} {stage}: empty config")
        self.put(stage, data)


class _ByteSource:
    """The bytes of one version's files: the local DVC cache when it holds them, else the DVC
    remote (streamed); the upload verifies them against the card either way."""

    def __init__(self, project: Project, located: Located) -> None:
        self.project, self.located = project, located
        self._store = None
        from weightops.storage.dvc_config import dvc_cache_dir

        root = project.root / located.dvc_root
        self.cache = dvc_cache_dir(root) or root / ".dvc" / "cache"
        self.by_path = {f"{Path(located.pointer.path).name}/{f['path']}": f
                        for f in (located.card.get("artifact") or {}).get("files") or []}

    def _pointer(self, layer: modelpack.Layer):
        from weightops.storage.pointers import Pointer

        p = self.located.pointer
        if not p.is_dir:
            return p
        f = self.by_path.get(layer.path)
        if f is None:
            raise NotFoundError(f"{layer.path} is not in the card's file list")
        return Pointer(f["path"], f["md5"], f["size"], "", legacy=p.legacy)

    def chunks(self, layer: modelpack.Layer):
        """The file's bytes as chunks (a generator), from the cache or the remote."""
        pointer = self._pointer(layer)
        cached = self.cache / pointer.object_path()
        if not pointer.legacy and cached.is_file() and cached.stat().st_size == layer.size:
            with open(cached, "rb") as f:
                while chunk := f.read(4 << 20):
                    yield chunk
            return
        if self._store is None:
            from weightops.storage.backends import open_store

            remote = self.project.remote(self.located.commit, root=self.located.dvc_root, pointer=self.located.pointer)
            if remote is None:
                raise NotFoundError(f"no DVC remote is configured at {self.located.commit[:12]} and the DVC cache "
                                    f"does not hold {layer.path}")
            self._store = open_store(self.project, remote)
        store = self._store
        url = store.url(pointer)
        yield from store.open_range(url, 0)


def publish_oci(repository: str | None = None, ref: str | None = None, *, model: str | None = None,
                repo: str | os.PathLike = ".", plain_http: bool | None = None) -> OciPublished:
    """Push versions and stage tags of `model` (default: the default model) to the OCI repository
    (`repository`, else `oci.repository`). `ref`: one version (its version tag), one stage (its
    version and the stage tag), default every version and every stage. Blobs the registry has are
    not sent; blobs another repository of the same registry has are mounted.

    Raises UsageError (2) for a bad repository or ref, NotFoundError (3) for no repository or an
    unknown version, IntegrityError (4) when the bytes read from the DVC cache or remote disagree
    with the card (the upload is abandoned), WeightopsError (1) when the registry refuses."""
    from weightops.registry.oms_oci import attach_version
    from weightops.registry.tags import is_stage_name, normalize_version

    project = Project(repo)
    name = project.model(model)
    target = repository_for(project, name, repository)
    registry = project.registry()
    pub = _Publisher(project, name, target, client_for(project, target, plain_http))
    versions = registry.versions(name)
    stages = registry.stages(name)
    if ref is None:
        chosen = [v.version for v in versions]
        stage_names = sorted(set(project.config.stages) | set(registry.stage_names(name)))
    elif ref in stages or (is_stage_name(ref) and ref in set(project.config.stages) | set(registry.stage_names(name))):
        chosen = [stages[ref].version] if ref in stages else []
        stage_names = [ref]
    else:
        chosen = [registry.version(name, normalize_version(ref)).version]
        stage_names = []
    built: dict[str, str] = {}
    for v in versions:
        if v.version not in chosen:
            continue
        check_tag(v.version)
        try:
            located = project.locate(name, v.commit, v.tag)
            made = build_version(project, name, v.version, located)
            built[v.version] = pub.version(v.version, located, made)
            attach_version(project, pub.client, target.repository, located, made.manifest)   # its OMS signature
        except (NotFoundError,) as exc:
            pub.done.skipped.append((v.version, str(exc).splitlines()[0]))
            log.warning("publish --oci %s: leaving out %s: %s", name, v.version, exc)
    for stage in stage_names:
        check_tag(stage)
        event = stages.get(stage)
        if event is None:
            pub.empty_stage(stage)
        elif event.version in built:
            pub.put(stage, _manifest_of(project, name, event.version, registry))
    return pub.done


def _manifest_of(project: Project, name: str, version: str, registry) -> bytes:
    v = registry.version(name, version)
    located = project.locate(name, v.commit, v.tag)
    return build_version(project, name, v.version, located).manifest


def expected_digest(project: Project, model: str, version: str) -> str:
    """The manifest digest git says VERSION of MODEL has in OCI (computed, nothing fetched)."""
    v = project.registry().version(model, version)
    located = project.locate(model, v.commit, v.tag)
    return build_version(project, model, v.version, located).digest


def publish_after(project: Project, model: str, ref: str, done: str) -> OciPublished | None:
    """After a pushed release or stage change (`done` says which), publish `ref` (the version or
    stage) to the project's OCI repository when `oci.repository` is set; None when it is not.
    WeightopsError (its own exit code) naming what git already holds and the command that retries."""
    if not OciSettings.of(project).repository:
        return None
    try:
        return publish_oci(None, ref, model=model, repo=project.root)
    except WeightopsError as exc:
        exc.message = f"{done}, but publishing '{ref}' to OCI failed: {exc.message}; run `weightops publish {ref}` again"
        exc.args = (exc.message,)
        raise
