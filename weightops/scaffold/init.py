"""`weightops init`: render templates/project into a new or existing git repository."""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from weightops.core import dvc, git
from weightops.core.atomic import atomic_write_text
from weightops.core.config import CONFIG_FILE, DEFAULT_STAGES, VALIDATED_BY_DEFAULT, render_config
from weightops.errors import RefusedError
from weightops.core.resources import template_path
from weightops.registry.tags import validate_new_model_name
from weightops.scaffold.adopt import Choice, choose_artifact, declare_artifact, dvc_outputs, likely_model, read_conventions
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
    """What `init` did: the project root (the DVC project's folder), the model name, the DVC
    remote's URL, the files written (relative to the git repository's top), and in an existing
    DVC project the artifact registered, its card (when written), whether a remote was added,
    whether dvc.yaml declared the artifact already, and the conventions read from the tags."""
    root: Path
    model: str
    remote_url: str
    written: tuple[str, ...]
    artifact: str | None = None     # the existing DVC output registered as the model (DVC-project-relative)
    card: str | None = None         # its card (DVC-project-relative), when init could write it
    remote_added: bool = True       # False: the project's own default DVC remote was kept
    declared: bool = False          # True: dvc.yaml declared the artifact already (left untouched)
    tag_style: str = "plain"
    stages: tuple[str, ...] = DEFAULT_STAGES
    skipped_stages: tuple[tuple[str, str], ...] = ()   # (stage, why) used by tags, not listed
    newest: str | None = None       # the newest version tagged before init
    tags_read: int = 0
    card_path: str | None = None    # where the card goes (DVC-project-relative)
    gated: tuple[str, ...] | None = None   # adopted: stages weightops.yaml's `gates:` validates (None: not adopted)


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


def init_project(directory: str | os.PathLike = ".", *, model: str | None = None, remote: str | None = None,
                 force: bool = False, artifact: str | None = None) -> Initialized:
    """Scaffold a new project (git + DVC + an example pipeline), or, in an existing DVC project,
    register the model it has: the artifact dvc.yaml declares on `artifact`'s path or under
    `model`'s name, else its only `type: model` artifact, else (with `artifact`) an output DVC
    tracks, declared by adding lines to dvc.yaml. `model` None: "model" for a new project.
    Raises TagError (exit 2) for a bad model name, UsageError (2) for an ambiguous or clashing
    choice, NotFoundError (3) for an output DVC does not track, RefusedError (exit 5) rather
    than overwrite files or scaffold beside a DVC project's outputs."""
    if ":" in (model or ""):
        raise RefusedError("init declares a model in the dvc.yaml of the folder it runs in; use a plain name "
                           "(no 'dir:'), and run it in the DVC project's folder")
    if model is not None:
        validate_new_model_name(model, nested=False)
    root = Path(directory).resolve()
    if (root / ".dvc").is_dir():
        choice = choose_artifact(root, model, artifact)
        if choice is not None:
            return adopt_output(root, choice, remote=remote, force=force)
    elif artifact is not None:
        raise RefusedError(f"--artifact registers an output of an existing DVC project, and {root} is not one "
                           "(no .dvc/); run `weightops init` without --artifact to start a project")
    model = model or "model"
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


def adopt_output(root: Path, choice: Choice, *, remote: str | None, force: bool) -> Initialized:
    """Register `choice` in the DVC project at `root` (the git top, or a `dvc init --subdir`
    folder below it): declare it in dvc.yaml unless it is declared already (lines added, nothing
    else changed), write weightops.yaml at the repository's top with the registry's conventions
    read from its tags (tag style, stages in GTO's order), the CI files (never over the user's),
    the card when the weights are here, and a DVC remote only when the project has no default
    one (or `remote` names one); the card is written only before the first release (later ones
    come with training runs). RefusedError (5) when weightops.yaml exists (without `force`),
    naming it and the CI files `force` would replace (the pipeline's own files are never rewritten);
    UsageError (2) when dvc.yaml cannot be edited by adding lines."""
    top = git.toplevel(root).resolve()
    sub = "" if top == root else root.relative_to(top).as_posix()
    name = f"{sub}:{choice.name}" if sub else choice.name
    targets = {dest: render(src, name) for src, dest in PROJECT_FILES.items() if src.startswith("ci/")}
    if (top / CONFIG_FILE).exists() and not force:
        existing = [CONFIG_FILE] + [dest for dest in targets if (top / dest).exists()]
        raise RefusedError(f"{top} already has {', '.join(existing)}; weightops init will not overwrite "
                           "them (pass --force to replace them)")
    conventions = read_conventions(top, name, DEFAULT_STAGES)
    gated = gated_stages(conventions.stages)
    targets[CONFIG_FILE] = render_config(name, conventions.stages, conventions.tag_style,
                                         tuple(s for s in gated if s not in VALIDATED_BY_DEFAULT))
    written = []
    if not choice.declared:
        declare_artifact(root, choice.name, choice.path)
        written.append(posixpath.join(sub, "dvc.yaml"))
    for dest, text in targets.items():
        if force or not (top / dest).exists():
            atomic_write_text(top / dest, text)
            written.append(dest)
    # The default remote as DVC sees it: any of its four config levels may set it.
    default, known = dvc_remotes(*[(root / ".dvc" / n).read_bytes() if (root / ".dvc" / n).is_file() else None
                                   for n in ("config", "config.local")], dvc_dir=root / ".dvc")
    added = remote is not None or default is None or default not in known
    if added:
        remote_url = remote or str(default_remote_dir(root))
        if "://" not in remote_url:
            Path(remote_url).mkdir(parents=True, exist_ok=True)
        dvc.run(["remote", "add", "--force", "--default", "storage", remote_url], root)
        written.append(posixpath.join(sub, ".dvc/config"))
    else:
        remote_url = known[default].url
    made = None
    # With releases already tagged, the weights here are (at best) a released version's, which
    # `card --attach` gives a card without a new tag; the next card comes after the next training.
    if conventions.newest is None and (root / choice.path).is_file():
        from weightops.api import make_card

        make_card(root / choice.path, root / choice.card, model=name)
        made = choice.card
        written.append(posixpath.join(sub, choice.card))
    log.info("registered %s as model %s in %s", choice.path, name, root)
    return Initialized(root, name, remote_url, tuple(written), choice.path, made, added, choice.declared,
                       conventions.tag_style, conventions.stages, conventions.skipped, conventions.newest,
                       conventions.tags, choice.card, gated)


# GTO's (and many teams') short spelling of the stage the default gate protects.
PRODUCTION_ALIASES = ("prod",)


def gated_stages(stages: tuple[str, ...]) -> tuple[str, ...]:
    """The stages (of `stages`, stage names) an adopted project's promotions validate: the ones
    gated by default (`production`) when listed, else `prod`, else none. Pure."""
    by_default = tuple(s for s in stages if s in VALIDATED_BY_DEFAULT)
    return by_default or tuple(s for s in PRODUCTION_ALIASES if s in stages)[:1]


def gate_note(done: Initialized) -> str | None:
    """The one-line note init prints about which stage's promotions run the weight checks in an
    adopted project; None outside adoption. Pure."""
    if done.gated is None:
        return None
    if done.gated:
        names = ", ".join(done.gated)
        how = ("the default gate" if all(s in VALIDATED_BY_DEFAULT for s in done.gated)
               else f"`gates:` in {CONFIG_FILE}")
        return (f"note: promotions to {names} run the weight checks first ({how}); to gate another "
                f"stage add `gates: {{STAGE: {{validate: true}}}}`, to stop set `validate: false`")
    return (f"note: no stage is gated (none is named production or prod): promotions run no weight checks; "
            f"to gate one add `gates: {{STAGE: {{validate: true}}}}` to {CONFIG_FILE}")


def next_version(newest: str | None) -> str:
    """The version to release next: v1.0.0 first, else the minor after `newest` (`v1.2.0` ->
    `v1.3.0`; a pre-release `v2.0.0-rc.1` -> `v2.0.0`). Pure."""
    if newest is None:
        return "v1.0.0"
    from weightops.registry.tags import parse_version

    v = parse_version(newest)
    return f"v{v.major}.{v.minor}.{v.patch}" if v.pre else f"v{v.major}.{v.minor + 1}.0"


def next_steps(done: Initialized, cwd: Path) -> str:
    """The "next:" hint for where init ran: no `cd` when it ran in the folder, `dvc push` +
    `release` when the repository has no git remote to push tags to. In an adopted project with
    releases already, the registration is committed now and the next version released after
    the next training run."""
    try:
        rel = os.path.relpath(done.root, cwd)
    except ValueError:
        rel = str(done.root)
    go = "" if rel == "." else f"cd {rel if not rel.startswith('..') else done.root} && "
    version = next_version(done.newest)
    publish = (f"weightops release {version} --push" if git.default_remote(done.root)
               else f"dvc push && weightops release {version}")
    if done.artifact is None:
        return f"{go}dvc repro && git add -A && git commit -m 'train {done.model}' && {publish}"
    card = done.card_path or done.card or f"{os.path.splitext(done.artifact)[0]}.card.yaml"
    write_card = f"weightops card {done.artifact} -o {card} --model {done.model}"
    top = git.toplevel(done.root)
    files = " ".join(dict.fromkeys(os.path.relpath(top / f, done.root) for f in done.written))
    if done.newest is not None:
        return (f"{go}git add {files} && git commit -m 'register {done.model}'; after the next training run: "
                f"`dvc repro && {write_card} && git add -A && git commit -m retrain && {publish}`")
    step = "" if done.card else f"{write_card} && "
    files = " ".join(dict.fromkeys([*files.split(), card]))
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
