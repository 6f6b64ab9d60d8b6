"""ModelPack (CNCF model-spec v1) manifests: built from what a model card records, and read back
with every check a puller needs before it writes a byte.

Names from model-spec `specs-go/v1/mediatype.go` and `annotations.go`: artifact type
`application/vnd.cncf.model.manifest.v1+json`, config `application/vnd.cncf.model.config.v1+json`
(`descriptor`, `modelfs` {type: layers, diffIds}, `config` {format, ...}, from `config.go`), raw
(uncompressed, unarchived) layers `application/vnd.cncf.model.{weight,weight.config,doc,code,
dataset}.v1.raw`, and the layer annotation `org.cncf.model.filepath`. Each layer also carries
`org.opencontainers.image.title` (the path), which `oras pull` uses to name files.

Building is deterministic: the same card, version and commit give the same bytes, so the manifest
digest is computable from git alone and git stays the control plane.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass

from weightops.errors import NotFoundError, RefusedError

ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
# weightops' manifest under a stage tag with no holder (registry/oci.py writes it; no weights).
UNASSIGNED_TYPE = "application/vnd.weightops.stage.unassigned.v1+json"
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
CODE = "application/vnd.cncf.model.code.v1.raw"
DATASET = "application/vnd.cncf.model.dataset.v1.raw"
RAW_TYPES = frozenset({WEIGHT, WEIGHT_CONFIG, DOC, CODE, DATASET})
ARCHIVE_TYPES = frozenset(f"application/vnd.cncf.model.{kind}.v1.tar{z}" for kind in
                          ("weight", "weight.config", "doc", "code", "dataset") for z in ("", "+gzip", "+zstd"))
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
FILEPATH = "org.cncf.model.filepath"
TITLE = "org.opencontainers.image.title"
CARD = "dev.weightops.card"          # marks the model-card layer (not written by pull)
FORMAT_VERSION = "1"                 # bumping it changes every digest: never without a migration
# Files of a directory artifact that are configuration or documentation, not weights (by the
# suffixes Hugging Face checkpoints use for tokenizers and configs).
_CONFIG_SUFFIXES = (".json", ".yaml", ".yml", ".txt", ".model", ".tiktoken", ".vocab", ".merges", ".jinja")
_DOC_NAMES = ("readme", "license", "licence", "notice", "model_card")


@dataclass(frozen=True)
class Layer:
    """One file of an artifact: its `path` (relative, `/`-separated), `digest` (`sha256:...`),
    `size` in bytes, `media_type`, and whether it is weightops' model card."""

    path: str
    digest: str
    size: int
    media_type: str = WEIGHT
    card: bool = False

    def descriptor(self) -> dict:
        """The OCI descriptor of this layer, with its path annotations."""
        notes = {FILEPATH: self.path, TITLE: self.path}
        if self.card:
            notes[CARD] = "true"
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, "annotations": notes}


@dataclass(frozen=True)
class Built:
    """A manifest and its config, as bytes, with their digests, and the layers they name."""

    manifest: bytes
    config: bytes
    layers: tuple[Layer, ...]

    @property
    def digest(self) -> str:
        """The manifest's digest (`sha256:...`)."""
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def config_digest(self) -> str:
        """The config blob's digest."""
        return "sha256:" + hashlib.sha256(self.config).hexdigest()


def media_type_for(path: str) -> str:
    """The raw layer type of one file of a directory artifact: weight config (tokenizer, JSON,
    YAML), doc (README, LICENSE) or weight."""
    name = posixpath.basename(path).lower()
    if name.startswith(_DOC_NAMES) or name.endswith(".md"):
        return DOC
    if name.endswith(_CONFIG_SUFFIXES):
        return WEIGHT_CONFIG
    return WEIGHT


def layers_from_card(card: dict, name: str, card_bytes: bytes, card_name: str) -> tuple[Layer, ...]:
    """The layers of one version: its weights (`name` is the artifact's file or folder name; a
    folder gives one layer per file of `artifact.files`, path `NAME/REL`), then the card itself
    (`card_bytes`, under `card_name`). Digests are the card's SHA-256s, so the registry's
    content addresses are the card's. RefusedError (5) for a card without sizes."""
    art = card.get("artifact") or {}
    out = []
    if art.get("format") == "directory" or art.get("files"):
        for f in sorted(art.get("files") or [], key=lambda f: f["path"]):
            out.append(Layer(f"{name}/{f['path']}", "sha256:" + f["sha256"], int(f["size"]), media_type_for(f["path"])))
    else:
        if not isinstance(art.get("size"), int):
            raise RefusedError(f"the model card of {name} records no size; rewrite it with `weightops card`")
        out.append(Layer(name, "sha256:" + art["sha256"], art["size"], WEIGHT))
    out.append(Layer(card_name, "sha256:" + hashlib.sha256(card_bytes).hexdigest(), len(card_bytes), DOC, card=True))
    return tuple(out)


def _dumps(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def build(*, model: str, version: str, commit: str, card: dict, layers: tuple[Layer, ...]) -> Built:
    """The ModelPack manifest and config for one version (deterministic; see module docstring).
    The config's descriptor names the model, version, revision (the commit) and the card's
    creation time; `config.format` is the card's weight format."""
    art = card.get("artifact") or {}
    created = (card.get("lineage") or {}).get("created_at")
    descriptor = {"createdAt": created} if isinstance(created, str) and created else {}
    descriptor.update({"name": model, "version": version, "revision": commit})
    config = {"descriptor": descriptor,
              "modelfs": {"type": "layers", "diffIds": [layer.digest for layer in layers]},
              "config": {"format": str(art.get("format") or "")}}
    config_bytes = _dumps(config)
    labels = card.get("labels") or {}
    notes = {"org.opencontainers.image.title": model, "org.opencontainers.image.version": version,
             "org.opencontainers.image.revision": commit, "dev.weightops.format": FORMAT_VERSION}
    notes.update({f"dev.weightops.label.{k}": str(v) for k, v in sorted(labels.items()) if isinstance(k, str)})
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": ARTIFACT_TYPE,
                "config": {"mediaType": CONFIG_TYPE, "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
                           "size": len(config_bytes)},
                "layers": [layer.descriptor() for layer in layers], "annotations": notes}
    return Built(_dumps(manifest), config_bytes, layers)


# ---------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Artifact:
    """A manifest read and checked: its `layers` (card included, flagged), config descriptor,
    annotations, and the model/version its annotations name (None when absent)."""

    layers: tuple[Layer, ...]
    config_digest: str
    config_size: int
    annotations: dict

    @property
    def files(self) -> tuple[Layer, ...]:
        """The layers a pull writes: all but weightops' model card."""
        return tuple(layer for layer in self.layers if not layer.card)

    @property
    def card(self) -> Layer | None:
        """weightops' model-card layer, if the artifact has one."""
        return next((layer for layer in self.layers if layer.card), None)


def _refuse(what: str, why: str) -> RefusedError:
    return RefusedError(f"{what}: {why}; refused, nothing was written")


def check_path(path: object, what: str) -> str:
    """A layer's file path if it is safe to write under a destination: relative, `/`-separated,
    no `..`, `.` or empty component, no backslash or NUL. RefusedError (5) otherwise."""
    if not isinstance(path, str) or not path:
        raise _refuse(what, "a layer has no file path annotation (org.cncf.model.filepath)")
    if path.startswith("/") or "\\" in path or "\0" in path or (len(path) > 1 and path[1] == ":"):
        raise _refuse(what, f"layer path {path!r} is absolute or not a plain relative path")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise _refuse(what, f"layer path {path!r} has an empty, '.' or '..' component")
    return path


def parse_manifest(data: bytes, what: str) -> Artifact:
    """Manifest bytes -> Artifact, refusing (RefusedError, 5) anything that is not a ModelPack
    artifact weightops can write safely: not JSON, an index or Docker manifest, another artifact
    type, an archive (`.tar*`) or unknown layer media type, a malformed digest or size, an unsafe
    or duplicate path, a file that is also a folder. NotFoundError (3) for the manifest under a
    demoted stage's tag (UNASSIGNED_TYPE). `what` names the artifact in messages."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _refuse(what, "the manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise _refuse(what, "the manifest is not a JSON object")
    media = doc.get("mediaType")
    if media not in (None, MANIFEST_TYPE):
        raise _refuse(what, f"it is a {media}, not an OCI image manifest")
    if doc.get("schemaVersion") != 2:
        raise _refuse(what, "the manifest's schemaVersion is not 2")
    config = doc.get("config")
    if not isinstance(config, dict):
        raise _refuse(what, "the manifest has no config descriptor")
    if doc.get("artifactType") == UNASSIGNED_TYPE:
        # What weightops puts under a demoted stage's tag: not a model, and not a damaged one.
        notes = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else {}
        stage, model = notes.get("dev.weightops.stage"), notes.get("org.opencontainers.image.title")
        whose = f"stage '{stage}' of '{model}'" if isinstance(stage, str) and isinstance(model, str) else "the stage"
        raise NotFoundError(f"{what}: {whose} was unassigned (weightops demote): no version holds it; "
                            "nothing was written")
    if doc.get("artifactType", config.get("mediaType")) != ARTIFACT_TYPE and config.get("mediaType") != CONFIG_TYPE:
        raise _refuse(what, f"artifact type {doc.get('artifactType') or config.get('mediaType')!r} is not a ModelPack "
                            f"model ({ARTIFACT_TYPE})")
    cdigest, csize = _digest_size(config, what)
    raw = doc.get("layers")
    if not isinstance(raw, list) or not raw:
        raise _refuse(what, "the manifest has no layers")
    layers = []
    seen: set[str] = set()
    for d in raw:
        if not isinstance(d, dict):
            raise _refuse(what, "a layer descriptor is not an object")
        mt = d.get("mediaType")
        if mt in ARCHIVE_TYPES:
            raise _refuse(what, f"layer media type {mt} is an archive; weightops pulls raw layers only")
        if mt not in RAW_TYPES:
            raise _refuse(what, f"unknown layer media type {str(mt)[:100]!r}")
        digest, size = _digest_size(d, what)
        notes = d.get("annotations") if isinstance(d.get("annotations"), dict) else {}
        path = check_path(notes.get(FILEPATH) or notes.get(TITLE), what)
        if path in seen:
            raise _refuse(what, f"two layers write {path!r}")
        seen.add(path)
        layers.append(Layer(path, digest, size, mt, card=notes.get(CARD) == "true"))
    for p in seen:   # a file that is also a folder of another layer
        parent = p.rsplit("/", 1)[0] if "/" in p else None
        while parent:
            if parent in seen:
                raise _refuse(what, f"{parent!r} is both a file and a folder")
            parent = parent.rsplit("/", 1)[0] if "/" in parent else None
    notes = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else {}
    return Artifact(tuple(layers), cdigest, csize, {str(k): str(v) for k, v in notes.items()})


def _digest_size(d: dict, what: str) -> tuple[str, int]:
    digest, size = d.get("digest"), d.get("size")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71 or \
            any(c not in "0123456789abcdef" for c in digest[7:]):
        raise _refuse(what, f"descriptor digest {str(digest)[:80]!r} is not sha256: and 64 lower-case hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > 2 ** 53:
        raise _refuse(what, f"descriptor size {size!r} of {digest} is not a byte count")
    return digest, size


def parse_config(data: bytes, what: str) -> dict:
    """A ModelPack config blob -> its `descriptor` dict (name, version, revision, ...); {} parts
    when absent. RefusedError (5) when it is not a JSON object."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _refuse(what, "the model config is not JSON") from None
    if not isinstance(doc, dict):
        raise _refuse(what, "the model config is not a JSON object")
    return doc
