"""OpenSSF Model Signing (OMS) signatures: the records, and checking a signature offline.

Signing and hashing folders use the `model-signing` package's own classes (trust/oms_sign.py).
Checking a signature on the deploy path does not import it: its package loads Sigstore's
keyless client (TUF, Rekor) on import, about 0.9 CPU-seconds, which a verified pull would pay
every time. The check here follows model_signing 1.1's verifiers rule for rule (media type,
DSSE pre-authentication encoding and its pre-1.0 variant, the key hint, ECDSA with the curve's
hash, the certificate chain checked at the signing certificate's not-before time, its key usage,
the statement and predicate types, the subject's root digest), and the differential tests run
both on the same signatures.

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

import base64
import hashlib
import json
import pathlib
from dataclasses import dataclass, field
from typing import Mapping

from weightops.errors import IntegrityError, RefusedError

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
    """A signature that verified: the signed files (name -> digest hex), who signed (one line),
    the signer's identities (for trust rules), the subject name and the serialization it records
    (`method`, `hash_type`, `allow_symlinks`, `ignore_paths`)."""
    files: dict
    signer: str
    identities: frozenset = frozenset()
    model_name: str = ""
    serialization: dict = field(default_factory=dict)


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


# ------------------------------------------------------------------ verifying
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
PREDICATE_TYPE_V01 = "https://model_signing/Digests/v0.1"    # model_signing 0.2's, still accepted


def check_bundle(data: bytes, trust: Trust, what: str = "signature") -> Verified:
    """Verify `data` (an OMS signature's bytes) against `trust`: the envelope's signature, the key
    or certificate chain, the certificate's identity; returns the signed files. RefusedError (5),
    naming the key or identity, when nothing in `trust` vouches for the signer or the signature
    does not verify; IntegrityError (4) when `data` is not a bundle or its manifest is inconsistent."""
    try:
        bundle = json.loads(data)
        material, envelope = bundle["verificationMaterial"], bundle["dsseEnvelope"]
        payload, payload_type = base64.b64decode(envelope["payload"]), envelope["payloadType"]
        sig = base64.b64decode(envelope["signatures"][0]["sig"])
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"{what} is not an OMS signature (Sigstore bundle): {type(exc).__name__} {exc}") from None
    if bundle.get("mediaType") != BUNDLE_MEDIA_TYPE and ("publicKey" in material or "x509CertificateChain" in material):
        raise IntegrityError(f"{what} has media type {bundle.get('mediaType')}, expected {BUNDLE_MEDIA_TYPE}")
    if "publicKey" in material:
        found = _check_key(material["publicKey"].get("hint"), sig, payload, trust, what)
    elif (material.get("x509CertificateChain") or {}).get("certificates"):
        found = _check_certificate(material["x509CertificateChain"]["certificates"], sig, payload, trust, what)
    else:
        raise RefusedError(f"{what} is a Sigstore keyless signature: weightops checks key and certificate "
                           "signatures offline; check keyless ones with `model_signing verify sigstore` (needs network)")
    if payload_type != PAYLOAD_TYPE:
        raise IntegrityError(f"{what} carries a {payload_type} payload, expected {PAYLOAD_TYPE}")
    return _statement(payload, what, *found)


def _pae(payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding, as model_signing signs it."""
    return b" ".join([f"DSSEv1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} {len(payload)}".encode(), payload])


def _pae_v02(payload: bytes) -> bytes:
    """model_signing 0.2's encoding (a str/bytes mix-up its verifiers still accept)."""
    return f"DSSEV1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} {len(payload)} {payload}".encode()


def _ecdsa_ok(public_key, sig: bytes, payload: bytes, legacy_sha256: bool = False) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(public_key, ec.EllipticCurvePublicKey) or \
            public_key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
        return False
    algorithm = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[public_key.curve.key_size]
    for encoded, alg in ((_pae(payload), algorithm), (_pae_v02(payload), hashes.SHA256() if legacy_sha256 else algorithm)):
        try:
            public_key.verify(sig, encoded, ec.ECDSA(alg))
            return True
        except InvalidSignature:
            continue
    return False


def _check_key(hint: str | None, sig: bytes, payload: bytes, trust: Trust, what: str) -> tuple[str, set[str]]:
    from cryptography.hazmat.primitives import serialization

    candidates = [k for k in trust.keys if not hint or k.hint == hint]
    if not candidates:
        listed = ", ".join(k.label for k in trust.keys) or "no key"
        raise RefusedError(f"{what} was signed by key oms-key:{(hint or '?')[:16]}, which {trust.source} does not "
                           f"list ({listed})")
    for key in candidates:
        if _ecdsa_ok(serialization.load_pem_public_key(key.pem), sig, payload):
            ids = {f"oms-key:{key.hint}"} | ({key.signer} if key.signer else set())
            return f"key {key.label}" + (f" ({key.signer})" if key.signer else ""), ids
    raise RefusedError(f"{what} does not verify with key {candidates[0].label}: the envelope was not signed by it "
                       "or was altered")


def _check_certificate(chain: list, sig: bytes, payload: bytes, trust: Trust, what: str) -> tuple[str, set[str]]:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from OpenSSL import crypto

    certs = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])) for c in chain]
    leaf = certs[0]
    ids = certificate_identities(leaf)
    who = f"certificate {leaf.subject.rfc4514_string()}"
    if not trust.chain:
        raise RefusedError(f"{what} was signed with {who}, but {trust.source} names no CA certificate "
                           "(trust.oms.certificate_chain)")
    store = crypto.X509Store()
    for pem in trust.chain:
        for ca in x509.load_pem_x509_certificates(pem):
            store.add_cert(crypto.X509.from_cryptography(ca))
    store.set_time(leaf.not_valid_before_utc)   # no timestamp authority: valid when issued, as model_signing checks
    try:
        crypto.X509StoreContext(store, crypto.X509.from_cryptography(leaf),
                                [crypto.X509.from_cryptography(c) for c in certs[1:]]).verify_certificate()
    except crypto.X509StoreContextError as exc:
        raise RefusedError(f"{what}: {who} is not trusted by {trust.source}: {exc}") from None
    ext = leaf.extensions
    usage = next((e.value for e in ext if isinstance(e.value, x509.KeyUsage)), None)
    extended = next((e.value for e in ext if isinstance(e.value, x509.ExtendedKeyUsage)), None)
    if not ((usage is not None and usage.digital_signature)
            or (extended is not None and ExtendedKeyUsageOID.CODE_SIGNING in extended)):
        raise RefusedError(f"{what}: {who} may not sign (neither digitalSignature nor codeSigning usage)")
    if not _ecdsa_ok(leaf.public_key(), sig, payload, legacy_sha256=True):
        raise RefusedError(f"{what} does not verify with {who}: the envelope was not signed by it or was altered")
    if trust.identities and not ids & set(trust.identities):
        raise RefusedError(f"{what} was signed by {', '.join(sorted(ids)) or who}, which is not among the "
                           f"identities {trust.source} accepts ({', '.join(trust.identities)})")
    return (sorted(ids)[0] if ids else who), ids


def _statement(payload: bytes, what: str, signer: str, ids: set[str]) -> Verified:
    """The in-toto statement -> Verified, checked as model_signing's `dsse_payload_to_manifest`."""
    try:
        doc = json.loads(payload)
        if doc["_type"] != STATEMENT_TYPE:
            raise ValueError(f"statement type {doc['_type']}, expected {STATEMENT_TYPE}")
        if doc["predicateType"] == PREDICATE_TYPE_V01:
            files = {s["name"]: s["digest"]["sha256"] for s in doc["subject"]}
            return Verified(files, signer, frozenset(ids), "compat-undefined-not-present",
                            {"method": "files", "hash_type": "sha256", "allow_symlinks": False})
        if doc["predicateType"] != PREDICATE_TYPE:
            raise ValueError(f"predicate type {doc['predicateType']}, expected {PREDICATE_TYPE}")
        if len(doc["subject"]) != 1:
            raise ValueError(f"{len(doc['subject'])} subjects, expected one")
        root, files = hashlib.sha256(), {}
        for resource in doc["predicate"]["resources"]:
            digest = bytes.fromhex(resource["digest"])
            root.update(digest)
            files[resource["name"]] = digest.hex()
        if root.hexdigest() != doc["subject"][0]["digest"]["sha256"]:
            raise ValueError("the resources do not hash to the subject's root digest")
        serialization = dict(doc["predicate"]["serialization"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise IntegrityError(f"{what}: its statement is not a model signature: {exc}") from None
    return Verified(files, signer, frozenset(ids), doc["subject"][0].get("name", ""), serialization)


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


def require_file_sha256(verified: Verified, what: str) -> None:
    """RefusedError (5) unless the signature lists whole files by SHA-256 (model_signing's default),
    the digests a card records; shards or BLAKE hashes can only be checked by `verify_folder`."""
    args = verified.serialization
    if args.get("method") != "files" or args.get("hash_type") != "sha256":
        raise RefusedError(f"{what} lists {args.get('method')} by {args.get('hash_type')}; weightops compares whole "
                           "files by SHA-256 (model_signing's default serialization)")


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
