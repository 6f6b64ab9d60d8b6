"""Signing helpers for the trust tests: SSH keys made with ssh-keygen, git config via env."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

POLICY = """
trust:
  allowed_signers: .weightops/allowed_signers
  groups:
    release-managers: [alice@example.com]
    team: [alice@example.com, bob@example.com]
  stages:
    production: [release-managers]
    staging: [team]
  release: [team]
"""
T0 = 1_790_000_000


@dataclass(frozen=True)
class Key:
    name: str
    principal: str
    private: Path

    @property
    def public(self) -> str:
        return " ".join(Path(f"{self.private}.pub").read_text().split()[:2])

    def env(self, at: int | None = None) -> dict:
        """Sign with this key through git's own config (no files touched)."""
        env = {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "gpg.format", "GIT_CONFIG_VALUE_0": "ssh",
               "GIT_CONFIG_KEY_1": "user.signingkey", "GIT_CONFIG_VALUE_1": str(self.private)}
        if at is not None:
            env["WEIGHTOPS_NOW"] = str(at)
        return env




def allowed_signers(*keys: Key) -> str:
    return "".join(f'{k.principal} namespaces="git" {k.public}\n' for k in keys)
