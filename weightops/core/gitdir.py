"""Finding a work tree's git folder without running git.

`git rev-parse` answers this in a process of its own; every `resolve` needs it first, so the
common case is answered here with a few `stat` calls, following git's discovery (setup.c):
walk up from the path to the first folder holding a `.git` folder with HEAD, objects/ and
refs/, stopping at a filesystem boundary. Anything less plain (git's environment variables,
a `.git` file of a linked worktree or submodule, a bare repository, a folder owned by another
user, `core.worktree`, `core.bare` or config includes) returns None, and git itself decides.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# Variables that change where git looks or what it accepts: with any set, git decides.
_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES",
            "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT")


_SCP = re.compile(r"^[\w.-]+@[\w.-]+:")   # git@host:org/repo.git


def is_url(repo: str | os.PathLike) -> bool:
    """Whether `repo` is a URL git fetches from (file://, ssh://, https://, git@host:path)
    rather than a local path. Pure; the one place weightops tells them apart."""
    text = str(repo)
    return "://" in text or bool(_SCP.match(text))


def find_work_tree(path: str | os.PathLike) -> tuple[Path, Path] | None:
    """(git folder, work tree top), both absolute with symlinks resolved as git prints them,
    of the plain work tree holding the folder `path`; None when git must decide (see the
    module docstring) or `path` is not in a work tree. Raises nothing."""
    if any(name in os.environ for name in _GIT_ENV) or (os.geteuid() == 0 and "SUDO_UID" in os.environ):
        return None   # (under sudo, git checks ownership against the calling user)
    try:
        here = os.path.realpath(path)
        if not os.path.isdir(here):
            return None
        device = os.stat(here).st_dev
        while True:
            if os.path.basename(here) == ".git" or _is_git_dir(here):
                return None   # inside a git folder, or a bare repository
            dotgit = os.path.join(here, ".git")
            if os.path.lexists(dotgit):
                if os.path.islink(dotgit) or not _is_git_dir(dotgit) or not _plain(dotgit, here):
                    return None
                return Path(dotgit), Path(here)
            parent = os.path.dirname(here)
            if parent == here or os.stat(parent).st_dev != device:
                return None   # the root, or a filesystem boundary git does not cross by default
            here = parent
    except OSError:
        return None


def _is_git_dir(folder: str) -> bool:
    """git's `is_git_directory`: HEAD, objects/ and refs/ are there."""
    return (os.path.isfile(os.path.join(folder, "HEAD")) and os.path.isdir(os.path.join(folder, "objects"))
            and os.path.isdir(os.path.join(folder, "refs")))


def _plain(dotgit: str, top: str) -> bool:
    """Whether git would take `top` as the work tree of `dotgit` without a word: both owned by
    this user (git's safe.directory check) and no config line that moves or removes the work
    tree or pulls in other config."""
    uid = os.geteuid()
    if os.stat(dotgit).st_uid != uid or os.stat(top).st_uid != uid:
        return False
    try:
        with open(os.path.join(dotgit, "config"), "rb") as f:
            lines = f.read().decode("utf-8", errors="replace").lower().splitlines()
    except FileNotFoundError:
        return True
    for line in lines:
        key, _, value = line.strip().partition("=")
        key = key.strip()
        if key.startswith("[include") or key == "worktree" or (key == "bare" and value.strip() != "false"):
            return False
    return True


# A section header (group 1: the remote's name, None for any other section) or a tagOpt line.
_TAGOPT = re.compile(r'^\s*\[\s*(?:remote\s+"([^"]+)"|[^\]]*)\s*\]|^\s*(tagopt)\s*=\s*"?--no-tags"?\s*(?:[#;].*)?$',
                     re.I | re.M)


def partial_registry(git_dir: str | os.PathLike) -> str | None:
    """Why this clone may hold only part of the registry's tags, ending in the command that
    completes it, or None. Two file reads, no process: a shallow clone (`shallow` in the common
    git folder, as `git rev-parse --is-shallow-repository` decides) holds only the tags on its
    truncated history; a clone made with `--no-tags` (`remote.NAME.tagOpt = --no-tags` in its
    config) fetches none. A repository that simply has no tags yet is neither."""
    folder = Path(git_dir)
    try:
        common = folder / (folder / "commondir").read_text().strip()
    except OSError:
        common = folder
    if (common / "shallow").is_file():
        return ("this is a shallow clone, so it holds only the tags on its truncated history and a stage may "
                "read as an older or newer version than the registry's; run `git fetch --unshallow --tags`")
    try:
        text = (common / "config").read_text(errors="replace")
    except OSError:
        return None
    remote = None
    for match in _TAGOPT.finditer(text):
        if match.group(2) is None:
            remote = match.group(1)
        elif remote is not None:
            return (f"this clone fetches no tags (remote.{remote}.tagOpt is --no-tags), so it may hold only part of "
                    f"the registry; run `git fetch --tags {remote}` and `git config --unset remote.{remote}.tagOpt`")
    return None
