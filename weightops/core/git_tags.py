"""Reading tags with `git for-each-ref`: one process for any number of tags, read while git
prints them, and started before the caller needs them if it likes (`TagListing`).

A part of the git runner (core/git.py re-exports `list_tags` and `iter_tags`), kept apart so
that `weightops resolve` can start git before it imports the rest of weightops: git then
reads the tag objects on one core while Python imports on the other.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

from weightops.core.refs import TagRef

FIELDS = [
    "%(refname:strip=2)", "%(objecttype)", "%(objectname)", "%(*objectname)", "%(*objecttype)",
    "%(taggerdate:unix)", "%(creatordate:unix)", "%(taggername)", "%(taggeremail)",
    "%(contents)",
]


class TagListing:
    """`git for-each-ref` over `patterns` (git's ref globs; every tag by default) in `repo`,
    started when this is made and read through `refs()`, once. With `messages=False` git
    skips the tag messages (a third of its work) and each TagRef's message is "".

    Raises WeightopsError (1) when git is not installed; `refs()` raises GitError (1), after
    the tags git did print, when git fails."""

    def __init__(self, repo: str | os.PathLike, patterns: list[str] | None = None, *, messages: bool = True) -> None:
        self.repo = repo
        # Separators carry a per-call nonce: a tag message cannot forge a field or record boundary.
        nonce = os.urandom(8).hex()
        self._fs, self._end = f"\x1f{nonce}\x1f", f"\x1e{nonce}\x1e\n"   # git ends each record with a newline
        fields = FIELDS if messages else FIELDS[:-1] + [""]
        self.args = ["for-each-ref", f"--format={self._fs.join(fields)}{self._end[:-1]}", *(patterns or ["refs/tags"])]
        try:
            self.proc = subprocess.Popen(["git", *self.args], cwd=repo, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        except FileNotFoundError:
            from weightops.core.git_run import _no_git
            raise _no_git() from None

    def refs(self) -> Iterator[TagRef]:
        """Each tag as a TagRef, in git's order (by ref name), as git prints it. Lightweight
        tags come with `annotated=False` and their commit's date; refs that are not tags of a
        commit are left out. GitError (1) at the end when git failed."""
        fs, end = self._fs, self._end
        with self.proc as proc:
            pending = ""
            for line in proc.stdout:
                if not line.endswith(end):   # a newline inside a tag message: the record goes on
                    pending += line
                    continue
                ref = _tag_ref((pending + line[:-len(end)]).split(fs), self.repo)
                pending = ""
                if ref is not None:
                    yield ref
            err = proc.stderr.read()
        if proc.returncode != 0:
            from weightops.core.git_run import _failed
            raise _failed(self.args, proc.returncode, err)

    def close(self) -> None:
        """Stop git when its answer is no longer wanted (a listing never read). Raises nothing."""
        if self.proc.poll() is None:
            self.proc.kill()
        with self.proc:     # closes the pipes and reaps the process
            pass


def _tag_ref(parts: list[str], repo: str | os.PathLike) -> TagRef | None:
    """One for-each-ref record (the FIELDS) -> TagRef; None for a ref that is not a tag of a
    commit."""
    if len(parts) != 10:
        return None
    name, otype, obj, peeled, ptype, tdate, cdate, tname, temail, contents = parts
    if otype == "tag":
        commit = peeled or obj
        if ptype == "tag":  # a tag of a tag: peel to the commit (rare, so one call each)
            from weightops.core.git_run import run
            commit = run(["rev-parse", f"{obj}^{{commit}}"], cwd=repo, check=False).stdout.strip() or peeled
        return TagRef(name, commit, int(tdate or cdate or 0), True, f"{tname} {temail}".strip(), contents, obj)
    if otype == "commit":
        return TagRef(name, obj, int(cdate or 0), False, "", "", obj)
    return None


def stage_scope(tag_model: str, stage: str, plain: bool) -> tuple[list[str], object]:
    """The ref globs a stage answer reads (the stage's assignment and unassignment tags and
    the model's version tags; plain `v1.2.0` tags too when `plain`, the model being the
    default) for `tag_model` (the model as tags spell it, `dir=name`), and a predicate
    telling, by tag name, whether git would match a name against them (git's for-each-ref:
    a glob's `*` stops at `/`; a literal matches up to a `/`). Pure."""
    exact = f"{tag_model}#{stage}"
    prefixes = (f"{exact}#", f"{exact}!#", f"{tag_model}@") + (("v",) if plain else ())
    patterns = [f"refs/tags/{exact}#*", f"refs/tags/{exact}!#*", f"refs/tags/{exact}", f"refs/tags/{tag_model}@*"]
    if plain:
        patterns.append("refs/tags/v*")

    def matches(name: str) -> bool:
        if name == exact or name.startswith(exact + "/"):
            return True
        return any(name.startswith(p) and "/" not in name[len(p):] for p in prefixes)

    return patterns, matches


def any_model_stage_patterns(stage: str) -> list[str]:
    """Ref globs holding `stage_scope`'s tags for every model whose tag spelling has no `/`:
    what `weightops resolve STAGE` starts reading before it knows the model. Pure."""
    return [f"refs/tags/*#{stage}#*", f"refs/tags/*#{stage}!#*", f"refs/tags/*#{stage}", f"refs/tags/*#{stage}/**",
            "refs/tags/*@*", "refs/tags/v*"]
