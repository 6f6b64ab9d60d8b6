"""`weightops init` adopting a DVC project whose registry is already large, against `gto show`.

Builds a DVC project the way its owners would (`dvc init`, `dvc add` of the weights, an
`artifacts:` entry declaring them `type: model`, committed), adds in bulk with `git fast-import`
(registry_scale.bulk_tags) 1,000 versions (`clf@vX.Y.Z`, one commit each) and 3,000 annotated
assignments (`clf#STAGE#N`), then times, as whole processes:

    weightops init --force        (median of 5; each run reads every tag, writes weightops.yaml and the card)
    weightops list                (same-run baseline: one read of the same registry, median of 5)
    gto show clf#production --ref (GTO's baseline, one run: GTO reads the registry in minutes here)

and prints them with the ratios of init to each. The goal (README, "Adopting an existing DVC project"): init
under 2 s there.

    python benchmarks/adopt_init.py [--versions 1000] [--assignments 3000] [--no-gto]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_scale import MODEL, bulk_tags, sh  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def make_dvc_project(base: Path, env: dict) -> Path:
    root = base / "project"
    (root / "models").mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main", str(root)], base, env=env)
    sh([sys.executable, "-m", "dvc", "init", "-q"], root, env=env)
    sh([sys.executable, "-m", "dvc", "remote", "add", "-d", "team", str(base / "remote")], root, env=env)
    (root / "models" / f"{MODEL}.bin").write_bytes(os.urandom(1 << 20))
    sh([sys.executable, "-m", "dvc", "add", "-q", f"models/{MODEL}.bin"], root, env=env)
    (root / "dvc.yaml").write_text(f"artifacts:\n  {MODEL}:\n    path: models/{MODEL}.bin\n    type: model\n")
    sh(["git", "add", "-A"], root, env=env)
    sh(["git", "commit", "-qm", "their project"], root, env=env)
    return root


def cpu_timed(args, cwd, env, runs) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds: user + system of the process and its children)
    of `runs` runs; on a shared machine the CPU time is the figure that does not depend on load."""
    import resource
    import statistics
    import subprocess
    import time

    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {proc.stderr[-500:]}")
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--assignments", type=int, default=3000)
    parser.add_argument("--no-gto", action="store_true", help="skip GTO's baseline (minutes at this size)")
    args = parser.parse_args()
    import compileall

    compileall.compile_dir(str(ROOT / "weightops"), quiet=1)
    base = Path(tempfile.mkdtemp(prefix="weightops-adopt-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), DVC_NO_ANALYTICS="1", GTO_NO_ANALYTICS="1",
               GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")
    try:
        root = make_dvc_project(base, env)
        bulk_tags(root, args.versions, args.assignments, env)
        init, init_cpu = cpu_timed([sys.executable, "-m", "weightops", "init", "--force"], root, env, 5)
        listed, list_cpu = cpu_timed([sys.executable, "-m", "weightops", "list"], root, env, 5)
        print(f"registry: {args.versions} versions, {args.assignments} assignments (GTO's tag grammar, annotated)")
        print(f"weightops init --force   {init:.3f} s wall, {init_cpu:.3f} s CPU (medians of 5; goal < 2 s)")
        print(f"weightops list           {listed:.3f} s wall, {list_cpu:.3f} s CPU (medians of 5)")
        print(f"init / list              {init / listed:.2f} wall, {init_cpu / list_cpu:.2f} CPU", flush=True)
        if not args.no_gto:
            gto, gto_cpu = cpu_timed(["gto", "show", f"{MODEL}#production", "--ref"], root, env, 1)
            print(f"gto show {MODEL}#production --ref  {gto:.3f} s wall, {gto_cpu:.3f} s CPU (one run); "
                  f"init / gto {init / gto:.3f} wall, {init_cpu / gto_cpu:.3f} CPU")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
