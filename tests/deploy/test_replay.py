"""`weightops shadow replay`: two real versions of the demo model over recorded inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from helpers import assert_one_line_error

HERE = Path(__file__).resolve().parent


def _inputs(path, n=40):
    rng = np.random.default_rng(3)
    path.write_text("".join(json.dumps(rng.normal(size=8).round(4).tolist()) + "\n" for _ in range(n)))


def test_replay_two_real_versions_writes_a_shadow_log(released, tmp_path):
    shutil.copy(HERE / "serve_clf.py", released.root / "serve_clf.py")
    _inputs(tmp_path / "inputs.jsonl")
    log = tmp_path / "replay.jsonl"
    proc = released.wo("shadow", "replay", "--candidate", "v1.1.0", "--baseline", "v1.0.0",
                       "--inputs", str(tmp_path / "inputs.jsonl"), "--predict", "serve_clf:load", "-o", str(log),
                       check=True)
    assert "replayed 40 inputs" in proc.stdout
    rep = released.wo_json("shadow", "report", str(log))
    assert rep["calls"] == 40 and rep["errors"] == 0 and rep["dropped"] == 0
    assert (rep["model"], rep["primary_version"], rep["candidate_version"]) == ("clf", "v1.0.0", "v1.1.0")
    # Two different trainings: the probabilities differ, but both are probabilities.
    assert 0 < rep["diff"]["max"] < 1
    assert rep["agreement"] < 1
    # Replaying a version against itself agrees exactly.
    same = tmp_path / "same.jsonl"
    released.wo("shadow", "replay", "--candidate", "v1.0.0", "--baseline", "v1.0.0",
                "--inputs", str(tmp_path / "inputs.jsonl"), "--predict", "serve_clf:load", "-o", str(same), check=True)
    assert released.wo_json("shadow", "report", str(same))["agreement"] == 1.0


def test_replay_refuses_weights_that_do_not_match_the_card(released, tmp_path):
    shutil.copy(HERE / "serve_clf.py", released.root / "serve_clf.py")
    _inputs(tmp_path / "inputs.jsonl", n=3)
    url = released.wo_json("resolve", "v1.1.0")["url"]
    obj = Path(url)
    obj.chmod(0o644)
    data = bytearray(obj.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    obj.write_bytes(bytes(data))
    log = tmp_path / "r.jsonl"
    proc = released.wo("shadow", "replay", "--candidate", "v1.1.0", "--baseline", "v1.0.0",
                       "--inputs", str(tmp_path / "inputs.jsonl"), "--predict", "serve_clf:load", "-o", str(log))
    assert_one_line_error(proc, 4, "sha256", "not the released one", "v1.1.0")
    assert not log.exists()
    proc = released.wo("shadow", "replay", "--candidate", "v1.1.0", "--baseline", "v1.0.0",
                       "--inputs", str(tmp_path / "inputs.jsonl"), "--predict", "no_such_module:load", "-o", str(log))
    assert_one_line_error(proc, 3, "no_such_module")
