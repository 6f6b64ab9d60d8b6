"""DVC's config read as DVC reads it: files written by `dvc remote add/modify` at every level and
by hand (inline comments, quotes, mixed case), compared with `dvc config --list --show-origin`;
and a pull from S3 whose default remote and credentials live only in the global config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import assert_one_line_error

from deploy.s3env import KEY_ID, SECRET, bucket, moto_server  # noqa: F401 - pytest fixtures
from weightops.storage.dvc_config import config_dirs, dvc_cache_dir, merge_levels, read_levels, remotes_of


def dvc(cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def flatten(conf: dict) -> dict[str, str]:
    """DVC's `section.key=value` / `remote.NAME.key=value` spelling of a config dict."""
    out = {}
    for section, values in conf.items():
        if section in ("remote", "machine", "db"):
            for name, opts in values.items():
                out.update({f"{section}.{name}.{k}": str(v) for k, v in opts.items()})
        elif isinstance(values, dict):
            out.update({f"{section}.{k}": str(v) for k, v in values.items() if not isinstance(v, dict)})
    return out


def dvc_view(root: Path) -> dict[str, dict[str, str]]:
    """`dvc config --list --show-origin`: origin -> {key: value}, in DVC's level order."""
    view: dict[str, dict[str, str]] = {}
    for line in dvc(root, "config", "--list", "--show-origin").splitlines():
        origin, _, setting = line.partition("\t")
        key, _, value = setting.partition("=")
        view.setdefault(origin, {})[key] = value
    return view


def ours(root: Path) -> list:
    dvc_dir = root / ".dvc"
    texts = [(dvc_dir / n).read_bytes() if (dvc_dir / n).is_file() else None for n in ("config", "config.local")]
    return read_levels(*texts, dvc_dir=dvc_dir)


def assert_same_as_dvc(root: Path) -> dict:
    levels = ours(root)
    theirs = dvc_view(root)
    by_origin = {lvl.origin: flatten(lvl.conf) for lvl in levels}
    for origin, settings in theirs.items():
        assert by_origin.get(origin) == settings, origin
    assert {o for o, s in by_origin.items() if s} == set(theirs)   # no level DVC does not see
    merged = {}
    for settings in theirs.values():
        merged.update(settings)
    assert flatten(merge_levels(levels)) == merged
    return merged


@pytest.fixture
def dvc_project(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "system"))
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "init", "-q")
    return root


def test_remotes_written_by_dvc_at_every_level_read_as_dvc_lists_them(dvc_project, tmp_path):
    root = dvc_project
    dvc(root, "remote", "add", "--system", "shared", "/srv/dvc-shared")
    dvc(root, "remote", "modify", "--system", "shared", "jobs", "4")
    dvc(root, "remote", "add", "--global", "-d", "team", "s3://team-bucket/models")
    dvc(root, "remote", "modify", "--global", "team", "access_key_id", "AKIA-GLOBAL")
    dvc(root, "remote", "add", "--global", "mine", "relative/store")     # given relative to the cwd
    dvc(root, "remote", "add", "-d", "store", "../store")                # relative to .dvc/
    dvc(root, "remote", "modify", "store", "verify", "true")
    dvc(root, "remote", "modify", "--local", "team", "secret_access_key", "local-secret")
    dvc(root, "remote", "modify", "--local", "store", "url", "../elsewhere")
    dvc(root, "config", "--global", "cache.dir", "shared-cache")
    merged = assert_same_as_dvc(root)
    default, remotes = remotes_of(merge_levels(ours(root)))
    assert default == "store" == merged["core.remote"]        # the repo level wins over global
    assert remotes["team"].options["access_key_id"] == "AKIA-GLOBAL"
    assert remotes["team"].options["secret_access_key"] == "local-secret"
    assert remotes["store"].url == str(tmp_path / "elsewhere")   # given relative to the cwd, as DVC reads it
    assert remotes["mine"].url == str(root / "relative" / "store")
    assert dvc_cache_dir(root) == root / "shared-cache" == Path(merged["cache.dir"])


def test_hand_written_comments_quotes_and_case_read_as_dvc_reads_them(dvc_project):
    root = dvc_project
    (root / ".dvc" / "config").write_text(
        "[core]\n    remote = store  # team default\n"
        "['remote \"store\"']\n    url = \"s3://bucket/with # hash\"  # quoted: the hash is data\n"
        "    endpointurl = 'http://127.0.0.1:9000'\n"
        "[ 'remote \"Hand\"' ]\n    URL = /data/hand   ; not a comment for ConfigObj\n")
    global_dir = Path(config_dirs()["global"])
    global_dir.mkdir(parents=True)
    (global_dir / "config").write_text("['remote \"store\"']\n    access_key_id = \"AK  ID\"   # quoted spaces\n"
                                       "['remote \"near\"']\n    url = near/store\n")   # beside the global file
    merged = assert_same_as_dvc(root)
    default, remotes = remotes_of(merge_levels(ours(root)))
    assert default == "store" and merged["remote.store.url"] == remotes["store"].url == "s3://bucket/with # hash"
    assert remotes["store"].options["endpointurl"] == "http://127.0.0.1:9000"
    assert remotes["store"].options["access_key_id"] == "AK  ID"
    assert remotes["near"].url == str(global_dir / "near" / "store")
    assert "hand" in remotes    # DVC lower-cases section names, remote names included


def test_config_folders_are_dvcs_own(tmp_path, monkeypatch):
    """Our system and global folders equal dvc/dirs.py's under each environment DVC honours."""
    cases = [{}, {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, {"XDG_CONFIG_DIRS": f"{tmp_path}/a:{tmp_path}/b"},
             {"XDG_CONFIG_HOME": "relative/xdg", "XDG_CONFIG_DIRS": f"rel:{tmp_path}/c"}, {"XDG_CONFIG_DIRS": ""},
             {"HOME": str(tmp_path / "other-home")},
             {"DVC_GLOBAL_CONFIG_DIR": str(tmp_path / "g"), "DVC_SYSTEM_CONFIG_DIR": str(tmp_path / "s")}]
    code = "from dvc.dirs import system_config_dir as s, global_config_dir as g; print(s()); print(g())"
    for extra in cases:
        keys = ("DVC_SYSTEM_CONFIG_DIR", "DVC_GLOBAL_CONFIG_DIR", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "HOME")
        env = {k: v for k, v in os.environ.items() if k not in keys}
        env.update(extra)
        expected = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                  check=True).stdout.split()
        for key in keys:
            monkeypatch.delenv(key, raising=False)
        for key, value in extra.items():
            monkeypatch.setenv(key, value)
        assert [config_dirs()["system"], config_dirs()["global"]] == expected, extra


def test_a_config_configobj_refuses_is_one_line_naming_the_file(project):
    project.release("v1.0.0")
    (project.root / ".dvc" / "config.local").write_text("[core\n  remote = x\n")
    assert_one_line_error(project.wo("resolve", "v1.0.0"), 1, ".dvc/config.local", "dvc config --list")


def test_pull_from_s3_with_remote_and_credentials_only_in_the_global_config(project, bucket, tmp_path):
    """The team's remote lives in ~/.config/dvc/config, as `dvc remote add --global -d` writes it:
    `dvc push` and `dvc pull` use it, and so do weightops' release, resolve and pull."""
    project.dvc("remote", "default", "--unset")
    project.git("commit", "-qam", "no default remote in the repository")
    url = f"s3://{bucket.name}/team"
    project.dvc("remote", "add", "--global", "-d", "team", url)
    for key, value in (("endpointurl", bucket.endpoint), ("access_key_id", KEY_ID), ("secret_access_key", SECRET)):
        project.dvc("remote", "modify", "--global", "team", key, value)
    assert "team" not in (project.root / ".dvc" / "config").read_text()
    assert SECRET in (Path(os.environ["HOME"]) / ".config" / "dvc" / "config").read_text()
    project.release("v1.0.0")                                    # runs `dvc push`: to the global remote
    resolved = project.wo_json("resolve", "v1.0.0")
    assert resolved["remote"] == "team" and resolved["url"].startswith(url + "/files/md5/")
    out = tmp_path / "deploy" / "clf.safetensors"
    project.wo("pull", "v1.0.0", "-o", str(out), check=True)
    assert out.read_bytes() == project.weights.read_bytes()
    project.weights.unlink()
    project.dvc("pull", "-q", str(project.weights.relative_to(project.root)))   # DVC agrees on where it is
    assert project.weights.read_bytes() == out.read_bytes()
