"""What every command shares: the Typer app, the one error handler, common options and renderers.

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
from typing import Callable, Optional

import typer

from weightops.errors import UsageError, WeightopsError

app = typer.Typer(
    name="weightops",
    help="A git-native registry for model weights on DVC: tags are releases, stages resolve to verified bytes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
state = {"traceback": False}


def fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def command(*args, **kwargs) -> Callable:
    """`@app.command` plus the one error handler every command shares."""
    def wrap(fn: Callable) -> Callable:
        return app.command(*args, **kwargs)(handled(fn))
    return wrap


def handled(fn: Callable) -> Callable:
    """Library errors -> one red line and their exit code (for sub-app commands too)."""
    @functools.wraps(fn)
    def run(*a, **kw):
        try:
            return fn(*a, **kw)
        except typer.Exit:
            raise
        except WeightopsError as exc:
            if state["traceback"]:
                raise
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:  # `weightops list | head`: the reader left; not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:  # noqa: BLE001 - the last resort keeps output to one line
            if state["traceback"]:
                raise
            fail(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                 "(rerun with --traceback and report it)", 1)
    return run


def _print_version(value: bool) -> None:
    if value:
        from weightops import __version__

        typer.echo(f"weightops {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    traceback: bool = typer.Option(False, "--traceback", help="Show the full traceback of an error."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the library does to stderr."),
) -> None:
    state["traceback"] = traceback
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)


def read_clock() -> int | None:
    """WEIGHTOPS_NOW (Unix seconds) pins the clock for tag dates: reproducible histories, tests."""
    value = os.environ.get("WEIGHTOPS_NOW")
    if not value:
        return None
    if not value.isdigit():
        raise UsageError(f"WEIGHTOPS_NOW must be Unix seconds, not {value!r}")
    return int(value)


def print_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


def print_fields(d: dict) -> None:
    width = max(len(k) for k in d)
    for k, v in d.items():
        typer.echo(f"{k + ':':<{width + 1}} {'' if v is None else v}")


REPO = typer.Option(".", "--repo", help="Path of the git repository (a clone or a bare repository).")
MODEL = typer.Option(None, "--model", "-m", help="Model name (default: the project's only or configured model).")
JSON = typer.Option(False, "--json", help="Print exactly one JSON object.")
SIGN = typer.Option(None, "--sign/--no-sign", help="Sign the tag (git's SSH or GPG signing; default: trust.sign in weightops.yaml).")  # issue 9

REPO_URL = typer.Option(None, "--repo", help="Git repository: a path, or a URL (file://, ssh://, https://) resolved without a clone.")
OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")


def sign_choice(repo: Path, flag: Optional[bool]) -> bool:
    """--sign/--no-sign, else the config's `trust.sign`; check git can sign before any work."""
    from weightops.project import Project
    from weightops.trust.signing import check_signing_configured

    project = Project(repo)
    sign = project.config.sign if flag is None else flag
    if sign:
        check_signing_configured(project.root)
    return sign


def trust_fields(found) -> dict:
    """Print one loud warning per skipped tag (stderr), and the fields JSON readers get."""
    for s in found.skipped:
        typer.secho(f"warning: {s.message()}", fg=typer.colors.YELLOW, err=True)
    return {"signer": found.signer, "policy": found.policy_rev, "skipped": [s.to_dict() for s in found.skipped]}


def verified_rows(repo: Path, model: Optional[str], rows: list, trust_policy: Optional[str]) -> list:
    from weightops.project import Project
    from weightops.trust.policy import annotate_rows

    project = Project(repo)
    return annotate_rows(project, project.model(model), rows, trust_policy)


def trust_note(r: dict) -> str:
    if not r["signed"]:
        return "  unsigned"
    if r["verified"] and r["allowed"]:
        return f"  signed by {r['signer']} (verified)"
    return f"  signed by {r['signer'] or 'an unknown key'}: {r['problem']}"



def write_out(text: str, output: Optional[Path]) -> None:
    """stdout, or a file written atomically (CI steps read it: no shell redirection needed)."""
    if output is None:
        typer.echo(text.rstrip("\n"))
        return
    from weightops.core.atomic import atomic_write_text

    atomic_write_text(output, text if text.endswith("\n") else text + "\n")
    typer.echo(f"wrote {output}", err=True)


