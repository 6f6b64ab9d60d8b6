"""OpenSSF Model Signing: signing from recorded digests, and the cost of verifying on pull.

Builds a real git + DVC project with a local DVC remote holding two released versions:
`big` (one 1 GiB file) and `ten` (a folder of 10 files, 2 GiB in all), random bytes, cards
written by `weightops card` (which records each file's SHA-256, as training does). Then times,
as whole processes, median of --runs:

    weightops sign vX --model M --oms-key K       (the manifest from the card's digests)
    model_signing sign key DIR --private_key K    (the reference: hashes every byte of the same
                                                   files, laid out as `pull -o DIR/` writes them)
    weightops pull vX -o DIR/                     (size + sha256 while streaming, atomic)
    weightops pull vX -o DIR/ --require-oms       (the same, plus the OMS signature verified)

Signing is timed twice: in one process with the libraries already imported (the signing itself:
`weightops.registry.oms_sign.sign` against `model_signing.signing.Config().sign`), and as whole
commands (wall and CPU seconds, which include each program's start-up). Pulls are timed as whole
commands (wall, and CPU seconds of the process: on a shared machine CPU is the steadier figure).
Prints the times and the ratios (model_signing / weightops sign; pull --require-oms / pull).
Goals: signing time that does not grow with the model's size, >= 50x faster at 1 GiB; verified
pull <= 1.05x plain pull.

    python benchmarks/oms.py [--runs 3] [--mib 1024]

Not part of the test suite (it writes several GiB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MiB = 1024 * 1024


def sh(args, cwd, env) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed: {proc.stdout}\n{proc.stderr}")
    return proc


def timed(args, cwd, env, runs: int, before=None) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system, from wait4) of a command."""
    walls, cpus = [], []
    for _ in range(runs):
        if before:
            before()
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(a) for a in args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(map(str, args))} failed: {proc.stderr.read().decode()[-2000:]}")
        proc.stderr.close()
        cpus.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def in_process(fn, runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process, every thread) of `fn()`, after
    one warm-up call (imports and caches loaded). Child processes (git) count in wall time only."""
    fn()
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MiB)
            f.write(os.urandom(n))
            left -= n


def make_project(base: Path, mib: int, env: dict) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    repo = base / "repo"
    repo.mkdir()
    sh(["git", "init", "-q", "-b", "main"], repo, env)
    sh([sys.executable, "-m", "dvc", "init", "-q"], repo, env)
    sh([sys.executable, "-m", "dvc", "remote", "add", "-d", "storage", str(base / "remote")], repo, env)
    (repo / "dvc.yaml").write_text("artifacts:\n  big:\n    path: models/big.bin\n    type: model\n"
                                   "  ten:\n    path: models/ten\n    type: model\n")
    (repo / "weightops.yaml").write_text("model: big\ntag_style: named\n")
    write_random(repo / "models" / "big.bin", mib * MiB)
    for i in range(10):
        write_random(repo / "models" / "ten" / f"part-{i:02d}.bin", 2 * mib * MiB // 10)
    sh([sys.executable, "-m", "dvc", "add", "-q", "models/big.bin", "models/ten"], repo, env)
    for name, path in (("big", "models/big.bin"), ("ten", "models/ten")):
        sh([sys.executable, "-m", "weightops", "card", path, "-o", f"models/{name}.card.yaml", "--model", name], repo, env)
    sh([sys.executable, "-m", "dvc", "push", "-q"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "train"], repo, env)
    for name in ("big", "ten"):
        sh([sys.executable, "-m", "weightops", "release", "v1.0.0", "--model", name], repo, env)
    key = ec.generate_private_key(ec.SECP256R1())
    (base / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    (base / "pub.pem").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    return repo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=1024, help="size of `big` in MiB; `ten` is twice that")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp)
        env = dict(os.environ, HOME=tmp, DVC_NO_ANALYTICS="1", PYTHONPATH=str(ROOT),
                   GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@e", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@e")
        repo = make_project(base, args.mib, env)
        wo = [sys.executable, "-m", "weightops"]
        os.environ.update(env)   # the in-process calls run git and DVC like the commands do
        from model_signing import hashing, signing
        from weightops.registry.oms_sign import sign as wo_sign

        rows = []
        for name, size in (("big", args.mib), ("ten", 2 * args.mib)):
            pulled = base / f"pulled-{name}"
            sh(wo + ["pull", "v1.0.0", "--model", name, "-o", f"{pulled}/"], repo, env)
            shutil.copy(repo / "models" / f"{name}.card.yaml", pulled)   # the signed set: weights + card
            key, sig = base / "key.pem", base / f"ref-{name}.sig"
            ours = in_process(lambda: wo_sign("v1.0.0", key, model=name, repo=repo), args.runs)
            theirs = in_process(lambda: signing.Config().use_elliptic_key_signer(private_key=key).set_hashing_config(
                hashing.Config().set_ignored_paths(paths=[sig])).sign(pulled, sig), args.runs)
            sign_cmd = timed(wo + ["sign", "v1.0.0", "--model", name, "--oms-key", key], repo, env, args.runs)
            ref_cmd = timed([sys.executable, "-m", "model_signing", "sign", "key", pulled, "--signature", sig,
                             "--private_key", key], repo, env, args.runs)
            dest = base / f"dest-{name}"
            fresh = lambda: shutil.rmtree(dest, ignore_errors=True)   # noqa: E731 - every pull transfers
            plain = timed(wo + ["pull", "v1.0.0", "--model", name, "-o", f"{dest}/"], repo, env, args.runs, fresh)
            checked = timed(wo + ["pull", "v1.0.0", "--model", name, "-o", f"{dest}/", "--require-oms",
                                  "--oms-public-key", base / "pub.pem"], repo, env, args.runs, fresh)
            rows.append((f"{name} ({size} MiB{', 10 files' if name == 'ten' else ''})", ours, theirs, sign_cmd,
                         ref_cmd, plain, checked))
        print("signing (in process, libraries loaded: wall ms / CPU ms)   weightops        model_signing     ratio (wall, CPU)")
        for label, (ow, oc), (tw, tc), *_ in rows:
            print(f"  {label:<40}{ow * 1000:>10.1f} / {oc * 1000:<7.1f}{tw * 1000:>10.1f} / {tc * 1000:<8.1f}"
                  f"{tw / ow:>6.0f}x {tc / oc:>5.0f}x")
        print("signing (whole commands: wall s / CPU s)     weightops sign   model_signing sign   ratio (wall, CPU)")
        for label, _o, _t, (sw, sc), (rw, rc), *_ in rows:
            print(f"  {label:<40}{sw:>6.2f} / {sc:<6.2f}{rw:>10.2f} / {rc:<6.2f}{rw / sw:>8.1f}x {rc / sc:>5.1f}x")
        print("pull (wall s / CPU s)                        pull             pull --require-oms   ratio (wall, CPU)")
        for label, *_, (pw, pc), (cw, cc) in rows:
            print(f"  {label:<40}{pw:>6.2f} / {pc:<6.2f}{cw:>10.2f} / {cc:<6.2f}{cw / pw:>8.3f}x {cc / pc:>5.3f}x")


if __name__ == "__main__":
    main()
