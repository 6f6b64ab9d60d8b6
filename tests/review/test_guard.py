"""`weightops guard`: weight files never reach git, whatever they are called."""

import io
import os
import pickle
import zipfile

import numpy as np
import yaml
from safetensors.numpy import save_file

from helpers import ROOT, assert_one_line_error
from weightops.review.guard import sniff


def assert_passes(proc) -> None:
    """The guard lets the commit through: exit 0 and not a word (pre-commit shows nothing)."""
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), proc.stdout + proc.stderr


def test_guard_catches_safetensors_added_straight_to_git(project):
    extra = project.root / "models" / "extra.safetensors"
    save_file({"w": np.ones((4, 4), dtype=np.float32)}, str(extra))
    project.git("add", "-f", "models/extra.safetensors")  # past the .gitignore, as people do
    proc = project.wo("guard")  # no paths: the staged files
    assert_one_line_error(proc, 5, "1 of 1 staged file(s) belong in DVC")
    assert "models/extra.safetensors is a safetensors weight file (extension)" in proc.stdout
    assert "git rm --cached models/extra.safetensors && dvc add models/extra.safetensors" in proc.stdout
    # following the advice makes the guard pass
    project.git("rm", "-q", "--cached", "models/extra.safetensors")
    project.dvc("add", "-q", "models/extra.safetensors")
    project.git("add", "models/extra.safetensors.dvc")
    assert_passes(project.wo("guard"))


def test_guard_catches_renamed_weight_file_by_magic_bytes(project):
    data = project.root / "data"
    data.mkdir()
    (data / "lookup.dat").write_bytes(project.weights.read_bytes())  # safetensors, renamed
    (data / "table.txt").write_bytes(pickle.dumps({"w": [1.0] * 10}, protocol=4))
    (data / "notes.txt").write_text("plain notes\n")
    project.git("add", "data")
    proc = project.wo("guard")
    assert_one_line_error(proc, 5, "2 of 3 staged file(s)")
    assert "data/lookup.dat is a safetensors weight file (by its content" in proc.stdout
    assert "data/table.txt is a pickle weight file (by its content" in proc.stdout
    assert "notes.txt" not in proc.stdout
    # as pre-commit calls it: with file names, from the repo root
    named = project.wo("guard", "data/notes.txt", "data/lookup.dat")
    assert_one_line_error(named, 5, "1 of 2")


def test_guard_size_threshold_and_config(project):
    big = project.root / "corpus.csv"
    big.write_bytes(b"a,b\n" * (6 * 1024 * 1024 // 4 + 10))  # text, but 6 MB
    project.git("add", "corpus.csv")
    proc = project.wo("guard")
    assert_one_line_error(proc, 5)
    assert "corpus.csv is 6291496 bytes, over the 5242880 byte limit" in proc.stdout
    assert_passes(project.wo("guard", "--max-size", "10MB"))
    assert_one_line_error(project.wo("guard", "--max-size", "6MB"), 5)   # 6291496 bytes, 40 over 6 MiB
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text() + "guard:\n  max_size: 8MB\n")
    assert_passes(project.wo("guard"))
    cfg.write_text(cfg.read_text().replace("max_size: 8MB", "max_size: 1MB"))
    assert "over the 1048576 byte limit" in project.wo("guard").stdout    # the config is read
    cfg.write_text(cfg.read_text().replace("max_size: 1MB", "max_size: 1MB\n  allow: ['*.csv']"))
    assert_passes(project.wo("guard"))
    assert_one_line_error(project.wo("guard", "--max-size", "lots"), 2, "lots")


def test_guard_passes_an_ordinary_commit(project):
    (project.root / "README.md").write_text("hello\n")
    (project.root / "src" / "util.py").write_text("X = 1\n")
    project.git("add", "README.md", "src/util.py")
    assert_passes(project.wo("guard"))


def _zip(names):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            z.writestr(n, b"\x80\x02}q\x00." if n.endswith(".pkl") else b"x")
    return buf.getvalue()


def test_sniff_formats():
    def fmt(data):
        return sniff(data[:4096], len(data), opener=lambda: io.BytesIO(data))

    assert fmt(_zip(["archive/data.pkl", "archive/data/0", "archive/version"])) == "PyTorch (zip)"
    assert fmt(_zip(["resnet/data.pkl", "resnet/data/0"])) == "PyTorch (zip)"
    assert fmt(_zip(["README.md", "src/a.py"])) is None  # an ordinary zip is not weights
    assert fmt(b"\x89HDF\r\n\x1a\n" + b"\0" * 100) == "HDF5"
    assert fmt(b"GGUF\x03\0\0\0" + b"\0" * 100) == "GGUF"
    # ONNX ModelProto: ir_version (field 1) = 8, then producer_name (field 2)
    assert fmt(b"\x08\x08\x12\x07pytorch\x1a\x052.1.0" + b"\0" * 50) == "ONNX"
    assert fmt(pickle.dumps([1, 2, 3], protocol=2)) == "pickle"
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    assert fmt(buf.getvalue()) == "NumPy"
    for harmless in (b"hello world\n", b'{"a": 1}', b"\x89PNG\r\n\x1a\n" + b"\0" * 50, b"", b"12345678{"):
        assert fmt(harmless) is None, harmless


def test_pre_commit_hook_definition_runs_guard():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    [hook] = hooks
    assert hook["id"] == "weightops-guard" and hook["language"] == "python"
    assert hook["entry"] == "weightops guard" and hook["pass_filenames"] is True
    # `language: python` installs this repository, which must provide the entry's script
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'weightops = "weightops.cli:main"' in pyproject


def test_guard_advises_what_dvc_accepts_for_a_stage_output(project):
    # models/clf.safetensors is the `train` stage's output: `dvc add` refuses it, so guard must not advise it
    project.git("add", "-f", "models/clf.safetensors")
    proc = project.wo("guard")
    assert_one_line_error(proc, 5, "belong in DVC")
    assert "output of stage 'train'" in proc.stdout and "dvc add" not in proc.stdout
    assert project.dvc("add", "-q", "models/clf.safetensors", check=False).returncode != 0   # what DVC says to `dvc add`
    advice = proc.stdout.split(": ", 1)[1].split(" (")[0].strip()
    assert advice == "git rm --cached models/clf.safetensors && dvc commit train && dvc push"
    project.git("rm", "-q", "--cached", "models/clf.safetensors")
    assert project.dvc("commit", "-q", "-f", "train", check=False).returncode == 0
    assert project.wo("guard").returncode == 0


def test_guard_of_a_missing_path_is_not_found(project):
    assert_one_line_error(project.wo("guard", "nonexistent.txt"), 3, "nonexistent.txt", "does not exist")


def test_guard_judges_the_staged_blob_not_the_work_tree(project):
    data = project.root / "data"
    data.mkdir()
    lookup = data / "lookup.dat"
    lookup.write_bytes(project.weights.read_bytes())      # safetensors under another name
    project.git("add", "data/lookup.dat")
    lookup.write_text("just a table now\n")               # edited after staging: the commit stores the weights
    proc = project.wo("guard")
    assert_one_line_error(proc, 5, "1 of 1")
    assert "data/lookup.dat is a safetensors weight file (by its content" in proc.stdout
    assert_one_line_error(project.wo("guard", "data/lookup.dat"), 5, "1 of 1")   # as pre-commit passes it
    # The other way round: text staged, weights only in the work tree; the commit stores text.
    notes = data / "notes.txt"
    notes.write_text("plain notes\n")
    project.git("add", "data/notes.txt")
    project.git("reset", "-q", "--", "data/lookup.dat")
    notes.write_bytes(project.weights.read_bytes())
    ok = project.wo("guard")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_guard_passes_large_files_git_lfs_tracks(project):
    import subprocess

    if subprocess.run(["git", "lfs", "version"], capture_output=True, check=False).returncode != 0:
        from needs import missing
        missing("git-lfs", "git's large file storage, whose pointers guard must recognise")
    project.git("lfs", "install", "--local")
    (project.root / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n"
                                                 "*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    big = project.root / "corpus.parquet"
    big.write_bytes(os.urandom(6 * 1024 * 1024))          # over the 5 MB limit on disk
    extra = project.root / "models" / "extra.safetensors"
    save_file({"w": np.ones((4, 4), dtype=np.float32)}, str(extra))
    project.git("add", ".gitattributes", "corpus.parquet")
    project.git("add", "-f", "models/extra.safetensors")
    # git stores a pointer of ~130 bytes for each: nothing heavy reaches git's history.
    pointer = project.git("cat-file", "-p", ":corpus.parquet")
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1")
    proc = project.wo("guard")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The same file without LFS is refused for its size.
    (project.root / ".gitattributes").write_text("")
    project.git("reset", "-q", "--", "corpus.parquet")
    project.git("add", ".gitattributes", "corpus.parquet")
    assert "corpus.parquet is 6291456 bytes, over the 5242880 byte limit" in project.wo("guard").stdout


def test_lfs_pointer_recognition():
    from weightops.review.guard import lfs_pointer

    oid = "a" * 64
    good = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 6291456\n".encode()
    assert lfs_pointer(good)
    assert not lfs_pointer(good.replace(b"sha256:", b"md5:"))
    assert not lfs_pointer(good.replace(b"size 6291456", b"size lots"))
    assert not lfs_pointer(b"version https://example.com/spec/v1\n" + good.split(b"\n", 1)[1])
    assert not lfs_pointer(good + b"x" * 1024)   # a pointer is under 1024 bytes


def test_onnx_external_data_is_a_weight_file(project):
    (project.root / "models" / "m.onnx.data").write_bytes(b"\0" * 64)
    project.git("add", "-f", "models/m.onnx.data")
    proc = project.wo("guard")
    assert_one_line_error(proc, 5, "1 of 1")
    assert "models/m.onnx.data is an ONNX external data weight file (extension)" in proc.stdout
