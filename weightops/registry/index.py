"""The published registry index: one JSON document per model, kept in the DVC remote, that deploy
hosts read instead of git.

Pure: builds the document from registry tags and what the publisher resolved, and turns a fetched
document back into the `TagRef`s it carries, so a host recomputes the registry with the very
code that reads git (`Registry`), and checks signatures on the same tag objects git would.

Document (`weightops-index/1`; JSON Schema: templates/index.schema.json):

    {"format": "weightops-index/1", "model": "clf", "sequence": 1764520000123,
     "published": "2026-11-30T18:00:00Z", "default_model": "clf",
     "remote": {"name": "storage", "url": "s3://bucket/dvcstore"},
     "stages": {"production": {"version": "v1.0.0", "tag": "clf#production#3", ...}},
     "versions": {"v1.0.0": {"tag": "clf@v1.0.0", "commit": "...", "sha256": "...", "md5": "...",
                             "size": 123, "path": "models/clf.safetensors", "key": "files/md5/..",
                             "files": [...]}},          # files: a directory artifact's listing
     "tags": [{"name": "clf@v1.0.0", "raw": "object ...\\ntype commit\\ntag ...\\n..."},
              {"name": "v0.9.0", "commit": "...", "time": 1764000000}]}   # lightweight: no object

`stages` and `versions` are what the publisher read; `tags` are the registry's own records. A
host trusts `stages` only as far as it agrees with the registry recomputed from `tags`, and the
sha256 only as far as a (signed, when required) tag message states it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from weightops.core.refs import TagRef
from weightops.errors import IntegrityError

FORMAT = "weightops-index/1"
PREFIX = "weightops/index/v1"          # key prefix inside the DVC remote
MAX_BYTES = 16 * 1024 * 1024           # a host refuses a larger document (a registry is KBs)
_TAGGER = re.compile(r"^(?P<who>.*) (?P<time>\d+) (?P<tz>[+-]\d{4})$")


def index_key(model: str) -> str:
    """The document's key relative to the remote's root: `weightops/index/v1/NAME.json`."""
    return f"{PREFIX}/{model}.json"


@dataclass(frozen=True)
class RawTag:
    """An annotated tag object exactly as git stores it (signature included)."""

    name: str
    object: str          # the tagged object's id
    type: str
    tagger: str
    time: int
    message: str         # the message with any signature block
    raw: str

    @property
    def id(self) -> str:
        """git's object id of this tag (SHA-1 of the header and bytes)."""
        data = self.raw.encode()
        return hashlib.sha1(b"tag %d\0" % len(data) + data).hexdigest()


def parse_raw_tag(raw: str, name: str | None = None) -> RawTag:
    """Parse `git cat-file tag` output. Raises IntegrityError (exit 4) when it is not a tag
    object, or when `name` is given and the object calls itself something else."""
    head, sep, message = raw.partition("\n\n")
    fields: dict[str, str] = {}
    for line in head.split("\n"):
        key, _, value = line.partition(" ")
        fields.setdefault(key, value)
    where = f"tag object {name or fields.get('tag', '?')!r} in the index"
    if not all(k in fields for k in ("object", "type", "tag")) or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", fields["object"]):
        raise IntegrityError(f"{where} is not a git tag object")
    m = _TAGGER.match(fields.get("tagger", ""))
    if m is None:
        raise IntegrityError(f"{where} has no tagger line")
    if name is not None and fields["tag"] != name:
        raise IntegrityError(f"{where} names itself '{fields['tag']}': a tag object moved under another name")
    return RawTag(fields["tag"], fields["object"], fields["type"], m["who"], int(m["time"]),
                  message if sep else "", raw)


def to_tagref(entry: dict) -> TagRef:
    """One `tags` entry -> the TagRef git's own listing would give for it (a lightweight entry
    carries its commit and Unix time). IntegrityError (4) for a raw object that is not a tag, names
    itself differently, or tags something other than a commit."""
    if "raw" in entry:
        tag = parse_raw_tag(entry["raw"], entry["name"])
        if tag.type != "commit":
            raise IntegrityError(f"tag {tag.name} in the index tags a {tag.type}, not a commit")
        return TagRef(tag.name, tag.object, tag.time, True, tag.tagger, tag.message, tag.id)
    return TagRef(entry["name"], entry["commit"], int(entry["time"]), False, "", "", entry["commit"])


def tag_entry(ref: TagRef, raw: str | None) -> dict:
    """The `tags` entry for one registry tag: the raw object when annotated."""
    if ref.annotated and raw is not None:
        return {"name": ref.name, "raw": raw}
    return {"name": ref.name, "commit": ref.commit, "time": ref.time}


def next_sequence(previous: int | None, now_ms: int) -> int:
    """Grows with every publication, also across publishers whose clocks disagree."""
    return max((previous or 0) + 1, now_ms)


def build(*, model: str, sequence: int, published: str, default_model: str | None, remote: dict,
          stages: dict, versions: dict, tags: list[dict]) -> dict:
    """The index document (the `weightops-index/1` layout at the top of this module) from its parts;
    `published` is ISO 8601 UTC, `sequence` from `next_sequence`. Pure: nothing is checked here
    (hosts check with `decode`)."""
    return {"format": FORMAT, "model": model, "sequence": sequence, "published": published,
            "default_model": default_model, "remote": remote, "stages": stages, "versions": versions,
            "tags": tags}


def encode(doc: dict) -> bytes:
    """The document's bytes as published: indented JSON with sorted keys, UTF-8, a final newline."""
    return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"


def decode(data: bytes, where: str) -> dict:
    """Bytes -> a document checked against templates/index.schema.json. Raises IntegrityError
    (exit 4) for anything truncated, malformed, oversized or of another format."""
    if len(data) > MAX_BYTES:
        raise IntegrityError(f"index {where} is {len(data)} bytes, over the {MAX_BYTES}-byte limit; not read")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"index {where} is not valid JSON (truncated or damaged): {exc}") from None
    import jsonschema

    from weightops.core.resources import template_path

    schema = json.loads(template_path("index.schema.json").read_text())
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise IntegrityError(f"index {where} is not a {FORMAT} document: {path}: {exc.message}") from None
    return doc
