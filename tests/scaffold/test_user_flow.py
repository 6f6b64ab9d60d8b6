"""The README's user flow end to end: init, dvc repro, commit, git tag, dvc push, resolve."""

import hashlib
import json
import os
import subprocess
import sys

from helpers import Project, run_cli

KEYS = {"model", "version", "tag", "commit", "path", "md5", "sha256", "size", "remote", "url", "stage",
        "card", "verified_by"}   # where the SHA-256 came from (a card, or DVC md5 for a cardless version)


def test_init_repro_tag_push_resolve(tmp_path):
    root, remote = tmp_path / "mymodel", tmp_path / "remote"
    proc = run_cli(["init", str(root), "--model", "clf", "--remote", str(remote)], cwd=tmp_path, check=True)
    assert str(remote) in proc.stdout  # says where the remote is
    p = Project(root, remote)
    for name in ("dvc.yaml", "params.yaml", "src/train.py", ".gitignore", "weightops.yaml", ".dvc/config"):
        assert (root / name).is_file(), name
    p.dvc("repro", "-q")
    p.git("add", "-A")
    p.git("commit", "-qm", "train")
    tracked = p.git("ls-files").splitlines()
    assert "models/clf.card.yaml" in tracked and "dvc.lock" in tracked
    assert not any(t.endswith(".safetensors") for t in tracked), "weights must never be committed to git"
    p.git("tag", "v1.0.0")  # a lightweight tag made by plain git is a release
    p.dvc("push", "-q")

    out = json.loads(p.wo("resolve", "v1.0.0", "--json", check=True).stdout)
    assert set(out) == KEYS
    assert out["model"] == "clf" and out["version"] == "v1.0.0" and out["tag"] == "v1.0.0"
    assert out["commit"] == p.head()
    assert out["path"] == "models/clf.safetensors" and out["remote"] == "storage"
    data = p.weights.read_bytes()
    sha = subprocess.run(["sha256sum", str(p.weights)], capture_output=True, text=True).stdout.split()[0]
    assert out["sha256"] == sha == hashlib.sha256(data).hexdigest()
    assert out["md5"] == hashlib.md5(data).hexdigest() and out["size"] == len(data)
    # The URL is where DVC itself says the object is, and the object there is these bytes.
    dvc_url = subprocess.run(
        [sys.executable, "-c", "import dvc.api,sys; print(dvc.api.get_url('models/clf.safetensors', rev='v1.0.0'))"],
        cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    assert out["url"] == dvc_url
    assert open(out["url"], "rb").read() == data


def test_named_tag_resolves(project):
    project.git("tag", "-a", "clf@v2.0.0", "-m", "release")
    project.dvc("push", "-q")
    out = project.wo_json("resolve", "clf@v2.0.0")
    assert out["version"] == "v2.0.0" and out["tag"] == "clf@v2.0.0" and out["commit"] == project.head()
    assert project.wo_json("resolve", "v2.0.0")["tag"] == "clf@v2.0.0"
    assert project.wo_json("resolve", "latest")["version"] == "v2.0.0"


def test_resolve_reads_git_only_in_a_bare_clone(project, tmp_path):
    project.release("v1.0.0")
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(bare)], check=True)
    out = json.loads(run_cli(["resolve", "v1.0.0", "--repo", str(bare), "--json"], cwd=tmp_path, check=True).stdout)
    assert out["commit"] == project.head()
    assert out["sha256"] == hashlib.sha256(project.weights.read_bytes()).hexdigest()


def test_resolve_imports_no_dvc_jsonschema_or_s3(project):
    project.release("v1.0.0")
    code = ("import sys, weightops; r = weightops.resolve('v1.0.0'); "
            "bad = [m for m in ('dvc', 'dvc.api', 'jsonschema', 'boto3', 'botocore', 's3fs', 'git', 'pydantic') if m in sys.modules]; "
            "print(r.version, bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True,
                         env=dict(os.environ), check=True).stdout.strip()
    assert out == "v1.0.0 []"


def test_list_newest_first(project):
    project.release("v1.0.0")
    project.train(epochs=50)
    project.release("v1.1.0")
    project.git("tag", "v1.1.0-rc.1", "HEAD~1")
    rows = project.wo_json("list")["versions"]
    assert [r["version"] for r in rows] == ["v1.1.0", "v1.1.0-rc.1", "v1.0.0"]
    assert all(r["model"] == "clf" for r in rows)
    assert "v1.1.0" in project.wo("list", check=True).stdout


def test_python_dash_m_and_help_for_every_command(tmp_path):
    top = run_cli(["--help"], cwd=tmp_path, check=True).stdout
    # A command's row starts at the table's first column; a wrapped description starts indented.
    commands = [line.split()[1] for line in top.splitlines() if line.startswith("│ ") and line[2:3] != " "
                and len(line.split()) > 2 and not line.split()[1].startswith("-")]
    assert "resolve" in commands and "release" in commands
    for name in commands:
        text = run_cli([name, "--help"], cwd=tmp_path, check=True).stdout
        assert "Usage" in text
        # every option carries help text (an option line followed by a description)
        for line in text.splitlines():
            stripped = line.strip("│ ").strip()
            if stripped.startswith("--") and "--help" not in stripped:
                assert len(stripped.split("  ")) > 1 or "[" in stripped, f"{name}: option without help: {stripped}"
