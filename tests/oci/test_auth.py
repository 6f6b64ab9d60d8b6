"""Credentials found the way docker, podman and oras find them, against a registry behind
htpasswd authentication; passwords never reach output, logs or error lines."""

from __future__ import annotations

import base64
import json
import os
import stat

from helpers import T0, assert_one_line_error, at
from oci.registry import sha256_of
from oci.test_publish_pull import configure


def _leaks(proc, reg) -> list[str]:
    text = proc.stdout + proc.stderr
    secrets = [reg.password, base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()]
    return [s for s in secrets if s in text]


def test_docker_config_podman_auth_file_and_helper(project, oci_auth_registry, tmp_path):
    reg = oci_auth_registry
    target = configure(project, reg, "private/clf")
    project.dvc("push", "-q")
    at(project, T0, "release", "v1.0.0")
    sha = json.loads(project.wo("resolve", "v1.0.0", "--json", check=True).stdout)["sha256"]

    # no credentials anywhere: one line saying how to log in, exit 1
    proc = project.wo("-v", "publish", "--oci", target)
    assert_one_line_error(proc, 1, "requires credentials", "docker login")

    # ~/.docker/config.json, as `docker login` writes it
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    auth = base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": auth}}}))
    env = {"HOME": str(home)}
    proc = project.wo("-v", "publish", "--oci", target, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not _leaks(proc, reg)
    out = tmp_path / "a" / "clf.safetensors"
    proc = project.wo("-v", "pull", f"oci://{target}:v1.0.0", "-o", str(out), env=env)
    assert proc.returncode == 0 and sha256_of(out) == sha and not _leaks(proc, reg)

    # podman's REGISTRY_AUTH_FILE (username/password form) wins over the docker file
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {reg.host: {
        "auth": base64.b64encode(f"{reg.user}:wrong-{reg.password}".encode()).decode()}}}))
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {f"https://{reg.host}/v1/": {"username": reg.user, "password": reg.password}}}))
    out = tmp_path / "b" / "clf.safetensors"
    proc = project.wo("pull", f"oci://{target}:v1.0.0", "-o", str(out), env={**env, "REGISTRY_AUTH_FILE": str(authfile)})
    assert proc.returncode == 0 and sha256_of(out) == sha, proc.stderr

    # a wrong password: refused in one line that names the file, never the password
    proc = project.wo("-v", "pull", f"oci://{target}:v1.0.0", "-o", str(tmp_path / "c"), env=env)
    line = assert_one_line_error(proc, 1, "refused the credentials", "config.json")
    assert not _leaks(proc, reg) and f"wrong-{reg.password}" not in proc.stdout + proc.stderr + line
    assert not (tmp_path / "c").exists()

    # a credential helper named in credHelpers (docker-credential-NAME get, host on stdin)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-wotest"
    helper.write_text(f"#!/bin/sh\nread host\n[ \"$host\" = \"{reg.host}\" ] || exit 1\n"
                      f"printf '%s' '{{\"Username\": \"{reg.user}\", \"Secret\": \"{reg.password}\"}}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    (home / ".docker" / "config.json").write_text(json.dumps({"credHelpers": {reg.host: "wotest"}}))
    out = tmp_path / "d" / "clf.safetensors"
    proc = project.wo("-v", "pull", f"oci://{target}:v1.0.0", "-o", str(out),
                      env={**env, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"})
    assert proc.returncode == 0 and sha256_of(out) == sha, proc.stderr
    assert not _leaks(proc, reg)


def test_token_flow_against_distribution_token_auth(project, oci_token_registry, tmp_path):
    reg = oci_token_registry
    target = configure(project, reg, "tok/clf")
    project.dvc("push", "-q")
    at(project, T0, "release", "v1.0.0")
    sha = json.loads(project.wo("resolve", "v1.0.0", "--json", check=True).stdout)["sha256"]
    assert_one_line_error(project.wo("publish", "v1.0.0"), 1, "requires credentials")
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {reg.host: {
        "auth": base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()}}}))
    env = {"HOME": str(home)}
    proc = project.wo("-v", "publish", "v1.0.0", env=env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "t" / "clf.safetensors"
    pull = project.wo("-v", "pull", f"oci://{target}:v1.0.0", "-o", str(out), env=env)
    assert pull.returncode == 0 and sha256_of(out) == sha, pull.stderr
    granted = [r for r in reg.token.requests if r["authenticated"]]
    assert any("repository:tok/clf:pull,push" in r["scopes"] for r in granted)
    assert all(r["service"] == "weightops-test-registry" for r in granted)
    tokens = [reg.token.token(["x"]).split(".")[0]]   # every token starts with the same header
    for p in (proc, pull):
        assert not _leaks(p, reg) and not any(t in p.stdout + p.stderr for t in tokens)
