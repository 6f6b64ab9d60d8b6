"""OpenSSF Model Signing (OMS) signatures: build, sign and check them with the `model-signing`
package's own classes, so a signature weightops writes is exactly one `model_signing sign`
writes, and one it writes is read by the same code that verifies it.

The format (model-signing 1.x, sigstore/model-transparency): a Sigstore bundle
(`application/vnd.dev.sigstore.bundle.v0.3+json`) holding a DSSE envelope whose payload is an
in-toto Statement v1 with predicate type `https://model_signing/signature/v1.0`; its predicate
lists every file as a resource `{name, algorithm: sha256, digest}` (names are POSIX paths
relative to the model folder, sorted) under the `files` serialization, and the subject's digest
is the SHA-256 of the concatenated file digests. model_signing's CLI leaves the signature file
and git's files out of the signed set and records them as `ignore_paths`; weightops does the same.

Key mode (an EC P-256/384/521 key; the bundle names the key by the SHA-256 of its PEM
SubjectPublicKeyInfo) and certificate mode (a signing certificate and its chain in the bundle,
checked against trusted CA certificates at the certificate's not-before time, as model_signing
does) are checked offline. Sigstore keyless bundles need the network (Fulcio, Rekor, TUF) and
are refused here with the `model_signing verify sigstore` command that checks them.
"""

from __future__ import annotations

import hashlib
import pathlib
import tempfile
from dataclasses import dataclass, field
from typing import Mapping

from weightops.errors import IntegrityError, RefusedError, UsageError

SIGNATURE_FILE = "model.sig"
# What model_signing's CLI leaves out of a folder's signature (its hashing.Config default, plus
# the signature file it writes), recorded in the predicate so that its verifier skips them too.
IGNORED = (SIGNATURE_FILE, ".git", ".gitattributes", ".github", ".gitignore")


@dataclass(frozen=True)
class SigningKey:
    """How to sign: a PEM EC private key file, and for certificate mode its signing certificate and
    the chain above it (PEM files). `password` decrypts an encrypted key (bytes)."""
    key: pathlib.Path
    certificate: pathlib.Path | None = None
    chain: tuple[pathlib.Path, ...] = ()
    password: bytes | None = None


@dataclass(frozen=True)
class TrustedKey:
    """A public key that verifies: where it came from (`label`), its PEM bytes, and the signer
    name trust rules know it by (None: only its `oms-key:<sha256>` identity)."""
    label: str
    pem: bytes
    signer: str | None = None

    @property
    def hint(self) -> str:
        """model_signing's key identifier: SHA-256 (hex) of the key's PEM SubjectPublicKeyInfo."""
        return key_hint(self.pem)


@dataclass(frozen=True)
class Trust:
    """What verifies a signature: public keys, CA certificates (PEM bytes, each may hold several)
    for certificate mode, and the certificate identities accepted (empty: any the CAs vouch for).
    `source` names where it was read, for messages."""
    keys: tuple[TrustedKey, ...] = ()
    chain: tuple[bytes, ...] = ()
    identities: tuple[str, ...] = ()
    source: str = "the trust policy"

    @property
    def empty(self) -> bool:
        """No key and no CA: nothing can verify."""
        return not self.keys and not self.chain


@dataclass(frozen=True)
class Verified:
    """A signature that verified: the signed files (name -> sha256 hex), who signed (one line),
    the signer's identities (for trust rules), the subject name and the manifest (model_signing's)."""
    files: dict
    signer: str
    identities: frozenset = frozenset()
    model_name: str = ""
    manifest: object = field(default=None, compare=False, repr=False)


def key_hint(pem: bytes) -> str:
    """SHA-256 hex of a public key's PEM SubjectPublicKeyInfo (as model_signing names keys)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pem)
    spki = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def refuse_private(pem: bytes, where: str) -> None:
    """RefusedError (5) when `pem` holds a private key: they never belong in a repository or a
    list of keys that verify."""
    if b"PRIVATE KEY-----" in pem:
        raise RefusedError(f"{where} holds a PRIVATE key: private keys never go in the repository or in "
                           "trust.oms.public_keys; remove it (and rotate it) and list the public key")


# ------------------------------------------------------------------ signing
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


# ------------------------------------------------------------------ verifying
def read_bundle(data: bytes, what: str):
    """model_signing's own reader over `data` (a bundle's JSON bytes). IntegrityError (4) when it
    is not a Sigstore bundle."""
    from model_signing._signing import sign_sigstore_pb

    with tempfile.TemporaryDirectory(prefix="weightops-oms-") as tmp:
        path = pathlib.Path(tmp) / SIGNATURE_FILE
        path.write_bytes(data)
        try:
            return sign_sigstore_pb.Signature.read(path)
        except Exception as exc:  # noqa: BLE001 - json, pydantic and key errors alike: not a bundle
            raise IntegrityError(f"{what} is not an OMS signature (Sigstore bundle): {str(exc).splitlines()[0]}") from None


def check_bundle(data: bytes, trust: Trust, what: str = "signature") -> Verified:
    """Verify `data` (an OMS signature's bytes) against `trust`: the envelope's signature, the key
    or certificate chain, the certificate's identity; returns the signed files. RefusedError (5),
    naming the key or identity, when nothing in `trust` vouches for the signer or the signature
    does not verify; IntegrityError (4) when `data` is not a bundle or its manifest is inconsistent."""
    signature = read_bundle(data, what)
    material = signature.bundle.verification_material
    if material.public_key is not None:
        return _check_key(signature, material.public_key.hint, trust, what)
    if material.x509_certificate_chain is not None and material.x509_certificate_chain.certificates:
        return _check_certificate(signature, trust, what)
    raise RefusedError(f"{what} is a Sigstore keyless signature: weightops checks key and certificate "
                       "signatures offline; check keyless ones with `model_signing verify sigstore` (needs network)")


def _manifest(verifier, signature, what: str, who: str):
    from cryptography.exceptions import InvalidSignature

    try:
        return verifier.verify(signature)
    except InvalidSignature:
        raise RefusedError(f"{what} does not verify with {who}: the envelope was not signed by it or was altered") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{what}: {str(exc).splitlines()[0]}") from None


def _check_key(signature, hint: str | None, trust: Trust, what: str) -> Verified:
    from model_signing._signing import sign_ec_key

    candidates = [k for k in trust.keys if not hint or k.hint == hint]
    if not candidates:
        listed = ", ".join(k.label for k in trust.keys) or "no key"
        raise RefusedError(f"{what} was signed by key oms-key:{(hint or '?')[:16]}, which {trust.source} does not "
                           f"list ({listed})")
    failure: Exception | None = None
    for key in candidates:
        with tempfile.TemporaryDirectory(prefix="weightops-oms-") as tmp:
            path = pathlib.Path(tmp) / "key.pub"
            path.write_bytes(key.pem)
            try:
                found = _manifest(sign_ec_key.Verifier(path), signature, what, f"key {key.label}")
            except RefusedError as exc:
                failure = exc
                continue
        ids = {f"oms-key:{key.hint}"} | ({key.signer} if key.signer else set())
        return _verified(found, f"key {key.label}" + (f" ({key.signer})" if key.signer else ""), ids)
    raise failure  # type: ignore[misc]


def _check_certificate(signature, trust: Trust, what: str) -> Verified:
    from cryptography import x509
    from OpenSSL import crypto
    from model_signing._signing import sign_certificate

    leaf = x509.load_der_x509_certificate(signature.bundle.verification_material.x509_certificate_chain
                                          .certificates[0].raw_bytes)
    ids = certificate_identities(leaf)
    who = f"certificate {leaf.subject.rfc4514_string()}"
    if not trust.chain:
        raise RefusedError(f"{what} was signed with {who}, but {trust.source} names no CA certificate "
                           "(trust.oms.certificate_chain)")
    with tempfile.TemporaryDirectory(prefix="weightops-oms-") as tmp:
        paths = []
        for i, pem in enumerate(trust.chain):
            paths.append(pathlib.Path(tmp) / f"ca{i}.pem")
            paths[-1].write_bytes(pem)
        try:
            found = _manifest(sign_certificate.Verifier(paths), signature, what, who)
        except crypto.X509StoreContextError as exc:
            raise RefusedError(f"{what}: {who} is not trusted by {trust.source}: {exc}") from None
    if trust.identities and not ids & set(trust.identities):
        raise RefusedError(f"{what} was signed by {', '.join(sorted(ids)) or who}, which is not among the "
                           f"identities {trust.source} accepts ({', '.join(trust.identities)})")
    return _verified(found, sorted(ids)[0] if ids else who, ids)


def certificate_identities(cert) -> set[str]:
    """A signing certificate's identities: its SAN emails, URIs and DNS names, and its subject CN."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    found = {a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
            found.update(san.get_values_for_type(kind))
    except x509.ExtensionNotFound:
        pass
    return {str(v) for v in found}


def _verified(found, signer: str, ids: set[str]) -> Verified:
    files = {rd.identifier: rd.digest.digest_hex for rd in found.resource_descriptors()}
    return Verified(files, signer, frozenset(ids), found.model_name, found)


def require_file_sha256(verified: Verified, what: str) -> None:
    """RefusedError (5) unless the signature lists whole files by SHA-256 (model_signing's default),
    the digests a card records; shards or BLAKE hashes can only be checked by `verify_folder`."""
    args = verified.manifest.serialization_type
    if args.get("method") != "files" or args.get("hash_type") != "sha256":
        raise RefusedError(f"{what} lists {args.get('method')} by {args.get('hash_type')}; weightops compares whole "
                           "files by SHA-256 (model_signing's default serialization)")


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
    args = verified.manifest.serialization_type
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


def compare(signed: Mapping[str, str], actual: Mapping[str, str], what: str) -> None:
    """The signed files must be exactly `actual` (name -> sha256 hex). IntegrityError (4) naming
    the first file that differs, is missing, or is not signed."""
    for name in sorted(set(signed) | set(actual)):
        if name not in actual:
            raise IntegrityError(f"{what}: {name} is signed but not present", expected=signed[name], actual=None)
        if name not in signed:
            raise IntegrityError(f"{what}: {name} is present but not signed", expected=None, actual=actual[name])
        if signed[name] != actual[name]:
            raise IntegrityError(f"{what}: {name} has sha256 {actual[name]}, the signature says {signed[name]}",
                                 expected=signed[name], actual=actual[name])
