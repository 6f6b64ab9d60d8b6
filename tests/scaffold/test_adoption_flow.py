"""The README's "Adopting an existing DVC project" walked verbatim, command by command as parsed
from the README, on three existing projects built by DVC, GTO and git (scaffold/adoption_layouts.py:
example-get-started's shape, a GTO registry with its own stages, a `dvc init --subdir` monorepo).

The README's example names (example-get-started's `model.pkl`, `model.card.yaml`, stage `prod`)
are replaced by each layout's own; "your change" before `dvc repro` is one params.yaml value."""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from scaffold.adoption_layouts import BUILDERS, Layout, copy_layout, env_for, load_layout, save_layout, set_param, sh

SECTION = "## Adopting an existing DVC project"


def readme_commands() -> list[list[str]]:
    """The adoption section's code block: one argv per command (`&&` splits a line; `#` starts
    a comment, as in a shell)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION):]
    block = re.search(r"```\n(.*?)```", section, re.S)[1]
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(words[:cut])
            words = words[cut + 1:]
    return commands


@pytest.fixture(scope="session")
def built_layouts(tmp_path_factory, worker_id):
    """Each layout built once per session, shared by the pytest-xdist workers (the first to
    take a layout's lock builds it; the others wait, then reuse it); tests copy it."""
    shared = tmp_path_factory.getbasetemp()
    shared = shared if worker_id == "master" else shared.parent

    def get(name: str) -> Layout:
        base = shared / f"adopt-layout-{name}"
        with open(shared / f"adopt-layout-{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (base / "layout.json").is_file():
                base.mkdir(exist_ok=True)
                save_layout(BUILDERS[name](base))
        return load_layout(base)
    return get


def walk(layout: Layout) -> dict[str, subprocess.CompletedProcess]:
    """Run the README's adoption commands in `layout`; returns each command's process by its text."""
    env = dict(env_for(layout.base), PYTHONPATH=str(ROOT))
    names = {"example-get-started": str(layout.dvc_dir), "model.pkl": layout.weights,
             "model.card.yaml": layout.card, "prod": layout.stage,
             "../deploy/model.pkl": str(layout.base / "deploy" / "model"),
             "../deploy/v1.0.0.pkl": str(layout.base / "deploy" / "v1.0.0")}
    cwd = layout.base
    results = {}
    for argv in readme_commands():
        argv = [names.get(a, a) for a in argv]
        if argv[0] == "cd":
            cwd = Path(argv[1])
            continue
        if argv == ["dvc", "repro"]:
            set_param(layout.dvc_dir / "params.yaml", *layout.retrain)   # "your change"
        run = {"weightops": [sys.executable, "-m", "weightops"], "dvc": [sys.executable, "-m", "dvc"]}.get(argv[0], argv[:1])
        proc = subprocess.run(run + argv[1:], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        results[shlex.join(argv)] = proc
    return results


@pytest.mark.parametrize("name", ["getstarted", "registry", "monorepo"])
def test_readme_adoption_walk(name, built_layouts, tmp_path):
    layout = copy_layout(built_layouts(name), tmp_path / name)
    env = dict(env_for(layout.base), PYTHONPATH=str(ROOT))
    dvcyaml = layout.dvc_dir / "dvc.yaml"
    before = dvcyaml.read_text()
    results = walk(layout)

    def wo(*args, check=True):
        proc = subprocess.run([sys.executable, "-m", "weightops", *args], cwd=layout.dvc_dir, env=env,
                              capture_output=True, text=True, timeout=600)
        assert not check or proc.returncode == 0, f"weightops {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
        return proc

    # dvc.yaml: nothing of the user's changed (a declared model needs no line at all)
    after = dvcyaml.read_text()
    assert after == before or after.startswith(before)
    cfg = yaml.safe_load((layout.root / "weightops.yaml").read_text())
    assert cfg["model"] == layout.model and cfg["tag_style"] == "named" and tuple(cfg["stages"]) == layout.stages

    # release --push says where the tag went; the registry GTO reads has it
    released = results["weightops release v1.3.0 --push"].stdout
    assert "and pushed to git remote 'origin'" in released
    tag = f"{layout.model.replace(':', '=')}@v1.3.0"
    assert sh(layout.root, env, "git", "ls-remote", "--tags", "origin", tag).strip()

    # promote took the registry's own stage; resolve answered it; rollback restored the holder before
    resolved = json.loads(results[f"weightops resolve {layout.stage} --json"].stdout)
    assert resolved["version"] == "v1.3.0" and resolved["stage"] == layout.stage
    pulled = (layout.base / "deploy" / "model").read_bytes()
    assert hashlib.sha256(pulled).hexdigest() == resolved["sha256"]
    now = json.loads(wo("resolve", layout.stage, "--json").stdout)
    assert now["version"] == layout.extra["holder_before"]

    # pre-adoption versions resolve and pull, verified against DVC's own record of them
    for version in layout.released:
        old = json.loads(wo("resolve", version, "--json").stdout)
        out = layout.base / "deploy" / f"pre-{version}"
        wo("pull", version, "-o", str(out))
        assert hashlib.md5(out.read_bytes()).hexdigest() == old["md5"]

    # `gto show` agrees with weightops on every version's stages and the stage's holder
    gto = subprocess.run(["gto", "show", layout.model, "--json"], cwd=layout.root, env=env, capture_output=True, text=True)
    assert gto.returncode == 0, gto.stderr
    theirs = {v["version"]: sorted(s["stage"] for s in v["stages"]) for v in json.loads(gto.stdout)}
    ours = {r["version"]: r["stages"] for r in json.loads(wo("list", "--json").stdout)["versions"]}
    assert ours == theirs

    # the release is reproducible from its commit (dotted params read as DVC reads them)
    notes = wo("release-notes", tag).stdout
    assert "reproducible from this commit" in notes and "not reproducible" not in notes

    audit = wo("audit", "--json", check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout)["ok"] is True
