"""Hardware-aware variants: `resolve STAGE --match k=v` among the models holding the stage."""

from __future__ import annotations

from helpers import assert_one_line_error

from .setups import add_sensor_variant


def test_resolve_picks_the_sensor_variant_and_refuses_ambiguity(project, tmp_path):
    add_sensor_variant(project)
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
    add_sensor_variant(project)
    from weightops.project import Project
    from weightops.deploy.variants import resolve_variant

    p = Project(project.root)
    r = resolve_variant(p, p.registry(), "production", {"sensor": "v2"})
    assert r.model == "clf-v2" and r.labels == {"sensor": "v2"} and r.stage == "production"
