"""Signing does what was asked: `--no-sign` (and an unsigned default) writes an unsigned tag
whatever git's own config says (`tag.gpgSign`, `tag.forceSignAnnotated`), and a signature git
cannot make is a one-line error naming the key, with no tag left behind: real ssh-keygen and
gpg, real git."""

from __future__ import annotations

import shutil

from helpers import assert_one_line_error
from needs import require_tool

from .signing import T0


def signature_of(project, tag: str) -> str:
    body = project.git("cat-file", "tag", tag)
    return next((line for line in body.splitlines() if line.startswith("-----BEGIN")), "")


def test_no_sign_gives_an_unsigned_tag_whatever_git_config_says(signed, keys):
    p, _ = signed
    for key, value in (("gpg.format", "ssh"), ("user.signingkey", str(keys["alice"].private)),
                       ("tag.gpgSign", "true"), ("tag.forceSignAnnotated", "true")):
        p.git("config", key, value)
    p.git("tag", "-a", "-m", "plain git", "probe")
    assert signature_of(p, "probe") == "-----BEGIN SSH SIGNATURE-----"   # git itself would sign here
    p.wo("promote", "v1.0.0", "staging", "--no-sign", env={"WEIGHTOPS_NOW": str(T0 + 100)}, check=True)
    p.wo("demote", "staging", "--no-sign", env={"WEIGHTOPS_NOW": str(T0 + 200)}, check=True)
    (p.root / "NOTES.md").write_text("third release\n")
    p.git("commit", "-qam", "notes")
    p.wo("release", "v1.2.0", env={"WEIGHTOPS_NOW": str(T0 + 300)}, check=True)   # default: trust.sign unset
    for tag in ("clf#staging#1", "clf#staging!#2", "v1.2.0"):
        assert signature_of(p, tag) == "", tag
    p.wo("promote", "v1.2.0", "staging", "--sign", env={"WEIGHTOPS_NOW": str(T0 + 400)}, check=True)
    assert signature_of(p, "clf#staging#3") == "-----BEGIN SSH SIGNATURE-----"   # and --sign still signs


def test_an_ssh_key_git_cannot_sign_with_is_an_error_and_no_tag_is_left(signed, keys, tmp_path):
    """git 2.39 prints ssh-keygen's error and still writes an unsigned tag (exit 0): weightops
    must not call that a success."""
    p, _ = signed
    public_only = tmp_path / "alice-laptop.pub"
    shutil.copy(f"{keys['alice'].private}.pub", public_only)      # the private half is elsewhere
    p.git("config", "gpg.format", "ssh")
    p.git("config", "user.signingkey", str(public_only))
    proc = p.wo("promote", "v1.0.0", "staging", "--sign", env={"WEIGHTOPS_NOW": str(T0 + 100)})
    assert_one_line_error(proc, 1, str(public_only), "nothing was written")
    assert p.git("tag", "-l", "clf#staging*") == ""
    (p.root / "NOTES.md").write_text("third release\n")
    p.git("commit", "-qam", "notes")
    proc = p.wo("release", "v1.2.0", "--sign", env={"WEIGHTOPS_NOW": str(T0 + 200)})
    assert_one_line_error(proc, 1, str(public_only), "nothing was written")
    assert p.git("tag", "-l", "v1.2.0") == ""
    assert p.wo("resolve", "v1.2.0").returncode == 3


def test_a_gpg_key_missing_from_the_keyring_is_an_error_naming_it(signed, tmp_path, monkeypatch):
    p, _ = signed
    require_tool("gpg", "GPG-signed tags; Debian: apt-get install gnupg")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    p.git("config", "user.signingkey", "0123456789ABCDEF0123456789ABCDEF01234567")
    proc = p.wo("promote", "v1.0.0", "production", "--sign", env={"WEIGHTOPS_NOW": str(T0 + 100)})
    assert_one_line_error(proc, 1, "0123456789ABCDEF0123456789ABCDEF01234567", "openpgp", "nothing was written")
    assert p.git("tag", "-l", "clf#production*") == ""
