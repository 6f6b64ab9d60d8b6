"""Project set-ups shared by the serving tests."""

from __future__ import annotations

import yaml


def add_sensor_variant(project):
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
