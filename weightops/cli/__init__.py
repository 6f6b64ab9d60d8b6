"""The command line: parse arguments, call one library function, render. No behaviour lives here.

Every library error becomes one red line on stderr and its exit code (see errors.py); anything
unexpected asks for `--traceback`. Commands live in one module per capability.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the CLI. The plain `resolve` (what deploy hosts run at every start) skips Typer's
    import (cli/fast.py); everything else goes through Typer."""
    from weightops.cli.fast import fast_resolve

    completion_source(sys.argv[1:])
    code = fast_resolve(sys.argv[1:])
    if code is not None:
        # The process ends here. Interpreter shutdown collects garbage over every object left,
        # and resolve leaves thousands (the registry); none is garbage, so freeze them out of
        # the collector's reach: shutdown then takes a fraction of its time (about 8 ms).
        import gc

        gc.freeze()
        sys.exit(code)
    typer_main()


COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def completion_source(argv: list[str]) -> None:
    """`weightops --show-completion SHELL` names the shell (Typer's own option detects the shell
    it runs in, and takes no name): it becomes Click's completion request for that shell's
    script, `_WEIGHTOPS_COMPLETE=source_SHELL weightops`, which Typer answers with the same
    script. Any other argv is left alone."""
    import os

    shell = None
    if len(argv) == 2 and argv[0] == "--show-completion" and argv[1] in COMPLETION_SHELLS:
        shell = argv[1]
    elif len(argv) == 1 and argv[0].startswith("--show-completion="):
        shell = argv[0].partition("=")[2]
    if shell in COMPLETION_SHELLS:
        os.environ["_WEIGHTOPS_COMPLETE"] = f"source_{shell}"
        del sys.argv[1:]


def typer_main() -> None:
    """The Typer CLI; usage errors too become one line (Typer would draw a multi-line panel)."""
    import typer

    from weightops.cli import deploy, kube, model, project, registry, review, shadow, trust  # noqa: F401 - registers the commands
    from weightops.cli.base import app

    try:
        # prog_name: `python -m weightops` would otherwise name the program __main__.py, and
        # completion scripts name the program they complete.
        code = app(prog_name="weightops", standalone_mode=False)
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
