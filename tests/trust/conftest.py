"""Real SSH keys (ssh-keygen, no passphrase) and a project whose policy says: anyone on the
team may assign staging; only release managers may assign production."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BASE_ENV
from helpers import Project

from .signing import POLICY, T0, Key, allowed_signers


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> dict[str, Key]:
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen is missing: apt-get install -y openssh-client")
    folder = tmp_path_factory.mktemp("keys")
    result = {}
    for name in ("alice", "bob", "mallory"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name)],
                       check=True, capture_output=True)
        result[name] = Key(name, f"{name}@example.com", folder / name)
    return result


@pytest.fixture(scope="session")
def signed_golden(golden, keys, tmp_path_factory) -> tuple[Path, str]:
    """Built once: the golden project plus the policy commit (alice and bob known; mallory
    not), v1.0.0 released (and pushed) on it and v1.1.0 on the next commit."""
    base = tmp_path_factory.mktemp("signed") / "ws"
    shutil.copytree(golden, base, symlinks=True, ignore=shutil.ignore_patterns(".site"))
    env = dict(os.environ, HOME=str(base), DVC_SITE_CACHE_DIR=str(base / ".site"), **BASE_ENV)
    p = Project(base / "project", base / "remote")
    (p.root / ".weightops").mkdir()
    (p.root / ".weightops" / "allowed_signers").write_text(allowed_signers(keys["alice"], keys["bob"]))
    with open(p.root / "weightops.yaml", "a") as f:
        f.write(POLICY)
    p.git("add", "-A", env=env)
    p.git("commit", "-qm", "trust policy", env=env)
    policy = p.git("rev-parse", "HEAD", env=env)
    p.wo("release", "v1.0.0", "--push", env={**env, "WEIGHTOPS_NOW": str(T0)}, check=True)
    (p.root / "NOTES.md").write_text("second release\n")
    p.git("add", "NOTES.md", env=env)
    p.git("commit", "-qm", "notes", env=env)
    p.wo("release", "v1.1.0", env={**env, "WEIGHTOPS_NOW": str(T0 + 10)}, check=True)
    return base, policy


@pytest.fixture
def signed(signed_golden, tmp_path):
    """A fresh copy of the signed project; returns (project, policy_commit)."""
    base, policy = signed_golden
    # the golden's DVC remote URL (`../../../remote` in .dvc/config) lands beside `ws`, not in it
    copy = tmp_path / "s"
    shutil.copytree(base.parent, copy, symlinks=True, ignore=shutil.ignore_patterns(".site"))
    return Project(copy / "ws" / "project", copy / "remote"), policy
