"""Real SSH keys (ssh-keygen, no passphrase) and a project whose policy says: anyone on the
team may assign staging; only release managers may assign production."""

from __future__ import annotations

import shutil
import subprocess

import pytest

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


@pytest.fixture
def signed(project, keys):
    """The policy committed (alice and bob known; mallory not), v1.0.0 released on that commit
    and v1.1.0 on the next; returns (project, policy_commit)."""
    (project.root / ".weightops").mkdir()
    (project.root / ".weightops" / "allowed_signers").write_text(allowed_signers(keys["alice"], keys["bob"]))
    with open(project.root / "weightops.yaml", "a") as f:
        f.write(POLICY)
    project.git("add", "-A")
    project.git("commit", "-qm", "trust policy")
    policy = project.head()
    project.release("v1.0.0", at=T0)
    (project.root / "NOTES.md").write_text("second release\n")
    project.git("add", "NOTES.md")
    project.git("commit", "-qm", "notes")
    project.release("v1.1.0", push=False, at=T0 + 10)
    return project, policy
