"""Commands on the deploy path: pull, kserve, lock, sync, deployments (verify: cli/trust.py;
shadow: cli/shadow.py)."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from weightops.cli.base import JSON, MODEL, OUT_ALIAS, REPO_URL, command, output_path
from weightops.cli.output import print_fields, print_json, wrapped
from weightops.cli.trust import OMS_CA, OMS_IDENTITY, OMS_PUBLIC_KEY, REQUIRE_OMS, oms_options as _oms
from weightops.errors import NotFoundError, UsageError


@contextlib.contextmanager
def _progress(enabled: bool):
    """A rich progress bar on stderr (percentage, bytes, rate, time left) fed by the library's
    `progress(done, total)` callback; None, so no bar, off a terminal or with --json."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich import filesize
    from rich.progress import (BarColumn, DownloadColumn, Progress, ProgressColumn, TaskProgressColumn,
                               TimeRemainingColumn)
    from rich.text import Text

    class Rate(ProgressColumn):
        """Bytes per second over the whole transfer (rich's own column shows '?' for a
        transfer shorter than its sampling window)."""

        def render(self, task) -> Text:
            speed = task.speed or (task.completed / task.elapsed if task.elapsed else None)
            return Text(f"{filesize.decimal(int(speed))}/s" if speed else "?", style="progress.data.speed")

    with Progress(BarColumn(), TaskProgressColumn(), DownloadColumn(), Rate(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("pull", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)
        yield update


INDEX = typer.Option(None, "--index", help="Published registry index URL (s3://, https://, path): read it instead of git.")
REQUIRE_SIGNED_INDEX = typer.Option(False, "--require-signed", help="With --index: obey only assignments the --trust-policy file allows.")
TRUST_FILE = typer.Option(None, "--trust-policy", help="This host's trusted policy (a weightops.yaml with trust:); without --index also a commit holding it (OMS keys).")
@command("pull")
def pull_cmd(
    ref: Optional[str] = typer.Argument(None, help="A stage, version, tag or 'latest' (default: latest, or what --lock names)."),
    model: Optional[str] = MODEL,
    out: Optional[str] = typer.Option(None, "--output", "-o", help="Destination path; a folder (existing, or ending in /) receives the file under its own name (default: ./<file name>)."),
    out_alias: Optional[str] = OUT_ALIAS,
    repo: Optional[str] = REPO_URL,
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote name (default: the one configured at that commit)."),
    expect_sha256: Optional[str] = typer.Option(None, "--expect-sha256", help="Halt unless the registry and the bytes have this SHA-256."),
    lock_file: Optional[Path] = typer.Option(None, "--lock", help="Pull exactly what this lock file pins; halt if the registry disagrees."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Parallel ranged GETs for S3 (default 1, or WEIGHTOPS_JOBS)."),
    fsync: bool = typer.Option(False, "--fsync", help="Flush the bytes to disk before the rename (durable across power loss; slower)."),
    verify_md5: bool = typer.Option(False, "--verify-md5", help="Also compute DVC's MD5 while streaming (the card's SHA-256 and the size are always checked)."),
    recover: bool = typer.Option(False, "--recover", help="If the remote object is damaged or gone, fetch the earlier version of it (versioned bucket) that holds the released bytes."),
    match: List[str] = typer.Option([], "--match", help="KEY=VALUE label of the hardware variant to pull (repeatable); REF must be a stage."),
    match_file: Optional[Path] = typer.Option(None, "--match-file", help="YAML mapping of this device's labels, like --match."),
    index: Optional[str] = INDEX,
    require_signed: bool = REQUIRE_SIGNED_INDEX,
    trust_file: Optional[Path] = TRUST_FILE,
    allow_deprecated: bool = typer.Option(False, "--allow-deprecated", help="Pull a model GTO marks deprecated (NAME@deprecated); refused otherwise."),
    pre: bool = typer.Option(False, "--pre", help="Let 'latest' be a pre-release (v1.4.0-rc.1); by default it is the newest release."),
    require_oms: Optional[bool] = REQUIRE_OMS,
    with_signature: bool = typer.Option(False, "--with-signature", help="Verify the OMS signature and write it (DIR/model.sig) and the card beside the weights: `model_signing verify` checks DIR alone."),
    oms_public_key: List[Path] = OMS_PUBLIC_KEY,
    oms_ca: List[Path] = OMS_CA,
    oms_identity: List[str] = OMS_IDENTITY,
    via: Optional[str] = typer.Option(None, "--via", help="Where the bytes come from: 'dvc' (the DVC remote) or 'oci' (the project's OCI repository, by the digest git computes; default: oci.pull)."),
    plain_http: bool = typer.Option(False, "--plain-http", help="Talk plain HTTP to an OCI registry that is not on loopback."),
    as_json: bool = JSON,
) -> None:
    """Download REF's weights (a stage, version, or oci://REGISTRY/REPO:TAG), verifying size and sha256 while they stream; atomic."""
    out = output_path(out, out_alias)
    if lock_file and not index and via is None:
        from weightops.deploy.lockfile import read_lock

        if str(read_lock(lock_file).get("repo") or "").startswith("oci://"):
            via = "oci-lock"
    if (ref or "").startswith("oci://") or via in ("oci", "oci-lock") or (
            via is None and _oci_default(repo, ref, lock_file, index)):
        _pull_oci(ref, out, model=model, repo=repo, plain_http=True if plain_http else None, fsync=fsync,
                  expect_sha256=expect_sha256, allow_deprecated=allow_deprecated, pre=pre, as_json=as_json,
                  lock=lock_file, locked_reference=via == "oci-lock",
                  oms=_oms(require_oms, with_signature, trust_file, oms_public_key, oms_ca, oms_identity))
        return
    if via not in (None, "dvc"):
        raise UsageError(f"--via must be 'dvc' or 'oci', not {via!r}")
    from weightops.deploy.pull import pull_detailed

    if lock_file and not index:
        from weightops.deploy.fleet import is_index_url
        from weightops.deploy.lockfile import read_lock

        locked_repo = read_lock(lock_file).get("repo")
        index = locked_repo if is_index_url(locked_repo) else None
    if index:
        from weightops.deploy.fleet import pull_from

        r, path, transferred = pull_from(index, ref or "latest", out, require_signed=require_signed,
                                         trust_policy=trust_file, fsync=fsync, lock=lock_file,
                                         oms=_oms(require_oms, with_signature, trust_file, oms_public_key, oms_ca,
                                                  oms_identity))
        if as_json:
            print_json({"path": str(path), "transferred": transferred, **r.to_dict()})
        else:
            typer.echo(f"{path}: {r.model} {r.version} sha256 {r.sha256} verified "
                       f"({'already present' if not transferred else f'{transferred} bytes'}; from the index)")
        return

    from weightops.deploy.variants import match_pairs

    pairs = match_pairs(match, match_file) if match or match_file else None
    with _progress(not as_json) as update:
        done = pull_detailed(ref if ref is not None or lock_file or pairs else "latest", out, model=model,
                             repo=repo, remote=remote, expect_sha256=expect_sha256, lock=lock_file, jobs=jobs,
                             progress=update, fsync=fsync, match=pairs, allow_deprecated=allow_deprecated,
                             verify_md5=verify_md5, recover=recover, pre=pre,
                             oms=_oms(require_oms, with_signature, trust_file, oms_public_key, oms_ca, oms_identity))
    if as_json:
        print_json(done.to_dict())
        return
    r = done.resolved
    how = "already present, nothing transferred" if done.transferred == 0 else f"{done.transferred} bytes in {done.seconds:.1f}s"
    if done.recovered:
        how += f"; recovered from object version {done.recovered}"
    how += f"; OMS signature by {done.oms_signer} verified" if done.oms_signer else ""
    digest = f"sha256 {r.sha256}" if r.sha256 else f"DVC md5 {r.md5} (no model card)"
    typer.echo("\n".join(wrapped(f"{done.path}: {r.model} {r.version} {digest} verified ({how})", 4)))


def _oci_default(repo: Optional[str], ref: Optional[str], lock_file, index) -> bool:
    """`oci.pull: true` in the project's weightops.yaml makes OCI the default source of `pull REF`."""
    if lock_file or index or (repo and "://" in repo):
        return False
    from weightops.project import Project

    try:
        return bool(Project(repo or ".").config.section("oci").get("pull"))
    except NotFoundError:
        return False


def _pull_oci(ref, out, *, model, repo, plain_http, fsync, expect_sha256, allow_deprecated, pre, as_json,
              lock=None, locked_reference=False, oms=None) -> None:
    with _progress(not as_json) as update:
        if (ref or "").startswith("oci://") or locked_reference:
            from weightops.deploy.oci_pull import content_sha256, pull_locked_reference, pull_reference

            if locked_reference:
                done = pull_locked_reference(lock, out, plain_http=plain_http, progress=update, fsync=fsync)
            else:
                done = pull_reference(ref, out, plain_http=plain_http, expect_sha256=expect_sha256, progress=update,
                                      fsync=fsync)
            if as_json:
                print_json({**done.inspected.to_dict(), "dest": str(done.path), "transferred": done.transferred,
                            "seconds": round(done.seconds, 3)})
                return
            d = done.inspected
            label = " ".join(str(x) for x in (d.descriptor.get("name"), d.descriptor.get("version")) if x)
            how = "already present, nothing transferred" if not done.transferred else f"{done.transferred} bytes in {done.seconds:.1f}s"
            # The weights' SHA-256, as every other pull prints (the card's); the manifest's digest apart.
            typer.echo(f"{done.path}: {label + ' ' if label else ''}sha256 {content_sha256(d)} verified "
                       f"({how}; from {d.reference}, manifest {d.digest})")
            return
        from weightops.deploy.oci_pull import pull_via_oci

        pulled = pull_via_oci(ref if ref is not None or lock else "latest", out, model=model, repo=repo, plain_http=plain_http,
                              progress=update, fsync=fsync, allow_deprecated=allow_deprecated, pre=pre,
                              expect_sha256=expect_sha256, lock=lock, oms=oms)
    r = pulled.resolved
    if as_json:
        print_json(pulled.to_dict())
        return
    how = "already present, nothing transferred" if pulled.transferred == 0 else f"{pulled.transferred} bytes in {pulled.seconds:.1f}s"
    signer = f"; OMS signature by {pulled.oms_signer} verified" if pulled.oms_signer else ""
    typer.echo(f"{pulled.path}: {r.model} {r.version} sha256 {r.sha256} verified ({how}; through OCI{signer})")


@command("lock")
def lock_cmd(
    ref: str = typer.Argument("latest", help="A stage, version, tag, 'latest', or oci://REGISTRY/REPO:TAG (pinned to its digest)."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Lock file to write, e.g. deploy/model.lock.yaml."),
    out_alias: Optional[Path] = OUT_ALIAS,
    model: Optional[str] = MODEL,
    repo: Optional[str] = REPO_URL,
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote name."),
    pre: bool = typer.Option(False, "--pre", help="Let 'latest' be a pre-release; by default it is the newest release."),
    index: Optional[str] = INDEX,
    require_oms: Optional[bool] = REQUIRE_OMS,
    trust_policy: Optional[str] = typer.Option(None, "--trust-policy", help="Commit (or host file) holding the trusted policy with trust.oms."),
    oms_public_key: List[Path] = OMS_PUBLIC_KEY,
    oms_ca: List[Path] = OMS_CA,
    oms_identity: List[str] = OMS_IDENTITY,
    as_json: bool = JSON,
) -> None:
    """Pin REF to its commit, hashes and URL in a deploy lock file."""
    out = output_path(out, out_alias, required=True)
    if ref.startswith("oci://"):   # pinned to the manifest digest the registry holds now
        from weightops.deploy.oci_pull import lock_reference

        doc = lock_reference(ref, out)
    else:
        from weightops.deploy.pull import lock

        doc = lock(ref, out, model=model, repo=repo or ".", remote=remote, pre=pre, index=index,
                   oms=_oms(require_oms, False, trust_policy, oms_public_key, oms_ca, oms_identity))
    if as_json:
        print_json(doc)
    else:
        digest = f"sha256 {doc['sha256']}" if doc["sha256"] else f"DVC md5 {doc['md5']} (no model card)"
        typer.echo(f"wrote {out}: {doc['model']} {doc['version']} {digest}")


# ---------------------------------------------------------------- serving: sync, variants
@command("sync")
def sync_cmd(
    stage: str = typer.Argument(..., help="Stage to follow, e.g. production."),
    repo: Optional[str] = REPO_URL,
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Weights file to keep equal to the stage's version."),
    out_alias: Optional[Path] = OUT_ALIAS,
    index: Optional[str] = typer.Option(None, "--index", help="Follow the published registry index at this URL instead of git (`weightops publish`)."),
    require_signed: bool = REQUIRE_SIGNED_INDEX,
    trust_file: Optional[Path] = TRUST_FILE,
    model: Optional[str] = MODEL,
    match: List[str] = typer.Option([], "--match", help="KEY=VALUE label of this host's variant (repeatable)."),
    match_file: Optional[Path] = typer.Option(None, "--match-file", help="YAML mapping of this device's labels."),
    interval: float = typer.Option(30.0, "--interval", help="Seconds between polls (one `git ls-remote` each)."),
    on_change: Optional[str] = typer.Option(None, "--on-change", help="Command run after a swap (split like a shell, run without one)."),
    deploy_log: Optional[Path] = typer.Option(None, "--log", help="Deploy log (default: OUT.deployments.jsonl)."),
    once: bool = typer.Option(False, "--once", help="Poll once and exit (non-zero if the sync failed)."),
    require_oms: Optional[bool] = REQUIRE_OMS,
    oms_trust: Optional[str] = typer.Option(None, "--oms-trust-policy", help="Commit or host file holding the trusted policy with trust.oms (with --index: a host file; default: --trust-policy)."),
    via: str = typer.Option("dvc", "--via", help="Where the bytes come from: 'dvc' or 'oci' (the project's OCI repository, by the digest git computes)."),
) -> None:
    """Keep OUT equal to STAGE's current version: poll, pull, verify, swap atomically, log."""
    out = output_path(out, out_alias, required=True)
    from weightops.deploy.sync import Syncer
    from weightops.deploy.variants import match_pairs

    if once:
        logging.getLogger("weightops.deploy.sync").addHandler(logging.NullHandler())  # the error line says it
    else:  # a long-running service: every swap and failure on stderr, with its time
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if (repo is None) == (index is None):
        raise UsageError("sync follows one source: pass --repo URL (git) or --index URL (published index)")
    syncer = Syncer(stage, repo=repo or "", out=out, model=model, match=match_pairs(match, match_file),
                    deploy_log=deploy_log, on_change=on_change, index=index, require_signed=require_signed,
                    trust_policy=trust_file, via=via,
                    oms=_oms(require_oms, False, oms_trust))
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
    from weightops.deploy import deployments

    if at is not None:
        row = deployments.live(log, at)
        if as_json:
            print_json(row)
        else:
            print_fields({k: row[k] for k in ("model", "version", "sha256", "stage", "host", "path",
                                               "live_since", "live_until", "replaced_by", "previous")})
        return
    rows = [d.to_dict() for d in deployments.read(log)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['time']}  {r['host']}  {r['stage']:<11} {r['outcome']:<10} {r['version'] or '-':<10} "
                   f"{(r['sha256'] or '')[:12]:<12}  was {r['previous'] or '-'}"
                   + (f"  ({r['error']})" if r["error"] else ""))



