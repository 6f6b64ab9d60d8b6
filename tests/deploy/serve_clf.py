"""A loader for the template's logistic-regression weights, as `--predict serve_clf:load`."""

import numpy as np
from safetensors.numpy import load_file


def load(weights_path):
    t = load_file(weights_path)
    w, b = t["linear.weight"][0], t["linear.bias"][0]

    def predict(x):
        return float(1.0 / (1.0 + np.exp(-(np.asarray(x, dtype=np.float32) @ w + b))))

    return predict
