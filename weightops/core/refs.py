"""Plain records of what git stores, shared by the git runner and the pure registry code
(which must not import the runner)."""

from __future__ import annotations

from typing import NamedTuple


class TagRef(NamedTuple):
    """One tag as git stores it. `commit` is the peeled commit; `time` is the tagger date
    (committer date for a lightweight tag), in Unix seconds. An immutable NamedTuple rather
    than a frozen dataclass: a registry read builds tens of thousands of these."""

    name: str
    commit: str
    time: int
    annotated: bool
    tagger: str = ""
    message: str = ""
    object: str = ""
