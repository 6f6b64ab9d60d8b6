"""Weight checks: NaN/Inf, all-zero and constant tensors, shapes against the signature, and
against another version: tensors added/removed/reshaped and drift of mean, std and L2 norm.

One streamed pass per file computes `TensorStats` for every tensor (bounded memory); the checks
are pure functions of those stats, and the result is a frozen `Report` that dumps to a
deterministic YAML document (no timestamps), so re-running a validation reproduces its digest.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


from weightops.core.config import ValidationSettings
from weightops.model.ensembles import grown_lists, grown_member, members_line, per_member, per_tree
from weightops.model.formats.base import TREE, ensemble_member
from weightops.model.signature import Signature, graph_differences
from weightops.model.stats import EPS, TensorStats

MAX_LISTED = 50  # offenders listed per check; the count is always exact


# ---------------------------------------------------------------- report
@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: its name, whether it passed, the offending tensor names (all of them;
    `to_dict` lists the first 50), per-tensor `figures`, a one-line `note`, and `warnings`, the
    tensors whose severity is `warn` (reported, not failing)."""
    name: str
    passed: bool
    offending: tuple[str, ...] = ()
    figures: dict = field(default_factory=dict, compare=False)
    note: str = ""
    warnings: tuple[str, ...] = ()   # findings whose severity is `warn`: reported, not failing

    def to_dict(self) -> dict:
        """The result as the report's YAML shows it: offenders capped at 50 with their exact count,
        figures, warnings and the note when present."""
        d = {"passed": self.passed, "offending": list(self.offending[:MAX_LISTED]),
             "offending_count": len(self.offending), "figures": self.figures}
        if self.warnings:
            d["warnings"] = list(self.warnings[:MAX_LISTED])
            d["warning_count"] = len(self.warnings)
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class Report:
    """A validation's outcome: the subject and what it was compared `against` (None for a single
    file), tensor and parameter counts, the checks' results, notes, and the checked file's sha256
    (hex), so two versions never share a digest."""
    subject: str
    against: str | None
    tensors: int
    parameters: int
    checks: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()
    sha256: str | None = None   # of the file checked: two versions never share a report digest

    @property
    def passed(self) -> bool:
        """Did every check pass (warnings do not fail)?"""
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The checks that failed, in the configured order."""
        return tuple(c for c in self.checks if not c.passed)

    def check(self, name: str) -> CheckResult | None:
        """The result of the check called `name` (`finite`, `drift`, ...), or None when it did not
        run."""
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict:
        """The report as a plain dict, deterministic (no timestamps): subject, sha256, against,
        passed, counts, one entry per check, notes."""
        return {"subject": self.subject, **({"sha256": self.sha256} if self.sha256 else {}),
                "against": self.against, "passed": self.passed,
                "tensors": self.tensors, "parameters": self.parameters,
                "checks": {c.name: c.to_dict() for c in self.checks},
                **({"notes": list(self.notes)} if self.notes else {})}

    def to_yaml(self) -> str:
        """`to_dict()` as a YAML document under a comment line; the bytes `digest` hashes."""
        from weightops.core.yamlio import dump_yaml

        return "# weightops validation report (`weightops validate`)\n" + dump_yaml(self.to_dict())

    def save(self, out: str | os.PathLike) -> Path:
        """Write `to_yaml()` to `out` atomically; the path written."""
        from weightops.core.atomic import atomic_write_text

        atomic_write_text(out, self.to_yaml())
        return Path(out)

    @property
    def digest(self) -> str:
        """`sha256:<hex>` of `to_yaml()`: what a card or promotion records, reproducible by
        re-running the validation."""
        return "sha256:" + hashlib.sha256(self.to_yaml().encode()).hexdigest()

    def summary(self) -> list[str]:
        """One screen: a line per check, offenders named, the verdict last."""
        head = f"validate {self.subject}" + (f" against {self.against}" if self.against else "")
        lines = [head, f"  {self.tensors} tensors, {self.parameters:,} parameters"]
        for c in self.checks:
            mark = "FAIL" if not c.passed else ("warn" if c.warnings else "ok  ")
            detail = c.note
            if c.warnings and c.passed:
                shown = ", ".join(c.warnings[:5]) + (f" (+{len(c.warnings) - 5} more)" if len(c.warnings) > 5 else "")
                detail = f"{shown}  [{c.note}; warning only: constants or severity: warn]"
            if c.offending:
                shown = ", ".join(c.offending[:5]) + (f" (+{len(c.offending) - 5} more)" if len(c.offending) > 5 else "")
                detail = f"{shown}" + (f"  [{c.note}]" if c.note else "")
            lines.append(f"  {mark} {c.name:<10} {detail}".rstrip())
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append("passed" if self.passed else f"FAILED: {', '.join(c.name for c in self.failed)}")
        return lines


def _num(x: float) -> float | str:
    """YAML/JSON-safe figure: rounded, infinities as strings."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return float(f"{x:.6g}")


# ---------------------------------------------------------------- checks (pure)
def _value_result(name: str, found: dict[str, dict], stats: dict[str, TensorStats], cfg: ValidationSettings,
                  what: str) -> CheckResult:
    """Split findings by severity: `fail` ones fail the check, `warn` ones are listed apart."""
    def level(n: str) -> str:
        s = stats[n]
        if name == "finite" and not s.nan and cfg.is_constant(s.name, s.role):
            return "warn" if cfg.level(name, s.name, s.role) != "off" else "off"  # -inf masks
        return cfg.level(name, s.name, s.role)
    fail = {n: f for n, f in found.items() if level(n) == "fail"}
    warn = tuple(n for n in found if level(n) == "warn")
    figures = dict(list(fail.items())[:MAX_LISTED]) or {n: found[n] for n in warn[:MAX_LISTED]}
    return CheckResult(name, not fail, tuple(fail), figures, what if found else "", warn)


def check_finite(stats: Iterable[TensorStats], cfg: ValidationSettings) -> CheckResult:
    """Tensors holding NaN or Inf values, unless ignored by `cfg`. A tensor configured as a constant
    with only Inf (an attention mask's -inf) is a warning, not a failure."""
    by = {s.name: s for s in stats}
    bad = {s.name: {"nan": s.nan, "inf": s.inf} for s in by.values() if (s.nan or s.inf) and not cfg.ignored(s.name)}
    return _value_result("finite", bad, by, cfg, "NaN or Inf values")


def _value_checked(s: TensorStats, cfg: ValidationSettings) -> bool:
    # Single values (a scalar bias, a step counter) and non-float buffers are legitimately constant.
    return s.decoded and s.is_float and s.count > 1 and not cfg.ignored(s.name) and not (s.nan or s.inf)


def check_all_zero(stats: Iterable[TensorStats], cfg: ValidationSettings) -> CheckResult:
    """Float tensors of more than one finite value that are all zero, unless ignored by `cfg`."""
    by = {s.name: s for s in stats}
    bad = {s.name: {"size": s.count} for s in by.values() if _value_checked(s, cfg) and s.zeros == s.count}
    return _value_result("all_zero", bad, by, cfg, "every value is zero")


def check_constant(stats: Iterable[TensorStats], cfg: ValidationSettings) -> CheckResult:
    """Float tensors of more than one finite value that all have one non-zero value, unless ignored
    by `cfg`."""
    by = {s.name: s for s in stats}
    bad = {s.name: {"value": _num(s.min), "size": s.count} for s in by.values()
           if _value_checked(s, cfg) and s.zeros != s.count and s.min == s.max}
    return _value_result("constant", bad, by, cfg, "every value is the same")


def _features(spec_shape: tuple[int, ...] | None, columns: int) -> int | None:
    if spec_shape is None:
        return columns
    if len(spec_shape) == 0:
        return 1
    return spec_shape[-1] if spec_shape[-1] != -1 else None


def check_signature(stats: dict[str, TensorStats], cfg: ValidationSettings, signature: Signature | None,
                    graph: Signature | None = None) -> CheckResult:
    """The card's signature against the file: an ONNX graph's declared inputs/outputs, and the
    configured first/last layer's sizes against the number of input features / outputs."""
    if signature is None:
        return CheckResult("signature", True, note="no signature in the card")
    problems: dict[str, str] = {}
    if graph is not None:
        for c in graph_differences(signature, graph):
            problems[c.field] = f"the graph differs from the card: {c.message}"
    for which, layer, specs, dim in (("input", cfg.first_layer, signature.inputs, -1),
                                     ("output", cfg.last_layer, signature.outputs, 0)):
        if not layer or not specs:
            continue
        s = stats.get(layer)
        if s is None:
            problems[layer] = f"configured {which} layer is not in the file"
            continue
        tensor_specs = [p for p in specs if p.kind == "tensor"]
        want = _features(tensor_specs[0].shape, 0) if len(tensor_specs) == 1 else \
            (len(specs) if not tensor_specs else None)
        if want is not None and s.shape and s.shape[dim] != want:
            problems[layer] = f"shape {list(s.shape)} does not take {want} {which} feature(s) from the signature"
    return CheckResult("signature", not problems, tuple(problems), problems,
                       "file does not match the card's signature" if problems else "")


def check_structure(new: dict[str, TensorStats], old: dict[str, TensorStats]) -> CheckResult:
    """Tensors `added`, `removed`, `reshaped` or with a changed `dtype` between `old` and `new`
    (stats keyed by tensor name); fails on any, with the exceptions a retrain makes routinely
    (see `formats.base.ensemble_member` and `model.ensembles`): ensemble members (scikit-learn's
    `estimators_` items, tree tables, the items of any fitted list that grew or shrank with them)
    added or removed, which the note names; a tree table reshaped (its length is what training
    found), and so is an array kept per tree beside them (`per_tree`); and a per-member array (AdaBoost's `estimator_weights_`, GradientBoosting's
    `train_score_`) whose first axis moved in step with its estimator's member count. A tensor
    present in both with another shape still fails otherwise."""
    figures: dict[str, dict] = {}
    came: dict[str, set[str]] = {"added": set(), "removed": set()}
    grown = grown_lists(old.keys(), new.keys())
    for change, names, side in (("removed", old.keys() - new.keys(), old), ("added", new.keys() - old.keys(), new)):
        for name in sorted(names):
            member = ensemble_member(name, side[name].role) or grown_member(name, grown)
            if member is not None:
                came[change].add(member)
            else:
                figures[name] = {"change": change, "shape": list(side[name].shape)}
    for name in sorted(old.keys() & new.keys()):
        a, b = old[name], new[name]
        if a.shape != b.shape and not (a.role == b.role == TREE) and not per_member(name, a.shape, b.shape, grown) \
                and not (len(a.shape) == len(b.shape) == 1 and per_tree(name, old, new)):
            figures[name] = {"change": "reshaped", "from": list(a.shape), "to": list(b.shape)}
        elif a.dtype != b.dtype:
            figures[name] = {"change": "dtype", "from": a.dtype, "to": b.dtype}
    kinds = sorted({f["change"] for f in figures.values()})
    members = [members_line(change, came[change]) for change in ("added", "removed") if came[change]]
    note = "; ".join([", ".join(kinds)] * bool(kinds) + members)
    return CheckResult("structure", not figures, tuple(figures), dict(list(figures.items())[:MAX_LISTED]), note)


# A tensor's mean, std and L2 are judged on their own only from this many values: between two
# independent draws of n values, the mean moves by about sqrt(2/n) of their RMS, so below 256
# values a retrain alone moves it by more than 0.09 RMS at one sigma and past 0.45 at five:
# noise, not a finding. Smaller tensors (a bias of one value, an 8-feature linear layer) are
# judged through the whole model's L2 instead (see `check_drift`).
MIN_STABLE = 256


def drift(a: TensorStats, b: TensorStats) -> dict[str, float]:
    """Changes relative to the old tensor's scale: |Δmean| and |Δstd| over its RMS, |ΔL2| over its L2."""
    scale = max(a.rms, EPS)
    return {"mean": abs(b.mean - a.mean) / scale, "std": abs(b.std - a.std) / scale,
            "l2": abs(b.l2 - a.l2) / max(a.l2, EPS)}


def _limit_figures(a: TensorStats, b: TensorStats, d: dict, keys, limits: dict) -> dict:
    return {k: {"old": _num(getattr(a, k)), "new": _num(getattr(b, k)), "drift": _num(d[k]), "limit": limits[k]}
            for k in keys}


def check_drift(new: dict[str, TensorStats], old: dict[str, TensorStats], cfg: ValidationSettings) -> CheckResult:
    """Drift between two versions (stats keyed by tensor name) of the tensors present in both
    with the same shape; undecoded, ignored and tree-table tensors and integer constants (a
    random state's words) are skipped, and so are tensors holding NaN/Inf on either side, which
    the note names as not judged (`finite` fails them; a drift figure of them would be meaningless).

    A tensor of at least MIN_STABLE values fails when its mean, std or L2 drift (see `drift`)
    passes `cfg.thresholds(name)`. A smaller tensor is never judged alone: its figures are
    noise. The whole model is the yardstick there: the L2 norm of every compared float tensor
    together, whose relative change is held to the `l2` limit; when it passes the limit, the
    tensors that changed that L2 most (at least half as much as the largest change) are named.
    The note names the largest drift."""
    figures: dict[str, dict] = {}
    worst: tuple[float, str] = (0.0, "")
    pooled: list[tuple[TensorStats, TensorStats]] = []
    nonfinite: list[str] = []
    compared = 0
    for name in sorted(old.keys() & new.keys()):
        a, b = old[name], new[name]
        if a.shape != b.shape or not (a.decoded and b.decoded) or cfg.ignored(name):
            continue
        if a.nan or b.nan or a.inf or b.inf:   # no scale to measure against; `finite` judges them
            nonfinite.append(name)
            continue
        if a.role == TREE:   # split thresholds and leaf values: in feature units, not a weight scale
            continue
        if not a.is_float and cfg.is_constant(name, a.role):   # a random state's words, a counter
            continue
        if a.is_float and b.is_float:
            pooled.append((a, b))
        d = drift(a, b)
        compared += 1
        if a.count < MIN_STABLE:
            continue
        limits = cfg.thresholds(name)
        over = [k for k, v in d.items() if v > limits[k]]
        worst = max(worst, (max(d.values()), name))
        if over:
            figures[name] = _limit_figures(a, b, d, over, limits)
    old_l2 = math.sqrt(sum(a.l2 ** 2 for a, _ in pooled))
    new_l2 = math.sqrt(sum(b.l2 ** 2 for _, b in pooled))
    whole = abs(new_l2 - old_l2) / max(old_l2, EPS) if pooled else 0.0
    limit = cfg.drift["l2"]
    if whole > limit:
        change = {b.name: abs(b.l2 ** 2 - a.l2 ** 2) for a, b in pooled}
        top = max(change.values())
        for name in sorted(n for n, c in change.items() if c >= top / 2 and n not in figures):
            a, b = old[name], new[name]
            figures[name] = {**_limit_figures(a, b, drift(a, b), ["l2"], cfg.thresholds(name)),
                             "model_l2": {"old": _num(old_l2), "new": _num(new_l2), "drift": _num(whole),
                                          "limit": limit}}
    worst = max(worst, (whole, "whole model L2"))
    note = f"largest drift {worst[0]:.3g} ({worst[1]})" if compared else ("" if nonfinite else "no common tensors")
    if nonfinite:
        shown = ", ".join(nonfinite[:5]) + (f" (+{len(nonfinite) - 5} more)" if len(nonfinite) > 5 else "")
        note = "; ".join(filter(None, (note, f"not judged: non-finite {shown}")))
    return CheckResult("drift", not figures, tuple(figures), dict(list(figures.items())[:MAX_LISTED]), note)


def run_checks(stats: dict[str, TensorStats], cfg: ValidationSettings, *, subject: str,
               signature: Signature | None = None, graph: Signature | None = None,
               against: dict[str, TensorStats] | None = None, against_name: str | None = None,
               notes: tuple[str, ...] = (), sha256: str | None = None) -> Report:
    """Run the checks `cfg.checks` names, in that order, over `stats` (keyed by tensor name) and
    return a Report. `signature`/`graph` feed the signature check; `structure` and `drift` run only
    with `against` (the other version's stats, shown as `against_name`). Undecoded dtypes add a
    note. Pure: raises nothing."""
    values = list(stats.values())
    undecoded = sorted({s.dtype for s in values if not s.decoded})
    if undecoded:
        count = sum(1 for s in values if not s.decoded)
        notes = (*notes, (f"{count} tensor(s) present, not decoded ({', '.join(undecoded)}): "
                          "shape and size checked, values not"))
    results = []
    for name in cfg.checks:
        if name == "finite":
            results.append(check_finite(values, cfg))
        elif name == "all_zero":
            results.append(check_all_zero(values, cfg))
        elif name == "constant":
            results.append(check_constant(values, cfg))
        elif name == "signature":
            results.append(check_signature(stats, cfg, signature, graph))
        elif against is not None and name == "structure":
            results.append(check_structure(stats, against))
        elif against is not None and name == "drift":
            results.append(check_drift(stats, against, cfg))
    return Report(subject, against_name if against is not None else None, len(values),
                  sum(s.count for s in values), tuple(results), tuple(notes), sha256)
