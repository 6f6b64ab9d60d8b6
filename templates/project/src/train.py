"""Train a tiny logistic-regression model on synthetic data; write safetensors + metrics.

Deterministic for a given params.yaml, so `dvc repro` is reproducible.
"""

import argparse
import json
import os
import tempfile

import numpy as np
import yaml
from safetensors.numpy import save_file


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", required=True)
    ap.add_argument("--metrics", default="metrics.json")
    args = ap.parse_args()
    with open(args.params) as f:
        p = yaml.safe_load(f)["train"]

    rng = np.random.default_rng(p["seed"])
    n, d = int(p["n_samples"]), int(p["n_features"])
    true_w = rng.normal(size=d)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ true_w + 0.3 * rng.normal(size=n) > 0).astype(np.float32)

    w = np.zeros(d, dtype=np.float32)
    b = np.float32(0.0)
    for _ in range(int(p["epochs"])):
        prob = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        grad = prob - y
        w -= float(p["lr"]) * (x.T @ grad) / n
        b -= float(p["lr"]) * grad.mean()

    prob = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    eps = 1e-7
    metrics = {
        "accuracy": round(float(((prob > 0.5) == y).mean()), 4),
        "loss": round(float(-(y * np.log(prob + eps) + (1 - y) * np.log(1 - prob + eps)).mean()), 4),
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    # Write to a temp file and rename, so a killed run never leaves half a weights file.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(args.out) or ".", suffix=".tmp")
    os.close(fd)
    save_file({"linear.weight": w.reshape(1, d), "linear.bias": np.array([b], dtype=np.float32)},
              tmp, metadata={"format": "np"})
    os.replace(tmp, args.out)
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
