"""Each error path gives its documented exit code and one line naming what is wrong."""

import subprocess

import yaml

from helpers import assert_one_line_error, run_cli
from weightops.storage.dvc_config import dvc_remotes


def test_unknown_version_is_not_found(project):
    project.release("v1.0.0")
    assert_one_line_error(project.wo("resolve", "v9.9.9"), 3, "v9.9.9")


def test_bad_reference_is_usage(project):
    assert_one_line_error(project.wo("resolve", "not a ref!"), 2, "not a ref!")
    assert_one_line_error(project.wo("release", "1.2"), 2, "1.2")
    assert_one_line_error(project.wo("resolve", "v1.0.0", "--model", "bad name;rm"), 2, "bad name;rm")


def test_outside_a_repository_is_not_found(tmp_path):
    assert_one_line_error(run_cli(["resolve", "v1.0.0"], cwd=tmp_path), 3, "not inside a git repository")


def test_unknown_model_is_not_found(project):
    project.release("v1.0.0")
    assert_one_line_error(project.wo("resolve", "v1.0.0", "--model", "other"), 3, "other")


def test_release_refuses_dirty_tree(project):
    (project.root / "params.yaml").write_text((project.root / "params.yaml").read_text() + "# edit\n")
    assert_one_line_error(project.wo("release", "v1.0.0"), 5, "params.yaml")


def test_release_refuses_existing_version_and_never_moves_tags(project):
    project.release("v1.0.0")
    before = project.git("rev-parse", "v1.0.0")
    project.train(epochs=30)
    assert_one_line_error(project.wo("release", "v1.0.0", "--push"), 5, "already exists")
    assert project.git("rev-parse", "v1.0.0") == before


def test_release_refuses_object_missing_from_remote(project):
    assert_one_line_error(project.wo("release", "v1.0.0"), 5, "not in remote")
    assert project.git("tag", "-l") == ""


def test_release_refuses_card_that_disagrees_with_weights(project):
    # Weights changed on disk after the card was written: card and bytes disagree.
    project.weights.write_bytes(project.weights.read_bytes()[:-4] + b"\0\0\0\0")
    assert_one_line_error(project.wo("release", "v1.0.0", "--push"), 4, "sha256")
    assert project.git("tag", "-l") == ""


def test_release_refuses_card_that_disagrees_with_pointer(project):
    card = project.card.read_text()
    md5 = next(l.split(":")[1].strip() for l in card.splitlines() if l.strip().startswith("md5:"))
    project.card.write_text(card.replace(md5, "0" * 32))
    project.git("commit", "-qam", "tamper card")
    assert_one_line_error(project.wo("release", "v1.0.0", "--push"), 4, "md5")


def test_resolve_of_tampered_card_is_integrity_error(project):
    project.release("v1.0.0")
    card = project.card.read_text()
    md5 = next(l.split(":")[1].strip() for l in card.splitlines() if l.strip().startswith("md5:"))
    project.card.write_text(card.replace(md5, "f" * 32))
    project.git("commit", "-qam", "tamper card")
    project.git("tag", "v1.0.1")
    assert_one_line_error(project.wo("resolve", "v1.0.1"), 4, "md5")


def test_traceback_flag_shows_traceback(project):
    proc = project.wo("--traceback", "resolve", "v9.9.9")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_init_twice_refuses_naming_files_then_force(tmp_path):
    root = tmp_path / "p"
    run_cli(["init", str(root), "--model", "clf", "--remote", str(tmp_path / "r")], cwd=tmp_path, check=True)
    (root / "params.yaml").write_text("train: {mine: 1}\n")
    # the project is weightops' already: init names the file that says so and will not rewrite it
    line = assert_one_line_error(run_cli(["init", str(root), "--model", "clf"], cwd=tmp_path), 5, "weightops.yaml")
    assert "--force" in line
    assert (root / "params.yaml").read_text() == "train: {mine: 1}\n"  # not clobbered
    (root / "weightops.yaml").write_text("# broken by hand\n")
    run_cli(["init", str(root), "--model", "clf", "--force", "--remote", str(tmp_path / "r")], cwd=tmp_path, check=True)
    # --force replaces weightops' own files; the pipeline's parameters stay the user's
    config = yaml.safe_load((root / "weightops.yaml").read_text())
    assert config["model"] == "clf" and "production" in config["stages"]
    assert (root / "params.yaml").read_text() == "train: {mine: 1}\n"


def test_init_adopts_an_existing_repo_and_keeps_its_gitignore(tmp_path):
    root = tmp_path / "existing"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("my-secret-notes.txt\n")
    (root / "README.md").write_text("mine\n")
    proc = run_cli(["init", str(root), "--model", "clf"], cwd=tmp_path, check=True)
    default_remote = tmp_path / "existing-dvc-remote"
    assert str(default_remote) in proc.stdout and default_remote.is_dir()  # outside the work tree, and said
    ignore = (root / ".gitignore").read_text()
    assert ignore.startswith("my-secret-notes.txt\n") and "*.safetensors" in ignore
    assert (root / "README.md").read_text() == "mine\n"
    default, remotes = dvc_remotes((root / ".dvc" / "config").read_text())
    assert default == "storage" and remotes["storage"].url == str(default_remote)
