"""Benchmark a fleet of deploy hosts polling the registry: the published index on object storage
(moto's S3 server) against `git ls-remote` on a git server (`git daemon`), same hosts, same
interval, in one run.

Simulated hosts are asyncio tasks in this process, each with its own connection per poll:
  index mode: a conditional GET of the index document (If-None-Match with the last ETag), as
              `weightops sync --index` sends it; on a change, GET the document and the new
              weights object and check its sha256;
  git mode:   the git protocol's reference advertisement (what `git ls-remote` reads: one
              upload-pack per poll on the server); on a change, the same object GET and sha256
              check. The partial `git fetch` a real host then needs is NOT simulated, so the git
              figures are a best case for git.
Hosts start at random offsets within the interval. Halfway through, the benchmark runs
`weightops rollback production --push` (index mode: then `weightops publish`, as the CI template
does) and measures propagation: from the start of that command to each host holding the
verified new bytes.

Reported per mode: polls/s sustained, server CPU seconds per 1,000 polls (the server process
and, for git, its reaped upload-pack children), bytes per poll (both directions, at the
client), and rollback propagation p50/p99/max.

    python benchmarks/fleet.py [--hosts 1000] [--interval 5] [--seconds 30]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
AUTH = ("AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, "
        "Signature=0")   # moto accepts any signature


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited at start")
            time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process tree: each live process's utime + stime plus its reaped
    children's (`git daemon` runs git-daemon as a child, which forks upload-pack per poll)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), sum(int(fields[i]) for i in (11, 12, 13, 14)))
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo += [c for c, (ppid, _) in stats.items() if ppid == p and c not in tree]
    return sum(stats[p][1] for p in tree if p in stats) / os.sysconf("SC_CLK_TCK")


def sh(args, cwd, env) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# ------------------------------------------------------------------ the project and the servers
def setup(base: Path, env: dict, endpoint: str, bucket: str) -> tuple[Path, Path]:
    wo = [sys.executable, "-m", "weightops"]
    project = base / "project"
    sh(wo + ["init", str(project), "--model", "clf", "--remote", str(base / "unused")], base, env)
    # The benchmark's retrain drifts past the production gate's limits; the gate is not measured here.
    with open(project / "weightops.yaml", "a") as f:
        f.write("gates:\n  production:\n    validate: false\n")
    cfg = project / ".dvc" / "config"
    cfg.write_text(f"[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://{bucket}/dvcstore\n"
                   f"    endpointurl = {endpoint}\n")
    (project / ".dvc" / "config.local").write_text(
        "['remote \"s3\"']\n    access_key_id = bench\n    secret_access_key = bench\n")
    origin = base / "registry.git"
    sh(["git", "init", "-q", "--bare", str(origin)], base, env)
    sh(["git", "remote", "add", "origin", str(origin)], project, env)
    sh([sys.executable, "-m", "dvc", "repro", "-q"], project, env)
    sh(["git", "add", "-A"], project, env)
    sh(["git", "commit", "-qm", "train"], project, env)
    sh(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], project, env)
    sh(wo + ["release", "v1.0.0", "--push"], project, dict(env, WEIGHTOPS_NOW="1790000000"))
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("seed: 7", "seed: 11"))
    sh([sys.executable, "-m", "dvc", "repro", "-q"], project, env)
    sh(["git", "commit", "-qam", "retrain"], project, env)
    sh(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], project, env)
    sh(wo + ["release", "v1.1.0", "--push"], project, dict(env, WEIGHTOPS_NOW="1790000010"))
    sh(wo + ["promote", "v1.0.0", "production", "--push"], project, dict(env, WEIGHTOPS_NOW="1790000100"))
    sh(wo + ["promote", "v1.1.0", "production", "--push"], project, dict(env, WEIGHTOPS_NOW="1790000200"))
    sh(wo + ["publish"], project, dict(env, WEIGHTOPS_NOW="1790000201"))
    return project, origin


# ------------------------------------------------------------------ simulated hosts
class Stats:
    def __init__(self) -> None:
        self.polls = self.errors = self.bytes = 0
        self.arrived: dict[int, float] = {}


async def http(host: str, port: int, method: str, path: str, headers: dict, stats: Stats) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close", f"Authorization: {AUTH}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    stats.bytes += len(request) + len(raw)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.decode().partition(":") for l in head.split(b"\r\n")[1:])}
    return status, hdrs, body


async def ls_refs(port: int, stats: Stats) -> bytes:
    """The git protocol's reference advertisement (protocol v0), then a flush: what ls-remote reads."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    line = b"git-upload-pack /registry.git\0host=127.0.0.1\0"
    request = b"%04x" % (len(line) + 4) + line
    writer.write(request)
    await writer.drain()
    refs = []
    while True:
        size = int(await reader.readexactly(4), 16)
        if size == 0:
            break
        refs.append(await reader.readexactly(size - 4))
    writer.write(b"0000")
    await writer.drain()
    writer.close()
    stats.bytes += len(request) + 4 + sum(len(r) + 4 for r in refs) + 4
    return b"".join(refs)


async def host_loop(i: int, mode: str, a: argparse.Namespace, ctx: dict, stats: Stats, stop: list) -> None:
    await asyncio.sleep(random.uniform(0, a.interval))
    etag, listing, holding = None, None, ctx["initial_sha"]
    while time.monotonic() < stop[0]:
        started = time.monotonic()
        try:
            if mode == "index":
                status, hdrs, body = await http("127.0.0.1", ctx["s3_port"], "GET", ctx["index_path"],
                                                {"If-None-Match": etag} if etag else {}, stats)
                changed = status == 200
                if changed:
                    etag = hdrs.get("etag")
                    doc = json.loads(body)
                    want = doc["versions"][doc["stages"]["production"]["version"]]
            else:
                refs = await ls_refs(ctx["git_port"], stats)
                changed = listing is not None and refs != listing
                listing = refs
                want = ctx["rollback_target"] if changed else None
            stats.polls += 1
            if changed and want and want["sha256"] != holding:
                before = stats.bytes
                status, _, data = await http("127.0.0.1", ctx["s3_port"], "GET", f"/{ctx['bucket']}/dvcstore/{want['key']}",
                                             {}, stats)
                stats.bytes = before   # the weights' bytes are the same in both modes: not a poll's cost
                if status == 200 and hashlib.sha256(data).hexdigest() == want["sha256"]:
                    holding = want["sha256"]
                    if holding == ctx["rollback_target"]["sha256"]:
                        stats.arrived[i] = time.monotonic()
        except (OSError, ValueError, KeyError, asyncio.IncompleteReadError):
            stats.errors += 1
        await asyncio.sleep(max(0.0, a.interval - (time.monotonic() - started)))


async def run_mode(mode: str, a: argparse.Namespace, ctx: dict, rollback) -> dict:
    stats = Stats()
    server_pid = ctx["moto_pid"] if mode == "index" else ctx["git_pid"]
    cpu0 = cpu_seconds(server_pid)
    t0 = time.monotonic()
    stop = [float("inf")]
    tasks = [asyncio.create_task(host_loop(i, mode, a, ctx, stats, stop)) for i in range(a.hosts)]
    await asyncio.sleep(a.seconds / 2)
    began = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, rollback)
    command_s = time.monotonic() - began
    # Run on for half the time, and at least long enough for every host to poll twice more.
    stop[0] = max(t0 + a.seconds, time.monotonic() + 2 * a.interval + 1)
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(server_pid) - cpu0
    delays = sorted(t - began for t in stats.arrived.values())
    pct = (lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] if delays else float("nan"))
    return {"mode": mode, "polls_per_s": stats.polls / elapsed, "polls": stats.polls, "errors": stats.errors,
            "server_cpu_s_per_1000": 1000 * cpu / max(stats.polls, 1), "bytes_per_poll": stats.bytes / max(stats.polls, 1),
            "reached": len(delays), "command_s": command_s, "p50": pct(0.5), "p99": pct(0.99), "max": delays[-1] if delays else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between a host's polls")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each mode's run")
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="weightops-fleet-"))
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com", PYTHONPATH=str(ROOT),
               HOME=str(base), **CREDS)
    s3_port, git_port = free_port(), free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon = None
    try:
        wait_port(s3_port, moto, "moto")
        bucket = "fleet"
        subprocess.run(["curl", "-s", "-X", "PUT", "-H", f"Authorization: {AUTH}", f"http://127.0.0.1:{s3_port}/{bucket}"],
                       check=True, capture_output=True)
        project, origin = setup(base, env, f"http://127.0.0.1:{s3_port}", bucket)
        daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--max-connections=0",
                                   f"--base-path={base}", "--listen=127.0.0.1", f"--port={git_port}", str(base)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(git_port, daemon, "git daemon")
        import urllib.request

        url = f"http://127.0.0.1:{s3_port}/{bucket}/dvcstore/weightops/index/v1/clf.json"
        doc = json.loads(urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": AUTH})).read())
        ctx = {"s3_port": s3_port, "git_port": git_port, "bucket": bucket, "moto_pid": moto.pid, "git_pid": daemon.pid,
               "index_path": f"/{bucket}/dvcstore/weightops/index/v1/clf.json",
               "initial_sha": doc["versions"]["v1.1.0"]["sha256"], "rollback_target": doc["versions"]["v1.0.0"]}
        wo = [sys.executable, "-m", "weightops"]
        results = []
        for mode in ("index", "git"):
            if results:   # production back on v1.1.0, published and pushed, as at the start
                sh(wo + ["promote", "v1.1.0", "production", "--push"], project, env)
                sh(wo + ["publish"], project, env)

            def rollback(mode=mode) -> None:
                sh(wo + ["rollback", "production", "--to", "v1.0.0", "--push"], project, env)
                if mode == "index":
                    sh(wo + ["publish"], project, env)
            results.append(asyncio.run(run_mode(mode, a, ctx, rollback)))
        print(f"{a.hosts} hosts, one poll every {a.interval:g} s each, {a.seconds:g} s per mode "
              f"(target {a.hosts / a.interval:.0f} polls/s)")
        print(f"{'':<8}{'polls/s':>9}{'errors':>8}{'srv CPU s/1k polls':>20}{'bytes/poll':>12}"
              f"{'reached':>9}{'p50 s':>8}{'p99 s':>8}{'max s':>8}{'command s':>11}")
        for r in results:
            print(f"{r['mode']:<8}{r['polls_per_s']:>9.0f}{r['errors']:>8}{r['server_cpu_s_per_1000']:>20.3f}"
                  f"{r['bytes_per_poll']:>12.0f}{r['reached']:>9}{r['p50']:>8.2f}{r['p99']:>8.2f}{r['max']:>8.2f}{r['command_s']:>11.2f}")
        print("propagation: from the start of the rollback command (command s: its own duration; index mode "
              "includes `weightops publish`) to each host holding the verified bytes")
        idx, git = results
        print(f"index vs git ls-remote: server CPU per poll {git['server_cpu_s_per_1000'] / max(idx['server_cpu_s_per_1000'], 1e-9):.1f}x "
              f"less, bytes per poll {git['bytes_per_poll'] / max(idx['bytes_per_poll'], 1):.1f}x fewer")
    finally:
        for proc in (daemon, moto):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
