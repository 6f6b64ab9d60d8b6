"""`weightops diff`: what a branch does to the models, as a reviewer reads it."""

import hashlib
import json

import yaml

from helpers import assert_one_line_error, two_versions
from weightops.review.diff import ModelState, compare, render_markdown, render_text, DiffReport


def _lock_md5(project, rev):
    lock = yaml.safe_load(project.git("show", f"{rev}:dvc.lock"))
    return next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].endswith(".safetensors"))


def _metrics(project, rev):
    return json.loads(project.git("show", f"{rev}:metrics.json"))


def _retrain_on_branch(project):
    old_sha = hashlib.sha256(project.weights.read_bytes()).hexdigest()
    project.git("checkout", "-qb", "exp")
    project.train("lower lr", lr=0.1)
    new_sha = hashlib.sha256(project.weights.read_bytes()).hexdigest()
    assert old_sha != new_sha
    return old_sha, new_sha


def test_diff_of_retrained_model_on_branch_text(project):
    old_sha, new_sha = _retrain_on_branch(project)
    proc = project.wo("diff", check=True)  # merge base with main vs the work tree
    out = proc.stdout
    assert "clf (changed, weights changed)" in out
    assert f"md5     {_lock_md5(project, 'main')}\n       -> {_lock_md5(project, 'exp')}\n" in out
    assert f"sha256  {old_sha}\n       -> {new_sha}\n" in out
    assert "train.lr: 0.5 -> 0.1 (-0.4)" in out
    old, new = _metrics(project, "main"), _metrics(project, "exp")
    delta = new["accuracy"] - old["accuracy"]
    assert f"accuracy: {old['accuracy']:.6g} -> {new['accuracy']:.6g} ({delta:+.6g})" in out
    # explicit revisions give the same models
    assert "clf (changed, weights changed)" in project.wo("diff", "main", "exp", check=True).stdout


def test_diff_markdown_is_a_pr_comment(project):
    old_sha, new_sha = _retrain_on_branch(project)
    md = project.wo("diff", "main", "HEAD", "--format", "markdown", check=True).stdout
    assert md.startswith("### weightops: model changes")
    assert "#### `clf` (changed: weights changed)" in md
    assert f"| sha256 | `{old_sha}` | `{new_sha}` | |" in md
    assert "| train.lr | `0.5` | `0.1` | -0.4 |" in md
    # every table row has the header's column count (renders as a table on GitHub/GitLab)
    for line in md.splitlines():
        if line.startswith("| "):
            assert line.count(" | ") + 2 == 5 or line.startswith("| ---"), line


def test_diff_json(project):
    old_sha, new_sha = _retrain_on_branch(project)
    doc = json.loads(project.wo("diff", "main", "exp", "--format", "json", check=True).stdout)
    assert doc["changed"] is True
    [m] = doc["models"]
    assert m["model"] == "clf" and m["weights_changed"] is True
    assert m["old"]["md5"] == _lock_md5(project, "main") and m["new"]["md5"] == _lock_md5(project, "exp")
    assert (m["old"]["sha256"], m["new"]["sha256"]) == (old_sha, new_sha)
    assert m["size_delta"] == m["new"]["size"] - m["old"]["size"]
    lr = next(c for c in m["changes"]["params"] if c["key"] == "train.lr")
    assert (lr["old"], lr["new"]) == (0.5, 0.1)
    acc = next(c for c in m["changes"]["metrics"] if c["key"] == "accuracy")
    assert abs(acc["delta"] - (acc["new"] - acc["old"])) < 1e-9


def test_diff_with_no_model_change_is_one_line(project):
    (project.root / "README.md").write_text("docs only\n")
    project.git("add", "README.md")
    project.git("commit", "-qm", "docs")
    for fmt in ("text", "markdown"):
        out = project.wo("diff", "HEAD~1", "HEAD", "--format", fmt, check=True).stdout
        assert len(out.strip().splitlines()) == 1 and "no model changes" in out
    doc = json.loads(project.wo("diff", "--format", "json", check=True).stdout)
    assert doc == {"base": doc["base"], "head": "work tree", "changed": False, "models": []}


def test_diff_bad_revision_and_format(project):
    assert_one_line_error(project.wo("diff", "nope-branch"), 3, "nope-branch")
    assert_one_line_error(project.wo("diff", "--format", "html"), 2, "--format")
    assert_one_line_error(project.wo("diff", "--", "-x"), 2)


def test_card_sections_compared():
    card = {"artifact": {"sha256": "a" * 64}, "metrics": {"acc": 0.9, "eval": {"f1": 0.5}},
            "lineage": {"params": {"train": {"lr": 0.5}}, "deps": {"data/train.csv": "m1"}},
            "environment": {"python": "3.11.7", "packages": {"torch": "2.3.0"}, "gpu": None},
            "labels": {"sensor": "v1"}, "signature": {"inputs": [{"name": "x"}]}}
    new = json.loads(json.dumps(card))
    new["metrics"]["eval"]["f1"] = 0.75
    new["lineage"]["deps"]["data/train.csv"] = "m2"
    new["environment"]["packages"]["torch"] = "2.4.0"
    new["environment"]["gpu"] = "NVIDIA A100"
    new["labels"]["sensor"] = "v2"
    new["signature"]["inputs"].append({"name": "y"})
    d = compare(ModelState("m", "w.pt", "1" * 32, 10, card), ModelState("m", "w.pt", "1" * 32, 10, new))
    assert d is not None and not d.weights_changed
    keys = {s: [c.key for c in cs] for s, cs in d.sections.items()}
    assert keys == {"metrics": ["eval.f1"], "deps": ["data/train.csv"],
                    "environment": ["gpu", "packages.torch"], "labels": ["sensor"], "signature": ["signature"]}
    assert d.sections["metrics"][0].delta == 0.25
    text = render_text(DiffReport("a", "b", (d,)))
    assert "packages.torch: 2.4.0" not in text and "packages.torch: 2.3.0 -> 2.4.0" in text
    assert "weights unchanged, card changed" in render_markdown(DiffReport("a", "b", (d,)))
    # identical states are not a change
    assert compare(ModelState("m", "w.pt", "1" * 32, 10, card), ModelState("m", "w.pt", "1" * 32, 10, card)) is None


def test_added_and_removed_models():
    card = {"artifact": {"sha256": "c" * 64}, "metrics": {"acc": 0.8}}
    added = compare(None, ModelState("det", "models/det.onnx", "2" * 32, 2048, card))
    assert added.status == "added" and added.weights_changed and added.size_delta is None
    assert added.sections["metrics"][0].old is None and added.sections["metrics"][0].new == 0.8
    removed = compare(ModelState("det", "models/det.onnx", "2" * 32, 2048, card), None)
    assert removed.status == "removed"
    text = render_text(DiffReport("a", "b", (added, removed)))
    assert "det (added, weights changed)" in text and "size    - -> 2.0 KiB" in text
    assert "det (removed, weights changed)" in text


def test_values_that_print_alike_read_as_unchanged():
    """A metric that moved below the digits shown (1.00000000001 -> 1) and an unchanged size or
    digest print as unchanged, never `1 -> 1 (-0)` or `(+0 B)`; every line fits 80 columns."""
    old = {"artifact": {"sha256": "a" * 64}, "metrics": {"acc": 1.00000000001, "loss": 0.5}}
    new = {"artifact": {"sha256": "a" * 64}, "metrics": {"acc": 1, "loss": 0.25}}
    d = compare(ModelState("m", "w.pt", "1" * 32, 10, old), ModelState("m", "w.pt", "1" * 32, 10, new))
    text = render_text(DiffReport("a", "b", (d,)))
    assert "acc: 1 (unchanged)" in text and "loss: 0.5 -> 0.25 (-0.25)" in text
    assert "size    10 B (unchanged)" in text and f"  sha256  {'a' * 64}\n" in text
    assert "m (changed, weights unchanged)" in text
    assert "-0)" not in text and "+0 B" not in text and " -> 1 " not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "| unchanged |" in render_markdown(DiffReport("a", "b", (d,)))
    assert d.sections["metrics"][0].delta == 0.0 and str(d.sections["metrics"][0].delta) == "0.0"


def test_diff_takes_versions_as_every_command_does(project):
    """With GTO's named tags (`clf@v1.0.0`) no git ref is called `v1.0.0`: diff reads the version
    through the registry, as resolve and pull do, with or without its `v`."""
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text().replace("tag_style: plain", "tag_style: named"))
    project.git("commit", "-qam", "named tags")
    two_versions(project)
    assert project.git("tag", "-l", "v1.0.0") == ""
    by_version = json.loads(project.wo("diff", "v1.0.0", "v1.1.0", "--format", "json", check=True).stdout)
    by_tag = json.loads(project.wo("diff", "clf@v1.0.0", "clf@v1.1.0", "--format", "json", check=True).stdout)
    assert by_version["models"] == by_tag["models"] and by_version["changed"] is True
    assert json.loads(project.wo("diff", "1.0.0", "1.1.0", "--format", "json", check=True).stdout)["models"] == by_tag["models"]
    assert_one_line_error(project.wo("diff", "v9.0.0", "v1.1.0"), 3, "v9.0.0")
