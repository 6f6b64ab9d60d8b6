"""Many pulls of one version into one destination, and a disk that fills up during a pull."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import ROOT, assert_one_line_error
from needs import missing
from reliability.faults import temp_files


def test_twenty_concurrent_pulls_into_one_destination(big_s3, tmp_path):
    dest = tmp_path / "srv"
    dest.mkdir()
    out = dest / "model.safetensors"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "weightops", "pull", "v1.0.0", "-o", str(out)],
                              cwd=big_s3.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(20)]
    results = [(p.wait(timeout=240), p.stderr.read()) for p in procs]
    assert [code for code, _ in results] == [0] * 20, [err for code, err in results if code]
    assert sorted(os.listdir(dest)) == ["model.safetensors"], "one file, no temp files left"
    assert out.read_bytes() == big_s3.data


def _tmpfs(path, size: str) -> bool:
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return proc.returncode == 0


def test_a_disk_that_fills_up_during_pull(big_s3, tmp_path):
    small = tmp_path / "small"
    if not _tmpfs(small, "2m"):      # the RLIMIT_FSIZE test below covers the limit without a mount
        missing("a tmpfs mount", "a really full disk; needs root or CAP_SYS_ADMIN")
    try:
        out = small / "model.safetensors"
        proc = big_s3.wo("pull", "v1.0.0", "-o", str(out))
        assert_one_line_error(proc, 1, "No space left", str(out), "nothing was written")
        assert os.listdir(small) == [], "nothing left behind on the full disk"
        (small / "keep.txt").write_text("still writable")    # the space was given back
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_a_size_limited_write_during_pull(big_s3, tmp_path):
    # RLIMIT_FSIZE in the child: writes past 1 MiB fail with EFBIG (Python ignores SIGXFSZ).
    out = tmp_path / "model.safetensors"
    code = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)); "
            f"sys.argv = ['weightops', 'pull', 'v1.0.0', '-o', {str(out)!r}]; "
            "runpy.run_module('weightops', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=big_s3.root, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert_one_line_error(proc, 1, "too large", str(out), "nothing was written")
    assert not out.exists() and temp_files(tmp_path) == []
