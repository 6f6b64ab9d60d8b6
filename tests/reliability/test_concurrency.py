"""Twenty concurrent promotions from separate clones against one bare remote."""

import os
import subprocess
import sys
from collections import Counter

from helpers import ROOT, Project
from weightops.registry.tags import parse_tag

T0 = 1_767_225_600


def test_twenty_concurrent_promotes(project, tmp_path):
    # an absolute DVC remote, so every clone reaches the objects promote checks for
    project.dvc("remote", "modify", "storage", "url", str(project.remote))
    project.git("commit", "-qam", "absolute remote")
    project.release("v1.0.0", at=T0)
    project.train(epochs=40)
    project.release("v1.1.0", at=T0 + 10)
    bare = tmp_path / "shared.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(bare)], check=True)
    jobs = []
    for i in range(20):
        dest = tmp_path / f"clone{i}"
        subprocess.run(["git", "clone", "-q", str(bare), str(dest)], check=True)
        version = ("v1.0.0", "v1.1.0")[i % 2]
        stage = ("staging", "production", "shadow")[i % 3]
        jobs.append((dest, version, stage))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [(job, subprocess.Popen([sys.executable, "-m", "weightops", "promote", job[1], job[2], "--push"],
                                    cwd=job[0], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
             for job in jobs]
    results = [(job, p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for job, p in procs]
    winners = [r for r in results if r[1] == 0]
    losers = [r for r in results if r[1] != 0]
    assert winners, "at least one promotion must succeed"
    for _, code, _, err in losers:
        lines = [l for l in err.splitlines() if l.strip()]
        assert code == 5 and len(lines) == 1 and "Traceback" not in err, err
    remote_tags = subprocess.run(["git", "tag", "-l", "clf#*"], cwd=bare, capture_output=True, text=True).stdout.split()
    counters = Counter(parse_tag(t).counter for t in remote_tags)
    assert all(n == 1 for n in counters.values()), f"a counter was used twice: {counters}"
    won_tags = [out.split("tag ")[1].split()[0] for _, _, out, _ in winners]
    # Two clones asking for the same assignment in the same second write byte-identical tag
    # objects; both see it land, and the registry holds it once.
    assert sorted(set(won_tags)) == sorted(remote_tags), "every success is in the registry exactly once"
    # Every clone agrees afterwards, and with what the newest assignment per stage says.
    checker = Project(tmp_path / "checker", bare)
    subprocess.run(["git", "clone", "-q", str(bare), str(checker.root)], check=True)
    for stage in {t.split("#")[1] for t in remote_tags}:
        newest = max((t for t in remote_tags if t.split("#")[1] == stage), key=lambda t: parse_tag(t).counter)
        expected = subprocess.run(["git", "tag", "-l", "--format=%(contents)", newest], cwd=bare,
                                  capture_output=True, text=True).stdout
        assert f"version: {checker.wo_json('resolve', stage)['version']}" in expected
