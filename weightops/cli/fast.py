"""`weightops resolve` without Typer. Deploy hosts run it on every start, and importing Typer
and Click costs about as much as the resolve itself, so the plain form is parsed here: REF with
--model/-m, --repo, --remote, --at, --trust-policy, --require-signed/--no-require-signed and
--allow-deprecated, --pre, --json. Anything else (--help, --match, --index, a global option, an option this parser does
not know) returns None and the Typer CLI parses the command, so both accept the same commands;
the answer is rendered by cli/output.py for both.
"""

from __future__ import annotations

import gc
import os
import sys

_VALUED = {"--model": "model", "-m": "model", "--repo": "repo", "--remote": "remote", "--at": "at",
           "--trust-policy": "trust_policy"}
_FLAGS = {"--json": ("as_json", True), "--require-signed": ("require_signed", True),
          "--no-require-signed": ("require_signed", False), "--allow-deprecated": ("allow_deprecated", True),
          "--pre": ("pre", True)}


def parse_resolve(args: list[str]) -> dict | None:
    """Pure: the arguments after `resolve` (strings) -> keyword arguments of
    `registry.resolve.resolve` plus `ref` and `as_json`, or None to let Typer parse them."""
    opts: dict = {"ref": None, "model": None, "repo": ".", "remote": None, "at": None,
                  "trust_policy": None, "require_signed": None, "allow_deprecated": False, "pre": False,
            "as_json": False}
    i = 0
    while i < len(args):
        token = args[i]
        name, eq, value = token.partition("=")
        if name in _VALUED:
            if not eq:
                if i + 1 >= len(args):
                    return None
                i, value = i + 1, args[i + 1]
            if name == "-m" and eq:
                return None
            opts[_VALUED[name]] = value
        elif token in _FLAGS:
            key, flag = _FLAGS[token]
            opts[key] = flag
        elif token.startswith(("-", "oci://")) or opts["ref"] is not None:
            return None
        else:
            opts["ref"] = token
        i += 1
    opts["ref"] = opts["ref"] or "latest"
    return opts


def fast_resolve(argv: list[str]) -> int | None:
    """Run `weightops resolve ...` when `argv` (without the program name) is its plain form;
    the exit code (errors.py's: 0, 1 generic, 2 usage, 3 not found, 4 integrity, 5 refused,
    130 interrupted; the error as one line on stderr), or None when Typer should parse `argv`."""
    if not argv or argv[0] != "resolve":
        return None
    opts = parse_resolve(argv[1:])
    if opts is None:
        return None
    # A resolve lives a fraction of a second and its objects are freed by reference counting;
    # the cycle collector's passes over thousands of tag records would add a few percent.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(opts)
    finally:
        if was_enabled:
            gc.enable()


def _start_listing(ref: str, repo: str):
    """For a stage REF in a local repository, start git reading every model's tags of that
    stage now (core/git_tags.py), so git works on one core while Python imports the rest on
    the other; None when the answer needs another read, or git cannot start (the read that
    follows then says why)."""
    from weightops.core.gitdir import is_url
    from weightops.registry.tags import is_plain_stage_ref

    if not is_plain_stage_ref(ref) or is_url(repo) or not os.path.isdir(repo):
        return None
    from weightops.core.git_tags import TagListing, any_model_stage_patterns
    from weightops.errors import WeightopsError

    try:
        return TagListing(repo, any_model_stage_patterns(ref), messages=False)
    except (WeightopsError, OSError):
        return None


def _run(opts: dict) -> int:
    """`fast_resolve`'s body: resolve, render, and turn errors into one line and an exit code."""
    listing = _start_listing(opts["ref"], opts["repo"])
    from weightops.cli.output import echo, render_resolved
    from weightops.errors import WeightopsError

    try:
        from weightops.opening import open_project
        from weightops.registry.resolve import resolve

        as_json, ref = opts.pop("as_json"), opts.pop("ref")
        if listing is None:
            resolved = resolve(ref, **opts)
        else:
            project = open_project(opts["repo"])
            with project.reading():   # git's object reader starts before the tags are read, as in resolve()
                registry = project.registry(project.model(opts["model"]), ref, listing=listing)
                resolved = resolve(ref, **opts, project=project, registry=registry)
        render_resolved(resolved, ref, as_json)
        return 0
    except WeightopsError as exc:
        echo(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True, color="red")
        return exc.exit_code
    except KeyboardInterrupt:
        echo("error: interrupted", err=True, color="red")
        return 130
    except BrokenPipeError:   # `weightops resolve | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - the last resort keeps output to one line, as the CLI's
        echo(f"error: unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
             "(rerun as `weightops --traceback COMMAND ...` and report it)", err=True, color="red")
        return 1
    finally:
        if listing is not None:
            listing.close()
