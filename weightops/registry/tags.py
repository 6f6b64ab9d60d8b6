"""The tag grammar: parse and format registry tags. Every regex of the project lives here.

Tags are GTO's format so GTO and `dvc artifacts` read the same registry:

    v1.2.0                  version of the project's default model (weightops' plain style)
    NAME@v1.2.0             version of a named model (GTO register)
    NAME@v1.2.0!            deregistration (GTO)
    NAME@deprecated         the model is deprecated (GTO)
    NAME#STAGE#N            assignment of the commit's version to STAGE, counter N
    NAME#STAGE!#N           unassignment
    dir=NAME@v1.2.0         a model declared in dir/dvc.yaml (`dir:NAME` in DVC)

Parsing is pure and raises `TagError` (a `UsageError`) for anything outside the grammar.
"""

from __future__ import annotations

import enum
import re
from collections import namedtuple
from dataclasses import dataclass
from functools import total_ordering

from weightops.errors import UsageError

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
SEMVER = (
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
# GTO's names: letters, digits, '-', '_', '/', starting and ending alphanumeric.
NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9_/-]*[a-zA-Z0-9])?"
DIRNAME = r"[a-zA-Z0-9_./-]+"
# Stages weightops writes: lower-case words joined by '-' (staging, production, edge-v2).
STAGE = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"

# \Z, not $: `$` also matches before a trailing newline, which would let "v1.0.0\n" through.
_VERSION_RE = re.compile(rf"^v{SEMVER}\Z")
_MODEL_RE = re.compile(rf"^(?:(?P<dir>{DIRNAME}):)?(?P<name>{NAME})\Z")
_STAGE_RE = re.compile(rf"^{STAGE}\Z")
_TAG_RE = re.compile(
    rf"^(?P<model>(?:{DIRNAME}=)?{NAME})"
    rf"(?:@(?P<version>v{SEMVER})(?P<dereg>!?)"
    rf"|@(?P<deprecated>deprecated)"
    rf"|#(?P<stage>{NAME})(?P<unassign>!?))"
    rf"(?:#(?P<counter>[0-9]{{1,9}}))?\Z"
)
_PLAIN_VERSION_TAG_RE = re.compile(rf"^v{SEMVER}\Z")
# What people write when they mean a version: `1.2.0`, `v1.2`, `V1.2.0`, `clf@1.2.0`. Only an
# error message needs it, so it is compiled on first use (each compile costs every process).
_LOOKALIKE = rf"^(?:(?P<model>(?:{DIRNAME}=)?{NAME})@)?[vV]?(?P<nums>\d+(?:\.\d+){{0,2}})(?P<rest>[-+][0-9A-Za-z.+-]*)?\Z"


class TagError(UsageError):
    """A string that is not a tag, version, stage or model name of the grammar."""


class Kind(enum.Enum):
    """What a registry tag records; the values are the words GTO's `gto history` uses."""

    REGISTER = "registration"
    DEREGISTER = "deregistration"
    DEPRECATE = "deprecation"
    ASSIGN = "assignment"
    UNASSIGN = "unassignment"


class Tag(namedtuple("Tag", "name kind model version stage counter", defaults=(None, None, None))):
    """A parsed registry tag: `name` (the tag), `kind` (a Kind), `model` (None for a plain
    `v1.2.0`: the default model), `version` (`v1.2.0`, for a registration or deregistration),
    `stage` (for an assignment or unassignment) and `counter` (GTO's `#N`, an int, or None).
    A named tuple (immutable, and cheap: every registry read parses every tag), from
    `collections`, as importing typing would cost the resolve path more than the parsing."""

    __slots__ = ()


@total_ordering
@dataclass(frozen=True)
class SemVer:
    """A SemVer 2.0 version (semver.org): `major.minor.patch`, `pre` (the pre-release
    identifiers as strings, `("rc", "1")`) and `build` (metadata, ignored in comparisons).
    Ordered by SemVer precedence; build it with `parse_version`."""

    major: int
    minor: int
    patch: int
    pre: tuple = ()
    build: str = ""

    def _key(self) -> tuple:
        # SemVer 2.0 precedence: a pre-release sorts before its release; numeric ids
        # sort numerically and before alphanumeric ones; build metadata is ignored.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other: "SemVer") -> bool:
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def parse_version(text: str) -> SemVer:
    """Parse `v1.2.0` (a leading `v` is required in tags; `1.2.0` is accepted here too).
    Raises TagError (exit 2), suggesting the version meant (`v1.2` -> `v1.2.0`) when there is one."""
    candidate = text if text.startswith("v") else f"v{text}"
    m = _VERSION_RE.match(candidate)
    if not m:
        meant = version_lookalike(text)
        hint = f"; did you mean {meant}?" if meant else "; write it like v1.2.0 or v1.2.0-rc.1"
        raise TagError(f"'{_show(text)}' is not a SemVer version (MAJOR.MINOR.PATCH){hint}")
    pre = tuple(m["pre"].split(".")) if m["pre"] else ()
    return SemVer(int(m["major"]), int(m["minor"]), int(m["patch"]), pre, m["build"] or "")


def normalize_version(text: str) -> str:
    """`1.2.0` -> `v1.2.0` (tags carry the `v`), validated. TagError (exit 2) otherwise."""
    parse_version(text)
    return text if text.startswith("v") else f"v{text}"


def understood_version(text: str) -> str | None:
    """What a version typed without its `v` was read as, for a one-line note: `1.3.0` ->
    "read '1.3.0' as v1.3.0"; None when the text was already a tag-form version."""
    if text.startswith("v") or not is_version(text):
        return None
    return f"read '{_show(text)}' as v{text}"


def version_lookalike(name: str) -> str | None:
    """The registry tag a tag outside the grammar was probably meant to be: `1.2.0` -> `v1.2.0`,
    `v1.2` -> `v1.2.0`, `clf@1.2` -> `clf@v1.2.0`; None when it does not look like a version
    or is one already. Pure; used to explain, never to read such a tag as a version."""
    m = re.match(_LOOKALIKE, name or "")
    if not m or try_parse_tag(name) is not None:
        return None
    nums = m["nums"].split(".")
    if len(nums) < 2 and name[:1] not in "vV":
        return None  # a bare number is not taken for a version
    if any(len(n) > 1 and n.startswith("0") for n in nums):
        return None
    version = "v" + ".".join(nums + ["0"] * (3 - len(nums))) + (m["rest"] or "")
    if not _VERSION_RE.match(version):
        return None
    return f"{m['model']}@{version}" if m["model"] else version


def did_you_mean(word: str, choices) -> str:
    """`; did you mean production?` for a near miss among `choices` (strings), else ''. Pure."""
    import difflib   # only for a near miss; resolve's normal path never needs it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def unknown_stage(stage: str, known) -> "TagError":
    """The TagError (exit 2; returned, not raised) for a stage name the project does not have,
    listing the `known` stages: every command gives this one answer."""
    known = list(dict.fromkeys(known))
    return TagError(f"'{_show(stage)}' is not a stage of this project (stages: {', '.join(known) or 'none'})"
                    f"{did_you_mean(stage, known)}", stage=stage)


def check_stage(stage: str, allowed, seen=()) -> str:
    """A stage a command may read or write: in the project's config (`allowed`) or already used
    by a tag (`seen`: GTO may have assigned others; they are the project's too). Raises TagError
    (exit 2) with a suggestion, or saying why a name weightops reads otherwise cannot be one."""
    if stage in allowed or stage in seen:
        return validate_stage(stage)
    reserved = reserved_stage(stage) if isinstance(stage, str) else None
    if reserved:
        raise TagError(f"'{_show(stage)}' cannot be a new stage: {reserved}", stage=stage)
    validate_stage(stage)
    raise unknown_stage(stage, [*allowed, *sorted(seen)])


# `v1`, `v2-1`: what a reader takes for a version (v1.0.0) before a stage. Compiled on first
# use (see _LOOKALIKE): only stage names entering the project need it.
_VERSIONISH = r"^[vV]?\d+(?:[.-]\d+)*\Z"


def reserved_stage(stage: str) -> str | None:
    """Why `stage` already means something else to weightops (`latest`: the newest release;
    `v1`, `1.2.0`: a version), as the rest of a one-line message; None for a free name. Pure."""
    if stage == "latest":
        return "`latest` already means the newest release (resolve/pull/lock latest)"
    if is_version(stage) or re.match(_VERSIONISH, stage or "") or version_lookalike(stage):
        meant = version_lookalike(stage) or (stage if stage.startswith("v") else f"v{stage}")
        return f"'{_show(stage)}' reads as a version ({meant}); name stages with words (staging, prod, edge-v2)"
    return None


def reserved_stage_reading(stage: str) -> str | None:
    """For a stage GTO tags already use whose name weightops reads otherwise (`reserved_stage`):
    one line saying how each command reads it; None for a free name. Pure."""
    if reserved_stage(stage) is None:
        return None
    if stage == "latest":
        return ("GTO tags use stage 'latest', a name weightops reads as the newest release: `resolve latest`, "
                "`pull latest` and `lock latest` answer the newest release, not this stage; `history`, "
                "`promote`, `demote` and `rollback` read it as the stage; weightops.yaml cannot list it")
    return (f"GTO tags use stage '{_show(stage)}', a name that reads as version {version_lookalike(stage) or stage}: "
            f"`resolve {_show(stage)}`, `pull`, `history`, `promote`, `demote` and `rollback` read it as the stage "
            "(a version needs its full form, v1.0.0); weightops.yaml cannot list it")


def validate_new_stage(stage: str) -> str:
    """A stage name entering the project (weightops.yaml `stages:`, init): the stage grammar,
    and not a name weightops already reads as something else (`reserved_stage`). Raises
    TagError (exit 2)."""
    reserved = reserved_stage(stage) if isinstance(stage, str) else None
    if reserved:
        raise TagError(f"'{_show(stage)}' cannot be a stage name: {reserved}", stage=stage)
    return validate_stage(stage)


def is_version(text: str) -> bool:
    """Whether `text` is a SemVer version, with or without its leading `v`. Pure."""
    return bool(_VERSION_RE.match(text if text.startswith("v") else f"v{text}"))


def normalize_model_name(name: str) -> str:
    """DVC's spellings of one artifact, as DVC's `_reformat_name` maps them (dvc/repo/artifacts.py):
    `dir/dvc.yaml:name` -> `dir:name`, `dvc.yaml:name` -> `name`; a trailing `/` of the folder
    and a leading `./` are dropped. Anything else is returned unchanged."""
    if not isinstance(name, str) or ":" not in name:
        return name
    folder, _, base = name.rpartition(":")
    parts = [p for p in folder.split("/") if p not in ("", ".")]
    if parts and parts[-1] == "dvc.yaml":
        parts.pop()
    return f"{'/'.join(parts)}:{base}" if parts else base


def validate_model_name(name: str) -> str:
    """A DVC artifact name: `name`, or `dir:name` / `dir/dvc.yaml:name` for a nested dvc.yaml.
    Returns the canonical form (`dir:name`, GTO's); raises TagError (exit 2) otherwise."""
    name = normalize_model_name(name)
    if not _MODEL_RE.match(name or "") or ".." in name.split(":")[0].split("/"):
        raise TagError(
            f"'{_show(name)}' is not a valid model name; use letters, digits, '-', '_' "
            "(and 'dir:name' for a nested dvc.yaml)"
        )
    return name


# A name weightops creates (init, card): what the README allows, a subset of GTO's names ('/' is
# left to names GTO wrote, which weightops still reads).
_NEW_NAME = r"^[a-zA-Z0-9](?:[a-zA-Z0-9_-]*[a-zA-Z0-9])?$"


def validate_new_model_name(name: str, *, nested: bool = True) -> str:
    """The one check for a model name entering the project (init, card): letters, digits, '-'
    and '_'; `dir:name` for a nested dvc.yaml when `nested` (DVC's `dir/dvc.yaml:name` too).
    Returns the canonical form; raises TagError (exit 2)."""
    name = validate_model_name(name)
    folder, sep, base = (name or "").rpartition(":")
    if not re.match(_NEW_NAME, base) or (sep and not nested):
        where = " (and 'dir:name' for a nested dvc.yaml)" if nested else ""
        raise TagError(f"'{_show(name)}' is not a valid model name: use letters, digits, '-' and '_'{where}, "
                       "starting and ending with a letter or digit")
    return name


def validate_stage(stage: str, allowed: tuple[str, ...] | list[str] | None = None) -> str:
    """`stage` if it is a stage name weightops writes (lower-case words joined by '-') and,
    with `allowed` (the project's stages), one of them. Raises TagError (exit 2), with a
    suggestion for a near miss of `allowed`."""
    if not _STAGE_RE.match(stage or ""):
        raise TagError(
            f"'{_show(stage)}' is not a valid stage name; stages are lower-case words "
            "joined by '-' (staging, production, edge-v2)"
        )
    if allowed is not None and stage not in allowed:
        raise unknown_stage(stage, allowed)
    return stage


def is_stage_name(text: str) -> bool:
    """Whether `text` has the shape of a stage name (lower-case words joined by '-'). Pure."""
    return bool(_STAGE_RE.match(text or ""))


def is_plain_stage_ref(ref: str) -> bool:
    """Whether REF (what `resolve` was asked) names a stage and nothing else: not `latest`,
    a version or a tag. Such an answer needs only that stage's tags and the versions. Pure."""
    return ref != "latest" and is_stage_name(ref) and not is_version(ref) and try_parse_tag(ref) is None


def model_to_tag(model: str) -> str:
    """A model name as tags spell it: GTO writes DVC's `dir:name` as `dir=name`."""
    return model.replace(":", "=")


def tag_to_model(text: str) -> str:
    """The inverse of `model_to_tag`: `dir=name` (GTO's tag spelling) -> `dir:name` (DVC's)."""
    return text.replace("=", ":")


def parse_tag(name: str) -> Tag:
    """Parse any registry tag (the grammar above: GTO's, plus the plain `v1.2.0`) into a Tag.
    Raises TagError (a UsageError, exit 2) for a tag outside the grammar or one whose `dir=`
    part leaves the repository."""
    tag = try_parse_tag(name)
    if tag is None:
        if _TAG_RE.match(name):
            raise TagError(f"'{_show(name)}' names a directory outside the repository")
        raise TagError(f"'{_show(name)}' is not a registry tag (v1.2.0, NAME@v1.2.0 or NAME#STAGE#N)")
    return tag


def try_parse_tag(name: str) -> Tag | None:
    """`parse_tag`, or None where it raises. Every registry read runs this on every tag, so
    it reads all groups in one call and raises nothing."""
    # A SemVer has no `@` or `#`, and GTO's tags always have one: most names skip this match.
    if "@" not in name and "#" not in name and _PLAIN_VERSION_TAG_RE.match(name):
        return Tag(name, Kind.REGISTER, None, name)
    m = _TAG_RE.match(name)
    if not m:
        return None
    model, version, dereg, deprecated, stage, unassign, counter = m.group(
        "model", "version", "dereg", "deprecated", "stage", "unassign", "counter")
    if "=" in model:
        model = tag_to_model(model)
        if ".." in model.partition(":")[0].split("/"):
            return None
    counter = int(counter) if counter else None
    if version:
        return Tag(name, Kind.DEREGISTER if dereg else Kind.REGISTER, model, version, None, counter)
    if deprecated:
        return Tag(name, Kind.DEPRECATE, model, None, None, counter)
    return Tag(name, Kind.UNASSIGN if unassign else Kind.ASSIGN, model, None, stage, counter)


def recreate_hint(name: str) -> str:
    """How to write `name` (a registry tag) again as an annotated tag, for messages about a
    lightweight one: the weightops command for its kind (`weightops release` for a version,
    `weightops promote` for a stage assignment, `weightops demote` for an unassignment), else
    `git tag -a`. Raises nothing."""
    tag = try_parse_tag(name)
    command = {Kind.REGISTER: "weightops release", Kind.ASSIGN: "weightops promote",
               Kind.UNASSIGN: "weightops demote"}.get(tag.kind) if tag else None
    return f"recreate with `git tag -a` (or `{command}`)" if command else "recreate with `git tag -a`"


def format_version_tag(version: str, model: str | None) -> str:
    """`v1.2.0` for the plain style (model None), `NAME@v1.2.0` (GTO's registration tag) for a
    named model. TagError (exit 2) for a bad version or model name."""
    version = normalize_version(version)
    if model is None:
        return version
    return f"{model_to_tag(validate_model_name(model))}@{version}"


def format_stage_tag(model: str, stage: str, counter: int, *, unassign: bool = False) -> str:
    """GTO's assignment tag `NAME#STAGE#N` (or unassignment `NAME#STAGE!#N` with
    `unassign`); `counter` is GTO's positive counter. Raises TagError (exit 2) for a bad model
    or stage name or a counter below 1."""
    model = validate_model_name(model)
    validate_stage(stage)
    if counter < 1:
        raise TagError(f"stage tag counter must be positive, not {counter}")
    return f"{model_to_tag(model)}#{stage}{'!' if unassign else ''}#{counter}"


def _show(text: object) -> str:
    """Render user input safely inside a one-line message."""
    s = repr(str(text))[1:-1]
    return s if len(s) <= 80 else s[:77] + "..."
