"""The registry report at scale: 1,000 versions and 5,000 stage assignments.

Builds a real git repository in bulk with ONE `git fast-import` (a commit per version with its
dvc.yaml, .dvc pointer and model card; an annotated tag per version and per assignment), then
times `weightops report` against the baseline `weightops list` (the same tag read, no cards,
no HTML), prints the page's size, and, when Chromium is installed, how long the browser takes
to load the page and run its script compared with a one-version page.

    python benchmarks/report_scale.py [--versions 1000] [--assignments 5000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = 1767225600  # 2026-01-01T00:00:00Z
STAGES = ("staging", "production", "shadow")
DVC_YAML = ("artifacts:\n  m:\n    path: models/m.bin\n    type: model\n"
            "    meta:\n      card: models/m.card.yaml\n")
CONFIG = "model: m\ntag_style: plain\nstages:\n  - staging\n  - production\n  - shadow\n"


def version_name(i: int) -> str:
    return f"v{1 + i // 100}.{(i // 10) % 10}.{i % 10}"


def _data(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return b"data %d\n" % len(raw) + raw + b"\n"


def build(root: Path, versions: int = 1000, assignments: int = 5000, seed: int = 1) -> dict:
    """A git repository with `versions` releases and `assignments` stage events, in one
    fast-import stream. Returns counts and the time span."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    step = 6 * 3600
    out = bytearray()
    commit_marks = []
    for i in range(versions):
        when = START + i * step
        sha = hashlib.sha256(f"weights {i}".encode()).hexdigest()
        md5 = hashlib.md5(f"weights {i}".encode()).hexdigest()
        size = 40_000_000 + i * 1000
        acc = round(0.80 + 0.15 * i / versions + rng.uniform(-0.01, 0.01), 4)
        card = (f"schema_version: 1\nmodel: m\nartifact:\n  path: models/m.bin\n  format: bin\n  size: {size}\n"
                f"  sha256: {sha}\n  md5: {md5}\nlineage:\n  commit: null\n  dirty: false\n"
                f"metrics:\n  accuracy: {acc}\n  loss: {round(1 - acc + rng.uniform(0, .05), 4)}\n"
                f"  latency_ms: {round(rng.uniform(8, 14), 2)}\nlabels:\n  sensor: v{1 + i // 400}\n")
        pointer = f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: m.bin\n"
        mark = i + 1
        commit_marks.append(mark)
        out += b"commit refs/heads/main\nmark :%d\n" % mark
        out += b"committer Bench <bench@example.com> %d +0000\n" % when
        out += _data(f"train {i}")
        if i:
            out += b"from :%d\n" % (mark - 1)
        else:
            out += b"M 100644 inline dvc.yaml\n" + _data(DVC_YAML)
            out += b"M 100644 inline weightops.yaml\n" + _data(CONFIG)
        out += b"M 100644 inline models/m.card.yaml\n" + _data(card)
        out += b"M 100644 inline models/m.bin.dvc\n" + _data(pointer)
        out += b"\n"

    def tag(name: str, mark: int, when: int, message: str) -> None:
        nonlocal out
        out += f"tag {name}\nfrom :{mark}\n".encode()
        out += b"tagger Bench <bench@example.com> %d +0000\n" % when
        out += _data(message)

    for i in range(versions):
        tag(version_name(i), commit_marks[i], START + i * step + 60, f"release {version_name(i)}\n\nversion: {version_name(i)}\n")
    # Assignments spread over the whole history, each of a version already released.
    span = versions * step
    holders: dict[str, int | None] = {s: None for s in STAGES}
    counter = 0
    for k in range(assignments):
        when = START + 120 + k * span // assignments
        newest = min((when - START) // step, versions - 1)
        stage = rng.choices(STAGES, weights=(5, 3, 2))[0]
        counter += 1
        if holders[stage] is not None and rng.random() < 0.05:
            held = holders[stage]
            tag(f"m#{stage}!#{counter}", commit_marks[held], when,
                f"weightops unassign\n\nversion: {version_name(held)}\naction: unassign\n")
            holders[stage] = None
            continue
        rollback = stage == "production" and holders[stage] is not None and rng.random() < 0.1
        i = max(0, newest - rng.randint(1, 5)) if rollback else max(0, newest - rng.randint(0, 3))
        holders[stage] = i
        action = "rollback" if rollback else "assign"
        tag(f"m#{stage}#{counter}", commit_marks[i], when,
            f"weightops {action}\n\nversion: {version_name(i)}\nstage: {stage}\naction: {action}\n")
    out += b"done\n"
    subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=root, input=bytes(out), check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=root, check=True)
    return {"versions": versions, "assignments": assignments, "now": START + span}


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def chromium_load(page: Path, tmp: Path) -> float | None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return None
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp / 'chromium-profile'}", "--dump-dom", page.as_uri()]
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - t
    if 'data-ready="1"' not in proc.stdout:
        print(f"  chromium did not finish the page's script: {proc.stderr[-300:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--assignments", type=int, default=5000)
    ap.add_argument("--keep", type=Path, help="keep the repository and pages in this folder")
    args = ap.parse_args()

    from weightops.api import list_versions
    from weightops.review.report import gather
    from weightops.review.report_html import render

    tmp = Path(args.keep or tempfile.mkdtemp(prefix="wo-report-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    repo = tmp / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    t = time.perf_counter()
    info = build(repo, args.versions, args.assignments)
    print(f"built {info['versions']} versions + {info['assignments']} assignment tags with git fast-import "
          f"in {time.perf_counter() - t:.2f}s")

    t_list, rows = timed(lambda: list_versions(repo))
    t_gather, data = timed(lambda: gather(repo, findings=[], now=info["now"]))
    t_render, page_text = timed(lambda: render(data))
    page = tmp / "registry.html"
    page.write_text(page_text)
    m = data.models[0]
    print(f"registry: {len(rows)} versions, {len(m.segments)} timeline segments, {len(m.marks)} stage marks")
    print(f"baseline  weightops list (tag read only)   {t_list * 1000:8.0f} ms   1.00x")
    print(f"report    gather (tags + cards, batched)   {t_gather * 1000:8.0f} ms   {t_gather / t_list:.2f}x")
    print(f"report    render HTML                      {t_render * 1000:8.0f} ms   {t_render / t_list:.2f}x")
    print(f"report    total                            {(t_gather + t_render) * 1000:8.0f} ms   "
          f"{(t_gather + t_render) / t_list:.2f}x")
    size = len(page_text.encode())
    print(f"page size {size / 1024:.0f} KiB ({size / max(len(rows), 1):.0f} bytes per version)")
    try:
        from weightops.review.audit import audit  # noqa: F401
    except ImportError:
        print("audit: not available in this checkout (timed without it)")
    else:
        t_audit, audited = timed(lambda: gather(repo, now=info["now"]), repeat=1)
        print(f"report    gather with the audit            {t_audit * 1000:8.0f} ms   {t_audit / t_list:.2f}x   "
              f"({len(audited.findings)} findings: the bench's cards are minimal and it has no DVC remote)")

    small_repo = tmp / "small"
    shutil.rmtree(small_repo, ignore_errors=True)
    small = build(small_repo, 1, 1)
    small_page = tmp / "small.html"
    small_page.write_text(render(gather(small_repo, findings=[], now=small["now"])))
    c_small = chromium_load(small_page, tmp)
    if c_small is None:
        print("chromium: not installed; browser load time not measured")
    else:
        c_big = chromium_load(page, tmp)
        print(f"chromium  load + script, 1-version page    {c_small * 1000:8.0f} ms   1.00x")
        print(f"chromium  load + script, this page         {c_big * 1000:8.0f} ms   {c_big / c_small:.2f}x")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept in {tmp}")


if __name__ == "__main__":
    main()
