"""Files weightops writes get the mode a plain open() would give under the caller's umask, and a
file replaced in place keeps its mode: mkstemp's 0600 must not survive the rename."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from helpers import run_cli
from weightops.core.atomic import atomic_write_text, current_umask


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_new_file_gets_what_open_gives_under_the_umask(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    with open(tmp_path / "plain", "w") as f:
        f.write("x")
    atomic_write_text(tmp_path / "atomic", "x")
    assert mode(tmp_path / "atomic") == mode(tmp_path / "plain") == 0o666 & ~mask


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    target = tmp_path / "card.yaml"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o640
    target.chmod(0o604)
    umask(0o077)   # the old mode wins over the umask for a replaced file
    atomic_write_text(target, "newer")
    assert mode(target) == 0o604


def test_card_lock_and_pull_files_under_umask_022(project, tmp_path, umask):
    umask(0o022)
    project.release("v1.0.0")
    out = tmp_path / "deploy"
    project.wo("card", str(project.weights), "-o", str(out / "card.yaml"), check=True)
    project.wo("lock", "v1.0.0", "-o", str(out / "model.lock.yaml"), check=True)
    project.wo("pull", "v1.0.0", "-o", str(out / "clf.safetensors"), check=True)
    project.wo("validate", str(project.weights), "--against", "none", "-o", str(out / "report.yaml"), check=True)
    for name in ("card.yaml", "model.lock.yaml", "clf.safetensors", "report.yaml"):
        assert mode(out / name) == 0o644, name
    # an operator's tighter mode on the deployed file survives the next pull of new bytes
    (out / "clf.safetensors").chmod(0o640)
    project.train(epochs=40)
    project.release("v1.1.0")
    project.wo("pull", "v1.1.0", "-o", str(out / "clf.safetensors"), check=True)
    assert mode(out / "clf.safetensors") == 0o640


def test_init_files_under_umask_027(tmp_path, umask):
    umask(0o027)
    run_cli(["init", str(tmp_path / "p"), "--model", "clf", "--remote", str(tmp_path / "r")], cwd=tmp_path, check=True)
    for name in ("dvc.yaml", "params.yaml", "weightops.yaml", ".gitignore", ".github/workflows/weightops.yml"):
        assert mode(tmp_path / "p" / name) == 0o640, name
