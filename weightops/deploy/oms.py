"""OMS signatures on the deploy path: `pull`, `sync` and `lock` with `--require-oms` (or
`trust.oms.require` for the stage) verify a version's signature before anything is written.

The check costs no pass over the weights: the signature is verified (envelope, key or
certificate, identity, the stage's signer rule), then its file list must equal the one the card
records (names and SHA-256s). The pull already checks every byte against the card's SHA-256
while it streams, so the bytes written are the bytes signed.

Keys come from, in this order: `--oms-public-key`/`--oms-ca` given on the command line; a
weightops.yaml held on the host (`--trust-policy FILE`); `trust.oms` at the trusted policy
commit (`--trust-policy REV`, $WEIGHTOPS_TRUST_POLICY, `git config weightops.trustPolicy`, the
trusted remote's default branch). In the last case the stage's signer rule of that policy
(`trust.stages.STAGE`, `trust.release` for a version) must allow one of the signer's
identities: a key's `signer` name or `oms-key:<sha256>`, a certificate's SAN email or URI or CN.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from weightops.errors import IntegrityError, RefusedError, UsageError
from weightops.trust.oms import Trust, Verified, check_bundle, compare, require_file_sha256


@dataclass(frozen=True)
class OmsOptions:
    """What a pull does about OMS signatures: `require` (None: `trust.oms.require` for the stage),
    `with_signature` (write DIR/model.sig and the card beside the pulled files; implies require),
    where the keys come from (`trust_policy`: a revision or a host file; or `public_keys` and
    `chain`, PEM paths, with certificate `identities`); `stage`: the stage the version is deployed
    for when the reference names none (`sync` pulls a stage's version by its version number)."""
    require: bool | None = None
    with_signature: bool = False
    trust_policy: str | os.PathLike | None = None
    public_keys: tuple = ()
    chain: tuple = ()
    identities: tuple = field(default=())
    stage: str | None = None


@dataclass(frozen=True)
class Checked:
    """A verified signature for a resolved version: the signed set, the signature's bytes and URL,
    and who signed."""
    signed: object          # trust.oms_store.SignedSet
    data: bytes
    url: str
    verified: Verified


def required(project, r, options: OmsOptions | None) -> bool:
    """Whether this pull verifies: asked for, or `trust.oms.require` of the checkout for r's stage."""
    if options is not None and (options.require or options.with_signature):
        return True
    if options is not None and options.require is False:
        return False
    return project.config.trust.oms.required(r.stage or (options.stage if options else None))


def trust_for(project, options: OmsOptions):
    """(Trust, Policy or None): the keys that verify, and the trust policy whose signer rules apply
    (None for keys given on the command line). RefusedError (5) when no key or CA is configured."""
    from weightops.trust import oms_store

    if options.public_keys or options.chain:
        return oms_store.trust_from_paths(options.public_keys, options.chain, options.identities), None
    if options.trust_policy is not None and Path(options.trust_policy).is_file():
        from weightops.deploy.host_policy import load_trust_policy

        trust, policy = oms_store.trust_from_file(options.trust_policy), load_trust_policy(options.trust_policy)
    else:
        from weightops.trust.policy import load_policy, policy_rev

        try:
            commit = policy_rev(project, str(options.trust_policy) if options.trust_policy else None)
        except RefusedError:
            raise RefusedError("--require-oms needs the keys that verify: a trusted policy commit with trust.oms "
                               "(--trust-policy REV or `git config weightops.trustPolicy REV`), a host file "
                               "(--trust-policy FILE), or --oms-public-key PEM") from None
        trust, _ = oms_store.trust_at_commit(project, commit)
        policy = load_policy(project, commit) if not trust.empty else None
    if trust.empty:
        raise RefusedError(f"--require-oms: {trust.source} lists no OMS public key or CA certificate "
                           "(trust.oms.public_keys, trust.oms.certificate_chain)")
    return trust, policy


def check(project, r, store, target: Path | None, options: OmsOptions | None) -> Checked | None:
    """Verify r's OMS signature (from `store`, the version's opened DVC remote) when `required`;
    None when not. Errors as `start`."""
    gate = start(project, r, store, target, options)
    return gate() if gate else None


def start(project, r, store, target: Path | None, options: OmsOptions | None):
    """Begin checking r's OMS signature when `required` (else None): the policy, the keys and the
    signature are read here, so a missing one is refused at once; the verification (model_signing's
    import, the envelope, the certificate chain) runs in a thread beside the download. Returns
    `gate()`, which waits for it and returns the Checked or raises. UsageError (2) when
    `with_signature` and `target` is not named as the artifact (the signed names would not match);
    RefusedError (5) for a missing signature, an untrusted signer or one the stage's rule does not
    allow; IntegrityError (4) when the signed files differ from the card's."""
    if not required(project, r, options):
        return None
    import threading

    from weightops.trust import oms_store

    options = options or OmsOptions()
    name = posixpath.basename(r.located.pointer.path.rstrip("/"))
    if options.with_signature and target is not None and target.name != name:
        raise UsageError(f"--with-signature writes the files under the names they were signed with: pull into "
                         f"a folder (-o DIR/) so the weights keep their name {name}, not {target.name}")
    trust, policy = trust_for(project, options)
    signed = oms_store.signed_set(project, r.located)
    data, url = oms_store.fetch_signature(store, signed, r.tag)
    outcome: dict = {}

    def run() -> None:
        try:
            verified = check_verified(data, trust, policy, r, url, r.stage or options.stage)
            compare(verified.files, signed.files, f"{r.tag}: the OMS signature {url} and the card")
            outcome["checked"] = Checked(signed, data, url, verified)
        except BaseException as exc:  # noqa: BLE001 - raised again by gate() in the pulling thread
            outcome["error"] = exc
    # Not a daemon: the interpreter joins it at exit. A daemon thread still inside the crypto
    # libraries (Rust, via pyo3) when a failed pull exits is ended by a forced unwind that aborts
    # the process (SIGABRT, "exception not rethrown") instead of exiting with the pull's code.
    worker = threading.Thread(target=run, name="weightops-oms", daemon=False)
    worker.start()

    def gate() -> Checked:
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["checked"]
    return gate


def finish(gate, target: Path, options: OmsOptions | None) -> str | None:
    """After the pull: wait for `start`'s check (raising what it raised), write model.sig and the
    card beside `target` when `with_signature`; returns who signed, None when nothing was checked."""
    if gate is None:
        return None
    checked = gate()
    if options is not None and options.with_signature:
        write_beside(target, checked)
    return checked.verified.signer


def check_oci(project, r, client, repo: str, digest: str, target: Path | None,
              options: OmsOptions | None) -> Checked | None:
    """`pull --via oci --require-oms`: the OMS signature attached to the version's OCI manifest
    `digest` in `repo` (registry/oms_oci.py), verified as `check` does, before the download. None
    when not required; RefusedError (5) when none is attached or none verifies."""
    if not required(project, r, options):
        return None
    from weightops.registry.oms_oci import fetch
    from weightops.trust import oms_store

    options = options or OmsOptions()
    trust, policy = trust_for(project, options)
    signed = oms_store.signed_set(project, r.located)
    bundles = fetch(client, repo, digest)
    if not bundles:
        raise RefusedError(f"{r.tag}: no OMS signature is attached to {repo}@{digest} (referrers tag "
                           f"{digest.replace(':', '-')}); sign it and `weightops publish --oci` again")
    failure: Exception | None = None
    for data in reversed(bundles):   # the newest attached first
        try:
            verified = check_verified(data, trust, policy, r, f"{repo}@{digest}", r.stage or options.stage)
            compare(verified.files, signed.files, f"{r.tag}: the OMS signature attached in {repo} and the card")
            return Checked(signed, data, f"{repo}@{digest}", verified)
        except (RefusedError, IntegrityError) as exc:
            failure = exc
    raise failure  # type: ignore[misc]


def check_resolved(r, *, repo: str | os.PathLike = ".", remote: str | None = None,
                   options: OmsOptions | None = None) -> Checked | None:
    """`check` for a version resolved from `repo` when nothing is pulled (`lock`): opens its remote."""
    from weightops.opening import open_project
    from weightops.storage.backends import open_store

    project = open_project(repo)
    if not required(project, r, options):
        return None
    rem = project.remote(r.commit, remote, root=r.located.dvc_root, pointer=r.located.pointer)
    if rem is None:
        raise RefusedError(f"{r.tag}: no DVC remote is configured at {r.commit[:12]} to read its OMS signature from")
    return check(project, r, open_store(project, rem), None, options)


def check_verified(data: bytes, trust: Trust, policy, r, url: str, stage: str | None = None) -> Verified:
    """The signature verified against `trust`, and its signer allowed by `policy`'s rule for
    `stage` (None: the release rule). RefusedError (5) naming the signer and the rule."""
    verified = check_bundle(data, trust, f"{r.tag}: OMS signature {url}")
    require_file_sha256(verified, f"{r.tag}: OMS signature {url}")
    if policy is not None and not policy.allowed(stage, set(verified.identities)):
        raise RefusedError(f"{r.tag}: OMS signer {verified.signer} is not allowed by {policy.describe(stage)}")
    return verified


def write_beside(target: Path, checked: Checked) -> Path:
    """Write the card and the signature (model.sig) into the folder holding `target`, atomically;
    returns the signature's path. `model_signing verify key FOLDER --signature FOLDER/model.sig`
    then checks the folder on its own."""
    from weightops.core.atomic import atomic_open
    from weightops.trust.oms_store import signature_file

    folder = target.parent
    with atomic_open(folder / checked.signed.card_name) as f:
        f.write(checked.signed.card)
    path = signature_file(folder)
    with atomic_open(path) as f:
        f.write(checked.data)
    return path


def verify_signed_folder(path: str | os.PathLike, signature: str | os.PathLike, public_keys=(), cas=(),
                         identities=()) -> Verified:
    """`weightops verify PATH --oms SIGNATURE`: PATH against a signature made by anyone, with the
    keys or CA certificates given, else those of the trusted policy of the repository here.
    UsageError (2) when there are none; RefusedError (5) and IntegrityError (4) as `verify_folder`."""
    from weightops.errors import NotFoundError
    from weightops.trust.oms_sign import verify_folder
    from weightops.trust.oms_store import trust_from_paths

    if public_keys or cas:
        trust = trust_from_paths(public_keys, cas, identities)
    else:
        from weightops.project import Project

        try:
            trust, _ = trust_for(Project("."), OmsOptions())
        except (NotFoundError, RefusedError):
            raise UsageError("--oms needs the signer's key: pass --public-key PEM (or --oms-ca PEM for a "
                             "certificate), or run it in a repository whose trusted policy has trust.oms") from None
    return verify_folder(Path(path), Path(signature), trust)


def check_index_entry(r, url: str, target: Path | None, options: OmsOptions | None) -> Checked | None:
    """`pull --index URL --require-oms`: verify the OMS signature the published index carries for r
    (registry/publish.py) against the keys given or the host's `--trust-policy FILE`, and its files
    against the index's record (names and SHA-256s), before the download. None when not asked.
    RefusedError (5) when the index has no signature or no key vouches for it; IntegrityError (4)
    when the signed files differ from the record."""
    import hashlib
    import json

    from weightops.trust import oms_store

    if options is None or not (options.require or options.with_signature):
        return None
    entry = r.card.get("oms")
    if not entry:
        raise RefusedError(f"{r.tag}: the index {url} carries no OMS signature for it; sign it "
                           f"(`weightops sign {r.version} --oms-key PEM`) and publish again")
    policy = None
    if options.public_keys or options.chain:
        trust = oms_store.trust_from_paths(options.public_keys, options.chain, options.identities)
    elif options.trust_policy is not None:
        from weightops.deploy.host_policy import load_trust_policy

        trust, policy = oms_store.trust_from_file(options.trust_policy), load_trust_policy(options.trust_policy)
    else:
        raise RefusedError("--require-oms with --index needs this host's keys: --trust-policy FILE (a weightops.yaml "
                           "with trust.oms) or --oms-public-key PEM")
    name = posixpath.basename(r.path.rstrip("/"))
    if options.with_signature and target is not None and target.name != name:
        raise UsageError(f"--with-signature writes the files under the names they were signed with: pull into "
                         f"a folder (-o DIR/) so the weights keep their name {name}, not {target.name}")
    files = r.card["artifact"].get("files") or []
    expected = {f"{name}/{f['path']}": f["sha256"] for f in files} if files else {name: r.sha256}
    expected[entry["card"]] = entry["card_sha256"]
    card = entry["card_text"].encode("utf-8")
    if hashlib.sha256(card).hexdigest() != entry["card_sha256"]:
        raise RefusedError(f"{r.tag}: the card text in the index {url} does not have the SHA-256 it states")
    data = json.dumps(entry["bundle"]).encode()
    verified = check_verified(data, trust, policy, r, f"{url} ({r.version})", r.stage)
    compare(verified.files, expected, f"{r.tag}: the OMS signature in {url} and the index's record")
    return Checked(oms_store.SignedSet(expected, entry["card"], card), data, url, verified)
