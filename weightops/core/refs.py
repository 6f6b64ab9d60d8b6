"""Plain records of what git stores, shared by the git runner and the pure registry code
(which must not import the runner)."""

from __future__ import annotations

from collections import namedtuple

# Model cards attached to released commits (git notes: they move no tag); pushed and fetched
# with the tags. model/attached.py reads them.
CARDS_REF = "refs/notes/weightops-cards"


class TagRef(namedtuple("TagRef", "name commit time annotated tagger message object", defaults=("", "", ""))):
    """One tag as git stores it: `name` (refs/tags/ stripped), `commit` (the peeled commit id),
    `time` (the tagger date, or the committer date for a lightweight tag, in Unix seconds),
    `annotated` (bool), `tagger` ("Name <email>"), `message` (the tag message, "" when not
    read) and `object` (the tag object's id; the commit's for a lightweight tag).

    An immutable named tuple rather than a frozen dataclass: a registry read builds tens of
    thousands of these. `collections.namedtuple`, not `typing.NamedTuple`: importing typing
    costs the resolve path more than building every tuple it reads."""

    __slots__ = ()
