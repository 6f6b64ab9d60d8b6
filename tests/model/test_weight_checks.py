"""Weight checks on real files written with numpy/safetensors, through the CLI as a user runs it."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from helpers import assert_one_line_error, run_cli

from weightops.model.stats import collect_stats


def model(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "encoder.0.weight": rng.normal(0, 0.2, size=(64, 32)).astype(np.float32),
        "encoder.0.bias": rng.normal(0, 0.1, size=64).astype(np.float32),
        "head.weight": rng.normal(0, 0.2, size=(4, 64)).astype(np.float32),
        "head.bias": rng.normal(0, 0.1, size=4).astype(np.float32),
    }


def validate(tmp_path, *args: str):
    return run_cli(["validate", *args], cwd=tmp_path)


def test_clean_model_passes_and_writes_a_report(tmp_path):
    save_file(model(), tmp_path / "m.safetensors")
    proc = validate(tmp_path, "m.safetensors", "-o", "report.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "passed" in proc.stdout.splitlines()[-2]
    report = yaml.safe_load((tmp_path / "report.yaml").read_text())
    assert report["passed"] is True and report["tensors"] == 4
    assert report["parameters"] == 64 * 32 + 64 + 4 * 64 + 4
    assert set(report["checks"]) == {"finite", "all_zero", "constant", "signature"}
    assert all(c["passed"] and c["offending"] == [] for c in report["checks"].values())
    # Outside a repository there is no production to compare with, and the report says so.
    assert "not compared against production" in report["notes"][0]


def test_one_nan_in_one_bias_is_caught_and_named(tmp_path):
    w = model()
    w["head.bias"][2] = np.nan
    save_file(w, tmp_path / "m.safetensors")
    proc = validate(tmp_path, "m.safetensors", "-o", "report.yaml")
    assert_one_line_error(proc, 5, "finite", "head.bias")
    assert "FAIL finite     head.bias" in proc.stdout
    report = yaml.safe_load((tmp_path / "report.yaml").read_text())
    assert report["passed"] is False
    assert report["checks"]["finite"]["offending"] == ["head.bias"]
    assert report["checks"]["finite"]["figures"] == {"head.bias": {"nan": 1, "inf": 0}}
    # The other checks still ran and passed: only the broken tensor is named.
    assert report["checks"]["all_zero"]["passed"] and report["checks"]["constant"]["passed"]


def test_inf_is_caught_too(tmp_path):
    w = model()
    w["encoder.0.weight"][5, 7] = -np.inf
    save_file(w, tmp_path / "m.safetensors")
    out = validate(tmp_path, "m.safetensors", "--json")
    assert out.returncode == 5
    figures = json.loads(out.stdout)["checks"]["finite"]["figures"]
    assert figures == {"encoder.0.weight": {"nan": 0, "inf": 1}}


def test_all_zero_layer_is_caught(tmp_path):
    w = model()
    w["head.weight"][:] = 0
    save_file(w, tmp_path / "m.safetensors")
    proc = validate(tmp_path, "m.safetensors")
    assert_one_line_error(proc, 5, "all_zero", "head.weight")


def test_constant_layer_is_caught_but_a_single_value_is_not(tmp_path):
    w = model()
    w["encoder.0.weight"][:] = 0.5
    w["scale"] = np.array([1.0], dtype=np.float32)      # one value: constant by nature
    w["step"] = np.zeros(3, dtype=np.int64)             # integer buffers are not weights
    save_file(w, tmp_path / "m.safetensors")
    report = json.loads(validate(tmp_path, "m.safetensors", "--json").stdout)
    assert report["checks"]["constant"]["offending"] == ["encoder.0.weight"]
    assert report["checks"]["constant"]["figures"]["encoder.0.weight"]["value"] == 0.5
    assert report["checks"]["all_zero"]["passed"]


def test_npz_is_read_member_by_member_with_the_same_figures(tmp_path):
    w = model()
    w["head.bias"][0] = np.nan
    save_file(w, tmp_path / "m.safetensors")
    np.savez_compressed(tmp_path / "m.npz", **w)
    a, b = collect_stats(tmp_path / "m.safetensors"), collect_stats(tmp_path / "m.npz")
    assert a.keys() == b.keys()
    for name in a:
        assert (a[name].shape, a[name].nan, a[name].count) == (b[name].shape, b[name].nan, b[name].count)
        assert a[name].mean == pytest.approx(float(np.nanmean(w[name].astype(np.float64))), rel=1e-9, abs=1e-12)
        assert b[name].std == pytest.approx(float(np.nanstd(w[name].astype(np.float64))), rel=1e-9)
    assert_one_line_error(validate(tmp_path, "m.npz"), 5, "finite", "head.bias")


def test_npz_with_python_objects_is_refused_without_unpickling(tmp_path):
    np.savez(tmp_path / "obj.npz", w=np.array([{"a": 1}], dtype=object))
    assert_one_line_error(validate(tmp_path, "obj.npz"), 5, "Python objects", "refused")


def test_bfloat16_tensors_are_widened_and_checked(tmp_path):
    # bf16 is the upper half of a float32; write raw safetensors by hand (numpy has no bf16).
    values = np.array([1.0, -2.0, np.nan, 0.5], dtype=np.float32)
    raw = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"x": {"dtype": "BF16", "shape": [4], "data_offsets": [0, len(raw)]}}).encode()
    (tmp_path / "bf.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + raw)
    stats = collect_stats(tmp_path / "bf.safetensors")["x"]
    assert (stats.nan, stats.min, stats.max, stats.dtype) == (1, -2.0, 1.0, "BF16")


@pytest.mark.parametrize("header", [
    {"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 4096]}},      # points past the end
    {"x": {"dtype": "F32", "shape": [8], "data_offsets": [0, 16]}},        # size disagrees with shape
    {"x": {"dtype": "Q99", "shape": [4], "data_offsets": [0, 16]}},        # unknown dtype
])
def test_malformed_safetensors_header_is_a_one_line_error(tmp_path, header):
    head = json.dumps(header).encode()
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + b"\0" * 16)
    assert_one_line_error(validate(tmp_path, "bad.safetensors"), 5, "bad.safetensors", "'x'")


def test_not_a_weights_file_is_refused_with_exit_5(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert_one_line_error(validate(tmp_path, "notes.txt"), 5, "notes.txt", "not a weights format")
    (tmp_path / "short.safetensors").write_bytes(b"\x01\x02")
    assert_one_line_error(validate(tmp_path, "short.safetensors"), 5, "not a safetensors file")


def test_ignore_patterns_exempt_tensors_from_value_checks(tmp_path):
    w = model()
    w["proj.weight"] = np.ones((16, 16), dtype=np.float32)  # a weight matrix left at one value
    save_file(w, tmp_path / "m.safetensors")
    assert_one_line_error(validate(tmp_path, "m.safetensors"), 5, "constant", "proj.weight")
    # Outside a git repository there is no weightops.yaml; inside one, `ignore:` applies.
    run_cli(["init", str(tmp_path / "p"), "--model", "m"], cwd=tmp_path, check=True)
    cfg = tmp_path / "p" / "weightops.yaml"
    cfg.write_text(cfg.read_text() + "validation:\n  ignore: ['proj.*']\n")
    save_file(w, tmp_path / "p" / "m.safetensors")
    proc = run_cli(["validate", "m.safetensors", "--against", "none"], cwd=tmp_path / "p")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_drift_between_two_files_is_caught_beyond_the_threshold_only(tmp_path):
    old = model()
    save_file(old, tmp_path / "old.safetensors")
    small = {k: v * 1.02 for k, v in old.items()}
    save_file(small, tmp_path / "small.safetensors")
    jumped = {k: v.copy() for k, v in old.items()}
    jumped["encoder.0.weight"] += 0.6   # mean jumps by 3x the tensor's RMS (0.2); the limit is 2.5
    save_file(jumped, tmp_path / "jumped.safetensors")

    ok = validate(tmp_path, "small.safetensors", "--against", "old.safetensors", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["checks"]["drift"]["passed"] is True

    bad = validate(tmp_path, "jumped.safetensors", "--against", "old.safetensors", "-o", "r.yaml")
    assert_one_line_error(bad, 5, "drift", "encoder.0.weight")
    fig = yaml.safe_load((tmp_path / "r.yaml").read_text())["checks"]["drift"]["figures"]["encoder.0.weight"]
    assert fig["mean"]["drift"] == pytest.approx(3.0, rel=0.05) and fig["mean"]["limit"] == 2.5
    assert fig["mean"]["new"] == pytest.approx(fig["mean"]["old"] + 0.6, rel=1e-3)


def test_tensors_added_removed_and_reshaped_are_reported(tmp_path):
    old = model()
    save_file(old, tmp_path / "old.safetensors")
    new = dict(old)
    del new["head.bias"]
    new["head.weight"] = old["head.weight"].reshape(8, 32)
    new["extra.weight"] = old["head.weight"]
    save_file(new, tmp_path / "new.safetensors")
    proc = validate(tmp_path, "new.safetensors", "--against", "old.safetensors", "--json")
    assert proc.returncode == 5
    figures = json.loads(proc.stdout)["checks"]["structure"]["figures"]
    assert figures == {
        "head.bias": {"change": "removed", "shape": [4]},
        "extra.weight": {"change": "added", "shape": [4, 64]},
        "head.weight": {"change": "reshaped", "from": [4, 64], "to": [8, 32]},
    }


def test_report_is_deterministic_so_its_digest_can_be_reproduced(tmp_path):
    save_file(model(), tmp_path / "m.safetensors")
    a = json.loads(validate(tmp_path, "m.safetensors", "--json").stdout)["digest"]
    b = json.loads(validate(tmp_path, "m.safetensors", "--json").stdout)["digest"]
    assert a == b and a.startswith("sha256:")


@pytest.mark.parametrize("section, needle", [
    ({"drift": {"mean": -1}}, "validation.drift"),
    ({"drift": {"median": 0.1}}, "validation.drift"),
    ({"checks": ["finite", "vibes"]}, "validation.checks"),
    ({"ignore": "norm.*"}, "validation.ignore"),
    ({"thresholds": {}}, "unknown key"),
])
def test_bad_validation_config_names_the_key(section, needle):
    from weightops.core.config import settings_from_doc
    from weightops.errors import UsageError

    with pytest.raises(UsageError) as err:
        settings_from_doc({"validation": section})
    assert needle in str(err.value)


def test_bias_thresholds_apply_to_biases_only(tmp_path):
    from weightops.core.config import settings_from_doc
    from weightops.model.checks import check_drift

    def parse_validation_config(section):
        return settings_from_doc({"validation": section or {}}).validation

    old = model()
    old["encoder.0.bias"] = np.random.default_rng(5).normal(0, 0.1, size=512).astype(np.float32)
    save_file(old, tmp_path / "old.safetensors")
    # The same relative shift (0.3 x RMS) in the weights and in the biases.
    new = {k: v + 0.3 * np.sqrt((v.astype(np.float64) ** 2).mean()) for k, v in old.items()}
    save_file({k: v.astype(np.float32) for k, v in new.items()}, tmp_path / "new.safetensors")
    a, b = collect_stats(tmp_path / "old.safetensors"), collect_stats(tmp_path / "new.safetensors")
    cfg = parse_validation_config({"bias_drift": {"mean": 0.1}})
    # head.bias has 4 values: too few for its mean to be judged alone (the whole model's L2 moved 4%).
    assert check_drift(b, a, cfg).offending == ("encoder.0.bias",)
    assert check_drift(b, a, parse_validation_config(None)).passed


def test_drift_names_a_non_finite_tensor_as_not_judged_rather_than_a_drift_of_zero(tmp_path):
    old = model()
    save_file(old, tmp_path / "old.safetensors")
    broken = {k: v.copy() for k, v in old.items()}
    broken["encoder.0.weight"][3, 3] = np.nan   # 2048 values: judged alone when finite
    save_file(broken, tmp_path / "nan.safetensors")
    proc = validate(tmp_path, "nan.safetensors", "--against", "old.safetensors", "-o", "r.yaml")
    assert_one_line_error(proc, 5, "finite", "encoder.0.weight")   # `finite` fails it ...
    drift = yaml.safe_load((tmp_path / "r.yaml").read_text())["checks"]["drift"]
    assert drift["passed"] is True   # ... drift does not judge it twice, and says so
    assert "not judged: non-finite encoder.0.weight" in drift["note"]
    assert "(encoder.0.weight)" not in drift["note"]   # no drift figure claimed for it
    # A model whose only common tensor is non-finite gets no "largest drift 0" at all.
    save_file({"w": old["encoder.0.weight"]}, tmp_path / "one.safetensors")
    save_file({"w": broken["encoder.0.weight"]}, tmp_path / "one-nan.safetensors")
    validate(tmp_path, "one-nan.safetensors", "--against", "one.safetensors", "-o", "r1.yaml")
    note = yaml.safe_load((tmp_path / "r1.yaml").read_text())["checks"]["drift"]["note"]
    assert note == "not judged: non-finite w"
