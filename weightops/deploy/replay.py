"""Shadow replay: run a candidate and a baseline version over recorded inputs, offline, and
write the same log a live ShadowRunner writes. For teams without live traffic.

`--predict module:function` names a loader: `function(weights_path) -> predict(input)`. Both
versions' weights are pulled into a temp folder and verified against their cards first.
Inputs are a JSONL file, one JSON value (one model input) per line.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from weightops.core.jsonl import read_jsonl
from weightops.errors import NotFoundError, UsageError
from weightops.deploy.shadow import ShadowLog, run_pair_offline


@dataclass(frozen=True)
class Replayed:
    """What a replay did: the shadow log it wrote, the model, the candidate and baseline versions,
    and how many inputs were run through both."""
    log: str
    model: str
    candidate: str
    baseline: str
    calls: int


def load_callable(spec: str) -> Callable:
    """The object named by `package.module:function` (dotted attributes allowed); the current folder
    is importable, as with `python -m`. UsageError (2) for a spec not of that form or an object that
    is not callable; NotFoundError (3) when the module cannot be imported or has no such attribute."""
    module, sep, func = spec.partition(":")
    if not sep or not module or not func or not all(p.isidentifier() for p in module.split(".") + func.split(".")):
        raise UsageError(f"--predict '{spec}' is not module:function (for example serve.model:load)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise NotFoundError(f"--predict: cannot import '{module}': {exc}") from None
    for part in func.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise NotFoundError(f"--predict: '{module}' has no '{func}'")
    if not callable(obj):
        raise UsageError(f"--predict: '{spec}' is not callable")
    return obj


def read_inputs(path: str | os.PathLike) -> Iterator[object]:
    """The recorded inputs, one JSON value per line. NotFoundError (3), UsageError (2)."""
    for _, value in read_jsonl(path, f"inputs file '{path}'", torn_ok=False)[0]:
        yield value


def replay(*, candidate: str, baseline: str, inputs: str | os.PathLike, predict: str,
           log: str | os.PathLike, model: str | None = None, repo: str | os.PathLike = ".",
           comparator: Callable | None = None) -> Replayed:
    """Run `baseline` and `candidate` (versions, stages or `latest`, as `resolve` takes them) over
    every input of the JSONL file `inputs` and write a shadow log to `log`, as a live ShadowRunner
    would. `predict` is `module:function`, a loader called with each pulled weights path that
    returns `predict(input)`; both versions are pulled into a temp folder and verified first.
    `comparator` as for ShadowRunner. Raises what `resolve` and `pull` raise (NotFoundError 3,
    IntegrityError 4, RefusedError 5), UsageError (2) for a bad `predict` spec or inputs line; an
    exception of the baseline's predict propagates."""
    from weightops.deploy.pull import pull
    from weightops.opening import open_project
    from weightops.registry.resolve import resolve

    project = open_project(repo)
    registry = project.registry()
    cand = resolve(candidate, model=model, project=project, registry=registry)
    base = resolve(baseline, model=cand.model, project=project, registry=registry)
    loader = load_callable(predict)
    values = list(read_inputs(inputs))
    with tempfile.TemporaryDirectory(prefix="weightops-replay-") as tmp:
        paths = {}
        for name, r in (("baseline", base), ("candidate", cand)):
            paths[name] = Path(tmp) / name / Path(r.path).name
            pull(r.version, paths[name], model=r.model, repo=repo, expect_sha256=r.sha256)
        primary_fn, candidate_fn = loader(str(paths["baseline"])), loader(str(paths["candidate"]))
        shadow_log = ShadowLog(log, model=cand.model, primary_version=base.version,
                               candidate_version=cand.version)
        try:
            for value in values:
                start = time.perf_counter()
                out = primary_fn(value)  # a failing baseline is the caller's bug: let it raise
                primary_ms = (time.perf_counter() - start) * 1000
                run_pair_offline(out, primary_ms, candidate_fn, value, comparator, shadow_log)
        finally:
            shadow_log.close()
    return Replayed(str(log), cand.model, cand.version, base.version, len(values))
