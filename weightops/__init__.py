"""weightops: a git-native registry for model weights on DVC.

    import weightops
    r = weightops.resolve("production")   # -> Resolved(model, version, commit, url, sha256, ...)

The library logs and never prints; errors are `weightops.WeightopsError` subclasses carrying
their fields and the CLI's exit code.
"""

from __future__ import annotations

__version__ = "0.1.0"

from weightops.errors import (IntegrityError, NotFoundError, RefusedError, UsageError,  # noqa: E402
                     WeightopsError)

__all__ = [
    "__version__",
    "WeightopsError", "UsageError", "NotFoundError", "IntegrityError", "RefusedError",
    "Resolved", "resolve",
    "release", "promote", "demote", "rollback", "history", "init_project", "make_card", "list_versions",
    "pull", "lock", "verify", "Pulled", "Verified",
    "diff_models", "release_notes", "check_tag", "guard_files", "audit_registry",
    "trusted_target", "verify_events", "load_policy",
    "write_report", "project_status",
    "validate", "parse_signature", "diff_signatures",
    "ShadowRunner", "resolve_match",
]

# Everything loads on first use, so `import weightops` costs almost nothing and
# `weightops.resolve(...)` loads only the resolve path: exported name -> (module, attribute).
# Exported names differ from module names where a module import would otherwise replace the
# attribute (`weightops.audit`).
_LAZY = {
    "resolve": ("registry.resolve", "resolve"), "Resolved": ("registry.resolve", "Resolved"),
    "release": ("registry.release", "release"),
    "promote": ("registry.stages", "promote"), "demote": ("registry.stages", "demote"),
    "rollback": ("registry.stages", "rollback"), "history": ("registry.history", "history"),
    "init_project": ("scaffold.init", "init_project"),
    "make_card": ("api", "make_card"),
    "list_versions": ("api", "list_versions"),
    "pull": ("deploy.pull", "pull"), "lock": ("deploy.pull", "lock"), "verify": ("deploy.pull", "verify"),
    "Pulled": ("deploy.pull", "Pulled"), "Verified": ("deploy.pull", "Verified"),
    "diff_models": ("review.diff", "diff"), "release_notes": ("review.notes", "release_notes"),
    "check_tag": ("review.ci", "check_tag"), "guard_files": ("review.guard", "guard"),
    "audit_registry": ("review.audit", "audit"),
    "trusted_target": ("trust.policy", "trusted_target"), "verify_events": ("trust.policy", "verify_events"),
    "load_policy": ("trust.policy", "load_policy"),
    "write_report": ("review.report_page", "write_report"),
    "project_status": ("review.status", "status"),
    "validate": ("model.validation", "validate"),
    "parse_signature": ("model.signature", "parse_signature"),
    "diff_signatures": ("model.signature", "diff_signatures"),
    "ShadowRunner": ("deploy.shadow", "ShadowRunner"), "resolve_match": ("deploy.variants", "resolve_match"),
}


def __dir__() -> list[str]:
    """The public API (`__all__`) beside the module's own names, so `dir(weightops)` and
    completion in a REPL list what `weightops.NAME` gives, before anything is loaded."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    """The exported `name`, imported from its module on first use (PEP 562).
    AttributeError for a name weightops does not export."""
    if name not in _LAZY:
        raise AttributeError(f"module 'weightops' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(f"weightops.{module}"), attribute)
