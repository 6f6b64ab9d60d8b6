"""Which DVC remote an output lives in, as DVC decides it: an out's own `remote:` field wins
over the default remote, `core.remote` may be set only in `.dvc/config.local`, and
`release --remote` names one explicitly."""

from __future__ import annotations

import hashlib

import yaml

from helpers import assert_one_line_error


def _second_remote(project, tmp_path, name: str = "cloud") -> object:
    root = tmp_path / f"{name}-store"
    root.mkdir()
    project.dvc("remote", "add", "-f", name, str(root))
    return root


def _object(root, data: bytes):
    md5 = hashlib.md5(data).hexdigest()
    return root / "files" / "md5" / md5[:2] / md5[2:]


def test_an_outputs_own_remote_wins_over_the_default(project, tmp_path):
    root = _second_remote(project, tmp_path)
    doc = yaml.safe_load((project.root / "dvc.yaml").read_text())
    doc["stages"]["train"]["outs"] = [{"models/clf.safetensors": {"remote": "cloud"}}]
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    project.git("add", "-A")
    project.git("commit", "-qm", "weights live in the cloud remote")
    project.dvc("push", "-q")                       # DVC itself sends the out to 'cloud'
    data = project.weights.read_bytes()
    assert _object(root, data).is_file() and not _object(project.remote, data).exists()

    project.release("v1.0.0", push=True)            # checks 'cloud', not the default
    out = tmp_path / "w.safetensors"
    pulled = project.wo_json("pull", "v1.0.0", "-o", str(out))
    assert pulled["remote"] == "cloud" and out.read_bytes() == data
    assert project.wo_json("ci", "check-tag", "v1.0.0")["remote"] == "cloud"
    assert project.wo_json("audit")["ok"]


def test_a_dvc_files_remote_field_is_honoured(project, tmp_path):
    from weightops.storage.pointers import pointer_from_dvcfile

    text = "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 3\n  hash: md5\n  path: m.bin\n  remote: cloud\n"
    assert pointer_from_dvcfile(text, "models/m.bin.dvc").remote == "cloud"


def test_core_remote_set_only_in_config_local_counts(project, tmp_path):
    root = _second_remote(project, tmp_path)
    cfg = project.root / ".dvc" / "config"
    cfg.write_text(cfg.read_text().replace("[core]\n    remote = storage\n", ""))
    project.git("add", "-A")
    project.git("commit", "-qm", "no committed default remote")
    project.dvc("remote", "default", "--local", "cloud")
    project.dvc("push", "-q")
    assert _object(root, project.weights.read_bytes()).is_file()
    project.release("v1.0.0", push=False)
    assert project.wo_json("resolve", "v1.0.0")["remote"] == "cloud"
    assert project.wo_json("pull", "v1.0.0", "-o", str(tmp_path / "w"))["remote"] == "cloud"


def test_release_remote_names_the_remote_to_check_and_push_to(project, tmp_path):
    root = _second_remote(project, tmp_path, "archive")
    project.git("add", "-A")
    project.git("commit", "-qm", "archive remote")
    proc = project.wo("release", "v1.0.0")
    assert_one_line_error(proc, 5, "'storage'")
    project.wo("release", "v1.0.0", "--remote", "archive", "--push", check=True)
    assert _object(root, project.weights.read_bytes()).is_file()
    project.git("commit", "-q", "--allow-empty", "-m", "next")
    proc = project.wo("release", "v1.1.0", "--remote", "nowhere")
    assert_one_line_error(proc, 3, "'nowhere'")
