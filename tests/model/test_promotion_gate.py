"""The promotion gate on a real project: weights checked against the version in production,
breaking signature changes refused, `--skip-checks` loud and recorded."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file, save_file

from helpers import assert_one_line_error

T0 = 1_700_000_000
GATES = "gates:\n  production:\n    validate: true\n    against: production\n"


def configure(project, text: str) -> None:
    cfg = project.root / "weightops.yaml"
    base = cfg.read_text()
    cfg.write_text(base + text)
    project.git("commit", "-qam", "configure gates")


def use_signature(project, signature: dict) -> None:
    """Make the pipeline's card stage record SIGNATURE (as a team would: a file, a dependency)."""
    (project.root / "signature.yaml").write_text(yaml.safe_dump(signature))
    dvcyaml = yaml.safe_load((project.root / "dvc.yaml").read_text())
    card = dvcyaml["stages"]["card"]
    if "--signature" not in card["cmd"]:
        card["cmd"] += " --signature signature.yaml"
        card["deps"].append("signature.yaml")
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(dvcyaml, sort_keys=False))


def new_version(project, version: str, at: int, change=None) -> None:
    """Change the trained weights (or not), rebuild card + validation, commit, release."""
    if change is not None:
        weights = load_file(project.weights)
        save_file(change(weights), project.weights)
        project.dvc("commit", "-f", "train")
    project.dvc("repro", "-q")
    project.git("add", "-A")
    project.git("commit", "-qm", f"{version}", "--allow-empty")
    project.release(version, at=at)


def promote(project, version: str, at: int, *extra: str):
    return project.wo("promote", version, "production", *extra, env={"WEIGHTOPS_NOW": str(at)})


def tag_message(project, tag: str) -> dict:
    body = project.git("tag", "-l", "--format=%(contents)", tag)
    return dict(line.split(": ", 1) for line in body.splitlines() if ": " in line)


def in_production(project, version: str, proc) -> None:
    """The promotion went through: exit 0 and `production` resolves to VERSION."""
    assert proc.returncode == 0, proc.stderr
    assert project.wo_json("resolve", "production")["version"] == version


def jump(weights: dict) -> dict:
    w = weights["linear.weight"]
    return {**weights, "linear.weight": (w + 3 * np.sqrt((w.astype(np.float64) ** 2).mean())).astype(np.float32)}


def nudge(weights: dict) -> dict:
    return {k: (v * 1.01).astype(v.dtype) for k, v in weights.items()}


@pytest.fixture
def gated(project):
    configure(project, GATES)
    project.release("v1.0.0", at=T0)
    in_production(project, "v1.0.0", promote(project, "v1.0.0", T0 + 10))
    return project


def test_mean_jump_against_production_blocks_promotion(gated):
    new_version(gated, "v1.1.0", T0 + 20, jump)
    proc = promote(gated, "v1.1.0", T0 + 30)
    assert_one_line_error(proc, 5, "v1.1.0", "failed validation", "drift", "linear.weight", "--skip-checks")
    assert gated.git("tag", "-l", "clf#production#*").split() == ["clf#production#1"]
    report = yaml.safe_load((gated.root / ".git/weightops/reports/clf-v1.1.0-production.yaml").read_text())
    assert report["against"] == "clf v1.0.0 (production)"
    assert report["checks"]["drift"]["offending"] == ["linear.weight"]
    # Eight values are too few for a mean to judge: the whole model's L2 is the yardstick.
    whole = report["checks"]["drift"]["figures"]["linear.weight"]["model_l2"]
    assert whole["drift"] > whole["limit"] == 1.5
    # `weightops validate` says the same, against production by default.
    check = gated.wo("validate", "v1.1.0")
    assert_one_line_error(check, 5, "drift", "linear.weight")
    assert "against clf v1.0.0 (production)" in check.stdout

    # --skip-checks gets it through, loudly, and the tag says so.
    skipped = promote(gated, "v1.1.0", T0 + 40, "--skip-checks")
    in_production(gated, "v1.1.0", skipped)
    assert "WARNING" in skipped.stderr and "--skip-checks" in skipped.stderr
    warned = [line for line in skipped.stderr.splitlines() if "--skip-checks" in line]
    assert len(warned) == 1, skipped.stderr   # once, not once by the CLI and again by the library
    assert tag_message(gated, "clf#production#2")["checks"] == "SKIPPED (--skip-checks)"

    # Rolling back to v1.0.0, which passed this gate before, is not blocked by the drift.
    back = gated.wo("rollback", "production", env={"WEIGHTOPS_NOW": str(T0 + 50)})
    assert back.returncode == 0, back.stderr
    assert tag_message(gated, "clf#production#3")["validation"] == "passed"
    assert gated.wo_json("resolve", "production")["version"] == "v1.0.0"


def test_small_change_passes_the_gate_and_digests_are_recorded(gated):
    # The first promotion had nothing to compare against; its report's digest is in the tag.
    fields = tag_message(gated, "clf#production#1")
    assert fields["validation"] == "passed"
    report = gated.root / ".git" / "weightops" / "reports" / "clf-v1.0.0-production.yaml"
    assert fields["validation_report"] == "sha256:" + hashlib.sha256(report.read_bytes()).hexdigest()
    assert yaml.safe_load(report.read_text())["against"] is None

    new_version(gated, "v1.1.0", T0 + 20, nudge)
    proc = promote(gated, "v1.1.0", T0 + 30)
    assert proc.returncode == 0, proc.stderr
    fields = tag_message(gated, "clf#production#2")
    assert fields["validation"] == "passed against clf v1.0.0 (production)"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", fields["validation_report"])
    assert gated.wo_json("resolve", "production")["version"] == "v1.1.0"


def test_nan_weights_are_refused_even_for_a_first_promotion(project):
    configure(project, GATES)

    def poison(w):
        b = w["linear.bias"].copy()
        b[0] = np.nan
        return {**w, "linear.bias": b}

    weights = load_file(project.weights)
    save_file(poison(weights), project.weights)
    project.dvc("commit", "-f", "train")
    # The pipeline's own validate stage fails `dvc repro` on these weights...
    repro = project.dvc("repro", "-q", check=False)
    assert repro.returncode != 0
    assert "finite" in repro.stdout + repro.stderr and "linear.bias" in repro.stdout + repro.stderr
    # ...and were they released anyway, the gate refuses them.
    project.dvc("commit", "-f")
    project.git("add", "-A")
    project.git("commit", "-qm", "poisoned")
    project.release("v1.0.0", at=T0)
    assert_one_line_error(promote(project, "v1.0.0", T0 + 10), 5, "finite", "linear.bias")


SIG_V1 = {"inputs": [{"type": "tensor", "name": "x", "tensor-spec": {"dtype": "float32", "shape": [-1, 8]}},
                     {"type": "tensor", "name": "mask", "tensor-spec": {"dtype": "bool", "shape": [-1, 8]}}],
          "outputs": [{"type": "tensor", "name": "p", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]}


def test_removed_input_blocks_promotion_unless_allowed(project):
    use_signature(project, SIG_V1)
    new_version(project, "v1.0.0", T0)
    in_production(project, "v1.0.0", promote(project, "v1.0.0", T0 + 10))
    v2 = {**SIG_V1, "inputs": SIG_V1["inputs"][:1]}
    use_signature(project, v2)
    new_version(project, "v1.1.0", T0 + 20)
    assert yaml.safe_load(project.card.read_text())["signature"]["inputs"] == v2["inputs"]

    refused = promote(project, "v1.1.0", T0 + 30)
    assert_one_line_error(refused, 5, "breaks the signature of 'production'", "inputs.mask", "--allow-breaking")
    assert project.git("tag", "-l", "clf#production#*").split() == ["clf#production#1"]

    diff = project.wo("signature", "diff", "production", "v1.1.0")
    assert_one_line_error(diff, 5, "inputs.mask removed")
    assert "BREAKING inputs.mask" in diff.stdout

    in_production(project, "v1.1.0", promote(project, "v1.1.0", T0 + 30, "--allow-breaking"))
    assert tag_message(project, "clf#production#2")["signature"] == \
        "breaking change allowed (--allow-breaking): inputs.mask"


def test_compatible_signature_change_promotes(project):
    use_signature(project, SIG_V1)
    new_version(project, "v1.0.0", T0)
    in_production(project, "v1.0.0", promote(project, "v1.0.0", T0 + 10))
    widened = {**SIG_V1, "outputs": SIG_V1["outputs"] + [
        {"type": "tensor", "name": "logit", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]}
    use_signature(project, widened)
    new_version(project, "v1.1.0", T0 + 20)
    in_production(project, "v1.1.0", promote(project, "v1.1.0", T0 + 30))
    assert "signature" not in tag_message(project, "clf#production#2")


def test_validate_a_ref_whose_bytes_are_not_here_says_pull(project):
    project.release("v1.0.0", at=T0)
    shutil.rmtree(project.root / ".dvc" / "cache")
    Path(project.wo_json("resolve", "v1.0.0")["url"]).unlink()   # the object in the local remote
    project.weights.unlink()
    assert_one_line_error(project.wo("validate", "v1.0.0"), 3, "v1.0.0", "not on this machine", "dvc pull")


def test_a_version_that_held_production_unchecked_is_compared_when_it_returns(gated):
    new_version(gated, "v1.1.0", T0 + 20, jump)
    in_production(gated, "v1.1.0", promote(gated, "v1.1.0", T0 + 30, "--skip-checks"))
    # v1.0.0 passed this gate (the stage's first holder): rolling back to it is not compared
    back = gated.wo("rollback", "production", env={"WEIGHTOPS_NOW": str(T0 + 40)})
    assert back.returncode == 0, back.stderr
    # v1.1.0 held production before, but only by --skip-checks: its return is compared, and refused
    again = promote(gated, "v1.1.0", T0 + 50)
    assert_one_line_error(again, 5, "v1.1.0", "failed validation", "drift", "linear.weight")
    assert gated.wo_json("resolve", "production")["version"] == "v1.0.0"


def with_stages(project, stages: str, gates: str = "") -> None:
    """weightops.yaml with the stages (and gates) a registry GTO wrote would have, committed."""
    cfg = project.root / "weightops.yaml"
    doc = yaml.safe_load(cfg.read_text())
    text = "".join(l + "\n" for l in cfg.read_text().splitlines() if not l.startswith(("stages:", "  - ")))
    assert yaml.safe_load(text)["model"] == doc["model"]
    cfg.write_text(text + stages + gates)
    project.git("commit", "-qam", "stages")


def test_validate_without_a_production_stage_skips_the_default_comparison(project):
    with_stages(project, "stages: [dev, stage, prod]\n")
    project.release("v1.0.0", at=T0)
    for target in ("v1.0.0", str(project.weights)):
        proc = project.wo("validate", target)
        assert proc.returncode == 0, proc.stderr
        assert "not compared against production" in proc.stdout and "not a stage" in proc.stdout
    # asked for explicitly, an unknown stage is still the usage error every command gives
    assert_one_line_error(project.wo("validate", "v1.0.0", "--against", "production"), 2, "not a stage")


def test_validate_compares_with_the_gated_stage_by_default(project):
    with_stages(project, "stages: [dev, stage, prod]\n", "gates:\n  prod:\n    validate: true\n")
    project.release("v1.0.0", at=T0)
    in_production_stage = project.wo("promote", "v1.0.0", "prod", env={"WEIGHTOPS_NOW": str(T0 + 10)})
    assert in_production_stage.returncode == 0, in_production_stage.stderr
    new_version(project, "v1.1.0", T0 + 20, jump)
    check = project.wo("validate", "v1.1.0")
    assert_one_line_error(check, 5, "drift", "linear.weight")
    assert "against clf v1.0.0 (prod)" in check.stdout
