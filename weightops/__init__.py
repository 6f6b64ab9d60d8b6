"""weightops: a git-native registry for model weights on DVC.

    import weightops
    r = weightops.resolve("production")   # -> Resolved(model, version, commit, url, sha256, ...)

The library logs and never prints; errors are `weightops.WeightopsError` subclasses carrying
their fields and the CLI's exit code.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (IntegrityError, NotFoundError, RefusedError, UsageError,  # noqa: E402
                     WeightopsError)
from .resolve import Resolved, resolve  # noqa: E402

__all__ = [
    "__version__",
    "WeightopsError", "UsageError", "NotFoundError", "IntegrityError", "RefusedError",
    "Resolved", "resolve",
    "release", "init_project", "make_card", "list_versions",
    "pull", "lock", "verify", "Pulled", "Verified",
    "diff_models", "release_notes", "check_tag", "guard_files", "audit_registry",
    "trusted_target", "verify_events", "load_policy",
    "write_report",
    "validate", "parse_signature", "diff_signatures",
    "ShadowRunner", "resolve_match",
]

# Everything but resolve loads on first use, so `import weightops; weightops.resolve(...)`
# stays fast: exported name -> (module, attribute). Exported names differ from module names
# where a module import would otherwise replace the attribute (`weightops.audit`).
_LAZY = {
    "release": ("release", "release"),
    "init_project": ("scaffold", "init_project"),
    "make_card": ("api", "make_card"),
    "list_versions": ("api", "list_versions"),
    "pull": ("deploy", "pull"), "lock": ("deploy", "lock"), "verify": ("deploy", "verify"),
    "Pulled": ("deploy", "Pulled"), "Verified": ("deploy", "Verified"),
    "diff_models": ("diff", "diff"), "release_notes": ("notes", "release_notes"),
    "check_tag": ("ci", "check_tag"), "guard_files": ("guard", "guard"),
    "audit_registry": ("audit", "audit"),
    "trusted_target": ("trust", "trusted_target"), "verify_events": ("trust", "verify_events"),
    "load_policy": ("trust", "load_policy"),
    "write_report": ("report", "write_report"),
    "validate": ("validation", "validate"),
    "parse_signature": ("signature", "parse_signature"),
    "diff_signatures": ("signature", "diff_signatures"),
    "ShadowRunner": ("shadow", "ShadowRunner"), "resolve_match": ("variants", "resolve_match"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'weightops' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(f".{module}", __name__), attribute)
