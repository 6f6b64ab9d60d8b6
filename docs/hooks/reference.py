"""The documentation's reference pages, generated from the code at build time so they cannot
drift: every command and option from the Typer app, every weightops.yaml setting from its JSON
Schema, the exit codes from the exception tree.

MkDocs runs `on_page_markdown` (a hook, see mkdocs.yml) on every page: a line
`<!-- generate: NAME -->` is replaced by the generated markdown for NAME (`cli`, `config`,
`exit-codes`). The tests call the same functions (tests/docs/test_docs_site.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:   # the checkout being documented, before any installed copy
    sys.path.insert(0, str(ROOT))


def _cell(text: object) -> str:
    """Text for a markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def click_root():
    """The Typer app as Click's command tree, every command registered."""
    import typer.main

    from weightops.cli import deploy, kube, model, project, registry, review  # noqa: F401 - registers the commands
    from weightops.cli.base import app

    return typer.main.get_command(app)


def walk_commands(group=None, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """Every visible command under `group` (default: the root) as (path of names, click command),
    in the order `weightops --help` lists them, sub-commands after their group."""
    group = group or click_root()
    found = []
    # Typer may carry its own copy of Click: its classes are used, never isinstance on `click`'s.
    ctx = group.context_class(group, info_name="weightops")
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or getattr(cmd, "hidden", False):
            continue
        found.append(((*path, name), cmd))
        if is_group(cmd):
            found += walk_commands(cmd, (*path, name))
    return found


def is_group(cmd) -> bool:
    """Whether a Click command has sub-commands."""
    return hasattr(cmd, "list_commands")


def visible_params(cmd) -> list:
    """A command's parameters a user can pass (hidden ones and --help left out)."""
    return [p for p in cmd.params if not getattr(p, "hidden", False) and p.name != "help"]


def param_names(p) -> list[str]:
    """The spellings of a parameter: `--flag/-f` for an option, its metavar for an argument."""
    if p.param_type_name == "argument":
        return [p.name.upper()]
    return [*p.opts, *p.secondary_opts]


def cli_markdown() -> str:
    """Markdown for every command: its usage, help and a table of its arguments and options."""
    root = click_root()
    out = ["Generated from the command-line app itself (`weightops --help` and each command's "
           "`--help` say the same).", "",
           "| global option | what it does |", "| --- | --- |"]
    for p in visible_params(root):
        out.append(f"| `{' / '.join(param_names(p))}` | {_cell(p.help or '')} |")
    for path, cmd in walk_commands(root):
        full = " ".join(("weightops", *path))
        out += ["", f"## `{full}`", ""]
        ctx = cmd.context_class(cmd, info_name=full)
        pieces = " ".join(cmd.collect_usage_pieces(ctx))
        out += [f"```text\n{full} {pieces}\n```", ""]
        if cmd.help:
            out += [cmd.help.strip().replace("\b\n", ""), ""]
        params = visible_params(cmd)
        if is_group(cmd):
            subs = [p[-1] for p, _ in walk_commands(cmd, path)]
            out.append("Sub-commands: " + ", ".join(f"`{s}`" for s in subs) + ".")
            continue
        if not params:
            continue
        out += ["| argument or option | default | what it is |", "| --- | --- | --- |"]
        for p in params:
            default = p.default if not callable(p.default) else None
            shown = "" if default in (None, (), [], False) or p.param_type_name == "argument" and p.required \
                else f"`{default}`"
            required = " (required)" if p.required else ""
            out.append(f"| `{' / '.join(param_names(p))}`{required} | {shown} | {_cell(p.help or '')} |")
    return "\n".join(out) + "\n"


def config_schema() -> dict:
    """weightops.yaml's JSON Schema, the one every read of the file is checked against."""
    from weightops.core.schema import config_schema as schema

    return schema()


def _deref(node: dict, schema: dict) -> dict:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return schema["$defs"][ref.rsplit("/", 1)[1]]
    return node


def _type(node: dict) -> str:
    t = node.get("type")
    kinds = t if isinstance(t, list) else [t] if t else []
    text = " or ".join(k for k in kinds if k)
    if "enum" in node:
        text = " | ".join(f"`{v}`" for v in node["enum"])
    return text


def config_settings(node: dict | None = None, schema: dict | None = None, prefix: str = "") -> list[tuple[str, dict]]:
    """Every setting of weightops.yaml as (dotted key, schema node), parents before children;
    `*` stands for a key the user names (a stage, a signer)."""
    schema = schema or config_schema()
    node = _deref(node or schema, schema)
    found = []
    for key, child in (node.get("properties") or {}).items():
        child = _deref(child, schema)
        name = f"{prefix}{key}"
        found.append((name, child))
        found += config_settings(child, schema, name + ".")
        items = child.get("items")
        if isinstance(items, dict):
            found += config_settings(_deref(items, schema), schema, name + "[].")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        extra = _deref(extra, schema)
        if extra.get("properties") or extra.get("additionalProperties"):
            found += config_settings(extra, schema, prefix + "*.")
    return found


def config_markdown() -> str:
    """Markdown for every weightops.yaml setting: its dotted key, type and description, from
    templates/weightops.schema.json."""
    schema = config_schema()
    out = [f"Generated from `templates/weightops.schema.json` ({schema.get('title', 'weightops.yaml')}): "
           "every command checks the file against it, and an unknown key is an error naming the "
           "closest known one (exit 2). `*` stands for a name you choose (a stage, a signer).", "",
           "| setting | type | what it is |", "| --- | --- | --- |"]
    for key, node in config_settings():
        default = f" (default `{json.dumps(node['default'])}`)" if "default" in node else ""
        out.append(f"| `{key}` | {_cell(_type(node))} | {_cell(node.get('description', ''))}{default} |")
    return "\n".join(out) + "\n"


def exit_codes() -> list[tuple[int, str, str]]:
    """(exit code, exception class, what it means) for every class of the exception tree, the
    base first, then by code."""
    import inspect

    from weightops import errors

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.WeightopsError) and c.__module__ == errors.__name__]
    classes.sort(key=lambda c: (c is not errors.WeightopsError, c.exit_code, c.__name__))
    return [(c.exit_code, c.__name__, " ".join((c.__doc__ or "").split())) for c in classes]


def exit_codes_markdown() -> str:
    """Markdown: a table of exit codes from weightops/errors.py, plus the two the CLI adds."""
    out = ["Generated from `weightops/errors.py`: every error is one line on stderr and one of "
           "these exit codes.", "", "| exit code | error | meaning |", "| --- | --- | --- |",
           "| 0 | | success |"]
    for code, name, doc in exit_codes():
        out.append(f"| {code} | `{name}` | {_cell(doc)} |")
    out.append("| 2 | (command line) | an unknown command or option, a missing argument: Click's usage errors |")
    out.append("| 130 | (interrupted) | Ctrl-C |")
    return "\n".join(out) + "\n"


GENERATORS = {"cli": cli_markdown, "config": config_markdown, "exit-codes": exit_codes_markdown}


def expand(markdown: str) -> str:
    """`markdown` with each `<!-- generate: NAME -->` line replaced by its generated text.
    KeyError for an unknown NAME (the strict build fails on it)."""
    lines = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("<!-- generate:") and stripped.endswith("-->"):
            name = stripped[len("<!-- generate:"):-3].strip()
            lines.append(GENERATORS[name]())
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:
    """MkDocs hook: expand the generated sections of a page."""
    return expand(markdown) if "<!-- generate:" in markdown else markdown


def benchmark_figures() -> list[dict]:
    """The recorded figures of benchmarks/figures.yaml (each with its baseline)."""
    import yaml

    return yaml.safe_load((ROOT / "benchmarks" / "figures.yaml").read_text())


def benchmarks_svg(figures: list[dict]) -> str:
    """A bar per figure: its ratio against its baseline (baseline = 1, right of 1 = weightops
    better), as inline SVG on a log scale so 0.1x and 10x sit equally far from 1."""
    import math
    from html import escape

    W, L, R, row = 720, 330, 40, 30
    H = 40 + row * len(figures)
    lo, hi = math.log10(0.1), math.log10(10)
    x = lambda r: L + (math.log10(min(max(r, 0.1), 10)) - lo) / (hi - lo) * (W - L - R)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
           'aria-label="Each figure as a ratio against its baseline" style="font: 12px sans-serif">']
    for tick in (0.1, 0.3, 1, 3, 10):
        width = ' stroke-width="2"' if tick == 1 else ""
        out.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="20" y2="{H - 10}" stroke="#bbb"{width}/>'
                   f'<text x="{x(tick):.1f}" y="14" text-anchor="middle">{tick:g}x</text>')
    for i, f in enumerate(figures):
        ratio = (f["baseline_value"] / f["weightops"]) if f["lower_is_better"] else (f["weightops"] / f["baseline_value"])
        y = 30 + i * row
        x0, x1 = sorted((x(1), x(ratio)))
        color = "#2e7d32" if ratio >= 1 else "#c62828"
        out.append(f'<text x="{L - 8}" y="{y + 14}" text-anchor="end">{escape(f["name"])}</text>'
                   f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 1):.1f}" height="16" fill="{color}">'
                   f'<title>{ratio:.2f}x</title></rect>'
                   f'<text x="{x1 + 4:.1f}" y="{y + 15}">{ratio:.2f}x</text>')
    out.append("</svg>")
    return "".join(out)


def benchmarks_markdown() -> str:
    """Markdown: a table of every recorded figure with its baseline, then the plot."""
    figures = benchmark_figures()
    out = ["| what | weightops | baseline | figure | ratio | script |", "| --- | --- | --- | --- | --- | --- |"]
    for f in figures:
        ratio = (f["baseline_value"] / f["weightops"]) if f["lower_is_better"] else (f["weightops"] / f["baseline_value"])
        better = "faster" if f["lower_is_better"] and f["unit"] == "s" else "better" if ratio >= 1 else "worse"
        out.append(f"| {_cell(f['name'])} | {_cell(f['measured'])} | {_cell(f['baseline'])} | "
                   f"{f['weightops']:g} {f['unit']} vs {f['baseline_value']:g} {f['unit']} | "
                   f"{ratio:.2f}x {better if ratio >= 1 else 'worse'} | `benchmarks/{f['script']}` |")
    out += ["", "Each figure as a ratio against its baseline (1x = the baseline; right of it, "
            "weightops does better; log scale):", "", benchmarks_svg(figures), ""]
    out += ["Notes on each run:", ""] + [f"- **{_cell(f['name'])}**: {_cell(f['note'])}." for f in figures]
    return "\n".join(out) + "\n"


GENERATORS["benchmarks"] = benchmarks_markdown
