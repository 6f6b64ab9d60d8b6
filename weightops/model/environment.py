"""Environment capture for the model card: Python, platform, package versions, CPU, GPU/CUDA,
container image, and the sha256 of the files that pin the environment."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from weightops.storage.hashing import sha256_file

# Packages whose versions change how weights load or behave.
PACKAGES = (
    "torch", "tensorflow", "jax", "jaxlib", "onnx", "onnxruntime", "numpy", "scipy",
    "scikit-learn", "safetensors", "transformers", "accelerate", "xgboost", "lightgbm",
    "dvc", "weightops",
)
# Files that pin an environment, hashed into the card when the project has them.
PIN_FILES = (
    "requirements.txt", "requirements.lock", "requirements-dev.txt", "constraints.txt",
    "pyproject.toml", "poetry.lock", "uv.lock", "Pipfile", "Pipfile.lock", "setup.cfg",
    "environment.yml", "environment.yaml", "conda-lock.yml", "Dockerfile", "Containerfile",
)


def environment(project: Path | None) -> dict:
    """The card's `environment` mapping, read from this process and machine: Python version,
    platform, versions of the ML packages installed, CPU and (via `nvidia-smi`, when present) GPU
    name and driver, `CUDA_VERSION`, the container image named by
    `WEIGHTOPS_CONTAINER_IMAGE`/`CONTAINER_IMAGE`/`DOCKER_IMAGE`, and `pinned_files`: {file name:
    sha256 hex} of the pin files (requirements.txt, uv.lock, Dockerfile, ...) found in the `project`
    folder (none when it is None). A package, tool or variable that is missing gives None or no
    entry, not an error."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "cpu": _cpu_name(),
        "gpu": None,
        "cuda": os.environ.get("CUDA_VERSION") or None,
        "container_image": next((os.environ[k] for k in ("WEIGHTOPS_CONTAINER_IMAGE", "CONTAINER_IMAGE", "DOCKER_IMAGE")
                                 if os.environ.get(k)), None),
        "pinned_files": {},
    }
    gpu = _gpu()
    if gpu:
        env["gpu"], driver = gpu
        env.setdefault("gpu_driver", driver)
    if project is not None:
        for name in PIN_FILES:
            f = project / name
            if f.is_file():
                env["pinned_files"][name] = sha256_file(f)
    return env


def _cpu_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _gpu() -> tuple[str, str] | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    if not line:
        return None
    name, _, driver = line.partition(",")
    return name.strip(), driver.strip()
