"""Benchmark `weightops pull` from an S3 endpoint (moto's server on 127.0.0.1).

Puts a 1 GiB object on the endpoint as a released DVC artifact, then times, in one run:
  weightops pull            (size + md5 + sha256 verified while streaming, atomic rename)
  weightops pull --jobs 4   (parallel ranged GETs; moto reads the whole object per range)
  (a) one streamed boto3 get_object written to disk       - the transport floor
  (b) (a) followed by `sha256sum`
  (c) `dvc artifacts get` for the same version
Prints medians, ratios against (a), (b), (c) and each process's peak RSS (wait4's ru_maxrss).
`--big` also pulls a 4 GiB object once and reports its peak memory.

Then the same release on the GCS emulator (gcp-storage-emulator) and on a local OpenSSH server
(throwaway key), each timed against that backend's own raw download in the same run:
  gs:  one streamed JSON-API media GET (`alt=media`) written to disk
  ssh: `scp` of the object

    python benchmarks/pull.py [--runs 3] [--mib 1024] [--other-mib 256] [--backends s3,gs,ssh]
                              [--big] [--skip-dvc]

Not part of the test suite (it moves gigabytes).
"""

from __future__ import annotations

import argparse
import urllib.parse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GiB = 1024 ** 3
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("moto server did not start")


# A child's ru_maxrss starts at its parent's RSS at fork time, and this script is large; a
# small launcher process forks the measured command so its peak is its own.
LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, u = os.wait4(proc.pid, 0)
print(u.ru_maxrss, u.ru_utime + u.ru_stime, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(args: list[str], env: dict, cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr[-2000:]}")
    maxrss, cpu = proc.stderr.strip().splitlines()[-1].split()
    return wall, int(maxrss) / 1024, float(cpu)


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * 1024 * 1024)
            f.write(os.urandom(n))
            left -= n


def make_release(base: Path, endpoint: str, size: int, version: str, env: dict, *, config: str | None = None,
                 upload=None, local: str = "") -> str:
    """A git + DVC project declaring artifact `model`, released as `model@VERSION`, object on S3
    (or, with `config` and `upload(path, key)`, on another remote). Returns the object's key."""
    from weightops.api import make_card
    from weightops.storage.hashing import hash_file

    repo = base / "repo"
    if not (repo / ".git").exists():
        repo.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=env)
        subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True, env=env)
        (repo / "dvc.yaml").write_text("artifacts:\n  model:\n    path: models/model.bin\n    type: model\n")
        (repo / "weightops.yaml").write_text("model: model\ntag_style: named\n")
        (repo / ".dvc" / "config").write_text(config or (
            "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://bench/dvcstore\n"
            f"    endpointurl = {endpoint}\n"))
        if local:
            (repo / ".dvc" / "config.local").write_text(local)
        (repo / "models").mkdir()
        (repo / "models" / ".gitignore").write_text("/model.bin\n")
    weights = repo / "models" / "model.bin"
    write_random(weights, size)
    d = hash_file(weights)
    (repo / "models" / "model.bin.dvc").write_text(
        f"outs:\n- md5: {d.md5}\n  size: {d.size}\n  hash: md5\n  path: model.bin\n")
    make_card(weights, repo / "models" / "model.card.yaml", model="model")
    key = f"dvcstore/files/md5/{d.md5[:2]}/{d.md5[2:]}"
    if upload is None:
        import boto3
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
        if "bench" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket="bench")
        s3.upload_file(str(weights), "bench", key)
    else:
        upload(weights, key)
    weights.unlink()  # the deploy host has no copy
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", f"weights {version}"], cwd=repo, check=True, env=env)
    subprocess.run([sys.executable, "-m", "weightops", "release", version], cwd=repo, check=True, env=env)
    return key


BASELINE = """
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
body = s3.get_object(Bucket="bench", Key=sys.argv[2])["Body"]
with open(sys.argv[3], "wb") as f:
    while chunk := body.read(4 * 1024 * 1024):
        f.write(chunk)
"""


def bench(label: str, runs: int, args: list[str], env: dict, cwd: Path, cleanup: Path,
          then: list[str] | None = None) -> dict:
    walls, peaks, cpus = [], [], []
    for _ in range(runs):
        if cleanup.exists():
            shutil.rmtree(cleanup) if cleanup.is_dir() else cleanup.unlink()
        wall, peak, cpu = run(args, env, cwd)
        if then:
            w2, p2, c2 = run(then, env, cwd)
            wall, peak, cpu = wall + w2, max(peak, p2), cpu + c2
        walls.append(wall)
        peaks.append(peak)
        cpus.append(cpu)
    result = {"label": label, "median": statistics.median(walls), "runs": walls, "peak_mib": max(peaks),
              "cpu": statistics.median(cpus)}
    print(f"  {label:<30} median {result['median']:6.2f} s   runs {', '.join(f'{w:.2f}' for w in walls)}"
          f"   cpu {result['cpu']:5.2f} s   peak RSS {result['peak_mib']:5.0f} MiB", flush=True)
    return result


GCS_RAW = """
import sys, urllib.request, urllib.parse
url = f"{sys.argv[1]}/download/storage/v1/b/bench/o/{urllib.parse.quote(sys.argv[2], safe='')}?alt=media"
with urllib.request.urlopen(url) as resp, open(sys.argv[3], "wb") as f:
    while chunk := resp.read(4 * 1024 * 1024):
        f.write(chunk)
"""


PLUGIN_RAW = """
import sys
from dvc.fs import get_cloud_fs
from dvc.config import Config
cfg = Config(sys.argv[1])          # the repo's .dvc/config + config.local, as `dvc pull` reads them
cls, conf, base = get_cloud_fs(cfg, name=sys.argv[2])
cls(**conf).fs.get_file(base.rstrip("/") + "/" + sys.argv[3], sys.argv[4])
"""


def other_backend(kind: str, mib: int, runs: int, env: dict) -> None:
    """`weightops pull` vs the backend's own raw download, same object, same run."""
    sys.path.insert(0, str(ROOT / "tests"))
    from storage import servers

    base = Path(tempfile.mkdtemp(prefix=f"wo-bench-{kind}-"))
    env = dict(env, HOME=str(base), GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false")
    tmp = base / "server"
    tmp.mkdir()
    server = servers.start_gcs(tmp) if kind == "gs" else servers.start_sshd(tmp)
    try:
        out = base / "out"
        out.mkdir()
        if kind == "gs":
            import json
            import urllib.request
            endpoint = f"http://127.0.0.1:{server.port}"
            urllib.request.urlopen(urllib.request.Request(
                f"{endpoint}/storage/v1/b?project=bench", data=json.dumps({"name": "bench"}).encode(),
                headers={"Content-Type": "application/json"}, method="POST")).read()

            def upload(path: Path, key: str) -> None:
                with open(path, "rb") as f:
                    req = urllib.request.Request(f"{endpoint}/upload/storage/v1/b/bench/o?uploadType=media&name="
                                                 f"{urllib.parse.quote(key, safe='')}", data=f, method="POST",
                                                 headers={"Content-Length": str(path.stat().st_size)})
                    urllib.request.urlopen(req).read()
            config = ("[core]\n    remote = gcs\n['remote \"gcs\"']\n    url = gs://bench/dvcstore\n"
                      f"    endpointurl = {endpoint}\n    allow_anonymous_login = true\n")
            key = make_release(base, endpoint, mib * 1024 * 1024, "v1.0.0", env, config=config, upload=upload)
            raw = [sys.executable, "-c", GCS_RAW, endpoint, key, str(out / "raw.bin")]
            label = "(gs) JSON-API media GET -> file"
        else:
            store = base / "sshstore"
            (base / ".ssh").mkdir()
            (base / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{server.port} {server.extra['host_key']}\n")

            def upload(path: Path, key: str) -> None:
                dest = store / key
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, dest)
            config = ("[core]\n    remote = ssh\n['remote \"ssh\"']\n"
                      f"    url = ssh://{server.extra['user']}@127.0.0.1:{server.port}{store}/dvcstore\n")
            local = f"['remote \"ssh\"']\n    keyfile = {server.extra['key']}\n"
            key = make_release(base, "", mib * 1024 * 1024, "v1.0.0", env, config=config, upload=upload, local=local)
            raw = ["scp", "-q", "-P", str(server.port), "-i", server.extra["key"],
                   "-o", f"UserKnownHostsFile={base / '.ssh' / 'known_hosts'}",
                   f"{server.extra['user']}@127.0.0.1:{store / key}", str(out / "raw.bin")]
            label = "(ssh) scp -> file"
        repo = base / "repo"
        print(f"{kind}: {mib} MiB object, {runs} runs each:")
        wo = bench(f"weightops pull ({kind})", runs, [sys.executable, "-m", "weightops", "pull", "model@v1.0.0",
                   "-o", str(out / "w.bin")], env, repo, out / "w.bin")
        r = bench(label, runs, raw, env, repo, out / "raw.bin")
        name = "gcs" if kind == "gs" else "ssh"
        p = bench(f"({kind}) DVC plugin fs get_file", runs, [sys.executable, "-c", PLUGIN_RAW, str(repo / ".dvc"), name,
                  key.split("/", 1)[1], str(out / "plugin.bin")], env, repo, out / "plugin.bin")
        print(f"  weightops / raw ({kind})        = {wo['median'] / r['median']:.2f}")
        print(f"  weightops / plugin fs ({kind})  = {wo['median'] / p['median']:.2f}   (the transport `dvc pull` uses)")
        print(f"  peak RSS weightops pull ({kind}): {wo['peak_mib']:.0f} MiB")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=1024, help="object size on moto, MiB (default 1 GiB)")
    ap.add_argument("--other-mib", type=int, default=256, help="object size on the GCS emulator and SSH, MiB")
    ap.add_argument("--backends", default="s3,gs,ssh")
    ap.add_argument("--big", action="store_true", help="also pull a 4 GiB object once (peak memory)")
    ap.add_argument("--skip-dvc", action="store_true")
    opts = ap.parse_args()
    kinds = opts.backends.split(",")
    if "s3" in kinds:
        s3_benchmark(opts)
    env = dict(os.environ, PYTHONPATH=str(ROOT), DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="bench",
               GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@b")
    for kind in ("gs", "ssh"):
        if kind in kinds:
            other_backend(kind, opts.other_mib, opts.runs, env)


def s3_benchmark(opts) -> None:
    size = opts.mib * 1024 * 1024
    moto, endpoint = start_moto()
    base = Path(tempfile.mkdtemp(prefix="wo-bench-"))
    env = dict(os.environ, **CREDS, PYTHONPATH=str(ROOT), DVC_NO_ANALYTICS="1", HOME=str(base),
               WEIGHTOPS_CACHE=str(base / "cache"), GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@b",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@b")
    try:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine skews wall times)")
        print(f"setting up a {opts.mib} MiB release on {endpoint} ...", flush=True)
        key = make_release(base, endpoint, size, "v1.0.0", env)
        repo, out = base / "repo", base / "out"
        out.mkdir()
        print(f"{opts.mib} MiB object, {opts.runs} runs each:")
        wo = bench("weightops pull", opts.runs, [sys.executable, "-m", "weightops", "pull", "model@v1.0.0",
                   "-o", str(out / "w.bin")], env, repo, out / "w.bin")
        wo4 = bench("weightops pull --jobs 4", opts.runs, [sys.executable, "-m", "weightops", "pull",
                    "model@v1.0.0", "-o", str(out / "w.bin"), "--jobs", "4"], env, repo, out / "w.bin")
        a = bench("(a) boto3 get_object -> file", opts.runs, [sys.executable, "-c", BASELINE, endpoint, key,
                  str(out / "a.bin")], env, repo, out / "a.bin")
        b = bench("(b) (a) + sha256sum", opts.runs, [sys.executable, "-c", BASELINE, endpoint, key,
                  str(out / "b.bin")], env, repo, out / "b.bin", then=["sha256sum", str(out / "b.bin")])
        c = None
        if not opts.skip_dvc:
            c = bench("(c) dvc artifacts get", opts.runs, [sys.executable, "-m", "dvc", "artifacts", "get", str(repo),
                      "model", "--rev", "v1.0.0", "-o", str(out / "c.bin"), "-f"], env, base, out / "c.bin")
        print("ratios (lower is faster):")
        print(f"  weightops / (a)  = {wo['median'] / a['median']:.2f}   (target <= 1.25)")
        print(f"  weightops / (b)  = {wo['median'] / b['median']:.2f}   (target < 1)")
        if c:
            print(f"  (c) / weightops  = {c['median'] / wo['median']:.2f}x faster   (target >= 3)")
        print(f"  --jobs 4 / (a)   = {wo4['median'] / a['median']:.2f}   (moto re-reads the whole object per range)")
        print(f"  peak RSS weightops pull: {wo['peak_mib']:.0f} MiB   (target < 150)")
        if opts.big:
            for f in out.iterdir():
                f.unlink()
            print("setting up a 4 GiB release ...", flush=True)
            make_release(base, endpoint, 4 * GiB, "v2.0.0", env)
            big = bench("weightops pull (4 GiB)", 1, [sys.executable, "-m", "weightops", "pull", "model@v2.0.0",
                        "-o", str(out / "big.bin")], env, repo, out / "big.bin")
            print(f"  peak RSS weightops pull 4 GiB: {big['peak_mib']:.0f} MiB   (target < 150)")
    finally:
        moto.kill()
        moto.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
