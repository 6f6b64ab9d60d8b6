"""Signing with OpenSSF Model Signing, and checking a folder on disk, through the `model-signing`
package's own classes: a manifest built from precomputed digests (`manifest_of`) is signed by its
`Payload` and key or certificate `Signer`, so the bundle is byte for byte the format `model_signing
sign` writes; a folder is hashed by its `hashing.Config`, with the serialization the signature
records. The signature itself is checked by trust/oms.py.
"""

from __future__ import annotations

import pathlib
from typing import Mapping

from weightops.errors import IntegrityError, UsageError
from weightops.trust.oms import IGNORED, SigningKey, Trust, Verified, check_bundle, compare


def manifest_of(files: Mapping[str, str], model_name: str):
    """model_signing's Manifest for precomputed digests: `files` maps a POSIX path (relative to the
    model folder) to its SHA-256 hex, under the `files` serialization model_signing's CLI uses."""
    from model_signing import manifest
    from model_signing._hashing import hashing

    serialization = manifest._FileSerialization("sha256", False, [pathlib.PurePosixPath(p) for p in IGNORED])
    items = [manifest.FileManifestItem(path=pathlib.PurePosixPath(name), digest=hashing.Digest("sha256", bytes.fromhex(h)))
             for name, h in files.items()]
    return manifest.Manifest(model_name, items, serialization)


def sign(files: Mapping[str, str], model_name: str, key: SigningKey) -> bytes:
    """The OMS signature (a Sigstore bundle as JSON bytes, as `model_signing sign key|certificate`
    writes it) over `files` (name -> sha256 hex), without reading any file. UsageError (2) when the
    key, certificate or chain cannot be loaded or do not belong together."""
    from model_signing._signing import sign_certificate, sign_ec_key, signing

    for path in (key.key, key.certificate, *key.chain):
        if path is not None and not pathlib.Path(path).is_file():
            raise UsageError(f"{path} does not exist (an OMS signing key, certificate or chain, PEM)")
    if key.certificate is not None and not key.chain:
        # model_signing's certificate signer needs at least one certificate above the signing one.
        raise UsageError(f"certificate mode needs the chain above {key.certificate}: pass --oms-cert-chain PEM "
                         "(the issuing CA, and any intermediates)")
    try:
        if key.certificate is not None:
            signer = sign_certificate.Signer(pathlib.Path(key.key), pathlib.Path(key.certificate),
                                             [pathlib.Path(c) for c in key.chain])
        else:
            signer = sign_ec_key.Signer(pathlib.Path(key.key), key.password)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot sign with {key.key}: {str(exc).splitlines()[0]} "
                         "(model signing takes PEM EC P-256/384/521 private keys)") from None
    bundle = signer.sign(signing.Payload(manifest_of(files, model_name))).bundle
    return bundle.to_json().encode("utf-8")


def verify_folder(folder: pathlib.Path, signature: pathlib.Path, trust: Trust) -> Verified:
    """`weightops verify PATH --oms SIGNATURE`: check a signature made by anyone against `trust`,
    then hash PATH (a folder, or one file) the way model_signing does (its serialization, as the
    signature records it; the signature file and git's files left out) and compare. RefusedError
    (5) for an untrusted signer; IntegrityError (4) naming the first file that differs."""
    from model_signing import hashing

    if not signature.is_file():
        raise UsageError(f"--oms {signature} does not exist (an OMS signature, e.g. model.sig)")
    if not folder.exists():
        raise UsageError(f"{folder} does not exist (the model folder or file the signature covers)")
    verified = check_bundle(signature.read_bytes(), trust, str(signature))
    args = verified.serialization
    config = hashing.Config()
    if args["method"] == "shards":
        config.use_shard_serialization(hashing_algorithm=args["hash_type"], shard_size=args["shard_size"],
                                       allow_symlinks=args["allow_symlinks"])
    else:
        config.use_file_serialization(hashing_algorithm=args["hash_type"], allow_symlinks=args["allow_symlinks"])
    ignored = [pathlib.Path(p) for p in args.get("ignore_paths", ())]
    if signature.resolve().is_relative_to(folder.resolve()):
        ignored.append(signature.resolve().relative_to(folder.resolve()))
    config.set_ignored_paths(paths=ignored, ignore_git_paths=True)
    try:
        actual = config.hash(folder)
    except ValueError as exc:   # a symlink where the signer allowed none
        raise IntegrityError(f"{folder}: {str(exc).splitlines()[0]}") from None
    compare(verified.files, {rd.identifier: rd.digest.digest_hex for rd in actual.resource_descriptors()},
            f"{folder} against {signature}")
    return verified


