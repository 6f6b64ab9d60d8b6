"""weightops-skinny against the full distribution: packages installed, installed size and install
time with a warm pip cache, each in a fresh virtual environment built in the same run.

    python benchmarks/skinny.py [--extra s3]

Each distribution is installed twice: the first install warms pip's cache (downloads, built
wheels), the second is timed. Packages and sizes leave out what every venv has (pip,
setuptools). Goals for skinny: at most 20 packages, at most 40 MB, under 15 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = {"pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth"}


def _install(target: str) -> tuple[float, int, int]:
    """(seconds, packages, bytes) of `pip install TARGET` into a new venv."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
        start = time.perf_counter()
        subprocess.run([python, "-m", "pip", "install", "-q", target], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = time.perf_counter() - start
        frozen = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                                check=True).stdout.split()
        packages = len([p for p in frozen if p.split("==")[0].lower() not in BASE])
        site = next((venv / "lib").glob("python3*/site-packages"))
        size = sum(f.stat().st_size for entry in site.iterdir() if not any(entry.name.startswith(b) for b in BASE)
                   for f in ([entry] if entry.is_file() else entry.rglob("*")) if f.is_file())
        return took, packages, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="", help="a skinny extra to include, e.g. s3")
    args = parser.parse_args()
    skinny = str(ROOT / "skinny") + (f"[{args.extra}]" if args.extra else "")
    rows = {}
    for name, target in (("skinny", skinny), ("full", str(ROOT))):
        _install(target)                    # warms the cache
        rows[name] = _install(target)
    print(f"{'':8} {'packages':>8} {'MB':>7} {'install s':>10}")
    for name, (took, packages, size) in rows.items():
        print(f"{name:8} {packages:8d} {size / 1e6:7.1f} {took:10.1f}")
    (ts, ps, ss), (tf, pf, sf) = rows["skinny"], rows["full"]
    print(f"skinny/full: packages {ps / pf:.2f}x, size {ss / sf:.2f}x, install time {ts / tf:.2f}x")


if __name__ == "__main__":
    main()
