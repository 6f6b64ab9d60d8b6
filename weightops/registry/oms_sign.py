"""Signing a released version with OpenSSF Model Signing: `release --oms-key PEM` at release
time and `weightops sign REF --oms-key PEM` for versions released before.

The signature is built from the SHA-256s the model card records (trust/oms_store.py names the
files), so signing costs the same for 1 KB or 100 GB of weights. It is refused when the card
and the bytes in the remote could disagree: the card must match the DVC pointer (the object's
key in the remote is the bytes' MD5) and the object must be in the remote; `pull` then checks
every byte against the signed SHA-256s as it streams.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from weightops.errors import RefusedError, UsageError
from weightops.trust.oms import SigningKey

KEY_ENV = "WEIGHTOPS_OMS_KEY"
PASSWORD_ENV = "WEIGHTOPS_OMS_KEY_PASSWORD"


@dataclass(frozen=True)
class Signed:
    """A written signature: the version's tag, the signature's URL in the remote, the signed files
    (name -> sha256 hex) and the card's SHA-256."""
    tag: str
    url: str
    files: dict
    card_sha256: str


def signing_key(key: str | os.PathLike | None, certificate: str | os.PathLike | None = None,
                chain: tuple = (), *, root: Path | None = None) -> SigningKey | None:
    """The key to sign with: `key`, else $WEIGHTOPS_OMS_KEY; None when neither is set. The
    password of an encrypted key comes from $WEIGHTOPS_OMS_KEY_PASSWORD. RefusedError (5) for a key
    inside the repository at `root`: private keys never go in a repository. UsageError (2) for a
    certificate or chain without a key."""
    key = key or os.environ.get(KEY_ENV) or None
    if key is None:
        if certificate or chain:
            raise UsageError("--oms-cert and --oms-cert-chain sign with the certificate's private key: pass --oms-key PEM")
        return None
    path = Path(key).expanduser()
    if root is not None and Path(os.path.abspath(path)).resolve().is_relative_to(Path(root).resolve()):
        raise RefusedError(f"--oms-key {key} is inside the repository: private keys never go in a repository; "
                           "move it out (and rotate it if it was ever committed)")
    password = os.environ.get(PASSWORD_ENV)
    return SigningKey(path, Path(certificate) if certificate else None, tuple(Path(c) for c in chain),
                      password.encode() if password else None)


def sign_located(project, located, remote, key: SigningKey, tag: str) -> Signed:
    """Sign the version `located` (Project.locate) with `key` and write the signature into DVC
    remote `remote` (a Remote). RefusedError (5) when the card disagrees with the DVC pointer or
    the object is not in the remote; UsageError (2) for an unusable key; the remote's errors (1)."""
    from weightops.model.card import require_card_matches
    from weightops.storage import objects
    from weightops.storage.remotes import object_exists
    from weightops.trust import oms_sign, oms_store

    require_card_matches(located.card, located.pointer, tag)
    if not object_exists(project, remote, located.pointer):
        raise RefusedError(f"{tag}: the object for {located.pointer.path} is not in remote '{remote.name}'; "
                           "push it (`dvc push`) before signing: a signature must describe bytes a pull can fetch")
    signed = oms_store.signed_set(project, located)
    data = oms_sign.sign(signed.files, located.artifact.name, key)
    url = objects.put(remote, project.remote_base_url(remote), signed.key, data)
    return Signed(tag, url, signed.files, signed.card_sha256)


def sign(ref: str, key: str | os.PathLike | None = None, *, certificate: str | os.PathLike | None = None,
         chain: tuple = (), model: str | None = None, repo: str | os.PathLike = ".",
         remote: str | None = None) -> Signed:
    """`weightops sign REF --oms-key PEM`: sign an already released version (REF: version, tag,
    stage or `latest`). UsageError (2) without a key; NotFoundError (3) for an unknown REF or
    remote; RefusedError (5) as `sign_located`, or for a key inside the repository."""
    from weightops.project import Project
    from weightops.registry.resolve import resolve

    project = Project(repo)
    chosen = signing_key(key, certificate, chain, root=None if project.bare else project.root)
    if chosen is None:
        raise UsageError(f"sign needs a private key: pass --oms-key PEM or set {KEY_ENV}")
    r = resolve(ref, model=model, project=project, remote=remote)
    located = r.located
    rem = project.remote(r.commit, remote, root=located.dvc_root, pointer=located.pointer)
    if rem is None:
        raise RefusedError("no DVC remote is configured; add one with `dvc remote add -d NAME URL`")
    return sign_located(project, located, rem, chosen, r.tag)
