"""`weightops demo` runs end to end and writes nothing outside its folder."""

import os

from helpers import run_cli


def test_demo_runs_and_stays_in_its_folder(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("")  # no identity: the demo must cope on a fresh machine
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), DVC_NO_ANALYTICS="1")
    env.pop("DVC_SITE_CACHE_DIR", None)
    demo = tmp_path / "demo"
    proc = run_cli(["demo", "--dir", str(demo)], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "v1.0.0" in proc.stdout and "v1.1.0" in proc.stdout and "sha256" in proc.stdout
    assert sorted(os.listdir(home)) == [".gitconfig"] and (home / ".gitconfig").read_text() == ""
    remote_objects = [f for _, _, files in os.walk(demo / "dvc-remote") for f in files]
    assert len(remote_objects) >= 2
