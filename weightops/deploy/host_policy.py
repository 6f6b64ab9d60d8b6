"""A trust policy kept on a deploy host (`--trust-policy FILE`), read by the fleet index client
and the OMS check alike, so neither imports the other for it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from weightops.errors import NotFoundError

log = logging.getLogger(__name__)


def load_trust_policy(path: str | os.PathLike):
    """A trust policy held on the host: a weightops.yaml with a `trust:` section; its
    allowed-signers file is read relative to it. Raises NotFoundError (3) when missing."""
    from weightops.core.yamlio import safe_load
    from weightops.trust.policy import Policy, parse_policy

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"--trust-policy {path} does not exist (a weightops.yaml with a trust: section)")
    policy = parse_policy(safe_load(path.read_text(), str(path)), f"file:{path}")
    signers = path.parent / policy.signers_path
    text = signers.read_text() if signers.is_file() else None
    if text is None:
        log.warning("trust policy %s: no %s; no SSH signature can verify", path, signers)
    return Policy(f"file:{path}", text, policy.signers_path, policy.groups, policy.stages, policy.release)
