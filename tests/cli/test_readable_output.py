"""What a person sees at a terminal: tables aligned for long model names and within 80
columns at COLUMNS=80, the tagger compact, a reason column, each summary and warning once."""

from __future__ import annotations

import json

import yaml

from helpers import T0, at


LONG_NAMES = ("nineteen-char-model", "a-model-name-of-thirty-one-chars")   # 19 and 32 characters


def _models_with_long_names(project) -> None:
    """Two more models with long names beside `clf`, each a file DVC tracks with its card,
    released (GTO's NAME@vX.Y.Z, as `tag_style: named` writes) and one promoted."""
    from weightops.api import make_card

    dvcyaml = yaml.safe_load((project.root / "dvc.yaml").read_text())
    for i, name in enumerate(LONG_NAMES):
        weights = project.root / "models" / f"{name}.bin"
        weights.write_bytes(bytes([i]) * 1000)
        project.dvc("add", "-q", str(weights.relative_to(project.root)))
        dvcyaml["artifacts"][name] = {"path": f"models/{name}.bin", "type": "model"}
        make_card(weights, project.root / "models" / f"{name}.card.yaml", model=name)
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(dvcyaml, sort_keys=False))
    project.git("add", "-A")
    project.git("commit", "-qm", "two models with long names")
    project.dvc("push", "-q")
    for i, name in enumerate(LONG_NAMES):
        said = project.wo("release", "v1.0.0", "--model", name, check=True,
                          env={"WEIGHTOPS_NOW": str(T0 + 10 + i), "COLUMNS": "80"}).stdout
        assert f"released {name} v1.0.0 as tag {name}@v1.0.0" in " ".join(said.split())
        assert all(len(line) <= 80 for line in said.splitlines()), said
    at(project, T0 + 20, "promote", "v1.0.0", "staging", "--model", LONG_NAMES[0],
       "--message", "canary clean for 48 h; p99 latency within budget on every region we serve")


def test_list_and_history_align_and_fit_80_columns(project):
    project.release("v1.0.0", at=T0)
    _models_with_long_names(project)
    narrow = {"COLUMNS": "80"}

    listed = project.wo("list", env=narrow, check=True).stdout.splitlines()
    assert all(len(line) <= 80 for line in listed), listed
    header, rows = listed[0], listed[1:]
    assert header.split()[:2] == ["MODEL", "VERSION"] and len(rows) == 3
    # Every row's version starts in the header's VERSION column, whatever the name's length.
    col = header.index("VERSION")
    assert {row[col:].split()[0] for row in rows} == {"v1.0.0"}
    assert {row[:col].strip() for row in rows} == {"clf", *LONG_NAMES}
    assert "staging" in next(r for r in rows if r.startswith(LONG_NAMES[0] + " "))
    # A wide terminal shows every column, still aligned.
    wide = project.wo("list", env={"COLUMNS": "200"}, check=True).stdout.splitlines()
    assert wide[0].split() == ["MODEL", "VERSION", "COMMIT", "CREATED", "(UTC)", "STAGES", "TAG"]
    tag_col = wide[0].rindex("TAG")
    assert {r[tag_col:].split()[0] for r in wide[1:]} == {"v1.0.0", *(f"{n}@v1.0.0" for n in LONG_NAMES)}

    shown = project.wo("history", "--model", LONG_NAMES[0], env=narrow, check=True).stdout.splitlines()
    assert all(len(line) <= 80 for line in shown), shown
    assert shown[0].split()[:3] == ["TIME", "(UTC)", "ACTION"] and "REASON" in shown[0]
    assert "engineer@example.com" not in "\n".join(shown) and "<" not in "\n".join(shown)
    promoted = shown[-1]
    assert "Test Engineer" in promoted and "staging" in promoted
    assert promoted[shown[0].index("REASON"):].startswith("canary")
    assert promoted.endswith("…")                       # cut to the terminal, not wrapped
    wide = project.wo("history", "--model", LONG_NAMES[0], env={"COLUMNS": "250"}, check=True).stdout
    assert "canary clean for 48 h; p99 latency within budget on every region we serve" in wide
    assert f"{LONG_NAMES[0]}#staging#1" in wide
    # --json keeps every field: the full tagger, its two parts as GTO's history names them
    (event,) = [e for e in project.wo_json("history", "--model", LONG_NAMES[0])["events"] if e["stage"]]
    assert event["tagger"] == "Test Engineer <engineer@example.com>"
    assert (event["author"], event["author_email"]) == ("Test Engineer", "engineer@example.com")


def test_history_reason_is_the_message_gto_records(project):
    """A tag `gto assign --message` writes: its message is the reason, as GTO keeps it."""
    from gto.api import assign

    project.release("v1.0.0", at=T0)
    project.git("tag", "-a", "clf@v1.0.0", "-m", "Registering artifact clf version v1.0.0", "v1.0.0^{commit}",
                env={"GIT_COMMITTER_DATE": f"@{T0 + 1} +0000"})
    assign(str(project.root), "clf", "staging", version="v1.0.0", message="smoke tests passed")
    (row,) = [e for e in project.wo_json("history")["events"] if e["stage"] == "staging"]
    assert row["reason"] == "smoke tests passed"
    assert "smoke tests passed" in project.wo("history", "staging", check=True).stdout


def test_audit_says_its_summary_once_and_json_ends_with_a_newline(project):
    project.release("v1.0.0", at=T0)
    clean = project.wo("audit", check=True)
    assert (clean.stdout + clean.stderr).count("audit ok") == 1
    as_json = project.wo("audit", "--json", check=True)
    assert as_json.stdout.endswith("}\n") and json.loads(as_json.stdout)["ok"] is True
    # a finding: the object is gone from the remote; the summary is the one error line
    for obj in project.remote.rglob("*"):
        if obj.is_file():
            obj.chmod(0o644)
            obj.unlink()
    broken = project.wo("audit", env={"COLUMNS": "80"})
    assert broken.returncode == 4
    assert (broken.stdout + broken.stderr).count("audit found") == 1
    assert broken.stderr.startswith("error: audit found 1 problem")
    assert all(len(line) <= 80 or " " not in line.strip() for line in broken.stdout.splitlines()), broken.stdout
    broken_json = project.wo("audit", "--json")
    assert broken_json.returncode == 4 and broken_json.stdout.endswith("}\n")
    assert json.loads(broken_json.stdout)["ok"] is False
