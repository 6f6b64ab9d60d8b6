"""Commands that write and read the registry: release, resolve, list, promote, demote, rollback, history."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from weightops.cli.output import say_not_pushed
from weightops.cli.base import JSON, MODEL, REPO, SIGN, command, trust_note, verified_rows
from weightops.cli.output import print_fields, print_json


OMS_KEY = typer.Option(None, "--oms-key", help="PEM EC private key: write an OpenSSF Model Signing signature into the DVC remote (default: $WEIGHTOPS_OMS_KEY).")
OMS_CERT = typer.Option(None, "--oms-cert", help="Certificate mode: the PEM signing certificate of --oms-key.")
OMS_CHAIN = typer.Option([], "--oms-cert-chain", help="Certificate mode: PEM certificates above --oms-cert (repeatable).")
ALLOW_DEPRECATED = typer.Option(False, "--allow-deprecated", help="Use a model GTO marks deprecated (NAME@deprecated); refused otherwise.")


@command("release")
def release_cmd(
    version: str = typer.Argument(..., help="SemVer version, e.g. v1.2.0."),
    model: Optional[str] = MODEL,
    push: bool = typer.Option(False, "--push", help="Run `dvc push` first, then push the tag to the git remote."),
    message: Optional[str] = typer.Option(None, "--message", help="Title of the tag message."),
    sign: Optional[bool] = SIGN,
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote to check and push to (default: the output's own remote:, else core.remote)."),
    oms_key: Optional[Path] = OMS_KEY,
    oms_cert: Optional[Path] = OMS_CERT,
    oms_chain: List[Path] = OMS_CHAIN,
    repo: str = REPO,
) -> None:
    """Release HEAD as VERSION: checks tree, card, pointer and remote, then writes an annotated tag."""
    from weightops.registry.release import release
    from weightops.registry.tags import understood_version

    note = understood_version(version)
    if note:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)
    done = release(version, model=model, repo=repo, push=push, message=message, sign=sign, remote=remote,
                   oms_key=oms_key, oms_cert=oms_cert, oms_chain=tuple(oms_chain))
    from weightops.cli.output import terminal_width, wrap

    for line in wrap(f"released {done.model} {done.version} as tag {done.tag} at {done.commit[:12]} "
                     f"(sha256 {done.sha256[:16]}...){pushed_to(done.remote) if done.pushed else ''}",
                     terminal_width(), 4):
        typer.echo(line)
    if done.signature:
        typer.echo(f"OMS signature: {done.signature}")
    if push and not done.pushed:
        say_not_pushed(f"the weights were pushed (dvc push) but tag {done.tag} was not", done.tag)



@command("sign")
def sign_cmd(
    ref: str = typer.Argument(..., help="A released version, tag, stage or 'latest'."),
    oms_key: Optional[Path] = OMS_KEY,
    oms_cert: Optional[Path] = OMS_CERT,
    oms_chain: List[Path] = OMS_CHAIN,
    model: Optional[str] = MODEL,
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote to write the signature into (default: the version's)."),
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """Sign a released version (OpenSSF Model Signing) from the SHA-256s its card records."""
    from weightops.registry.oms_sign import sign

    done = sign(ref, oms_key, certificate=oms_cert, chain=tuple(oms_chain), model=model, repo=repo, remote=remote)
    if as_json:
        print_json({"tag": done.tag, "signature": done.url, "files": done.files, "card_sha256": done.card_sha256})
    else:
        typer.echo(f"signed {done.tag} ({len(done.files)} files): {done.url}")


def pushed_to(remote: str | None) -> str:
    """` and pushed to git remote 'origin'`: where the tag went, for the one output line (the
    remote's name, never its URL, which may carry credentials)."""
    return f" and pushed to git remote '{remote}'" if remote else " and pushed"


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
    repo: str = REPO,
    allow_deprecated: bool = ALLOW_DEPRECATED,
    index: Optional[str] = typer.Option(None, "--index", help="Read the published registry index at this URL instead of git (--trust-policy is then a FILE)."),
    pre: bool = typer.Option(False, "--pre", help="Let 'latest' be a pre-release (v1.4.0-rc.1); by default it is the newest release."),
    as_json: bool = JSON,
) -> None:
    """Map REF to version, commit, DVC pointer, remote URL and sha256."""
    from weightops.cli.output import render_resolved
    from weightops.registry.resolve import resolve

    if ref.startswith("oci://"):   # the registry's answer for one OCI reference (no git)
        from weightops.deploy.oci_pull import resolve_reference

        found = resolve_reference(ref).to_dict()
        print_json(found) if as_json else print_fields({k: v for k, v in found.items() if k != "files"})
        return
    if index:
        from weightops.deploy.fleet import resolve_from

        r = resolve_from(index, ref, require_signed=bool(require_signed), trust_policy=trust_policy)
        print_json(r.to_dict()) if as_json else print_fields(r.to_dict())
        return
    if match or match_file:  # the hardware variant among the stage's models
        from weightops.deploy.variants import match_pairs, resolve_match

        r = resolve_match(ref, match_pairs(match, match_file), repo=repo, model=model, at=at, remote=remote,
                          require_signed=require_signed, trust_policy=trust_policy)
    else:
        r = resolve(ref, model=model, repo=repo, at=at, remote=remote, require_signed=require_signed,
                    trust_policy=trust_policy, allow_deprecated=allow_deprecated, pre=pre)
    render_resolved(r, ref, as_json)   # the same renderer as the fast path (cli/fast.py)


@command("list")
def list_cmd(
    model: Optional[str] = MODEL,
    repo: str = REPO,
    deprecated: bool = typer.Option(False, "--deprecated", "-d", help="Include deprecated models (as `gto show -d`)."),
    as_json: bool = JSON,
) -> None:
    """Every model and version, newest first, with the stages each holds (as `gto show`)."""
    from weightops.api import deprecated_models, list_versions, version_lookalikes

    rows = list_versions(repo=repo, model=model, deprecated=deprecated)
    lookalikes = version_lookalikes(repo)
    if not deprecated:
        for name, tag in deprecated_models(repo=repo, model=model):
            typer.secho(f"note: '{name}' is deprecated ({tag}); its versions are hidden, as in `gto show`; "
                        "`weightops list --deprecated` shows them", err=True)
    if as_json:
        print_json({"versions": rows, "not_versions": lookalikes})
        return
    for t in lookalikes:
        typer.secho(f"warning: tag '{t['tag']}' is not a version tag and is ignored; did you mean {t['meant']}? "
                    f"(release it with `weightops release {t['meant'].rpartition('@')[2]}`)", fg=typer.colors.YELLOW, err=True)
    if not rows:
        typer.echo("no versions yet; release one with `weightops release v1.0.0`")
        return
    from weightops.cli.output import table, terminal_width

    columns = [("MODEL", [r["model"] for r in rows]), ("VERSION", [r["version"] for r in rows]),
               ("COMMIT", [r["commit"][:12] for r in rows]),
               ("CREATED (UTC)", [r["created"][:16].replace("T", " ") for r in rows]),
               ("STAGES", [", ".join(r["stages"]) for r in rows]), ("TAG", [r["tag"] for r in rows]),
               ("CARD", ["none: DVC md5" if r["card"] is None else "" for r in rows])]   # shown when one lacks it
    # On a narrow terminal the tag goes first (MODEL@VERSION or VERSION says it), then the commit.
    for line in table(columns, width=terminal_width(), drop=("TAG", "COMMIT")):
        typer.echo(line)
    cardless = sum(1 for r in rows if r["card"] is None)
    if cardless:
        typer.secho(f"note: {cardless} version(s) have no model card (released before weightops): checked by DVC's "
                    "md5 and size; `weightops card --attach TAG` gives one a card without moving its tag", err=True)

# ---------------------------------------------------------------- stage assignments
MESSAGE = typer.Option(None, "--message", help="Why: recorded in the tag message.")
PUSH_TAG = typer.Option(False, "--push", help="Push the new tag; fails (and removes it) if someone else assigned first.")
# Promotion-gate switches: both are recorded in the tag message.
ALLOW_BREAKING = typer.Option(False, "--allow-breaking", help="Promote even when the signature breaks the stage's current one.")
SKIP_CHECKS = typer.Option(False, "--skip-checks", help="Skip the weight checks the stage's gate requires (loud; recorded in the tag).")
NO_CHECK_REMOTE = typer.Option(False, "--no-check-remote", help="Do not check that the version's object is in the DVC remote (offline work).")


def _warn_skip(skip: bool) -> None:
    if skip:
        typer.secho("WARNING: --skip-checks: the weight checks are NOT run; the tag message records it",
                    fg=typer.colors.YELLOW, err=True)


def _say_assigned(push: bool, a) -> None:
    if a.action == "none":
        typer.echo(f"{a.model} {a.version} already holds {a.stage} ({a.tag}); nothing written")
        return
    pushed = " (pushed)" if a.pushed else ""
    if a.action == "unassign":   # one line per tag written: demote clears every labelled version
        for tag, version in a.written or ((a.tag, a.version),):
            typer.echo(f"unassigned {a.model} {version} from {a.stage}: tag {tag}{pushed}")
    else:
        prev = f" (was {a.previous})" if a.previous and a.previous != a.version else ""
        verb = "rolled back" if a.action == "rollback" else "assigned"
        typer.echo(f"{verb} {a.model} {a.version} to {a.stage}{prev}: tag {a.tag}{pushed}")
    if push and not a.pushed:
        tags = [tag for tag, _ in a.written] if a.written else [a.tag]
        say_not_pushed(f"tag {', '.join(tags)} was not pushed", " ".join(tags))


@command("promote")
def promote_cmd(
    version: str = typer.Argument(..., help="Version to assign, e.g. v1.2.0."),
    stage: str = typer.Argument(..., help="Stage name from the project's config, e.g. production."),
    model: Optional[str] = MODEL,
    message: Optional[str] = MESSAGE,
    push: bool = PUSH_TAG,
    sign: Optional[bool] = SIGN,
    require_shadow: Optional[Path] = typer.Option(None, "--require-shadow", help="Shadow log that must compare VERSION against the stage's current version and pass the thresholds."),
    repo: str = REPO,
    allow_breaking: bool = ALLOW_BREAKING,
    skip_checks: bool = SKIP_CHECKS,
    allow_deprecated: bool = ALLOW_DEPRECATED,
    no_check_remote: bool = NO_CHECK_REMOTE,
) -> None:
    """Assign VERSION to STAGE (a GTO tag NAME#STAGE#N) after checking its card, its object in the DVC remote and the gates."""
    from weightops.registry.stages import promote

    _warn_skip(skip_checks)
    _say_assigned(push, promote(version, stage, model=model, repo=repo, message=message, push=push, sign=sign,
                          allow_breaking=allow_breaking, skip_checks=skip_checks, require_shadow=require_shadow,
                          allow_deprecated=allow_deprecated, check_remote=not no_check_remote))

@command("demote")
def demote_cmd(
    stage: str = typer.Argument(..., help="Stage to unassign."),
    model: Optional[str] = MODEL,
    message: Optional[str] = MESSAGE,
    push: bool = PUSH_TAG,
    sign: Optional[bool] = SIGN,
    repo: str = REPO,
) -> None:
    """Unassign STAGE (a GTO tag NAME#STAGE!#N)."""
    from weightops.registry.stages import demote

    _say_assigned(push, demote(stage, model=model, repo=repo, message=message, push=push, sign=sign))


@command("rollback")
def rollback_cmd(
    stage: str = typer.Argument(..., help="Stage to roll back, e.g. production."),
    model: Optional[str] = MODEL,
    to: Optional[str] = typer.Option(None, "--to", help="Version to go back to (default: the one before the current)."),
    message: Optional[str] = MESSAGE,
    push: bool = PUSH_TAG,
    sign: Optional[bool] = SIGN,
    repo: str = REPO,
    allow_breaking: bool = ALLOW_BREAKING,
    skip_checks: bool = SKIP_CHECKS,
    allow_deprecated: bool = ALLOW_DEPRECATED,
    no_check_remote: bool = NO_CHECK_REMOTE,
) -> None:
    """Assign the version that held STAGE before the current one, as a new assignment."""
    from weightops.registry.stages import rollback

    _warn_skip(skip_checks)
    _say_assigned(push, rollback(stage, model=model, to=to, repo=repo, message=message, push=push, sign=sign,
                           allow_breaking=allow_breaking, skip_checks=skip_checks, allow_deprecated=allow_deprecated,
                           check_remote=not no_check_remote))

@command("history")
def history_cmd(
    stage: Optional[str] = typer.Argument(None, help="Only this stage's events."),
    model: Optional[str] = MODEL,
    verify: bool = typer.Option(False, "--verify", help="Verify each tag's signature: adds signer, verified, allowed."),
    trust_policy: Optional[str] = typer.Option(None, "--trust-policy", help="Commit holding the trusted policy (with --verify)."),
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """Every registration, assignment, unassignment and rollback, oldest first."""
    from weightops.registry.history import history

    rows = history(model=model, stage=stage, repo=repo)
    if verify:
        rows = verified_rows(repo, model, rows, trust_policy)
    if as_json:
        print_json({"events": rows})
        return
    if not rows:
        typer.echo("no registry events yet; release one with `weightops release v1.0.0`")
        return
    from weightops.cli.output import table, terminal_width

    columns = [("TIME (UTC)", [r["time"][:16].replace("T", " ") for r in rows]),
               ("ACTION", [r["action"] for r in rows]),
               ("STAGE", [r["stage"] or "" for r in rows]),
               ("VERSION", [r["version"] or "-" for r in rows]),
               ("COMMIT", [r["commit"][:10] for r in rows]),
               ("SHA256", [(r["sha256"] or "")[:12] for r in rows]),
               ("BY", [r["author"] or r["author_email"].partition("@")[0] for r in rows]),
               ("TAG", [r["tag"] for r in rows])]
    if verify:
        columns.append(("SIGNATURE", [trust_note(r).strip() for r in rows]))
    columns.append(("REASON", [r["reason"] or "" for r in rows]))
    # On a narrow terminal the digests go first (`--json` has them), then the tag; the reason is cut.
    for line in table(columns, width=terminal_width(), drop=("SHA256", "COMMIT", "TAG"),
                      cap={"BY": 14}, flex="REASON"):
        typer.echo(line)


@command("publish")
def publish_cmd(
    ref: Optional[str] = typer.Argument(None, help="With --oci: one version or stage to publish (default: every version and stage)."),
    model: Optional[str] = MODEL,
    remote: Optional[str] = typer.Option(None, "--remote", help="DVC remote to publish into (default: the configured default)."),
    oci: Optional[str] = typer.Option(None, "--oci", help="Push versions and stage tags as ModelPack artifacts to this OCI repository (REGISTRY/REPOSITORY; default: oci.repository)."),
    plain_http: bool = typer.Option(False, "--plain-http", help="With --oci: talk plain HTTP to a registry that is not on loopback."),
    repo: str = REPO,
    as_json: bool = JSON,
) -> None:
    """Write each model's registry index into the DVC remote (hosts follow `--index URL`); with --oci, push to an OCI registry."""
    if oci is not None or ref is not None:
        from weightops.registry.oci import publish_oci

        done = publish_oci(oci or None, ref, model=model, repo=repo, plain_http=True if plain_http else None)
        if as_json:
            print_json(done.to_dict())
            return
        for tag, digest in done.tags.items():
            typer.echo(f"{done.repository}:{tag} -> {digest or 'deleted (stage has no version)'}")
        for version, why in done.skipped:
            typer.echo(f"left out {version}: {why}", err=True)
        typer.echo(f"blobs: {done.blobs_uploaded} uploaded ({done.uploaded} bytes), {done.present} already there, "
                   f"{done.mounted} mounted")
        return
    from weightops.project import Project
    from weightops.registry.publish import publish

    done = publish(model=model, repo=repo, remote=remote)
    also = None
    if Project(repo).config.section("oci").get("repository"):   # the OCI data plane is published too
        from weightops.registry.oci import publish_oci

        also = publish_oci(None, None, model=model, repo=repo, plain_http=True if plain_http else None)
    if as_json:
        print_json({"published": [{"model": p.model, "url": p.url, "sequence": p.sequence, "stages": p.stages,
                                   "versions": p.versions, "skipped": [list(s) for s in p.skipped]} for p in done],
                    **({"oci": also.to_dict()} if also else {})})
        return
    for p in done:
        stages = ", ".join(f"{s}={v}" for s, v in sorted(p.stages.items())) or "no stages"
        typer.echo(f"published {p.model} (sequence {p.sequence}, {p.versions} version(s), {stages}) to {p.url}")
    if also:
        typer.echo(f"published {len(also.tags)} tag(s) to {also.repository} ({also.blobs_uploaded} blob(s) "
                   f"uploaded, {also.uploaded} bytes)")
