"""`weightops-skinny` (skinny/): the deploy-host distribution built from the same tree. It must
not drift from the full one (same version, packages and dependency specifiers), and installed
alone in a fresh virtual environment, with DVC and numpy absent, it resolves and pulls verified
bytes from a git remote and from an OCI registry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, T0, at
from oci.registry import sha256_of, start_registry
from oci.test_publish_pull import configure

# pip's cache of the user running the suite (the tests' own HOME is a temp folder): the install
# below is timed by benchmarks/skinny.py, here it only has to work.
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_skinny_is_the_full_distribution_minus_dependencies():
    full = tomllib.loads((ROOT / "pyproject.toml").read_text())
    skinny = tomllib.loads((ROOT / "skinny" / "pyproject.toml").read_text())
    assert skinny["project"]["version"] == full["project"]["version"]
    assert skinny["project"]["scripts"] == full["project"]["scripts"]
    assert skinny["tool"]["setuptools"]["packages"] == full["tool"]["setuptools"]["packages"]
    assert skinny["tool"]["setuptools"]["package-dir"] == full["tool"]["setuptools"]["package-dir"]
    for folder in ("weightops", "templates"):        # the same tree, not a copy
        assert (ROOT / "skinny" / folder).resolve() == (ROOT / folder).resolve()
    specs = {_name(r): r for r in full["project"]["dependencies"]}
    extras = [r for group in skinny["project"]["optional-dependencies"].values() for r in group]
    for requirement in [*skinny["project"]["dependencies"], *extras]:
        assert specs.get(_name(requirement)) == requirement, f"{requirement} differs from the full distribution's"
    names = {_name(r) for r in skinny["project"]["dependencies"]}
    assert not names & {"dvc", "dvc-s3", "numpy", "safetensors"}


@pytest.fixture(scope="module")
def skinny_venv(tmp_path_factory) -> Path:
    """A fresh venv with `pip install ./skinny` and nothing else; its bin folder."""
    venv = tmp_path_factory.mktemp("skinny") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = dict(os.environ, PIP_CACHE_DIR=PIP_CACHE, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT / "skinny")],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv / "bin"


def _skinny(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)          # the installed package, not this checkout
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run([str(bin_dir / "weightops"), *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_skinny_has_no_dvc_and_pulls_from_a_git_remote_and_oci(skinny_venv, project, tmp_path):
    python = skinny_venv / "python"
    for absent in ("dvc", "numpy", "gto"):
        probe = subprocess.run([str(python), "-c", f"import {absent}"], capture_output=True, env={"PATH": os.environ["PATH"]})
        assert probe.returncode != 0, f"{absent} is installed in the skinny venv"
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert len([p for p in listed if not p.startswith(("pip==", "setuptools=="))]) <= 20

    registry = start_registry(tmp_path / "registry")
    try:
        target = configure(project, registry, "acme/clf")
        project.dvc("remote", "modify", "storage", "url", str(project.remote))   # meaningful outside the clone
        project.git("commit", "-qam", "absolute DVC remote")
        project.release("v1.0.0", at=T0)
        at(project, T0 + 10, "promote", "v1.0.0", "production")
        project.wo("publish", "--oci", target, check=True)
        sha = yaml.safe_load(project.card.read_text())["artifact"]["sha256"]
        bare = tmp_path / "registry.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(bare)], check=True)
        host = tmp_path / "host"
        host.mkdir()

        by_git = _skinny(skinny_venv, "pull", "production", "--repo", bare.as_uri(), "-o", str(host / "a.safetensors"),
                         cwd=host)
        assert by_git.returncode == 0, by_git.stderr
        assert sha256_of(host / "a.safetensors") == sha

        by_oci = _skinny(skinny_venv, "pull", f"oci://{target}:production", "-o", str(host / "b.safetensors"),
                         cwd=host)
        assert by_oci.returncode == 0, by_oci.stderr
        assert sha256_of(host / "b.safetensors") == sha

        wrong = _skinny(skinny_venv, "pull", "production", "--repo", bare.as_uri(), "--expect-sha256", "0" * 64,
                        "-o", str(host / "c.safetensors"), cwd=host)
        assert wrong.returncode == 4 and not (host / "c.safetensors").exists()
        assert "Traceback" not in wrong.stderr
    finally:
        registry.stop()
