"""A `.pt` file whose pickle would run code: refused, and the code never runs, whatever command
touches it. The scanner itself is tested in tests/model/test_pickles.py (opcodes, zip
layout, torch state dicts); here every command of the registry path meets the same file."""

from __future__ import annotations

import pickle
import subprocess

from helpers import assert_one_line_error, run_cli


class Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):   # unpickling calls open(marker, "w"): the marker proves execution
        return (open, (self.marker, "w"))


def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)   # guard checks a repository's files
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"layer.weight": [0.1, 0.2], "layer.bias": Payload(str(marker))}, protocol=4))
    assert_one_line_error(run_cli(["validate", "evil.pt"], cwd=tmp_path), 5, "evil.pt", "without unpickling")
    guard = run_cli(["guard", "evil.pt"], cwd=tmp_path)
    assert guard.returncode == 5 and "PyTorch weight file" in guard.stdout   # it belongs in DVC, not git
    run_cli(["card", "evil.pt", "-o", "evil.card.yaml", "--model", "evil"], cwd=tmp_path, check=True)
    run_cli(["verify", "evil.card.yaml", "evil.pt"], cwd=tmp_path, check=True)   # hashes only
    assert not marker.exists(), "no command unpickled the file"
    pickle.loads(evil.read_bytes())    # the file really is armed
    assert marker.exists()
