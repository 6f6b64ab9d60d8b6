"""No command writes credentials anywhere: not to the repository (files, tags, git objects), a
card, a lock, a report, a log (the deploy log of `sync` too), stdout, or an error message. Credentials are in the environment
and in `.dvc/config.local`; every command of the write and deploy path runs against moto S3."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deploy.s3env import use_s3_remote

ENV_KEY, ENV_SECRET, ENV_TOKEN = "AKIAENVKEY7Q2WXYZ", "env-secret-9f8e7d6c5b4a", "env-session-token-31415"
LOCAL_KEY, LOCAL_SECRET = "AKIALOCALKEY8R3ABC", "local-secret-0a1b2c3d4e5f"
SECRETS = [ENV_KEY, ENV_SECRET, ENV_TOKEN, LOCAL_KEY, LOCAL_SECRET]


def test_no_command_writes_a_credential_anywhere(project, bucket, tmp_path):
    use_s3_remote(project, bucket, creds="none")
    local = project.root / ".dvc" / "config.local"
    local.write_text(f"['remote \"s3store\"']\n    access_key_id = {LOCAL_KEY}\n    secret_access_key = {LOCAL_SECRET}\n"
                     f"['remote \"wrongbucket\"']\n    url = s3://no-such-bucket-wo/x\n    endpointurl = {bucket.endpoint}\n"
                     f"    access_key_id = {LOCAL_KEY}\n    secret_access_key = {LOCAL_SECRET}\n")
    env = {"AWS_ACCESS_KEY_ID": ENV_KEY, "AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_SESSION_TOKEN": ENV_TOKEN,
           "WEIGHTOPS_NOW": "1767225600"}
    out = tmp_path / "out"
    out.mkdir()
    log = out / "deploy.log"
    runs = [
        ("-v", "card", "models/clf.safetensors", "-o", "models/clf.card.yaml", "--model", "clf", "--metrics", "metrics.json"),
        "commit",
        ("-v", "release", "v1.0.0", "--push"),
        ("-v", "pull", "v1.0.0", "-o", str(out / "model.safetensors")),
        ("-v", "lock", "v1.0.0", "-o", str(out / "model.lock.yaml")),
        ("resolve", "v1.0.0", "--json"),
        ("-v", "promote", "v1.0.0", "staging"),
        ("-v", "sync", "staging", "--repo", str(project.root), "-o", str(out / "live.safetensors"), "--once",
         "--log", str(out / "deployments.jsonl")),
        ("deployments", str(out / "deployments.jsonl"), "--json"),
        ("history", "--json"),
        ("audit", "--json"),
        ("list", "--json"),
        ("release-notes", "v1.0.0", "--output", str(out / "notes.md")),
        ("report", "-o", str(out / "registry.html")),
        ("-v", "pull", "--lock", str(out / "model.lock.yaml"), "-o", str(out / "again.safetensors")),
        ("-v", "verify", str(out / "model.lock.yaml"), str(out / "model.safetensors")),
        # error paths: a bucket that does not exist, an object missing, a bad endpoint
        ("-v", "pull", "v1.0.0", "--remote", "wrongbucket", "-o", str(out / "x.bin")),
        ("--traceback", "pull", "v1.0.0", "--remote", "wrongbucket", "-o", str(out / "y.bin")),
    ]
    codes = []
    with open(log, "w") as f:
        for args in runs:
            if args == "commit":   # the card changed (its created_at): commit it, as the pipeline user would
                project.dvc("commit", "-f", "-q")
                project.git("commit", "-qam", "card")
                continue
            proc = project.wo(*args, env=env)
            codes.append(proc.returncode)
            f.write(f"$ weightops {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    assert codes[:15] == [0] * 15, log.read_text()[-3000:]
    assert codes[15] == 3 and "no-such-bucket-wo" in log.read_text()

    found = []
    for folder in (project.root, out, project.root.parent):
        for path in folder.rglob("*"):
            if path.is_file() and path != local and ".dvc/cache" not in str(path):
                data = path.read_bytes()
                found += [f"{path}: {s}" for s in SECRETS if s.encode() in data]
    # Git objects are compressed on disk: read every object (tags, commits, trees, blobs) through git.
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=project.root,
                             capture_output=True).stdout
    found += [f"git object: {s}" for s in SECRETS if s.encode() in objects]
    assert found == [], found
    assert "access_key" not in (project.root / "models" / "clf.card.yaml").read_text()
    assert Path(local).read_text().count(LOCAL_SECRET) == 2, "the user's own file is left as it was"
