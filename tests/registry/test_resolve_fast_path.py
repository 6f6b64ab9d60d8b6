"""`weightops resolve` skips Typer's import for its plain form (cli/fast.py). Differential: every
command line gives the same stdout, stderr and exit code through the fast path and through
the Typer CLI, and what the fast parser does not know is handed to Typer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import ROOT
from weightops.cli.fast import parse_resolve

T0 = 1_790_000_000
CASES = [
    ["resolve", "production", "--json"], ["resolve", "production"], ["resolve"],
    ["resolve", "v1.0.0", "-m", "clf", "--json"], ["resolve", "--model=clf", "latest"],
    ["resolve", "staging"], ["resolve", "v9.9.9"], ["resolve", "Prod!"], ["resolve", "1.0.0", "--json"],
    ["resolve", "production", "--at", "2020-01-01T00:00:00Z"], ["resolve", "production", "--repo", "/nonexistent"],
    ["resolve", "production", "--no-require-signed", "--json"], ["resolve", "production", "--remote", "nope"],
]


def run(args: list[str], cwd, typer: bool) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if typer:
        code = f"import sys; sys.argv = ['weightops'] + {args!r}; from weightops.cli import typer_main; typer_main()"
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "-m", "weightops", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_fast_path_and_typer_answer_alike(project):
    project.release("v1.0.0", at=T0)
    project.wo("promote", "v1.0.0", "production", env={"WEIGHTOPS_NOW": str(T0 + 10)}, check=True)
    for args in CASES:
        assert parse_resolve(args[1:]) is not None, args   # each case really takes the fast path
        fast, slow = run(args, project.root, typer=False), run(args, project.root, typer=True)
        assert fast == slow, args
    assert run(["resolve", "production", "--json"], project.root, typer=False)[0] == 0
    assert run(["resolve", "v9.9.9"], project.root, typer=False)[0] == 3


@pytest.mark.parametrize("args", [
    ["--help"], ["production", "--match", "sensor=v2"], ["production", "--index", "s3://b/i"], ["-mclf"],
    ["production", "--model"], ["a", "b"], ["production", "--bogus"], ["--", "production"],
])
def test_what_the_fast_parser_does_not_know_goes_to_typer(args):
    assert parse_resolve(args) is None


def test_fast_parser_reads_options_as_click_does():
    opts = parse_resolve(["--json", "production", "-m", "a", "--model=b", "--repo", "file:///r", "--require-signed"])
    assert (opts["ref"], opts["model"], opts["repo"], opts["as_json"], opts["require_signed"]) == \
        ("production", "b", "file:///r", True, True)
    assert parse_resolve([])["ref"] == "latest"
