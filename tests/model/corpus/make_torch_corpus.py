"""Regenerate tests/model/corpus/torch/: small PyTorch files and torch's own verdict on each.

Needs torch (not in the test environment: its wheel pulls CUDA). Run where torch is installed:

    python tests/model/corpus/make_torch_corpus.py            # writes the files + verdicts.json
    python tests/model/corpus/make_torch_corpus.py --check    # compares torch with the committed verdicts

The verdict of a file is what `torch.load(weights_only=True)` says (TorchScript archives:
`torch.jit.load`): "ok" with every tensor's dtype, shape, NaN count and float64 sum, or
"refused" with the error's type. tests/model/test_torch_corpus.py holds weightops to them.
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent / "torch"
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL", torch.complex64: "C64", torch.complex128: "C128", torch.uint16: "U16",
          torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2"}


def files() -> dict[str, bytes]:
    g = torch.Generator().manual_seed(0)
    out: dict[str, bytes] = {}

    def save(name: str, obj, legacy: bool = False) -> None:
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
        out[name] = buf.getvalue()

    sd = {"fc.weight": torch.randn(4, 3, generator=g), "fc.bias": torch.randn(4, generator=g)}
    save("zip_state_dict.pt", sd)
    # The first storage holds 128 elements: its 8-byte count starts with 0x80, the PROTO opcode.
    save("legacy_128_elements.pt", {"w": torch.randn(128, generator=g), "v": torch.randn(2, 3, generator=g)}, legacy=True)
    save("legacy_state_dict.pt", sd, legacy=True)
    base = torch.randn(6, 5, generator=g)
    strided = {"t": base.t(), "row": base[2], "col": base[:, 1], "all": base}
    save("zip_strided_views.pt", strided)
    save("legacy_strided_views.pt", strided, legacy=True)
    param = torch.nn.Parameter(torch.randn(3, 2, generator=g))
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    param.grad = torch.zeros_like(param)
    opt.step()   # a momentum buffer of zeros: optimizer state, not a trained weight
    save("checkpoint_nested.pt", {"state_dict": sd, "epoch": 3, "optimizer": opt.state_dict()})
    save("dtypes.pt", {"bf16": torch.randn(8, generator=g).bfloat16(), "f16": torch.randn(8, generator=g).half(),
                       "f64": torch.randn(3, generator=g).double(), "i64": torch.arange(5), "mask": torch.arange(4) > 1,
                       "c64": torch.randn(3, dtype=torch.complex64, generator=g),
                       "f8": torch.randn(16, generator=g).to(torch.float8_e4m3fn), "u16": torch.arange(7).to(torch.uint16)})
    nan = {"w": torch.randn(3, 3, generator=g)}
    nan["w"][1, 1] = float("nan")
    save("zip_nan.pt", nan)
    save("legacy_nan.pt", nan, legacy=True)
    save("whole_module.pt", torch.nn.Linear(3, 2))
    module = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)))
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    out["torchscript_sequential.pt"] = buf.getvalue()
    # Damaged files: a storage record cut short, a legacy file cut short, a wrong magic number.
    src = zipfile.ZipFile(io.BytesIO(out["zip_state_dict.pt"]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, data[:-4] if info.filename.endswith("/data/0") else data)
    out["zip_storage_cut.pt"] = buf.getvalue()
    out["legacy_truncated.pt"] = out["legacy_state_dict.pt"][:-6]
    legacy = out["legacy_state_dict.pt"]
    out["legacy_bad_magic.pt"] = legacy[:3] + bytes([legacy[3] ^ 0x01]) + legacy[4:]
    out.update(damaged(out["legacy_state_dict.pt"], out["zip_state_dict.pt"]))
    return out


def damaged(legacy: bytes, archive: bytes, count: int = 24) -> dict[str, bytes]:
    """Seeded one-byte changes to the pickles of a legacy file and of a zip's data.pkl (the zip
    rebuilt so its checksums stay valid): the structure both readers must judge alike."""
    import random

    rng = random.Random(18)
    out = {}
    pickle_end = legacy.rindex(b".") + 1   # the storage keys pickle's STOP, before the raw storages
    for i in range(count):
        pos = rng.randrange(0, min(pickle_end, len(legacy)))
        out[f"damaged_legacy_{i:02d}.pt"] = legacy[:pos] + bytes([rng.randrange(256)]) + legacy[pos + 1:]
    src = zipfile.ZipFile(io.BytesIO(archive))
    pkl = next(n for n in src.namelist() if n.endswith("data.pkl"))
    data = src.read(pkl)
    for i in range(count):
        pos = rng.randrange(len(data))
        changed = data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
            for info in src.infolist():
                dst.writestr(info.filename, changed if info.filename == pkl else src.read(info))
        out[f"damaged_zip_{i:02d}.pt"] = buf.getvalue()
    return out


def verdict(path: Path) -> dict:
    try:
        if zipfile.is_zipfile(path) and any(n.endswith("constants.pkl") for n in zipfile.ZipFile(path).namelist()):
            reference = "torch.jit.load"
            obj = dict(torch.jit.load(str(path)).state_dict())
        else:
            reference = "torch.load(weights_only=True)"
            obj = torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the verdict records whatever torch raised
        return {"reference": reference, "verdict": "refused", "error": type(exc).__name__}
    tensors = {}

    def walk(o, prefix: str) -> None:
        if isinstance(o, torch.Tensor):
            f = o.detach().to(torch.complex128).view(torch.float64) if o.is_complex() else o.detach().to(torch.float64)
            tensors[prefix] = {"dtype": DTYPES.get(o.dtype, str(o.dtype)), "shape": list(o.shape),
                               "nan": int(torch.isnan(f).sum()), "sum": float(torch.nansum(f))}
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(o, (list, tuple)):
            for i, v in enumerate(o):
                walk(v, f"{prefix}.{i}" if prefix else str(i))
    walk(obj, "")
    return {"reference": reference, "verdict": "ok", "tensors": tensors}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare torch with the committed verdicts")
    args = ap.parse_args()
    target = HERE / "verdicts.json"
    if args.check:
        want = {k: v for k, v in json.loads(target.read_text()).items() if not k.startswith("_")}
        got = {name: verdict(HERE / name) for name in want}
        bad = [n for n in want if json.dumps(got[n], sort_keys=True) != json.dumps(want[n], sort_keys=True)]
        raise SystemExit(f"torch {torch.__version__} disagrees on {bad}" if bad else 0)
    HERE.mkdir(parents=True, exist_ok=True)
    verdicts = {}
    for name, data in sorted(files().items()):
        (HERE / name).write_bytes(data)
        verdicts[name] = verdict(HERE / name)
    target.write_text(json.dumps({"_torch": torch.__version__, **verdicts}, indent=1, sort_keys=True) + "\n")
    print(f"{len(verdicts)} files, verdicts by torch {torch.__version__} in {target}")


if __name__ == "__main__":
    main()
