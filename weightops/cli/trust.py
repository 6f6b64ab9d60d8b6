"""Commands and options about OpenSSF Model Signing signatures: `verify` (a lock, a card, or a
folder against an OMS signature), and the `--require-oms` family of options the deploy commands
share (deploy/oms.py does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from weightops.cli.base import JSON, command
from weightops.cli.output import print_json

REQUIRE_OMS = typer.Option(None, "--require-oms/--no-require-oms", help="Verify the version's OpenSSF Model Signing signature before writing anything (default: trust.oms.require).")
OMS_PUBLIC_KEY = typer.Option([], "--oms-public-key", help="PEM public key that verifies OMS signatures (repeatable; default: trust.oms of the trusted policy).")
OMS_CA = typer.Option([], "--oms-ca", help="PEM CA certificate that OMS signing certificates must chain to (repeatable).")
OMS_IDENTITY = typer.Option([], "--oms-identity", help="Accepted signing-certificate identity: SAN email or URI, or CN (repeatable).")


def oms_options(require, with_signature=False, trust=None, keys=(), cas=(), identities=()):
    """The OMS options of a deploy command (deploy/oms.py)."""
    from weightops.deploy.oms import OmsOptions

    return OmsOptions(require, with_signature, trust, tuple(keys), tuple(cas), tuple(identities))


@command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., help="A lock file or a model card (with --oms: the model folder or file)."),
    path: Optional[Path] = typer.Argument(None, help="The weights on disk (default: what FILE names)."),
    oms: Optional[Path] = typer.Option(None, "--oms", help="An OMS signature (model.sig): check FILE (a model folder or file) against it instead."),
    public_key: List[Path] = typer.Option([], "--public-key", help="With --oms: PEM public key of the signer (repeatable)."),
    oms_ca: List[Path] = OMS_CA,
    oms_identity: List[str] = OMS_IDENTITY,
    as_json: bool = JSON,
) -> None:
    """Check weights on disk against a lock or a card, or a folder against an OMS signature; exit 4 when they differ."""
    from weightops.deploy.pull import verify

    if oms is not None:
        from weightops.deploy.oms import verify_signed_folder

        done = verify_signed_folder(file, oms, public_key, oms_ca, oms_identity)
        if as_json:
            print_json({"path": str(file), "signature": str(oms), "signer": done.signer, "files": done.files})
        else:
            typer.echo(f"{file}: {len(done.files)} files match the OMS signature {oms} by {done.signer}")
        return

    v = verify(file, path)
    if as_json:
        print_json(v.to_dict())
    else:
        digest = f"sha256 {v.sha256}" if v.sha256 else "DVC md5"
        typer.echo(f"{v.path}: {digest} matches the {v.against}")
