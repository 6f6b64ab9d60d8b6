"""Property-based tests over the tag grammar: formatting round-trips, and arbitrary strings
raise nothing but the grammar's own error."""

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from weightops.registry.tags import (Kind, Tag, TagError, format_stage_tag, format_version_tag, parse_tag, parse_version,
                            validate_model_name, validate_stage)

alnum = string.ascii_letters + string.digits
names = st.builds(lambda a, mid, b: a + mid + b, st.sampled_from(alnum),
                  st.text(alnum + "-_", max_size=12), st.sampled_from(alnum)) | st.sampled_from(alnum)
dirs = st.lists(st.text(alnum + "-_", min_size=1, max_size=6), min_size=1, max_size=3).map("/".join)
models = names | st.builds(lambda d, n: f"{d}:{n}", dirs, names)
stages = st.builds(lambda first, rest: first + "".join(f"-{r}" for r in rest),
                   st.text(string.ascii_lowercase, min_size=1, max_size=1).flatmap(
                       lambda c: st.text(string.ascii_lowercase + string.digits, max_size=8).map(lambda t: c + t)),
                   st.lists(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=4), max_size=2))
nums = st.integers(min_value=0, max_value=10**6)
ident = st.text(alnum + "-", min_size=1, max_size=6).filter(lambda s: not (s.isdigit() and len(s) > 1 and s[0] == "0"))
versions = st.builds(lambda a, b, c, pre: f"v{a}.{b}.{c}" + (f"-{'.'.join(pre)}" if pre else ""),
                     nums, nums, nums, st.lists(ident, max_size=3))


@settings(max_examples=300, deadline=None)
@given(models, versions)
def test_version_tags_round_trip(model, version):
    tag = parse_tag(format_version_tag(version, model))
    assert (tag.kind, tag.model, tag.version) == (Kind.REGISTER, model, version)
    plain = parse_tag(format_version_tag(version, None))
    assert (plain.kind, plain.model, plain.version) == (Kind.REGISTER, None, version)


@settings(max_examples=300, deadline=None)
@given(models, stages, st.integers(min_value=1, max_value=10**8), st.booleans())
def test_stage_tags_round_trip(model, stage, counter, unassign):
    tag = parse_tag(format_stage_tag(model, stage, counter, unassign=unassign))
    assert tag.model == model and tag.stage == stage and tag.counter == counter
    assert tag.kind is (Kind.UNASSIGN if unassign else Kind.ASSIGN)


def _written_back(tag: Tag) -> str | None:
    """The tag formatted again from its parsed parts; None for what weightops reads but never
    writes (GTO's wider stage names, deprecations, counted registrations)."""
    try:
        if tag.kind is Kind.REGISTER and tag.counter is None:
            return format_version_tag(tag.version, tag.model)
        if tag.kind in (Kind.ASSIGN, Kind.UNASSIGN) and tag.counter is not None:
            return format_stage_tag(tag.model, tag.stage, tag.counter, unassign=tag.kind is Kind.UNASSIGN)
    except TagError:
        pass
    return None


near_misses = st.one_of(
    st.text(max_size=60),
    versions, models, stages,
    st.builds(lambda m, v: f"{m}@{v}", models, versions),
    st.builds(lambda m, s, n: f"{m}#{s}#{n}", models, stages, st.integers(min_value=-2, max_value=99)),
).flatmap(lambda t: st.sampled_from([t, t + "\n", " " + t, t.upper(), t.replace(".", ".."), "-" + t]))


@settings(max_examples=1000, deadline=None)
@given(near_misses)
def test_arbitrary_strings_are_accepted_exactly_or_refused_in_one_line(text):
    for fn in (parse_tag, parse_version, validate_model_name, validate_stage):
        try:
            result = fn(text)
        except TagError as exc:
            # What the user meets: exit 2 (usage) and one line that quotes what they typed.
            message = str(exc)
            assert exc.exit_code == 2, f"{fn.__name__}({text!r}) exits {exc.exit_code}"
            assert message and "\n" not in message   # one line, even when the input has newlines
            if text and text.isprintable() and not set(text) & {"'", "\\"}:
                assert f"'{text}'" in message, f"{message!r} does not quote {text!r}"
        else:
            # Accepted means understood: the parsed parts give back exactly the text.
            if fn is parse_tag:
                assert _written_back(result) in (text, None)
            elif fn is parse_version:
                assert text.lstrip("v").startswith(f"{result.major}.{result.minor}.{result.patch}")
            else:
                assert result == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable, max_size=30))
def test_anything_that_parses_is_safe_for_git(text):
    """A name the grammar accepts can never be an option, a path escape or a shell construct."""
    try:
        tag = parse_tag(text)
    except TagError:
        return
    assert not text.startswith("-")
    assert not any(c in text for c in " \t\n\r;|&$`'\"\\*?~^:[") or (tag.model and ":" in tag.model)
    assert ".." not in text.split("@")[0].split("#")[0]


def test_semver_precedence():
    order = ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2",
             "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.1", "v1.10.0", "v2.0.0"]
    assert sorted(order, key=parse_version) == order
