"""What a ShadowRunner costs the caller: primary latency with and without a shadow candidate.

The primary is a small numpy model (a 256x256 matrix-vector product, a few microseconds);
the candidate is the same model plus a sleep (`--candidate-ms`, default 5 ms), so the worker is
always behind and the queue sheds load. Prints p50/p99 per call for the direct primary (the
baseline) and through the runner, their ratio, and how many shadow calls were dropped.

    python benchmarks/shadow_overhead.py [--calls 5000] [--candidate-ms 5] [--queue 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from weightops.deploy.shadow import ShadowRunner  # noqa: E402


def timed(fn, inputs) -> list[float]:
    lat = []
    for x in inputs:
        t = time.perf_counter()
        fn(x)
        lat.append((time.perf_counter() - t) * 1e6)
    return lat


def q(values: list[float], p: float) -> float:
    return sorted(values)[int(p * (len(values) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--candidate-ms", type=float, default=5.0)
    ap.add_argument("--queue", type=int, default=64)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    w = rng.normal(size=(256, 256)).astype(np.float32)
    inputs = [rng.normal(size=256).astype(np.float32) for _ in range(args.calls)]

    def primary(x):
        return w @ x

    def candidate(x):
        time.sleep(args.candidate_ms / 1000)
        return w @ x

    timed(primary, inputs[:200])  # warm up
    direct = timed(primary, inputs)
    with tempfile.TemporaryDirectory() as tmp:
        runner = ShadowRunner(primary, candidate, log=Path(tmp) / "s.jsonl", queue_size=args.queue)
        shadowed = timed(runner, inputs)
        runner.close()
    print(f"{args.calls} calls, candidate +{args.candidate_ms} ms, queue {args.queue}")
    print(f"direct primary (baseline): p50 {statistics.median(direct):7.1f} us  p99 {q(direct, 0.99):7.1f} us")
    print(f"through ShadowRunner:      p50 {statistics.median(shadowed):7.1f} us  p99 {q(shadowed, 0.99):7.1f} us")
    print(f"ratio: p50 {statistics.median(shadowed) / statistics.median(direct):.2f}x  "
          f"p99 {q(shadowed, 0.99) / q(direct, 0.99):.2f}x; dropped {runner.dropped} of {runner.calls}")


if __name__ == "__main__":
    main()
