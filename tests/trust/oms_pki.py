"""Test keys and certificates for OpenSSF Model Signing, made with `cryptography`: elliptic-curve
keys (P-256, as model_signing expects), a CA, a signing certificate it issued for
alice@example.com, one from a CA nobody trusts, and one issued after its CA had expired."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Pki:
    folder: Path

    def __getattr__(self, name: str) -> Path:   # pki.key, pki.pub, pki.leaf ...: files in the folder
        return self.folder / f"{name}.pem"


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _write_pub(path: Path, key) -> None:
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))


def _cert(subject: str, key, issuer_name: str, issuer_key, *, ca: bool, start: dt.datetime, end: dt.datetime,
          email: str | None = None) -> x509.Certificate:
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        if email:
            b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path) -> Pki:
    """key/pub (the release key), other/other_pub (a key nobody trusts), ca (trusted CA), leaf +
    leaf_key (alice@example.com, issued by ca), rogue_ca + rogue_leaf (same key, untrusted CA),
    old_ca + late_leaf (issued after old_ca expired)."""
    folder.mkdir(parents=True, exist_ok=True)
    day = dt.timedelta(days=1)
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    _write_key(folder / "key.pem", key)
    _write_pub(folder / "pub.pem", key)
    _write_key(folder / "other.pem", other)
    _write_pub(folder / "other_pub.pem", other)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    _write_key(folder / "leaf_key.pem", leaf_key)
    for name, when in (("ca", (NOW - 30 * day, NOW + 365 * day)), ("rogue_ca", (NOW - 30 * day, NOW + 365 * day)),
                       ("old_ca", (NOW - 60 * day, NOW - 10 * day))):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(name, ca_key, name, ca_key, ca=True, start=when[0], end=when[1])
        (folder / f"{name}.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        leaf_name = {"ca": "leaf", "rogue_ca": "rogue_leaf", "old_ca": "late_leaf"}[name]
        start = NOW - 5 * day if name == "old_ca" else NOW - day   # late_leaf: issued after old_ca expired
        leaf = _cert("alice", leaf_key, name, ca_key, ca=False, start=start, end=NOW + 30 * day,
                     email="alice@example.com")
        (folder / f"{leaf_name}.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return Pki(folder)


def model_signing(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The reference: model_signing's own CLI (`python -m model_signing`), as a user runs it."""
    return subprocess.run([sys.executable, "-m", "model_signing", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
