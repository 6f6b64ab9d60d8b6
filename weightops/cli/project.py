"""Commands that start a project: init, card, demo."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from weightops.cli.base import JSON, MODEL, OUT_ALIAS, command, output_path
from weightops.cli.output import print_json
from weightops.errors import UsageError


@command("init")
def init_cmd(
    directory: Path = typer.Argument(Path("."), help="Project folder (created if missing; an existing git repo is adopted)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Name of the model (default: a new project's 'model'; in a DVC project, the only type: model artifact dvc.yaml declares)."),
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote URL (default: a local folder beside the project)."),
    force: bool = typer.Option(False, "--force", help="Overwrite files weightops would write."),
    artifact: Optional[str] = typer.Option(None, "--artifact", help="In an existing DVC project: register the artifact on this path (declared in dvc.yaml, or an output DVC tracks)."),
) -> None:
    """Start a project, or adopt an existing DVC project.

    A new project: git + DVC and a pipeline that trains a tiny model and writes its card.
    In a DVC project: register the model dvc.yaml declares (or --artifact PATH), keeping its
    remote, and take tag style and stages from the registry's tags."""
    from weightops.scaffold.init import init_project, next_steps

    done = init_project(directory, model=model, remote=remote, force=force, artifact=artifact)
    if done.artifact and done.declared:
        typer.echo(f"registered artifact '{done.model}' ({done.artifact}) that dvc.yaml declares; dvc.yaml unchanged")
    elif done.artifact:
        typer.echo(f"registered {done.artifact} as model '{done.model}' in {done.root / 'dvc.yaml'} (artifacts:, lines added)")
    else:
        typer.echo(f"initialized {done.root} with model '{done.model}'")
    typer.echo(f"DVC remote {'storage' if done.remote_added else '(the project default, kept)'} -> {done.remote_url}")
    from weightops.cli.output import terminal_width, wrap

    width = terminal_width()
    if any(f.endswith((".yml", ".yaml")) and ("workflows" in f or "gitlab" in f) for f in done.written):
        from weightops.scaffold.requirement import install_requirement

        for line in wrap(f"CI installs weightops as \"{install_requirement()}\" (WEIGHTOPS_REQUIREMENT in the CI "
                         "files; edit it to a line your CI can install)", width, indent=4):
            typer.echo(line)
    if done.artifact:
        read = (f"read from {done.tags_read} registry tag(s)" if done.tags_read else "no registry tags yet")
        for line in wrap(f"registry conventions ({read}): tag_style: {done.tag_style}, stages: {', '.join(done.stages)}"
                         + (f"; newest version {done.newest}" if done.newest else ""), width, indent=4):
            typer.echo(line)
        for stage, why in done.skipped_stages:
            for line in wrap(f"note: stage '{stage}' used by tags is not listed in weightops.yaml: {why}", width, indent=6):
                typer.echo(line)
        from weightops.scaffold.init import gate_note

        note = gate_note(done)
        for line in wrap(note, width, indent=6) if note else ():
            typer.echo(line)
    else:
        for line in wrap(f"tags: plain `v1.0.0` (tag_style: plain in weightops.yaml) is read by weightops only; "
                         f"GTO (`gto show`) and `dvc artifacts get` read `{done.model}@v1.0.0` (tag_style: named) "
                         f"and annotated stage tags `{done.model}#STAGE#N`", width, indent=6):
            typer.echo(line)
    typer.echo(f"next: {next_steps(done, Path.cwd())}")   # one line: a command to copy whole


@command("card")
def card_cmd(
    weights: Optional[Path] = typer.Argument(None, help="Weights file or directory (with --attach: default, the version pulled from the DVC remote)."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write the card YAML."),
    out_alias: Optional[Path] = OUT_ALIAS,
    model: Optional[str] = MODEL,
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="JSON or YAML file of metrics to record."),
    label: List[str] = typer.Option([], "--label", help="KEY=VALUE label, repeatable (e.g. sensor=v2)."),
    signature: Optional[Path] = typer.Option(None, "--signature", help="YAML/JSON signature in MLflow's format."),
    attach: Optional[str] = typer.Option(None, "--attach", metavar="REF", help="Attach the card to the commit of a release made before weightops (git notes, refs/notes/weightops-cards); no tag moves."),
    force: bool = typer.Option(False, "--force", help="With --attach: replace a different card attached already."),
    push: bool = typer.Option(False, "--push", help="With --attach: push the attached cards to the git remote."),
    repo: str = typer.Option(".", "--repo", metavar="PATH", help="With --attach: the local clone."),
    as_json: bool = JSON,
) -> None:
    """Write the model card: sha256, md5, lineage, environment, metrics, labels.

    With --attach REF, a release made before weightops gets a card without moving its tag."""
    if attach is not None:
        from weightops.registry.attach import attach_card

        if out is not None or out_alias is not None:
            raise UsageError("--attach writes the card into git (refs/notes/weightops-cards), not to -o")
        done = attach_card(attach, weights, model=model, repo=repo, force=force, push=push, metrics=metrics,
                           labels=label, signature=signature)
        if as_json:
            print_json(done.to_dict())
            return
        typer.echo(f"{done.action} card of {done.model} {done.version} on {done.commit[:12]} (refs/notes/weightops-cards): "
                   f"sha256 {done.sha256} ({done.size} bytes)")
        if done.pushed:
            typer.echo("pushed refs/notes/weightops-cards")
        elif push:
            from weightops.cli.output import say_not_pushed

            say_not_pushed("the card was attached but not pushed", "refs/notes/weightops-cards")
        else:
            typer.echo("push it with `weightops card --attach ... --push` or `git push origin refs/notes/weightops-cards`")
        return
    if force or push or as_json:
        raise UsageError("--force, --push and --json go with --attach REF")
    if weights is None:
        raise UsageError("missing argument WEIGHTS: the weights file or directory to describe")
    out = output_path(out, out_alias, required=True)
    from weightops.api import make_card

    card = make_card(weights, out, model=model, metrics=metrics, labels=label, signature=signature)
    art = card["artifact"]
    typer.echo(f"wrote {out}: {art['path']} sha256 {art['sha256']} ({art['size']} bytes)")

@command("demo")
def demo_cmd(
    directory: Optional[Path] = typer.Option(None, "--dir", help="New or empty folder for the demo (default: a new temp folder)."),
    as_json: bool = JSON,
) -> None:
    """The registry's story end to end on a local DVC remote.

    Release two versions; promote, resolve and pull them verified; a corrupted object refused;
    a rollback in one command; what was in production at a past moment. --json: one object."""
    from weightops.scaffold.demo import run_demo

    def show(step) -> None:
        typer.secho(f"[{step.step}] {step.did}", bold=True)
        for key, value in step.outcome.items():
            # words, not Python's reprs: `previous: none`, `verified: yes`
            shown = "none" if value is None else ("yes" if value else "no") if isinstance(value, bool) else value
            typer.echo(f"    {key}: {shown}")
        typer.secho(f"    proves: {step.proves}", fg=typer.colors.GREEN)

    if not as_json:   # 13-17 s measured on an idle 2-core machine; the README says the same
        typer.echo("weightops demo: a model's life on real git and DVC (under a minute)")
    done = run_demo(directory, on_step=None if as_json else show)
    if as_json:
        print_json(done.to_dict())
        return
    typer.echo(f"\ndone in {done.seconds:.0f} s; everything is in {done.folder} (DVC remote: {done.remote})")
    typer.echo("explore:")
    for line in done.explore:
        typer.echo(f"    {line}")


