"""A real registry to report on: two models, promotions, a rollback, an unassignment."""

from __future__ import annotations

import datetime as dt
import json

from helpers import Project


def ts(day: str) -> int:
    """'2026-03-01' or '2026-03-01T12:00' (UTC) -> Unix seconds."""
    text = day if "T" in day else day + "T09:00"
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp())


NOW = ts("2026-03-20T12:00")


def wo_at(p: Project, when: str, *args: str) -> None:
    p.wo(*args, check=True, env={"WEIGHTOPS_NOW": str(ts(when))})


def build_registry(p: Project) -> None:
    """clf: v1.0.0 -> v1.1.0 -> v1.2.0 through staging and production; production rolled back
    from v1.2.0 to v1.1.0 on Mar 8; v1.2.0 shadowed from Mar 3 and unassigned on Mar 12.
    sub:other (declared in sub/dvc.yaml): v1.0.0, in staging."""
    p.release("v1.0.0", push=True, at=ts("2026-02-02"))
    wo_at(p, "2026-02-03", "promote", "v1.0.0", "staging")
    wo_at(p, "2026-02-05", "promote", "v1.0.0", "production")

    # The second model, the way a user adds one: dvc add, a card, a nested dvc.yaml artifact.
    sub = p.root / "sub"
    sub.mkdir()
    (sub / "other.bin").write_bytes(bytes(range(256)) * 64)
    (sub / "metrics.json").write_text(json.dumps({"f1": 0.81, "latency_ms": 12.5}))
    (sub / "dvc.yaml").write_text("artifacts:\n  other:\n    path: other.bin\n    type: model\n"
                                  "    meta:\n      card: other.card.yaml\n")
    p.dvc("add", "-q", "sub/other.bin")
    p.wo("card", "sub/other.bin", "-o", "sub/other.card.yaml", "--model", "sub:other",
         "--metrics", "sub/metrics.json", "--label", "team=vision", check=True)
    p.git("add", "-A")
    p.git("commit", "-qm", "add model sub:other")
    p.dvc("push", "-q")
    p.git("tag", "-a", "sub=other@v1.0.0", "-m", "release sub:other v1.0.0",
          env={"GIT_COMMITTER_DATE": f"@{ts('2026-02-10')} +0000"})
    wo_at(p, "2026-02-11", "promote", "v1.0.0", "staging", "--model", "sub:other")

    p.train("retrain with lr 0.3", lr=0.3)
    p.release("v1.1.0", push=True, at=ts("2026-02-14"))
    wo_at(p, "2026-02-15", "promote", "v1.1.0", "staging")
    wo_at(p, "2026-02-20", "promote", "v1.1.0", "production")

    # v1.2.0 carries a label in its card (the card stage passes --label).
    dvcyaml = p.root / "dvc.yaml"
    dvcyaml.write_text(dvcyaml.read_text().replace("--metrics metrics.json\n    deps:\n      - models/clf.safetensors",
                                                   "--metrics metrics.json --label sensor=v2\n    deps:\n      - models/clf.safetensors"))
    p.train("retrain with more epochs", lr=0.9, epochs=400)
    p.release("v1.2.0", push=True, at=ts("2026-03-02"))
    wo_at(p, "2026-03-03", "promote", "v1.2.0", "staging")
    wo_at(p, "2026-03-03T15:00", "promote", "v1.2.0", "shadow")
    wo_at(p, "2026-03-06", "promote", "v1.2.0", "production")
    wo_at(p, "2026-03-08", "rollback", "production", "--message", "p99 latency regression")
    wo_at(p, "2026-03-12", "demote", "shadow")
