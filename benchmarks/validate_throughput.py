"""Weight validation throughput and memory, against two baselines on the same file.

Writes a safetensors file of random float32 tensors (default 1 GiB, real data, not sparse),
then runs each in its own process (median of --runs), reporting wall time and peak RSS:

    weightops validate FILE --against none         (every check, streamed)
    baseline: weightops.hashing.hash_file(FILE)    (sha256 + md5 in one pass: what release does)
    baseline: safetensors.safe_open + np.sum       (the library's mmap reader, tensor by tensor)

    python benchmarks/validate_throughput.py [--mib 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent

PROBES = {
    "weightops validate": "from weightops.model.validation import validate; assert validate(PATH, against='none').passed",
    "hash_file (baseline)": "from weightops.storage.hashing import hash_file; hash_file(PATH)",
    "safe_open (baseline)": ("from safetensors import safe_open; import numpy as np\n"
                             "with safe_open(PATH, framework='numpy') as f:\n"
                             "    [float(np.sum(f.get_tensor(k), dtype=np.float64)) for k in f.keys()]"),
}
WRAP = """
import json, resource, sys, time
PATH = sys.argv[1]
t = time.perf_counter()
{body}
secs = time.perf_counter() - t
# VmHWM is this program's own peak; ru_maxrss also carries the parent's RSS at fork/exec time.
try:
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"s": secs, "rss_mib": peak}}))
"""


def make_file(path: Path, mib: int) -> None:
    rng = np.random.default_rng(0)
    per = 64 * 1024 * 1024  # 64 MiB tensors, written one file at a time to keep this script small
    tensors = {}
    for i in range(max(1, mib // 64)):
        tensors[f"layers.{i}.weight"] = rng.standard_normal(per // 4, dtype=np.float32).reshape(-1, 4096)
    save_file(tensors, path)


def run(body: str, path: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", WRAP.format(body=body), str(path)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.safetensors"
        t = time.perf_counter()
        make_file(path, args.mib)
        size = path.stat().st_size
        print(f"file: {size / 2**20:.0f} MiB written in {time.perf_counter() - t:.1f} s")
        results = {}
        for name, body in PROBES.items():
            runs = [run(body, path) for _ in range(args.runs)]
            results[name] = (statistics.median(r["s"] for r in runs), max(r["rss_mib"] for r in runs))
        base = results["hash_file (baseline)"][0]
        for name, (secs, rss) in results.items():
            print(f"{name:<22} {secs:6.2f} s  {size / 2**20 / secs:7.0f} MiB/s  peak RSS {rss:6.0f} MiB  "
                  f"x{secs / base:.2f} of hash_file")


if __name__ == "__main__":
    main()
