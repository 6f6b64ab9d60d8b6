"""Signed promotions under a trusted policy: real keys, real signed tags, the real CLI."""

from __future__ import annotations

import json
import subprocess

from .signing import T0, allowed_signers
from helpers import assert_one_line_error
from needs import require_tool


def promote(p, key, version, stage, at, *extra):
    env = key.env(at) if key is not None else {"WEIGHTOPS_NOW": str(at)}
    args = ["promote", version, stage, *extra] + (["--sign"] if key is not None else [])
    return p.wo(*args, env=env, check=True)


def resolve(p, policy, ref="production", *extra):
    return p.wo("resolve", ref, "--require-signed", "--trust-policy", policy, "--json", *extra)


def test_production_signed_by_release_manager_resolves(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    proc = resolve(p, policy)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["version"] == "v1.0.0" and out["tag"] == "v1.0.0"
    assert out["signer"] == "alice@example.com" and out["skipped"] == [] and out["policy"] == policy
    assert "warning" not in proc.stderr
    # git itself agrees the tag is signed by alice's key
    check = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={p.root / '.weightops/allowed_signers'}",
                            "verify-tag", "clf#production#1"], cwd=p.root, capture_output=True, text=True)
    assert check.returncode == 0 and "alice@example.com" in check.stderr


def test_team_member_production_assignment_is_skipped_naming_signer_and_rule(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    promote(p, keys["bob"], "v1.1.0", "production", T0 + 200)
    proc = resolve(p, policy)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["version"] == "v1.0.0" and out["signer"] == "alice@example.com"
    assert [s["tag"] for s in out["skipped"]] == ["clf#production#2"]
    warnings = [l for l in proc.stderr.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 1
    assert "clf#production#2" in warnings[0] and "bob@example.com" in warnings[0]
    assert "trust.stages.production: release-managers" in warnings[0]
    # bob may assign staging: the same signer passes where the policy allows him
    promote(p, keys["bob"], "v1.1.0", "staging", T0 + 300)
    staged = json.loads(resolve(p, policy, "staging").stdout)
    assert staged["version"] == "v1.1.0" and staged["signer"] == "bob@example.com"


def test_unsigned_assignment_is_skipped_and_none_left_exits_5(signed, keys):
    p, policy = signed
    promote(p, None, "v1.0.0", "production", T0 + 100)
    proc = resolve(p, policy)
    line = assert_one_line_error(proc, 5, "clf#production#1", "not signed", "trust.stages.production")
    assert proc.stdout == ""
    assert "1 skipped" in line
    # a signed, allowed assignment older than an unsigned one is what a deploy gets
    promote(p, keys["alice"], "v1.1.0", "production", T0 + 200)
    promote(p, None, "v1.0.0", "production", T0 + 300)
    proc = resolve(p, policy)
    assert json.loads(proc.stdout)["version"] == "v1.1.0"
    assert "clf#production#3: the tag is not signed" in proc.stderr


def _rewrite_tag(p, tag: str, edit) -> str:
    """Edit a tag object's raw text and write it back as a new object under the same ref."""
    raw = subprocess.run(["git", "cat-file", "tag", tag], cwd=p.root, capture_output=True, check=True).stdout
    new = subprocess.run(["git", "mktag"], cwd=p.root, input=edit(raw), capture_output=True, check=True).stdout
    p.git("update-ref", f"refs/tags/{tag}", new.decode().strip())
    return new.decode().strip()


def test_tampered_tag_fails_verification(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100, "--message", "ship it")
    promote(p, keys["alice"], "v1.1.0", "production", T0 + 200, "--message", "ship it")
    v10 = p.git("rev-parse", "v1.0.0^{commit}")
    v11 = p.git("rev-parse", "v1.1.0^{commit}")
    # the attacker points alice's newest signed assignment back at v1.0.0's commit
    # and edits its message accordingly; the signature stays alice's
    _rewrite_tag(p, "clf#production#2", lambda raw: raw.replace(v11.encode(), v10.encode())
                 .replace(b"v1.1.0", b"v1.0.0").replace(b"ship it", b"ship it now"))
    assert p.git("rev-parse", "clf#production#2^{commit}") == v10
    proc = resolve(p, policy)
    out = json.loads(proc.stdout)
    assert out["tag"] == "v1.0.0"   # alice's genuine older assignment
    assert "clf#production#2" in proc.stderr and "incorrect signature" in proc.stderr
    assert out["skipped"] == [{"tag": "clf#production#2", "signer": "an unknown key",
                               "reason": "Signature verification failed: incorrect signature",
                               "rule": f"trust.stages.production: release-managers at {policy[:12]}"}]
    hist = p.wo_json("history", "production", "--verify", "--trust-policy", policy)["events"]
    by_tag = {r["tag"]: r for r in hist}
    assert by_tag["clf#production#1"]["verified"] is True
    assert by_tag["clf#production#2"]["verified"] is False and by_tag["clf#production#2"]["signed"] is True
    assert "incorrect signature" in by_tag["clf#production#2"]["problem"]


def test_signed_tag_replayed_under_another_name_is_refused(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    promote(p, keys["bob"], "v1.1.0", "staging", T0 + 200)
    # bob's valid staging signature, copied to a production ref
    obj = p.git("rev-parse", "clf#staging#2")
    p.git("update-ref", "refs/tags/clf#production#9", obj)
    proc = resolve(p, policy)
    out = json.loads(proc.stdout)
    assert out["version"] == "v1.0.0"
    assert "clf#production#9" in proc.stderr and "replayed" in proc.stderr


def test_promoter_editing_the_policy_in_the_promoted_commit_is_still_refused(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    # mallory adds her key and gives herself production, in the commit she releases and promotes
    (p.root / ".weightops" / "allowed_signers").write_text(
        allowed_signers(keys["alice"], keys["bob"], keys["mallory"]))
    text = (p.root / "weightops.yaml").read_text()
    (p.root / "weightops.yaml").write_text(text.replace("production: [release-managers]",
                                                        "production: [release-managers, mallory@example.com]"))
    p.git("add", "-A")
    p.git("commit", "-qm", "policy: let me ship")
    p.release("v1.2.0", push=False, at=T0 + 150)
    promote(p, keys["mallory"], "v1.2.0", "production", T0 + 200)
    proc = resolve(p, policy)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == "v1.0.0"
    assert "clf#production#2" in proc.stderr and "not in the trusted allowed-signers file" in proc.stderr
    # with her own commit as the "policy" she would pass: proof that the pin is what refuses her
    own = p.wo("resolve", "production", "--require-signed", "--trust-policy", "HEAD", "--json")
    assert json.loads(own.stdout)["version"] == "v1.2.0"


def test_deploy_clone_trusts_the_remote_default_branch_not_the_promoted_branch(signed, keys, tmp_path):
    p, _ = signed
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(p.root), str(origin)], check=True)
    p.git("remote", "add", "origin", str(origin))
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    # bob edits the policy on a branch, releases and promotes from it, and pushes it all
    p.git("checkout", "-qb", "evil")
    (p.root / "weightops.yaml").write_text((p.root / "weightops.yaml").read_text().replace(
        "production: [release-managers]", "production: [team]"))
    p.git("commit", "-qam", "policy: team may ship")
    p.release("v1.2.0", push=False, at=T0 + 150)
    promote(p, keys["bob"], "v1.2.0", "production", T0 + 200)
    p.git("push", "-q", "origin", "evil", "--tags")
    deploy = tmp_path / "deploy"
    subprocess.run(["git", "clone", "-q", str(origin), str(deploy)], check=True)
    proc = p.wo("resolve", "production", "--require-signed", "--json", cwd=deploy)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == "v1.0.0"
    assert "bob@example.com may not assign 'production'" in proc.stderr
    # a bare mirror on the host: its own HEAD (the default branch) is the trusted policy
    bare = p.wo("resolve", "production", "--require-signed", "--json", "--repo", str(origin))
    assert json.loads(bare.stdout)["version"] == "v1.0.0", bare.stderr


def test_without_require_signed_everything_behaves_as_before(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    promote(p, keys["bob"], "v1.1.0", "production", T0 + 200)
    promote(p, None, "v1.0.0", "staging", T0 + 300)
    out = p.wo_json("resolve", "production")
    assert out["version"] == "v1.1.0"
    assert list(out) == ["model", "version", "tag", "commit", "path", "md5", "sha256", "size", "remote", "url", "stage",
                         "card", "verified_by"]
    assert p.wo_json("resolve", "staging")["version"] == "v1.0.0"
    proc = p.wo("resolve", "production", "--json")
    assert proc.stderr == ""
    # the library does not even import the trust code for a plain resolve
    code = ("import sys, weightops; r = weightops.resolve('production', repo=sys.argv[1]); "
            "print(r.version, 'weightops.trust.policy' in sys.modules, 'weightops.trust.signing' in sys.modules)")
    check = subprocess.run([__import__("sys").executable, "-c", code, str(p.root)], capture_output=True, text=True)
    assert check.stdout.split() == ["v1.1.0", "False", "False"], check.stderr


def test_config_default_requires_signed_production_and_no_require_signed_overrides(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    promote(p, keys["bob"], "v1.1.0", "production", T0 + 200)
    with open(p.root / "weightops.yaml", "a") as f:
        f.write("  require_signed: [production]\n")
    p.git("config", "weightops.trustPolicy", policy)
    assert p.wo_json("resolve", "production")["version"] == "v1.0.0"
    assert p.wo_json("resolve", "production", "--no-require-signed")["version"] == "v1.1.0"
    # staging is not listed: unsigned staging still resolves without flags
    promote(p, None, "v1.1.0", "staging", T0 + 300)
    assert p.wo_json("resolve", "staging")["version"] == "v1.1.0"


def test_unallowed_unassignment_is_skipped_and_a_trusted_one_empties_the_stage(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    p.wo("demote", "production", "--sign", env=keys["bob"].env(T0 + 200), check=True)
    assert_one_line_error(p.wo("resolve", "production"), 3, "production")   # plain resolve obeys bob
    proc = resolve(p, policy)
    assert json.loads(proc.stdout)["version"] == "v1.0.0"
    assert "clf#production!#2" in proc.stderr and "bob@example.com may not assign 'production'" in proc.stderr
    # alice's signed demote also clears what hosts still obey (v1.0.0: bob's demote was skipped)
    p.git("config", "weightops.trustPolicy", policy)
    p.wo("demote", "production", "--sign", env=keys["alice"].env(T0 + 250), check=True)
    assert p.git("tag", "-l", "clf#production!#3") == "clf#production!#3"
    assert_one_line_error(resolve(p, policy), 3, "unassigned", "alice@example.com")
    promote(p, keys["bob"], "v1.0.0", "staging", T0 + 300)
    p.wo("demote", "staging", "--sign", env=keys["alice"].env(T0 + 400), check=True)
    assert_one_line_error(resolve(p, policy, "staging"), 3, "unassigned", "alice@example.com")

def test_sign_on_release_and_rollback_and_history_shows_signers(signed, keys):
    p, policy = signed
    p.git("commit", "-q", "--allow-empty", "-m", "v2.0.0")   # GTO allows one version per commit
    p.wo("release", "v2.0.0", "--sign", "--message", "signed release", env=keys["bob"].env(T0 + 50), check=True)
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    promote(p, keys["alice"], "v2.0.0", "production", T0 + 200)
    p.wo("rollback", "production", "--sign", env=keys["alice"].env(T0 + 300), check=True)
    out = json.loads(resolve(p, policy).stdout)
    assert out["version"] == "v1.0.0" and out["signer"] == "alice@example.com"
    rows = {r["tag"]: r for r in p.wo_json("history", "--verify", "--trust-policy", policy)["events"]}
    assert rows["v2.0.0"]["signer"] == "bob@example.com" and rows["v2.0.0"]["verified"] is True
    assert rows["v2.0.0"]["allowed"] is True   # bob is on the team, the release rule
    assert rows["v1.0.0"]["signer"] is None and rows["v1.0.0"]["signed"] is False
    assert rows["v1.0.0"]["verified"] is False
    assert rows["clf#production#3"]["action"] == "rollback" and rows["clf#production#3"]["signer"] == "alice@example.com"
    text = p.wo("history", "production", "--verify", "--trust-policy", policy, check=True).stdout
    assert "signed by alice@example.com (verified)" in text
    # a version named directly must itself pass under --require-signed
    assert json.loads(resolve(p, policy, "v2.0.0").stdout)["signer"] == "bob@example.com"
    assert_one_line_error(resolve(p, policy, "v1.1.0"), 5, "v1.1.0", "not signed", "trust.release")


def test_sign_config_default_and_missing_key_is_one_line_usage_error(signed, keys):
    p, policy = signed
    with open(p.root / "weightops.yaml", "a") as f:
        f.write("  sign: true\n")
    p.git("commit", "-qam", "sign by default")
    p.wo("promote", "v1.0.0", "production", env=keys["alice"].env(T0 + 100), check=True)
    assert json.loads(resolve(p, policy).stdout)["signer"] == "alice@example.com"
    proc = p.wo("promote", "v1.1.0", "staging", env={"WEIGHTOPS_NOW": str(T0 + 200), "GIT_CONFIG_COUNT": "1",
                                                      "GIT_CONFIG_KEY_0": "gpg.format", "GIT_CONFIG_VALUE_0": "ssh"})
    assert_one_line_error(proc, 2, "user.signingkey")
    assert p.git("tag", "-l", "clf#staging*") == ""
    p.wo("promote", "v1.1.0", "staging", "--no-sign", env={"WEIGHTOPS_NOW": str(T0 + 200)}, check=True)


def test_policy_without_trust_section_or_unknown_rev_refuses(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    first = p.git("rev-list", "--max-parents=0", "HEAD")
    assert_one_line_error(resolve(p, first), 5, "no 'trust:' section")
    assert_one_line_error(resolve(p, "no-such-rev"), 3, "no-such-rev")
    # the host's environment names the trusted commit too
    env = {"WEIGHTOPS_TRUST_POLICY": first}
    assert_one_line_error(p.wo("resolve", "production", "--require-signed", env=env), 5, "no 'trust:' section")
    assert json.loads(p.wo("resolve", "production", "--require-signed", "--json",
                           env={"WEIGHTOPS_TRUST_POLICY": policy}).stdout)["signer"] == "alice@example.com"
    # a work tree with no remote and no pin: say how to name the trusted policy
    assert_one_line_error(p.wo("resolve", "production", "--require-signed"), 5, "--trust-policy")


def test_gpg_signed_assignment_is_checked_by_fingerprint(signed, keys, tmp_path_factory, monkeypatch):
    p, _ = signed
    require_tool("gpg", "gpg-signed assignments; Debian: apt-get install gnupg")
    home = tmp_path_factory.mktemp("gpg")
    home.chmod(0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    try:
        for who in ("Carol <carol@example.com>", "Dave <dave@example.com>"):
            subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", who, "ed25519", "sign", "never"],
                           check=True, capture_output=True)
        listing = subprocess.run(["gpg", "--list-keys", "--with-colons"], check=True, capture_output=True, text=True).stdout
        carol, dave = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][:2]
        text = (p.root / "weightops.yaml").read_text()
        text = text.replace("release-managers: [alice@example.com]", f'release-managers: [alice@example.com, "gpg:{carol}"]')
        (p.root / "weightops.yaml").write_text(text.replace("bob@example.com]", f'bob@example.com, "gpg:{dave}"]'))
        p.git("commit", "-qam", "carol manages releases")
        policy = p.head()

        def gpg_env(fpr, at):
            return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.signingkey", "GIT_CONFIG_VALUE_0": fpr,
                    "WEIGHTOPS_NOW": str(at)}
        p.wo("promote", "v1.0.0", "production", "--sign", env=gpg_env(carol, T0 + 100), check=True)
        p.wo("promote", "v1.1.0", "production", "--sign", env=gpg_env(dave, T0 + 200), check=True)
        proc = resolve(p, policy)
        out = json.loads(proc.stdout)
        assert out["version"] == "v1.0.0" and out["signer"] == "Carol <carol@example.com>"
        assert [s["tag"] for s in out["skipped"]] == ["clf#production#2"]
        assert "Dave <dave@example.com> may not assign 'production'" in proc.stderr
        # a key the host's keyring holds but the policy never names is no allowed signer at all
        p.wo("promote", "v1.1.0", "staging", "--sign", env=gpg_env(dave, T0 + 300), check=True)
        assert json.loads(resolve(p, policy, "staging").stdout)["signer"] == "Dave <dave@example.com>"
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Eve <eve@example.com>", "ed25519",
                        "sign", "never"], check=True, capture_output=True)
        eve = subprocess.run(["gpg", "--list-keys", "--with-colons", "eve@example.com"], check=True, capture_output=True,
                             text=True).stdout.split("fpr:::::::::")[1].split(":")[0]
        p.wo("promote", "v1.0.0", "staging", "--sign", env=gpg_env(eve, T0 + 400), check=True)
        proc = resolve(p, policy, "staging")
        assert json.loads(proc.stdout)["version"] == "v1.1.0"
        assert f"GPG key {eve} is not named in the trusted policy" in proc.stderr
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True)


def test_release_manager_can_sign_over_an_unallowed_assignment_of_the_same_version(signed, keys):
    p, policy = signed
    promote(p, keys["bob"], "v1.1.0", "production", T0 + 100)
    assert_one_line_error(resolve(p, policy), 5, "bob@example.com may not assign 'production'")
    tags = p.git("tag", "-l")
    again = p.wo("promote", "v1.1.0", "production", env={"WEIGHTOPS_NOW": str(T0 + 150)})
    assert again.returncode == 0 and "already holds" in again.stdout   # unsigned: still nothing to do
    assert p.git("tag", "-l") == tags
    promote(p, keys["alice"], "v1.1.0", "production", T0 + 200)
    out = json.loads(resolve(p, policy).stdout)
    assert (out["version"], out["signer"], out["skipped"]) == ("v1.1.0", "alice@example.com", [])


def test_require_signed_answers_as_of_a_time(signed, keys):
    p, policy = signed
    promote(p, keys["alice"], "v1.0.0", "production", T0 + 100)
    promote(p, keys["alice"], "v1.1.0", "production", T0 + 200)
    promote(p, keys["bob"], "v1.0.0", "production", T0 + 300)
    late = json.loads(resolve(p, policy, "production", "--at", f"@{T0 + 350}").stdout)
    assert (late["version"], [s["tag"] for s in late["skipped"]]) == ("v1.1.0", ["clf#production#3"])
    early = resolve(p, policy, "production", "--at", f"@{T0 + 150}")
    assert json.loads(early.stdout)["version"] == "v1.0.0" and "warning" not in early.stderr
