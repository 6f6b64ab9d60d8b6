"""Registry reads at scale: weightops vs GTO and dvc.api, as whole processes.

Builds a real project (weightops init + dvc repro), then adds, in bulk with `git fast-import`,
1,000 versions (each its own commit and annotated tag NAME@vX.Y.Z) and 3,000 stage assignments
(NAME#STAGE#N), and times:

    weightops resolve production / history production / list      (median of 5)
    the imports of `python -X importtime -m weightops resolve production` (median of 5)
    gto show NAME#production --ref                                  (baseline, one run)
    python -c "import dvc.api; dvc.api.artifacts_show(...)"        (baseline, median of 3)

then the adopted round: the same GTO registry (tags in gto's own format, checked against tags a
real `gto register` / `gto assign` wrote) over a `dvc add` project twice, once without model cards
(releases from before weightops) and once with, timing resolve prod, list and audit on each (median
of 5) and gto show on the cardless one; then the weightops commands again at 50,000 tags. Prints
medians and ratios. weightops'
bytecode is compiled first, as installing a package compiles it.

    python benchmarks/registry_scale.py [--versions 1000] [--assignments 3000] [--big 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "clf"
STAGES = ("staging", "production", "shadow")
T0 = 1_700_000_000


def sh(args, cwd, **kw):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, **kw)


def make_project(base: Path, env: dict) -> Path:
    root = base / "project"
    sh([sys.executable, "-m", "weightops", "init", str(root), "--model", MODEL, "--remote", str(base / "remote")], base, env=env)
    cfg = root / "weightops.yaml"
    cfg.write_text(cfg.read_text().replace("tag_style: plain", "tag_style: named"))
    sh([sys.executable, "-m", "dvc", "repro", "-q"], root, env=env)
    sh(["git", "add", "-A"], root, env=env)
    sh(["git", "commit", "-qm", "train"], root, env=env)
    sh([sys.executable, "-m", "dvc", "push", "-q"], root, env=env)
    return root


def bulk_tags(root: Path, versions: int, assignments: int, env: dict, first_counter: int = 1,
              t_start: int = T0, version_offset: int = 0) -> None:
    """One commit per version plus annotated tags, streamed into one `git fast-import`."""
    sha = "0" * 64
    lines: list[bytes] = []

    def data(text: str) -> None:
        raw = text.encode()
        lines.append(f"data {len(raw)}\n".encode() + raw + b"\n")

    t = t_start
    for i in range(versions):
        n = i + version_offset
        version = f"v{1 + n // 10000}.{(n // 100) % 100}.{n % 100}"
        lines.append(f"commit refs/heads/main\nmark :{i + 1}\ncommitter Bench <bench@example.com> {t} +0000\n".encode())
        data(f"bench {version}")
        if i == 0:
            lines.append(b"from refs/heads/main^0\n")
        lines.append(b"M 100644 inline bench.txt\n")
        data(version)
        lines.append(f"tag {MODEL}@{version}\nfrom :{i + 1}\ntagger Bench <bench@example.com> {t} +0000\n".encode())
        data(f"weightops release {MODEL} {version}\n\nversion: {version}\nsha256: {sha}\n")
        t += 1
    counter = first_counter
    for j in range(assignments):
        i = (j * 7919) % versions
        n = i + version_offset
        version = f"v{1 + n // 10000}.{(n // 100) % 100}.{n % 100}"
        stage = STAGES[j % len(STAGES)]
        lines.append(f"tag {MODEL}#{stage}#{counter}\nfrom :{i + 1}\ntagger Bench <bench@example.com> {t} +0000\n".encode())
        data(f"weightops assign {MODEL} {version} to {stage}\n\nversion: {version}\nsha256: {sha}\naction: assign\n")
        counter += 1
        t += 1
    subprocess.run(["git", "fast-import", "--quiet", "--force"], cwd=root, input=b"".join(lines), check=True, env=env)
    sh(["git", "reset", "-q", "--hard", "main"], root, env=env)
    sh(["git", "pack-refs", "--all"], root, env=env)  # as a clone or `git gc` leaves them


# GTO's own tag messages (gto/tag.py), written without a trailing newline as `gto` writes them;
# `gto_format_check` compares them with tags a real `gto register` / `gto assign` wrote.
def gto_register_message(version: str) -> str:
    return f"Registering artifact {MODEL} version {version}"


def gto_assign_message(stage: str, version: str) -> str:
    return f"Assigning stage {stage} to artifact {MODEL} version {version}"


GTO_STAGES = ("dev", "stage", "prod")


def make_adopted(base: Path, name: str, env: dict, carded: bool) -> Path:
    """A DVC project as teams have it before weightops: `dvc add`ed weights (a pickle), an
    `artifacts:` entry, a DVC remote; with `carded`, the same plus a model card committed beside
    the weights (the carded baseline of the adopted round)."""
    root = base / name
    root.mkdir()
    sh(["git", "init", "-q", "-b", "main"], root, env=env)
    sh([sys.executable, "-m", "dvc", "init", "-q"], root, env=env)
    sh([sys.executable, "-m", "dvc", "remote", "add", "-d", "storage", str(base / f"{name}-remote")], root, env=env)
    (root / "models").mkdir()
    (root / "models" / "model.pkl").write_bytes(b"\x80\x04adopted model" * 4096)
    sh([sys.executable, "-m", "dvc", "add", "-q", "models/model.pkl"], root, env=env)
    (root / "dvc.yaml").write_text(f"artifacts:\n  {MODEL}:\n    path: models/model.pkl\n    type: model\n")
    if carded:
        sh([sys.executable, "-m", "weightops", "card", "models/model.pkl", "-o", "models/model.card.yaml",
            "--model", MODEL], root, env=env)
    sh(["git", "add", "-A"], root, env=env)
    sh(["git", "commit", "-qm", "model"], root, env=env)
    sh([sys.executable, "-m", "dvc", "push", "-q"], root, env=env)
    return root


def bulk_gto_tags(root: Path, versions: int, assignments: int, env: dict) -> None:
    """As `bulk_tags`, with the messages `gto register` and `gto assign` write and GTO's stage names."""
    lines: list[bytes] = []

    def data(text: str) -> None:
        raw = text.encode()
        lines.append(f"data {len(raw)}\n".encode() + raw + b"\n")   # the LF after the data is fast-import's, not the message's

    t = T0
    names = []
    for i in range(versions):
        version = f"v{1 + i // 10000}.{(i // 100) % 100}.{i % 100}"
        names.append(version)
        lines.append(f"commit refs/heads/main\nmark :{i + 1}\ncommitter Bench <bench@example.com> {t} +0000\n".encode())
        data(f"bench {version}")
        if i == 0:
            lines.append(b"from refs/heads/main^0\n")
        lines.append(b"M 100644 inline bench.txt\n")
        data(version)
        lines.append(f"tag {MODEL}@{version}\nfrom :{i + 1}\ntagger Bench <bench@example.com> {t} +0000\n".encode())
        data(gto_register_message(version))
        t += 1
    for j in range(assignments):
        i = (j * 7919) % versions
        stage = GTO_STAGES[j % len(GTO_STAGES)]
        lines.append(f"tag {MODEL}#{stage}#{j + 1}\nfrom :{i + 1}\ntagger Bench <bench@example.com> {t} +0000\n".encode())
        data(gto_assign_message(stage, names[i]))
        t += 1
    subprocess.run(["git", "fast-import", "--quiet", "--force"], cwd=root, input=b"".join(lines), check=True, env=env)
    sh(["git", "reset", "-q", "--hard", "main"], root, env=env)
    sh(["git", "pack-refs", "--all"], root, env=env)


def gto_format_check(base: Path, env: dict) -> None:
    """Tags written by the real `gto register` and `gto assign` have the shape `bulk_gto_tags`
    writes: annotated, on the commit, with exactly these messages. Exits when they differ."""
    root = base / "gto-format"
    root.mkdir()
    sh(["git", "init", "-q", "-b", "main"], root, env=env)
    (root / "dvc.yaml").write_text(f"artifacts:\n  {MODEL}:\n    path: m.pkl\n    type: model\n")
    sh(["git", "add", "-A"], root, env=env)
    sh(["git", "commit", "-qm", "x"], root, env=env)
    sh(["gto", "register", MODEL, "HEAD", "--version", "v1.0.0"], root, env=env)
    sh(["gto", "assign", MODEL, "--version", "v1.0.0", "--stage", "prod"], root, env=env)
    for tag, message in ((f"{MODEL}@v1.0.0", gto_register_message("v1.0.0")),
                         (f"{MODEL}#prod#1", gto_assign_message("prod", "v1.0.0"))):
        raw = sh(["git", "cat-file", "tag", tag], root, env=env).stdout
        head, _, body = raw.partition("\n\n")
        keys = [line.split(" ", 1)[0] for line in head.splitlines()]
        if keys != ["object", "type", "tag", "tagger"] or f"\ntag {tag}\n" not in raw or body != message:
            raise SystemExit(f"gto wrote {tag} as {raw!r}; the benchmark's tags would not match it")


def adopted_round(base: Path, env: dict, weightops: list[str], versions: int, assignments: int,
                  skip_gto: bool) -> None:
    """The same GTO registry twice (versions without a card, and with one), and gto show on the
    cardless one: resolve, list and audit as ratios, in one run."""
    gto_format_check(base, env)
    roots = {"cardless": make_adopted(base, "adopted", env, carded=False),
             "carded": make_adopted(base, "carded", env, carded=True)}
    for root in roots.values():
        bulk_gto_tags(root, versions, assignments, env)
    answer = json.loads(sh(weightops + ["resolve", "prod", "--json"], roots["cardless"], env=env).stdout)
    assert answer["verified_by"] == "dvc-md5", answer
    assert json.loads(sh(weightops + ["resolve", "prod", "--json"], roots["carded"], env=env).stdout)["verified_by"] == "sha256"
    print(f"adopted: a GTO registry of {versions} versions and {assignments} assignments (gto's tag format, "
          "checked against real gto tags), without cards and with", flush=True)
    results = {}
    for name, cmd in (("resolve prod", ["resolve", "prod", "--json"]), ("list", ["list", "--json"]),
                      ("audit", ["audit", "--offline", "--json"])):
        for kind, root in roots.items():
            results[(name, kind)] = timed(weightops + cmd, root, env, 5)
        cardless, carded = results[(name, "cardless")], results[(name, "carded")]
        print(f"  weightops {name:<14} cardless {cardless:7.3f} s  carded {carded:7.3f} s   "
              f"{cardless / carded:5.2f}x carded", flush=True)
    if not skip_gto:   # GTO takes minutes here: one run each, after weightops' figures are out
        for name, cmd, ours in (("gto show clf#prod --ref", ["gto", "show", f"{MODEL}#prod", "--ref"], ["resolve prod"]),
                                ("gto show --json", ["gto", "show", "--json"], ["list", "audit"])):
            value = timed(cmd, roots["cardless"], env, 1)
            ratios = ", ".join(f"{name_} cardless {results[(name_, 'cardless')] / value:.4f}x" for name_ in ours)
            print(f"  {name:<24} {value:8.3f} s   weightops {ratios} of it", flush=True)


def timed(args, cwd, env, runs) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {proc.stderr[-500:]}")
    return statistics.median(times)


def import_profile(cmd: list[str], cwd: Path, env: dict, runs: int = 5) -> tuple[float, float, list[str]]:
    """`python -X importtime CMD`: (median seconds of all imports, median seconds of weightops'
    own package, heavy libraries loaded) for the CLI's resolve path."""
    totals, ours, heavy = [], [], set()
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-X", "importtime", *cmd], cwd=cwd, env=env, capture_output=True, text=True)
        total = mine = 0
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, name = line.split("|")
            if not name.startswith("  "):          # top level: its cumulative time includes the rest
                total += int(cumulative)
                if name.strip().startswith("weightops"):   # weightops' modules with what they load
                    mine += int(cumulative)
            if name.strip().split(".")[0] in ("dvc", "jsonschema", "boto3", "botocore", "rich"):
                heavy.add(name.strip().split(".")[0])
        totals.append(total / 1e6)
        ours.append(mine / 1e6)
    return statistics.median(totals), statistics.median(ours), sorted(heavy)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--assignments", type=int, default=3000)
    ap.add_argument("--big", type=int, default=50000, help="total tags for the second round (0 to skip)")
    ap.add_argument("--skip-gto", action="store_true")
    ap.add_argument("--skip-adopted", action="store_true", help="skip the adopted round (a GTO registry without cards)")
    ap.add_argument("--adopted-only", action="store_true", help="run only the adopted round")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="weightops-bench-"))
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GTO_NO_ANALYTICS="1", GIT_AUTHOR_NAME="Bench",
               GIT_AUTHOR_EMAIL="bench@example.com", GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    weightops = [str(Path(sys.executable).with_name("weightops"))]
    if not Path(weightops[0]).exists():
        weightops = [sys.executable, "-m", "weightops"]
    # Bytecode as an installed package has it (pip compiles it; DVC's came with its install):
    # a checkout run under PYTHONDONTWRITEBYTECODE would otherwise compile every module each run.
    sh([sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parent.parent / "weightops")], base, env=env)
    try:
        if args.adopted_only:
            adopted_round(base, env, weightops, args.versions, args.assignments, args.skip_gto)
            return
        root = make_project(base, env)
        bulk_tags(root, args.versions, args.assignments, env)
        ntags = len(sh(["git", "tag", "-l"], root, env=env).stdout.split())
        print(f"repo: {ntags} tags ({args.versions} versions, {args.assignments} assignments)")
        results = {}
        results["git for-each-ref refs/tags"] = timed(["git", "for-each-ref", "refs/tags"], root, env, 5)
        for name, cmd in (("resolve production", ["resolve", "production", "--json"]),
                          ("history production", ["history", "production", "--json"]),
                          ("list", ["list", "--json"])):
            results[f"weightops {name}"] = timed(weightops + cmd, root, env, 5)
        results["dvc.api.artifacts_show"] = timed(
            [sys.executable, "-c", f"import dvc.api; dvc.api.artifacts_show('{MODEL}', stage='production')"], root, env, 3)
        if not args.skip_gto:
            results["gto show NAME#production --ref"] = timed(["gto", "show", f"{MODEL}#production", "--ref"], root, env, 1)
        ours = results["weightops resolve production"]
        for name, value in results.items():
            print(f"  {name:<34} {value:8.3f} s   {value / ours:8.1f}x weightops resolve")
        total, mine, heavy = import_profile(["-m", "weightops", "resolve", "production", "--json"], root, env)
        print(f"  imports on the CLI resolve path     {total:8.3f} s   ({mine:.3f} s of it weightops' modules and what they load; "
              f"heavy libraries loaded: {', '.join(heavy) or 'none'})")
        if not args.skip_adopted:
            adopted_round(base, env, weightops, args.versions, args.assignments, args.skip_gto)
        if args.big and args.big > ntags:
            extra = args.big - ntags
            more_versions = extra // 4
            bulk_tags(root, more_versions, extra - more_versions, env, first_counter=args.assignments + 1,
                      t_start=T0 + ntags + 10, version_offset=args.versions)
            ntags = len(sh(["git", "tag", "-l"], root, env=env).stdout.split())
            print(f"repo: {ntags} tags")
            for name, cmd in (("resolve production", ["resolve", "production", "--json"]),
                              ("history production", ["history", "production", "--json"]),
                              ("list", ["list", "--json"])):
                value = timed(weightops + cmd, root, env, 5)
                print(f"  weightops {name:<24} {value:8.3f} s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
