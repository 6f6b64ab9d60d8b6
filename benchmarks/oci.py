"""OCI push and pull: weightops against the `oras` Python SDK and `skopeo copy`, on one local
registry (Debian's docker-registry on 127.0.0.1) in the same run.

Material: a 1 GiB file and a 20-shard folder (20 x 32 MiB), random bytes (raw layers are sent
uncompressed, so the content does not change the work; weights are incompressible anyway), each in
a real weightops project (`dvc add`, a card, a release tag). Every operation runs as its own
process, into a fresh repository or destination each time (skopeo with a fresh HOME, so its blob
cache cannot mount), tools interleaved, median of --runs. Peak memory is each process's max RSS
(wait4).

    push: weightops publish --oci R v1.0.0 | oras push (SDK) | skopeo copy oci:LAYOUT docker://R
    pull: weightops pull oci://R:v1.0.0     | oras pull (SDK) | skopeo copy docker://R dir:DIR
    floor: max(curl GET of the blob to a file, sha256sum of the file)

Then: blob bytes a re-publish of the unchanged version uploads (registry access log), and a fleet
of --hosts hosts pulling a new version at once through a pull-through cache (a second registry in
proxy mode) vs straight from the origin: bytes the origin served per version.

    python benchmarks/oci.py [--runs 3] [--hosts 8] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ORAS_PUSH = """
import sys, oras.client
host, target, *files = sys.argv[1:]
c = oras.client.OrasClient(hostname=host, insecure=True)
c.push(target=target, files=[f + ":application/vnd.cncf.model.weight.v1.raw" for f in files],
       disable_path_validation=True)
"""
ORAS_PULL = """
import sys, oras.client
host, target, out = sys.argv[1:]
oras.client.OrasClient(hostname=host, insecure=True).pull(target=target, outdir=out)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(base: Path, proxy: str | None = None) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    base.mkdir(parents=True)
    cfg = (f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n"
           f"    rootdirectory: {base / 'data'}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    if proxy:
        cfg += f"proxy:\n  remoteurl: {proxy}\n"
    (base / "config.yml").write_text(cfg)
    log = base / "access.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["docker-registry", "serve", str(base / "config.yml")], stdout=out, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"127.0.0.1:{port}", log


def run(args, env=None, cwd=None) -> tuple[float, int]:
    """(seconds, peak RSS in MiB) of one process; fails loudly."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.stdout.read(), proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"{args[:4]} failed ({proc.returncode}): {err.decode()[-2000:]}{out.decode()[-500:]}")
    return seconds, usage.ru_maxrss // 1024


def make_project(base: Path, env: dict, files: dict[str, int], name: str) -> Path:
    root = base / name
    root.mkdir()
    sh = lambda *a: subprocess.run(a, cwd=root, env=env, check=True, capture_output=True)  # noqa: E731
    sh("git", "init", "-q")
    sh(PY, "-m", "dvc", "init", "-q")
    (base / f"{name}-remote").mkdir()
    sh(PY, "-m", "dvc", "remote", "add", "-d", "storage", str(base / f"{name}-remote"))
    single = len(files) == 1 and "/" not in next(iter(files))
    target = root / "models" / (next(iter(files)) if single else name)
    for rel, size in files.items():
        path = root / "models" / (rel if single else f"{name}/{rel}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 16 << 20)
                f.write(os.urandom(n))
                left -= n
    rel_target = target.relative_to(root).as_posix()
    sh(PY, "-m", "dvc", "add", "-q", rel_target)
    (root / "dvc.yaml").write_text(f"artifacts:\n  {name}:\n    path: {rel_target}\n    type: model\n")
    (root / "weightops.yaml").write_text(f"model: {name}\n")
    card = root / "models" / f"{Path(rel_target).stem}.card.yaml"
    sh(PY, "-m", "weightops", "card", rel_target, "-o", str(card.relative_to(root)), "--model", name)
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "weights")
    sh("git", "tag", "v1.0.0")
    return root


def layer_files(root: Path, name: str) -> list[Path]:
    folder = root / "models" / name
    if folder.is_dir():
        return sorted(p for p in folder.rglob("*") if p.is_file())
    return [next(p for p in (root / "models").iterdir() if p.suffix == ".bin")]


def bench(label: str, root: Path, name: str, host: str, env: dict, runs: int, work: Path) -> dict:
    files = layer_files(root, name)
    size = sum(f.stat().st_size for f in files)
    # skopeo pushes from an OCI layout: the one it writes from weightops' first push
    times: dict[str, list[float]] = {k: [] for k in ("wo_push", "oras_push", "skopeo_push", "wo_pull", "oras_pull",
                                                     "skopeo_pull", "get", "sha256sum")}
    peak: dict[str, int] = {}
    layout = work / f"{label}-layout"
    subprocess.run([PY, "-m", "weightops", "publish", "--oci", f"{host}/{label}/src", "v1.0.0"], env=env, cwd=root,
                   check=True, capture_output=True)
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{host}/{label}/src:v1.0.0",
                    f"oci:{layout}:v1"], env=env, check=True)
    models = files[0].parent if len(files) == 1 else root / "models"
    rel = [f.relative_to(models).as_posix() for f in files]
    for i in range(runs):
        repo = f"{label}/run{i}"
        # pushes go to a registry started for this run: skopeo's blob-info cache (shared by root's
        # processes) knows where the blobs are in the main one and would mount them instead of sending
        push_proc, push_host, _ = start_registry(work / f"push-{label}-{i}")
        try:
            t, m = run([PY, "-m", "weightops", "publish", "--oci", f"{push_host}/{repo}", "v1.0.0", "--json"],
                       env=env, cwd=root)
            times["wo_push"].append(t)
            peak["wo_push"] = max(peak.get("wo_push", 0), m)
            t, m = run([PY, "-c", ORAS_PUSH, push_host, f"{push_host}/{repo}-oras:v1", *rel], env=env, cwd=models)
            times["oras_push"].append(t)
            peak["oras_push"] = max(peak.get("oras_push", 0), m)
            t, m = run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:v1",
                        f"docker://{push_host}/{repo}-skopeo:v1"], env=env)
            times["skopeo_push"].append(t)
            peak["skopeo_push"] = max(peak.get("skopeo_push", 0), m)
        finally:
            push_proc.terminate()
            push_proc.wait()
            shutil.rmtree(work / f"push-{label}-{i}")
        # pulls, all of the artifact weightops pushed
        src = f"{host}/{label}/src:v1.0.0"
        out = work / f"pull-{label}-{i}"
        t, m = run([PY, "-m", "weightops", "pull", f"oci://{src}", "-o", str(out / "wo") + "/", "--json"], env=env, cwd=work)
        times["wo_pull"].append(t)
        peak["wo_pull"] = max(peak.get("wo_pull", 0), m)
        t, m = run([PY, "-c", ORAS_PULL, host, src, str(out / "oras")], env=env)
        times["oras_pull"].append(t)
        peak["oras_pull"] = max(peak.get("oras_pull", 0), m)
        t, m = run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{src}", f"dir:{out / 'skopeo'}"],
                   env=env)
        times["skopeo_pull"].append(t)
        peak["skopeo_pull"] = max(peak.get("skopeo_pull", 0), m)
        # the floor: every blob fetched by curl to a file, and sha256sum of the same files
        manifest = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{src}"],
                                             capture_output=True, check=True).stdout)
        digests = [layer["digest"] for layer in manifest["layers"] if "weight" in layer["mediaType"]]
        (out / "curl").mkdir(parents=True)
        urls = []
        for d in digests:
            urls += ["-o", str(out / "curl" / d[7:]), f"http://{host}/v2/{label}/src/blobs/{d}"]
        t, _ = run(["curl", "-sSf", *urls])
        times["get"].append(t)
        t, _ = run(["sha256sum", *[str(out / "curl" / d[7:]) for d in digests]])
        times["sha256sum"].append(t)
        shutil.rmtree(out)
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = max(med["get"], med["sha256sum"])
    return {"label": label, "bytes": size, "files": len(files), "median_s": {k: round(v, 3) for k, v in med.items()},
            "peak_rss_mib": peak,
            "push_vs_oras": round(med["wo_push"] / med["oras_push"], 2),
            "push_vs_skopeo": round(med["wo_push"] / med["skopeo_push"], 2),
            "pull_vs_oras": round(med["wo_pull"] / med["oras_pull"], 2),
            "pull_vs_skopeo": round(med["wo_pull"] / med["skopeo_pull"], 2),
            "pull_vs_floor": round(med["wo_pull"] / floor, 2),
            "push_MiB_s": round(size / med["wo_push"] / 2**20, 1), "pull_MiB_s": round(size / med["wo_pull"] / 2**20, 1)}


def blob_bytes(log: Path, since: int = 0) -> int:
    """Bytes the registry sent in answers to blob GETs (its combined-format access log)."""
    with open(log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return sum(int(m.group(1)) for m in re.finditer(r'"GET /v2/\S+/blobs/sha256:\S+ HTTP/[\d.]+" 200 (\d+)', text))


def upload_requests(log: Path, since: int) -> int:
    with open(log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return len(re.findall(r'"(?:POST|PUT|PATCH) /v2/\S+/blobs/uploads', text))


def fleet(root: Path, name: str, origin: str, origin_log: Path, hosts: int, work: Path, env: dict) -> dict:
    """N hosts pull the version at once, through a pull-through cache vs from the origin."""
    size = sum(f.stat().st_size for f in layer_files(root, name))
    cache_proc, cache, _ = start_registry(work / "cache", proxy=f"http://{origin}")
    try:
        subprocess.run([PY, "-m", "weightops", "publish", "--oci", f"{origin}/fleet/{name}", "v1.0.0"], env=env,
                       cwd=root, check=True, capture_output=True)
        def pull_all(via: str, label: str, count: int) -> None:
            procs = [subprocess.Popen([PY, "-m", "weightops", "pull", f"oci://{via}/fleet/{name}:{tag}", "-o",
                                       str(work / f"host-{label}-{h}") + "/"], env=env, cwd=work,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for h in range(count)]
            failed = [p.stderr.read().decode() for p in procs if p.wait() != 0]
            if failed:
                raise SystemExit(f"fleet pull via {label} failed: {failed[0]}")

        out = {}
        for label, via, tag in (("direct", origin, "v1.0.0"), ("cache_cold", cache, "v1.0.0"),
                                ("cache_canary", cache, "v2.0.0")):
            if tag == "v2.0.0":   # a new version: same layers under a new tag would be cached, so new bytes
                continue
            mark = origin_log.stat().st_size
            pull_all(via, label, hosts)
            time.sleep(0.5)   # the access log line is written after the answer
            out[label] = round(blob_bytes(origin_log, mark) / size, 2)
        return {"hosts": hosts, "artifact_bytes": size, "origin_bytes_per_version_direct": out["direct"],
                "origin_bytes_per_version_through_cache_all_at_once": out["cache_cold"], **canary(
                    root, name, origin, origin_log, cache, hosts, work, env, size)}
    finally:
        cache_proc.terminate()
        cache_proc.wait()


def canary(root: Path, name: str, origin: str, origin_log: Path, cache: str, hosts: int, work: Path, env: dict,
           size: int) -> dict:
    """A new version (new bytes): one canary host pulls through the cache, then the other hosts at once."""
    victim = next(p for p in layer_files(root, name))
    with open(victim, "r+b") as f:     # retrain: one shard changes
        f.write(os.urandom(1 << 20))
    sh = lambda *a: subprocess.run(a, cwd=root, env=env, check=True, capture_output=True)  # noqa: E731
    sh(PY, "-m", "dvc", "add", "-q", f"models/{name}")
    sh(PY, "-m", "weightops", "card", f"models/{name}", "-o", f"models/{name}.card.yaml", "--model", name)
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "retrain")
    sh("git", "tag", "v2.0.0")
    sh(PY, "-m", "weightops", "publish", "--oci", f"{origin}/fleet/{name}", "v2.0.0")
    changed = victim.stat().st_size
    seen = {}
    for label, count in (("canary", 1), ("rest", hosts - 1)):
        mark = origin_log.stat().st_size
        procs = [subprocess.Popen([PY, "-m", "weightops", "pull", f"oci://{cache}/fleet/{name}:v2.0.0", "-o",
                                   str(work / f"v2-{label}-{h}") + "/"], env=env, cwd=work,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for h in range(count)]
        failed = [p.stderr.read().decode() for p in procs if p.wait() != 0]
        if failed:
            raise SystemExit(f"canary pull failed: {failed[0]}")
        time.sleep(1.0)   # the cache stores a fetched blob in the background; the log line comes after the answer
        seen[label] = blob_bytes(origin_log, mark)
    return {"new_version_changed_bytes": changed,
            "origin_bytes_canary_per_changed": round(seen["canary"] / changed, 2),
            "origin_bytes_rest_of_fleet_per_changed": round(seen["rest"] / changed, 2),
            "origin_bytes_per_new_version_canary_then_fleet_through_cache":
                round((seen["canary"] + seen["rest"]) / changed, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--shard-mib", type=int, default=32)
    args = ap.parse_args()
    for tool in ("docker-registry", "skopeo", "curl", "sha256sum"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (see .ci/run's APT_PACKAGES)")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        env = dict(os.environ, HOME=str(work / "home"), DVC_NO_ANALYTICS="1", PYTHONPATH=str(ROOT),
                   GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@e", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@e")
        (work / "home").mkdir()
        proc, host, log = start_registry(work / "origin")
        try:
            big = make_project(work, env, {"big.bin": args.size_mib << 20}, "big")
            shards = make_project(work, env, {f"model-{i:05d}-of-00020.bin": args.shard_mib << 20 for i in range(1, 21)},
                                  "shards")
            results = [bench("file", big, "big", host, env, args.runs, work),
                       bench("shards", shards, "shards", host, env, args.runs, work)]
            mark = log.stat().st_size
            again = json.loads(subprocess.run([PY, "-m", "weightops", "publish", "--oci", f"{host}/file/src",
                                               "v1.0.0", "--json"], env=env, cwd=big, check=True,
                                              capture_output=True, text=True).stdout)
            time.sleep(0.5)
            republish = {"uploaded_bytes": again["uploaded_bytes"], "upload_requests_in_registry_log":
                         upload_requests(log, mark)}
            fleet_result = fleet(shards, "shards", host, log, args.hosts, work, env)
        finally:
            proc.terminate()
            proc.wait()
    print(json.dumps({"push_pull": results, "unchanged_republish": republish, "fleet": fleet_result}, indent=2))


if __name__ == "__main__":
    main()
