"""The package's shape, checked by walking its source: pure modules import nothing that runs a
process or touches the network (directly or through other weightops modules), every module
stays under 400 lines, and the CLI's resolve path loads none of the heavy libraries."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "weightops"
MAX_LINES = 400

# Pure: parsing and arithmetic over values already read. Add a module here when it is pure.
PURE = [
    "weightops.registry.tags", "weightops.registry.state", "weightops.registry.records", "weightops.model.signature",
    "weightops.model.checks", "weightops.core.config", "weightops.core.schema", "weightops.core.refs",
    "weightops.core.units", "weightops.core.jsonl", "weightops.errors",
    "weightops.oci.modelpack", "weightops.oci.reference",
]
# Modules that run processes or reach the network, and weightops' own runners of them.
IMPURE = {
    "subprocess", "socket", "ssl", "urllib", "http", "requests", "urllib3", "aiohttp", "multiprocessing",
    "boto3", "botocore", "s3fs", "gcsfs", "fsspec", "dvc", "gto", "git",
    "weightops.core.git", "weightops.core.git_remote", "weightops.core.git_review", "weightops.core.git_tags",
    "weightops.core.dvc", "weightops.storage.s3",
    "weightops.storage.transfer", "weightops.storage.remote_repo", "weightops.storage.remotes",
}
HEAVY = ("dvc", "jsonschema", "boto3", "botocore", "rich")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, name: str) -> set[str]:
    """Every module `path` imports, at module level or inside a function (a lazy import runs too)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)   # `from weightops.core import git`
    return found


def is_impure(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in IMPURE)


def test_every_module_stays_under_the_line_limit():
    long = {n: len(p.read_text().splitlines()) for n, p in modules().items()}
    over = {n: count for n, count in long.items() if count > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines (split them by responsibility): {over}"


@pytest.mark.parametrize("pure", PURE)
def test_pure_modules_import_no_process_or_network_module(pure):
    mods = modules()
    assert pure in mods, f"{pure} is listed as pure but does not exist"
    # Breadth-first through weightops' own imports, remembering how each was reached.
    seen, queue = {pure: [pure]}, [pure]
    while queue:
        current = queue.pop(0)
        for imported in sorted(imports_of(mods[current], current)):
            chain = seen[current] + [imported]
            assert not is_impure(imported), f"pure module {pure} imports {imported} via {' -> '.join(chain)}"
            if imported in mods and imported not in seen:
                seen[imported] = chain
                queue.append(imported)


def test_the_walk_catches_an_impure_import(tmp_path):
    """The check above must be able to fail: a module importing subprocess is seen."""
    fake = PACKAGE / "core" / "refs.py"
    assert "subprocess" not in imports_of(fake, "weightops.core.refs")
    bad = tmp_path / "weightops" / "core" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    import subprocess\n    from weightops.core import git\n")
    found = imports_of(bad, "weightops.core.bad")
    assert is_impure("subprocess") and "subprocess" in found and "weightops.core.git" in found


def test_cli_resolve_path_loads_no_heavy_library(project):
    """`python -X importtime -m weightops resolve production`: no DVC, jsonschema, boto or rich."""
    project.release("v1.0.0", at=1_790_000_000)
    project.wo("promote", "v1.0.0", "production", env={"WEIGHTOPS_NOW": "1790000100"}, check=True)
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "weightops", "resolve", "production", "--json"],
                          cwd=project.root, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "weightops.registry.resolve" in loaded   # the trace is real
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert not heavy, f"the resolve path imports {heavy}"
    assert not any(m.split(".")[0] in ("typer", "click") for m in loaded)   # the fast path (cli/fast.py)


def test_import_weightops_is_lazy():
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent))
    code = "import sys, weightops; print(sorted(m for m in sys.modules if m.startswith('weightops')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert ast.literal_eval(out) == ["weightops", "weightops.errors"]


def test_oci_client_needs_no_dvc_git_or_cli():
    """weightops/oci is what a deploy host without DVC uses: pulling loads no DVC, GTO, git runner,
    Typer, YAML or jsonschema (the standard library, urllib3 and weightops.errors only)."""
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent))
    code = ("import sys, weightops.oci.fetch, weightops.oci.client, weightops.oci.auth; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dvc', 'gto', 'typer', 'click', 'yaml', "
            "'jsonschema', 'rich') or m.startswith(('weightops.core.git', 'weightops.storage', 'weightops.project'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert ast.literal_eval(out) == []


def undocumented(path: Path) -> list[str]:
    """Public module-level functions and classes, and public methods of public classes, with no
    docstring. Dunder methods are skipped; dataclass-generated methods are not in the source."""
    found = []
    for node in ast.parse(path.read_text(), str(path)).body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name.startswith("_"):
            continue
        if ast.get_docstring(node) is None:
            found.append(f"{node.name} (line {node.lineno})")
        if isinstance(node, ast.ClassDef):
            found += [f"{node.name}.{sub.name} (line {sub.lineno})" for sub in node.body
                      if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and not sub.name.startswith("_") and ast.get_docstring(sub) is None]
    return found


def test_every_public_function_class_and_method_has_a_docstring():
    missing = {name: found for name, path in modules().items() if (found := undocumented(path))}
    count = sum(len(found) for found in missing.values())
    assert not missing, (f"{count} public names lack a docstring (say argument shapes/units, errors "
                         f"raised with exit codes, the source of borrowed formats): {missing}")


def test_the_docstring_walk_catches_a_missing_docstring(tmp_path):
    """The check above must be able to fail: each kind of undocumented public name is seen."""
    mod = tmp_path / "mod.py"
    mod.write_text('def f():\n    pass\n\n\ndef _private():\n    pass\n\n\nclass C:\n    """Doc."""\n\n'
                   '    def __init__(self):\n        pass\n\n    def m(self):\n        pass\n\n'
                   '    @property\n    def p(self):\n        """Doc."""\n\n\nclass D:\n    x: int\n')
    assert undocumented(mod) == ["f (line 1)", "C.m (line 15)", "D (line 23)"]
