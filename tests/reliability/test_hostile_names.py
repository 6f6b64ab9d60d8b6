"""Hostile names: tag, stage, model, version and revision arguments with shell metacharacters,
option-like prefixes, whitespace or control characters never reach git. A `git` wrapper first
on PATH records every git process's argv; no argv may contain the hostile string."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

HOSTILE = [
    "--upload-pack=touch /tmp/wo-pwned",
    "-x",
    "v1.0.0;touch wo-pwned",
    "$(touch wo-pwned)",
    "prod uction",
    "stag\x1bing\x07",
    "v1.0.0\nv2",
    "clf@v1.0.0 --force",
]

# Each command with the hostile string placed in one argument position.
COMMANDS = [
    lambda h: ["resolve", h],
    lambda h: ["resolve", "latest", "--model", h],
    lambda h: ["resolve", "v1.0.0", "--at", h],
    lambda h: ["pull", h, "-o", "out.bin"],
    lambda h: ["pull", "v1.0.0", "--remote", h, "-o", "out.bin"],
    lambda h: ["lock", h, "-o", "lock.yaml"],
    lambda h: ["release", h],
    lambda h: ["promote", h, "staging"],
    lambda h: ["promote", "v1.0.0", h],
    lambda h: ["promote", "v1.0.0", "staging", "--model", h],
    lambda h: ["demote", h],
    lambda h: ["rollback", h],
    lambda h: ["rollback", "staging", "--to", h],
    lambda h: ["history", h],
    lambda h: ["release-notes", h],
    lambda h: ["ci", "check-tag", h],
    lambda h: ["sync", h, "--repo", ".", "-o", "live.bin", "--once"],
]


@pytest.fixture
def logged_git(project, tmp_path):
    """A `git` on PATH that appends its argv (fields \\x1f, records \\x1e) to a log, then runs git."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "git-argv.log"
    wrapper = bindir / "git"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s\\037' \"$@\" >> '{log}'\nprintf '\\036' >> '{log}'\n"
                       "exec /usr/bin/git \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    project.release("v1.0.0", at=1_767_225_600)
    log.write_bytes(b"")
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}, log


def test_hostile_names_never_reach_git(project, logged_git, tmp_path):
    env, log = logged_git
    jobs = [(i, h, make(h)) for i, make in enumerate(COMMANDS) for h in HOSTILE]

    def run(job):
        i, h, args = job
        return job, project.wo(*args, env=env)

    with ThreadPoolExecutor(3) as ex:
        results = list(ex.map(run, jobs))
    problems = []
    for (i, h, args), proc in results:
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        if proc.returncode not in (2, 3) or len(lines) != 1 or "Traceback" in proc.stderr or "unexpected" in proc.stderr:
            problems.append(f"{args!r}: exit {proc.returncode} {proc.stderr[-300:]!r}")
    argvs = [rec.split("\x1f") for rec in log.read_text(errors="replace").split("\x1e") if rec]
    assert argvs, "the wrapper saw the commands' git calls"
    for h in HOSTILE:
        for argv in argvs:
            if any(h in a for a in argv):
                problems.append(f"git got {h!r}: {argv!r}")
    assert problems == [], "\n".join(problems)
    assert not (project.root / "wo-pwned").exists() and not os.path.exists("/tmp/wo-pwned")
    assert project.git("tag", "-l") == "v1.0.0", "no tag written"


def test_diff_revisions_that_look_like_options_never_reach_git_as_options(project, logged_git):
    env, log = logged_git
    for h in ("--output=/tmp/wo-pwned-diff", "-x", "HEAD;touch wo-pwned"):
        proc = project.wo("diff", "--", h, "HEAD", env=env)
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        assert proc.returncode in (2, 3) and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for rec in log.read_text().split("\x1e"):
        argv = rec.split("\x1f")
        for i, a in enumerate(argv):
            if a.startswith("--output=") or a.startswith("-x"):
                # allowed only after `--` (then git reads it as a path or revision, not an option)
                assert "--" in argv[:i] or "--end-of-options" in argv[:i], argv
            # A revision with shell metacharacters may reach git as a revision (arg list, no
            # shell): git answers "unknown revision" and nothing runs.
    assert not os.path.exists("/tmp/wo-pwned-diff")
