"""weightops.yaml: one JSON Schema, typed settings, and a misspelled key refused with a suggestion."""

from __future__ import annotations

import jsonschema
import pytest

from helpers import assert_one_line_error
from weightops.core.config import Settings, settings_from_doc
from weightops.core.schema import _Unsure, _valid, config_schema
from weightops.errors import UsageError


def test_misspelled_key_is_refused_naming_key_file_and_closest_key(project):
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text() + "polcy:\n  branches: [main]\n")
    assert_one_line_error(project.wo("list"), 2, "weightops.yaml", "`polcy`", "did you mean `policy`?")
    cfg.write_text(cfg.read_text().replace("polcy:\n  branches", "policy:\n  branchs"))
    assert_one_line_error(project.wo("resolve", "latest"), 2, "weightops.yaml", "`policy.branchs`",
                          "did you mean `branches`?")


def test_a_key_with_no_close_match_lists_the_known_keys():
    with pytest.raises(UsageError) as err:
        settings_from_doc({"guard": {"zzzz": 1}})
    assert "unknown key `guard.zzzz`" in str(err.value) and "known: allow, max_size" in str(err.value)


def test_settings_are_typed_and_frozen():
    s = settings_from_doc({"model": "clf", "trust": {"sign": True, "require_signed": ["production"]},
                           "policy": {"stage_order": ["staging", "production"], "min_time": {"production": "2h"}},
                           "gates": {"production": {"validate": True}}, "shadow": {"min_calls": 5}})
    assert (s.default_model, s.sign, s.requires_signed("production"), s.requires_signed("staging")) == \
        ("clf", True, True, False)
    assert s.policy.min_time == (("production", 7200),) and s.policy.previous_stage("production") == "staging"
    assert (s.gate("production").validate, s.gate("production").against) == (True, "production")
    assert (s.gate("staging").validate, s.shadow["min_calls"], s.shadow["min_agreement"]) == (False, 5, 0.99)
    with pytest.raises(AttributeError):
        s.tag_style = "named"
    assert settings_from_doc({"sign": True}).sign is True   # the older top-level spelling
    assert Settings().stages == ("staging", "production", "shadow")


DOCS = [
    {}, {"model": "clf", "tag_style": "named", "stages": ["staging", "production"]},
    {"tag_style": "fancy"}, {"stages": []}, {"stages": "production"}, {"stages": [1]},
    {"trust": {"groups": {"rm": ["alice@example.com"]}, "stages": {"production": "rm"}, "release": ["rm"],
               "require_signed": True, "sign": False}},
    {"trust": {"require_signed": "yes"}}, {"trust": {"stages": {"production": [" "]}}}, {"trust": {"release": ""}},
    {"trust": {"allowed_signers": ""}}, {"trust": {"groups": []}},
    {"policy": {"branches": ["main", "release/1"], "min_time": {"production": 3600, "staging": "1d"}}},
    {"policy": {"branches": ["-x"]}}, {"policy": {"branches": ["a b"]}}, {"policy": {"min_time": {"production": -1}}},
    {"policy": {"min_time": {"production": "1 year"}}}, {"policy": {"min_time": {"production": 1.5}}},
    {"policy": {"min_time": {"production": 60.0}}}, {"policy": {"min_time": {"production": True}}},
    {"validation": {"checks": ["finite"], "drift": {"mean": 0.1, "l2": 1}, "ignore": ["norm.*"], "first_layer": None}},
    {"validation": {"drift": {"mean": -0.1}}}, {"validation": {"drift": {"mean": True}}}, {"validation": {"checks": ["vibes"]}},
    {"gates": {"production": {"validate": True, "against": None}}}, {"gates": {"production": {"validate": 1}}},
    {"gates": {"production": []}}, {"shadow": {"min_calls": 10, "max_diff": None, "tolerance": 0.01}},
    {"shadow": {"min_calls": "many"}}, {"shadow": {"min_calls": False}}, {"report": {"metrics": ["acc"]}},
    {"report": {"metrics": "acc"}}, {"guard": {"max_size": "5MB", "allow": ["*.csv"]}}, {"guard": {"max_size": 1.5}},
    {"model": None}, {"sign": "true"}, {"stages": ["staging", None]},
]


@pytest.mark.parametrize("doc", DOCS, ids=[str(i) for i in range(len(DOCS))])
def test_fast_check_agrees_with_jsonschema(doc):
    """The pure pass that keeps jsonschema off the resolve path must give jsonschema's verdict
    (or hand the document over), never a different one."""
    schema = config_schema()
    reference = jsonschema.Draft202012Validator(schema).is_valid(doc)
    try:
        fast = _valid(doc, schema, schema)
    except _Unsure:
        return
    assert fast == reference, doc


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(config_schema())


def test_production_gate_validates_by_default():
    # no broken weights reach production unless weightops.yaml says `validate: false`
    assert Settings().gate("production").validate is True and Settings().gate("staging").validate is False
    assert settings_from_doc({"gates": {"production": {"validate": False}}}).gate("production").validate is False
    assert settings_from_doc({"gates": {"production": {"against": None}}}).gate("production").validate is True
