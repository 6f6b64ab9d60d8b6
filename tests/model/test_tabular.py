"""scikit-learn pickles and joblib files, written by scikit-learn and joblib themselves: read for
their arrays and checked, promoted through the default production gate; a pickle that would run
code is refused by the name of what it calls, and never run (its payload would create a file: the
file is not there afterwards)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib   # scikit-learn and joblib are in requirements/test.lock: the files come from them
import numpy as np
import pytest
import yaml
from helpers import T0, assert_one_line_error, run_cli

from weightops.errors import FormatError, RefusedError
from weightops.model.formats import read_tensors

GATE_ON = "gates:\n  production:\n    validate: true\n    against: production\n"


def fitted():
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return {
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
        "forest": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y),
        "boosting": GradientBoostingRegressor(n_estimators=3, max_depth=2, random_state=0).fit(x, x[:, 2]),
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    """Each model as pickle protocols 2 and 5, joblib plain and joblib compressed (zlib, gzip)."""
    folder = tmp_path_factory.mktemp("tabular")
    out = {}
    for name, model in fitted().items():
        for proto in (2, 5):
            out[f"{name}-p{proto}"] = folder / f"{name}-p{proto}.pkl"
            out[f"{name}-p{proto}"].write_bytes(pickle.dumps(model, protocol=proto))
        for how, compress in (("joblib", 0), ("zlib", 3), ("gzip", ("gzip", 3))):
            out[f"{name}-{how}"] = folder / f"{name}-{how}.joblib"
            joblib.dump(model, out[f"{name}-{how}"], compress=compress)
    return out


def test_every_written_model_is_read_and_validates(written, tmp_path):
    for key, path in written.items():
        names = {t.name: t for t in read_tensors(path)}
        assert names, key
        proc = run_cli(["validate", str(path), "--against", "none"], cwd=tmp_path)
        assert proc.returncode == 0, f"{key}: {proc.stdout}{proc.stderr}"
    coef = {t.name: t for t in read_tensors(written["pipeline-p5"])}["steps.1.1.coef_"]
    assert coef.dtype == "F64" and coef.shape == (1, 4)
    model = pickle.loads(written["pipeline-p5"].read_bytes())
    np.testing.assert_array_equal(coef.values(), model[-1].coef_)
    # joblib's arrays (inline after their wrapper, compressed or not) read as sklearn holds them.
    tree = {t.name: t for t in read_tensors(written["forest-gzip"])}
    forest = joblib.load(written["forest-gzip"])
    np.testing.assert_array_equal(tree["estimators_.2.tree_.nodes.threshold"].values(),
                                  forest.estimators_[2].tree_.threshold)


def test_a_nan_planted_in_a_fitted_model_fails_by_name(written, tmp_path):
    model = fitted()["pipeline"]
    model[-1].coef_[0, 2] = np.nan
    joblib.dump(model, tmp_path / "bad.joblib")
    proc = run_cli(["validate", "bad.joblib", "--against", "none"], cwd=tmp_path)
    assert proc.returncode == 5 and "steps.1.1.coef_" in proc.stdout, proc.stdout + proc.stderr


class Payload:
    """Pickles as a call to `func(*args)`: what a malicious model file does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker: Path) -> dict[str, tuple[object, str]]:
    """(object to pickle, the global the refusal names); each would create `marker` when loaded."""
    model = fitted()["pipeline"]
    model.steps[0][1].hook = Payload(os.system, f"touch {marker}")   # hidden inside a real estimator
    return {
        "os.system": (Payload(os.system, f"touch {marker}"), f"{os.system.__module__}.system"),
        "builtins.eval": (Payload(eval, f"open({str(marker)!r}, 'w')"), "builtins.eval"),
        "subprocess.Popen": (Payload(subprocess.Popen, ["touch", str(marker)]), "subprocess.Popen"),
        "inside an estimator": (model, f"{os.system.__module__}.system"),
        "after a joblib array": ({"w": np.ones(64), "x": Payload(os.system, f"touch {marker}")},
                                 f"{os.system.__module__}.system"),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "subprocess.Popen", "inside an estimator",
                                  "after a joblib array"])
def test_a_pickle_that_would_run_code_is_refused_by_name_and_never_run(kind, tmp_path):
    # The payload is real: loaded with pickle, a twin of it creates its file ...
    control = tmp_path / "control-ran"
    obj, _ = payloads(control)[kind]
    (tmp_path / "control.pkl").write_bytes(pickle.dumps(obj, protocol=4))
    subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))",
                    str(tmp_path / "control.pkl")], capture_output=True, cwd=tmp_path, check=False)
    assert control.exists(), f"{kind}: the control payload did not run; the test proves nothing"
    # ... while weightops refuses the same payload, naming what it would call, and runs nothing.
    marker = tmp_path / "ran"
    obj, name = payloads(marker)[kind]
    joblib.dump(obj, tmp_path / "evil.joblib") if kind.startswith("after") else \
        (tmp_path / "evil.joblib").write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(RefusedError) as err:
        list(read_tensors(tmp_path / "evil.joblib"))
    assert name in str(err.value)
    assert_one_line_error(run_cli(["validate", "evil.joblib", "--against", "none"], cwd=tmp_path), 5,
                          "evil.joblib", name, "refused without unpickling")
    assert not marker.exists()


class CallsOnLoad:
    """Pickles as a call of `fn(*args)`: loading it runs `fn`."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_a_function_held_as_a_parameter_is_read_but_one_the_pickle_calls_is_refused(tmp_path):
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.utils import check_array

    x, y = np.random.default_rng(0).normal(size=(40, 4)), np.arange(40) % 2
    held = make_pipeline(SelectKBest(f_classif, k=2), LogisticRegression()).fit(x, y)
    joblib.dump(held, tmp_path / "held.joblib")
    names = {t.name for t in read_tensors(tmp_path / "held.joblib")}
    assert {"steps.0.1.scores_", "steps.1.1.coef_"} <= names, sorted(names)
    # the same function, called while loading: refused by name, in both passes (plain and joblib)
    for name, dump in [("calls.pkl", lambda o, f: f.write_bytes(pickle.dumps(o, protocol=4))),
                       ("calls.joblib", lambda o, f: joblib.dump({"w": np.ones(64), "x": o}, f))]:
        dump(CallsOnLoad(check_array, [[1.0]]), tmp_path / name)
        assert_one_line_error(run_cli(["validate", name, "--against", "none"], cwd=tmp_path), 5,
                              name, "calls sklearn.utils", "check_array")
    # a function outside scikit-learn's, held as a parameter, is refused as before
    from sklearn.preprocessing import FunctionTransformer

    (tmp_path / "os.pkl").write_bytes(pickle.dumps(FunctionTransformer(func=os.system)))
    assert_one_line_error(run_cli(["validate", "os.pkl", "--against", "none"], cwd=tmp_path), 5,
                          "os.pkl", f"{os.system.__module__}.system", "refused without unpickling")


def test_every_scikit_learn_estimator_fitted_with_its_defaults_is_read_and_passes_the_default_gate(tmp_path):
    """The class, not a sample: every estimator scikit-learn lists, fitted with its defaults
    (GradientBoosting's SeedSequence and loss objects, KNeighbors' trees and distance metrics,
    HistGradientBoosting's _BinMapper, Birch's linked CF-tree, SplineTransformer's scipy
    B-splines, an SVC's sparse support vectors) and written by pickle and by joblib, is read, and
    the default production gate passes it. The one refusal is a true one: QuantileRegressor's
    default L1 penalty zeroes every coefficient, so that model predicts a constant."""
    import warnings

    import scipy.sparse
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC
    from sklearn.utils import all_estimators

    from weightops.errors import WeightopsError
    from weightops.model.validation import validate

    x, y = load_iris(return_X_y=True)   # wine and diabetes too when the rules were set: same verdicts
    fitted = []
    for name, cls in all_estimators(type_filter=["classifier", "regressor", "transformer", "cluster"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fitted.append((name, cls().fit(x, y)))
            except Exception:   # noqa: BLE001 - needs other arguments or data: not a default fit
                continue
    fitted.append(("SVC-sparse", SVC().fit(scipy.sparse.csr_matrix(x), y)))
    failed, refused, read = {}, {}, 0
    for i, (name, model) in enumerate(fitted):
        path = tmp_path / (f"{name}.pkl" if i % 2 else f"{name}.joblib")   # both writers, across the list
        path.write_bytes(pickle.dumps(model)) if path.suffix == ".pkl" else joblib.dump(model, path)
        try:
            report = validate(str(path), against=None)
            read += 1
        except WeightopsError as exc:
            failed[path.name] = str(exc)
            continue
        if not report.passed:
            refused[name] = sorted((c.name, n) for c in report.failed for n in c.offending)
    assert failed == {} and read == len(fitted) > 140, failed
    assert refused == {"QuantileRegressor": [("all_zero", "coef_")]}, refused
    sparse = {t.name for t in read_tensors(next(tmp_path.glob("SVC-sparse.*")))}
    assert {"support_vectors_.data", "support_vectors_.indices", "support_vectors_.indptr"} <= sparse


# ---------------------------------------------------------------- through the production gate
def add_file_artifact(project, name: str, rel: str, data: bytes) -> None:
    """Declare model NAME, a file at REL tracked by `dvc add`, with its card, committed."""
    from weightops.api import make_card

    path = project.root / rel
    path.write_bytes(data)
    dvcyaml = yaml.safe_load((project.root / "dvc.yaml").read_text())
    dvcyaml["artifacts"][name] = {"path": rel, "type": "model"}
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(dvcyaml, sort_keys=False))
    project.dvc("add", "-q", rel)
    make_card(path, path.with_name(path.stem + ".card.yaml"), model=name)
    project.git("add", "-A")
    project.git("commit", "-qm", f"{name} {rel}")


def gate_on(project) -> None:
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text() + GATE_ON)   # the default, said explicitly
    project.git("commit", "-qam", "the production gate as shipped: on")


def test_a_scikit_learn_model_promotes_through_the_default_gate_and_a_payload_does_not(project, tmp_path):
    gate_on(project)
    model = fitted()["pipeline"]
    add_file_artifact(project, "churn", "models/churn.pkl", pickle.dumps(model, protocol=5))
    project.release("v1.0.0", "--model", "churn", at=T0)
    proc = project.wo("promote", "v1.0.0", "production", "--model", "churn", env={"WEIGHTOPS_NOW": str(T0 + 5)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert project.wo_json("resolve", "production", "--model", "churn")["version"] == "v1.0.0"
    body = project.git("tag", "-l", "--format=%(contents)", "churn#production#1")
    assert "validation: passed" in body
    # A retrain whose pickle would run code on load: refused by the gate, nothing run.
    marker = tmp_path / "ran"
    model.steps[0][1].hook = Payload(os.system, f"touch {marker}")
    (project.root / "models" / "churn.pkl").write_bytes(pickle.dumps(model, protocol=5))
    project.dvc("add", "-q", "models/churn.pkl")
    from weightops.api import make_card
    make_card(project.root / "models" / "churn.pkl", project.root / "models" / "churn.card.yaml", model="churn")
    project.git("add", "-A")
    project.git("commit", "-qm", "retrain churn")
    project.release("v1.1.0", "--model", "churn", at=T0 + 10)
    proc = project.wo("promote", "v1.1.0", "production", "--model", "churn", env={"WEIGHTOPS_NOW": str(T0 + 15)})
    assert_one_line_error(proc, 5, "gates.production.validate", "churn.pkl", f"{os.system.__module__}.system",
                          "--skip-checks")
    assert not marker.exists()
    assert project.wo_json("resolve", "production", "--model", "churn")["version"] == "v1.0.0"


def test_a_format_the_gate_cannot_read_is_refused_by_the_gate_naming_the_ways_past(project):
    gate_on(project)
    add_file_artifact(project, "blob", "models/blob.dat", bytes(range(256)) * 8)
    project.release("v1.0.0", "--model", "blob", at=T0)
    proc = project.wo("promote", "v1.0.0", "production", "--model", "blob", env={"WEIGHTOPS_NOW": str(T0 + 5)})
    assert_one_line_error(proc, 5, "gates.production.validate", "models/blob.dat", "not a weights format",
                          "--skip-checks", "--message", "validate: false")
    proc = project.wo("promote", "v1.0.0", "production", "--model", "blob", "--skip-checks",
                      "--message", "an opaque vendor format", env={"WEIGHTOPS_NOW": str(T0 + 6)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SKIPPED" in project.git("tag", "-l", "--format=%(contents)", "blob#production#1")


# ---------------------------------------------------------------- skops
def test_a_skops_file_is_read_after_skops_own_trust_check(tmp_path):
    import skops.io as sio

    model = fitted()["pipeline"]
    sio.dump(model, tmp_path / "m.skops")
    assert sio.get_untrusted_types(file=tmp_path / "m.skops") == []
    got = {t.name: t for t in read_tensors(tmp_path / "m.skops")}
    coef = next(t for n, t in got.items() if n.endswith("coef_"))
    np.testing.assert_array_equal(coef.values(), model[-1].coef_)
    assert run_cli(["validate", "m.skops", "--against", "none"], cwd=tmp_path).returncode == 0


def test_a_skops_file_with_a_type_skops_does_not_trust_is_refused_naming_it(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    sio.dump(FunctionTransformer(func=os.getcwd).fit(np.ones((2, 2))), tmp_path / "fn.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "fn.skops")
    assert untrusted   # skops' own verdict: it would not load this without `trusted=`
    assert_one_line_error(run_cli(["validate", "fn.skops", "--against", "none"], cwd=tmp_path), 5,
                          "fn.skops", untrusted[0], "refused without loading")


def test_a_damaged_copy_whose_bytes_disagree_with_the_card_is_an_integrity_error(project):
    gate_on(project)
    add_file_artifact(project, "churn", "models/churn.pkl", pickle.dumps(fitted()["pipeline"], protocol=5))
    project.release("v1.0.0", "--model", "churn", at=T0)
    md5 = yaml.safe_load((project.root / "models" / "churn.pkl.dvc").read_text())["outs"][0]["md5"]
    cached = project.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    data = cached.read_bytes()
    cached.chmod(0o644)
    cached.write_bytes(data[: len(data) // 2])   # a truncated pickle: its bytes no longer match the card
    proc = project.wo("promote", "v1.0.0", "production", "--model", "churn", env={"WEIGHTOPS_NOW": str(T0 + 5)})
    assert_one_line_error(proc, 4, "churn")


# ---------------------------------------------------------------- retrains: ensemble size vs features
def forest(n_estimators: int):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 4))
    return RandomForestClassifier(n_estimators=n_estimators, max_depth=4, random_state=0).fit(x, x[:, 0] > 0)


def logistic(features: int):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    x = rng.normal(size=(150, features))
    return LogisticRegression().fit(x, x[:, 0] > 0)


def test_a_forest_retrained_with_more_trees_passes_structure_and_names_the_added_members(tmp_path):
    joblib.dump(forest(15), tmp_path / "old.joblib")
    joblib.dump(forest(20), tmp_path / "new.joblib")
    proc = run_cli(["validate", "new.joblib", "--against", "old.joblib", "-o", "r.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    structure = yaml.safe_load((tmp_path / "r.yaml").read_text())["checks"]["structure"]
    assert structure["passed"] and structure["offending"] == []
    assert structure["note"] == "ensemble members added: 5 (estimators_.15, estimators_.16, ..., estimators_.19)"
    # And the other way: a smaller forest names the removed members.
    proc = run_cli(["validate", "old.joblib", "--against", "new.joblib", "-o", "r2.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ensemble members removed: 5" in yaml.safe_load((tmp_path / "r2.yaml").read_text())["checks"]["structure"]["note"]


def ensemble(kind: str, members: int):
    """A scikit-learn ensemble with its defaults (no random_state) fitted on balanced classes."""
    from sklearn import ensemble as e
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    make = {"adaboost": lambda: e.AdaBoostClassifier(n_estimators=members),
            "gradient-boosting": lambda: e.GradientBoostingClassifier(n_estimators=members),
            "hist-gradient-boosting": lambda: e.HistGradientBoostingClassifier(max_iter=members, early_stopping=False),
            "bagging": lambda: e.BaggingClassifier(n_estimators=members),
            "isolation-forest": lambda: e.IsolationForest(n_estimators=members)}[kind]
    return make().fit(x, y)


@pytest.mark.parametrize("kind, first", [("adaboost", "estimators_.10"), ("gradient-boosting", "estimators_.30"),
                                         ("hist-gradient-boosting", "_predictors.10"), ("bagging", "estimators_.10"),
                                         ("isolation-forest", "estimators_.10")])
def test_an_ensemble_retrained_with_more_members_passes_the_gate_naming_them(kind, first, tmp_path):
    # Per-member arrays (estimator_weights_, train_score_) grow with the members; balanced
    # classes give equal priors: neither is a broken model.
    joblib.dump(ensemble(kind, 10), tmp_path / "old.joblib")
    joblib.dump(ensemble(kind, 15), tmp_path / "new.joblib")
    proc = run_cli(["validate", "new.joblib", "--against", "old.joblib", "-o", "r.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    note = yaml.safe_load((tmp_path / "r.yaml").read_text())["checks"]["structure"]["note"]
    assert note.startswith("ensemble members added: 5 (" + first) or (kind == "gradient-boosting" and
                                                                      note.startswith("ensemble members added: 15 (" + first)), note


def test_a_random_state_is_not_judged_as_a_weight(tmp_path):
    # Two fits without random_state in two processes: the same trees, and each the words of its
    # process's global numpy random state (seeded here, as two processes' would differ).
    saved = np.random.get_state()
    try:
        for seed, name in ((1, "old.joblib"), (2, "new.joblib")):
            np.random.seed(seed)
            joblib.dump(ensemble("gradient-boosting", 10), tmp_path / name)
    finally:
        np.random.set_state(saved)
    proc = run_cli(["validate", "new.joblib", "--against", "old.joblib", "-o", "r.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert yaml.safe_load((tmp_path / "r.yaml").read_text())["checks"]["drift"]["note"] == \
        "largest drift 0 (whole model L2)"


def test_a_per_member_array_out_of_step_with_its_members_fails_structure(tmp_path):
    old, new = ensemble("adaboost", 10), ensemble("adaboost", 15)
    new.estimator_weights_ = new.estimator_weights_[:12]   # 15 members, 12 weights
    joblib.dump(old, tmp_path / "old.joblib")
    joblib.dump(new, tmp_path / "new.joblib")
    assert_one_line_error(run_cli(["validate", "new.joblib", "--against", "old.joblib"], cwd=tmp_path), 5,
                          "structure", "estimator_weights_")


def test_a_linear_model_with_another_number_of_features_fails_structure(tmp_path):
    joblib.dump(logistic(4), tmp_path / "old.joblib")
    joblib.dump(logistic(5), tmp_path / "new.joblib")
    proc = run_cli(["validate", "new.joblib", "--against", "old.joblib", "-o", "r.yaml"], cwd=tmp_path)
    assert_one_line_error(proc, 5, "structure", "coef_")
    figures = yaml.safe_load((tmp_path / "r.yaml").read_text())["checks"]["structure"]["figures"]
    assert figures["coef_"] == {"change": "reshaped", "from": [1, 4], "to": [1, 5]}


def test_the_production_gate_promotes_a_forest_retrained_with_more_trees(project):
    gate_on(project)
    add_file_artifact(project, "churn", "models/churn.joblib", b"")
    joblib.dump(forest(15), project.root / "models" / "churn.joblib")
    retrain(project, "churn", "models/churn.joblib", "v1.0.0", T0)
    proc = project.wo("promote", "v1.0.0", "production", "--model", "churn", env={"WEIGHTOPS_NOW": str(T0 + 5)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    joblib.dump(forest(20), project.root / "models" / "churn.joblib")   # n_estimators 15 -> 20
    retrain(project, "churn", "models/churn.joblib", "v1.1.0", T0 + 10)
    proc = project.wo("promote", "v1.1.0", "production", "--model", "churn", env={"WEIGHTOPS_NOW": str(T0 + 15)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert project.wo_json("resolve", "production", "--model", "churn")["version"] == "v1.1.0"
    # A linear model whose feature count changed is still stopped by the same gate.
    add_file_artifact(project, "score", "models/score.joblib", b"")
    joblib.dump(logistic(4), project.root / "models" / "score.joblib")
    retrain(project, "score", "models/score.joblib", "v2.0.0", T0 + 20)
    proc = project.wo("promote", "v2.0.0", "production", "--model", "score", env={"WEIGHTOPS_NOW": str(T0 + 25)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    joblib.dump(logistic(5), project.root / "models" / "score.joblib")
    retrain(project, "score", "models/score.joblib", "v2.1.0", T0 + 30)
    proc = project.wo("promote", "v2.1.0", "production", "--model", "score", env={"WEIGHTOPS_NOW": str(T0 + 35)})
    assert_one_line_error(proc, 5, "structure", "coef_", "--skip-checks")
    assert project.wo_json("resolve", "production", "--model", "score")["version"] == "v2.0.0"


def retrain(project, name: str, rel: str, version: str, at: int) -> None:
    """Track the file now at REL, refresh its card, commit and release VERSION of model NAME."""
    from weightops.api import make_card

    path = project.root / rel
    project.dvc("add", "-q", rel)
    make_card(path, path.with_name(path.stem + ".card.yaml"), model=name)
    project.git("add", "-A")
    project.git("commit", "-qm", f"train {name} {version}")
    project.release(version, "--model", name, at=at)


def test_shared_and_cyclic_objects_are_read_once_and_deep_nesting_is_refused(tmp_path):
    """Pickle's memo makes one object of a shared or self-referencing one: it is read once, under
    its shortest path; a chain deeper than the guard is one line, exit 5, nothing unpickled past it."""
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    ring = [model.coef_]
    ring.append(ring)                                  # a list holding itself
    (tmp_path / "cyclic.pkl").write_bytes(pickle.dumps({"ring": ring, "again": model.coef_}))
    assert [t.name for t in read_tensors(tmp_path / "cyclic.pkl")] == ["again"]
    deep: object = np.ones(4)
    for _ in range(80):
        deep = [deep]
    (tmp_path / "deep.pkl").write_bytes(pickle.dumps(deep))
    assert_one_line_error(run_cli(["validate", "deep.pkl", "--against", "none"], cwd=tmp_path), 5,
                          "nested deeper than 64 levels")


def test_histogram_boosting_retrained_on_other_data_passes_structure(tmp_path):
    """HistGradientBoosting's trees and the bin edges they split on are sized by the data: a
    retrain on another sample reshapes them, as a forest's node tables, without a structure change."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier

    from weightops.model.validation import validate

    x, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        keep = rng.permutation(len(y))[:135]
        joblib.dump(HistGradientBoostingClassifier(random_state=0).fit(x[keep], y[keep]), tmp_path / f"{name}.joblib")
    report = validate(str(tmp_path / "b.joblib"), against=str(tmp_path / "a.joblib"))
    assert report.passed, [(c.name, c.offending[:3]) for c in report.failed]
    shapes = {t.name: t.shape for t in read_tensors(tmp_path / "a.joblib")}
    other = {t.name: t.shape for t in read_tensors(tmp_path / "b.joblib")}
    assert any(shapes[n] != other[n] for n in shapes.keys() & other.keys())   # the retrain did reshape them
