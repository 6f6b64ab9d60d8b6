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
    "ShadowRunner", "resolve_match",
]

# Review and CI (lazy): exported name -> (module, function). Exported names differ from module
# names: importing `weightops.audit` sets the package attribute `audit` to the module.
_REVIEW = {"diff_models": ("diff", "diff"), "release_notes": ("notes", "release_notes"),
           "check_tag": ("ci", "check_tag"), "guard_files": ("guard", "guard"),
           "audit_registry": ("audit", "audit")}


def __getattr__(name: str):
    # Write paths load lazily so `import weightops; weightops.resolve(...)` stays fast.
    if name == "release":
        from .release import release
        return release
    if name == "init_project":
        from .scaffold import init_project
        return init_project
    if name in ("make_card", "list_versions"):
        from . import api
        return getattr(api, name)
    if name in ("pull", "lock", "verify", "Pulled", "Verified"):  # deploy path (issue 4)
        from . import deploy
        return getattr(deploy, name)
    if name in _REVIEW:
        import importlib
        module, func = _REVIEW[name]
        return getattr(importlib.import_module(f".{module}", __name__), func)
    if name in ("trusted_target", "verify_events", "load_policy"):   # issue 9: trust
        from . import trust
        return getattr(trust, name)
    if name == "write_report":  # the registry report (issue 8)
        from .report import write_report
        return write_report
    if name == "ShadowRunner":  # serving issue
        from .shadow import ShadowRunner
        return ShadowRunner
    if name == "resolve_match":
        from .variants import resolve_match
        return resolve_match
    raise AttributeError(f"module 'weightops' has no attribute {name!r}")
