"""The pip requirement line CI uses to install weightops, pinned the way this machine has it.

Read from the installed distribution's `direct_url.json` (PEP 610, written by pip and uv): a
VCS install gives `weightops @ git+URL@COMMIT`; an archive URL gives `weightops @ URL`; a local
folder (an editable checkout) gives its git remote and commit when it has a pushed remote;
anything else, and an install from an index, gives `weightops==VERSION`.
"""

from __future__ import annotations

import json
import subprocess
from importlib import metadata
from urllib.parse import unquote, urlparse

NAME = "weightops"


def install_requirement() -> str:
    """One requirement line (PEP 508) for the running weightops; never raises."""
    try:
        dist = metadata.distribution(NAME)
        version = dist.version
        direct = json.loads(dist.read_text("direct_url.json") or "null")
    except (metadata.PackageNotFoundError, ValueError):
        from weightops import __version__

        return f"{NAME}=={__version__}"
    return requirement_from(direct, version, _checkout_origin)


def requirement_from(direct: dict | None, version: str, checkout_origin=lambda path: None) -> str:
    """Pure: PEP 610's `direct_url.json` content (or None) -> the requirement line.
    `checkout_origin(path)` answers (remote URL, commit) for a local checkout, or None."""
    if not isinstance(direct, dict) or not isinstance(direct.get("url"), str):
        return f"{NAME}=={version}"
    url = direct["url"]
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        return f"{NAME} @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
    if "archive_info" in direct and not url.startswith("file:"):
        return f"{NAME} @ {url}"
    if url.startswith("file:"):
        found = checkout_origin(unquote(urlparse(url).path))
        if found:
            remote, commit = found
            return f"{NAME} @ git+{remote}@{commit}"
    return f"{NAME}=={version}"


def _checkout_origin(path: str) -> tuple[str, str] | None:
    """A local checkout's `origin` URL (a network URL only) and its HEAD commit, if pushed."""
    def git(*args: str) -> str | None:
        proc = subprocess.run(["git", "-C", path, *args], capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    remote = git("remote", "get-url", "origin")
    commit = git("rev-parse", "HEAD")
    if not remote or not commit or "://" not in remote or remote.startswith("file:"):
        return None
    if not git("branch", "-r", "--contains", commit):
        return None   # the commit is not on the remote: CI could not fetch it
    return remote, commit
