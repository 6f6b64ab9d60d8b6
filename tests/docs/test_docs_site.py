"""The documentation site: `mkdocs build --strict` passes (broken links and anchors fail it),
the reference names every command, option, setting and exit code the code has (walked here
independently of the generator), and every shell example marked runnable, in the docs and in
the README (its user flow), runs in a fresh temporary folder; README.md stays under 250 lines."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

DOCS = ROOT / "docs"
RUNNABLE = "<!-- runnable -->"


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                          capture_output=True, text=True, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def page_text(site: Path, page: str) -> str:
    """A built page's text, tags stripped and entities decoded."""
    raw = (site / page / "index.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def commands():
    """Every visible command and its options, walked from the Typer app itself."""
    import typer.main

    from weightops.cli import deploy, kube, model, project, registry, review  # noqa: F401
    from weightops.cli.base import app

    def walk(group, path):   # Typer may carry its own Click: its classes, no isinstance on `click`'s
        ctx = group.context_class(group, info_name="weightops")
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            yield (*path, name), cmd
            if hasattr(cmd, "list_commands"):
                yield from walk(cmd, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


def test_every_command_and_option_is_in_the_reference(site):
    text = " ".join(page_text(site, "reference/cli").split())
    found = commands()
    assert len(found) > 25 and ("status",) in [p for p, _ in found] and ("ci", "check-tag") in [p for p, _ in found]
    for path, cmd in found:
        assert f"weightops {' '.join(path)} " in text, f"`weightops {' '.join(path)}` is missing from the reference"
        for param in cmd.params:
            if getattr(param, "hidden", False) or param.name == "help" or not param.opts[0].startswith("-"):
                continue
            for opt in param.opts:
                assert opt in text, f"{opt} of `weightops {' '.join(path)}` is missing from the reference"
    assert "--show-completion" in text and "--install-completion" in text


def settings(node, schema, prefix=""):
    """Every dotted key of weightops.yaml's schema (`*` for a name the user chooses)."""
    def deref(n):
        ref = n.get("$ref", "")
        return schema["$defs"][ref.rsplit("/", 1)[1]] if ref.startswith("#/$defs/") else n
    node = deref(node)
    for key, child in (node.get("properties") or {}).items():
        yield prefix + key
        yield from settings(child, schema, f"{prefix}{key}.")
        if isinstance(deref(child).get("items"), dict):
            yield from settings(deref(child)["items"], schema, f"{prefix}{key}[].")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and (deref(extra).get("properties") or deref(extra).get("additionalProperties")):
        yield from settings(extra, schema, prefix + "*.")


def test_every_setting_and_exit_code_is_in_the_reference(site):
    schema = json.loads((ROOT / "templates" / "weightops.schema.json").read_text())
    keys = list(settings(schema, schema))
    assert len(keys) > 30 and "trust.require_signed" in keys and "gates.*.validate" in keys
    text = page_text(site, "reference/configuration")
    missing = [k for k in keys if f" {k} " not in f" {' '.join(text.split())} "]
    assert not missing, f"settings missing from the reference: {missing}"

    from weightops import errors

    codes = page_text(site, "reference/exit-codes")
    for name in dir(errors):
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.WeightopsError):
            assert re.search(rf"\b{cls.exit_code}\s+{name}\b", codes), f"{name} (exit {cls.exit_code}) is missing"


def test_the_api_and_benchmarks_pages(site):
    import weightops

    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ("weightops.registry.resolve.resolve", "weightops.deploy.pull.pull", "weightops.review.status.status",
                 "weightops.errors.NotFoundError"):
        assert f'id="{name}"' in api, f"{name} is not documented on the API page"
    assert "project_status" in api
    import yaml

    figures = yaml.safe_load((ROOT / "benchmarks" / "figures.yaml").read_text())
    bench = (site / "benchmarks" / "index.html").read_text()
    assert "<svg" in bench and bench.count("<rect") >= len(figures)
    text = page_text(site, "benchmarks")
    for f in figures:
        assert f["name"] in html.unescape(bench) and Path(ROOT / "benchmarks" / f["script"]).is_file()
    assert weightops.__all__   # the API page documents the package those names come from


def runnable_examples() -> list[tuple[str, int, list[str]]]:
    """(page, number, commands) of every ```console block preceded by the runnable marker."""
    found = []
    for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        lines = page.read_text().splitlines()
        n = 0
        for i, line in enumerate(lines):
            if line.strip() != RUNNABLE:
                continue
            assert lines[i + 1].strip() == "```console", f"{page}:{i + 2}: the runnable marker must precede a ```console block"
            end = lines.index("```", i + 2)
            cmds = [l[2:] for l in lines[i + 2:end] if l.startswith("$ ")]
            found.append((str(page.relative_to(DOCS if page.is_relative_to(DOCS) else ROOT)), n, cmds))
            n += 1
    return found


EXAMPLES = runnable_examples()


def test_there_are_runnable_examples():
    pages = {p for p, _, _ in EXAMPLES}
    assert len(EXAMPLES) >= 4 and {"README.md", "guides/first-hour.md", "guides/adopting.md"} <= pages


@pytest.mark.parametrize("page,number,cmds", EXAMPLES, ids=[f"{p}#{n}" for p, n, _ in EXAMPLES])
def test_runnable_example(page, number, cmds, tmp_path):
    """The block's commands, in order, in one bash with `set -e`, in a new empty folder, with
    `weightops`, `dvc` and `git` on PATH as a user has them."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, module in (("weightops", "weightops"), ("dvc", "dvc")):
        (bindir / name).write_text(f"#!/bin/sh\nexec {sys.executable} -m {module} \"$@\"\n")
        (bindir / name).chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    script = "set -euo pipefail\n" + "\n".join(cmds) + "\n"
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{page} example {number} failed:\n{script}\n{proc.stdout}\n{proc.stderr}"


def test_readme_is_short_and_links_into_the_docs():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / target).is_file(), f"README links to {target}, which does not exist"
    assert "## Adopting an existing DVC project" in text
