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
from weightops.registry.tags import validate_new_model_name
from weightops.scaffold.adopt import declare_artifact, dvc_outputs, find_output, likely_model
from weightops.storage.dvc_config import dvc_remotes

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
    """What `init` did: the project root, the model name, the DVC remote's URL, the files written
    (repository-relative), and with `--artifact` the output registered, its card (when written) and
    whether a remote was added."""
    root: Path
    model: str
    remote_url: str
    written: tuple[str, ...]
    artifact: str | None = None     # the existing DVC output registered as the model (--artifact)
    card: str | None = None         # its card, when init could write it (the file was present)
    remote_added: bool = True       # False: the project's own default DVC remote was kept


def render(name: str, model: str) -> str:
    """The shipped template `name` (a path under templates/) with `{{model}}` replaced by `model`
    and `{{weightops_requirement}}` by the pip requirement for this weightops. FileNotFoundError
    when the template is missing (a broken install)."""
    text = template_path(name).read_text().replace("{{model}}", model)
    if "{{weightops_requirement}}" in text:
        from weightops.scaffold.requirement import install_requirement

        text = text.replace("{{weightops_requirement}}", install_requirement())
    return text


def default_remote_dir(root: Path) -> Path:
    """A local-directory remote beside the project, outside its work tree."""
    return root.parent / f"{root.name}-dvc-remote"


def init_project(directory: str | os.PathLike = ".", *, model: str = "model", remote: str | None = None,
                 force: bool = False, artifact: str | None = None) -> Initialized:
    """Scaffold a new project (git + DVC + an example pipeline), or, with `artifact`, register an
    output an existing DVC project already tracks. Raises TagError (exit 2) for a bad model name,
    RefusedError (exit 5) rather than overwrite files or scaffold beside a DVC project's outputs."""
    if ":" in (model or ""):
        raise RefusedError("init declares a model in the root dvc.yaml; use a plain name (no 'dir:')")
    validate_new_model_name(model, nested=False)
    root = Path(directory).resolve()
    if artifact is not None:
        return adopt_output(root, model=model, artifact=artifact, remote=remote, force=force)
    root.mkdir(parents=True, exist_ok=True)
    targets = {dest: render(src, model) for src, dest in PROJECT_FILES.items()}
    targets[CONFIG_FILE] = render_config(model)
    existing = [dest for dest in targets if (root / dest).exists()]
    outputs = dvc_outputs(root) if (root / ".dvc").is_dir() and not (root / CONFIG_FILE).exists() else []
    if outputs and not force:
        shown = ", ".join(o.path for o in outputs[:4]) + (", ..." if len(outputs) > 4 else "")
        raise RefusedError(f"{root} is a DVC project with its own outputs ({shown}); init will not add its example "
                           f"pipeline beside them: register yours with `weightops init --artifact {likely_model(outputs).path} "
                           f"--model NAME`")
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


def adopt_output(root: Path, *, model: str, artifact: str, remote: str | None, force: bool) -> Initialized:
    """Register an existing DVC output as MODEL: declare it under `artifacts:` in dvc.yaml, write
    weightops.yaml and the CI files (never over the user's), its card when the file is here, and a
    DVC remote only when the project has no default one (or `remote` names one). RefusedError (5)
    when `root` is not a DVC project or already has weightops.yaml (without `force`); NotFoundError
    (3) when `artifact` is not a tracked output; UsageError (2) for a path outside the project or a
    name dvc.yaml already declares."""
    if not (root / ".dvc").is_dir():
        raise RefusedError(f"--artifact registers an output of an existing DVC project, and {root} is not one "
                           "(no .dvc/); run `weightops init` without --artifact to start a project")
    out = find_output(root, artifact)
    targets = {dest: render(src, model) for src, dest in PROJECT_FILES.items() if src.startswith("ci/")}
    targets[CONFIG_FILE] = render_config(model)
    if (root / CONFIG_FILE).exists() and not force:
        raise RefusedError(f"{root} already has {CONFIG_FILE}; weightops init will not overwrite it (pass --force)")
    card = declare_artifact(root, model, out.path)
    written = ["dvc.yaml"]
    for dest, text in targets.items():
        if force or not (root / dest).exists():
            atomic_write_text(root / dest, text)
            written.append(dest)
    default, _known = dvc_remotes(*[(root / ".dvc" / n).read_bytes() if (root / ".dvc" / n).is_file() else None
                                    for n in ("config", "config.local")], dvc_dir=root / ".dvc")
    remote_url, added = remote, remote is not None or default is None
    if added:
        remote_url = remote or str(default_remote_dir(root))
        if "://" not in remote_url:
            Path(remote_url).mkdir(parents=True, exist_ok=True)
        dvc.run(["remote", "add", "--force", "--default", "storage", remote_url], root)
    else:
        remote_url = _known[default].url
    made = None
    if (root / out.path).is_file():
        from weightops.api import make_card

        make_card(root / out.path, root / card, model=model)
        made = card
        written.append(card)
    if added:
        written.append(".dvc/config")
    log.info("registered %s as model %s in %s", out.path, model, root)
    return Initialized(root, model, remote_url, tuple(written), out.path, made, added)


def next_steps(done: Initialized, cwd: Path) -> str:
    """The "next:" hint for where init ran: no `cd` when it ran in the folder, `dvc push` +
    `release` when the repository has no git remote to push tags to."""
    try:
        rel = os.path.relpath(done.root, cwd)
    except ValueError:
        rel = str(done.root)
    go = "" if rel == "." else f"cd {rel if not rel.startswith('..') else done.root} && "
    publish = "weightops release v1.0.0 --push" if git.default_remote(done.root) else "dvc push && weightops release v1.0.0"
    if done.artifact is None:
        return f"{go}dvc repro && git add -A && git commit -m 'train {done.model}' && {publish}"
    card = done.card or f"{os.path.splitext(done.artifact)[0]}.card.yaml"
    write_card = f"weightops card {done.artifact} -o {card} --model {done.model}"
    step = "" if done.card else f"{write_card} && "
    files = " ".join(dict.fromkeys([*done.written, card]))
    return (f"{go}{step}git add {files} && git commit -m 'register {done.model}' && {publish}; "
            f"after each training run `{write_card}` (or add it to the pipeline as a stage)")


def _merge_gitignore(path: Path, template: str) -> None:
    """Append the template's lines the user's .gitignore lacks; never drop a user's line."""
    current = path.read_text() if path.exists() else ""
    have = {l.strip() for l in current.splitlines()}
    missing = [l for l in template.splitlines() if l.strip() and l.strip() not in have]
    if not missing:
        return
    sep = "" if not current or current.endswith("\n") else "\n"
    atomic_write_text(path, current + sep + "\n".join(missing) + "\n")
