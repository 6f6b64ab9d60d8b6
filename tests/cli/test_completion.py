"""Shell completion with Typer's own mechanism: `weightops --show-completion SHELL` prints a
script for bash, zsh and fish, and each shell, running it, completes weightops' commands and
options by calling weightops back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import ROOT, run_cli
from needs import require_tool


@pytest.fixture
def on_path(tmp_path) -> dict:
    """An environment with a `weightops` program on PATH (this checkout, as pip's script runs it)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "weightops"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m weightops \"$@\"\n")
    shim.chmod(0o755)
    return dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT))


def script(shell: str, tmp_path) -> str:
    proc = run_cli(["--show-completion", shell], cwd=tmp_path, check=True)
    assert "weightops" in proc.stdout and "_WEIGHTOPS_COMPLETE" in proc.stdout, proc.stdout
    path = tmp_path / f"weightops.{shell}"
    path.write_text(proc.stdout)
    return str(path)


def test_bash_completes_commands_and_options(tmp_path, on_path):
    bash = require_tool("bash", "bash completion")
    path = script("bash", tmp_path)
    subprocess.run([bash, "-n", path], check=True)

    def complete(*words: str) -> list[str]:
        code = (f"source {path}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
                "_weightops_completion weightops; printf '%s\\n' \"${COMPREPLY[@]}\"")
        out = subprocess.run([bash, "-c", code], env=on_path, capture_output=True, text=True, check=True).stdout
        return out.split()

    assert {"promote", "pull"} <= set(complete("weightops", "p")) and "release" not in complete("weightops", "p")
    assert "--skip-checks" in complete("weightops", "promote", "--sk")
    assert "check-tag" in complete("weightops", "ci", "")


def test_fish_completes_commands(tmp_path, on_path):
    fish = require_tool("fish", "fish completion; Debian: apt-get install fish")
    path = script("fish", tmp_path)
    subprocess.run([fish, "--no-execute", path], check=True)
    out = subprocess.run([fish, "--no-config", "-c", f"source {path}; complete -C 'weightops pro'"],
                         env=on_path, capture_output=True, text=True, check=True).stdout
    assert "promote" in {line.split("\t")[0] for line in out.splitlines()}, out


def test_zsh_script_parses_and_its_callback_answers(tmp_path, on_path):
    zsh = require_tool("zsh", "zsh completion; Debian: apt-get install zsh")
    path = script("zsh", tmp_path)
    subprocess.run([zsh, "-n", path], check=True)
    text = open(path).read()
    assert "compdef _weightops_completion weightops" in text
    # What the script's function runs at a TAB: zsh code listing the candidates, which zsh evals.
    env = dict(on_path, _TYPER_COMPLETE_ARGS="weightops pro", _WEIGHTOPS_COMPLETE="complete_zsh")
    answer = subprocess.run(["weightops"], env=env, capture_output=True, text=True, check=True).stdout
    assert "promote" in answer and "pull" not in answer
    reply = tmp_path / "reply.zsh"
    reply.write_text(answer)
    subprocess.run([zsh, "-n", str(reply)], check=True)


def test_install_completion_is_offered(tmp_path):
    shown = run_cli(["--help"], cwd=tmp_path, check=True).stdout
    assert "--install-completion" in shown and "--show-completion" in shown
