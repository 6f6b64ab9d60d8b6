"""The package's shape, checked by walking its source: pure modules import nothing that runs a
process or touches the network (directly or through other weightops modules), every module
stays under 400 lines, no module imports one that imports it back, and the CLI's resolve path
loads none of the heavy libraries."""

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


def import_circles(package: Path) -> list[list[str]]:
    """The import circles among the modules of the package folder `package`: each a sorted list of
    modules that reach one another through imports (lazy ones inside functions included), as the
    strongly connected components (Tarjan) of the import graph with more than one module."""
    mods = {".".join(p.relative_to(package.parent).with_suffix("").parts[:-1] if p.name == "__init__.py"
                     else p.relative_to(package.parent).with_suffix("").parts): p for p in sorted(package.rglob("*.py"))}
    edges = {m: sorted(i for i in imports_of(p, m) if i in mods and i != m) for m, p in mods.items()}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []
    for start in mods:
        if start in index:
            continue
        work = [(start, 0)]
        while work:   # iterative Tarjan: a deep import chain must not hit the recursion limit
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(circles)


def test_no_module_imports_one_that_imports_it_back():
    circles = import_circles(PACKAGE)
    assert not circles, ("import circles (move the shared piece into a module below both, or the "
                         f"dispatching function into one above both): {circles}")


def test_the_circle_walk_catches_a_lazy_import_circle(tmp_path):
    """The check above must be able to fail: a circle closed only by an import inside a function
    (and a relative one) is seen; a plain chain is not."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("import os\n\n\ndef f():\n    from pkg.sub import c\n")
    (pkg / "sub" / "c.py").write_text("def g():\n    from .. import a\n")
    (pkg / "leaf.py").write_text("from pkg import a\n")
    assert import_circles(pkg) == [["pkg.a", "pkg.sub.b", "pkg.sub.c"]]
    (pkg / "sub" / "c.py").write_text("import json\n")
    assert import_circles(pkg) == []


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
