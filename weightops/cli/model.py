"""Commands about the weights themselves: validate, signature infer/diff."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from weightops.cli.base import JSON, MODEL, OUT_ALIAS, REPO, app, command, handled, output_path
from weightops.cli.output import print_json
from weightops.errors import RefusedError


# ---------------------------------------------------------------- signatures and validation
@command("validate")
def validate_cmd(
    target: str = typer.Argument(..., help="Weights file, or a version, tag or stage whose bytes are on this machine."),
    against: Optional[str] = typer.Option(None, "--against", help="Compare with this version/tag/stage or file "
                                          "(default: the version in production, when there is one; 'none' to skip)."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the YAML report here."),
    out_alias: Optional[Path] = OUT_ALIAS,
    model: Optional[str] = MODEL,
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """Check weights for NaN/Inf, zero or constant tensors, signature mismatch and drift; exit 5 on failure.

    Against another version (default: production) it also reports tensors added, removed or
    reshaped and per-tensor drift of mean, std and L2 norm beyond weightops.yaml's thresholds."""
    out = output_path(out, out_alias)
    from weightops.model.validation import DEFAULT_AGAINST, validate

    report = validate(target, against=against or DEFAULT_AGAINST, repo=repo, model=model,
                      against_required=against is not None)
    if out is not None:
        report.save(out)
    if as_json:
        print_json({**report.to_dict(), "digest": report.digest, "report": str(out) if out else None})
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
@handled
def signature_infer_cmd(
    weights: Path = typer.Argument(..., help="An ONNX model (other formats hold weights, not inputs/outputs)."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the signature YAML here (for `weightops card --signature`)."),
    out_alias: Optional[Path] = OUT_ALIAS,
    as_json: bool = JSON,
) -> None:
    """Propose a signature from a model graph; for plain weights, say what to write instead."""
    out = output_path(out, out_alias)
    from weightops.core.yamlio import dump_yaml
    from weightops.model.signature_infer import infer_signature

    doc = infer_signature(weights).to_dict()
    if out is not None:
        from weightops.core.atomic import atomic_write_text

        atomic_write_text(out, dump_yaml(doc))
    if as_json:
        print_json(doc)
    elif out is None:
        typer.echo(dump_yaml(doc).rstrip())
    else:
        typer.echo(f"wrote {out}")


@signature_app.command("diff")
@handled
def signature_diff_cmd(
    old: str = typer.Argument(..., help="Signature file, model card, or version/tag/stage (the old side)."),
    new: str = typer.Argument(..., help="Signature file, model card, or version/tag/stage (the new side)."),
    model: Optional[str] = MODEL,
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """Changes from OLD to NEW; exit 5 when one breaks existing callers.

    Breaking: a removed or renamed input, a dtype change, an incompatible shape, a new required input."""
    from weightops.model.signature import breaking, diff_signatures
    from weightops.model.validation import signature_of

    changes = diff_signatures(signature_of(old, repo, model), signature_of(new, repo, model))
    broken = breaking(changes)
    if as_json:
        print_json({"breaking": bool(broken), "changes": [c.to_dict() for c in changes]})
    elif not changes:
        typer.echo("no changes")
    else:
        for c in changes:
            typer.echo(f"{'BREAKING' if c.breaking else 'ok      '} {c.field}: {c.message}")
    if broken:
        raise RefusedError(f"breaking signature change: {broken[0].message} (field {broken[0].field})")


