"""OpenSSF Model Signing, differentially against the reference (`model_signing`'s own CLI): it
accepts every signature weightops makes from recorded digests; weightops accepts the ones it
makes; and both refuse a changed byte, a renamed or an extra file, a wrong key, a certificate
from an untrusted CA and one issued after its CA expired."""

from __future__ import annotations

import hashlib
import json
import base64
import re
import shutil
from pathlib import Path

import pytest

from helpers import assert_one_line_error, run_cli
from weightops.errors import IntegrityError, RefusedError, UsageError
from weightops.trust import oms, oms_sign

from .oms_pki import make_pki, model_signing

FILES = {"clf.safetensors": b"\x00\x01weights" * 500, "shards/model-00001.bin": b"A" * 3000,
         "clf.card.yaml": b"model: clf\nartifact:\n  sha256: x\n"}
SIGNERS = ["weightops-key", "weightops-cert", "reference-key", "reference-cert"]


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "model.sig"}


@pytest.fixture(scope="session")
def signed_models(pki, tmp_path_factory) -> dict[str, Path]:
    """One folder per signer, each holding FILES and model.sig, signed once per session."""
    made = {}
    for signer in SIGNERS:
        folder = tmp_path_factory.mktemp(signer) / "model"
        for rel, data in FILES.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        if signer.startswith("weightops"):
            key = (oms.SigningKey(pki.key) if signer.endswith("key")
                   else oms.SigningKey(pki.leaf_key, certificate=pki.leaf, chain=(pki.ca,)))
            (folder / "model.sig").write_bytes(oms_sign.sign(digests(folder), "model", key))   # no file is read
        else:
            mode = (["key", "--private_key", pki.key] if signer.endswith("key") else
                    ["certificate", "--private_key", pki.leaf_key, "--signing_certificate", pki.leaf,
                     "--certificate_chain", pki.ca])
            proc = model_signing("sign", mode[0], folder, "--signature", folder / "model.sig", *mode[1:])
            assert proc.returncode == 0, proc.stderr
        made[signer] = folder
    return made


def copy_of(signed_models, signer, tmp_path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(signed_models[signer], folder)
    return folder


def reference_verify(folder: Path, pki, signer: str, *, key=None, ca=None) -> bool:
    if signer.endswith("key"):
        proc = model_signing("verify", "key", folder, "--signature", folder / "model.sig",
                             "--public_key", key or pki.pub)
    else:
        proc = model_signing("verify", "certificate", folder, "--signature", folder / "model.sig",
                             "--certificate_chain", ca or pki.ca)
    return proc.returncode == 0 and "Verification succeeded" in proc.stdout


def weightops_verify(folder: Path, pki, signer: str, *, key=None, ca=None):
    from weightops.deploy.oms import verify_signed_folder

    if signer.endswith("key"):
        return verify_signed_folder(folder, folder / "model.sig", [key or pki.pub])
    return verify_signed_folder(folder, folder / "model.sig", (), [ca or pki.ca], ["alice@example.com"])


@pytest.mark.parametrize("signer", SIGNERS)
def test_both_accept_every_signature(signed_models, pki, signer):
    folder = signed_models[signer]
    assert reference_verify(folder, pki, signer)
    verified = weightops_verify(folder, pki, signer)
    assert verified.files == digests(folder)
    assert "alice@example.com" in verified.identities or signer.endswith("key")


def test_weightops_writes_the_reference_format(signed_models):
    """Same statement as model_signing's: predicate type, serialization, sorted resources, root digest."""
    ours, theirs = (json.loads(base64.b64decode(json.loads((signed_models[s] / "model.sig").read_text())
                                                ["dsseEnvelope"]["payload"])) for s in ("weightops-key", "reference-key"))
    assert ours["predicateType"] == theirs["predicateType"] == "https://model_signing/signature/v1.0"
    assert ours["predicate"]["resources"] == theirs["predicate"]["resources"]
    assert ours["subject"][0]["digest"] == theirs["subject"][0]["digest"]
    for key in ("method", "hash_type", "allow_symlinks"):
        assert ours["predicate"]["serialization"][key] == theirs["predicate"]["serialization"][key]


def _change_byte(folder: Path) -> None:
    data = bytearray((folder / "clf.safetensors").read_bytes())
    data[100] ^= 1
    (folder / "clf.safetensors").write_bytes(bytes(data))


def _rename(folder: Path) -> None:
    (folder / "shards" / "model-00001.bin").rename(folder / "shards" / "model-00002.bin")


def _extra(folder: Path) -> None:
    (folder / "notes.txt").write_text("not signed\n")


@pytest.mark.parametrize("signer", ["weightops-key", "reference-cert"])   # both producers, both modes
@pytest.mark.parametrize("tamper,named", [(_change_byte, "clf.safetensors"), (_rename, "model-0000"),
                                          (_extra, "notes.txt")])
def test_both_refuse_changed_bytes_and_files(signed_models, pki, signer, tamper, named, tmp_path):
    folder = copy_of(signed_models, signer, tmp_path)
    tamper(folder)
    assert not reference_verify(folder, pki, signer)
    with pytest.raises(IntegrityError, match=named):
        weightops_verify(folder, pki, signer)


@pytest.mark.parametrize("signer", ["weightops-key", "reference-key"])
def test_both_refuse_a_wrong_key(signed_models, pki, signer):
    folder = signed_models[signer]
    assert not reference_verify(folder, pki, signer, key=pki.other_pub)
    with pytest.raises(RefusedError, match="oms-key:"):
        weightops_verify(folder, pki, signer, key=pki.other_pub)


@pytest.mark.parametrize("signer", ["weightops-cert", "reference-cert"])
def test_both_refuse_a_certificate_from_an_untrusted_ca(signed_models, pki, signer):
    folder = signed_models[signer]
    assert not reference_verify(folder, pki, signer, ca=pki.rogue_ca)
    with pytest.raises(RefusedError, match="CN=alice.*not trusted"):
        weightops_verify(folder, pki, signer, ca=pki.rogue_ca)


@pytest.mark.parametrize("how", ["weightops", "reference"])
def test_both_refuse_a_certificate_issued_after_its_ca_expired(pki, how, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"w" * 100)
    if how == "weightops":
        (folder / "model.sig").write_bytes(oms_sign.sign(digests(folder), "model",
                                                    oms.SigningKey(pki.leaf_key, certificate=pki.late_leaf,
                                                                   chain=(pki.old_ca,))))
    else:
        assert model_signing("sign", "certificate", folder, "--signature", folder / "model.sig", "--private_key",
                             pki.leaf_key, "--signing_certificate", pki.late_leaf,
                             "--certificate_chain", pki.old_ca).returncode == 0
    assert not reference_verify(folder, pki, "cert", ca=pki.old_ca)
    with pytest.raises(RefusedError, match="expired"):
        weightops_verify(folder, pki, "cert", ca=pki.old_ca)


def test_identity_not_accepted_is_refused(signed_models, pki):
    from weightops.deploy.oms import verify_signed_folder

    folder = signed_models["reference-cert"]
    with pytest.raises(RefusedError, match="alice@example.com.*bob@example.com"):
        verify_signed_folder(folder, folder / "model.sig", (), [pki.ca], ["bob@example.com"])


def test_cli_exit_codes_and_one_line(signed_models, pki, tmp_path):
    folder = copy_of(signed_models, "reference-key", tmp_path)
    ok = run_cli(["verify", str(folder), "--oms", str(folder / "model.sig"), "--public-key", str(pki.pub)], cwd=tmp_path)
    assert ok.returncode == 0 and "3 files match" in ok.stdout, ok.stderr
    wrong = run_cli(["verify", str(folder), "--oms", str(folder / "model.sig"), "--public-key", str(pki.other_pub)],
                    cwd=tmp_path)
    assert_one_line_error(wrong, 5, "oms-key:")
    _change_byte(folder)
    changed = run_cli(["verify", str(folder), "--oms", str(folder / "model.sig"), "--public-key", str(pki.pub)],
                      cwd=tmp_path)
    assert_one_line_error(changed, 4, "clf.safetensors")
    private = run_cli(["verify", str(folder), "--oms", str(folder / "model.sig"), "--public-key", str(pki.key)],
                      cwd=tmp_path)
    assert_one_line_error(private, 5, "PRIVATE key")
    nokey = run_cli(["verify", str(folder), "--oms", str(folder / "model.sig")], cwd=tmp_path)
    assert_one_line_error(nokey, 2, "--public-key")


def test_not_a_signature_and_unusable_keys(pki, tmp_path):
    with pytest.raises(IntegrityError, match="not an OMS signature"):
        oms.check_bundle(b"{not json", oms.Trust(), "x.sig")
    with pytest.raises(UsageError, match="does not exist"):
        oms_sign.sign({"a": "00" * 32}, "m", oms.SigningKey(tmp_path / "missing.pem"))
    with pytest.raises(UsageError, match="cannot sign with"):
        oms_sign.sign({"a": "00" * 32}, "m", oms.SigningKey(pki.pub))   # a public key is no signing key
    with pytest.raises(UsageError, match="--oms-cert-chain"):
        oms_sign.sign({"a": "00" * 32}, "m", oms.SigningKey(pki.leaf_key, certificate=pki.leaf))


@pytest.mark.parametrize("signer", ["weightops-key", "reference-cert"])
def test_both_refuse_an_altered_statement(signed_models, pki, signer, tmp_path):
    """A digest changed inside the signed statement (the envelope re-encoded): the signature no longer verifies."""
    folder = copy_of(signed_models, signer, tmp_path)
    bundle = json.loads((folder / "model.sig").read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (folder / "model.sig").write_text(json.dumps(bundle))
    assert not reference_verify(folder, pki, signer)
    with pytest.raises(RefusedError, match="does not verify"):
        weightops_verify(folder, pki, signer)


def test_checking_a_signature_does_not_load_model_signing(signed_models, pki):
    """The deploy path checks bundles without importing model_signing (its import loads Sigstore's
    keyless client: ~0.9 CPU-seconds per pull)."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from weightops.trust import oms;"
            f"t = oms.Trust(keys=(oms.TrustedKey('k', Path({str(pki.pub)!r}).read_bytes()),));"
            f"v = oms.check_bundle(Path({str(signed_models['reference-key'] / 'model.sig')!r}).read_bytes(), t);"
            "print(len(v.files), 'model_signing' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "False"]


def test_trust_oms_settings_are_schema_checked():
    from weightops.core.config import parse_config

    oms_settings = parse_config("trust:\n  oms:\n    public_keys: [k.pub, {path: a.pub, signer: alice@example.com}]\n"
                                "    identities: [bob@example.com]\n    require: [production]\n").trust.oms
    assert oms_settings.public_keys == (("k.pub", None), ("a.pub", "alice@example.com"))
    assert oms_settings.required("production") and not oms_settings.required("staging") and oms_settings.signs
    for bad, said in [("public_keys: [../outside.pub]", "must stay inside the repository"),
                      ("pubkeys: [k.pub]", "unknown key `trust.oms.pubkeys`"),
                      ("public_keys: [{path: a.pub, x: 1}]", "trust.oms.public_keys[0].x"),
                      ("require: maybe", "trust.oms.require")]:
        with pytest.raises(UsageError, match=re.escape(said)):
            parse_config(f"trust:\n  oms:\n    {bad}\n")
