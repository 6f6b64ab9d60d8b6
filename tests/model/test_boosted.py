"""Gradient-boosted tree models written by XGBoost (JSON and UBJSON) and LightGBM (text), read
without importing either library: values as each library reports them, damaged copies refused
with exit 5 where the library refuses them, a retrain's larger trees not a structure change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lightgbm
import numpy as np
import pytest
import xgboost
from helpers import assert_one_line_error, run_cli
from model import published

from weightops.model.formats import read_tensors, weight_format


def data(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 5))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("boosted")
    out = {}
    for seed in (0, 1):
        x, y = data(seed)
        xgb = xgboost.XGBClassifier(n_estimators=4, max_depth=3, random_state=seed).fit(x, y)
        out[f"xgb{seed}.json"], out[f"xgb{seed}.ubj"] = folder / f"xgb{seed}.json", folder / f"xgb{seed}.ubj"
        xgb.save_model(out[f"xgb{seed}.json"])
        xgb.save_model(out[f"xgb{seed}.ubj"])
        lgb = lightgbm.LGBMClassifier(n_estimators=4, num_leaves=6 + 4 * seed, verbose=-1, random_state=seed).fit(x, y)
        out[f"lgb{seed}.txt"] = folder / f"lgb{seed}.txt"
        lgb.booster_.save_model(out[f"lgb{seed}.txt"])
    return out


def test_each_library_s_file_is_read_with_its_values(models, tmp_path):
    for name, path in models.items():
        assert weight_format(path) == ("lightgbm" if name.startswith("lgb") else "xgboost"), name
        proc = run_cli(["validate", str(path), "--against", "none"], cwd=tmp_path)
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
    # XGBoost: the UBJSON file's split conditions are those XGBoost itself reports as JSON.
    booster = xgboost.Booster()
    booster.load_model(models["xgb0.ubj"])
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    ours = {t.name: t.values() for t in read_tensors(models["xgb0.ubj"])}
    np.testing.assert_allclose(ours["trees.split_conditions"],
                               np.concatenate([t["split_conditions"] for t in trees]), rtol=1e-6)
    json_read = {t.name: t.values() for t in read_tensors(models["xgb0.json"])}
    np.testing.assert_allclose(json_read["trees.base_weights"], ours["trees.base_weights"], rtol=1e-6)
    # LightGBM: the leaf values its own dump_model lists, tree by tree.
    dump = lightgbm.Booster(model_file=str(models["lgb0.txt"])).dump_model()

    def leaves(node):
        if "leaf_value" in node:
            return [(node.get("leaf_index", 0), node["leaf_value"])]
        return leaves(node["left_child"]) + leaves(node["right_child"])
    want = np.concatenate([[v for _, v in sorted(leaves(t["tree_structure"]))] for t in dump["tree_info"]])
    got = {t.name: t.values() for t in read_tensors(models["lgb0.txt"])}["trees.leaf_value"]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_retrain_with_larger_trees_is_not_a_structure_change(models, tmp_path):
    a = {t.name: t.shape for t in read_tensors(models["lgb0.txt"])}
    b = {t.name: t.shape for t in read_tensors(models["lgb1.txt"])}
    assert a["trees.leaf_value"] != b["trees.leaf_value"]   # the trees really differ in size
    for new, old in (("lgb1.txt", "lgb0.txt"), ("xgb1.ubj", "xgb0.ubj")):
        proc = run_cli(["validate", str(models[new]), "--against", str(models[old])], cwd=tmp_path)
        assert "FAIL structure" not in proc.stdout, proc.stdout


def test_a_planted_nan_is_caught_by_name(models, tmp_path):
    text = models["lgb0.txt"].read_text()
    start = text.index("leaf_value=") + len("leaf_value=")
    (tmp_path / "nan.txt").write_text(text[:start] + "nan " + text[start:].split(" ", 1)[1])
    proc = run_cli(["validate", "nan.txt", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 5 and "trees.leaf_value" in proc.stdout, proc.stdout + proc.stderr
    doc = json.loads(models["xgb0.json"].read_text())
    doc["learner"]["gradient_booster"]["model"]["trees"][1]["split_conditions"][0] = float("nan")
    (tmp_path / "nan.json").write_text(json.dumps(doc))
    proc = run_cli(["validate", "nan.json", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 5 and "trees.split_conditions" in proc.stdout, proc.stdout + proc.stderr


def lightgbm_refuses(path: Path) -> bool:
    """LightGBM's own loader, in a child process (a damaged model aborts it)."""
    proc = subprocess.run([sys.executable, "-c", "import sys, lightgbm; lightgbm.Booster(model_file=sys.argv[1])",
                           str(path)], capture_output=True, check=False)
    return proc.returncode != 0


def drop_a_leaf(text: str) -> str:
    line = text.split("leaf_value=")[1].split("\n")[0]
    return text.replace("leaf_value=" + line, "leaf_value=" + line.rsplit(" ", 1)[0], 1)


LGB_DAMAGE = {
    "cut inside the trees": lambda t: t[:t.index("Tree=1") + 40],
    "a leaf value missing": drop_a_leaf,
    "not a model": lambda t: "hello\n" + t,
}


@pytest.mark.parametrize("kind", sorted(LGB_DAMAGE))
def test_a_damaged_lightgbm_model_is_refused_as_lightgbm_refuses_it(models, tmp_path, kind):
    (tmp_path / "m.txt").write_text(LGB_DAMAGE[kind](models["lgb0.txt"].read_text()))
    assert lightgbm_refuses(tmp_path / "m.txt"), f"{kind}: LightGBM reads it; the damage is not damage"
    # "not a model" is no longer recognised by content, so it is named as an unknown format.
    assert_one_line_error(run_cli(["validate", "m.txt", "--against", "none"], cwd=tmp_path), 5, "m.txt")


def test_a_damaged_xgboost_model_is_refused_with_exit_5(models, tmp_path):
    data = models["xgb0.ubj"].read_bytes()
    (tmp_path / "cut.ubj").write_bytes(data[:len(data) // 2])
    with pytest.raises(xgboost.core.XGBoostError):
        xgboost.Booster().load_model(str(tmp_path / "cut.ubj"))
    assert_one_line_error(run_cli(["validate", "cut.ubj", "--against", "none"], cwd=tmp_path), 5,
                          "cut.ubj", "truncated")
    # A child index outside its tree: XGBoost's loader takes it, and would then read outside
    # the tree when predicting; weightops refuses it.
    doc = json.loads(models["xgb0.json"].read_text())
    doc["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][0] = 99
    (tmp_path / "child.json").write_text(json.dumps(doc))
    assert_one_line_error(run_cli(["validate", "child.json", "--against", "none"], cwd=tmp_path), 5,
                          "child.json", "tree 0", "child index")




def test_the_lightgbm_model_s2cloudless_ships_validates_by_default(tmp_path):
    entry = next(e for e in published.entries() if e.package == "s2cloudless==1.7.3")
    path = published.member(entry, "s2cloudless/models/pixel_s2_cloud_detector_lightGBM_v0.1.txt")
    proc = run_cli(["validate", str(path), "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ours = {t.name: t for t in read_tensors(path)}
    dump = lightgbm.Booster(model_file=str(path)).dump_model()
    assert ours["trees.leaf_value"].size == sum(t["num_leaves"] for t in dump["tree_info"])
