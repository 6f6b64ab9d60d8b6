"""`weightops release`: the guarded way to make a version tag."""

import hashlib


def test_release_push_writes_annotated_tag_with_sha256(project):
    project.release("v1.0.0")  # --push: dvc push first, then the tag
    sha = hashlib.sha256(project.weights.read_bytes()).hexdigest()
    assert project.git("cat-file", "-t", "v1.0.0") == "tag"
    message = project.git("tag", "-l", "--format=%(contents)", "v1.0.0")
    assert f"sha256: {sha}" in message and "version: v1.0.0" in message
    # the object is in the local remote where resolve says it is
    url = project.wo_json("resolve", "v1.0.0")["url"]
    assert hashlib.sha256(open(url, "rb").read()).hexdigest() == sha


def test_release_with_named_model_uses_gto_tag(project):
    project.release("v0.1.0", "--model", "clf")
    # the project default is the plain style; a named style config makes NAME@vX
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text().replace("tag_style: plain", "tag_style: named"))
    project.git("commit", "-qam", "named tags")
    project.release("v0.2.0")
    assert set(project.git("tag", "-l").split()) == {"v0.1.0", "clf@v0.2.0"}
    assert project.wo_json("resolve", "latest")["tag"] == "clf@v0.2.0"
