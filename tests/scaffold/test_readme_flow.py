"""The README's user flow exactly as written, the way a new user walks it: `weightops init`,
`dvc repro` BEFORE the commit, a plain lightweight `git tag v1.0.0 && dvc push`, no git remote,
umask 022, and a second OS user on the deploy host reading the pulled weights."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from helpers import Project, assert_one_line_error, run_cli

NOBODY = 65534   # a second user that exists on every Debian/Ubuntu machine


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def deploy_dir():
    """A folder another user may enter (pytest's tmp_path is 0700), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="weightops-deploy-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_as_other_user(path: Path) -> subprocess.CompletedProcess | None:
    """`cat PATH` as uid 65534 when this process may switch users (root), else None."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "cat", str(path)],
                          capture_output=True)


def test_the_readme_flow_as_written(tmp_path, umask_022, deploy_dir):
    # weightops init mymodel --model clf
    run_cli(["init", "mymodel", "--model", "clf"], cwd=tmp_path, check=True)
    p = Project(tmp_path / "mymodel", tmp_path / "mymodel-dvc-remote")
    for name in ("dvc.yaml", "params.yaml", "weightops.yaml", ".gitignore", "src/train.py"):
        assert mode(p.root / name) == 0o644, name
    # cd mymodel && dvc repro ; git add -A && git commit -m "train" ; git tag v1.0.0 && dvc push
    p.dvc("repro", "-q")
    p.git("add", "-A")
    p.git("commit", "-qm", "train")
    p.git("tag", "v1.0.0")
    p.dvc("push", "-q")
    assert p.git("remote") == ""
    assert mode(p.card) == 0o644                                    # written by `weightops card`
    assert mode(p.root / "models" / "clf.validation.yaml") == 0o644  # written by `validate -o`

    # The README's release audits clean; GTO's blindness to lightweight tags is a note.
    audit = p.wo("audit", "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    doc = json.loads(audit.stdout)
    assert doc["ok"] is True and doc["findings"] == []
    assert [(n["kind"], n["tag"]) for n in doc["notices"]] == [("lightweight-tag", "v1.0.0")]

    card_sha = p.wo_json("resolve", "v1.0.0")["sha256"]
    assert [(r["version"], r["sha256"]) for r in p.wo_json("list")["versions"]] == [("v1.0.0", card_sha)]

    notes = p.wo("release-notes", "v1.0.0", check=True).stdout
    assert "reproducible from this commit" in notes and "not reproducible" not in notes
    assert "uncommitted changes" not in notes

    # The deploy host: pulled weights and lock are readable by the model server's user.
    pulled = p.wo("pull", "v1.0.0", "-o", str(deploy_dir / "clf.safetensors"), check=True)
    weights = deploy_dir / "clf.safetensors"
    assert mode(weights) == 0o644, pulled.stdout
    p.wo("lock", "v1.0.0", "-o", str(deploy_dir / "model.lock.yaml"), check=True)
    assert mode(deploy_dir / "model.lock.yaml") == 0o644
    other = read_as_other_user(weights)
    if other is not None:
        assert other.returncode == 0, other.stderr
        assert other.stdout == p.weights.read_bytes()

    # A release candidate is not `latest`; --pre lets it be.
    p.set_params(lr=0.3)
    p.dvc("repro", "-q")
    p.git("add", "-A")
    p.git("commit", "-qm", "retrain")
    p.git("tag", "v1.1.0-rc.1")
    p.dvc("push", "-q")
    assert p.wo_json("resolve", "latest")["version"] == "v1.0.0"
    assert p.wo_json("resolve", "latest", "--pre")["version"] == "v1.1.0-rc.1"
    assert p.wo_json("pull", "-o", str(deploy_dir / "latest.safetensors"))["version"] == "v1.0.0"
    assert p.wo_json("pull", "--pre", "-o", str(deploy_dir / "pre.safetensors"))["version"] == "v1.1.0-rc.1"

    # An unpushed version cannot be promoted: every deploy of it would fail.
    p.set_params(lr=0.2)
    p.dvc("repro", "-q")
    p.git("add", "-A")
    p.git("commit", "-qm", "retrain, forgot dvc push")
    p.git("tag", "v1.2.0")
    refused = p.wo("promote", "v1.2.0", "staging")
    assert_one_line_error(refused, 5, "v1.2.0", "not in DVC remote 'storage'", "dvc push")
    assert p.git("tag", "-l", "clf#*") == ""
    offline = p.wo("promote", "v1.2.0", "staging", "--no-check-remote")
    assert offline.returncode == 0, offline.stderr

    # A NaN model is refused for production with the default configuration.
    weights_now = load_file(p.weights)
    bias = weights_now["linear.bias"].copy()
    bias[0] = np.nan
    save_file({**weights_now, "linear.bias": bias}, p.weights)
    p.dvc("commit", "-f", "-q", "train")
    p.dvc("repro", "-q", check=False)    # the pipeline's own validate stage fails on it ...
    p.dvc("commit", "-f", "-q")          # ... and it is committed and pushed anyway
    p.git("add", "-A")
    p.git("commit", "-qm", "poisoned")
    p.git("tag", "v1.3.0")
    p.dvc("push", "-q")
    assert "gates" not in (p.root / "weightops.yaml").read_text()
    assert_one_line_error(p.wo("promote", "v1.3.0", "production"), 5, "finite", "linear.bias")
    assert p.git("tag", "-l", "clf#production#*") == ""
