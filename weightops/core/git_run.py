"""The git runner: `git ARGS` as a subprocess (argument lists, never a shell) and the errors a
failed or missing git becomes. core/git.py re-exports it; core/git_tags.py uses it without
importing the rest of the git module, which is what keeps `resolve`'s early tag read cheap.
"""

from __future__ import annotations

import os
import subprocess

from weightops.errors import WeightopsError


class GitError(WeightopsError):
    """git failed; the message carries git's own first line."""


def run(args: list[str], cwd: str | os.PathLike | None = None, *, input: str | bytes | None = None,
        env: dict | None = None, check: bool = True, text: bool = True,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """`git ARGS` in `cwd`; `env` is added to the environment. With `check`, a non-zero exit
    raises GitError (exit 1) carrying git's first stderr line; WeightopsError (1) without git."""
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, text=text,
            env=full_env, timeout=timeout,
        )
    except FileNotFoundError:
        raise _no_git() from None
    if check and proc.returncode != 0:
        raise _failed(args, proc.returncode, proc.stderr if text else proc.stderr.decode(errors="replace"))
    return proc


def _no_git() -> WeightopsError:
    return WeightopsError("git is not installed or not on PATH; install git and retry")


def _failed(args: list[str], returncode: int, err: str) -> GitError:
    """The GitError for `git ARGS` that exited `returncode`, carrying git's first stderr line."""
    first = next((line for line in err.splitlines() if line.strip()), "").strip()
    return GitError(f"git {args[0]} failed: {first or 'exit ' + str(returncode)}", returncode=returncode, stderr=err)
