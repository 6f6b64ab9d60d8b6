"""Routine retrains pass the default production gate; planted defects do not. The scaffold's
own model (`weightops init`'s src/train.py) retrained with 20 seeds passes the default checks
against every other seed, and retrains promote through the real gate of a scaffolded project
(the shared project's gate is on, as `weightops init` leaves it), while a NaN, a zeroed weight
matrix, a weight matrix scaled x5, a truncated file and a corrupted header are refused by name.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file, save_file

from helpers import ROOT, T0, assert_one_line_error
from weightops.core.config import ValidationSettings
from weightops.model.checks import run_checks
from weightops.model.stats import collect_stats

SEEDS = range(1, 21)


@pytest.fixture(scope="module")
def seed_models(tmp_path_factory) -> dict[int, object]:
    """The scaffold's model trained with each seed, by the template's own script."""
    folder = tmp_path_factory.mktemp("seeds")
    params = yaml.safe_load((ROOT / "templates" / "project" / "params.yaml").read_text())
    procs, out = [], {}
    for s in SEEDS:
        (folder / f"p{s}.yaml").write_text(yaml.safe_dump({"train": {**params["train"], "seed": s}}))
        out[s] = folder / f"seed{s}.safetensors"
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "templates" / "project" / "src" / "train.py"),
                                       "--params", str(folder / f"p{s}.yaml"), "--out", str(out[s]),
                                       "--metrics", str(folder / f"m{s}.json")]))
    assert all(p.wait() == 0 for p in procs)
    return out


def test_twenty_seed_retrains_pass_the_default_checks_against_each_other(seed_models):
    cfg = ValidationSettings()   # what `weightops init` leaves: no validation settings
    stats = {s: collect_stats(p) for s, p in seed_models.items()}
    refused = []
    for old, new in itertools.permutations(SEEDS, 2):
        report = run_checks(stats[new], cfg, subject=f"seed {new}", against=stats[old], against_name=f"seed {old}")
        if not report.passed:
            refused.append((old, new, [c.name for c in report.failed]))
    assert refused == []
    # The bias has one value: its drift is large and meaningless, and never the reason to refuse.
    report = run_checks(stats[2], cfg, subject="seed 2", against=stats[1], against_name="seed 1")
    assert stats[1]["linear.bias"].count == 1 and report.check("drift").passed
    # Scaled x5, the same weights are refused by name against any other seed.
    w = load_file(seed_models[3])
    save_file({**w, "linear.weight": w["linear.weight"] * 5}, seed_models[3].with_name("x5.safetensors"))
    x5 = collect_stats(seed_models[3].with_name("x5.safetensors"))
    for s in SEEDS:
        drift = run_checks(x5, cfg, subject="x5", against=stats[s], against_name=f"seed {s}").check("drift")
        assert not drift.passed and drift.offending == ("linear.weight",)


def release_weights(project, version: str, at: int, weights: dict) -> None:
    """Commit WEIGHTS as the trained output (the pipeline's own validate stage may refuse them:
    a team that releases anyway meets the gate), then release."""
    save_file(weights, project.weights)
    project.dvc("commit", "-f", "train")
    project.dvc("repro", "-q", check=False)
    project.dvc("commit", "-f")
    project.git("add", "-A")
    project.git("commit", "-qm", version)
    project.release(version, at=at)


def test_retrains_promote_through_the_default_gate_and_planted_defects_are_refused(project):
    assert "gates" not in (project.root / "weightops.yaml").read_text()   # production's default gate
    project.release("v1.0.0", at=T0)
    assert project.wo("promote", "v1.0.0", "production", env={"WEIGHTOPS_NOW": str(T0 + 1)}).returncode == 0
    at = T0 + 10
    for i, seed in enumerate((11,)):
        project.train(f"seed {seed}", seed=seed)
        project.release(f"v1.{i + 1}.0", at=at)
        proc = project.wo("promote", f"v1.{i + 1}.0", "production", env={"WEIGHTOPS_NOW": str(at + 1)})
        assert proc.returncode == 0, proc.stderr
        at += 10
    held = load_file(project.weights)

    def nan(w):
        v = w.copy()
        v[0, 3] = np.nan
        return v

    for n, (defect, change, check) in enumerate((("nan", nan, "finite"), ("zeroed", np.zeros_like, "all_zero"),
                                                  ("x5", lambda w: w * 5, "drift"))):
        version = f"v2.{n}.0"
        release_weights(project, version, at, {**held, "linear.weight": change(held["linear.weight"])})
        proc = project.wo("promote", version, "production", env={"WEIGHTOPS_NOW": str(at + 1)})
        assert_one_line_error(proc, 5, version, "failed validation", check, "linear.weight")
        at += 10
    assert project.wo_json("resolve", "production")["version"] == "v1.1.0"
    # A file cut short or with a damaged header is refused by the reader, naming the file.
    data = project.weights.read_bytes()
    for defect, damaged in (("truncated", data[:len(data) // 2]), ("header", b"\xff" * 16 + data[16:])):
        bad = project.root / f"{defect}.safetensors"
        bad.write_bytes(damaged)
        proc = project.wo("validate", bad.name, "--against", "none", cwd=project.root)
        assert proc.returncode != 0 and bad.name in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
