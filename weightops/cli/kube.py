"""Commands for Kubernetes: kserve (an InferenceService pinned to the stage's OCI digest)."""

from __future__ import annotations

from typing import Optional

import typer

from weightops.cli.base import JSON, MODEL, REPO_URL, command
from weightops.cli.output import print_json


@command("kserve")
def kserve_cmd(
    stage: str = typer.Argument(..., help="Stage (or version) to serve, e.g. production."),
    model: Optional[str] = MODEL,
    name: Optional[str] = typer.Option(None, "--name", help="InferenceService name (default: the model name)."),
    namespace: Optional[str] = typer.Option(None, "--namespace", "-n", help="Kubernetes namespace."),
    model_format: Optional[str] = typer.Option(None, "--format", help="KServe modelFormat name (default: from the card's format)."),
    runtime: Optional[str] = typer.Option(None, "--runtime", help="KServe ServingRuntime name."),
    repo: Optional[str] = REPO_URL,
    as_json: bool = JSON,
) -> None:
    """Print a KServe InferenceService serving STAGE from OCI, pinned by manifest digest (oci://...@sha256:...)."""
    from weightops.deploy.kserve import inference_service

    doc = inference_service(stage, model=model, repo=repo or ".", name=name, namespace=namespace,
                            model_format=model_format, runtime=runtime)
    if as_json:
        print_json(doc)
    else:
        from weightops.core.yamlio import dump_yaml

        typer.echo(dump_yaml(doc), nl=False)
