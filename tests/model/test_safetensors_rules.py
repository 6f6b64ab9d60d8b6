"""safetensors judged as its own loader judges it: weightops accepts and refuses exactly the
files `safetensors.safe_open` accepts and refuses (hand-made cases for each rule of the
loader, then seeded random damage to valid files), knows every dtype of the format, checks
the floats it can decode and reports the others as present, not decoded."""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
from helpers import assert_one_line_error, run_cli
from safetensors import safe_open

from weightops.errors import FormatError
from weightops.model.stats import collect_stats
from weightops.model.formats import read_tensors
from weightops.model.formats.base import BITS


def st(header: dict | bytes, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def ent(dtype: str, shape: list, start: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


def reference(path) -> str:
    try:
        with safe_open(str(path), framework="np") as f:
            for k in f.keys():  # noqa: SIM118 - a safe_open handle, not a dict
                f.get_slice(k).get_shape()
        return "ok"
    except Exception:  # noqa: BLE001 - the loader's error types vary by version
        return "refused"


def ours(path) -> str:
    try:
        for t in read_tensors(path):
            pass
        return "ok"
    except FormatError:
        return "refused"


A = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'  # bytes headers below use %-format (no f-bytes)
CASES = {
    "valid": (st({"a": ent("F32", [2], 0, 8)}), b"\0" * 8),
    "two tensors share one byte range": (st({"a": ent("F32", [1], 0, 4), "b": ent("F32", [1], 0, 4)}), b"\0" * 4),
    "overlap": (st({"a": ent("F32", [2], 0, 8), "b": ent("F32", [1], 4, 8)}), b"\0" * 8),
    "gap between tensors": (st({"a": ent("F32", [1], 0, 4), "b": ent("F32", [1], 8, 12)}), b"\0" * 12),
    "data not fully covered": (st({"a": ent("F32", [1], 0, 4)}), b"\0" * 5),
    "points past the end": (st({"a": ent("F32", [2], 0, 8)}), b"\0" * 4),
    "size disagrees with shape": (st({"a": ent("F32", [3], 0, 8)}), b"\0" * 8),
    "out-of-order offsets": (st({"a": ent("F32", [1], 4, 8), "b": ent("F32", [1], 0, 4)}), b"\0" * 8),
    "unknown dtype": (st({"a": ent("Q99", [1], 0, 4)}), b"\0" * 4),
    "C64 (complex rotary buffers)": (st({"a": ent("C64", [2], 0, 16)}), b"\0" * 16),
    "F8_E8M0 (microscaling scales)": (st({"a": ent("F8_E8M0", [4], 0, 4)}), b"\x7f" * 4),
    "F4 packed whole bytes": (st({"a": ent("F4", [4], 0, 2)}), b"\0" * 2),
    "F6 not ending on a byte": (st({"a": ent("F6_E2M3", [3], 0, 3)}), b"\0" * 3),
    "zero-sized tensors": (st({"a": ent("F32", [0], 0, 0), "b": ent("F32", [1], 0, 4)}), b"\0" * 4),
    "scalar": (st({"a": ent("F64", [], 0, 8)}), b"\0" * 8),
    "metadata of strings": (st({"__metadata__": {"format": "pt"}, "a": ent("F32", [1], 0, 4)}), b"\0" * 4),
    "metadata value not a string": (st({"__metadata__": {"k": 1}, "a": ent("F32", [1], 0, 4)}), b"\0" * 4),
    "metadata null": (st(('{"__metadata__":null,"a":%s}' % A).encode()), b"\0" * 4),
    "metadata twice": (st(('{"__metadata__":{},"__metadata__":{},"a":%s}' % A).encode()), b"\0" * 4),
    "tensor name twice (last wins)": (st(('{"a":%s,"a":%s}' % (A, json.dumps(ent("F32", [2], 0, 8)))).encode()), b"\0" * 8),
    "field twice": (st(b'{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), b"\0" * 4),
    "entry as an array": (st(b'{"a":["F32",[1],[0,4]]}'), b"\0" * 4),
    "entry as a short array": (st(b'{"a":["F32",[1]]}'), b"\0" * 4),
    "extra field ignored": (st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}'), b"\0" * 4),
    "missing field": (st(b'{"a":{"dtype":"F32","shape":[1]}}'), b"\0" * 4),
    "float in shape": (st(b'{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}'), b"\0" * 4),
    "negative offset": (st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}'), b"\0" * 4),
    "three offsets": (st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}'), b"\0" * 4),
    "boolean in shape": (st(b'{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}'), b"\0" * 4),
    "shape overflows": (st(b'{"a":{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,4]}}'), b"\0" * 4),
    "offset past u64": (st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551620]}}'), b"\0" * 4),
    "leading whitespace padding": (st(b'  \n{"a":%s}' % A.encode()), b"\0" * 4),
    "trailing space padding": (st(b'{"a":%s}    ' % A.encode()), b"\0" * 4),
    "trailing NUL padding": (st(b'{"a":%s}\0\0' % A.encode()), b"\0" * 4),
    "NaN literal in header": (st(b'{"__metadata__":{},"a":{"dtype":"F32","shape":[NaN],"data_offsets":[0,4]}}'), b"\0" * 4),
    "lone surrogate escape": (st(b'{"__metadata__":{"k":"\\ud800"},"a":%s}' % A.encode()), b"\0" * 4),
    "header not an object": (st(b"[]"), b""),
    "header not UTF-8": (st(b'{"\xff":%s}' % A.encode()), b"\0" * 4),
    "header not JSON": (st(b"{nope"), b""),
    "empty header object": (st(b"{}"), b""),
    "header length past the end": (struct.pack("<Q", 1000) + b"{}", b""),
    "header over 100 MB": (struct.pack("<Q", 100_000_001) + b"{}", b""),
    "shorter than 8 bytes": (b"\x02\0\0", b""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdict_matches_the_safetensors_loader(tmp_path, case):
    head, data = CASES[case]
    path = tmp_path / "m.safetensors"
    path.write_bytes(head + data)
    assert ours(path) == reference(path), case


def test_random_damage_gets_the_loaders_verdict(tmp_path):
    rng = random.Random(18)
    base = {"emb": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, dtype=np.float16)}
    from safetensors.numpy import save

    valid = save(base, metadata={"format": "np"})
    disagreements = []
    for i in range(300):
        blob = bytearray(valid)
        n = struct.unpack("<Q", blob[:8])[0]
        how = rng.choice(["flip", "length", "truncate", "append"])
        if how == "flip":
            pos = rng.randrange(8, 8 + n)
            blob[pos] = rng.choice(b'{}[]",:0123456789 aFUBIC_\\')
        elif how == "length":
            blob[:8] = struct.pack("<Q", max(0, n + rng.randint(-9, 9)))
        elif how == "truncate":
            del blob[rng.randrange(len(blob)):]
        else:
            blob += bytes(rng.randrange(1, 9))
        path = tmp_path / f"m{i}.safetensors"
        path.write_bytes(bytes(blob))
        if ours(path) != reference(path):
            disagreements.append((how, bytes(blob[:8 + n + 16])))
    assert not disagreements, disagreements[:3]


def test_every_dtype_of_the_format_is_known(tmp_path):
    for dtype, bits in BITS.items():
        count = 8   # 8 values fill whole bytes for 4- and 6-bit dtypes too
        nbytes = count * bits // 8
        path = tmp_path / f"{dtype}.safetensors"
        path.write_bytes(st({"t": ent(dtype, [count], 0, nbytes)}, bytes(nbytes)))
        assert reference(path) == "ok" and ours(path) == "ok", dtype


def test_complex_and_microscaling_tensors_are_checked(tmp_path):
    c = np.array([1 + 2j, np.nan + 0j], dtype="<c8").tobytes()
    (tmp_path / "rope.safetensors").write_bytes(st({"freqs": ent("C64", [2], 0, 16)}, c))
    stats = collect_stats(tmp_path / "rope.safetensors")["freqs"]
    assert (stats.decoded, stats.nan, stats.max) == (True, 1, 2.0)
    scales = bytes([127, 128, 126, 255])   # 2^0, 2^1, 2^-1, NaN
    (tmp_path / "mx.safetensors").write_bytes(st({"scale": ent("F8_E8M0", [4], 0, 4)}, scales))
    stats = collect_stats(tmp_path / "mx.safetensors")["scale"]
    assert (stats.nan, stats.min, stats.max) == (1, 0.5, 2.0)
    proc = run_cli(["validate", "rope.safetensors"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "finite", "freqs")


def test_sub_byte_floats_are_present_not_decoded(tmp_path):
    (tmp_path / "q.safetensors").write_bytes(st({"w": ent("F4", [8], 0, 4), "b": ent("F32", [2], 4, 12)},
                                                bytes(4) + np.array([0.5, 1.5], "<f4").tobytes()))
    proc = run_cli(["validate", "q.safetensors", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 tensor(s) present, not decoded (F4)" in proc.stdout


def test_shared_byte_range_names_the_tensor_in_one_line(tmp_path):
    head, data = CASES["overlap"]
    (tmp_path / "m.safetensors").write_bytes(head + data)
    assert_one_line_error(run_cli(["validate", "m.safetensors"], cwd=tmp_path), 5, "m.safetensors",
                          "tensor 'b'", "overlaps")
