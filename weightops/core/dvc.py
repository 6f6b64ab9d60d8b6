"""The only module that runs DVC: its own CLI as a child process (`python -m dvc`), so DVC and
its dependencies stay out of weightops' imports. Argument lists, never a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from weightops.errors import WeightopsError


class DvcError(WeightopsError):
    """DVC failed (exit 1); the message carries DVC's first ERROR line."""


def run(args: list[str], cwd: str | os.PathLike, *, env: dict | None = None,
        hint: str = "") -> subprocess.CompletedProcess:
    """`dvc ARGS` in `cwd` with analytics off; the child dies with this process (Linux), so an
    orphaned push never keeps running, holding DVC's lock, under the next run.

    Raises DvcError (exit 1) when DVC exits non-zero: "dvc COMMAND failed: <its ERROR line>"
    plus `hint` (what to check) when given.
    """
    full_env = dict(os.environ, DVC_NO_ANALYTICS="1", **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=Path(cwd), capture_output=True, text=True,
                          env=full_env, preexec_fn=_die_with_parent)
    if proc.returncode != 0:
        lines = [l for l in (proc.stderr + "\n" + proc.stdout).splitlines()
                 if l.strip() and "Having any troubles" not in l]   # DVC's support footer, not the error
        first = next((l for l in lines if "ERROR" in l), lines[0] if lines else f"exit code {proc.returncode}")
        raise DvcError(f"dvc {args[0]} failed: {first.strip()[:300]}{'; ' + hint if hint else ''}",
                       returncode=proc.returncode)
    return proc


def push(root: str | os.PathLike, remote: str | None = None) -> None:
    """`dvc push` of the work tree's outputs to `remote` (default: the configured one). DvcError (1)."""
    # Not -q: a quiet DVC exits 255 on an unexpected error without a word; unquiet, it prints
    # "ERROR: ..." (progress bars are off when the output is not a terminal).
    run(["push", *(["-r", remote] if remote else [])], root, hint="check the remote and retry")


def _die_with_parent() -> None:
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
