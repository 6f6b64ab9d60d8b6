"""Malformed, hostile or oversized DVC files, cards, configs and tag messages: always a one-line
error and a non-zero exit, never a traceback, never unbounded memory."""

import subprocess
import sys

import pytest

from helpers import ROOT

BOMB = "a: &a ['x','x','x','x','x','x','x','x','x','x']\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
    for i in range(9))

CASES = {
    "dvc.lock": ["stages: [unclosed", "stages: 7", "stages:\n  train:\n    outs: 'nope'\n",
                 "stages:\n  train:\n    outs:\n    - path: models/clf.safetensors\n      md5: 12\n", BOMB,
                 "schema: '2.0'\nstages:\n  train:\n    outs:\n    - path: ../../../etc/passwd\n      md5: d41d8cd98f00b204e9800998ecf8427e\n",
                 "\x00\x01binary"],
    "models/clf.card.yaml": ["{", "- a list\n", "artifact: 5\n", "artifact:\n  sha256: [1, 2]\n", BOMB,
                             "model: clf\nartifact: {sha256: " + "f" * 64 + ", md5: 0}\n"],
    "dvc.yaml": ["artifacts: [", "artifacts: 5", "artifacts:\n  clf: {}\n", "artifacts:\n  clf:\n    path: /etc/passwd\n",
                 "artifacts:\n  clf:\n    path: ../outside.bin\n", "artifacts:\n  'bad name!':\n    path: x\n", BOMB],
    "weightops.yaml": ["stages: {", "stages: [Production]", "tag_style: fancy", "model: 'x y'", BOMB],
    ".dvc/config": ["[core\nremote = x", "[core]\n    remote = missing\n"],
}


@pytest.mark.parametrize("path,content", [(p, c) for p, cs in CASES.items() for c in cs],
                         ids=[f"{p}-{i}" for p, cs in CASES.items() for i, _ in enumerate(cs)])
def test_hostile_file_gives_one_line_error(project, path, content):
    (project.root / path).write_text(content)
    project.git("add", "-A")
    project.git("commit", "-qm", f"hostile {path}")
    project.git("tag", "v6.6.6")
    proc = project.wo("resolve", "v6.6.6")
    assert proc.returncode in (1, 2, 3, 4), (proc.returncode, proc.stdout, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr and "unexpected" not in lines[0], proc.stderr


def test_alias_bomb_is_refused_in_bounded_memory(tmp_path):
    """A billion-laughs document is refused, and parsing it costs no more memory than parsing
    a one-line document (measured in the same way, in a fresh process)."""
    code = ("import resource, sys\nfrom weightops.core.yamlio import safe_load, YamlError\n"
            "try:\n    safe_load(open(sys.argv[1]).read(), 'doc')\nexcept YamlError as e:\n    print('refused:', e)\n"
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))")

    def peak_kib(text):
        doc = tmp_path / "doc.yaml"
        doc.write_text(text)
        proc = subprocess.run([sys.executable, "-c", code, str(doc)], capture_output=True, text=True,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
        return proc.stdout, int(proc.stdout.split()[-1])

    out, bomb = peak_kib(BOMB)
    assert "refused: doc expands to more than" in out
    _, baseline = peak_kib("a: 1\n")
    assert bomb < baseline + 50 * 1024, f"{bomb} KiB vs {baseline} KiB for a one-line document"


def test_hostile_tag_messages_are_data_not_structure(project):
    """A tag message can say anything; only its own `version:` line is read, and a forged one
    naming a version that does not exist falls back to the version on the commit."""
    project.release("v1.0.0")
    message = "weightops assign\n\nversion: v9.9.9\nsha256: " + "0" * 64 + "\n" + "x: " + "y" * 100000 + "\n\x1f\x1e"
    project.git("tag", "-a", "clf#production#1", "-m", message, "v1.0.0")
    out = project.wo_json("resolve", "production")
    assert out["version"] == "v1.0.0" and out["stage"] == "production"
