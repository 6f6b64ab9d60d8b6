"""Agreement as a property: random sequences of GTO commands, weightops commands and plain
`git tag` calls on one real repository; after every step weightops (`resolve`, `list`) and
`gto show` name the same holder for every stage.

Divergences the README documents, and this test encodes:
- a deprecated model: `gto show` lists nothing; weightops' `list` hides it too and `resolve`
  refuses it (exit 5) unless --allow-deprecated, which then answers GTO's holder;
- a stage tag on a commit where no version was registered before it: GTO shows the commit
  as an unregistered version holding the stage; weightops names the same commit and tag but
  refuses to serve it (exit 3), having no version, card or release record to check.

Times are passed, never waited for: GIT_COMMITTER_DATE for git and for GTO (driven through
scmrepo's git-CLI backend, which honours it), `now=` / WEIGHTOPS_NOW for weightops.
"""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

import gto.api as gto_api  # noqa: E402 - a locked test dependency: missing is a failure, not a skip
from gto.exceptions import GTOException  # noqa: E402
from scmrepo.git import Git  # noqa: E402

from weightops.errors import NotFoundError, RefusedError, WeightopsError  # noqa: E402
from weightops.registry.release import release  # noqa: E402
from weightops.registry.resolve import resolve  # noqa: E402
from weightops.registry.stages import demote, promote, rollback  # noqa: E402
from weightops.api import list_versions  # noqa: E402

T0 = 1_767_225_600
MODEL = "clf"
VERSIONS = ("v1.0.0", "v1.1.0", "v1.2.0-rc.1", "v1.2.0", "v2.0.0")
STAGES = ("staging", "production")
STEP = st.sampled_from((0, 0, 0, 1, 1, 30))   # seconds to the next tag: same second is common


@contextmanager
def clock(t: int):
    """GIT_COMMITTER_DATE for this process and the git processes it starts (GTO's tags)."""
    old = os.environ.get("GIT_COMMITTER_DATE")
    os.environ["GIT_COMMITTER_DATE"] = f"@{t} +0000"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GIT_COMMITTER_DATE", None)
        else:
            os.environ["GIT_COMMITTER_DATE"] = old


def git(root, *args: str, t: int | None = None) -> str:
    env = dict(os.environ)
    if t is not None:
        env["GIT_COMMITTER_DATE"] = f"@{t} +0000"
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


def gto_view(root) -> tuple[dict, bool]:
    """{stage: (version, commit)} as `gto show MODEL` reports it (its default: active versions,
    one version per stage, by timestamp), and whether GTO hides the model as deprecated
    (`gto show` lists only active models; `-d` adds the deprecated ones)."""
    models = gto_api.show(str(root), deprecated=True)
    if MODEL not in models:
        return {}, False
    deprecated = not models[MODEL]["active"]
    holders = {}
    for v in gto_api.show(str(root), MODEL, deprecated=True):
        for s in v["stages"]:
            holders[s["stage"]] = (v["version"], v["commit_hexsha"])
    return holders, deprecated


class Agreement(RuleBasedStateMachine):
    root = None      # set by the test: the repository every example reuses
    commits: list[str] = []

    @initialize()
    def reset(self):
        tags = git(self.root, "tag", "-l").split()
        if tags:
            git(self.root, "tag", "-d", *tags)
        git(self.root, "checkout", "-q", "--detach", self.commits[-1])
        self.t = T0
        self.steps: list[str] = []
        # GTO writes through git's CLI here, so GIT_COMMITTER_DATE sets its tag times.
        self.scm = Git(str(self.root), backends=["gitpython", "pygit2", "dulwich"])

    def teardown(self):
        self.scm.close()

    def _advance(self, dt: int) -> int:
        newest = git(self.root, "for-each-ref", "--sort=-taggerdate", "--count=1",
                     "--format=%(taggerdate:unix)", "refs/tags").strip()
        self.t = max(self.t, int(newest or 0)) + dt
        return self.t

    def _counter(self) -> int:
        counters = [int(t.rsplit("#", 1)[1]) for t in git(self.root, "tag", "-l").split()
                    if t.count("#") == 2 and t.rsplit("#", 1)[1].isdigit()]
        return max(counters, default=0) + 1

    # ---- weightops ----
    @rule(commit=st.integers(0, 3), version=st.sampled_from(VERSIONS), dt=STEP)
    def wo_release(self, commit, version, dt):
        t = self._advance(dt)
        git(self.root, "checkout", "-q", "--detach", self.commits[commit])
        self.steps.append(f"weightops release {version} @C{commit} t={t}")
        try:
            release(version, repo=self.root, now=t)
        except RefusedError as exc:
            self.steps[-1] += f" -> refused: {exc}"

    @rule(version=st.sampled_from(VERSIONS), stage=st.sampled_from(STAGES), dt=STEP)
    def wo_promote(self, version, stage, dt):
        t = self._advance(dt)
        self.steps.append(f"weightops promote {version} {stage} t={t}")
        try:
            promote(version, stage, repo=self.root, now=t, skip_checks=True)
        except WeightopsError as exc:
            assert exc.exit_code in (3, 5), exc
            self.steps[-1] += f" -> {exc.exit_code}"

    @rule(stage=st.sampled_from(STAGES), dt=STEP)
    def wo_demote(self, stage, dt):
        t = self._advance(dt)
        self.steps.append(f"weightops demote {stage} t={t}")
        try:
            demote(stage, repo=self.root, now=t)
        except WeightopsError as exc:
            assert exc.exit_code in (3, 5), exc
            self.steps[-1] += f" -> {exc.exit_code}"

    @rule(stage=st.sampled_from(STAGES), dt=STEP)
    def wo_rollback(self, stage, dt):
        t = self._advance(dt)
        self.steps.append(f"weightops rollback {stage} t={t}")
        try:
            rollback(stage, repo=self.root, now=t, skip_checks=True)
        except WeightopsError as exc:
            assert exc.exit_code in (3, 5), exc
            self.steps[-1] += f" -> {exc.exit_code}"

    # ---- GTO ----
    def _gto(self, text, dt, call):
        t = self._advance(dt)
        self.steps.append(f"gto {text} t={t}")
        with clock(t):
            try:
                call()
            except GTOException as exc:
                self.steps[-1] += f" -> gto refused: {exc}"

    @rule(commit=st.integers(0, 3), version=st.sampled_from(VERSIONS), dt=STEP)
    def gto_register(self, commit, version, dt):
        self._gto(f"register {MODEL} C{commit} --version {version}", dt,
                  lambda: gto_api.register(self.scm, MODEL, self.commits[commit], version=version))

    @rule(version=st.sampled_from(VERSIONS), stage=st.sampled_from(STAGES), force=st.booleans(), dt=STEP)
    def gto_assign(self, version, stage, force, dt):
        self._gto(f"assign {MODEL} --version {version} --stage {stage} force={force}", dt,
                  lambda: gto_api.assign(self.scm, MODEL, stage, version=version, force=force))

    @rule(version=st.sampled_from(VERSIONS), stage=st.sampled_from(STAGES), dt=STEP)
    def gto_unassign(self, version, stage, dt):
        self._gto(f"unassign {MODEL} --version {version} --stage {stage}", dt,
                  lambda: gto_api.unassign(self.scm, MODEL, stage=stage, version=version))

    @rule(version=st.sampled_from(VERSIONS), dt=STEP)
    def gto_deregister(self, version, dt):
        self._gto(f"deregister {MODEL} {version}", dt,
                  lambda: gto_api.deregister(self.scm, MODEL, version=version))

    @rule(version=st.sampled_from(VERSIONS), stage=st.sampled_from(STAGES), dt=STEP)
    def gto_assign_and_unassign_in_one_second(self, version, stage, dt):
        """On a tie GTO lets the unassignment win, whatever the tag names."""
        def both():
            gto_api.assign(self.scm, MODEL, stage, version=version, force=True)
            gto_api.unassign(self.scm, MODEL, stage=stage, version=version)
        self._gto(f"assign+unassign {MODEL} {version} {stage} in one second", dt, both)

    @rule(dt=STEP, force=st.booleans())
    def gto_deprecate(self, dt, force):
        self._gto(f"deprecate {MODEL} force={force}", dt, lambda: gto_api.deprecate(self.scm, MODEL, force=force))

    # ---- plain git ----
    @rule(commit=st.integers(0, 3), stage=st.sampled_from(STAGES), unassign=st.booleans(),
          annotated=st.booleans(), dt=STEP)
    def git_stage_tag(self, commit, stage, unassign, annotated, dt):
        t = self._advance(dt)
        name = f"{MODEL}#{stage}{'!' if unassign else ''}#{self._counter()}"
        self.steps.append(f"git tag {'-a ' if annotated else ''}{name} C{commit} t={t}")
        git(self.root, "tag", *(["-a", "-m", "by hand"] if annotated else []), name, self.commits[commit], t=t)

    @rule(commits=st.lists(st.integers(0, 3), min_size=2, max_size=2), stage=st.sampled_from(STAGES),
          unassign=st.lists(st.booleans(), min_size=2, max_size=2), dt=STEP)
    def git_same_second_pair(self, commits, stage, unassign, dt):
        """Two annotated stage tags in one second: GTO orders them by name, then by kind."""
        t = self._advance(dt)
        for commit, bang in zip(commits, unassign):
            name = f"{MODEL}#{stage}{'!' if bang else ''}#{self._counter()}"
            self.steps.append(f"git tag -a {name} C{commit} t={t}")
            git(self.root, "tag", "-a", "-m", "by hand", name, self.commits[commit], t=t)

    # ---- the property ----
    @invariant()
    def tools_agree(self):
        if not hasattr(self, "t"):
            return
        theirs, deprecated = gto_view(self.root)
        rows = list_versions(repo=self.root, deprecated=True)
        listed = {s: (r["version"], r["commit"]) for r in rows for s in r["stages"]}
        where = "\n".join(self.steps)
        if deprecated:       # `gto show` lists nothing for a deprecated model, nor does `list`
            assert list_versions(repo=self.root) == [], where
        for stage in STAGES:
            want = theirs.get(stage)
            registered = want if want and not want[0].startswith(want[1][:7]) and want[0] != want[1] else None
            assert listed.get(stage) == registered, f"list, {stage}: {listed.get(stage)} != GTO {want}\n{where}"
            try:
                got = resolve(stage, repo=self.root, allow_deprecated=deprecated)
                answer = (got.version, got.commit)
            except NotFoundError as exc:
                answer = None
                if want is not None:   # documented: GTO's unregistered version of a commit
                    assert want[0] == want[1] and want[1][:12] in str(exc), f"{stage}: {exc} but GTO {want}\n{where}"
                    continue
            assert answer == want, f"resolve {stage}: {answer} != GTO {want}\n{where}"
            if deprecated and answer is not None:
                with pytest.raises(RefusedError, match="deprecated"):
                    resolve(stage, repo=self.root)


@pytest.fixture
def shared_repo(project):
    """The project in GTO's named style with four commits carrying the same pushed weights
    (empty commits), so any of them can be released."""
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text().replace("tag_style: plain", "tag_style: named"))
    project.git("commit", "-qam", "named tags")
    project.dvc("push", "-q")
    commits = [project.head()]
    for i in range(3):
        project.git("commit", "-q", "--allow-empty", "-m", f"empty {i}")
        commits.append(project.head())
    return project, commits


def test_gto_and_weightops_agree_on_every_stage(shared_repo):
    project, commits = shared_repo
    Agreement.root, Agreement.commits = project.root, commits
    run_state_machine_as_test(Agreement, settings=settings(
        max_examples=int(os.environ.get("WEIGHTOPS_AGREEMENT_EXAMPLES", "20")), stateful_step_count=12,
        deadline=None, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.generate],   # no shrinking: the step log names the sequence
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    # The last example's registry, once more through both command lines as users run them.
    theirs = subprocess.run(["gto", "show", MODEL, "--json"], cwd=project.root, capture_output=True, text=True)
    assert theirs.returncode == 0, theirs.stderr
    gto_stages = {s["stage"]: v["version"] for v in json.loads(theirs.stdout) for s in v["stages"]}
    ours = project.wo("list", "--json")
    assert ours.returncode == 0, ours.stderr
    our_stages = {s: r["version"] for r in json.loads(ours.stdout)["versions"] for s in r["stages"]}
    assert our_stages == {s: v for s, v in gto_stages.items() if v.startswith("v")}
