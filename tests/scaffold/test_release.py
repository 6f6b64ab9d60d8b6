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


def _without_card_stage(project):
    """The project as an adopted pipeline has it: dvc.yaml trains, nothing writes the card."""
    import yaml

    doc = yaml.safe_load((project.root / "dvc.yaml").read_text())
    for stage in ("card", "validate"):
        doc["stages"].pop(stage)
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    project.git("rm", "-q", "models/clf.validation.yaml")
    project.dvc("commit", "-q", "-f")
    project.git("add", "-A")
    project.git("commit", "-qm", "the card is written by hand")


def test_a_forgotten_card_gets_advice_that_fixes_it(project):
    import shlex

    from helpers import assert_one_line_error, run_cli

    _without_card_stage(project)
    project.release("v1.0.0")
    project.train(epochs=40)                     # retrained; the card was not written again
    assert "up to date" in project.dvc("repro").stdout.lower()   # so `dvc repro` cannot be the fix
    line = assert_one_line_error(project.wo("release", "v1.1.0"), 4, "weightops card models/clf.safetensors "
                                 "-o models/clf.card.yaml --model clf")
    assert "dvc repro" not in line
    fix = line.split("`")[1]
    run_cli(shlex.split(fix)[1:], cwd=project.root, check=True)   # the advice, as written
    project.git("commit", "-qam", "card")
    project.release("v1.1.0")
    # no card at all: the same advice, exit 3
    project.git("rm", "-q", "models/clf.card.yaml")
    project.git("commit", "-qm", "lost the card")
    line = assert_one_line_error(project.wo("release", "v1.2.0"), 3, "not found", "weightops card models/clf.safetensors")
    assert "dvc repro" not in line


def test_where_a_stage_writes_the_card_the_advice_is_dvc_repro(project):
    from helpers import assert_one_line_error

    project.set_params(epochs=40)
    project.dvc("repro", "-q", "train")          # the train stage alone: the card stage did not run
    project.git("add", "-A")
    project.git("commit", "-qm", "retrain, card stale")
    assert_one_line_error(project.wo("release", "v1.0.0"), 4, "run `dvc repro` (stage 'card' writes the card)")
    project.dvc("repro", "-q")
    project.git("commit", "-qam", "card")
    project.release("v1.0.0")


def test_release_push_names_the_git_remote(project, tmp_path):
    project.git("init", "-q", "--bare", str(tmp_path / "team.git"))
    project.git("remote", "add", "team", str(tmp_path / "team.git"))
    proc = project.release("v1.0.0")
    assert "and pushed to git remote 'team'" in proc.stdout
    assert "v1.0.0" in project.git("ls-remote", "--tags", "team")
