"""Hardware-aware variants: `resolve STAGE --match k=v` among the models holding the stage."""

from __future__ import annotations

import yaml

from helpers import assert_one_line_error


def _add_sensor_variant(project):
    """clf is the sensor=v1 variant (card labels); clf-v2 the sensor=v2 one. Both say
    accelerator=cpu: clf in its card, clf-v2 in dvc.yaml's artifact labels."""
    dvcyaml = project.root / "dvc.yaml"
    doc = yaml.safe_load(dvcyaml.read_text())
    stages = doc["stages"]
    stages["card"]["cmd"] += " --label sensor=v1 --label accelerator=cpu"
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    params["train"]["seed"] = 99
    (project.root / "params_v2.yaml").write_text(yaml.safe_dump(params))
    stages["train_v2"] = {
        "cmd": "python src/train.py --params params_v2.yaml --out models/clf-v2.safetensors --metrics metrics_v2.json",
        "deps": ["src/train.py", "params_v2.yaml"],
        "outs": ["models/clf-v2.safetensors", {"metrics_v2.json": {"cache": False}}],
    }
    stages["card_v2"] = {
        "cmd": "weightops card models/clf-v2.safetensors -o models/clf-v2.card.yaml --model clf-v2 --label sensor=v2",
        "deps": ["models/clf-v2.safetensors"],
        "outs": [{"models/clf-v2.card.yaml": {"cache": False}}],
    }
    doc["artifacts"]["clf-v2"] = {"path": "models/clf-v2.safetensors", "type": "model",
                                  "labels": ["accelerator=cpu"], "meta": {"card": "models/clf-v2.card.yaml"}}
    dvcyaml.write_text(yaml.safe_dump(doc, sort_keys=False))
    project.train("two sensor variants")
    project.release("v1.0.0")
    project.release("v1.0.0", "--model", "clf-v2")
    project.wo("promote", "v1.0.0", "production", check=True)
    project.wo("promote", "v1.0.0", "production", "--model", "clf-v2", check=True)


def test_resolve_picks_the_sensor_variant_and_refuses_ambiguity(project, tmp_path):
    _add_sensor_variant(project)
    v1 = project.wo_json("resolve", "production", "--match", "sensor=v1")
    v2 = project.wo_json("resolve", "production", "--match", "sensor=v2")
    assert (v1["model"], v1["tag"], v1["stage"]) == ("clf", "v1.0.0", "production")
    assert (v2["model"], v2["tag"], v2["path"]) == ("clf-v2", "clf-v2@v1.0.0", "models/clf-v2.safetensors")
    assert v1["sha256"] != v2["sha256"]
    assert project.wo_json("resolve", "production", "--match", "sensor=v2", "--match", "accelerator=cpu")["model"] == "clf-v2"

    # A device's file: the boot script is one line.
    device = tmp_path / "device.yaml"
    device.write_text("sensor: v2\naccelerator: cpu\n")
    assert project.wo_json("resolve", "production", "--match-file", str(device))["model"] == "clf-v2"

    line = assert_one_line_error(project.wo("resolve", "production", "--match", "accelerator=cpu"), 3,
                                 "ambiguous", "clf v1.0.0", "clf-v2 v1.0.0")
    assert "accelerator=cpu" in line
    assert_one_line_error(project.wo("resolve", "production", "--match", "sensor=v3"), 3,
                          "no model holding 'production' matches sensor=v3", "clf v1.0.0 [accelerator=cpu,sensor=v1]")
    assert_one_line_error(project.wo("resolve", "staging", "--match", "sensor=v2"), 3, "no model holds stage 'staging'")
    assert_one_line_error(project.wo("resolve", "production", "--match", "sensor"), 2, "KEY=VALUE")
    assert_one_line_error(project.wo("resolve", "v1.0.0", "--match", "sensor=v2"), 2, "not a stage name")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensor: [v1, v2]\n")
    assert_one_line_error(project.wo("resolve", "production", "--match-file", str(bad)), 2, "flat mapping")


def test_variant_library_call_returns_resolved(project):
    _add_sensor_variant(project)
    from weightops.project import Project
    from weightops.variants import resolve_variant

    p = Project(project.root)
    r = resolve_variant(p, p.registry(), "production", {"sensor": "v2"})
    assert r.model == "clf-v2" and r.labels == {"sensor": "v2"} and r.stage == "production"
