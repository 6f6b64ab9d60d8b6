"""`weightops card`: digests in one streamed pass, lineage, environment, labels; schema-valid."""

import hashlib
import os
import subprocess
import sys

import yaml

from helpers import ROOT, run_cli


def test_card_fields(project, tmp_path):
    (project.root / "requirements.txt").write_text("numpy\n")
    out = project.root / "models" / "x.card.yaml"
    run_cli(["card", str(project.weights), "-o", str(out), "--model", "clf", "--metrics", "metrics.json",
             "--label", "sensor=v2", "--label", "accelerator=cpu"], cwd=project.root, check=True)
    card = yaml.safe_load(out.read_text())
    data = project.weights.read_bytes()
    art = card["artifact"]
    assert card["schema_version"] == 1 and card["model"] == "clf"
    assert art == {"path": "models/clf.safetensors", "format": "safetensors", "size": len(data),
                   "sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    lin = card["lineage"]
    assert lin["commit"] == project.head() and lin["branch"] == "main"
    assert lin["dirty"] is False and lin["inputs_differ"] == []  # HEAD holds every input dvc.lock names
    assert lin["params"]["train"]["seed"] == 7
    assert "src/train.py" in lin["deps"]
    env = card["environment"]
    assert env["python"].count(".") == 2 and "numpy" in env["packages"]
    assert env["pinned_files"]["requirements.txt"] == hashlib.sha256(b"numpy\n").hexdigest()
    assert card["labels"] == {"sensor": "v2", "accelerator": "cpu"}
    assert card["metrics"]["accuracy"] > 0.5
    assert card["signature"] is None
    # An edit the training did not use (dvc.lock still says seed 7) is not a difference ...
    project.set_params(seed=8)
    run_cli(["card", str(project.weights), "-o", str(out)], cwd=project.root, check=True)
    assert yaml.safe_load(out.read_text())["lineage"]["dirty"] is False
    # ... an input the training used that HEAD does not hold is, by name.
    train = project.root / "src" / "train.py"
    train.write_text(train.read_text() + "# edited\n")
    project.dvc("commit", "-f", "-q", "train")   # dvc.lock now records the edited code's md5
    run_cli(["card", str(project.weights), "-o", str(out)], cwd=project.root, check=True)
    lin = yaml.safe_load(out.read_text())["lineage"]
    assert lin["dirty"] is True and lin["inputs_differ"] == ["deps src/train.py", "params train.seed"]


def test_card_of_a_directory_lists_every_file(tmp_path):
    shards = tmp_path / "ckpt"
    shards.mkdir()
    (shards / "a.bin").write_bytes(b"a" * 1000)
    (shards / "b.bin").write_bytes(b"b" * 10)
    run_cli(["card", str(shards), "-o", str(tmp_path / "card.yaml"), "--model", "ckpt"], cwd=tmp_path, check=True)
    card = yaml.safe_load((tmp_path / "card.yaml").read_text())
    files = {f["path"]: f for f in card["artifact"]["files"]}
    assert set(files) == {"a.bin", "b.bin"} and card["artifact"]["size"] == 1010
    assert files["a.bin"]["sha256"] == hashlib.sha256(b"a" * 1000).hexdigest()
    assert card["artifact"]["md5"].endswith(".dir")


def test_card_of_200mb_file_has_flat_memory(tmp_path):
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(200):
            f.write(block)
    proc = subprocess.run(
        [sys.executable, "-c",
         "import resource,sys; from weightops.cli import main; sys.argv=['weightops','card',sys.argv[1],'-o',sys.argv[2],'--model','big'];\n"
         "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code\n"
         # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's (pytest's) size.
         "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))",
         str(big), str(tmp_path / "big.card.yaml")],
        capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    peak_mib = int(proc.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mib < 120, f"peak RSS {peak_mib:.0f} MiB for a 200 MiB file"
    card = yaml.safe_load((tmp_path / "big.card.yaml").read_text())
    h = hashlib.sha256()
    with open(big, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert card["artifact"]["sha256"] == h.hexdigest() and card["artifact"]["size"] == 200 << 20


def test_card_missing_weights_is_not_found(tmp_path):
    proc = run_cli(["card", str(tmp_path / "nope.safetensors"), "-o", str(tmp_path / "c.yaml")], cwd=tmp_path)
    assert proc.returncode == 3 and "nope.safetensors" in proc.stderr and not (tmp_path / "c.yaml").exists()
