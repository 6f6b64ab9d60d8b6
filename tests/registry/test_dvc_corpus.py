"""A corpus of DVC repositories built by DVC's own commands (and, for DVC 2, files written as
DVC 2 wrote them), each with a model artifact. For every one, `weightops pull` delivers the
same bytes as `dvc artifacts get`, and `weightops resolve` names the object `dvc.api.get_url`
names. Layouts weightops does not serve are refused with the reason (README: divergences)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import assert_one_line_error, run_cli


def sh(cwd, *args, env=None):
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def dvc(cwd, *args):
    return sh(cwd, sys.executable, "-m", "dvc", *args)


def weights(path: Path, seed: int, text: bool = False) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    if text:   # a text "model" with CRLF lines: DVC 2 hashed such files after CRLF -> LF
        data = "".join(f"token{i}\t{(i * seed) % 97}\r\n" for i in range(400)).encode()
    else:
        data = hashlib.sha256(str(seed).encode()).digest() * 2048 + b"\x00\x01"
    path.write_bytes(data)
    return data


def declare(dvcyaml: Path, name: str, path: str) -> None:
    text = dvcyaml.read_text() if dvcyaml.exists() else ""
    dvcyaml.write_text(text + f"artifacts:\n  {name}:\n    path: {path}\n    type: model\n")


def card(repo_root: Path, weights_path: Path, model: str) -> None:
    out = weights_path.with_name(weights_path.stem + ".card.yaml")
    run_cli(["card", str(weights_path), "-o", str(out), "--model", model], cwd=repo_root, check=True)


def commit_and_tag(root: Path, tag: str) -> None:
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "model")
    sh(root, "git", "tag", "-a", tag, "-m", f"release {tag}")


def new_repo(tmp_path: Path, name: str) -> tuple[Path, Path]:
    root, remote = tmp_path / name, tmp_path / f"{name}-remote"
    root.mkdir()
    remote.mkdir()
    sh(root, "git", "init", "-q", "-b", "main")
    return root, remote


def dvc_get(repo: Path, model: str, version: str, out: Path) -> bytes:
    dvc(repo.parent, "artifacts", "get", str(repo), model, "--rev", version, "-o", str(out))
    return out.read_bytes()


def check_same(root: Path, model: str, version: str, tmp_path: Path, data: bytes, dvc_path: str,
               dvc_repo: Path | None = None) -> dict:
    """weightops pull == dvc artifacts get == the bytes; resolve's url == dvc.api.get_url."""
    ours = tmp_path / f"wo-{model.replace(':', '_')}.bin"
    proc = run_cli(["pull", version, "--model", model, "-o", str(ours)], cwd=root)
    assert proc.returncode == 0, proc.stderr
    theirs = dvc_get(root, model, version, tmp_path / f"dvc-{model.replace(':', '_')}.bin")
    assert ours.read_bytes() == theirs == data
    resolved = json.loads(run_cli(["resolve", version, "--model", model, "--json"], cwd=root, check=True).stdout)
    url = sh(dvc_repo or root, sys.executable, "-c",
             f"import dvc.api; print(dvc.api.get_url({dvc_path!r}, rev={resolved['tag']!r}))").strip()
    assert resolved["url"] == url
    assert resolved["sha256"] == hashlib.sha256(data).hexdigest()
    return resolved


def test_dvc_add_at_the_top(tmp_path):
    root, remote = new_repo(tmp_path, "plain")
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    data = weights(root / "models" / "m.bin", 1)
    dvc(root, "add", "-q", "models/m.bin")
    declare(root / "dvc.yaml", "m", "models/m.bin")
    card(root, root / "models" / "m.bin", "m")
    dvc(root, "push", "-q")
    commit_and_tag(root, "m@v1.0.0")
    check_same(root, "m", "v1.0.0", tmp_path, data, "models/m.bin")


def test_dvc_project_in_a_subfolder_of_a_monorepo(tmp_path):
    """`dvc init --subdir`: the remote is in sub/.dvc/config, the model is `sub:m` (git-root
    relative, as DVC and GTO name it), and `sub/dvc.yaml:m` is the same model."""
    top, remote = new_repo(tmp_path, "mono")
    (top / "README").write_text("monorepo\n")
    sub = top / "ml"
    sub.mkdir()
    dvc(sub, "init", "-q", "--subdir")
    dvc(sub, "remote", "add", "-d", "store", str(remote))
    data = weights(sub / "models" / "m.bin", 2)
    dvc(sub, "add", "-q", "models/m.bin")
    declare(sub / "dvc.yaml", "m", "models/m.bin")
    card(top, sub / "models" / "m.bin", "ml:m")
    dvc(sub, "push", "-q")
    commit_and_tag(top, "ml=m@v1.0.0")
    resolved = check_same(top, "ml:m", "v1.0.0", tmp_path, data, "ml/models/m.bin")
    assert resolved["path"] == "ml/models/m.bin" and resolved["remote"] == "store"
    assert json.loads(run_cli(["resolve", "v1.0.0", "--model", "ml/dvc.yaml:m", "--json"], cwd=top,
                              check=True).stdout)["model"] == "ml:m"
    # release works there too: it reads ml/.dvc/config and checks the object in that remote
    sh(top, "git", "commit", "-q", "--allow-empty", "-m", "next")
    assert run_cli(["release", "v1.1.0", "--model", "ml:m"], cwd=top).returncode == 0
    # and audit checks the objects in that remote
    audit = run_cli(["audit", "--json", "--offline"], cwd=top)
    assert audit.returncode == 0, audit.stdout
    assert json.loads(audit.stdout)["versions"] == 2


def test_dot_dvc_file_with_several_outputs(tmp_path):
    root, remote = new_repo(tmp_path, "multi")
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    data = weights(root / "models" / "m.bin", 3)
    weights(root / "models" / "extra.bin", 4)
    dvc(root, "add", "-q", "models/m.bin", "models/extra.bin")
    # one .dvc file tracking both outputs (DVC reads it as it reads its own)
    outs = [(root / "models" / f"{n}.dvc").read_text().split("outs:\n", 1)[1] for n in ("m.bin", "extra.bin")]
    (root / "models" / "bundle.dvc").write_text("outs:\n" + "".join(outs))
    for n in ("m.bin", "extra.bin"):
        (root / "models" / f"{n}.dvc").unlink()
    declare(root / "dvc.yaml", "m", "models/m.bin")
    card(root, root / "models" / "m.bin", "m")
    dvc(root, "push", "-q")
    commit_and_tag(root, "m@v1.0.0")
    resolved = check_same(root, "m", "v1.0.0", tmp_path, data, "models/m.bin")
    assert resolved["md5"] == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("text", [False, True], ids=["binary", "crlf-text"])
def test_dvc2_dot_dvc_file(tmp_path, text):
    """A `.dvc` file as DVC 2 wrote it (md5 without `hash: md5`; a text file's md5 taken after
    CRLF -> LF), its object where DVC 2 pushed it (the remote's top level, no files/md5/)."""
    from dvc_data.hashfile.hash import file_md5
    from dvc_objects.fs.local import LocalFileSystem

    root, remote = new_repo(tmp_path, "dvc2" + ("-text" if text else ""))
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    path = root / "models" / "m.bin"
    data = weights(path, 5, text=text)
    md5 = file_md5(str(path), LocalFileSystem(), name="md5-dos2unix")  # DVC's own DVC 2 rule
    assert (md5 != hashlib.md5(data).hexdigest()) == text
    (root / "models" / "m.bin.dvc").write_text(f"outs:\n- md5: {md5}\n  size: {len(data)}\n  path: m.bin\n")
    (root / "models" / ".gitignore").write_text("/m.bin\n")
    (remote / md5[:2]).mkdir()
    (remote / md5[:2] / md5[2:]).write_bytes(data)
    declare(root / "dvc.yaml", "m", "models/m.bin")
    card(root, path, "m")
    commit_and_tag(root, "m@v1.0.0")
    resolved = check_same(root, "m", "v1.0.0", tmp_path, data, "models/m.bin")
    assert resolved["md5"] == md5 and resolved["url"] == f"{remote}/{md5[:2]}/{md5[2:]}"
    # release verifies the bytes against the DVC 2 md5 by DVC 2's rule
    sh(root, "git", "commit", "-q", "--allow-empty", "-m", "next")
    proc = run_cli(["release", "v1.1.0", "--model", "m"], cwd=root)
    assert proc.returncode == 0, proc.stderr


def test_dvc2_lock_entry(tmp_path):
    """A pipeline output in a dvc.lock as DVC 2 wrote it (schema 2.0, md5 without `hash`)."""
    root, remote = new_repo(tmp_path, "dvc2lock")
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    path = root / "models" / "m.bin"
    data = weights(path, 6)
    md5 = hashlib.md5(data).hexdigest()
    (root / "dvc.yaml").write_text("stages:\n  train:\n    cmd: python -c pass\n    outs:\n    - models/m.bin\n")
    (root / "dvc.lock").write_text(f"schema: '2.0'\nstages:\n  train:\n    cmd: python -c pass\n    outs:\n"
                                   f"    - path: models/m.bin\n      md5: {md5}\n      size: {len(data)}\n")
    (root / "models" / ".gitignore").write_text("/m.bin\n")
    (remote / md5[:2]).mkdir()
    (remote / md5[:2] / md5[2:]).write_bytes(data)
    declare(root / "dvc.yaml", "m", "models/m.bin")
    card(root, path, "m")
    commit_and_tag(root, "m@v1.0.0")
    check_same(root, "m", "v1.0.0", tmp_path, data, "models/m.bin")


def test_uncached_output_is_refused_with_the_reason(tmp_path):
    """`cache: false`: DVC keeps the bytes in git; `dvc artifacts get` reads them from git,
    weightops refuses (a documented divergence), saying why instead of "run dvc push"."""
    root, remote = new_repo(tmp_path, "nocache")
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    (root / "make.py").write_text("import hashlib, pathlib\npathlib.Path('models').mkdir(exist_ok=True)\n"
                                  "pathlib.Path('models/m.bin').write_bytes(hashlib.sha256(b'7').digest() * 64)\n")
    (root / "dvc.yaml").write_text("stages:\n  train:\n    cmd: python make.py\n    deps: [make.py]\n"
                                   "    outs:\n    - models/m.bin:\n        cache: false\n")
    dvc(root, "repro", "-q")
    declare(root / "dvc.yaml", "m", "models/m.bin")
    card(root, root / "models" / "m.bin", "m")
    commit_and_tag(root, "m@v1.0.0")
    data = (root / "models" / "m.bin").read_bytes()
    assert dvc_get(root, "m", "v1.0.0", tmp_path / "dvc.bin") == data
    line = assert_one_line_error(run_cli(["resolve", "v1.0.0", "--model", "m"], cwd=root), 5, "cache: false")
    assert "not cached by DVC" in line and "dvc push" not in line.split(":", 1)[0]
    assert_one_line_error(run_cli(["pull", "v1.0.0", "--model", "m", "-o", str(tmp_path / "x")], cwd=root),
                          5, "not cached by DVC")


def test_import_url_output_is_served_from_this_remote(tmp_path):
    root, remote = new_repo(tmp_path, "importurl")
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    source = tmp_path / "elsewhere" / "m.bin"
    data = weights(source, 8)
    (root / "models").mkdir()
    dvc(root, "import-url", "-q", str(source), "models/m.bin")
    declare(root / "dvc.yaml", "m", "models/m.bin")
    card(root, root / "models" / "m.bin", "m")
    dvc(root, "push", "-q")
    commit_and_tag(root, "m@v1.0.0")
    check_same(root, "m", "v1.0.0", tmp_path, data, "models/m.bin")


def test_repo_import_is_refused_naming_its_source(tmp_path):
    src, src_remote = new_repo(tmp_path, "source")
    dvc(src, "init", "-q")
    dvc(src, "remote", "add", "-d", "store", str(src_remote))
    weights(src / "models" / "m.bin", 9)
    dvc(src, "add", "-q", "models/m.bin")
    dvc(src, "push", "-q")
    sh(src, "git", "add", "-A")
    sh(src, "git", "commit", "-qm", "source model")
    root, remote = new_repo(tmp_path, "importer")
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    (root / "models").mkdir()
    dvc(root, "import", "-q", str(src), "models/m.bin", "-o", "models/m.bin")
    declare(root / "dvc.yaml", "m", "models/m.bin")
    card(root, root / "models" / "m.bin", "m")
    commit_and_tag(root, "m@v1.0.0")
    assert_one_line_error(run_cli(["resolve", "v1.0.0", "--model", "m"], cwd=root), 5, "dvc import", str(src))


def test_dvc2_directory_output_with_a_crlf_text_file(tmp_path):
    """A directory as DVC 2 tracked it: its `.dir` listing holds each file's md5 by DVC 2's rule
    (a text file's after CRLF -> LF), objects at the remote's top level."""
    from dvc_data.hashfile.hash import file_md5
    from dvc_objects.fs.local import LocalFileSystem

    root, remote = new_repo(tmp_path, "dvc2dir")
    dvc(root, "init", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    folder = root / "models" / "tok"
    files = {"vocab.txt": weights(folder / "vocab.txt", 6, text=True), "w.bin": weights(folder / "w.bin", 7)}
    entries = []
    for rel, data in sorted(files.items()):
        md5 = file_md5(str(folder / rel), LocalFileSystem(), name="md5-dos2unix")
        entries.append({"md5": md5, "relpath": rel})
        (remote / md5[:2]).mkdir(exist_ok=True)
        (remote / md5[:2] / md5[2:]).write_bytes(data)
    listing = json.dumps(entries, sort_keys=True).encode()
    dir_md5 = hashlib.md5(listing).hexdigest() + ".dir"
    (remote / dir_md5[:2]).mkdir(exist_ok=True)
    (remote / dir_md5[:2] / dir_md5[2:]).write_bytes(listing)
    (root / "models" / "tok.dvc").write_text(
        f"outs:\n- md5: {dir_md5}\n  size: {sum(map(len, files.values()))}\n  nfiles: 2\n  path: tok\n")
    (root / "models" / ".gitignore").write_text("/tok\n")
    declare(root / "dvc.yaml", "tok", "models/tok")
    card(root, folder, "tok")
    commit_and_tag(root, "tok@v1.0.0")
    ours = tmp_path / "ours"
    proc = run_cli(["pull", "v1.0.0", "--model", "tok", "-o", str(ours)], cwd=root)
    assert proc.returncode == 0, proc.stderr
    theirs = tmp_path / "theirs"
    dvc(root.parent, "artifacts", "get", str(root), "tok", "--rev", "v1.0.0", "-o", str(theirs))
    for rel, data in files.items():
        assert (ours / rel).read_bytes() == (theirs / rel).read_bytes() == data
    # a text file altered in the remote (same size) is still caught
    md5 = entries[0]["md5"]
    bad = bytearray(files["vocab.txt"])
    bad[0] ^= 1
    (remote / md5[:2] / md5[2:]).write_bytes(bytes(bad))
    again = run_cli(["pull", "v1.0.0", "--model", "tok", "-o", str(tmp_path / "again")], cwd=root)
    assert again.returncode == 4, again.stderr
    assert not (tmp_path / "again").exists()
