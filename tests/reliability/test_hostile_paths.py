"""Hostile paths: symlinks that leave the repository or the destination, names with newlines,
`..` and absolute paths in pointers (the DVC-file readers' cases are in test_hostile_files)."""

from __future__ import annotations

import os

import pytest

from helpers import assert_one_line_error


def test_pull_refuses_a_destination_through_a_symlink_that_leaves_it(project, tmp_path):
    project.release("v1.0.0")
    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "deploy"
    work.mkdir()
    (work / "link").symlink_to(outside)
    proc = project.wo("pull", "v1.0.0", "--repo", str(project.root), "-o", "link/model.bin", cwd=work)
    assert_one_line_error(proc, 5, "link/model.bin", "symlink", str(outside))
    assert os.listdir(outside) == []
    # The same pull into a real folder works.
    (work / "real").mkdir()
    project.wo("pull", "v1.0.0", "--repo", str(project.root), "-o", "real/model.bin", cwd=work, check=True)
    assert (work / "real" / "model.bin").read_bytes() == project.weights.read_bytes()


def test_pull_refuses_to_follow_a_destination_file_symlinked_elsewhere(project, tmp_path):
    project.release("v1.0.0")
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch")
    work = tmp_path / "deploy"
    work.mkdir()
    (work / "model.bin").symlink_to(victim)
    proc = project.wo("pull", "v1.0.0", "--repo", str(project.root), "-o", "model.bin", cwd=work)
    assert_one_line_error(proc, 5, "symlink")
    assert victim.read_text() == "do not touch" and (work / "model.bin").is_symlink()


@pytest.mark.parametrize("command", ["card", "release"])
def test_weights_that_are_a_symlink_out_of_the_repo_are_refused(project, command):
    project.weights.unlink()
    project.weights.symlink_to("/etc/passwd")
    if command == "card":
        proc = project.wo("card", "models/clf.safetensors", "-o", "models/clf.card.yaml")
    else:
        project.git("add", "-A")
        project.git("commit", "-qm", "weights link", check=False)
        proc = project.wo("release", "v1.0.0")
    assert_one_line_error(proc, 5, "models/clf.safetensors", "/etc/passwd")
    assert "root:" not in project.card.read_text()
    assert project.git("tag", "-l") == ""


@pytest.mark.parametrize("path", ["models/a\nb.safetensors", "models/a\rb", "../../../etc/passwd", "/etc/passwd",
                                  "models/../../x.bin"])
def test_artifact_paths_with_newlines_or_escapes_are_refused(project, path):
    import yaml
    dvc_yaml = project.root / "dvc.yaml"
    doc = yaml.safe_load(dvc_yaml.read_text())
    doc["artifacts"]["clf"]["path"] = path
    dvc_yaml.write_text(yaml.safe_dump(doc))
    project.git("commit", "-qam", "hostile path")
    project.git("tag", "v6.6.6")
    for args in (("resolve", "v6.6.6"), ("pull", "v6.6.6", "-o", "out.bin")):
        proc = project.wo(*args)
        line = assert_one_line_error(proc, 2)
        assert "escapes" in line or "absolute" in line or "invalid path" in line, line
    assert not (project.root / "out.bin").exists()


def _directory_with_a_link(project, tmp_path, link_to_folder: bool = False):
    """models/ckpt: a directory artifact with one real file and one symlink leading out."""
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE KEY\n")
    ckpt = project.root / "models" / "ckpt"
    ckpt.mkdir()
    (ckpt / "shard-0.bin").write_bytes(b"w" * 64)
    if link_to_folder:
        (ckpt / "extra").symlink_to(secret)
    else:
        (ckpt / "shard-1.bin").symlink_to(secret / "id_rsa")
    return ckpt


@pytest.mark.parametrize("link_to_folder", [False, True])
def test_card_refuses_a_directory_file_linked_out_of_the_repo(project, tmp_path, link_to_folder):
    ckpt = _directory_with_a_link(project, tmp_path, link_to_folder)
    proc = project.wo("card", "models/ckpt", "-o", "models/ckpt.card.yaml", "--model", "ckpt")
    name = "extra" if link_to_folder else "shard-1.bin"
    assert_one_line_error(proc, 5, f"models/ckpt/{name}", str(tmp_path / "outside"))
    assert not (project.root / "models" / "ckpt.card.yaml").exists()
    # A link that stays inside the repository is an ordinary file of the artifact.
    (ckpt / name).unlink()
    (ckpt / name).symlink_to(project.root / "params.yaml")
    assert project.wo("card", "models/ckpt", "-o", "models/ckpt.card.yaml", "--model", "ckpt").returncode == 0


def test_release_refuses_a_directory_file_linked_out_of_the_repo(project, tmp_path):
    import yaml

    from weightops.model.card import build_card, write_card

    _directory_with_a_link(project, tmp_path)
    doc = yaml.safe_load((project.root / "dvc.yaml").read_text())
    doc["artifacts"]["ckpt"] = {"path": "models/ckpt", "type": "model"}
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    project.dvc("add", "-q", "models/ckpt")   # DVC follows the link: the secret is in its hashes
    # `dvc add` copies the target in; a link put back (same bytes, DVC sees no change) leads out again.
    link = project.root / "models" / "ckpt" / "shard-1.bin"
    link.unlink()
    link.symlink_to(tmp_path / "outside" / "id_rsa")
    assert "up to date" in project.dvc("status").stdout.lower()
    # A card made by a version of weightops that did not look inside directories.
    write_card(build_card(project.root / "models" / "ckpt", "ckpt", project=None), project.root / "models" / "ckpt.card.yaml")
    project.git("add", "-A")
    project.git("commit", "-qm", "sharded checkpoint")
    proc = project.wo("release", "v1.0.0", "--model", "ckpt", "--push")
    assert_one_line_error(proc, 5, "models/ckpt/shard-1.bin", str(tmp_path / "outside"))
    assert project.git("tag", "-l") == ""
    assert "PRIVATE KEY" not in "".join(p.read_text(errors="replace") for p in project.remote.rglob("*") if p.is_file())


def test_links_into_a_shared_dvc_cache_are_dvcs_own(project, tmp_path):
    """`cache.type symlink` with a cache outside the repository (a shared cache on a server):
    every tracked file is a link out of the repo, made by DVC; card and release accept them."""
    import yaml

    shared = tmp_path / "shared-cache"
    project.dvc("push", "-q")            # the golden project's object, before the cache moves
    project.dvc("cache", "dir", str(shared))
    project.dvc("config", "cache.type", "symlink")
    project.dvc("pull", "-q")
    proc = project.dvc("checkout", "--relink", "--force", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert project.weights.is_symlink() and shared in project.weights.resolve().parents
    ckpt = project.root / "models" / "ckpt"
    ckpt.mkdir()
    (ckpt / "shard-0.bin").write_bytes(b"w" * 64)
    (ckpt / "shard-1.bin").write_bytes(b"v" * 64)
    doc = yaml.safe_load((project.root / "dvc.yaml").read_text())
    doc["artifacts"]["ckpt"] = {"path": "models/ckpt", "type": "model"}
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    project.dvc("add", "-q", "models/ckpt")
    assert (ckpt / "shard-1.bin").is_symlink()
    project.wo("card", "models/ckpt", "-o", "models/ckpt.card.yaml", "--model", "ckpt", check=True)
    project.wo("card", "models/clf.safetensors", "-o", "models/clf.card.yaml", "--model", "clf",
               "--metrics", "metrics.json", check=True)
    project.git("add", "-A")
    project.git("commit", "-qm", "shared cache")
    project.wo("release", "v1.0.0", "--model", "ckpt", "--push", check=True)
    project.wo("release", "v1.0.0", "--model", "clf", "--push", check=True)
    # A link out of the repository that is not into the cache is still refused.
    (ckpt / "shard-1.bin").unlink()
    (ckpt / "shard-1.bin").symlink_to(tmp_path / "elsewhere.bin")
    (tmp_path / "elsewhere.bin").write_bytes(b"v" * 64)
    proc = project.wo("card", "models/ckpt", "-o", "models/x.card.yaml", "--model", "ckpt")
    assert_one_line_error(proc, 5, "models/ckpt/shard-1.bin", "elsewhere.bin")
