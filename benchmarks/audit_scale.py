"""`weightops audit` at scale: batched reads vs one `Project.locate` per version.

Builds a real project (weightops init + dvc repro + dvc push), adds N versions (each its own
commit and annotated release tag recording the sha256), then times, as whole processes:

    weightops audit --offline --json                      (median of 3)
    baseline: Project.locate + Project.remote per version (what audit did first; median of 3)

and prints both and their ratio.

    python benchmarks/audit_scale.py [--versions 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = """
import sys
from weightops.project import Project
from weightops.storage import remotes as storage
p = Project(sys.argv[1]); r = p.registry()
for v in r.versions('clf'):
    loc = p.locate('clf', v.commit, ref=v.tag)
    storage.object_exists(p, p.remote(v.commit), loc.pointer)
"""


def sh(args, cwd, env):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, env=env)


def timed(args, cwd, env, runs=3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0, 4):
            raise SystemExit(f"{args} failed: {proc.stderr}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=300)
    n = ap.parse_args().versions
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        env = dict(os.environ, HOME=tmp, DVC_NO_ANALYTICS="1", PYTHONPATH=str(ROOT),
                   GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@e", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@e")
        root = base / "project"
        py = sys.executable
        sh([py, "-m", "weightops", "init", str(root), "--model", "clf", "--remote", str(base / "remote")], base, env)
        sh([py, "-m", "dvc", "repro", "-q"], root, env)
        sh(["git", "add", "-A"], root, env)
        sh(["git", "commit", "-qm", "train"], root, env)
        sh([py, "-m", "weightops", "release", "v1.0.0", "--push"], root, env)
        for i in range(1, n):
            sh(["git", "commit", "-q", "--allow-empty", "-m", f"c{i}"], root, env)
            sh(["git", "tag", "-a", f"v1.0.{i}", "-m", "release"], root, env)
        audit = timed([py, "-m", "weightops", "audit", "--offline", "--json"], root, env)
        baseline = timed([py, "-c", BASELINE, str(root)], root, env)
        print(f"{n} versions: weightops audit {audit:.2f}s; per-version locate baseline {baseline:.2f}s; "
              f"ratio {baseline / audit:.1f}x")


if __name__ == "__main__":
    main()
