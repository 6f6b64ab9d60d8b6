"""Lineage recorded at training time (the commit the code came from, the inputs that differed
from it, by content) and decided at release (does the released commit hold exactly the inputs
the card names?). DVC is the reference: `dvc status` at the released commit says whether the
training stage's inputs changed, and the release notes must agree with it."""

from __future__ import annotations

import yaml


def lineage(project) -> dict:
    return yaml.safe_load(project.card.read_text())["lineage"]


def dvc_says_train_is_current(project) -> bool:
    out = project.dvc("status", "train").stdout
    return "changed" not in out and "modified" not in out


def test_card_written_before_the_first_commit(project):
    # the golden project ran `dvc repro` before its first commit, as the README says
    lin = lineage(project)
    assert lin["commit"] is None and lin["dirty"] is True
    assert lin["inputs_differ"] == ["deps src/train.py"] + [f"params train.{k}" for k in sorted(lin["params"]["train"])]
    project.git("tag", "v1.0.0")
    notes = project.wo("release-notes", "v1.0.0", check=True).stdout
    assert "trained before the repository's first commit" in notes
    assert "**reproducible from this commit**" in notes and "uncommitted" not in notes
    assert dvc_says_train_is_current(project)


def test_retrained_before_commit_names_the_changed_input(project):
    base = project.head()
    project.set_params(lr=0.2)
    project.dvc("repro", "-q")
    lin = lineage(project)
    assert lin["commit"] == base and lin["inputs_differ"] == ["params train.lr"] and lin["dirty"] is True
    project.git("add", "-A")
    project.git("commit", "-qm", "lr 0.2")
    project.git("tag", "v1.1.0")
    notes = project.wo("release-notes", "v1.1.0", check=True).stdout
    assert f"trained from code at commit `{base}`; inputs that differed from it then: `params train.lr`" in notes
    assert "**reproducible from this commit**" in notes
    assert dvc_says_train_is_current(project)
    # trained again on a clean tree: nothing differed
    project.dvc("repro", "-q", "-f", "card")
    assert lineage(project)["inputs_differ"] == [] and lineage(project)["commit"] == project.head()


def test_release_whose_commit_holds_other_inputs_names_them(project):
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    lr = params["train"]["lr"]
    project.set_params(lr=0.9)        # edited after training, never re-run
    train = project.root / "src" / "train.py"
    train.write_text(train.read_text() + "\n# tweak\n")
    project.git("commit", "-qam", "edit without dvc repro")
    project.git("tag", "v1.2.0")
    assert not dvc_says_train_is_current(project)
    notes = project.wo("release-notes", "v1.2.0", check=True).stdout
    line = next(l for l in notes.splitlines() if l.startswith("- released from commit"))
    assert "**not reproducible from this commit as is**" in line
    assert "`deps src/train.py`" in line and f"`params train.lr` (card {lr}, commit 0.9)" in line
    assert "params train.epochs" not in line
