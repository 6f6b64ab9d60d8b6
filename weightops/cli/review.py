"""Commands for review and CI: diff, release-notes, ci check-tag, guard, audit, report."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from weightops.cli.base import fail, JSON, MODEL, OUT_ALIAS, OUTPUT, REPO, app, command, handled, output_path, write_out
from weightops.cli.output import print_json
from weightops.errors import RefusedError, UsageError

# ---------------------------------------------------------------- review and CI: diff, guard, audit


@command("diff")
def diff_cmd(
    base: Optional[str] = typer.Argument(None, help="Base revision (default: merge base with the default branch)."),
    head: Optional[str] = typer.Argument(None, help="Head revision (default: the work tree)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, markdown (a PR comment) or json."),
    model: Optional[str] = MODEL,
    output: Optional[Path] = OUTPUT,
    repo: str = REPO,
) -> None:
    """Every model whose weights or card changed between two revisions: digests, size, metrics, params, env."""
    from weightops.review.diff import FORMATS, diff, render

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    write_out(render(diff(base, head, repo=repo, model=model), fmt), output)


@command("release-notes")
def release_notes_cmd(
    tag: str = typer.Argument(..., help="Version tag, e.g. v1.2.0 or clf@v1.2.0."),
    model: Optional[str] = MODEL,
    output: Optional[Path] = OUTPUT,
    repo: str = REPO,
) -> None:
    """Markdown release notes: version, sha256, lineage, metrics vs the previous version, environment."""
    from weightops.review.notes import release_notes

    write_out(release_notes(tag, model=model, repo=repo).markdown, output)


ci_app = typer.Typer(help="Commands CI pipelines run.", no_args_is_help=True, add_completion=False,
                     pretty_exceptions_enable=False)
app.add_typer(ci_app, name="ci")


@ci_app.command("check-tag")
@handled
def ci_check_tag_cmd(
    tag: str = typer.Argument(..., help="The pushed tag (e.g. $GITHUB_REF_NAME, $CI_COMMIT_TAG)."),
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote name (default: the one configured at that commit)."),
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """Say what TAG is; fail (exit 4/5) unless its card is valid, matches the pointer, and the object is in the remote."""
    from weightops.review.ci import check_tag

    checked = check_tag(tag, repo=repo, remote=remote)
    if as_json:
        print_json(checked.to_dict())
        return
    typer.echo(checked.summary)
    for line in checked.checked:
        typer.echo(f"  ok: {line}")
    if checked.sha256:
        typer.echo(f"  sha256: {checked.sha256}")


@command("guard")
def guard_cmd(
    paths: Optional[List[str]] = typer.Argument(None, help="Files to check (default: the files staged for commit)."),
    max_size: Optional[str] = typer.Option(None, "--max-size", help="Largest file git may take, e.g. 5MB (default: guard.max_size in weightops.yaml, else 5MB)."),
    repo: str = REPO,
) -> None:
    """Refuse weight files (by extension or content) and large files about to be committed to git."""
    from weightops.review.guard import guard

    report = guard(paths or None, repo=repo, max_size=max_size)
    for f in report.findings:
        typer.echo(f.message(report.max_size))
    if not report.ok:
        raise RefusedError(f"{len(report.findings)} of {report.checked} staged file(s) belong in DVC, not git; "
                           "run the commands above")


@command("audit")
def audit_cmd(
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote name (default: the one configured at each commit)."),
    no_hash: bool = typer.Option(False, "--no-hash", help="Skip re-hashing objects found in the DVC cache or a local remote."),
    offline: bool = typer.Option(False, "--offline", help="Do not compare tags with the git remote's or the OCI registry's (oci.repository)."),
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """Check the whole registry: moved tags, cards vs pointers, objects in the remote (lightweight tags are noted)."""
    from weightops.review.audit import audit

    report = audit(repo, remote=remote, rehash=not no_hash, offline=offline)
    if as_json:
        print_json(report.to_dict())
    else:
        from weightops.cli.output import terminal_width, wrap

        width = terminal_width()
        for f in report.findings + report.notices:
            for line in wrap(f"{f.kind:<16} {f.message}", width, indent=17):
                typer.echo(line)
        for r in report.remotes:
            if r.versioning is not None:   # a bucket; a local folder or SSH server has no versions
                typer.echo(f"remote '{r.name}' ({r.url}): bucket versioning {'on' if r.versioning else 'off'}")
        if report.gto_note:   # information: beside the findings when there are some, else on stderr
            for line in wrap(f"note: {report.gto_note}", width, indent=6):
                typer.secho(line, err=report.ok)
        if report.ok:
            typer.echo(report.summary)
    if not report.ok:   # the summary once, as the error line: a CI log or `--json > file` still says why
        fail(report.summary, 4)



# ---------------------------------------------------------------- report
@command("report")
def report_cmd(
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file to write (one self-contained page; default: .git/weightops/registry.html, outside the work tree)."),
    out_alias: Optional[Path] = OUT_ALIAS,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Only this model (default: every model)."),
    no_audit: bool = typer.Option(False, "--no-audit", help="Do not run the audit (it checks every version's remote object)."),
    repo: str = REPO,
) -> None:
    """Write the registry as one HTML page: versions, stage timelines, metrics, audit result."""
    out = output_path(out, out_alias)
    from weightops.review.report_page import default_report_path, write_report

    if out is None:   # never an untracked file in the work tree unless asked for with -o
        out = default_report_path(repo)
    data = write_report(out, repo, model=model, audit=not no_audit)
    versions = sum(len(m.versions) for m in data.models)
    audit = (f"audit: {len(data.findings)} finding(s)" if data.findings else "audit: clean") if data.audit_ran \
        else "audit: skipped" if no_audit else "audit: not available"
    what = f"{len(data.models)} model(s), {versions} version(s)" if data.models else "no versions yet"
    typer.echo(f"wrote {out}: {what}; {audit}")




# ---------------------------------------------------------------- status
@command("status")
def status_cmd(
    no_audit: bool = typer.Option(False, "--no-audit", help="Do not run the audit (it checks every version's object in the DVC remote)."),
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """The project on one screen: models, what holds each stage, the last release, the audit, what is not pushed."""
    from weightops.cli.output import table, terminal_width, wrap
    from weightops.review.status import status

    s = status(repo, audit=not no_audit)
    if as_json:
        print_json(s.to_dict())
        return
    width = terminal_width()
    typer.echo(f"project  {_short_path(s.root)}")
    if not s.models:
        typer.echo("models   none yet: `weightops init` sets one up, `weightops init --artifact PATH` registers a DVC output")
    else:
        typer.echo("")
        rows = [("MODEL", [m.name + (" (deprecated)" if m.deprecated else "") for m in s.models]),
                ("LATEST", [m.latest or "no release yet" for m in s.models]),
                ("VERSIONS", [str(m.versions) for m in s.models]),
                ("STAGES", [", ".join(f"{k}: {v}" for k, v in m.stages.items()) or "-" for m in s.models])]
        for line in table(rows, width=width, drop=("VERSIONS",), flex="STAGES"):
            typer.echo(line)
        typer.echo("")
    last = s.last_release
    lines = ["release  " + (f"{last['model']} {last['version']} (tag {last['tag']}), {last['time'][:16].replace('T', ' ')} UTC"
                            if last else "none yet: `weightops release v1.0.0` after `dvc push`")]
    if s.audit_ok is None:
        lines.append("audit    " + ("not run (--no-audit)" if no_audit and last else "nothing to audit yet"))
    elif s.audit_ok:
        lines.append(f"audit    clean: {s.audit_summary.removeprefix('audit ok: ')} (bytes not re-hashed: "
                     "`weightops audit` does)")
    else:
        lines.append(f"audit    PROBLEMS: {s.audit_summary}; `weightops audit` lists them")
    if s.unpushed_tags is None:
        lines.append(f"git      {s.remote_problem}")
    elif s.unpushed_tags:
        shown = ", ".join(s.unpushed_tags[:4]) + (" ..." if len(s.unpushed_tags) > 4 else "")
        lines.append(f"git      {len(s.unpushed_tags)} registry tag(s) not on '{s.git_remote}': {shown}")
        lines.append(f"         run: git push {s.git_remote} --tags")
    else:
        lines.append(f"git      every registry tag is on '{s.git_remote}'")
    if s.unpushed_objects:
        lines.append(f"dvc      {len(s.unpushed_objects)} version(s) whose object is not in the DVC remote: "
                     f"{', '.join(s.unpushed_objects[:4])}{' ...' if len(s.unpushed_objects) > 4 else ''}")
        lines.append("         run: dvc push from a clone that has the bytes (`weightops audit` says more)")
    elif s.unpushed_objects is not None:
        lines.append("dvc      every version's object is in the DVC remote")
    for text in lines:
        for line in wrap(text, width, indent=9):
            typer.echo(line)


def _short_path(root: str) -> str:
    """The project's folder as a person at this prompt names it: its name when it is the current
    folder, else the shorter of its relative and absolute path."""
    import os

    if os.path.abspath(os.getcwd()) == os.path.abspath(root):
        return f"{os.path.basename(root)} (this folder)"
    rel = os.path.relpath(root)
    return rel if len(rel) < len(root) else root
