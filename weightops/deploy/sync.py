"""Stage sync on a deploy host: keep one file equal to a stage's current version.

Each poll is one `git ls-remote` (HEAD and the tags: a few hundred bytes); only when that
listing changed does the host resolve the stage (through the deploy path's partial cache of
the registry, without a clone) and `pull` the weights. The new file is written beside the old
one, verified, then renamed over it, so the old weights stay live until the new ones are whole
and verified; a failure leaves them live, is recorded in the deploy log, and is retried on the
next poll.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from weightops.deploy import deployments
from weightops.core import git_remote
from weightops.errors import UsageError, WeightopsError
from weightops.storage.hashing import sha256_file
from weightops.registry.resolve import Resolved
from weightops.registry.tags import check_stage, validate_stage

log = logging.getLogger(__name__)


def fetch(resolved: Resolved, dest: Path, repo: str, remote: str | None, via: str = "dvc", oms=None) -> None:
    """The one download step: `weightops.pull` of exactly the resolved version and bytes (verified
    while streaming, renamed into place only when whole; fsync'd, since a deploy host may lose power
    right after the swap), from the DVC remote or, with `via` "oci", from the project's OCI
    repository by the manifest digest git computes. Raises as `pull_detailed` (NotFoundError 3,
    IntegrityError 4, ...); the old file stays. `oms` (deploy/oms.py OmsOptions): the OMS
    signature check before the download (from the DVC remote, or attached in OCI)."""
    if via == "oci":
        from weightops.deploy.oci_pull import pull_via_oci

        pull_via_oci(resolved.version, dest, model=resolved.model, repo=repo, expect_sha256=resolved.sha256, fsync=True,
                     oms=oms)
        return
    from weightops.deploy.pull import pull_detailed

    pull_detailed(resolved.version, dest, model=resolved.model, repo=repo, remote=remote,
                  expect_sha256=resolved.sha256, fsync=True, oms=oms)


@dataclass(frozen=True)
class Poll:
    """The result of one poll: whether the registry listing changed, the outcome (deployed, failed,
    unassigned, or None when there was nothing to do), the version now live, and the error text of a
    failure."""
    changed: bool                       # the tag listing differed from the last successful poll
    outcome: str | None = None          # deployed, failed, unassigned, or None (nothing to do)
    version: str | None = None
    error: str | None = None


class Syncer:
    """Keeps the file `out` equal to `stage`'s current version of `repo` (a git URL or path) or,
    with `index`, of a published index URL. `match` picks a hardware variant; `deploy_log` defaults
    to OUT.deployments.jsonl; `on_change` is a command (split like a shell, never run by one) run
    after each swap. The constructor raises UsageError (2) for a bad stage name, `out` being a
    folder, or `match` with `index`. `via` "oci": the bytes come from the project's OCI repository
    (`oci.repository`), fetched by the manifest digest git computes."""
    def __init__(self, stage: str, *, repo: str, out: str | os.PathLike, model: str | None = None,
                 match: dict[str, str] | None = None, deploy_log: str | os.PathLike | None = None,
                 on_change: str | None = None, remote: str | None = None, index: str | None = None,
                 require_signed: bool = False, trust_policy: str | os.PathLike | None = None,
                 via: str = "dvc", oms=None) -> None:
        self.stage = validate_stage(stage)
        if via not in ("dvc", "oci") or (via == "oci" and index):
            raise UsageError("--via is 'dvc' or 'oci' (git decides, the bytes come from OCI), and not with --index")
        self.via = via
        from dataclasses import replace
        from weightops.deploy.oms import OmsOptions

        # OMS checks as for a pull of the stage: `oms` (OmsOptions) or trust.oms.require for it.
        self.oms = replace(oms or OmsOptions(), stage=self.stage)
        self.index = index
        if index and match:
            raise UsageError("--match and --index cannot be combined yet; follow one model's index")
        self.repo, self.model, self.match, self.remote = repo, model, dict(match or {}), remote
        self.out = Path(out).absolute()
        if self.out.is_dir():
            raise UsageError(f"-o {self.out} is a folder; give the path of the weights file to keep in sync")
        self.deploy_log = Path(deploy_log) if deploy_log else self.out.with_name(self.out.name + ".deployments.jsonl")
        self.on_change = shlex.split(on_change) if on_change else None
        self._seen: str | None = None
        self._last_failure: tuple | None = None
        self.last_error: Exception | None = None
        self.version, self.sha256 = self._live_from_log()
        self.follower = None
        # The index path has no git policy to read: the OMS keys are this host's own, from
        # --oms-trust-policy or else the --trust-policy file that vouches for the index.
        self.index_oms = replace(self.oms, trust_policy=self.oms.trust_policy or trust_policy)
        if index:
            from weightops.deploy.fleet import IndexFollower

            self.follower = IndexFollower(index, self.out.with_name(self.out.name + ".index-state.json"),
                                          require_signed=require_signed, trust_policy=trust_policy)

    def _live_from_log(self) -> tuple[str | None, str | None]:
        """What the log says is live here, trusted only if the file still has those bytes."""
        if not self.deploy_log.is_file() or not self.out.is_file():
            return None, None
        dep = deployments.live_at(deployments.read(self.deploy_log), path=str(self.out))
        if dep is None or dep.sha256 != sha256_file(self.out):
            return None, None
        return dep.version, dep.sha256

    def _resolve(self) -> Resolved | None:
        """The stage's current version in the registry; None when no model holds the stage."""
        from weightops.opening import open_project
        from weightops.registry.resolve import resolve

        project = open_project(self.repo)
        registry = project.registry()
        models = [project.model(self.model)] if self.model or not self.match else registry.models()
        if not any(registry.stage_event(m, self.stage) for m in models):
            check_stage(self.stage, project.config.stages, set().union(*(registry.stage_names(m) for m in models)))
            return None
        if self.match:
            from weightops.deploy.variants import resolve_variant

            return resolve_variant(project, registry, self.stage, self.match, models=models, remote=self.remote)
        return resolve(self.stage, model=models[0], project=project, registry=registry, remote=self.remote)

    def _record(self, outcome: str, r: Resolved | None, error: str | None = None,
                on_change: int | None = None, now: float | None = None) -> None:
        dep = deployments.record(stage=self.stage, model=r.model if r else self.model,
                                 version=r.version if r else None, sha256=r.sha256 if r else None,
                                 previous=self.version, path=str(self.out), outcome=outcome,
                                 error=error, on_change=on_change, now=now)
        deployments.append(self.deploy_log, dep)

    def poll(self) -> Poll:
        """One poll: list the registry (`git ls-remote`, or the index's conditional GET) and, when
        it changed, resolve the stage, pull, swap, run the hook and record the outcome in the deploy
        log. A failure to resolve or download is returned as a `failed` Poll (the old weights stay
        live). UsageError (2) for a stage the project does not have; UsageError (2) or NotFoundError
        (3) when the registry cannot be listed."""
        if self.follower is not None:
            return self._poll_index()
        _head, refs = git_remote.ls_remote(self.repo)
        fingerprint = hashlib.sha256(repr(sorted(refs.items())).encode()).hexdigest()
        if fingerprint == self._seen:
            return Poll(False)
        try:
            target = self._resolve()
        except UsageError:
            raise   # a stage the project does not have: no retry can fix it, nothing is recorded
        except (WeightopsError, OSError) as exc:
            return self._failed(None, exc)
        if target is None:
            # The stage was unassigned: keep serving what is live, and say so once.
            self._seen = fingerprint
            why = f"no version holds '{self.stage}'; {self.version or 'nothing'} stays live"
            if self.version is not None and self._last_failure != ("unassigned",):
                self._record("unassigned", None, error=why)
                self._last_failure = ("unassigned",)
            return Poll(True, "unassigned", self.version, why)
        if self._live(target):
            self._seen = fingerprint   # a tag for another stage or model: nothing to swap
            if target.version != self.version:
                self.version = target.version
            return Poll(True, None, self.version)
        try:
            fetch(target, self.out, self.repo, self.remote, self.via, self.oms)
        except (WeightopsError, OSError) as exc:  # a full disk must not stop the service either
            return self._failed(target, exc)
        swapped = time.time()   # the moment the new weights went live, whatever the hook takes
        if target.sha256 is None:
            # No card (a release from before weightops): pull checked DVC's md5; the log and the
            # hook name the live bytes by the sha256 of what was written.
            target = replace(target, sha256=sha256_file(self.out))
        code = self._run_on_change(target)
        self._record("deployed", target, on_change=code, now=swapped)
        log.info("%s: %s %s is live at %s (was %s)", self.stage, target.model, target.version, self.out, self.version)
        self.version, self.sha256 = target.version, target.sha256
        self._seen, self._last_failure = fingerprint, None
        return Poll(True, "deployed", target.version)

    def _live(self, target: Resolved) -> bool:
        """Whether `out` already holds `target`'s bytes: its sha256, or, for a version without a
        card, the same version whose file still has DVC's md5 and size."""
        if not self.out.is_file() or self.sha256 is None:
            return False
        if target.sha256 is not None:
            return target.sha256 == self.sha256
        if target.version != self.version or target.located is None:
            return False
        from weightops.model.card import check_pointer_against_file

        try:
            check_pointer_against_file(target.located.pointer, self.out, target.tag)
        except WeightopsError:
            return False
        return True

    def _poll_index(self) -> Poll:
        """One poll of the published index: a conditional GET; on a change, the same verified
        pull, atomic swap, hook and deploy-log record as the git path."""
        f = self.follower
        try:
            idx = f.check()
            if idx is None:
                return Poll(False)
            target = f.target(idx, self.stage)
        except (WeightopsError, OSError) as exc:
            return self._failed(None, exc)
        if target is None:
            f.applied(idx, self.stage, None)
            why = f"no version holds '{self.stage}'; {self.version or 'nothing'} stays live"
            if self.version is not None and self._last_failure != ("unassigned",):
                self._record("unassigned", None, error=why)
                self._last_failure = ("unassigned",)
            return Poll(True, "unassigned", self.version, why)
        if target.sha256 == self.sha256 and self.out.is_file():
            self.version = target.version
            f.applied(idx, self.stage, target)
            return Poll(True, None, self.version)
        try:
            from weightops.deploy.fleet import download
            from weightops.deploy.oms import check_index_entry

            check_index_entry(target, self.index, self.out, self.index_oms)   # before a byte is fetched
            download(target, self.out, fsync=True)
        except (WeightopsError, OSError) as exc:
            return self._failed(target, exc)
        swapped = time.time()
        code = self._run_on_change(target)
        self._record("deployed", target, on_change=code, now=swapped)
        log.info("%s: %s %s is live at %s (was %s)", self.stage, target.model, target.version, self.out, self.version)
        self.version, self.sha256 = target.version, target.sha256
        self._last_failure = None
        f.applied(idx, self.stage, target)
        return Poll(True, "deployed", target.version)

    def _failed(self, target: Resolved | None, exc: Exception) -> Poll:
        """Keep the old file, record the failure once per distinct error, retry next poll."""
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        key = (target.version if target else None, message)
        self.last_error = exc
        if key != self._last_failure:
            self._record("failed", target, error=message)
            self._last_failure = key
        log.warning("%s: sync failed, %s stays live: %s", self.stage, self.version or "nothing", message)
        return Poll(True, "failed", target.version if target else None, message)

    def _run_on_change(self, target: Resolved) -> int | None:
        if not self.on_change:
            return None
        env = dict(os.environ, WEIGHTOPS_STAGE=self.stage, WEIGHTOPS_MODEL=target.model,
                   WEIGHTOPS_VERSION=target.version, WEIGHTOPS_SHA256=target.sha256,
                   WEIGHTOPS_PATH=str(self.out), WEIGHTOPS_PREVIOUS=self.version or "")
        try:
            proc = subprocess.run(self.on_change, env=env, check=False)
        except OSError as exc:
            log.warning("--on-change %s could not run: %s", self.on_change[0], exc)
            return 127
        if proc.returncode != 0:
            log.warning("--on-change %s exited %d", self.on_change[0], proc.returncode)
        return proc.returncode

    def run(self, interval: float = 30.0, once: bool = False, stop: threading.Event | None = None) -> Poll:
        """Poll every `interval` seconds until `stop` is set (forever without one), backing off with
        jitter on index failures; with `once`, a single poll. Returns the last Poll. UsageError (2)
        for a non-positive interval or a stage the project does not have; with `once`, a failure
        raises its own error (NotFoundError 3 for an unreachable registry, IntegrityError 4 for a
        bad hash, ...) so a boot script sees its exit code."""
        if interval <= 0:
            raise UsageError(f"--interval must be positive, not {interval}")
        stop = stop or threading.Event()
        failures = 0
        while True:
            try:
                result = self.poll()
            except UsageError:
                raise
            except WeightopsError as exc:   # ls-remote failed: the registry is unreachable
                if once:
                    raise
                log.warning("%s: cannot reach %s, %s stays live: %s", self.stage, self.repo,
                            self.version or "nothing", exc)
                result = Poll(False, "failed", None, str(exc))
            if once:
                if result.outcome == "failed" and self.last_error is not None:
                    raise self.last_error   # its exit code (4 for a bad hash) tells the boot script why
                return result
            # An index host backs off on errors (a fleet must not hammer a failing bucket in step);
            # jitter spreads the retries out.
            failures = failures + 1 if result.outcome == "failed" and self.follower is not None else 0
            pause = min(interval * 2 ** failures, interval * 16) * random.uniform(0.5, 1.0) if failures else interval
            if stop.wait(pause):
                return result
