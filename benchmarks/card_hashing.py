"""`weightops card` on a large file next to `sha256sum` and `md5sum` (the baselines), and the
wall time of `weightops resolve v1.0.0`, all as whole processes.

    python benchmarks/card_hashing.py [--gib 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(args, cwd, env, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mib(args, cwd, env):
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return int(proc.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="weightops-hash-"))
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONPATH=str(ROOT))
    weightops = str(Path(sys.executable).with_name("weightops"))
    try:
        big = base / "big.safetensors"
        block = os.urandom(16 << 20)
        with open(big, "wb") as f:
            for _ in range(int(args.gib * 64)):
                f.write(block)
        subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        size = big.stat().st_size / (1 << 30)
        results = {
            "sha256sum": timed(["sha256sum", str(big)], base, env, args.runs),
            "md5sum": timed(["md5sum", str(big)], base, env, args.runs),
            "weightops card (sha256+md5)": timed([weightops, "card", str(big), "-o", str(base / "c.yaml"), "--model", "big"],
                                                 base, env, args.runs),
        }
        print(f"file: {size:.2f} GiB, median of {args.runs} runs, page cache warm")
        for name, value in results.items():
            print(f"  {name:<30} {value:7.2f} s   {value / results['sha256sum']:5.2f}x sha256sum   "
                  f"{value / results['md5sum']:5.2f}x md5sum")
        print(f"  weightops card peak RSS: {peak_rss_mib([weightops, 'card', str(big), '-o', str(base / 'c.yaml')], base, env):.0f} MiB")

        project = base / "demo"
        subprocess.run([weightops, "demo", "--dir", str(project)], env=env, check=True, capture_output=True)
        repo = project / "project"
        resolve = timed([weightops, "resolve", "v1.0.0", "--json"], repo, env, 10)
        floor = timed([sys.executable, "-c", "pass"], repo, env, 10)
        print(f"  weightops resolve v1.0.0: {resolve * 1000:.0f} ms (python -c pass: {floor * 1000:.0f} ms)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
