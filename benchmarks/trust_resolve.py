"""What --require-signed costs: `weightops resolve production` with and without it.

Builds a real project (weightops init + dvc repro + release), a trust policy with two SSH keys
(made with ssh-keygen), then N signed production assignments (git tag -s) of which the newest
SKIP are signed by a key the policy does not allow for production. Times, as whole processes
(median of 7):

    resolve production --json                                  (baseline)
    resolve production --json --require-signed   (0 skipped)
    resolve production --json --require-signed   (SKIP skipped)
    history production --json --verify          (every tag verified)

and prints each as a ratio to the baseline.

    python benchmarks/trust_resolve.py [--assignments 200] [--skip 10]
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

T0 = 1_700_000_000


def sh(args, cwd, **kw):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, **kw)


def median_time(args, cwd, env, runs=7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assignments", type=int, default=200)
    ap.add_argument("--skip", type=int, default=10)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wo-trust-bench-") as tmp:
        base = Path(tmp)
        env = dict(os.environ, HOME=str(base), GIT_CONFIG_NOSYSTEM="1", DVC_NO_ANALYTICS="1",
                   GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
                   GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com",
                   PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        keys = {}
        for name in ("alice", "bob"):
            sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], base)
            keys[name] = base / name
        root = base / "project"
        wo = [sys.executable, "-m", "weightops"]
        sh([*wo, "init", str(root), "--model", "clf", "--remote", str(base / "remote")], base, env=env)
        sh([sys.executable, "-m", "dvc", "repro", "-q"], root, env=env)
        (root / ".weightops").mkdir()
        signers = "".join(f"{n}@example.com {' '.join((base / f'{n}.pub').read_text().split()[:2])}\n" for n in keys)
        (root / ".weightops" / "allowed_signers").write_text(signers)
        with open(root / "weightops.yaml", "a") as f:
            f.write("trust:\n  stages:\n    production: [alice@example.com]\n    staging: [bob@example.com]\n")
        sh(["git", "add", "-A"], root, env=env)
        sh(["git", "commit", "-qm", "train + policy"], root, env=env)
        policy = sh(["git", "rev-parse", "HEAD"], root, env=env).stdout.strip()
        sh([*wo, "release", "v1.0.0", "--push"], root, env=dict(env, WEIGHTOPS_NOW=str(T0)))
        for n in range(1, opts.assignments + 1):
            key = keys["bob"] if n > opts.assignments - opts.skip else keys["alice"]
            sh(["git", "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "tag", "-s", "-m",
                f"weightops assign clf v1.0.0 to production\n\nversion: v1.0.0\n", f"clf#production#{n}", policy],
               root, env=dict(env, GIT_COMMITTER_DATE=f"@{T0 + n} +0000"))
        plain = [*wo, "resolve", "production", "--json"]
        signed = plain + ["--require-signed", "--trust-policy", policy]
        rows = [("resolve production (baseline)", plain)]
        rows.append((f"resolve --require-signed, {opts.skip} newest skipped", signed))
        # the same, with no skipped tag: the newest assignment signed by alice
        clean = base / "clean"
        sh(["git", "clone", "-q", "--no-checkout", str(root), str(clean)], base, env=env)
        for n in range(opts.assignments - opts.skip + 1, opts.assignments + 1):
            sh(["git", "tag", "-d", f"clf#production#{n}"], clean, env=env)
        history = [*wo, "history", "production", "--json", "--verify", "--trust-policy", policy]
        base_t = median_time(plain, root, env)
        print(f"{opts.assignments} signed production assignments")
        print(f"{'resolve production --json (baseline)':<52} {base_t * 1000:8.1f} ms   1.00x")
        for label, args, cwd in ((f"resolve --require-signed, 0 skipped", signed + ["--repo", str(clean)], root),
                                 (f"resolve --require-signed, {opts.skip} skipped", signed, root),
                                 (f"history --verify ({opts.assignments + 1} tags)", history, root)):
            t = median_time(args, cwd, env, runs=3 if "history" in label else 7)
            print(f"{label:<52} {t * 1000:8.1f} ms {t / base_t:6.2f}x")


if __name__ == "__main__":
    main()
