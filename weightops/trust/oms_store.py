"""A version's OMS signature: what it signs, where it is kept, and the keys that verify it.

What is signed (`signed_files`): the files as `weightops pull -o DIR/` lays them out, named
relative to DIR, with the SHA-256s the model card records (no weight is read again):

    clf.safetensors              a file artifact: its file name
    shards/model-00001.bin ...   a directory artifact: its folder name / each file's path
    clf.card.yaml                the model card's bytes at the tagged commit (lineage, environment)

Where it is kept: in the version's DVC remote at `weightops/oms/v1/<sha256 of the card>.sig`
(the card pins every weight's SHA-256, so its digest names the signed set), beside DVC's
`files/md5/..` objects and the published index; `pull --with-signature` writes it as
`DIR/model.sig` beside the card, where `model_signing verify` finds what it signs.

Which keys verify: `trust.oms` of weightops.yaml read at the trusted policy commit (never at the
commit being pulled, whose author could add a key), or a weightops.yaml held on the deploy host,
or keys and CA certificates given on the command line.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from weightops.core.config import CONFIG_FILE, OmsSettings, parse_config
from weightops.errors import NotFoundError, RefusedError, UsageError
from weightops.trust.oms import SIGNATURE_FILE, IGNORED, Trust, TrustedKey, refuse_private

PREFIX = "weightops/oms/v1"        # key prefix inside the DVC remote


@dataclass(frozen=True)
class SignedSet:
    """A version's signed files (name -> sha256 hex) and its card: name, bytes, SHA-256."""
    files: dict
    card_name: str
    card: bytes

    @property
    def card_sha256(self) -> str:
        """SHA-256 hex of the card's bytes: the name of the signature in the remote."""
        return hashlib.sha256(self.card).hexdigest()

    @property
    def key(self) -> str:
        """The signature's key relative to the DVC remote's root."""
        return signature_key(self.card_sha256)


def signature_key(card_sha256: str) -> str:
    """`weightops/oms/v1/<card sha256>.sig`, relative to the DVC remote's root."""
    return f"{PREFIX}/{card_sha256}.sig"


def signed_files(located, card: bytes) -> SignedSet:
    """The signed set of a located version (`Project.locate`) whose card has bytes `card`.
    RefusedError (5) for a version without a card; UsageError (2) when a directory's card lists no files, or a name collides with the card,
    the signature file or a path model_signing skips."""
    art = (located.card or {}).get("artifact") or {}
    if not art.get("sha256"):
        raise RefusedError(f"{located.pointer.path} has no model card at {located.commit[:12]}: an OMS signature signs "
                           "the SHA-256s a card records; write one with `weightops card` and release again")
    if getattr(located, "card_source", "commit") != "commit":
        raise RefusedError(f"the card of {located.pointer.path} at {located.commit[:12]} is attached as a git note: "
                           "an OMS signature signs a committed card file's bytes; commit the card and release again")
    name = posixpath.basename(located.pointer.path.rstrip("/"))
    if located.pointer.is_dir:
        files = {f"{name}/{f['path']}": f["sha256"] for f in art.get("files") or []}
        if not files:
            raise UsageError(f"the card of {located.pointer.path} lists no files; rewrite it with `weightops card`")
    else:
        files = {name: art["sha256"]}
    card_name = posixpath.basename(located.artifact.card_path)
    for path in (*files, card_name):
        if any(part in IGNORED for part in path.split("/")):
            raise UsageError(f"{path}: model_signing leaves files named {', '.join(IGNORED)} out of a signature; "
                             "rename it before signing")
    if card_name in files:
        raise UsageError(f"the card {card_name} has the name of a weight file; rename one of them")
    files[card_name] = hashlib.sha256(card).hexdigest()
    return SignedSet(files, card_name, card)


def signed_set(project, located) -> SignedSet:
    """`signed_files` of a located version, its card's bytes read from git. RefusedError (5) for a
    version without a committed card (checked before any read), UsageError (2) as `signed_files`."""
    if located.card is None or getattr(located, "card_source", "commit") != "commit":
        return signed_files(located, b"")   # refuses, naming why
    return signed_files(located, card_bytes(project, located))


def card_bytes(project, located) -> bytes:
    """The card's bytes at the located commit. NotFoundError (3) when it is gone."""
    spec = f"{located.commit}:{located.artifact.card_path}"
    data = project.blobs([spec])[spec]
    if data is None:
        raise NotFoundError(f"no model card {located.artifact.card_path} at {located.commit[:12]}")
    return data


def fetch_signature(store, signed: SignedSet, ref: str) -> tuple[bytes, str]:
    """(the signature's bytes, its URL) from the opened remote `store`. RefusedError (5) when the
    remote has none: the version was released unsigned."""
    url = store.join(signed.key)
    try:
        return store.read_small(url), url
    except NotFoundError:
        raise RefusedError(f"{ref} has no OMS signature in remote '{store.remote.name}' ({url}); sign it with "
                           f"`weightops sign {ref} --oms-key PEM`") from None


# ------------------------------------------------------------------ keys that verify
def trust_from_settings(settings: OmsSettings, read, source: str) -> Trust:
    """`trust.oms` made usable: `read(path)` returns a repository path's bytes or None. NotFoundError
    (3) for a listed file that is missing; RefusedError (5) for a private key among them."""
    keys = []
    for path, signer in settings.public_keys:
        keys.append(TrustedKey(path, _pem(read(path), path, source), signer))
    chain = tuple(_pem(read(p), p, source) for p in settings.certificate_chain)
    return Trust(tuple(keys), chain, settings.identities, source)


def _pem(data: bytes | None, path: str, source: str) -> bytes:
    if data is None:
        raise NotFoundError(f"{source}: {path} (listed in trust.oms) does not exist")
    refuse_private(data, f"{path} (listed in trust.oms of {source})")
    return data


def trust_at_commit(project, commit: str) -> tuple[Trust, OmsSettings]:
    """The OMS trust of weightops.yaml at `commit` (the trusted policy commit)."""
    spec = f"{commit}:{CONFIG_FILE}"
    settings = parse_config(project.blobs([spec])[spec], f"{CONFIG_FILE} at {commit[:12]}").trust.oms

    def read(path: str) -> bytes | None:
        return project.blobs([f"{commit}:{path}"])[f"{commit}:{path}"]
    return trust_from_settings(settings, read, f"the trusted policy at {commit[:12]}"), settings


def trust_from_file(path: str | os.PathLike) -> Trust:
    """The OMS trust of a weightops.yaml held on the host; listed paths are relative to its folder.
    NotFoundError (3) when the file is missing."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"--trust-policy {path} does not exist (a weightops.yaml with trust.oms)")
    settings = parse_config(path.read_bytes(), str(path)).trust.oms

    def read(rel: str) -> bytes | None:
        full = path.parent / rel
        return full.read_bytes() if full.is_file() else None
    return trust_from_settings(settings, read, str(path))


def trust_from_paths(public_keys=(), chain=(), identities=()) -> Trust:
    """Keys (PEM public keys) and CA certificates given on the command line. NotFoundError (3) for a
    missing file; RefusedError (5) for a private key."""
    def read(p) -> bytes:
        if not Path(p).is_file():
            raise NotFoundError(f"{p} does not exist (a PEM public key or CA certificate)")
        data = Path(p).read_bytes()
        refuse_private(data, str(p))
        return data
    return Trust(tuple(TrustedKey(str(p), read(p)) for p in public_keys), tuple(read(c) for c in chain),
                 tuple(identities), "the keys given")


def signature_file(folder: Path) -> Path:
    """Where `pull --with-signature` writes a version's signature: FOLDER/model.sig."""
    return folder / SIGNATURE_FILE
