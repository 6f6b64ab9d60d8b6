"""Tag signatures: who signed a tag and whether git verifies it.

Verification is git's own (`git verify-tag --raw`): ssh-keygen for SSH signatures, checked
against an allowed-signers file in git's format that the caller takes from the TRUSTED policy
commit; gpg and its keyring for GPG signatures. Parsing git's raw output is pure.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from weightops.core import git, git_review
from weightops.errors import UsageError

# ssh-keygen: `Good "git" signature for alice@example.com with ED25519 key SHA256:...`
_SSH_GOOD = re.compile(r'^Good "git" signature for (?P<principal>.+?) with (?P<algo>\S+) key (?P<fpr>\S+)\s*$')
# ...and for a key that is in no allowed-signers line: `Good "git" signature with ED25519 key SHA256:...`
_SSH_UNKNOWN = re.compile(r'^Good "git" signature with (?P<algo>\S+) key (?P<fpr>\S+)\s*$')
_SSH_KEY = re.compile(r"\bkey (?P<fpr>SHA256:[A-Za-z0-9+/=]+)")


@dataclass(frozen=True)
class Verification:
    """What git says about one tag's signature. `valid` means git verified it (SSH: by a key
    in the allowed-signers file); whether that signer may do what the tag does is policy's
    question (trust.py)."""

    tag: str
    valid: bool
    format: str = ""               # "ssh", "gpg" or "" (no signature)
    principal: str | None = None   # SSH: the allowed-signers principal; GPG: the key's user id
    fingerprint: str | None = None  # SSH: SHA256:...; GPG: the primary key fingerprint
    problem: str = ""              # why it does not verify, in git's words

    @property
    def signed(self) -> bool:
        """Does the tag carry a signature (valid or not)?"""
        return bool(self.format)

    @property
    def signer(self) -> str:
        """A name for messages: the principal, else the key fingerprint, else what is known."""
        return self.principal or self.fingerprint or ("an unknown key" if self.format else "unsigned")

    def identities(self) -> set[str]:
        """Every name a policy entry may use for this signer. SSH: the principal the trusted
        allowed-signers file gave the key, or its fingerprint. GPG: the full fingerprint only
        (a user id or short key id is whatever the key's maker typed)."""
        if self.format == "gpg":
            return {f"gpg:{self.fingerprint}", self.fingerprint} if self.fingerprint else set()
        return {i for i in (self.principal, self.fingerprint) if i}


def parse_verify_output(tag: str, returncode: int, stderr: str, object_name: str = "") -> Verification:
    """Pure: `git verify-tag --raw` exit code and stderr, plus the name inside the tag object,
    -> Verification."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if any(line.startswith("[GNUPG:]") for line in lines):
        return _parse_gpg(tag, returncode, object_name, lines)
    for line in lines:
        m = _SSH_GOOD.match(line)
        if m and returncode == 0:
            if object_name and object_name != tag:
                return Verification(tag, False, "ssh", m["principal"], m["fpr"],
                                    f"the signed tag object is named '{object_name}', not '{tag}' (a replayed signature)")
            return Verification(tag, True, "ssh", m["principal"], m["fpr"])
    fpr = next((m["fpr"] for m in map(_SSH_UNKNOWN.match, lines) if m), None)
    if fpr:
        return Verification(tag, False, "ssh", None, fpr, "its key is not in the trusted allowed-signers file")
    if any("no signature found" in line for line in lines):
        return Verification(tag, False, "", problem="the tag is not signed")
    fpr = next((m["fpr"] for m in map(_SSH_KEY.search, lines) if m), None)
    problem = next((line for line in lines if "fail" in line.lower() or "incorrect" in line.lower()),
                   lines[-1] if lines else f"git verify-tag exited {returncode}")
    return Verification(tag, False, "ssh" if fpr or "ssh" in stderr.lower() or "signature" in problem.lower() else "",
                        None, fpr, problem.removeprefix("error: "))


def _parse_gpg(tag: str, returncode: int, object_name: str, lines: list[str]) -> Verification:
    status = {}
    for line in lines:
        if line.startswith("[GNUPG:] "):
            key, _, rest = line[len("[GNUPG:] "):].partition(" ")
            status.setdefault(key, rest)
    uid = status.get("GOODSIG", "").partition(" ")[2] or None
    valid = status.get("VALIDSIG", "").split()
    fpr = valid[-1] if len(valid) >= 10 else (valid[0] if valid else None)
    if returncode == 0 and "GOODSIG" in status and fpr:
        if object_name and object_name != tag:
            return Verification(tag, False, "gpg", uid, fpr,
                                f"the signed tag object is named '{object_name}', not '{tag}' (a replayed signature)")
        return Verification(tag, True, "gpg", uid, fpr)
    for key, why in (("BADSIG", "bad signature"), ("EXPKEYSIG", "the key expired"),
                     ("REVKEYSIG", "the key was revoked"), ("NO_PUBKEY", "the key is not in the keyring"),
                     ("ERRSIG", "gpg could not check it")):
        if key in status:
            return Verification(tag, False, "gpg", uid, fpr, why)
    return Verification(tag, False, "gpg", uid, fpr, f"git verify-tag exited {returncode}")


class Verifier:
    """Verifies tags of one repository against one allowed-signers text. The text is written to
    a private temp file for git (it never comes from the work tree or the promoted commit);
    results are memoised per tag. Use as a context manager so the file is removed."""

    def __init__(self, repo: str | os.PathLike, allowed_signers: str | None) -> None:
        self.repo = repo
        self._dir = tempfile.TemporaryDirectory(prefix="weightops-trust-")
        self.file = Path(self._dir.name) / "allowed_signers"
        self.file.write_text(allowed_signers or "")
        self._seen: dict[str, Verification] = {}
        self._names: dict[str, str] | None = None

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the temporary allowed-signers file; closing twice is harmless."""
        self._dir.cleanup()

    def many(self, tags: list[str]) -> dict[str, Verification]:
        """Verify many tags, a few git processes at a time (each spends its time in ssh-keygen
        or gpg, not in Python)."""
        if self._names is None:
            self._names = git_review.tag_object_names(self.repo)
        todo = [t for t in dict.fromkeys(tags) if t not in self._seen]
        if len(todo) > 1:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
                list(pool.map(self, todo))
        return {t: self(t) for t in tags}

    def __call__(self, tag: str) -> Verification:
        if tag not in self._seen:
            if self._names is None:
                self._names = git_review.tag_object_names(self.repo)
            proc = git_review.verify_tag(self.repo, tag, self.file)
            self._seen[tag] = parse_verify_output(tag, proc.returncode, proc.stderr, self._names.get(tag, ""))
        return self._seen[tag]


def choose_signing(project, sign: bool | None) -> bool:
    """Whether a registry write signs its tag: `sign` when given, else the project's
    `trust.sign`. When signing, checks git can sign before any work is done (UsageError, exit 2,
    naming the git setting to make)."""
    sign = project.config.sign if sign is None else sign
    if sign:
        check_signing_configured(project.root)
    return sign


def check_signing_configured(repo: str | os.PathLike) -> str:
    """Before writing a signed tag: say what to configure instead of failing inside git. Returns the
    signature format git will use (`ssh`, `openpgp`, `x509`). UsageError (2) naming the git setting
    to make when no usable signing key is configured."""
    fmt = (git.config_get(repo, "gpg.format") or "openpgp").lower()
    key = git.config_get(repo, "user.signingkey")
    if fmt == "ssh":
        if not key:
            raise UsageError("--sign with gpg.format=ssh needs a key: run "
                             "`git config user.signingkey ~/.ssh/id_ed25519.pub`")
        if not key.startswith(("ssh-", "key::", "ecdsa-", "sk-")):
            path = Path(os.path.expanduser(key))
            if not path.is_absolute():
                path = Path(repo) / path
            if not path.is_file():
                raise UsageError(f"user.signingkey '{key}' is not a file; point it at your SSH key "
                                 "(`git config user.signingkey ~/.ssh/id_ed25519.pub`)")
    elif fmt in ("openpgp", "x509") and not key and not git.config_get(repo, "user.email"):
        raise UsageError("--sign needs a signing key: for SSH run `git config gpg.format ssh` and "
                         "`git config user.signingkey ~/.ssh/id_ed25519.pub`; for GPG set user.signingkey")
    return fmt
