"""The wheel ships templates/ inside the package, and the installed package finds them."""

import subprocess
import sys
import zipfile

from helpers import ROOT


def test_wheel_ships_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("weightops-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    # every package of the checkout ships (a subpackage missing from pyproject's list would not)
    for init in (ROOT / "weightops").rglob("__init__.py"):
        assert init.relative_to(ROOT).as_posix() in names, f"{init.parent.name} is not in the wheel"
    for needed in ("weightops/templates/card.schema.json", "weightops/templates/project/dvc.yaml.tmpl",
                   "weightops/templates/project/params.yaml", "weightops/templates/project/src/train.py",
                   "weightops/templates/project/gitignore", "weightops/cli/__init__.py", "weightops/registry/resolve.py",
                   "weightops/__main__.py"):
        assert needed in names, needed
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    out = subprocess.run([sys.executable, "-c", "from weightops.core.resources import template_path; print(template_path('card.schema.json'))"],
                         cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(site / "weightops" / "templates" / "card.schema.json")
