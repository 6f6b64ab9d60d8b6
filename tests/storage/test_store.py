"""The storage interface's edges: backends chosen by URL scheme, a missing DVC plugin named
with the pip command that adds it, refused credentials naming the remote (exit 1), and
credentials never written by weightops."""

from __future__ import annotations

import hashlib
import sys

import pytest

from helpers import assert_one_line_error


def test_backends_are_chosen_by_url_scheme(tmp_path):
    from weightops.errors import UsageError
    from weightops.storage.pointers import Remote
    from weightops.storage.backends import open_store
    from weightops.storage.store import LocalStore

    assert isinstance(open_store(None, Remote("l", str(tmp_path))), LocalStore)
    assert type(open_store(None, Remote("s", "s3://b/p"))).__name__ == "S3Store"
    with pytest.raises(UsageError, match="webdav"):
        open_store(None, Remote("w", "webdav://host/path"))


def test_a_missing_dvc_plugin_is_exit_2_naming_the_pip_install(project, tmp_path):
    """Run as if dvc-gs were not installed: a directory first on PYTHONPATH whose `dvc_gs`
    cannot be imported, exactly what Python reports for an absent package."""
    shadow = tmp_path / "shadow" / "dvc_gs"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'dvc_gs'\")\n")
    project.dvc("remote", "add", "-d", "-f", "cloud", "gs://bucket/store")
    project.git("commit", "-qam", "gs remote")
    project.dvc("push", "-q", "-r", "storage")
    project.release("v1.0.0", "--remote", "storage", push=False)
    import os
    from helpers import ROOT
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'shadow'}{os.pathsep}{ROOT}")
    import subprocess
    proc = subprocess.run([sys.executable, "-m", "weightops", "pull", "v1.0.0", "-o", str(tmp_path / "w")],
                          cwd=project.root, env=env, capture_output=True, text=True)
    assert_one_line_error(proc, 2, 'pip install "weightops[gs]"', "'cloud'")
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("kind", ["azure", "ssh"])
def test_refused_credentials_are_exit_1_naming_the_remote_and_nothing_is_written(project, backend_of, kind, tmp_path):
    backend = backend_of(kind)
    backend.configure(project)
    backend.publish(project)
    project.release("v1.0.0", push=False)
    local = project.root / ".dvc" / "config.local"
    if kind == "azure":
        wrong = backend.secrets["connection_string"].replace("AccountKey=Eby8", "AccountKey=AAAA")
        project.dvc("remote", "modify", "--local", "cloud", "connection_string", wrong)
    else:
        other = tmp_path / "other_key"
        import subprocess
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        project.dvc("remote", "modify", "--local", "cloud", "keyfile", str(other))
    before = local.read_text()
    out = tmp_path / "w"
    proc = project.wo("pull", "v1.0.0", "-o", str(out), env={"WEIGHTOPS_RETRIES": "1"})
    assert_one_line_error(proc, 1, "'cloud'", "refused the credentials")
    assert not out.exists()
    assert local.read_text() == before                        # weightops wrote no credential anywhere
    secret = (wrong if kind == "azure" else str(other))
    assert secret not in proc.stdout + proc.stderr


def test_md5_is_computed_only_when_there_is_no_sha256_or_when_asked(tmp_path):
    from weightops.storage.hashing import MultiHasher

    data = b"x" * 200_000
    with MultiHasher(md5=False) as h:
        h.update(data)
        d = h.finish()
    assert d.md5 is None and d.sha256 == hashlib.sha256(data).hexdigest()
    with MultiHasher() as h:
        h.update(data)
        assert h.finish().md5 == hashlib.md5(data).hexdigest()
