"""`weightops init`: render templates/project into a new or existing git repository."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from weightops.core import dvc, git
from weightops.core.atomic import atomic_write_text
from weightops.core.config import CONFIG_FILE, render_config
from weightops.errors import RefusedError
from weightops.core.resources import template_path
from weightops.registry.tags import validate_model_name

log = logging.getLogger(__name__)

# template file -> path in the project
PROJECT_FILES = {
    "project/dvc.yaml.tmpl": "dvc.yaml",
    "project/params.yaml": "params.yaml",
    "project/src/train.py": "src/train.py",
    # CI: check-tag + release notes on tag push, model diff on pull requests
    "ci/github-workflow.yml": ".github/workflows/weightops.yml",
    "ci/gitlab-ci.yml": ".gitlab-ci.yml",
}
GITIGNORE_TEMPLATE = "project/gitignore"


@dataclass(frozen=True)
class Initialized:
    root: Path
    model: str
    remote_url: str
    written: tuple[str, ...]


def render(name: str, model: str) -> str:
    return template_path(name).read_text().replace("{{model}}", model)


def default_remote_dir(root: Path) -> Path:
    """A local-directory remote beside the project, outside its work tree."""
    return root.parent / f"{root.name}-dvc-remote"


def init_project(directory: str | os.PathLike = ".", *, model: str = "model", remote: str | None = None,
                 force: bool = False) -> Initialized:
    """Render templates/project into DIRECTORY (a new or existing git repository): dvc.yaml,
    params, a training script, CI templates and weightops.yaml declaring MODEL, then `dvc init`
    and a default DVC remote REMOTE (URL or path; default a folder beside the project).

    Raises UsageError (2) for a bad model name, RefusedError (5) for a nested model name or
    when project files exist and `force` is false, DvcError/GitError (1) when a tool fails.
    """
    validate_model_name(model)
    if ":" in model:
        raise RefusedError("init declares a model in the root dvc.yaml; use a plain name (no 'dir:')")
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    targets = {dest: render(src, model) for src, dest in PROJECT_FILES.items()}
    targets[CONFIG_FILE] = render_config(model)
    existing = [dest for dest in targets if (root / dest).exists()]
    if existing and not force:
        raise RefusedError(f"{root} already has {', '.join(existing)}; weightops init will not overwrite "
                           "them (pass --force to replace them)")
    if not (root / ".git").exists():
        git.init_repo(root)
    if not (root / ".dvc").is_dir():
        top = git.toplevel(root)
        dvc.run(["init", "-q"] + ([] if top.resolve() == root else ["--subdir"]), root)
    for dest, text in targets.items():
        atomic_write_text(root / dest, text)
    _merge_gitignore(root / ".gitignore", template_path(GITIGNORE_TEMPLATE).read_text())
    remote_url = remote or str(default_remote_dir(root))
    if "://" not in remote_url:
        Path(remote_url).mkdir(parents=True, exist_ok=True)
    dvc.run(["remote", "add", "--force", "--default", "storage", remote_url], root)
    log.info("initialized %s (model %s, DVC remote %s)", root, model, remote_url)
    return Initialized(root, model, remote_url, tuple(targets) + (".gitignore",))


def _merge_gitignore(path: Path, template: str) -> None:
    """Append the template's lines the user's .gitignore lacks; never drop a user's line."""
    current = path.read_text() if path.exists() else ""
    have = {l.strip() for l in current.splitlines()}
    missing = [l for l in template.splitlines() if l.strip() and l.strip() not in have]
    if not missing:
        return
    sep = "" if not current or current.endswith("\n") else "\n"
    atomic_write_text(path, current + sep + "\n".join(missing) + "\n")
