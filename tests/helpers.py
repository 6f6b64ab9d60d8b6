"""Test helpers: run the real CLI as a process, drive real git and DVC in a project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def run_cli(args: list[str], cwd: Path | str, env: dict | None = None, check: bool = False,
            input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m weightops ARGS` as a separate process, as a user or deploy script runs it."""
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "weightops", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"weightops {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """The documented exit code, one line on stderr, no traceback, naming what is wrong."""
    assert proc.returncode == code, f"exit {proc.returncode}, wanted {code}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, the start of most tests' tag histories

# A sharded checkpoint: two weight files and a config in a subfolder (see add_dir_artifact).
SHARDS = {"model-00001.bin": b"A" * 5000, "model-00002.bin": b"B" * 7000, "sub/config.json": b'{"n": 2}'}


def at(project: "Project", t: int, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`weightops ARGS` in `project` with the clock at `t` (Unix seconds, WEIGHTOPS_NOW)."""
    return project.wo(*args, env={"WEIGHTOPS_NOW": str(t)}, check=check)


def two_versions(project: "Project") -> None:
    """v1.0.0 released at T0; retrained; v1.1.0 released at T0 + 10."""
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.release("v1.1.0", at=T0 + 10)


def add_dir_artifact(project: "Project", files: dict[str, bytes]) -> None:
    """Declare model `shards`, a folder of `files` (relative path -> bytes) tracked by `dvc
    add`, with its card, committed."""
    from weightops.api import make_card

    shards = project.root / "models" / "shards"
    for rel, data in files.items():
        (shards / rel).parent.mkdir(parents=True, exist_ok=True)
        (shards / rel).write_bytes(data)
    dvcyaml = yaml.safe_load((project.root / "dvc.yaml").read_text())
    dvcyaml["artifacts"]["shards"] = {"path": "models/shards", "type": "model"}
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(dvcyaml, sort_keys=False))
    project.dvc("add", "-q", "models/shards")
    make_card(shards, project.root / "models" / "shards.card.yaml", model="shards")
    project.git("add", "-A")
    project.git("commit", "-qm", "sharded checkpoint")


@dataclass
class Project:
    root: Path
    remote: Path
    model: str = "clf"

    def git(self, *args: str, check: bool = True, env: dict | None = None) -> str:
        full_env = dict(os.environ, **(env or {}))
        proc = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, env=full_env)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout.strip()

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=self.root, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"dvc {' '.join(args)} failed: {proc.stdout}\n{proc.stderr}")
        return proc

    def wo(self, *args: str, check: bool = False, env: dict | None = None, cwd: Path | None = None,
           input: str | None = None) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, **(env or {})) if env else None
        return run_cli(list(args), cwd=cwd or self.root, env=full_env, check=check, input=input)

    def wo_json(self, *args: str) -> object:
        proc = self.wo(*args, "--json", check=True)
        return json.loads(proc.stdout)

    def set_params(self, **values: object) -> None:
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        params["train"].update(values)
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    def train(self, message: str = "retrain", **params: object) -> str:
        """Change params, `dvc repro`, commit; returns the new commit."""
        if params:
            self.set_params(**params)
        self.dvc("repro", "-q")
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD")

    def release(self, version: str, *extra: str, push: bool = True, at: int | None = None) -> subprocess.CompletedProcess:
        args = ["release", version, *extra] + (["--push"] if push else [])
        env = {"WEIGHTOPS_NOW": str(at)} if at is not None else None
        return self.wo(*args, check=True, env=env)

    @property
    def weights(self) -> Path:
        return self.root / "models" / f"{self.model}.safetensors"

    @property
    def card(self) -> Path:
        return self.root / "models" / f"{self.model}.card.yaml"

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")
