"""OpenSSF Model Signing on the deploy path, end to end with real git, DVC and model_signing:
a release signed with `--oms-key` is pulled with `--require-oms` (or by the stage's default),
verified before anything is written, and the pulled folder passes `model_signing verify` alone."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from helpers import SHARDS, add_dir_artifact, assert_one_line_error
from trust.oms_pki import make_pki, model_signing

PUB = ".weightops/oms/release.pub"
POLICY = f"""trust:
  oms:
    public_keys:
      - {{path: {PUB}, signer: alice@example.com}}
    require: [production]
"""


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def trust_oms(project, pki, extra: str = "", pub=None) -> None:
    """Commit trust.oms (the release key's public half) and make that commit the trusted policy."""
    (project.root / ".weightops" / "oms").mkdir(parents=True, exist_ok=True)
    shutil.copy(pub or pki.pub, project.root / PUB)
    with open(project.root / "weightops.yaml", "a") as f:
        f.write(POLICY + extra)
    project.git("add", "-A")
    project.git("commit", "-qm", "trust: OMS release key")
    project.git("config", "weightops.trustPolicy", project.head())


def test_signed_release_is_verified_on_pull_and_the_folder_passes_model_signing(project, pki, tmp_path):
    trust_oms(project, pki)
    done = project.wo("release", "v1.0.0", "--push", env={"WEIGHTOPS_OMS_KEY": str(pki.key)}, check=True)
    assert "OMS signature: " in done.stdout and "/weightops/oms/v1/" in done.stdout
    out = tmp_path / "deploy"
    pulled = project.wo_json("pull", "v1.0.0", "-o", f"{out}/", "--with-signature")
    assert pulled["oms_signer"] == f"key {PUB} (alice@example.com)"
    assert sorted(p.name for p in out.iterdir()) == ["clf.card.yaml", "clf.safetensors", "model.sig"]
    assert (out / "clf.card.yaml").read_bytes() == project.card.read_bytes()
    ref = model_signing("verify", "key", out, "--signature", out / "model.sig", "--public_key", pki.pub)
    assert ref.returncode == 0 and "Verification succeeded" in ref.stdout, ref.stderr
    ok = project.wo("verify", str(out), "--oms", str(out / "model.sig"), check=True)   # keys of the trusted policy
    assert "3 files match" not in ok.stdout and "2 files match" in ok.stdout


def test_altered_object_halts_the_verified_pull_with_nothing_written(project, pki, tmp_path):
    trust_oms(project, pki)
    project.release("v1.0.0", "--oms-key", str(pki.key))
    url = project.wo_json("resolve", "v1.0.0")["url"]
    data = open(url, "rb").read()
    os.chmod(url, 0o644)
    open(url, "wb").write(data[::-1])       # same size, other bytes: the signature still matches the card
    out = tmp_path / "deploy"
    proc = project.wo("pull", "v1.0.0", "-o", f"{out}/", "--require-oms")
    assert_one_line_error(proc, 4, "sha256")
    assert not out.exists() or not any(out.iterdir())


def test_signature_by_a_key_the_policy_does_not_list_is_refused(project, pki, tmp_path):
    trust_oms(project, pki)
    project.release("v1.0.0", "--oms-key", str(pki.key))
    project.wo("sign", "v1.0.0", "--oms-key", str(pki.other), check=True)   # replaces the signature
    out = tmp_path / "deploy"
    proc = project.wo("pull", "v1.0.0", "-o", f"{out}/", "--require-oms")
    assert_one_line_error(proc, 5, "oms-key:", PUB)
    assert not out.exists() or not any(out.iterdir())     # the download was checked, never renamed into place
    # The same version with the listed key's signature again: accepted.
    project.wo("sign", "v1.0.0", "--oms-key", str(pki.key), check=True)
    project.wo("pull", "v1.0.0", "-o", f"{out}/", "--require-oms", check=True)


def test_stage_default_and_signer_rule(project, pki, tmp_path):
    """trust.oms.require lists production: a plain pull of production verifies; the stage's
    signer rule must name the key's signer."""
    trust_oms(project, pki, extra="  stages:\n    production: [bob@example.com]\n")
    project.release("v1.0.0", "--oms-key", str(pki.key))
    project.wo("promote", "v1.0.0", "production", check=True)
    proc = project.wo("pull", "production", "-o", f"{tmp_path}/a/")
    assert_one_line_error(proc, 5, "alice@example.com", "trust.stages.production")
    plain = project.wo_json("pull", "v1.0.0", "-o", f"{tmp_path}/b/")   # a version: not required by default
    assert plain["oms_signer"] is None


def test_release_and_sign_refusals(project, pki, tmp_path):
    trust_oms(project, pki)
    proc = project.wo("release", "v1.0.0", "--push")
    assert_one_line_error(proc, 5, "trust.oms.require", "--oms-key")
    inside = project.root.parent / "project" / "release.pem"
    shutil.copy(pki.key, inside)
    proc = project.wo("release", "v1.0.0", "--push", "--oms-key", str(inside))
    assert_one_line_error(proc, 5, "inside the repository")
    inside.unlink()
    assert project.git("tag") == ""     # nothing was released


def test_older_version_signed_later_and_locked(project, pki, tmp_path):
    project.release("v1.0.0")                      # before any OMS policy
    trust_oms(project, pki)
    missing = project.wo("lock", "v1.0.0", "-o", str(tmp_path / "model.lock.yaml"), "--require-oms")
    assert_one_line_error(missing, 5, "no OMS signature", "weightops sign v1.0.0")
    signed = project.wo_json("sign", "v1.0.0", "--oms-key", str(pki.key))
    assert set(signed["files"]) == {"clf.safetensors", "clf.card.yaml"}
    project.wo("lock", "v1.0.0", "-o", str(tmp_path / "model.lock.yaml"), "--require-oms", check=True)


def test_private_key_among_public_keys_is_refused(project, pki, tmp_path):
    project.release("v1.0.0")
    trust_oms(project, pki, pub=pki.key)           # the private half committed by mistake
    proc = project.wo("pull", "v1.0.0", "-o", f"{tmp_path}/x/", "--require-oms")
    assert_one_line_error(proc, 5, "PRIVATE key", PUB)
    assert not (tmp_path / "x").exists()


def test_directory_artifact_signed_pulled_and_verified_by_model_signing(project, pki, tmp_path):
    add_dir_artifact(project, SHARDS)
    trust_oms(project, pki)
    project.release("v1.0.0", "--model", "shards", "--oms-key", str(pki.key))
    out = tmp_path / "deploy"
    project.wo("pull", "v1.0.0", "--model", "shards", "-o", f"{out}/", "--with-signature", check=True)
    ref = model_signing("verify", "key", out, "--signature", out / "model.sig", "--public_key", pki.pub)
    assert ref.returncode == 0, ref.stderr
    payload = json.loads(__import__("base64").b64decode(json.loads((out / "model.sig").read_text())
                                                        ["dsseEnvelope"]["payload"]))
    names = [r["name"] for r in payload["predicate"]["resources"]]
    # model_signing sorts by path (component by component): shards/... before shards.card.yaml
    assert names == sorted(["shards.card.yaml"] + [f"shards/{p}" for p in SHARDS], key=lambda n: n.split("/"))
    (out / "shards" / "sub" / "config.json").write_bytes(b'{"n": 3}')
    assert model_signing("verify", "key", out, "--signature", out / "model.sig", "--public_key", pki.pub).returncode == 1


def test_published_index_carries_the_signature_a_host_verifies(project, pki, tmp_path):
    """A host with no git: `publish` puts the signature and the card in the index; `pull --index
    --require-oms` verifies it with the host's key; the pulled folder passes model_signing."""
    trust_oms(project, pki)
    project.release("v1.0.0", "--oms-key", str(pki.key))
    url = json.loads(project.wo("publish", "--json", check=True).stdout)["published"][0]["url"]
    out = tmp_path / "host"
    got = project.wo("pull", "v1.0.0", "--index", url, "-o", f"{out}/", "--require-oms", "--with-signature",
                     "--oms-public-key", str(pki.pub), cwd=tmp_path, check=True)
    assert "verified" in got.stdout
    ref = model_signing("verify", "key", out, "--signature", out / "model.sig", "--public_key", pki.pub)
    assert ref.returncode == 0, ref.stderr
    wrong = project.wo("pull", "v1.0.0", "--index", url, "-o", f"{tmp_path}/other/", "--require-oms",
                       "--oms-public-key", str(pki.other_pub), cwd=tmp_path)
    assert_one_line_error(wrong, 5, "oms-key:")
    assert not (tmp_path / "other").exists()


def test_sync_verifies_the_stage_by_default(project, pki, tmp_path):
    """trust.oms.require lists production: `sync production` verifies without a flag, and keeps
    nothing live when the signature is not by a listed key."""
    trust_oms(project, pki)
    project.release("v1.0.0", "--oms-key", str(pki.key))
    project.wo("promote", "v1.0.0", "production", check=True)
    project.wo("sign", "v1.0.0", "--oms-key", str(pki.other), check=True)
    live = tmp_path / "live" / "clf.safetensors"
    refused = project.wo("sync", "production", "--repo", str(project.root), "-o", str(live), "--once")
    assert refused.returncode != 0 and "oms-key:" in refused.stderr + refused.stdout
    assert not live.exists()
    project.wo("sign", "v1.0.0", "--oms-key", str(pki.key), check=True)
    project.wo("sync", "production", "--repo", str(project.root), "-o", str(live), "--once", check=True)
    assert live.read_bytes() == project.weights.read_bytes()


def test_index_lock_and_sync_verify_the_signature_the_index_carries(project, pki, tmp_path):
    """A host with no git pins (`lock --index`) and follows (`sync --index`) a stage only after
    the index's OMS signature verifies with this host's keys; with a key that did not sign, nothing
    is written and no weights go live."""
    trust_oms(project, pki)
    project.release("v1.0.0", "--oms-key", str(pki.key))
    project.wo("promote", "v1.0.0", "production", check=True)
    url = json.loads(project.wo("publish", "--json", check=True).stdout)["published"][0]["url"]

    lock = tmp_path / "pins" / "model.lock.yaml"
    wrong = project.wo("lock", "production", "--index", url, "-o", str(lock), "--require-oms",
                       "--oms-public-key", str(pki.other_pub), cwd=tmp_path)
    assert_one_line_error(wrong, 5, "oms-key:")
    assert not lock.exists()
    project.wo("lock", "production", "--index", url, "-o", str(lock), "--require-oms",
               "--oms-public-key", str(pki.pub), cwd=tmp_path, check=True)
    assert "version: v1.0.0" in lock.read_text()

    def host_policy(folder, pub):   # the host's own weightops.yaml with trust.oms, its key beside it
        (folder / ".weightops" / "oms").mkdir(parents=True)
        shutil.copy(pub, folder / PUB)
        (folder / "weightops.yaml").write_text(POLICY)
        return folder / "weightops.yaml"
    live = tmp_path / "live" / "clf.safetensors"
    refused = project.wo("sync", "production", "--index", url, "-o", str(live), "--once", "--require-oms",
                         "--trust-policy", str(host_policy(tmp_path / "wrong", pki.other_pub)), cwd=tmp_path)
    assert refused.returncode != 0 and "oms-key:" in refused.stderr + refused.stdout
    assert not live.exists()
    project.wo("sync", "production", "--index", url, "-o", str(live), "--once", "--require-oms",
               "--trust-policy", str(host_policy(tmp_path / "good", pki.pub)), cwd=tmp_path, check=True)
    assert live.read_bytes() == project.weights.read_bytes()
