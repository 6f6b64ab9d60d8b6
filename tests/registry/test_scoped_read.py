"""`resolve STAGE` reads only that stage's tags (and no messages unless needed); it must give
the same answer as the full registry read."""

import random

from weightops.project import Project


def test_scoped_read_agrees_with_full_read(project):
    project.release("v1.0.0", at=1_767_225_600)
    # two versions on one commit (GTO forbids it; someone did it by hand), both before any stage tag
    project.git("tag", "-a", "v1.0.1", "-m", "same commit, second version", env={"GIT_COMMITTER_DATE": "@1767225601 +0000"})
    project.train(epochs=40)
    project.release("v1.1.0", at=1_767_225_700)
    rng = random.Random(7)
    t = 1_767_226_000
    counter = 0
    for _ in range(40):
        counter += 1
        t += rng.choice([0, 1, 5])
        stage = rng.choice(["production", "staging"])
        version = rng.choice(["v1.0.0", "v1.0.1", "v1.1.0"])
        bang = "!" if rng.random() < 0.2 else ""
        env = {"GIT_COMMITTER_DATE": f"@{t} +0000"}
        project.git("tag", "-a", f"clf#{stage}{bang}#{counter}", "-m", f"assign\n\nversion: {version}\n",
                    f"{version}^{{commit}}", env=env)
        p = Project(project.root)
        full = p.registry()
        for s in ("production", "staging"):
            scoped = p.registry("clf", s)
            a, b = full.stage_event("clf", s), scoped.stage_event("clf", s)
            assert (a and (a.tag, a.version)) == (b and (b.tag, b.version)), (s, counter)
    # the message decides between the two versions on one commit, in both reads
    assert any(e.version == "v1.0.0" for e in full.events("clf") if e.stage) and \
        any(e.version == "v1.0.1" for e in full.events("clf") if e.stage)
