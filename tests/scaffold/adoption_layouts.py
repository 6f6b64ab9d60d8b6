"""Existing DVC projects to adopt, built the way their owners built them: `dvc init`, `dvc add`,
`dvc stage add`, `dvc repro`, `dvc push`, and releases written by GTO itself (`register`,
`assign`) before weightops is ever run there. Their shapes follow public DVC projects:

- `getstarted`: iterative/example-get-started (four stages prepare -> featurize -> train ->
  evaluate with dotted params such as `train.min_split`, a `type: dataset` artifact beside the
  `type: model` one, a scikit-learn RandomForest pickled to `model.pkl`, GTO stages dev/stage/prod);
- `registry`: a hand-written dvc.yaml (four-space indentation, comments, flow lists, a long
  quoted line) with one stage writing safetensors weights, a GTO registry whose `.gto` config
  sets its stages (dev, stage, prod), a pre-release assigned to dev;
- `monorepo`: a `dvc init --subdir` project in `ml/` of a larger repository, its model
  `ml:clf` (GTO's `ml=clf@v1.0.0` tags), stages qa and live.

Each is built once per session into `<base>/project` with its DVC remote in `<base>/remote`,
referenced relatively, so a copy of `<base>` is self-contained.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z

# GTO has no option for its tags' time. With GIT_COMMITTER_DATE set, scmrepo's pygit2 backend
# declines to tag and dulwich does it, stamping the process clock; so GTO runs with that clock
# set, and event order comes from the fixture instead of sleeps.
_GTO_AT = "import sys, time; t = float(sys.argv.pop(1)); time.time = lambda: t; from gto.cli import app; app()"
# Many GTO operations in one process (GTO's own API, as its CLI calls it): each starts GTO anew
# otherwise, and a layout writes a dozen tags.
_GTO_BATCH = """
import json, os, sys, time
now = [0.0]
time.time = lambda: now[0]
from gto import api
for op in json.loads(sys.argv[1]):
    now[0] = float(op.pop("at"))
    os.environ["GIT_COMMITTER_DATE"] = f"@{int(now[0])} +0000"
    getattr(api, op.pop("op"))(".", **op)
"""


def gto_batch(root: Path, env: dict, *ops: dict) -> None:
    """Run GTO's `register` / `assign` (api.register(name, ref, version), api.assign(name, stage,
    version)) for each op, in order, its tag dated op["at"] (Unix seconds)."""
    sh(root, dict(env, GIT_COMMITTER_DATE=f"@{T0} +0000"), sys.executable, "-c", _GTO_BATCH, json.dumps(ops))


@dataclass
class Layout:
    """A built layout: where its DVC project is (`dvc_dir`, the git top or a subfolder), its
    model as weightops and GTO name it, the weights and card paths (relative to `dvc_dir`), the
    stage its README walk promotes to, the versions GTO released before adoption, and the
    parameter a retrain changes (params.yaml key path and a new value)."""
    name: str
    base: Path
    subdir: str
    model: str
    weights: str
    card: str
    stage: str
    released: tuple[str, ...]
    stages: tuple[str, ...]            # the stages the registry uses, in GTO's order
    retrain: tuple[str, object] = ("train.n_est", 7)
    extra: dict = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.base / "project"

    @property
    def dvc_dir(self) -> Path:
        return self.root / self.subdir if self.subdir else self.root


def env_for(base: Path) -> dict:
    """The environment the layouts are built and walked in: this interpreter's `python`,
    `dvc`, `gto` and `weightops` first on PATH, a HOME of their own, this checkout importable."""
    from conftest import BASE_ENV

    path = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    return dict(os.environ, HOME=str(base), DVC_SITE_CACHE_DIR=str(base / ".site"), **BASE_ENV, PATH=path)


def sh(cwd: Path, env: dict, *args: str, at: int | None = None) -> str:
    """Run a program (git, dvc via this python, gto) and return its stdout; fail loudly."""
    env = dict(env)
    if args[0] == "dvc":
        args = (sys.executable, "-m", "dvc", *args[1:])
    elif args[0] == "gto" and at is not None:
        env["GIT_COMMITTER_DATE"] = f"@{at} +0000"
        args = (sys.executable, "-c", _GTO_AT, str(at), *args[1:])
    elif args[0] == "git" and at is not None:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = f"@{at} +0000"
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def set_param(params: Path, dotted: str, value: object) -> None:
    """Change one value of params.yaml in place, as a user edits it (only that line changes)."""
    section, key = dotted.split(".")
    lines = params.read_text().splitlines(keepends=True)
    inside = False
    for i, line in enumerate(lines):
        if not line.startswith((" ", "\t")) and line.strip():
            inside = line.split(":")[0].strip() == section
        elif inside and line.strip().startswith(f"{key}:"):
            indent = line[:len(line) - len(line.lstrip())]
            lines[i] = f"{indent}{key}: {value}\n"
            params.write_text("".join(lines))
            return
    raise AssertionError(f"{dotted} not in {params}")


# ------------------------------------------------------------------ example-get-started's shape
PREPARE = '''import csv, os, random, sys
import yaml
params = yaml.safe_load(open("params.yaml"))["prepare"]
rows = list(csv.reader(open(sys.argv[1])))[1:]
random.Random(params["seed"]).shuffle(rows)
cut = int(len(rows) * params["split"])
os.makedirs("data/prepared", exist_ok=True)
for name, part in (("test.csv", rows[:cut]), ("train.csv", rows[cut:])):
    with open(os.path.join("data/prepared", name), "w", newline="") as f:
        csv.writer(f).writerows(part)
'''
FEATURIZE = '''import os, sys
import numpy as np
import yaml
params = yaml.safe_load(open("params.yaml"))["featurize"]
os.makedirs(sys.argv[2], exist_ok=True)
for name in ("train", "test"):
    data = np.loadtxt(os.path.join(sys.argv[1], name + ".csv"), delimiter=",", ndmin=2)
    x = data[:, :-1][:, : params["max_features"]]
    feats = [x ** k for k in range(1, params["ngrams"] + 1)]
    np.save(os.path.join(sys.argv[2], name + ".npy"), np.hstack(feats + [data[:, -1:]]))
'''
TRAIN = '''import pickle, sys
import numpy as np
import yaml
from sklearn.ensemble import RandomForestClassifier
params = yaml.safe_load(open("params.yaml"))["train"]
data = np.load(sys.argv[1] + "/train.npy")
clf = RandomForestClassifier(n_estimators=params["n_est"], min_samples_split=params["min_split"],
                             random_state=params["seed"], n_jobs=1)
clf.fit(data[:, :-1], data[:, -1])
with open(sys.argv[2], "wb") as f:
    pickle.dump(clf, f)
'''
EVALUATE = '''import json, os, pickle, sys
import numpy as np
clf = pickle.load(open(sys.argv[1], "rb"))   # the project's own model, trained above
data = np.load(sys.argv[2] + "/test.npy")
os.makedirs("eval", exist_ok=True)
json.dump({"accuracy": float(clf.score(data[:, :-1], data[:, -1]))}, open("eval/metrics.json", "w"))
'''
PARAMS = """prepare:
  split: 0.20
  seed: 20170428

featurize:
  max_features: 3
  ngrams: 2

train:
  seed: 20170428
  n_est: 3
  min_split: 0.01
"""
# Declared by hand above the stages, as example-get-started does.
GETSTARTED_ARTIFACTS = """artifacts:
  stackoverflow-dataset:
    path: data/data.csv
    type: dataset
    desc: Initial StackOverflow-like dataset (raw data)
  text-classification:
    path: model.pkl
    desc: Detect whether the given question should have the R tag
    type: model
    labels:
    - nlp
    - classification
"""


def _dataset(n: int = 120) -> str:
    import random

    rnd = random.Random(7)
    rows = ["a,b,c,d,label"]
    for _ in range(n):
        x = [round(rnd.uniform(-1, 1), 3) for _ in range(4)]
        rows.append(",".join(map(str, x)) + f",{int(x[0] + 0.5 * x[1] > 0)}")
    return "\n".join(rows) + "\n"


def build_getstarted(base: Path) -> Layout:
    env = env_for(base)
    root = base / "project"
    (root / "src").mkdir(parents=True)
    (base / "remote").mkdir()
    sh(base, env, "git", "init", "-q", str(root))
    sh(root, env, "dvc", "init", "-q")
    sh(root, env, "dvc", "remote", "add", "-d", "storage", "../remote")
    (root / "data").mkdir()
    (root / "data" / "data.csv").write_text(_dataset())
    sh(root, env, "dvc", "add", "-q", "data/data.csv")
    for name, text in (("prepare", PREPARE), ("featurization", FEATURIZE), ("train", TRAIN), ("evaluate", EVALUATE)):
        (root / "src" / f"{name}.py").write_text(text)
    (root / "params.yaml").write_text(PARAMS)
    sh(root, env, "dvc", "stage", "add", "-q", "-n", "prepare", "-p", "prepare.seed,prepare.split",
       "-d", "data/data.csv", "-d", "src/prepare.py", "-o", "data/prepared", "python src/prepare.py data/data.csv")
    sh(root, env, "dvc", "stage", "add", "-q", "-n", "featurize", "-p", "featurize.max_features,featurize.ngrams",
       "-d", "data/prepared", "-d", "src/featurization.py", "-o", "data/features",
       "python src/featurization.py data/prepared data/features")
    sh(root, env, "dvc", "stage", "add", "-q", "-n", "train", "-p", "train.min_split,train.n_est,train.seed",
       "-d", "data/features", "-d", "src/train.py", "-o", "model.pkl", "python src/train.py data/features model.pkl")
    sh(root, env, "dvc", "stage", "add", "-q", "-n", "evaluate", "-d", "data/features", "-d", "model.pkl",
       "-d", "src/evaluate.py", "-o", "eval", "python src/evaluate.py model.pkl data/features")
    dvcyaml = root / "dvc.yaml"
    dvcyaml.write_text(GETSTARTED_ARTIFACTS + dvcyaml.read_text())
    model = "text-classification"
    released, ops = [], []
    for i, (version, n_est) in enumerate((("v1.0.0", 3), ("v1.1.0", 4), ("v1.2.0", 5))):
        set_param(root / "params.yaml", "train.n_est", n_est)
        sh(root, env, "dvc", "repro", "-q")
        sh(root, env, "git", "add", "-A")
        sh(root, env, "git", "commit", "-qm", f"train with n_est={n_est}", at=T0 + 100 * i)
        sh(root, env, "dvc", "push", "-q")
        ops.append({"op": "register", "name": model, "ref": sh(root, env, "git", "rev-parse", "HEAD").strip(),
                    "version": version, "at": T0 + 100 * i + 1})
        released.append(version)
    for t, version, stage in ((T0 + 400, "v1.0.0", "prod"), (T0 + 410, "v1.1.0", "stage"),
                              (T0 + 420, "v1.2.0", "dev"), (T0 + 430, "v1.1.0", "prod")):
        ops.append({"op": "assign", "name": model, "version": version, "stage": stage, "at": t})
    gto_batch(root, env, *ops)
    return with_origin(Layout("getstarted", base, "", model, "model.pkl", "model.card.yaml", "prod", tuple(released),
                              ("dev", "prod", "stage"), ("train.n_est", 7), {"holder_before": "v1.1.0"}))


# ------------------------------------------------------------------ a GTO registry over `dvc add`
REGISTRY_DVCYAML = """# Models the team publishes; versions and stages are GTO tags (see .gto).
stages:
    train:
        cmd: python train.py
        deps: [train.py]
        params: [train.seed]
        outs:
            - models/churn.safetensors

artifacts:
    churn:   # the production churn model
        path: models/churn.safetensors
        type: model
        desc: "Churn classifier: logistic regression on 6 account features, trained weekly from the warehouse export"
        labels: [tabular, churn]
"""
WRITE_WEIGHTS = '''import numpy as np
import yaml
from safetensors.numpy import save_file
seed = yaml.safe_load(open("params.yaml"))["train"]["seed"]
rng = np.random.default_rng(seed)
save_file({"coef": rng.normal(size=(6, 1)).astype(np.float32), "bias": rng.normal(size=(1,)).astype(np.float32)},
          "models/churn.safetensors")
'''


def build_registry(base: Path) -> Layout:
    env = env_for(base)
    root = base / "project"
    (root / "models").mkdir(parents=True)
    (base / "remote").mkdir()
    sh(base, env, "git", "init", "-q", str(root))
    sh(root, env, "dvc", "init", "-q")
    sh(root, env, "dvc", "remote", "add", "-d", "warehouse", "../remote")
    (root / ".gto").write_text("stages: [dev, stage, prod]\n")
    (root / "dvc.yaml").write_text(REGISTRY_DVCYAML)
    (root / "train.py").write_text(WRITE_WEIGHTS)
    (root / "params.yaml").write_text("train:\n  seed: 1\n")
    released, ops = [], []
    for i, version in enumerate(("v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0-rc.1")):
        set_param(root / "params.yaml", "train.seed", i + 1)
        sh(root, env, "dvc", "repro", "-q")
        sh(root, env, "git", "add", "-A")
        sh(root, env, "git", "commit", "-qm", f"weekly retrain {i}", at=T0 + 100 * i)
        sh(root, env, "dvc", "push", "-q")
        ops.append({"op": "register", "name": "churn", "ref": sh(root, env, "git", "rev-parse", "HEAD").strip(),
                    "version": version, "at": T0 + 100 * i + 1})
        released.append(version)
    for t, version, stage in ((T0 + 500, "v1.0.0", "prod"), (T0 + 510, "v1.1.0", "stage"),
                              (T0 + 520, "v1.1.0", "prod"), (T0 + 530, "v1.2.0", "dev"),
                              (T0 + 540, "v1.3.0-rc.1", "dev")):
        ops.append({"op": "assign", "name": "churn", "version": version, "stage": stage, "at": t})
    gto_batch(root, env, *ops)
    return with_origin(Layout("registry", base, "", "churn", "models/churn.safetensors", "models/churn.card.yaml",
                              "prod", tuple(released), ("dev", "stage", "prod"), ("train.seed", 9),
                              {"holder_before": "v1.1.0"}))


# ------------------------------------------------------------------ a monorepo with `dvc init --subdir`
MONO_STAGE = '''import sys
import numpy as np
import yaml
p = yaml.safe_load(open("params.yaml"))["train"]
np.random.default_rng(p["seed"]).normal(size=p["width"]).astype(np.float32).tofile(sys.argv[1])
'''


def build_monorepo(base: Path) -> Layout:
    env = env_for(base)
    root = base / "project"
    ml = root / "ml"
    (ml / "models").mkdir(parents=True)
    (root / "services" / "api").mkdir(parents=True)
    (base / "remote").mkdir()
    sh(base, env, "git", "init", "-q", str(root))
    (root / "services" / "api" / "main.py").write_text("print('serving')\n")
    (root / "README.md").write_text("# the company monorepo\n")
    sh(ml, env, "dvc", "init", "-q", "--subdir")
    sh(ml, env, "dvc", "remote", "add", "-d", "store", "../../remote")
    (ml / "train.py").write_text(MONO_STAGE)
    (ml / "params.yaml").write_text("train:\n  seed: 1\n  width: 64\n")
    sh(ml, env, "dvc", "stage", "add", "-q", "-n", "train", "-p", "train", "-d", "train.py",
       "-o", "models/clf.bin", "python train.py models/clf.bin")
    with open(ml / "dvc.yaml", "a") as f:
        f.write("artifacts:\n  clf:\n    path: models/clf.bin\n    type: model\n")
    released, ops = [], []
    for i, version in enumerate(("v1.0.0", "v1.1.0")):
        set_param(ml / "params.yaml", "train.seed", i + 1)
        sh(ml, env, "dvc", "repro", "-q")
        sh(root, env, "git", "add", "-A")
        sh(root, env, "git", "commit", "-qm", f"train {i}", at=T0 + 100 * i)
        sh(ml, env, "dvc", "push", "-q")
        ops.append({"op": "register", "name": "ml:clf", "ref": sh(root, env, "git", "rev-parse", "HEAD").strip(),
                    "version": version, "at": T0 + 100 * i + 1})
        released.append(version)
    for t, version, stage in ((T0 + 300, "v1.0.0", "live"), (T0 + 310, "v1.1.0", "qa")):
        ops.append({"op": "assign", "name": "ml:clf", "version": version, "stage": stage, "at": t})
    gto_batch(root, env, *ops)
    return with_origin(Layout("monorepo", base, "ml", "ml:clf", "models/clf.bin", "models/clf.card.yaml", "live",
                              tuple(released), ("live", "qa"), ("train.seed", 9), {"holder_before": "v1.0.0"}))


BUILDERS = {"getstarted": build_getstarted, "registry": build_registry, "monorepo": build_monorepo}


def with_origin(layout: Layout) -> Layout:
    """Give the built project a bare git remote `origin` (`<base>/origin.git`) holding its branch
    and every tag, as a team's shared repository does."""
    env = env_for(layout.base)
    sh(layout.base, env, "git", "init", "-q", "--bare", str(layout.base / "origin.git"))
    sh(layout.root, env, "git", "remote", "add", "origin", str(layout.base / "origin.git"))
    sh(layout.root, env, "git", "push", "-q", "origin", "HEAD", "--tags")
    return layout


def save_layout(layout: Layout) -> None:
    """Record a built layout in `<base>/layout.json` (everything but `base`)."""
    fields = {k: v for k, v in dataclasses.asdict(layout).items() if k != "base"}
    (layout.base / "layout.json").write_text(json.dumps(fields))


def load_layout(base: Path) -> Layout:
    """The layout `save_layout` recorded in `base`."""
    fields = json.loads((base / "layout.json").read_text())
    return Layout(base=base, **{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def copy_layout(layout: Layout, dest: Path) -> Layout:
    """A fresh copy of a built layout under `dest` (the relative DVC remote comes along, and
    `origin` is pointed at the copy's own bare repository)."""
    shutil.copytree(layout.base, dest, symlinks=True, ignore=shutil.ignore_patterns(".site", ".cache"))
    copy = dataclasses.replace(layout, base=dest, extra=dict(layout.extra))
    sh(copy.root, env_for(dest), "git", "remote", "set-url", "origin", str(dest / "origin.git"))
    return copy
