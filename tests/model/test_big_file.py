"""A 2 GB safetensors file is validated tensor by tensor, in chunks: peak memory stays far
below the file's size. The file is sparse (a random block at the start of each tensor, the
rest holes), so it is written in well under a second and takes little disk."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import ROOT

GB = 1024 ** 3
TENSORS = 8
PER_TENSOR = 2 * GB // TENSORS          # 256 MiB of float32 each
BLOCK = 1024 * 1024                     # random bytes written at the start of each tensor


def sparse_safetensors(path, nan_in: str | None = None) -> int:
    rows = PER_TENSOR // 4 // 4096
    header, offset = {}, 0
    for i in range(TENSORS):
        name = f"layers.{i}.{'bias' if i % 2 else 'weight'}"
        header[name] = {"dtype": "F32", "shape": [rows, 4096], "data_offsets": [offset, offset + PER_TENSOR]}
        offset += PER_TENSOR
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    base = 8 + len(head)
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for name, info in header.items():
            block = rng.normal(size=BLOCK // 4).astype(np.float32)
            if name == nan_in:
                block[1234] = np.nan
            f.seek(base + info["data_offsets"][0])
            f.write(block.tobytes())
        f.truncate(base + offset)
    return base + offset


PROBE = """
import json, resource, sys
from weightops.model.validation import validate
report = validate(sys.argv[1], against="none")
# ru_maxrss also carries the RSS the parent (pytest) had when it forked this process; VmHWM
# is this program's own peak, so it is the figure asserted on where /proc exists.
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
except OSError:
    pass
print(json.dumps({"peak_kib": peak, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "passed": report.passed,
                  "offending": {c.name: list(c.offending) for c in report.checks},
                  "parameters": report.parameters}))
"""


def measure(path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_two_gigabyte_file_validated_in_bounded_memory(tmp_path):
    path = tmp_path / "big.safetensors"
    size = sparse_safetensors(path, nan_in="layers.5.bias")
    assert size > 2 * GB - 1
    start = time.monotonic()
    result = measure(path)
    elapsed = time.monotonic() - start
    peak_mib = result["peak_kib"] / 1024
    print(f"\n2 GiB safetensors: peak RSS {peak_mib:.0f} MiB ({peak_mib * 1024 * 1024 / size:.1%} of the file; "
          f"ru_maxrss {result['maxrss_kib'] / 1024:.0f} MiB), {elapsed:.1f} s")
    assert result["parameters"] == TENSORS * PER_TENSOR // 4
    # The checks really read the values: the one NaN, deep in a 256 MiB tensor, is found.
    assert result["passed"] is False
    assert result["offending"]["finite"] == ["layers.5.bias"]
    assert result["offending"]["all_zero"] == [] and result["offending"]["constant"] == []
    assert peak_mib < 300, f"peak RSS {peak_mib:.0f} MiB for a {size / GB:.1f} GiB file"


def _sparse_tensors(nan_in: str | None) -> dict:
    rows = PER_TENSOR // 4 // 4096
    rng = np.random.default_rng(0)
    out = {}
    for i in range(TENSORS):
        name = f"layers.{i}.{'bias' if i % 2 else 'weight'}"

        def blocks(name=name):
            block = rng.normal(size=BLOCK // 4).astype(np.float32)
            if name == nan_in:
                block[1234] = np.nan
            yield block
        out[name] = ((rows, 4096), blocks)
    return out


@pytest.mark.parametrize("fmt", ["legacy.pt", "model.gguf"])
def test_two_gigabyte_pytorch_and_gguf_files_validated_in_bounded_memory(tmp_path, fmt):
    from model.format_writers import gguf_file, torch_legacy

    path = tmp_path / fmt
    (torch_legacy if fmt.endswith(".pt") else gguf_file)(path, _sparse_tensors("layers.5.bias"), sparse=True)
    size = path.stat().st_size
    assert size > 2 * GB - 1
    result = measure(path)
    peak_mib = result["peak_kib"] / 1024
    print(f"\n2 GiB {fmt}: peak RSS {peak_mib:.0f} MiB ({peak_mib * 1024 * 1024 / size:.1%} of the file)")
    assert result["parameters"] == TENSORS * PER_TENSOR // 4
    assert result["offending"]["finite"] == ["layers.5.bias"]
    assert peak_mib < 300, f"peak RSS {peak_mib:.0f} MiB for a {size / GB:.1f} GiB file"
