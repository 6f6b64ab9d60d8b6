"""Pure parts of trust: git's raw verify output, the policy section, choosing what to obey."""

from __future__ import annotations

import pytest

from weightops.errors import RefusedError, UsageError
from weightops.registry.records import Event
from weightops.trust.signing import Verification, parse_verify_output
from weightops.registry.tags import Kind
from weightops.trust.policy import judge, parse_policy, select

FPR = "SHA256:Cxp8m0Yg0lGXh/Fw5qpjw9QMKmFDv2+n4rtSHMJmKcw"
DOC = {"trust": {"groups": {"rm": ["alice@example.com"], "team": ["alice@example.com", "bob@example.com"]},
                 "stages": {"production": ["rm"], "staging": ["team"]}}}


def test_parse_ssh_outputs():
    good = parse_verify_output("t", 0, f'Good "git" signature for alice@example.com with ED25519 key {FPR}\n', "t")
    assert (good.valid, good.principal, good.fingerprint, good.format) == (True, "alice@example.com", FPR, "ssh")
    unknown = parse_verify_output("t", 1, f'Good "git" signature with ED25519 key {FPR}\nNo principal matched.\n', "t")
    assert (unknown.valid, unknown.signer, unknown.signed) == (False, FPR, True)
    assert "allowed-signers" in unknown.problem
    bad = parse_verify_output("t", 1, "Could not verify signature.\nSignature verification failed: incorrect signature\n", "t")
    assert (bad.valid, bad.signed, bad.problem) == (False, True, "Signature verification failed: incorrect signature")
    none = parse_verify_output("t", 1, "error: no signature found\n", "t")
    assert (none.valid, none.signed, none.signer) == (False, False, "unsigned")
    replay = parse_verify_output("a#production#9", 0, f'Good "git" signature for bob@example.com with ED25519 key {FPR}\n',
                                 "a#staging#2")
    assert not replay.valid and "replayed" in replay.problem


def test_parse_gpg_outputs():
    fpr = "0123456789ABCDEF0123456789ABCDEF01234567"
    lines = ("[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 89ABCDEF01234567 Carol <carol@example.com>\n"
             f"[GNUPG:] VALIDSIG {fpr} 2026-01-01 1767225600 0 4 0 22 10 00 {fpr}\n[GNUPG:] TRUST_UNDEFINED 0 pgp\n")
    good = parse_verify_output("t", 0, lines, "t")
    assert (good.valid, good.format, good.fingerprint, good.principal) == (True, "gpg", fpr, "Carol <carol@example.com>")
    assert good.identities() == {f"gpg:{fpr}", fpr}   # never the user id a key's maker typed
    bad = parse_verify_output("t", 1, "[GNUPG:] BADSIG 89ABCDEF01234567 Carol <carol@example.com>\n", "t")
    assert (bad.valid, bad.problem) == (False, "bad signature")


def test_policy_parsing_refuses_what_it_cannot_trust():
    policy = parse_policy(DOC, "a" * 40)
    assert policy.signers_path == ".weightops/allowed_signers"
    assert policy.allowed("production", {"alice@example.com"})
    assert not policy.allowed("production", {"bob@example.com"})
    assert policy.allowed("shadow", {"bob@example.com"})      # no rule: any verified signer
    assert policy.describe("production") == f"trust.stages.production: rm at {'a' * 12}"
    with pytest.raises(RefusedError, match="no 'trust:' section"):
        parse_policy({"model": "clf"}, "a" * 40)
    with pytest.raises(UsageError, match="inside the repository"):
        parse_policy({"trust": {"allowed_signers": "../../etc/keys"}}, "a" * 40)
    with pytest.raises(UsageError, match="trust.stages.production"):
        parse_policy({"trust": {"stages": {"production": [1]}}}, "a" * 40)
    with pytest.raises(UsageError):
        parse_policy({"trust": {"stages": {"Prod!": ["x"]}}}, "a" * 40)


def _event(tag, kind, stage, version, time):
    return Event(tag, kind, "clf", "c" * 40, time, int(tag.rsplit("#", 1)[1]), version, stage)


def test_select_returns_newest_passing_assignment_and_skips_newer_ones():
    policy = parse_policy(DOC, "a" * 40)
    events = [_event("clf#production#1", Kind.ASSIGN, "production", "v1.0.0", 1),
              _event("clf#production#2", Kind.ASSIGN, "production", "v1.1.0", 2),
              _event("clf#production!#3", Kind.UNASSIGN, "production", "v1.1.0", 3)]
    verdicts = {"clf#production#1": Verification("clf#production#1", True, "ssh", "alice@example.com", FPR),
                "clf#production#2": Verification("clf#production#2", True, "ssh", "bob@example.com", FPR),
                "clf#production!#3": Verification("clf#production!#3", False, problem="the tag is not signed")}
    asked = []
    found = select(events, lambda t: asked.append(t) or verdicts[t], policy)
    assert found.event.tag == "clf#production#1" and found.signer == "alice@example.com"
    assert [(s.tag, s.signer) for s in found.skipped] == [("clf#production!#3", "unsigned"),
                                                          ("clf#production#2", "bob@example.com")]
    assert "bob@example.com may not assign 'production'" in found.skipped[1].message()
    assert asked == ["clf#production!#3", "clf#production#2", "clf#production#1"]
    # a trusted unassignment removes v1.1.0's label (GTO's meaning): v1.0.0 holds the stage
    # again, and the cleared assignment is not even verified
    verdicts["clf#production!#3"] = Verification("clf#production!#3", True, "ssh", "alice@example.com", FPR)
    asked.clear()
    found = select(events, lambda t: asked.append(t) or verdicts[t], policy)
    assert found.event.tag == "clf#production#1" and found.skipped == ()
    assert asked == ["clf#production!#3", "clf#production#1"]
    # ...and when every label is cleared by trusted unassignments, the stage is empty
    events.append(_event("clf#production!#4", Kind.UNASSIGN, "production", "v1.0.0", 4))
    verdicts["clf#production!#4"] = Verification("clf#production!#4", True, "ssh", "alice@example.com", FPR)
    found = select(events, verdicts.__getitem__, policy)
    assert found.event is None and found.skipped == () and found.signer == "alice@example.com"


def test_gpg_key_from_the_host_keyring_must_be_named_by_the_policy():
    policy = parse_policy({"trust": {"stages": {"staging": ["*"]}}}, "a" * 40)
    fpr = "0123456789ABCDEF0123456789ABCDEF01234567"
    event = _event("clf#staging#1", Kind.ASSIGN, "staging", "v1.0.0", 1)
    gpg = Verification("clf#staging#1", True, "gpg", "Eve <eve@example.com>", fpr)
    assert "not named in the trusted policy" in judge(event, gpg, policy).reason
    named = parse_policy({"trust": {"groups": {"ops": [f"gpg:{fpr}"]}, "stages": {"staging": ["*"]}}}, "a" * 40)
    assert judge(event, gpg, named) is None
    ssh = Verification("clf#staging#1", True, "ssh", "bob@example.com", FPR)
    assert judge(event, ssh, policy) is None   # SSH: the trusted allowed-signers file already vouched


def test_select_skips_a_signed_assignment_whose_version_tag_points_elsewhere():
    policy = parse_policy(DOC, "a" * 40)
    events = [_event("clf#production#1", Kind.ASSIGN, "production", "v1.0.0", 1),
              _event("clf#production#2", Kind.ASSIGN, "production", "v1.1.0", 2)]
    good = {e.tag: Verification(e.tag, True, "ssh", "alice@example.com", FPR) for e in events}
    found = select(events, good.__getitem__, policy,
                   lambda e: "version tag v1.1.0 points at 0123456789ab" if e.version == "v1.1.0" else None)
    assert found.event.tag == "clf#production#1"
    assert found.skipped[0].reason == "version tag v1.1.0 points at 0123456789ab"
    assert found.skipped[0].signer == "alice@example.com"
