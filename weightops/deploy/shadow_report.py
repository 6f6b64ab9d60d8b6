"""Shadow log -> report and verdict; and the promotion gate that requires a passing one.

Pure over the log's lines (plus reading the file). Thresholds come from the `shadow:` section
of weightops.yaml, on top of core/config.py's SHADOW_DEFAULTS. The report's digest (sha256 of
its canonical JSON, which includes the log's own sha256) is what a promotion records in its tag message.
"""

from __future__ import annotations

import hashlib
import json
import math
import os

from weightops.core.jsonl import read_jsonl
from weightops.errors import NotFoundError, RefusedError, UsageError


def thresholds(section: dict | None) -> dict:
    """SHADOW_DEFAULTS overridden by a `shadow:` mapping, checked against weightops.yaml's schema
    (UsageError, exit 2, for an unknown key or a value that is not a number)."""
    from weightops.core.config import settings_from_doc

    return dict(settings_from_doc({"shadow": section or {}}).shadow)


def quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile (no interpolation: the answer is an observed value)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _quantiles(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"p50": quantile(values, 0.50), "p95": quantile(values, 0.95), "p99": quantile(values, 0.99),
            "max": max(values)}


def read_log(path: str | os.PathLike) -> tuple[list[dict], str]:
    """Records of a shadow log (dicts of type `call` or `dropped`) and the sha256 (hex) of its
    bytes. A torn last line (a crash mid-write) is ignored. NotFoundError (3) when the log is
    missing; UsageError (2) for any other line that is not a record, naming it."""
    entries, data = read_jsonl(path, f"shadow log '{path}'")
    records = []
    for n, rec in entries:
        if not isinstance(rec, dict) or rec.get("type") not in ("call", "dropped"):
            raise UsageError(f"shadow log '{path}' line {n} is not a shadow record (type call or dropped)")
        records.append(rec)
    return records, hashlib.sha256(data).hexdigest()


def build_report(records: list[dict], limits: dict, *, log: str = "", log_sha256: str = "") -> dict:
    """The report of shadow-log `records` against `limits` (thresholds as `thresholds` returns
    them): call, drop and error counts and rates, agreement, difference and latency quantiles
    (milliseconds), `verdict` (pass/fail), `reasons`, and `digest`, the sha256 of the report's
    canonical JSON. `log` and `log_sha256` are recorded as given. Pure; raises nothing for
    well-formed records."""
    calls = [r for r in records if r["type"] == "call"]
    dropped = sum(int(r.get("count") or 0) for r in records if r["type"] == "dropped")
    errors = [r for r in calls if r.get("error")]
    ok = [r for r in calls if not r.get("error")]
    tol = float(limits.get("tolerance") or 0.0)
    agreeing = sum(1 for r in ok if r.get("agree") or (r.get("diff") is not None and r["diff"] <= tol))
    diffs = [float(r["diff"]) for r in ok if r.get("diff") is not None]
    offered = len(calls) + dropped
    report = {
        "log": str(log),
        "log_sha256": log_sha256,
        "model": _one(r.get("model") for r in records),
        "primary_version": _one(r.get("primary_version") for r in records),
        "candidate_version": _one(r.get("candidate_version") for r in records),
        "primary_versions": sorted({str(r.get("primary_version")) for r in records}),
        "candidate_versions": sorted({str(r.get("candidate_version")) for r in records}),
        "calls": len(calls),
        "dropped": dropped,
        "drop_rate": dropped / offered if offered else 0.0,
        "errors": len(errors),
        "error_rate": len(errors) / len(calls) if calls else 0.0,
        "agreement": agreeing / len(ok) if ok else None,
        "diff": _quantiles(diffs),
        "latency_ms": {
            "primary": _quantiles([float(r["primary_ms"]) for r in calls if r.get("primary_ms") is not None]),
            "candidate": _quantiles([float(r["candidate_ms"]) for r in ok if r.get("candidate_ms") is not None]),
        },
        "error_samples": sorted({str(r["error"]) for r in errors})[:5],
        "thresholds": dict(limits),
    }
    reasons = verdict_reasons(report, limits)
    report["verdict"] = "fail" if reasons else "pass"
    report["reasons"] = reasons
    report["digest"] = hashlib.sha256(json.dumps(report, sort_keys=True, default=str).encode()).hexdigest()
    return report


def _one(values) -> str | None:
    found = {v for v in values if v is not None}
    return next(iter(found)) if len(found) == 1 else None


def verdict_reasons(report: dict, limits: dict) -> list[str]:
    """Why the log does not meet the thresholds (empty: it passes)."""
    reasons = []
    if len(report["primary_versions"]) > 1 or len(report["candidate_versions"]) > 1:
        reasons.append("the log mixes versions "
                       f"(primary {', '.join(report['primary_versions'])}; candidate {', '.join(report['candidate_versions'])})")
    if report["calls"] < (limits.get("min_calls") or 0):
        reasons.append(f"{report['calls']} compared calls < min_calls {limits['min_calls']}")
    agreement = report["agreement"]
    if limits.get("min_agreement") is not None and (agreement is None or agreement < limits["min_agreement"]):
        shown = "none" if agreement is None else f"{agreement:.4f}"
        reasons.append(f"agreement {shown} < min_agreement {limits['min_agreement']}")
    if limits.get("max_diff") is not None and report["diff"] and report["diff"]["p99"] > limits["max_diff"]:
        reasons.append(f"p99 difference {report['diff']['p99']:.6g} > max_diff {limits['max_diff']}")
    if limits.get("max_error_rate") is not None and report["error_rate"] > limits["max_error_rate"]:
        reasons.append(f"error rate {report['error_rate']:.4f} > max_error_rate {limits['max_error_rate']}")
    if limits.get("max_drop_rate") is not None and report["drop_rate"] > limits["max_drop_rate"]:
        reasons.append(f"drop rate {report['drop_rate']:.4f} > max_drop_rate {limits['max_drop_rate']}")
    lat = report["latency_ms"]
    if limits.get("max_latency_ratio") is not None and lat["primary"] and lat["candidate"]:
        ratio = lat["candidate"]["p95"] / max(lat["primary"]["p95"], 1e-9)
        if ratio > limits["max_latency_ratio"]:
            reasons.append(f"candidate p95 latency is {ratio:.2f}x the primary's > max_latency_ratio "
                           f"{limits['max_latency_ratio']}")
    return reasons


def report_log(path: str | os.PathLike, limits: dict | None = None) -> dict:
    """The report of the shadow log at `path` against `limits` (a `shadow:` mapping; missing
    keys take SHADOW_DEFAULTS). NotFoundError (3) for a missing log, UsageError (2) for a bad line."""
    records, digest = read_log(path)
    return build_report(records, thresholds(limits), log=str(path), log_sha256=digest)


# ---------------------------------------------------------------- promotion gate
def shadow_gate(ctx) -> dict[str, str]:
    """`promote ... --require-shadow LOG`: the log must compare this candidate against the version
    that holds the stage now, and pass the thresholds. Returns the tag-message fields to record
    (report digest, log sha256, calls, agreement), or {} without the option. RefusedError (5) for a
    missing log, an empty stage, a log of another model or versions, or failed thresholds;
    UsageError (2) for a malformed log or `shadow:` section."""
    path = ctx.option("require_shadow")
    if not path:
        return {}
    from weightops.registry.tags import is_version, normalize_version

    try:
        report = report_log(path, ctx.project.config.shadow)
    except NotFoundError as exc:
        raise RefusedError(f"--require-shadow: {exc}") from None
    current = ctx.registry.stage_event(ctx.model, ctx.stage)
    if current is None or current.version is None:
        raise RefusedError(f"--require-shadow: no version of '{ctx.model}' holds '{ctx.stage}', "
                           "so there is nothing the shadow log could have compared against")

    def norm(v):
        return normalize_version(v) if v and is_version(v) else v

    if report["model"] not in (None, ctx.model):
        raise RefusedError(f"shadow log {path} is for model '{report['model']}', not '{ctx.model}'")
    if norm(report["candidate_version"]) != ctx.version.version:
        raise RefusedError(f"shadow log {path} is for candidate {report['candidate_version'] or ', '.join(report['candidate_versions'])}, "
                           f"not {ctx.version.version}; run the shadow with candidate_version='{ctx.version.version}'")
    if norm(report["primary_version"]) != current.version:
        raise RefusedError(f"shadow log {path} compares against {report['primary_version'] or ', '.join(report['primary_versions'])}, "
                           f"but {ctx.stage} holds {current.version} now; shadow against the current version")
    if report["verdict"] != "pass":
        raise RefusedError(f"shadow log {path} fails the thresholds: {'; '.join(report['reasons'])}")
    return {"shadow_report": report["digest"], "shadow_log_sha256": report["log_sha256"],
            "shadow_calls": str(report["calls"]), "shadow_agreement": f"{report['agreement']:.4f}"}
