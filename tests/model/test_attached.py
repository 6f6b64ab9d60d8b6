"""Which card a commit has (model/attached.py): its own, one attached in git notes, or none.
Notes are written by git itself (`git notes`, and `git fast-import`, which lays out a large notes
tree in fan-out folders as git does)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from weightops.core import git
from weightops.model.attached import NOTES_REF, format_note, note_specs, parse_note, pick_card
from weightops.model.card import CardError

CARD = {"artifact": {"path": "m.pkl", "sha256": "a" * 64, "md5": "b" * 32, "size": 3}}


def _git(repo, *args, input=None):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, input=input).stdout


def _data(text: str) -> str:
    return f"data {len(text.encode())}\n{text}\n"


def test_a_note_is_found_in_git_s_fan_out_layout(tmp_path):
    """300 notes: git stores them under `ab/cdef...` folders, where a flat lookup misses them."""
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "base")
    base = _git(tmp_path, "rev-parse", "HEAD").strip()
    stream = [f"commit refs/heads/many\nmark :{i + 1}\ncommitter B <b@example.com> {1_700_000_000 + i} +0000\n"
              + _data(f"c{i}") + (f"from {base}\n" if i == 0 else "") for i in range(300)]
    stream.append(f"commit {NOTES_REF}\ncommitter B <b@example.com> 1700000000 +0000\n" + _data("cards"))
    stream += [f"N inline :{i + 1}\n" + _data(format_note({"clf": dict(CARD, model=f"n{i}")})) for i in range(300)]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=tmp_path, input="".join(stream).encode(), check=True)
    assert "/" in _git(tmp_path, "ls-tree", "-r", "--name-only", NOTES_REF).splitlines()[0]   # fanned out
    commit = _git(tmp_path, "rev-parse", "many").strip()
    blobs = git.read_blobs(tmp_path, note_specs(commit))
    card, source = pick_card("clf", commit, None, list(blobs.values()), "card")
    assert source == NOTES_REF and card["model"] == "n299" and card["artifact"]["sha256"] == "a" * 64
    assert pick_card("other", commit, None, list(blobs.values()), "card") == (None, None)


def test_the_commit_s_card_wins_and_no_note_means_no_card():
    note = format_note({"clf": dict(CARD, model="attached")}).encode()
    own = yaml.safe_dump(dict(CARD, model="own")).encode()
    assert pick_card("clf", "c" * 40, own, [None, note, None], "card")[0]["model"] == "own"
    assert pick_card("clf", "c" * 40, None, [None, note, None], "card")[0]["model"] == "attached"
    assert pick_card("clf", "c" * 40, None, [None, None, None], "card") == (None, None)
    assert parse_note(note, "c" * 40) == {"clf": dict(CARD, model="attached")}


@pytest.mark.parametrize("text", ["cards: [1, 2]\n", "- clf\n", "cards:\n  clf: 3\n"])
def test_a_malformed_note_is_an_error_never_no_card(text):
    with pytest.raises(CardError, match="weightops-cards"):
        pick_card("clf", "c" * 40, None, [text.encode()], "card")
