"""Weight validation throughput and peak memory per format, beside `sha256sum` of the same bytes.

For each format, writes a file of random float32 tensors (default 512 MiB of real data, not
sparse: 64 MiB tensors), then runs each probe in its own process (median of --runs) and
reports wall time, CPU time (user + system: steadier than wall time on a shared machine),
MiB/s and peak RSS (VmHWM):

    weightops validate FILE --against none      (reading + every check, streamed)
    sha256sum FILE                              (the floor: reading and hashing the bytes once)

Formats: safetensors, .npy, PyTorch zip (torch.save layout), PyTorch legacy, GGUF (F32),
Keras/HDF5, ONNX with external data and with inline weights. Files are written by tests/model/format_writers.py (no
torch needed) and the formats' own libraries.

    python benchmarks/validate_throughput.py [--mib 512] [--runs 3] [--formats safetensors,gguf]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
TENSOR_MIB = 64

WRAP = """
import json, sys, time
PATH = sys.argv[1]
t, c = time.perf_counter(), time.process_time()
from weightops.model.validation import validate
validate(PATH, against="none")
secs, cpu = time.perf_counter() - t, time.process_time() - c
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps({"s": secs, "cpu": cpu, "rss_mib": peak}))
"""


def tensors(mib: int) -> dict:
    per = TENSOR_MIB * 1024 * 1024 // 4
    out = {}
    for i in range(max(1, mib // TENSOR_MIB)):
        def blocks(seed=i):
            yield np.random.default_rng(seed).standard_normal(per, dtype=np.float32)
        out[f"layers.{i}.weight"] = ((per // 4096, 4096), blocks)
    return out


def write(fmt: str, folder: Path, mib: int) -> Path:
    from model import format_writers as w

    ts = tensors(mib)
    if fmt == "safetensors":
        import struct
        path = folder / "m.safetensors"
        header, offset = {}, 0
        for name, (shape, _) in ts.items():
            n = int(np.prod(shape)) * 4
            header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
            offset += n
        head = json.dumps(header).encode()
        head += b" " * (-len(head) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(head)) + head)
            for _, blocks in ts.values():
                f.writelines(b.tobytes() for b in blocks())
        return path
    if fmt == "npy":
        path = folder / "m.npy"
        total = sum(int(np.prod(s)) for s, _ in ts.values())
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(total,))
        pos = 0
        for _, blocks in ts.values():
            for b in blocks():
                arr[pos:pos + b.size] = b
                pos += b.size
        arr.flush()
        del arr
        return path
    if fmt == "pytorch-zip":
        path = folder / "m.pt"
        w.torch_zip(path, ts)
        return path
    if fmt == "pytorch-legacy":
        path = folder / "legacy.pt"
        w.torch_legacy(path, ts)
        return path
    if fmt == "gguf":
        path = folder / "m.gguf"
        w.gguf_file(path, ts)
        return path
    if fmt == "hdf5":
        import h5py
        path = folder / "m.h5"
        with h5py.File(path, "w") as f:
            for name, (shape, blocks) in ts.items():
                f[name.replace(".", "/")] = next(blocks()).reshape(shape)
        return path
    if fmt in ("onnx-external", "onnx-inline"):
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        path = folder / "m.onnx"
        inits, nodes, prev = [], [], "x"
        for i, (name, (shape, blocks)) in enumerate(ts.items()):
            inits.append(numpy_helper.from_array(next(blocks()).reshape(shape), name))
            nodes.append(helper.make_node("Add", [prev, name], [f"h{i}"]))
            prev = f"h{i}"
        shape = next(iter(ts.values()))[0]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                                  [helper.make_tensor_value_info(prev, TensorProto.FLOAT, list(shape))], inits)
        if fmt == "onnx-inline":   # weights inside the protobuf (under its 2 GB limit)
            onnx.save_model(helper.make_model(graph), str(path))
        else:
            onnx.save_model(helper.make_model(graph), str(path), save_as_external_data=True,
                            all_tensors_to_one_file=True, location="m.onnx.data", size_threshold=0)
        return path
    raise SystemExit(f"unknown format {fmt}")


FORMATS = ("safetensors", "npy", "pytorch-zip", "pytorch-legacy", "gguf", "hdf5", "onnx-external", "onnx-inline")


def run_validate(path: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", WRAP, str(path)], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def run_sha256sum(paths: list[Path]) -> tuple[float, float]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, paths)], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - t, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    print(f"{'format':<16}{'MiB':>6}{'validate s':>11}{'cpu s':>7}{'MiB/s':>7}{'peak RSS':>9}"
          f"{'sha256sum s':>12}{'cpu s':>7}{'MiB/s':>7}{'wall ratio':>11}{'cpu ratio':>10}")
    for fmt in args.formats.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            path = write(fmt, Path(tmp), args.mib)
            files = [p for p in Path(tmp).iterdir() if p.is_file()]
            size = sum(p.stat().st_size for p in files) / 2 ** 20
            runs = [run_validate(path) for _ in range(args.runs)]
            secs = statistics.median(r["s"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            rss = max(r["rss_mib"] for r in runs)
            shas = [run_sha256sum(files) for _ in range(args.runs)]
            sha, sha_cpu = statistics.median(s for s, _ in shas), statistics.median(c for _, c in shas)
            print(f"{fmt:<16}{size:6.0f}{secs:11.2f}{cpu:7.2f}{size / secs:7.0f}{rss:8.0f}M"
                  f"{sha:12.2f}{sha_cpu:7.2f}{size / sha:7.0f}{secs / sha:10.2f}x{cpu / max(sha_cpu, 1e-9):9.2f}x",
                  flush=True)


if __name__ == "__main__":
    main()
