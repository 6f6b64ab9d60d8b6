"""The command line: parse arguments, call the library, render. No behaviour lives here.

Every library error becomes one red line on stderr and its exit code (see errors.py);
anything unexpected asks for `--traceback`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from .errors import RefusedError, UsageError, WeightopsError

app = typer.Typer(
    name="weightops",
    help="A git-native registry for model weights on DVC: tags are releases, stages resolve to verified bytes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"traceback": False}


def _err(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def command(*args, **kwargs) -> Callable:
    """`@app.command` plus the one error handler every command shares."""
    def wrap(fn: Callable) -> Callable:
        return app.command(*args, **kwargs)(_handled(fn))
    return wrap


def _handled(fn: Callable) -> Callable:
    """Library errors -> one red line and their exit code (for sub-app commands too)."""
    @functools.wraps(fn)
    def run(*a, **kw):
        try:
            return fn(*a, **kw)
        except typer.Exit:
            raise
        except WeightopsError as exc:
            if _state["traceback"]:
                raise
            _err(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code)
        except KeyboardInterrupt:
            _err("interrupted", 130)
        except BrokenPipeError:  # `weightops list | head`: the reader left; not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:  # noqa: BLE001 - the last resort keeps output to one line
            if _state["traceback"]:
                raise
            _err(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                 "(rerun with --traceback and report it)", 1)
    return run


@app.callback()
def _main(
    traceback: bool = typer.Option(False, "--traceback", help="Show the full traceback of an error."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the library does to stderr."),
) -> None:
    _state["traceback"] = traceback
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)


def _now() -> int | None:
    """WEIGHTOPS_NOW (Unix seconds) pins the clock for tag dates: reproducible histories, tests."""
    value = os.environ.get("WEIGHTOPS_NOW")
    if not value:
        return None
    if not value.isdigit():
        raise UsageError(f"WEIGHTOPS_NOW must be Unix seconds, not {value!r}")
    return int(value)


def _print_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


def _print_fields(d: dict) -> None:
    width = max(len(k) for k in d)
    for k, v in d.items():
        typer.echo(f"{k + ':':<{width + 1}} {'' if v is None else v}")


REPO = typer.Option(".", "--repo", help="Path of the git repository (a clone or a bare repository).")
MODEL = typer.Option(None, "--model", "-m", help="Model name (default: the project's only or configured model).")
JSON = typer.Option(False, "--json", help="Print exactly one JSON object.")
SIGN = typer.Option(None, "--sign/--no-sign", help="Sign the tag (git's SSH or GPG signing; default: trust.sign in weightops.yaml).")  # issue 9


# ---------------------------------------------------------------- skeleton: init, card, release
@command("init")
def init_cmd(
    directory: Path = typer.Argument(Path("."), help="Project folder (created if missing; an existing git repo is adopted)."),
    model: str = typer.Option("model", "--model", "-m", help="Name of the model the project declares."),
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote URL (default: a local folder beside the project)."),
    force: bool = typer.Option(False, "--force", help="Overwrite files weightops would write."),
) -> None:
    """Create a git + DVC project that trains a tiny model and writes its card."""
    from .scaffold import init_project

    done = init_project(directory, model=model, remote=remote, force=force)
    typer.echo(f"initialized {done.root} with model '{done.model}'")
    typer.echo(f"DVC remote 'storage' -> {done.remote_url}")
    typer.echo("next: cd into it, `dvc repro`, commit, then `weightops release v1.0.0 --push`")


@command("card")
def card_cmd(
    weights: Path = typer.Argument(..., help="Weights file or directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the card YAML."),
    model: Optional[str] = MODEL,
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="JSON or YAML file of metrics to record."),
    label: List[str] = typer.Option([], "--label", help="KEY=VALUE label, repeatable (e.g. sensor=v2)."),
    signature: Optional[Path] = typer.Option(None, "--signature", help="YAML/JSON signature in MLflow's format."),
) -> None:
    """Write the model card: sha256, md5, lineage, environment, metrics, labels."""
    from .api import make_card

    card = make_card(weights, out, model=model, metrics=metrics, labels=label, signature=signature)
    art = card["artifact"]
    typer.echo(f"wrote {out}: {art['path']} sha256 {art['sha256']} ({art['size']} bytes)")


@command("release")
def release_cmd(
    version: str = typer.Argument(..., help="SemVer version, e.g. v1.2.0."),
    model: Optional[str] = MODEL,
    push: bool = typer.Option(False, "--push", help="Run `dvc push` first, then push the tag to the git remote."),
    message: Optional[str] = typer.Option(None, "--message", help="Title of the tag message."),
    sign: Optional[bool] = SIGN,
    repo: Path = REPO,
) -> None:
    """Release HEAD as VERSION: checks tree, card, pointer and remote, then writes an annotated tag."""
    from .release import release

    done = release(version, model=model, repo=repo, push=push, message=message, now=_now(),
                   sign=_sign(repo, sign))
    typer.echo(f"released {done.model} {done.version} as tag {done.tag} at {done.commit[:12]} "
               f"(sha256 {done.sha256[:16]}...){' and pushed' if done.pushed else ''}")


# ---------------------------------------------------------------- reading the registry
@command("resolve")
def resolve_cmd(
    ref: str = typer.Argument("latest", help="A stage, version (v1.2.0), tag, or 'latest'."),
    model: Optional[str] = MODEL,
    at: Optional[str] = typer.Option(None, "--at", help="Answer as of this time (ISO 8601), from the tag history."),
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote name (default: the one configured at that commit)."),
    require_signed: Optional[bool] = typer.Option(None, "--require-signed/--no-require-signed", help="Obey only signed tags the trusted policy allows; skip the rest (default: trust.require_signed)."),
    trust_policy: Optional[str] = typer.Option(None, "--trust-policy", help="Commit holding the trusted policy (default: the trusted remote's default branch)."),
    match: List[str] = typer.Option([], "--match", help="KEY=VALUE card label the variant must have (repeatable); REF must be a stage."),
    match_file: Optional[Path] = typer.Option(None, "--match-file", help="YAML mapping of label: value pairs (a device's file), like --match."),
    repo: str = typer.Option(".", "--repo", help="Git repository: a path, or a URL (file://, ssh://, https://) read without a clone."),
    as_json: bool = JSON,
) -> None:
    """Map REF to version, commit, DVC pointer, remote URL and sha256."""
    from .remote_repo import is_url
    from .resolve import resolve

    project = None
    if is_url(repo):  # deploy path (issue 4): a remote repository, resolved without a clone
        from .remote_repo import open_remote
        project = open_remote(repo)
    if match or match_file:  # serving (issue 7): the hardware variant among the stage's models
        from .variants import match_pairs, resolve_match

        r = resolve_match(ref, match_pairs(match, match_file), repo=repo, model=model, at=at, remote=remote,
                          require_signed=require_signed, trust_policy=trust_policy, project=project)
    else:
        r = resolve(ref, model=model, repo=repo, at=at, remote=remote, require_signed=require_signed,
                    trust_policy=trust_policy, project=project)
    out = r.to_dict()
    if r.trust is not None:
        out.update(_trust_fields(r.trust))
    if as_json:
        _print_json(out)
    else:
        if "skipped" in out:
            out["skipped"] = ", ".join(s["tag"] for s in out["skipped"]) or "none"
        _print_fields(out)


@command("list")
def list_cmd(
    model: Optional[str] = MODEL,
    repo: Path = REPO,
    as_json: bool = JSON,
) -> None:
    """Every model and version, newest first, with the stages each holds."""
    from .api import list_versions

    rows = list_versions(repo=repo, model=model)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no versions yet; release one with `weightops release v1.0.0`")
        return
    for r in rows:
        stages = f"  [{', '.join(r['stages'])}]" if r["stages"] else ""
        typer.echo(f"{r['model']:<16} {r['version']:<14} {r['commit'][:12]}  {r['created']}  {r['tag']}{stages}")


@command("demo")
def demo_cmd(
    directory: Optional[Path] = typer.Option(None, "--dir", help="Folder for the demo (default: a new temp folder)."),
) -> None:
    """Scaffold a project, train and release two versions, push, and resolve them."""
    from .demo import run_demo

    for line in run_demo(directory, echo=typer.echo):
        typer.echo(line)


# ---------------------------------------------------------------- stages (registry issue)
MESSAGE = typer.Option(None, "--message", help="Why: recorded in the tag message.")
PUSH_TAG = typer.Option(False, "--push", help="Push the new tag; fails (and removes it) if someone else assigned first.")
# Promotion-gate switches (signatures and validation issue): both are recorded in the tag message.
ALLOW_BREAKING = typer.Option(False, "--allow-breaking", help="Promote even when the signature breaks the stage's current one.")
SKIP_CHECKS = typer.Option(False, "--skip-checks", help="Skip the weight checks the stage's gate requires (loud; recorded in the tag).")


def _warn_skip(skip: bool) -> None:
    if skip:
        typer.secho("WARNING: --skip-checks: the weight checks are NOT run; the tag message records it",
                    fg=typer.colors.YELLOW, err=True)


def _say_assigned(a) -> None:
    prev = f" (was {a.previous})" if a.previous and a.previous != a.version else ""
    verb = {"unassign": "unassigned", "rollback": "rolled back"}.get(a.action, "assigned")
    typer.echo(f"{verb} {a.model} {a.version} {'from' if a.action == 'unassign' else 'to'} {a.stage}{prev}: "
               f"tag {a.tag}{' (pushed)' if a.pushed else ''}")


@command("promote")
def promote_cmd(
    version: str = typer.Argument(..., help="Version to assign, e.g. v1.2.0."),
    stage: str = typer.Argument(..., help="Stage name from the project's config, e.g. production."),
    model: Optional[str] = MODEL,
    message: Optional[str] = MESSAGE,
    push: bool = PUSH_TAG,
    sign: Optional[bool] = SIGN,
    require_shadow: Optional[Path] = typer.Option(None, "--require-shadow", help="Shadow log that must compare VERSION against the stage's current version and pass the thresholds."),
    repo: Path = REPO,
    allow_breaking: bool = ALLOW_BREAKING,
    skip_checks: bool = SKIP_CHECKS,
) -> None:
    """Assign VERSION to STAGE (a GTO tag NAME#STAGE#N) after checking its card and the gates."""
    from .stages import promote

    _warn_skip(skip_checks)
    _say_assigned(promote(version, stage, model=model, repo=repo, message=message, push=push, now=_now(),
                          sign=_sign(repo, sign), allow_breaking=allow_breaking, skip_checks=skip_checks,
                          require_shadow=str(require_shadow) if require_shadow else None))


@command("demote")
def demote_cmd(
    stage: str = typer.Argument(..., help="Stage to unassign."),
    model: Optional[str] = MODEL,
    message: Optional[str] = MESSAGE,
    push: bool = PUSH_TAG,
    sign: Optional[bool] = SIGN,
    repo: Path = REPO,
) -> None:
    """Unassign STAGE (a GTO tag NAME#STAGE!#N)."""
    from .stages import demote

    _say_assigned(demote(stage, model=model, repo=repo, message=message, push=push, now=_now(),
                         sign=_sign(repo, sign)))


@command("rollback")
def rollback_cmd(
    stage: str = typer.Argument(..., help="Stage to roll back, e.g. production."),
    model: Optional[str] = MODEL,
    to: Optional[str] = typer.Option(None, "--to", help="Version to go back to (default: the one before the current)."),
    message: Optional[str] = MESSAGE,
    push: bool = PUSH_TAG,
    sign: Optional[bool] = SIGN,
    repo: Path = REPO,
    allow_breaking: bool = ALLOW_BREAKING,
    skip_checks: bool = SKIP_CHECKS,
) -> None:
    """Assign the version that held STAGE before the current one, as a new assignment."""
    from .stages import rollback

    _warn_skip(skip_checks)
    _say_assigned(rollback(stage, model=model, to=to, repo=repo, message=message, push=push, now=_now(),
                           sign=_sign(repo, sign), allow_breaking=allow_breaking, skip_checks=skip_checks))


@command("history")
def history_cmd(
    stage: Optional[str] = typer.Argument(None, help="Only this stage's events."),
    model: Optional[str] = MODEL,
    verify: bool = typer.Option(False, "--verify", help="Verify each tag's signature: adds signer, verified, allowed."),
    trust_policy: Optional[str] = typer.Option(None, "--trust-policy", help="Commit holding the trusted policy (with --verify)."),
    repo: Path = REPO,
    as_json: bool = JSON,
) -> None:
    """Every registration, assignment, unassignment and rollback, oldest first."""
    from .stages import history

    rows = history(model=model, stage=stage, repo=repo)
    if verify:
        rows = _verified_rows(repo, model, rows, trust_policy)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        where = f" {r['stage']}" if r["stage"] else ""
        sha = (r["sha256"] or "")[:12]
        typer.echo(f"{r['time']}  {r['action']:<14}{where:<12} {r['version'] or '-':<10} {r['commit'][:10]}  "
                   f"{sha:<12}  {r['tagger']}  {r['tag']}{_trust_note(r) if verify else ''}")



# ---------------------------------------------------------------- deploy path: pull, lock, verify
REPO_URL = typer.Option(None, "--repo", help="Git repository: a path, or a URL (file://, ssh://, https://) resolved without a clone.")


def _progress_bar(enabled: bool):
    """Bytes and rate on stderr, redrawn in place; only on a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None, lambda: None
    import time as _time

    start = _time.monotonic()
    last = [0.0]

    def mib(n: float) -> str:
        return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"

    def update(done: int, total: int | None) -> None:
        now = _time.monotonic()
        if now - last[0] < 0.1 and (total is None or done < total):
            return
        last[0] = now
        rate = done / max(now - start, 1e-6)
        of = f" / {mib(total)} ({100 * done / total:.0f}%)" if total else ""
        sys.stderr.write(f"\r{mib(done)}{of}  {mib(rate)}/s   ")
        sys.stderr.flush()

    def close() -> None:
        if last[0]:
            sys.stderr.write("\n")
            sys.stderr.flush()
    return update, close


@command("pull")
def pull_cmd(
    ref: Optional[str] = typer.Argument(None, help="A stage, version, tag or 'latest' (default: latest, or what --lock names)."),
    model: Optional[str] = MODEL,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Destination path (default: ./<file name>)."),
    repo: Optional[str] = REPO_URL,
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote name (default: the one configured at that commit)."),
    expect_sha256: Optional[str] = typer.Option(None, "--expect-sha256", help="Halt unless the registry and the bytes have this SHA-256."),
    lock_file: Optional[Path] = typer.Option(None, "--lock", help="Pull exactly what this lock file pins; halt if the registry disagrees."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Parallel ranged GETs for S3 (default 1, or WEIGHTOPS_JOBS)."),
    fsync: bool = typer.Option(False, "--fsync", help="Flush the bytes to disk before the rename (durable across power loss; slower)."),
    match: List[str] = typer.Option([], "--match", help="KEY=VALUE label of the hardware variant to pull (repeatable); REF must be a stage."),
    match_file: Optional[Path] = typer.Option(None, "--match-file", help="YAML mapping of this device's labels, like --match."),
    as_json: bool = JSON,
) -> None:
    """Download REF's weights, verifying size, md5 and sha256 while they stream; atomic."""
    from .deploy import pull_detailed

    if match or match_file:  # serving (issue 7): pull exactly the variant's version and bytes
        from .variants import match_pairs, resolve_match

        if lock_file or ref is None:
            raise UsageError("--match picks among the models holding a stage: name the stage "
                             "(weightops pull production --match sensor=v2), without --lock")
        v = resolve_match(ref, match_pairs(match, match_file), repo=repo or ".", model=model, remote=remote)
        ref, model, expect_sha256 = v.version, v.model, expect_sha256 or v.sha256
    update, close = _progress_bar(not as_json)
    try:
        done = pull_detailed(ref if ref is not None or lock_file else "latest", out, model=model, repo=repo,
                             remote=remote, expect_sha256=expect_sha256, lock=lock_file, jobs=jobs, progress=update,
                             fsync=fsync)
    finally:
        close()
    if as_json:
        _print_json(done.to_dict())
        return
    r = done.resolved
    how = "already present, nothing transferred" if done.transferred == 0 else f"{done.transferred} bytes in {done.seconds:.1f}s"
    typer.echo(f"{done.path}: {r.model} {r.version} sha256 {r.sha256} verified ({how})")


@command("lock")
def lock_cmd(
    ref: str = typer.Argument("latest", help="A stage, version, tag or 'latest'."),
    out: Path = typer.Option(..., "--out", "-o", help="Lock file to write, e.g. deploy/model.lock.yaml."),
    model: Optional[str] = MODEL,
    repo: Optional[str] = REPO_URL,
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote name."),
    as_json: bool = JSON,
) -> None:
    """Pin REF to its commit, hashes and URL in a deploy lock file."""
    from .deploy import lock

    doc = lock(ref, out, model=model, repo=repo or ".", remote=remote)
    if as_json:
        _print_json(doc)
    else:
        typer.echo(f"wrote {out}: {doc['model']} {doc['version']} sha256 {doc['sha256']}")


@command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., help="A lock file or a model card."),
    path: Optional[Path] = typer.Argument(None, help="The weights on disk (default: what FILE names)."),
    as_json: bool = JSON,
) -> None:
    """Check weights on disk against a lock or a card; exit 4 when they differ."""
    from .deploy import verify

    v = verify(file, path)
    if as_json:
        _print_json(v.to_dict())
    else:
        typer.echo(f"{v.path}: sha256 {v.sha256} matches the {v.against}")



# ---------------------------------------------------------------- signatures and validation
@command("validate")
def validate_cmd(
    target: str = typer.Argument(..., help="Weights file, or a version, tag or stage whose bytes are on this machine."),
    against: Optional[str] = typer.Option(None, "--against", help="Compare with this version/tag/stage or file "
                                          "(default: the version in production, when there is one; 'none' to skip)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the YAML report here."),
    model: Optional[str] = MODEL,
    repo: Path = REPO,
    as_json: bool = JSON,
) -> None:
    """Check weights for NaN/Inf, zero or constant tensors, signature mismatch and drift; exit 5 on failure.

    Against another version (default: production) it also reports tensors added, removed or
    reshaped and per-tensor drift of mean, std and L2 norm beyond weightops.yaml's thresholds."""
    from .errors import RefusedError
    from .validation import DEFAULT_AGAINST, validate, write_report

    report = validate(target, against=against or DEFAULT_AGAINST, repo=repo, model=model,
                      against_required=against is not None)
    if out is not None:
        write_report(report, out)
    if as_json:
        _print_json({**report.to_dict(), "digest": report.digest, "report": str(out) if out else None})
    else:
        for line in report.summary():
            typer.echo(line)
        if out is not None:
            typer.echo(f"report {out} ({report.digest})")
    if not report.passed:
        first = report.failed[0]
        who = f" in {', '.join(first.offending[:3])}" if first.offending else ""
        raise RefusedError(f"validation failed: {first.name}{who}"
                           + (f" (and {len(report.failed) - 1} more check(s))" if len(report.failed) > 1 else ""))


signature_app = typer.Typer(help="Model signatures in MLflow's format: infer, compare.", no_args_is_help=True,
                            add_completion=False, pretty_exceptions_enable=False)
app.add_typer(signature_app, name="signature")


@signature_app.command("infer")
@_handled
def signature_infer_cmd(
    weights: Path = typer.Argument(..., help="An ONNX model (other formats hold weights, not inputs/outputs)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the signature YAML here (for `weightops card --signature`)."),
    as_json: bool = JSON,
) -> None:
    """Propose a signature from a model graph; for plain weights, say what to write instead."""
    from .signature import infer_signature
    from .yamlio import dump_yaml

    doc = infer_signature(weights).to_dict()
    if out is not None:
        from .atomic import atomic_write_text

        atomic_write_text(out, dump_yaml(doc))
    if as_json:
        _print_json(doc)
    elif out is None:
        typer.echo(dump_yaml(doc).rstrip())
    else:
        typer.echo(f"wrote {out}")


@signature_app.command("diff")
@_handled
def signature_diff_cmd(
    old: str = typer.Argument(..., help="Signature file, model card, or version/tag/stage (the old side)."),
    new: str = typer.Argument(..., help="Signature file, model card, or version/tag/stage (the new side)."),
    model: Optional[str] = MODEL,
    repo: Path = REPO,
    as_json: bool = JSON,
) -> None:
    """Changes from OLD to NEW; exit 5 when one breaks existing callers.

    Breaking: a removed or renamed input, a dtype change, an incompatible shape, a new required input."""
    from .errors import RefusedError
    from .signature import breaking, diff_signatures
    from .validation import signature_of

    changes = diff_signatures(signature_of(old, repo, model), signature_of(new, repo, model))
    broken = breaking(changes)
    if as_json:
        _print_json({"breaking": bool(broken), "changes": [c.to_dict() for c in changes]})
    elif not changes:
        typer.echo("no changes")
    else:
        for c in changes:
            typer.echo(f"{'BREAKING' if c.breaking else 'ok      '} {c.field}: {c.message}")
    if broken:
        raise RefusedError(f"breaking signature change: {broken[0].message} (field {broken[0].field})")


# ---------------------------------------------------------------- signing and trust (issue 9)
def _sign(repo: Path, flag: Optional[bool]) -> bool:
    """--sign/--no-sign, else the config's `trust.sign`; check git can sign before any work."""
    from .project import Project
    from .tagsign import check_signing_configured
    from .trust import sign_default

    project = Project(repo)
    sign = sign_default(project.config) if flag is None else flag
    if sign:
        check_signing_configured(project.root)
    return sign


def _trust_fields(found) -> dict:
    """Print one loud warning per skipped tag (stderr), and the fields JSON readers get."""
    for s in found.skipped:
        typer.secho(f"warning: {s.message()}", fg=typer.colors.YELLOW, err=True)
    return {"signer": found.signer, "policy": found.policy_rev, "skipped": [s.to_dict() for s in found.skipped]}


def _verified_rows(repo: Path, model: Optional[str], rows: list, trust_policy: Optional[str]) -> list:
    from .project import Project
    from .trust import annotate_rows

    project = Project(repo)
    return annotate_rows(project, project.model(model), rows, trust_policy)


def _trust_note(r: dict) -> str:
    if not r["signed"]:
        return "  unsigned"
    if r["verified"] and r["allowed"]:
        return f"  signed by {r['signer']} (verified)"
    return f"  signed by {r['signer'] or 'an unknown key'}: {r['problem']}"



# ---------------------------------------------------------------- review and CI: diff, guard, audit
def _write_out(text: str, output: Optional[Path]) -> None:
    """stdout, or a file written atomically (CI steps read it: no shell redirection needed)."""
    if output is None:
        typer.echo(text.rstrip("\n"))
        return
    from .atomic import atomic_write_text

    atomic_write_text(output, text if text.endswith("\n") else text + "\n")
    typer.echo(f"wrote {output}", err=True)


OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")


@command("diff")
def diff_cmd(
    base: Optional[str] = typer.Argument(None, help="Base revision (default: merge base with the default branch)."),
    head: Optional[str] = typer.Argument(None, help="Head revision (default: the work tree)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, markdown (a PR comment) or json."),
    model: Optional[str] = MODEL,
    output: Optional[Path] = OUTPUT,
    repo: Path = REPO,
) -> None:
    """Every model whose weights or card changed between two revisions: digests, size, metrics, params, env."""
    from .diff import FORMATS, diff, render

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    _write_out(render(diff(base, head, repo=repo, model=model), fmt), output)


@command("release-notes")
def release_notes_cmd(
    tag: str = typer.Argument(..., help="Version tag, e.g. v1.2.0 or clf@v1.2.0."),
    model: Optional[str] = MODEL,
    output: Optional[Path] = OUTPUT,
    repo: Path = REPO,
) -> None:
    """Markdown release notes: version, sha256, lineage, metrics vs the previous version, environment."""
    from .notes import release_notes

    _write_out(release_notes(tag, model=model, repo=repo).markdown, output)


ci_app = typer.Typer(help="Commands CI pipelines run.", no_args_is_help=True, add_completion=False,
                     pretty_exceptions_enable=False)
app.add_typer(ci_app, name="ci")


@ci_app.command("check-tag")
@_handled
def ci_check_tag_cmd(
    tag: str = typer.Argument(..., help="The pushed tag (e.g. $GITHUB_REF_NAME, $CI_COMMIT_TAG)."),
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote name (default: the one configured at that commit)."),
    repo: Path = REPO,
    as_json: bool = JSON,
) -> None:
    """Say what TAG is; fail (exit 4/5) unless its card is valid, matches the pointer, and the object is in the remote."""
    from .ci import check_tag

    checked = check_tag(tag, repo=repo, remote=remote)
    if as_json:
        _print_json(checked.to_dict())
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
    repo: Path = REPO,
) -> None:
    """Refuse weight files (by extension or content) and large files about to be committed to git."""
    from .guard import guard

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
    offline: bool = typer.Option(False, "--offline", help="Do not compare tags with the git remote's."),
    repo: Path = REPO,
    as_json: bool = JSON,
) -> None:
    """Check the whole registry: moved tags, cards vs pointers, objects in the remote, lightweight tags."""
    from .audit import audit

    report = audit(repo, remote=remote, rehash=not no_hash, offline=offline)
    if as_json:
        _print_json(report.to_dict())
    else:
        for f in report.findings:
            typer.echo(f"{f.kind:<16} {f.message}")
        typer.echo(report.summary)
    if not report.ok:
        raise typer.Exit(4)



# ---------------------------------------------------------------- serving: sync, shadow, variants
shadow_app = typer.Typer(help="Shadow deployments: report on a shadow log, replay recorded inputs.",
                         no_args_is_help=True)
app.add_typer(shadow_app, name="shadow")


def _fmt(value: object, digits: int = 4) -> str:
    return "-" if value is None else (f"{value:.{digits}g}" if isinstance(value, float) else str(value))


@shadow_app.command("report")
@_handled
def shadow_report_cmd(
    log: Path = typer.Argument(..., help="The JSONL log a ShadowRunner or `shadow replay` wrote."),
    check: bool = typer.Option(False, "--check", help="Exit 5 when the verdict is fail (for CI)."),
    repo: Path = REPO,
    as_json: bool = JSON,
) -> None:
    """Calls, drops, agreement, differences, latency of each side, errors, and the verdict."""
    from .project import Project
    from .shadow_report import report_log

    section = {}
    try:
        section = Project(repo).config.section("shadow")
    except WeightopsError:
        pass  # outside a project: the default thresholds
    rep = report_log(log, section)
    if as_json:
        _print_json(rep)
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
@_handled
def shadow_replay_cmd(
    candidate: str = typer.Option(..., "--candidate", help="Candidate version, tag or stage."),
    baseline: str = typer.Option(..., "--baseline", help="Baseline version, tag or stage (e.g. production)."),
    inputs: Path = typer.Option(..., "--inputs", help="JSONL file, one recorded model input per line."),
    predict: str = typer.Option(..., "--predict", help="module:function loader: function(weights_path) -> predict(input)."),
    out: Path = typer.Option(Path("shadow.jsonl"), "--out", "-o", help="Shadow log to append to."),
    model: Optional[str] = MODEL,
    repo: Optional[str] = REPO_URL,
) -> None:
    """Run both versions (pulled and verified) over recorded inputs and write a shadow log."""
    from .replay import replay

    done = replay(candidate=candidate, baseline=baseline, inputs=inputs, predict=predict, log=out,
                  model=model, repo=repo or ".")
    typer.echo(f"replayed {done.calls} inputs: {done.model} {done.candidate} vs {done.baseline}; log {done.log}")


@command("sync")
def sync_cmd(
    stage: str = typer.Argument(..., help="Stage to follow, e.g. production."),
    repo: str = typer.Option(..., "--repo", help="URL or path of the registry's git repository."),
    out: Path = typer.Option(..., "--out", "-o", help="Weights file to keep equal to the stage's version."),
    model: Optional[str] = MODEL,
    match: List[str] = typer.Option([], "--match", help="KEY=VALUE label of this host's variant (repeatable)."),
    match_file: Optional[Path] = typer.Option(None, "--match-file", help="YAML mapping of this device's labels."),
    interval: float = typer.Option(30.0, "--interval", help="Seconds between polls (one `git ls-remote` each)."),
    on_change: Optional[str] = typer.Option(None, "--on-change", help="Command run after a swap (split like a shell, run without one)."),
    deploy_log: Optional[Path] = typer.Option(None, "--log", help="Deploy log (default: OUT.deployments.jsonl)."),
    once: bool = typer.Option(False, "--once", help="Poll once and exit (non-zero if the sync failed)."),
) -> None:
    """Keep OUT equal to STAGE's current version: poll, pull, verify, swap atomically, log."""
    from .sync import Syncer
    from .variants import match_pairs

    if once:
        logging.getLogger("weightops.sync").addHandler(logging.NullHandler())  # the error line says it
    else:  # a long-running service: every swap and failure on stderr, with its time
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    syncer = Syncer(stage, repo=repo, out=out, model=model, match=match_pairs(match, match_file),
                    deploy_log=deploy_log, on_change=on_change)
    result = syncer.run(interval=interval, once=once)
    if once:
        typer.echo(f"{stage}: {syncer.version or 'nothing'} live at {syncer.out}"
                   + (f" ({result.outcome})" if result.outcome else " (unchanged)"))


@command("deployments")
def deployments_cmd(
    log: Path = typer.Argument(..., help="A host's deploy log (written by `weightops sync`)."),
    at: Optional[str] = typer.Option(None, "--at", help="Which weights were live at this time (ISO 8601 or @unix)."),
    as_json: bool = JSON,
) -> None:
    """Every change on this host, or with --at the weights that were live at that moment."""
    from . import deployments

    if at is not None:
        row = deployments.live(log, at)
        if as_json:
            _print_json(row)
        else:
            _print_fields({k: row[k] for k in ("model", "version", "sha256", "stage", "host", "path",
                                               "live_since", "live_until", "replaced_by", "previous")})
        return
    rows = [d.to_dict() for d in deployments.read(log)]
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['time']}  {r['host']}  {r['stage']:<11} {r['outcome']:<10} {r['version'] or '-':<10} "
                   f"{(r['sha256'] or '')[:12]:<12}  was {r['previous'] or '-'}"
                   + (f"  ({r['error']})" if r["error"] else ""))



# ---------------------------------------------------------------- report
@command("report")
def report_cmd(
    out: Path = typer.Option(Path("registry.html"), "--out", "-o", help="HTML file to write (one self-contained page)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Only this model (default: every model)."),
    no_audit: bool = typer.Option(False, "--no-audit", help="Do not run the audit (it checks every version's remote object)."),
    repo: Path = REPO,
) -> None:
    """Write the registry as one HTML page: versions, stage timelines, metrics, audit result."""
    from .report import write_report

    data = write_report(out, repo, model=model, now=_now(), audit=not no_audit)
    versions = sum(len(m.versions) for m in data.models)
    audit = (f"audit: {len(data.findings)} finding(s)" if data.findings else "audit: clean") if data.audit_ran \
        else "audit: skipped" if no_audit else "audit: not available"
    what = f"{len(data.models)} model(s), {versions} version(s)" if data.models else "no versions yet"
    typer.echo(f"wrote {out}: {what}; {audit}")


def main() -> None:
    """Run the CLI; usage errors too become one line (Typer would draw a multi-line panel)."""
    try:
        code = app(standalone_mode=False)
    except Exception as exc:  # noqa: BLE001
        # Click's usage errors, recognised by shape: the CLI uses Typer's public API only.
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            if type(exc).__name__ == "NoArgsIsHelpError":
                sys.exit(0)  # the help text is already printed
            message = " ".join(exc.format_message().split())
            ctx = getattr(exc, "ctx", None)
            where = f" (see `weightops {ctx.command_path.split(' ', 1)[1]} --help`)" if ctx and " " in ctx.command_path else " (see `weightops --help`)"
            typer.secho(f"error: {message}{where}", fg=typer.colors.RED, err=True)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            typer.secho("error: aborted", fg=typer.colors.RED, err=True)
            sys.exit(1)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
