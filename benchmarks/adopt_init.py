"""`weightops init` adopting a DVC project whose registry is already large, against `gto show`.

Builds a DVC project the way its owners would (`dvc init`, `dvc add` of the weights, an
`artifacts:` entry declaring them `type: model`, committed), adds in bulk with `git fast-import`
(registry_scale.bulk_tags) 1,000 versions (`clf@vX.Y.Z`, one commit each) and 3,000 annotated
assignments (`clf#STAGE#N`), then times, as whole processes:

    weightops init --force        (median of 5; each run reads every tag, writes weightops.yaml and the card)
    gto show clf                  (baseline, median of 3)

and prints both with their ratio. The goal (README, "Adopting an existing DVC project"): init
under 2 s there.

    python benchmarks/adopt_init.py [--versions 1000] [--assignments 3000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_scale import MODEL, bulk_tags, sh, timed  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--assignments", type=int, default=3000)
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
        init = timed([sys.executable, "-m", "weightops", "init", "--force"], root, env, 5)
        gto = timed(["gto", "show", MODEL], root, env, 3)
        print(f"registry: {args.versions} versions, {args.assignments} assignments (GTO's tag grammar, annotated)")
        print(f"weightops init --force   {init:.3f} s (median of 5; goal < 2 s)")
        print(f"gto show {MODEL}            {gto:.3f} s (median of 3)")
        print(f"ratio init / gto show    {init / gto:.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
