"""The Python API applies the project's signing rule as the CLI does: `trust.sign: true` makes
weightops.promote()/demote()/rollback()/release() sign unless told `sign=False`."""

from __future__ import annotations

import json
import subprocess

import pytest

import weightops
from weightops.errors import UsageError

from .signing import T0


def _as(monkeypatch, env: dict) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def _verify(p, tag: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={p.root / '.weightops/allowed_signers'}",
                           "verify-tag", tag], cwd=p.root, capture_output=True, text=True)


def test_promote_from_python_signs_when_trust_sign_says_so(signed, keys, monkeypatch):
    p, policy = signed
    with open(p.root / "weightops.yaml", "a") as f:
        f.write("  sign: true\n")
    p.git("commit", "-qam", "sign by default")
    _as(monkeypatch, keys["alice"].env(T0 + 100))
    done = weightops.promote("v1.0.0", "production", repo=p.root)
    check = _verify(p, done.tag)
    assert check.returncode == 0 and "alice@example.com" in check.stderr, check.stderr
    # the deploy side agrees: the signed assignment passes the trusted policy
    out = json.loads(p.wo("resolve", "production", "--require-signed", "--trust-policy", policy, "--json",
                          check=True).stdout)
    assert out["signer"] == "alice@example.com" and out["version"] == "v1.0.0"
    # sign=False overrides the project's default; the tag is then not signed
    monkeypatch.setenv("WEIGHTOPS_NOW", str(T0 + 200))
    plain = weightops.promote("v1.1.0", "staging", repo=p.root, sign=False)
    assert "no signature found" in _verify(p, plain.tag).stderr


def test_without_trust_sign_python_promote_does_not_sign(signed, monkeypatch):
    p, _ = signed
    monkeypatch.setenv("WEIGHTOPS_NOW", str(T0 + 100))
    done = weightops.promote("v1.0.0", "staging", repo=p.root)
    assert "no signature found" in _verify(p, done.tag).stderr


def test_python_promote_refuses_a_misspelled_option(signed):
    p, _ = signed
    with pytest.raises(TypeError):
        weightops.promote("v1.0.0", "staging", repo=p.root, skip_check=True)


def test_signing_default_without_a_key_is_a_usage_error_before_any_tag(signed, monkeypatch):
    p, _ = signed
    with open(p.root / "weightops.yaml", "a") as f:
        f.write("  sign: true\n")
    p.git("commit", "-qam", "sign by default")
    _as(monkeypatch, {"WEIGHTOPS_NOW": str(T0 + 100), "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gpg.format",
                      "GIT_CONFIG_VALUE_0": "ssh"})
    with pytest.raises(UsageError, match="user.signingkey"):
        weightops.demote("staging", repo=p.root)
    assert p.git("tag", "-l", "clf#staging*") == ""
