"""The public API: `dir(weightops)` lists it, each name loads and documents itself, and
`import weightops` stays cheap (each name is imported on first use)."""

from __future__ import annotations

import os
import subprocess
import sys

import weightops


def test_dir_lists_the_public_api_and_each_name_loads():
    listed = dir(weightops)
    assert set(weightops.__all__) <= set(listed)
    assert {"resolve", "release", "promote", "pull", "audit_registry", "WeightopsError"} <= set(listed)
    for name in weightops.__all__:
        value = getattr(weightops, name)
        assert name == "__version__" or (value.__doc__ or "").strip(), f"weightops.{name} has no docstring"


def test_import_weightops_loads_none_of_the_api():
    code = ("import sys, weightops; names = dir(weightops); "
            "print(sorted(m for m in sys.modules if m.startswith('weightops.') and m != 'weightops.errors'), "
            "[m for m in ('typer', 'dvc', 'yaml', 'jsonschema') if m in sys.modules], 'resolve' in names)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         check=True).stdout.strip()
    assert out == "[] [] True"
