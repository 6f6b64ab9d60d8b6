"""Signatures judged as MLflow judges them: the same documents go to weightops' parser and to
MLflow's own (`ModelSignature.from_dict` from mlflow-skinny); the verdicts must agree, except
the cases the README names ("Signatures": where weightops is stricter, and why)."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import assert_one_line_error, run_cli

from weightops.errors import UsageError
from weightops.model.signature import diff_signatures, parse_signature

J = json.dumps


def col(type_="double", name=None, **kw):
    return {"type": type_, **({"name": name} if name is not None else {}), **kw}


def ten(dtype="float32", shape=(-1, 8), name=None, **kw):
    return {"type": "tensor", **({"name": name} if name is not None else {}),
            "tensor-spec": {"dtype": dtype, "shape": list(shape) if isinstance(shape, tuple) else shape}, **kw}


def par(name="t", type_="double", default=0.5, **kw):
    return {"name": name, "type": type_, "default": default, **kw}


# (id, signature document with lists, not JSON strings)
CORPUS = [
    ("int-column-names", {"inputs": [col("double", 0), col("double", 1), col("long", 2)]}),
    ("str-column-names", {"inputs": [col("double", "a"), col("string", "b", required=False)]}),
    ("empty-name", {"inputs": [col("double", "")]}),
    ("unnamed-columns", {"inputs": [col("double"), col("long")]}),
    ("unnamed-optional", {"inputs": [col("double", required=False)]}),
    ("named-and-unnamed", {"inputs": [col("double"), col("double", "a")]}),
    ("mixed-kinds", {"inputs": [col("double", "a"), ten(name="b")]}),
    ("tensor-int-name", {"inputs": [ten(name=3)]}),
    ("two-unnamed-tensors", {"inputs": [ten(), ten()]}),
    ("tensor-no-shape", {"inputs": [{"type": "tensor", "tensor-spec": {"dtype": "float32"}}]}),
    ("tensor-no-spec", {"inputs": [{"type": "tensor", "name": "x"}]}),
    ("dtype-float128", {"inputs": [ten("float128")]}),
    ("dtype-complex64", {"inputs": [ten("complex64")]}),
    ("dtype-str", {"inputs": [ten("str", (-1,))]}),
    ("dtype-short-f4", {"inputs": [ten("<f4")]}),
    ("dtype-sized-U8", {"inputs": [ten("U8", (-1,))]}),
    ("dtype-unknown", {"inputs": [ten("float512")]}),
    ("shape-scalar", {"inputs": [ten(shape=())]}),
    ("shape-int", {"inputs": [ten(shape=8)]}),
    ("column-unknown-type", {"inputs": [col("decimal", "a")]}),
    ("column-missing-type", {"inputs": [{"name": "a"}]}),
    ("column-extra-key", {"inputs": [col("double", "a", extra=1)]}),
    ("array-of-double", {"inputs": [{"type": "array", "items": {"type": "double"}, "name": "a", "required": True}]}),
    ("array-bad-items", {"inputs": [{"type": "array", "items": {"type": "decimal"}, "name": "a"}]}),
    ("array-no-items", {"inputs": [{"type": "array", "name": "a"}]}),
    ("map-of-array", {"inputs": [{"type": "map", "values": {"type": "array", "items": {"type": "long"}}, "name": "m",
                                  "required": False}]}),
    ("object", {"inputs": [{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "double", "required": False}},
                            "name": "o", "required": True}]}),
    ("object-empty", {"inputs": [{"type": "object", "properties": {}, "name": "o"}]}),
    ("object-prop-no-type", {"inputs": [{"type": "object", "properties": {"a": {"required": True}}, "name": "o"}]}),
    ("sparkml-vector", {"inputs": [{"type": "sparkml_vector", "name": "v", "required": True}]}),
    ("any", {"inputs": [{"type": "any", "name": "v", "required": True}]}),
    ("outputs-only", {"outputs": [col("double")]}),
    ("params-only", {"params": [par()]}),
    ("nothing", {"inputs": None, "outputs": None}),
    ("param-int-for-double", {"inputs": [col()], "params": [par(type_="double", default=1)]}),
    ("param-str-for-float", {"inputs": [col()], "params": [par(type_="float", default="x")]}),
    ("param-bool-for-long", {"inputs": [col()], "params": [par(type_="long", default=True)]}),
    ("param-float-for-integer", {"inputs": [col()], "params": [par(type_="integer", default=1.5)]}),
    ("param-null-default", {"inputs": [col()], "params": [par(type_="long", default=None)]}),
    ("param-list", {"inputs": [col()], "params": [par(type_="long", default=[1, 2], shape=[-1])]}),
    ("param-list-bad-item", {"inputs": [col()], "params": [par(type_="long", default=[1, "x"], shape=[-1])]}),
    ("param-list-no-shape", {"inputs": [col()], "params": [par(type_="long", default=[1, 2])]}),
    ("param-shape-2", {"inputs": [col()], "params": [par(type_="long", default=1, shape=[2])]}),
    ("param-binary", {"inputs": [col()], "params": [par(type_="binary", default=None)]}),
    ("param-unknown-type", {"inputs": [col()], "params": [par(type_="decimal", default=None)]}),
    ("param-duplicate", {"inputs": [col()], "params": [par("t", "string", "a"), par("t", "string", "b")]}),
    ("param-no-default", {"inputs": [col()], "params": [{"name": "t", "type": "string"}]}),
    ("param-old-dtype-key", {"inputs": [col()], "params": [{"name": "t", "dtype": "string", "default": "a"}]}),
    ("param-datetime", {"inputs": [col()], "params": [par(type_="datetime", default="2024-01-31")]}),
    ("param-datetime-bad", {"inputs": [col()], "params": [par(type_="datetime", default="yesterday")]}),
    ("param-string", {"inputs": [col()], "params": [par(type_="string", default="greedy")]}),
    ("param-bool", {"inputs": [col()], "params": [par(type_="boolean", default=False)]}),
    ("param-nan", {"inputs": [col()], "params": [par(type_="float", default=float("nan"))]}),
    ("param-empty-list", {"inputs": [col()], "params": [par(type_="long", default=[], shape=[-1])]}),
    ("param-list-null", {"inputs": [col()], "params": [par(type_="long", default=None, shape=[-1])]}),
    ("param-list-nested", {"inputs": [col()], "params": [par(type_="long", default=[[1]], shape=[-1])]}),
    ("param-datetime-int", {"inputs": [col()], "params": [par(type_="datetime", default=5)]}),
    ("param-float-name", {"inputs": [col()], "params": [par(name=1.5, type_="string", default="x")]}),
    *[(f"param-object-{i}", {"params": [{"name": "o", "type": "object", "default": d, "properties": {
        "a": {"type": "string"}, "n": {"type": "double", "required": False},
        "l": {"type": "array", "items": {"type": "long"}, "required": False}}}]})
      for i, d in enumerate([{"a": "x"}, {"a": "x", "b": 1}, {"a": "x", "n": 1}, {"a": "x", "n": True},
                             {"a": "x", "n": None}, {"a": "x", "l": [1, 2]}, {"a": "x", "l": [1.5]},
                             {"a": "x", "l": "s"}, {"a": None}, {"n": 1.0}, None, "x"])],
]

# Where weightops is stricter than MLflow on purpose (README, "Signatures"): MLflow keeps these,
# weightops refuses them. Each is a document no MLflow model is saved with by MLflow itself.
STRICTER_CASES = [
    # duplicate names: MLflow keeps both; a change could not say which one it is about
    ("duplicate-names", {"inputs": [col("double", 0), col("double", 0)]}),
    # a shape that is not a list of sizes: MLflow turns "8" into ('8',)
    ("shape-string", {"inputs": [ten(shape="8")]}),
    ("shape-below-minus-one", {"inputs": [ten(shape=(-1, -5))]}),
    # a record dtype: MLflow keeps it as void64, no model takes one
    ("dtype-record", {"inputs": [ten("f4,i4")]}),
    # required must be a boolean: MLflow keeps the string "yes"
    ("required-string", {"inputs": [col("double", "a", required="yes")]}),
    # names are strings or integers: MLflow keeps 1.5
    ("float-name", {"inputs": [col("double", 1.5)]}),
]


def test_what_mlflow_itself_writes_for_a_dataframe_from_an_array():
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    # MLflow names the columns of a DataFrame built from an array 0..n-1 (`_infer_schema` keeps
    # the DataFrame's integer column labels), and writes them as integers.
    written = ModelSignature(Schema([ColSpec("double", i) for i in range(3)]), Schema([ColSpec("long")]),
                             ParamSchema([ParamSpec("temperature", "double", 0.5), ParamSpec("k", "long", 3),
                                          ParamSpec("tags", "string", ["a", "b"], (-1,))])).to_dict()
    assert [c["name"] for c in json.loads(written["inputs"])] == [0, 1, 2]
    sig = parse_signature(written)
    assert [s.name for s in sig.inputs] == [0, 1, 2]
    assert {p["name"]: p["type"] for p in sig.params} == {"temperature": "double", "k": "long", "tags": "string"}
    assert mlflow_verdict(sig.to_dict()).to_dict() == written


def mlflow_verdict(doc: dict):
    """MLflow's parse of the MLmodel form (lists as JSON strings), or None when it refuses."""
    from mlflow.models.signature import ModelSignature

    mlmodel = {k: (J(v) if v is not None else None) for k, v in doc.items()}
    try:
        return ModelSignature.from_dict(mlmodel)
    except Exception:  # noqa: BLE001 - MLflow raises MlflowException, TypeError, KeyError, ValueError
        return None


def weightops_verdict(doc: dict, as_strings: bool):
    form = {k: (J(v) if as_strings and v is not None else v) for k, v in doc.items()}
    try:
        return parse_signature(form)
    except UsageError:
        return None


@pytest.mark.parametrize("case, doc", CORPUS, ids=[c for c, _ in CORPUS])
def test_weightops_accepts_exactly_what_mlflow_accepts(case, doc):
    theirs = mlflow_verdict(doc)
    for as_strings in (False, True):
        ours = weightops_verdict(doc, as_strings)
        assert (ours is not None) == (theirs is not None), \
            f"{case}: MLflow {'accepts' if theirs else 'refuses'}, weightops {'accepts' if ours else 'refuses'}"
    if theirs is not None:
        # What weightops writes back is the same signature to MLflow.
        assert mlflow_verdict(parse_signature(doc).to_dict()).to_dict() == theirs.to_dict()


@pytest.mark.parametrize("case, doc", STRICTER_CASES, ids=[c for c, _ in STRICTER_CASES])
def test_named_divergences_mlflow_keeps_weightops_refuses(case, doc):
    assert mlflow_verdict(doc) is not None, f"{case} is no longer a divergence: MLflow refuses it too"
    assert weightops_verdict(doc, False) is None and weightops_verdict(doc, True) is None


def test_integer_column_names_from_an_mlmodel_file(tmp_path):
    # What MLflow writes for a DataFrame built from a numpy array: columns 0..n-1.
    sig = {"inputs": J([col("double", i) for i in range(3)]), "outputs": J([col("long")]), "params": None}
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({"flavors": {}, "signature": sig}))
    wider = {**sig, "inputs": J([col("double", i) for i in range(2)])}
    (tmp_path / "MLmodel2").write_text(yaml.safe_dump({"flavors": {}, "signature": wider}))
    same = run_cli(["signature", "diff", "MLmodel", "MLmodel"], cwd=tmp_path)
    assert same.returncode == 0 and same.stdout.strip() == "no changes", same.stderr
    fewer = run_cli(["signature", "diff", "MLmodel", "MLmodel2"], cwd=tmp_path)
    assert_one_line_error(fewer, 5, "inputs.2")


def changes(old_params, new_params):
    old = parse_signature({"inputs": [col("double", "x")], "params": old_params})
    new = parse_signature({"inputs": [col("double", "x")], "params": new_params})
    return [(c.field, c.breaking) for c in diff_signatures(old, new)]


@pytest.mark.parametrize("old, new, expected", [
    ([par("t", "double", 0.5)], [par("t", "double", 0.5)], []),
    # widening MLflow converts on its own (long -> double): callers' values still pass
    ([par("t", "long", 1)], [par("t", "double", 1.0)], [("params.t.type", False)]),
    # narrowing refuses values callers send
    ([par("t", "double", 1.0)], [par("t", "long", 1)], [("params.t.type", True)]),
    ([par("t", "string", "a")], [par("t", "long", 1)], [("params.t.type", True), ("params.t.default", True)]),
    # scalar -> list: a caller's scalar is refused
    ([par("t", "long", 1)], [par("t", "long", [1], shape=[-1])], [("params.t.shape", True), ("params.t.default", True)]),
    # same type and shape, other default: callers that send none get another value
    ([par("t", "double", 0.5)], [par("t", "double", 0.7)], [("params.t.default", True)]),
    ([par("t", "double", 0.5)], [], [("params.t", True)]),
    ([], [par("t", "double", 0.5)], [("params.t", False)]),
])
def test_param_changes_follow_mlflow_enforcement(old, new, expected):
    assert changes(old or None, new or None) == expected


def test_array_item_type_change_is_breaking():
    old = parse_signature({"inputs": [{"type": "array", "items": {"type": "double"}, "name": "a"}]})
    new = parse_signature({"inputs": [{"type": "array", "items": {"type": "string"}, "name": "a"}]})
    [c] = diff_signatures(old, new)
    assert (c.field, c.breaking) == ("inputs.a.type", True)
    assert "array<double> -> array<string>" in c.message
