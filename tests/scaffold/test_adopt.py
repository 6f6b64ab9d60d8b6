"""`weightops init` in an existing DVC project: it registers the model the project declares,
takes tag style and stages from the registry GTO wrote, and changes the user's dvc.yaml only by
adding lines. Inputs are written by `dvc stage add`, `gto register`/`gto assign` and git, and
by hand in the styles people use."""

from __future__ import annotations

import difflib

import pytest
import yaml

from scaffold.adoption_layouts import T0, env_for, sh
from helpers import assert_one_line_error, run_cli
from weightops.scaffold.adopt import insert_artifact


def only_added(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`; fails when any line of `before` changed or went away."""
    ops = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False).get_opcodes()
    assert all(op in ("equal", "insert") for op, *_ in ops), "".join(difflib.unified_diff(
        before.splitlines(True), after.splitlines(True)))
    return [l for op, _, _, j1, j2 in ops if op == "insert" for l in after.splitlines()[j1:j2]]


def dvc_reads(text: str) -> dict:
    """dvc.yaml as DVC validates it (its own schema), returned parsed."""
    from dvc.schema import COMPILED_MULTI_STAGE_SCHEMA

    doc = yaml.safe_load(text)
    COMPILED_MULTI_STAGE_SCHEMA(doc)
    return doc


@pytest.fixture(scope="module")
def written_by_dvc(tmp_path_factory) -> str:
    """A dvc.yaml as `dvc stage add` writes it: dotted params, several deps, an uncached out."""
    base = tmp_path_factory.mktemp("dvcwritten")
    env = env_for(base)
    root = base / "p"
    sh(base, env, "git", "init", "-q", str(root))
    sh(root, env, "dvc", "init", "-q")
    sh(root, env, "dvc", "stage", "add", "-q", "-n", "prepare", "-p", "prepare.seed,prepare.split",
       "-d", "data/data.xml", "-o", "data/prepared", "python src/prepare.py data/data.xml")
    sh(root, env, "dvc", "stage", "add", "-q", "-n", "train", "-p", "train.min_split,train.n_est",
       "-d", "data/prepared", "-d", "src/train.py", "-o", "model.pkl", "-M", "eval/metrics.json",
       "python src/train.py data/prepared model.pkl")
    return (root / "dvc.yaml").read_text()


HAND_WRITTEN = {
    # four-space indentation, comments everywhere, flow lists, a long line, no final newline
    "four-spaces": ("# our pipeline, reviewed by the data team\n"
                    "stages:\n"
                    "    train:   # nightly\n"
                    "        cmd: python train.py --epochs 30 --lr 0.001 --batch-size 512 --seed 1234 --out models/net.pkl --log-every 50\n"
                    "        deps: [train.py, data/raw]\n"
                    "        params: [train.lr, train.epochs]\n"
                    "        outs:\n"
                    "            - models/net.pkl\n"
                    "# end of pipeline"),
    # an artifacts section first (example-get-started's order) holding a dataset, with a trailing comment
    "artifacts-first": ("artifacts:\n"
                        "  raw-data:\n"
                        "    path: data/raw\n"
                        "    type: dataset\n"
                        "    labels:\n"
                        "    - tabular\n"
                        "  # models go below\n"
                        "\n"
                        "stages:\n"
                        "  train:\n"
                        "    cmd: python train.py\n"
                        "    outs:\n"
                        "    - models/net.pkl\n"),
    # CRLF line endings (written on Windows)
    "crlf": "stages:\r\n  train:\r\n    cmd: python train.py\r\n    outs:\r\n      - models/net.pkl\r\n",
    # an empty artifacts: key and a stage using DVC's dict form for outs
    "empty-artifacts": ("stages:\n  train:\n    cmd: python train.py\n    outs:\n      - models/net.pkl:\n"
                        "          cache: true\n          persist: false\nartifacts:\n# none yet\n"),
}


@pytest.mark.parametrize("style", ["written-by-dvc", *HAND_WRITTEN])
def test_declaring_an_artifact_only_adds_lines(style, written_by_dvc):
    before = written_by_dvc if style == "written-by-dvc" else HAND_WRITTEN[style]
    path = "model.pkl" if style == "written-by-dvc" else "models/net.pkl"
    after = insert_artifact(before, "net", path)
    added = only_added(before, after)
    assert len(added) in (3, 4) and any(l.strip() == "net:" for l in added)
    # every byte of the user's file is still there, in order: the edit only inserted text
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    assert all(op in ("equal", "insert") for op, *_ in matcher.get_opcodes())
    doc = dvc_reads(after)
    assert doc["artifacts"]["net"] == {"path": path, "type": "model"}
    assert {k: v for k, v in doc.items() if k != "artifacts"} == {
        k: v for k, v in (yaml.safe_load(before) or {}).items() if k != "artifacts"}
    if style == "crlf":
        assert "\r\n" in after and "\n" not in after.replace("\r\n", "")
    if style == "four-spaces":
        assert "\n    net:\n        path: models/net.pkl\n        type: model\n" in after


def test_flow_style_artifacts_are_refused_not_rewritten():
    text = "stages: {}\nartifacts: {other: {path: x.bin}}\n"
    with pytest.raises(Exception) as err:
        insert_artifact(text, "net", "models/net.pkl")
    assert "flow style" in str(err.value)


def _dvc_project(tmp_path, dvcyaml: str, outs: dict[str, bytes]):
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = env_for(tmp_path)
    root = tmp_path / "p"
    sh(tmp_path, env, "git", "init", "-q", str(root))
    sh(root, env, "dvc", "init", "-q")
    (tmp_path / "remote").mkdir()
    sh(root, env, "dvc", "remote", "add", "-d", "team", str(tmp_path / "remote"))
    for rel, data in outs.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "dvc.yaml").write_text(dvcyaml)
    sh(root, env, "dvc", "commit", "-q", "-f")
    sh(root, env, "git", "add", "-A")
    sh(root, env, "git", "commit", "-qm", "theirs", at=T0)
    return root, env


TWO_ARTIFACTS = ("stages:\n  train:\n    cmd: python train.py\n    outs:\n    - model.pkl\n    - data/clean.csv\n"
                 "artifacts:\n  clean-data:\n    path: data/clean.csv\n    type: dataset\n"
                 "  text-classification:\n    path: model.pkl\n    type: model\n")


def test_init_registers_the_declared_model_and_reads_gtos_conventions(tmp_path):
    root, env = _dvc_project(tmp_path, TWO_ARTIFACTS, {"model.pkl": b"weights-1", "data/clean.csv": b"a,b\n"})
    sh(root, env, "gto", "register", "text-classification", "--version", "v1.0.0", at=T0 + 1)
    sh(root, env, "gto", "assign", "text-classification", "--version", "v1.0.0", "--stage", "prod", at=T0 + 2)
    sh(root, env, "gto", "assign", "text-classification", "--version", "v1.0.0", "--stage", "dev", at=T0 + 3)
    before = (root / "dvc.yaml").read_bytes()
    # the dataset is not a model: by default the only `type: model` artifact is registered
    proc = run_cli(["init"], cwd=root, env=env, check=True)
    assert (root / "dvc.yaml").read_bytes() == before
    assert "registered artifact 'text-classification' (model.pkl)" in proc.stdout
    cfg = yaml.safe_load((root / "weightops.yaml").read_text())
    # GTO's annotated tags: named style; stages as `gto show` orders them (no .gto: sorted)
    # GTO's `prod` is the production stage the default gate would protect: it is gated, and said so
    assert cfg == {"model": "text-classification", "tag_style": "named", "stages": ["dev", "prod"],
                   "gates": {"prod": {"validate": True}}}
    note = " ".join(l.strip() for l in proc.stdout.splitlines() if "weight checks" in l or l.startswith("      "))
    assert "promotions to prod run the weight checks" in note and "validate: false" in note
    from weightops.core.config import parse_config
    gates = parse_config((root / "weightops.yaml").read_text())
    assert gates.gate("prod").validate and gates.gate("prod").against == "prod" and not gates.gate("dev").validate
    assert "v1.1.0" in proc.stdout.splitlines()[-1]       # the next release after the newest
    assert "team" not in sh(root, env, "git", "status", "--porcelain")   # the default remote is kept
    assert "remote = team" in (root / ".dvc" / "config").read_text()


@pytest.mark.parametrize("args", [["--artifact", "model.pkl"], ["--model", "text-classification"],
                                  ["--artifact", "./model.pkl", "--model", "text-classification"]])
def test_init_by_path_or_name_never_declares_a_second_artifact(tmp_path, args):
    root, env = _dvc_project(tmp_path, TWO_ARTIFACTS, {"model.pkl": b"w", "data/clean.csv": b"a\n"})
    before = (root / "dvc.yaml").read_bytes()
    run_cli(["init", *args], cwd=root, env=env, check=True)
    assert (root / "dvc.yaml").read_bytes() == before
    assert yaml.safe_load((root / "weightops.yaml").read_text())["model"] == "text-classification"


def test_init_names_what_it_cannot_choose(tmp_path):
    several = TWO_ARTIFACTS.replace("type: dataset", "type: model")
    root, env = _dvc_project(tmp_path, several, {"model.pkl": b"w", "data/clean.csv": b"a\n"})
    assert_one_line_error(run_cli(["init"], cwd=root, env=env), 2, "several models", "clean-data", "text-classification")
    assert_one_line_error(run_cli(["init", "--artifact", "model.pkl", "--model", "other"], cwd=root, env=env), 2,
                          "already declares model.pkl as artifact 'text-classification'")
    assert not (root / "weightops.yaml").exists()
    root2, env2 = _dvc_project(tmp_path / "b", TWO_ARTIFACTS, {"model.pkl": b"w", "data/clean.csv": b"a\n"})
    assert_one_line_error(run_cli(["init", "--model", "clean-data"], cwd=root2, env=env2), 2, "type: dataset", "not a model")


def test_init_declares_an_undeclared_output_by_adding_lines(tmp_path):
    text = ("stages:\n    train:\n        cmd: python train.py\n        params: [train.lr]\n"
            "        outs:\n            - models/net.pkl   # the weights\n")
    root, env = _dvc_project(tmp_path, text, {"models/net.pkl": b"weights", "params.yaml": b"train:\n  lr: 0.1\n"})
    sh(root, env, "git", "tag", "v0.9.0")   # a plain release tag only: the plain style stays
    run_cli(["init", "--artifact", "models/net.pkl", "--model", "net"], cwd=root, env=env, check=True)
    after = (root / "dvc.yaml").read_text()
    assert only_added(text, after) == ["artifacts:", "    net:", "        path: models/net.pkl", "        type: model"]
    dvc_reads(after)
    cfg = yaml.safe_load((root / "weightops.yaml").read_text())
    assert cfg["tag_style"] == "plain" and cfg["stages"] == ["staging", "production", "shadow"]


def test_gto_order_and_stage_names_weightops_reads_otherwise(tmp_path):
    root, env = _dvc_project(tmp_path, TWO_ARTIFACTS, {"model.pkl": b"w", "data/clean.csv": b"a\n"})
    sh(root, env, "gto", "register", "text-classification", "--version", "v1.0.0", at=T0 + 1)
    for i, stage in enumerate(("prod", "latest", "v1", "dev")):
        sh(root, env, "gto", "assign", "text-classification", "--version", "v1.0.0", "--stage", stage, at=T0 + 2 + i)
    proc = run_cli(["init"], cwd=root, env=env, check=True)
    assert yaml.safe_load((root / "weightops.yaml").read_text())["stages"] == ["dev", "prod"]
    notes = [l for l in proc.stdout.splitlines() if l.startswith("note: stage")]
    assert len(notes) == 2 and "'latest'" in notes[0] and "newest release" in notes[0] and "'v1'" in notes[1]
    # GTO's config, when it sets stages, gives the order (gto/registry.py get_stages)
    (root / ".gto").write_text("stages: [dev, stage, prod]\n")
    run_cli(["init", "--force"], cwd=root, env=env, check=True)
    assert yaml.safe_load((root / "weightops.yaml").read_text())["stages"] == ["dev", "stage", "prod"]


def test_adopted_stages_without_production_or_prod_gate_nothing_and_say_so(tmp_path):
    root, env = _dvc_project(tmp_path, TWO_ARTIFACTS, {"model.pkl": b"w", "data/clean.csv": b"a\n"})
    sh(root, env, "gto", "register", "text-classification", "--version", "v1.0.0", at=T0 + 1)
    for i, stage in enumerate(("dev", "live")):
        sh(root, env, "gto", "assign", "text-classification", "--version", "v1.0.0", "--stage", stage, at=T0 + 2 + i)
    before = (root / "dvc.yaml").read_bytes()
    proc = run_cli(["init"], cwd=root, env=env, check=True)
    assert (root / "dvc.yaml").read_bytes() == before
    assert "gates" not in yaml.safe_load((root / "weightops.yaml").read_text())
    text = " ".join(proc.stdout.split())
    assert "no stage is gated" in text and "gates: {STAGE: {validate: true}}" in text
