"""What every command shares: the Typer app, the one error handler, common options and renderers.

Every library error becomes one red line on stderr and its exit code (see errors.py);
anything unexpected asks for `--traceback`.
"""

from __future__ import annotations

import functools
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
    # Typer's own completion: --install-completion and --show-completion for bash, zsh, fish
    # (and PowerShell); the shell calls `weightops` back with _WEIGHTOPS_COMPLETE set.
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
state = {"traceback": False}


def fail(message: str, code: int) -> None:
    """Print `error: MESSAGE` in red on stderr and exit with `code` (raises typer.Exit)."""
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
                 "(rerun as `weightops --traceback COMMAND ...` and report it)", 1)
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


_REPO_HELP = ("Git repository: a path (a clone or a bare repository), or a URL (file://, ssh://, https://, "
              "git@host:path) that commands which only read the registry read without a clone.")
REPO = typer.Option(".", "--repo", metavar="PATH_OR_URL", help=_REPO_HELP)
MODEL = typer.Option(None, "--model", "-m", help="Model name (default: the project's only or configured model).")
JSON = typer.Option(False, "--json", help="Print exactly one JSON object.")
SIGN = typer.Option(None, "--sign/--no-sign", help="Sign the tag (git's SSH or GPG signing; default: trust.sign in weightops.yaml).")

REPO_URL = typer.Option(None, "--repo", metavar="PATH_OR_URL", help=_REPO_HELP)
OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")
OUT_ALIAS = typer.Option(None, "--out", hidden=True)   # the older spelling of --output, still accepted


def output_path(output: Optional[Path], alias: Optional[Path], *, required: bool = False) -> Optional[Path]:
    """--output/-o, or the older --out; UsageError (2) when a command needs one and has neither."""
    if output is not None and alias is not None and output != alias:
        raise UsageError("pass --output once (--out is its older spelling)")
    path = output if output is not None else alias
    if path is None and required:
        raise UsageError("missing option --output/-o: where to write")
    return path


def verified_rows(repo: str, model: Optional[str], rows: list, trust_policy: Optional[str]) -> list:
    """History rows of MODEL in `repo` with signer, verified, allowed and problem added from the
    trust policy at `trust_policy` (a revision; default as trust.policy.policy_rev). Raises as
    trust.policy.load_policy (RefusedError 5, ...)."""
    from weightops.opening import open_project
    from weightops.trust.policy import annotate_rows

    project = open_project(repo)
    return annotate_rows(project, project.model(model), rows, trust_policy)


def trust_note(r: dict) -> str:
    """A row's signature in a few words for the text output: `unsigned`, `signed by X (verified)`,
    or the signer and the problem."""
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


