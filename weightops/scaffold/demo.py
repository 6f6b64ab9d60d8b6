"""`weightops demo`: the registry's story end to end on real git and DVC, inside one folder.

Train and release two versions; promote the first to production and resolve it to bytes; pull
it, verified; promote the second; corrupt the second's object in the remote and show that
`pull` halts (exit 4) with nothing written; roll production back in one command, timed; answer
"what was in production at time T" for a moment before the rollback. Every step is a record
(`Step`): the CLI prints each as it finishes, `--json` prints them all as one object.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from weightops.core import dvc, git
from weightops.core.atomic import atomic_open
from weightops.errors import IntegrityError, RefusedError
from weightops.registry.release import release
from weightops.registry.resolve import resolve
from weightops.registry.records import iso
from weightops.registry.stages import promote, rollback
from weightops.scaffold.init import init_project

MODEL = "clf"
STAGE = "production"
VERSIONS = (("v1.0.0", {"lr": 0.5, "epochs": 200}), ("v1.1.0", {"lr": 0.5, "epochs": 400}))  # a retrain: small drift


@dataclass(frozen=True)
class Step:
    """One step of the story: what was done, what it proves, and its outcome (JSON-ready)."""

    step: str
    did: str
    proves: str
    outcome: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The step as JSON: step, did, proves, plus its outcome's keys."""
        return {"step": self.step, "did": self.did, "proves": self.proves, **self.outcome}


@dataclass(frozen=True)
class Demo:
    """A finished demo: the folder holding everything, the project and local DVC remote inside it,
    the steps run, commands to explore next, and the wall-clock seconds it took."""
    folder: Path
    project: Path
    remote: Path
    steps: tuple[Step, ...]
    explore: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict:
        """The demo as JSON for `demo --json`: ok, model, the folders, seconds (one decimal), steps,
        explore."""
        return {"ok": True, "model": MODEL, "folder": str(self.folder), "project": str(self.project),
                "remote": str(self.remote), "seconds": round(self.seconds, 1),
                "steps": [s.to_dict() for s in self.steps], "explore": list(self.explore)}


def prepare_folder(directory: str | os.PathLike | None) -> Path:
    """A new temp folder, or `directory` if it is missing or empty. Raises RefusedError (exit 5)
    for a non-empty folder: the demo never writes among someone's files."""
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="weightops-demo-")).resolve()
    base = Path(directory).resolve()
    if base.exists() and not base.is_dir():
        raise RefusedError(f"--dir {base} is a file; give a new or empty folder for the demo")
    if base.is_dir() and any(base.iterdir()):
        raise RefusedError(f"--dir {base} is not empty; give a new or empty folder for the demo")
    base.mkdir(parents=True, exist_ok=True)
    return base


def run_demo(directory: str | os.PathLike | None = None,
             on_step: Callable[[Step], None] | None = None) -> Demo:
    """Run the story in `directory` (see `prepare_folder`); `on_step` sees each step as it ends.
    Everything it writes stays under the folder (DVC's machine-wide state too). RefusedError (5) for
    a non-empty folder; a failing git or DVC step raises its error (exit 1)."""
    started = time.monotonic()
    base = prepare_folder(directory)
    project, remote = base / "project", base / "dvc-remote"
    steps: list[Step] = []

    def done(step: Step) -> None:
        steps.append(step)
        if on_step:
            on_step(step)

    env = _setup(base, project, remote)
    for i, (version, params) in enumerate(VERSIONS, 1):
        done(_train_and_release(project, env, version, params, i))
    done(_promote(project, VERSIONS[0][0], "promote-first"))
    r = resolve(STAGE, model=MODEL, repo=project)
    done(Step("resolve", f"weightops resolve {STAGE}",
              "a stage name resolves to one version, one commit and the exact bytes (sha256, object URL)",
              {"ref": STAGE, "version": r.version, "commit": r.commit, "sha256": r.sha256, "size": r.size,
               "url": r.url}))
    done(_pull(project, base / "deploy" / f"{MODEL}.safetensors"))
    done(_promote(project, VERSIONS[1][0], "promote-second"))
    done(_tamper(project))
    done(_pull_tampered(project, base / "deploy-next" / f"{MODEL}.safetensors"))
    roll, rolled_at = _rollback(project)
    done(roll)
    done(_as_of(project, rolled_at - 1))
    explore = (f"cd {project}", "weightops list", f"weightops history {STAGE}",
               "weightops report   # one HTML page in .git/weightops/; its audit flags the corrupted v1.1.0 object")
    return Demo(base, project, remote, tuple(steps), explore, time.monotonic() - started)


def _setup(base: Path, project: Path, remote: Path) -> dict:
    # DVC keeps per-repo state in a machine-wide folder; point it inside the demo folder.
    site_cache = base / ".dvc-site-cache"
    env = {"DVC_SITE_CACHE_DIR": str(site_cache)}
    init_project(project, model=MODEL, remote=str(remote))
    dvc.run(["config", "--local", "core.site_cache_dir", str(site_cache)], project, env=env)
    if not git.config_get(project, "user.email"):  # a fresh machine may have no git identity
        git.set_config(project, "user.name", "weightops demo")
        git.set_config(project, "user.email", "demo@weightops.invalid")
    return env


def _train_and_release(project: Path, env: dict, version: str, overrides: dict, n: int) -> Step:
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"].update(overrides)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    dvc.run(["repro", "-q"], project, env=env)
    git.commit_all(project, f"train {MODEL} {version}")
    dvc.run(["push", "-q"], project, env=env)   # the bytes go to the DVC remote first
    done = release(version, model=MODEL, repo=project)
    r = resolve(version, model=MODEL, repo=project)
    return Step(f"release-{n}", f"dvc repro, git commit, dvc push, weightops release {version}",
                "a release is an immutable git tag naming exact bytes that are in the DVC remote",
                {"version": version, "tag": done.tag, "commit": done.commit, "sha256": done.sha256,
                 "size": r.size, "accuracy": (r.card.get("metrics") or {}).get("accuracy"), "url": r.url})


def _promote(project: Path, version: str, name: str) -> Step:
    a = promote(version, STAGE, model=MODEL, repo=project, message="demo")
    return Step(name, f"weightops promote {version} {STAGE}",
                "a promotion is one new tag (GTO's NAME#STAGE#N); no file moves and history is kept",
                {"version": a.version, "stage": a.stage, "tag": a.tag, "previous": a.previous})


def _pull(project: Path, dest: Path) -> Step:
    from weightops.deploy.pull import pull_detailed
    from weightops.storage.hashing import hash_file

    pulled = pull_detailed(STAGE, dest, model=MODEL, repo=project)
    return Step("pull", f"weightops pull {STAGE} -o {dest}",
                "a deploy gets the released bytes, checked (size, sha256) before they appear at the path",
                {"ref": STAGE, "version": pulled.resolved.version, "dest": str(pulled.path),
                 "sha256": hash_file(pulled.path).sha256, "expected_sha256": pulled.resolved.sha256,
                 "verified": True, "transferred": pulled.transferred})


def _tamper(project: Path) -> Step:
    r = resolve(VERSIONS[1][0], model=MODEL, repo=project)
    obj = Path(r.url)
    data = bytearray(obj.read_bytes())
    for i in range(1, min(len(data), 16) + 1):   # other bytes, same size: a size check cannot see it
        data[-i] ^= 0xFF
    with atomic_open(obj) as f:                  # DVC leaves remote objects read-only: replace it
        f.write(bytes(data))
    return Step("tamper", f"overwrite {VERSIONS[1][0]}'s object in the remote with other bytes of the same size",
                "(the fault: a corrupted or replaced object, as a bad disk or a careless copy leaves it)",
                {"version": r.version, "object": str(obj), "size": len(data), "size_unchanged": len(data) == r.size})


def _pull_tampered(project: Path, dest: Path) -> Step:
    from weightops.deploy.pull import pull_detailed

    try:
        pull_detailed(STAGE, dest, model=MODEL, repo=project)
    except IntegrityError as exc:
        error, code = str(exc).splitlines()[0], exc.exit_code
    else:  # pragma: no cover - the story is wrong if corrupted bytes were accepted
        raise IntegrityError("the demo's corrupted object was accepted by pull; report this as a bug")
    left = sorted(p.name for p in dest.parent.iterdir()) if dest.parent.is_dir() else []
    return Step("pull-tampered", f"weightops pull {STAGE} -o {dest}",
                "pull halts on bytes that are not the released ones: exit 4, and nothing at the destination",
                {"ref": STAGE, "exit_code": code, "error": error, "dest": str(dest), "dest_exists": dest.exists(),
                 "left_in_folder": left})


def _rollback(project: Path) -> tuple[Step, int]:
    """The rollback step and its tag's time (Unix seconds; the step shows it as ISO 8601)."""
    t0 = time.perf_counter()
    a = rollback(STAGE, model=MODEL, repo=project, message="demo: v1.1.0's object is corrupt")
    seconds = time.perf_counter() - t0
    event = next(e for e in _registry(project).events(MODEL, stage=STAGE) if e.tag == a.tag)
    now = resolve(STAGE, model=MODEL, repo=project)
    return Step("rollback", f"weightops rollback {STAGE}",
                "one command puts the previous version back, as a new recorded event",
                {"stage": STAGE, "from": a.previous, "to": a.version, "tag": a.tag, "seconds": round(seconds, 3),
                 "resolves_to": now.version, "at": iso(event.time)}), event.time


def _as_of(project: Path, when: int) -> Step:
    then = resolve(STAGE, model=MODEL, repo=project, at=when)
    now = resolve(STAGE, model=MODEL, repo=project)
    return Step("as-of", f"weightops resolve {STAGE} --at {iso(when)}",
                "the tags are an audit trail: what was in production at any past moment, with its bytes",
                {"stage": STAGE, "at": iso(when), "version": then.version, "sha256": then.sha256,
                 "now": now.version})


def _registry(project: Path):
    from weightops.project import Project

    return Project(project).registry()
