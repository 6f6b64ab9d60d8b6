"""Shadow deployments: `weightops shadow report` and `weightops shadow replay`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from weightops.cli.base import JSON, MODEL, OUT_ALIAS, REPO, REPO_URL, app, handled, output_path
from weightops.cli.output import print_json
from weightops.errors import NotFoundError

shadow_app = typer.Typer(help="Shadow deployments: report on a shadow log, replay recorded inputs.",
                         no_args_is_help=True)
app.add_typer(shadow_app, name="shadow")


def _fmt(value: object, digits: int = 4) -> str:
    return "-" if value is None else (f"{value:.{digits}g}" if isinstance(value, float) else str(value))


@shadow_app.command("report")
@handled
def shadow_report_cmd(
    log: Path = typer.Argument(..., help="The JSONL log a ShadowRunner or `shadow replay` wrote."),
    check: bool = typer.Option(False, "--check", help="Exit 5 when the verdict is fail (for CI)."),
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """Calls, drops, agreement, differences, latency of each side, errors, and the verdict."""
    from weightops.deploy.shadow_report import report_log
    from weightops.project import Project

    limits = None
    try:
        limits = Project(repo).config.shadow
    except NotFoundError:
        pass  # outside a project: the default thresholds
    rep = report_log(log, limits)
    if as_json:
        print_json(rep)
        if check and rep["verdict"] != "pass":
            raise typer.Exit(5)
        return
    typer.echo(f"shadow log {rep['log']}: {rep['model'] or '?'} candidate {rep['candidate_version'] or '?'} "
               f"vs primary {rep['primary_version'] or '?'}")
    typer.echo(f"calls {rep['calls']}  dropped {rep['dropped']} ({rep['drop_rate']:.2%})  "
               f"errors {rep['errors']} ({rep['error_rate']:.2%})  agreement {_fmt(rep['agreement'])}")
    d = rep["diff"] or {}
    typer.echo(f"max abs difference  p50 {_fmt(d.get('p50'))}  p95 {_fmt(d.get('p95'))}  "
               f"p99 {_fmt(d.get('p99'))}  max {_fmt(d.get('max'))}")
    for side in ("primary", "candidate"):
        q = rep["latency_ms"][side] or {}
        typer.echo(f"latency {side:<9} p50 {_fmt(q.get('p50'))} ms  p95 {_fmt(q.get('p95'))} ms  p99 {_fmt(q.get('p99'))} ms")
    for sample in rep["error_samples"]:
        typer.echo(f"error: {sample}")
    typer.echo(f"verdict: {rep['verdict']}" + (f" ({'; '.join(rep['reasons'])})" if rep["reasons"] else ""))
    typer.echo(f"digest: {rep['digest']}")
    if check and rep["verdict"] != "pass":
        raise typer.Exit(5)


@shadow_app.command("replay")
@handled
def shadow_replay_cmd(
    candidate: str = typer.Option(..., "--candidate", help="Candidate version, tag or stage."),
    baseline: str = typer.Option(..., "--baseline", help="Baseline version, tag or stage (e.g. production)."),
    inputs: Path = typer.Option(..., "--inputs", help="JSONL file, one recorded model input per line."),
    predict: str = typer.Option(..., "--predict", help="module:function loader: function(weights_path) -> predict(input)."),
    out: Path = typer.Option(Path("shadow.jsonl"), "--output", "-o", help="Shadow log to append to."),
    out_alias: Optional[Path] = OUT_ALIAS,
    model: Optional[str] = MODEL,
    repo: Optional[str] = REPO_URL,
) -> None:
    """Run both versions (pulled and verified) over recorded inputs and write a shadow log."""
    out = output_path(out, out_alias)
    from weightops.deploy.replay import replay

    done = replay(candidate=candidate, baseline=baseline, inputs=inputs, predict=predict, log=out,
                  model=model, repo=repo or ".")
    typer.echo(f"replayed {done.calls} inputs: {done.model} {done.candidate} vs {done.baseline}; log {done.log}")
