"""Promotion gates: checks that run before a stage assignment is written.

Each gate is a function `gate(ctx: PromotionContext) -> dict[str, str]` that raises
RefusedError (exit 5) to block the promotion, or returns fields recorded in the tag message
(for example a validation report's digest). Gates are listed here by import path and loaded
only when `promote` runs, so reading the registry never imports them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from weightops.project import Located, Project
from weightops.registry.state import Registry
from weightops.registry.records import Version

# "module:function", run in this order.
GATES: tuple[str, ...] = (
    "weightops.registry.policy:policy_gate",   # the project's policy: stage order, branches, minimum time
    "weightops.model.validation:validation_gate",   # signature compatibility + configured weight checks
    "weightops.deploy.shadow_report:shadow_gate",   # --require-shadow LOG: a passing shadow comparison
)


@dataclass(frozen=True)
class PromotionContext:
    """What a gate sees: the project and its registry, the model, the Version being promoted and
    where its card and pointer are (`located`), the target stage, `now` in Unix seconds, and the
    promote call's `options` (require_shadow, allow_breaking, skip_checks, ...)."""
    project: Project
    registry: Registry
    model: str
    version: Version
    located: Located
    stage: str
    now: int
    options: dict = field(default_factory=dict, compare=False, hash=False)

    def option(self, name: str, default: object = None) -> object:
        """The promote option `name`, or `default` when it was not given."""
        return self.options.get(name, default)


def run_gates(ctx: PromotionContext) -> dict[str, str]:
    """Run every gate of GATES, in order, and return the tag-message fields they add (later gates
    override earlier keys). The first gate to refuse stops the rest: RefusedError (5); a gate may
    also raise UsageError (2) for a malformed configuration or NotFoundError (3) for missing bytes."""
    fields: dict[str, str] = {}
    for spec in GATES:
        module, _, func = spec.partition(":")
        gate = getattr(importlib.import_module(module), func)
        fields.update(gate(ctx) or {})
    return fields
