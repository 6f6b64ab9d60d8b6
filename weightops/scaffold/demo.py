"""`weightops demo`: the README's main job, end to end on real git and DVC, inside one folder."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Iterator

import yaml

from weightops.core import dvc, git
from weightops.registry.release import release
from weightops.registry.resolve import resolve
from weightops.scaffold.init import init_project

MODEL = "clf"


def run_demo(directory: str | Path | None = None, echo: Callable[[str], None] | None = None) -> Iterator[str]:
    """Yields the summary lines. Everything it writes stays under `directory`."""
    say = echo or (lambda _line: None)
    base = Path(directory or tempfile.mkdtemp(prefix="weightops-demo-")).resolve()
    base.mkdir(parents=True, exist_ok=True)
    project, remote = base / "project", base / "dvc-remote"
    site_cache = base / ".dvc-site-cache"
    # DVC keeps per-repo state in a machine-wide folder; point it inside the demo folder.
    env = {"DVC_SITE_CACHE_DIR": str(site_cache)}
    say(f"demo folder: {base}")
    init_project(project, model=MODEL, remote=str(remote))
    dvc.run(["config", "--local", "core.site_cache_dir", str(site_cache)], project, env=env)
    if not git.config_get(project, "user.email"):  # a fresh machine may have no git identity
        git.set_config(project, "user.name", "weightops demo")
        git.set_config(project, "user.email", "demo@weightops.invalid")

    versions = [("v1.0.0", {"lr": 0.5, "epochs": 200}), ("v1.1.0", {"lr": 0.2, "epochs": 600, "seed": 11})]
    for version, overrides in versions:
        params_file = project / "params.yaml"
        params = yaml.safe_load(params_file.read_text())
        params["train"].update(overrides)
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        say(f"training {version} (dvc repro) ...")
        dvc.run(["repro", "-q"], project, env=env)
        git.commit_all(project, f"train {MODEL} {version}")
        release(version, model=MODEL, repo=project, push=True)
        say(f"released {version} and pushed its weights to {remote}")

    yield ""
    yield f"weightops demo: model '{MODEL}' in {project}"
    yield f"DVC remote (local folder): {remote}"
    for version, _ in versions:
        r = resolve(version, model=MODEL, repo=project)
        acc = (r.card.get("metrics") or {}).get("accuracy")
        yield (f"  {r.version:<8} tag {r.tag:<8} commit {r.commit[:10]}  sha256 {r.sha256[:16]}…  "
               f"{r.size} B  accuracy {acc}")
        yield f"           object {r.url}"
    latest = resolve("latest", model=MODEL, repo=project)
    yield f"latest -> {latest.version}; try: cd {project} && weightops list && weightops resolve v1.0.0 --json"
