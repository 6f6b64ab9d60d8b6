"""The project's settings: `weightops.yaml` at the repository root, versioned in git.

The document is checked against templates/weightops.schema.json (see core/schema.py) and read
once into the frozen dataclasses below. To add a setting: add it to the schema (its
`description` says where), then a field here and a line in `settings_from_doc`; a section not
typed yet is still reachable, validated, through `Settings.section(name)`.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field

from weightops.core.schema import check_document
from weightops.core.yamlio import safe_load
from weightops.errors import UsageError
from weightops.registry.tags import validate_model_name, validate_new_stage, validate_stage

CONFIG_FILE = "weightops.yaml"
DEFAULT_STAGES = ("staging", "production", "shadow")
# No broken weights reach production: its gate runs the weight checks unless `validate: false`.
VALIDATED_BY_DEFAULT = frozenset({"production"})
DEFAULT_SIGNERS_FILE = ".weightops/allowed_signers"
CHECKS = ("finite", "all_zero", "constant", "signature", "structure", "drift")
# Drift limits 1.5x the largest drift measured between legitimate versions (benchmarks/
# gate_accuracy.py): LPIPS' two published trainings (v0.0 -> v0.1, tensors of 256+ values) move
# a mean by up to 1.61 RMS, a std by 0.65 RMS, an L2 by 1.0x; the scaffold's model retrained
# with 20 seeds moves its whole-model L2 by 0.086 at most. A weight matrix scaled x5 moves std
# and L2 by 4.0.
DEFAULT_DRIFT = {"mean": 2.5, "std": 1.0, "l2": 1.5}
DEFAULT_BIAS_DRIFT = {"mean": 2.5, "std": 1.0, "l2": 1.5}
# Value-check severities per tensor role (model/formats/base.py): trained weights must be finite
# and not degenerate; constants a format stores beside them (masks with -inf, zero initial
# states, padding) legitimately are, so their findings only warn.
# (An Inf-only finding on a constant always just warns: -inf is how masks are written.)
# Biases, normalisation scales/shifts, running statistics, PReLU slopes and quantisation scales
# (roles the format readers read from the file's structure) start at zeros, ones or one constant
# and keep them in layers training never moved: published models ship them so, so they warn.
DEFAULT_SEVERITY = {"weights": {"finite": "fail", "all_zero": "fail", "constant": "fail"},
                    "parameters": {"finite": "fail", "all_zero": "warn", "constant": "warn"},
                    "constants": {"finite": "fail", "all_zero": "warn", "constant": "warn"}}
# Roles whose findings use severity.parameters (model/formats/base.py).
PARAMETER_ROLES = frozenset({"bias", "norm", "buffer", "slope", "quant"})
SHADOW_DEFAULTS: dict[str, float | None] = {
    "min_calls": 100,            # compared pairs needed before a verdict can pass
    "min_agreement": 0.99,       # share of pairs that agree (exactly, or within tolerance)
    "tolerance": 0.0,            # a numeric pair whose max abs difference is <= this agrees
    "max_diff": None,            # p99 of the max abs difference must be <= this (None: no limit)
    "max_error_rate": 0.0,       # share of candidate calls that raised
    "max_drop_rate": 0.5,        # share of shadow calls dropped because the queue was full
    "max_latency_ratio": None,   # candidate p95 / primary p95 (None: no limit)
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class OmsSettings:
    """`trust.oms:`: the OpenSSF Model Signing keys (repository paths of PEM public keys, each with
    the signer name trust rules know it by, or None), CA certificates and certificate identities
    that verify pulls, and which pulls must verify (`require`: True, or a tuple of stages)."""

    public_keys: tuple[tuple[str, str | None], ...] = ()   # (repository path, signer or None)
    certificate_chain: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()
    require: bool | tuple[str, ...] = False

    def required(self, stage: str | None) -> bool:
        """Whether a pull of `stage` (None: a version) must verify a signature by default."""
        return stage in self.require if isinstance(self.require, tuple) else self.require is True

    @property
    def signs(self) -> bool:
        """Whether releases must carry a signature: any `require` other than false."""
        return bool(self.require)


@dataclass(frozen=True)
class TrustSettings:
    """`trust:`: signers allowed per stage (see trust/policy.py), and the signing defaults."""

    configured: bool = False                      # whether the document has a trust: section
    allowed_signers: str = DEFAULT_SIGNERS_FILE   # repository path, normalized, inside the repo
    groups: dict = field(default_factory=dict)    # name -> tuple of signers
    stages: dict = field(default_factory=dict)    # stage -> tuple of groups or signers
    release: tuple[str, ...] | None = None        # who may sign version tags (None: anyone verified)
    require_signed: bool | tuple[str, ...] = False
    sign: bool = False
    oms: OmsSettings = field(default_factory=OmsSettings)


@dataclass(frozen=True)
class PolicySettings:
    """`policy:`: promotion rules checked by registry/policy.py."""

    stage_order: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    min_time: tuple[tuple[str, int], ...] = ()   # (stage, seconds in the stage before it)

    def previous_stage(self, stage: str) -> str | None:
        """The stage before `stage` in `stage_order`, None when it is first or not listed."""
        if stage in self.stage_order:
            i = self.stage_order.index(stage)
            return self.stage_order[i - 1] if i > 0 else None
        return None


@dataclass(frozen=True)
class ValidationSettings:
    """`validation:`: which weight checks run and their drift thresholds (model/checks.py)."""

    checks: tuple[str, ...] = CHECKS
    drift: dict = field(default_factory=lambda: dict(DEFAULT_DRIFT))
    bias_drift: dict = field(default_factory=lambda: dict(DEFAULT_BIAS_DRIFT))
    bias_suffix: str = "bias"
    ignore: tuple[str, ...] = ()
    first_layer: str | None = None
    last_layer: str | None = None
    constants: tuple[str, ...] = ()     # name patterns read as constants whatever the format says
    severity: dict = field(default_factory=lambda: {r: dict(v) for r, v in DEFAULT_SEVERITY.items()})

    def thresholds(self, name: str) -> dict:
        """The drift thresholds (`mean`, `std`, `l2`: relative changes) for tensor `name`:
        `bias_drift` for a name ending in `bias_suffix`, else `drift`."""
        return self.bias_drift if name.endswith(self.bias_suffix) else self.drift

    def level(self, check: str, name: str, role: str) -> str:
        """`fail`, `warn` or `off` for a finding of `check` on tensor `name` of `role`."""
        if self.is_constant(name, role):
            return self.severity["constants"][check]
        return self.severity["parameters" if role in PARAMETER_ROLES else "weights"][check]

    def is_constant(self, name: str, role: str) -> bool:
        """Whether tensor `name` of `role` (what its format reader says) is read as a constant:
        the reader says so, or `name` matches a `constants` pattern (fnmatch)."""
        # "unused": an ONNX initializer no node reads (formats/onnx.py).
        return role in ("constant", "unused") or any(fnmatch.fnmatchcase(name, p) for p in self.constants)

    def ignored(self, name: str) -> bool:
        """Whether tensor `name` matches an `ignore` pattern (fnmatch): no check looks at it."""
        return any(fnmatch.fnmatchcase(name, p) for p in self.ignore)


@dataclass(frozen=True)
class GateSettings:
    """`gates: {STAGE: {validate: true, against: production}}`; `against` None: no comparison."""

    validate: bool = False
    against: str | None = None


@dataclass(frozen=True)
class GuardSettings:
    """`guard:`: the largest file git may take (None: guard's default) and paths let through."""

    max_size: str | int | None = None
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything weightops.yaml says, typed; defaults where it is silent."""

    default_model: str | None = None
    tag_style: str = "plain"            # "plain" (v1.2.0) or "named" (NAME@v1.2.0)
    stages: tuple[str, ...] = DEFAULT_STAGES
    trust: TrustSettings = field(default_factory=TrustSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    gates: dict = field(default_factory=dict)     # stage -> GateSettings
    shadow: dict = field(default_factory=lambda: dict(SHADOW_DEFAULTS))
    report_metrics: tuple[str, ...] | None = None
    guard: GuardSettings = field(default_factory=GuardSettings)
    publish: bool = False               # stage writes with --push also publish the registry index
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    def section(self, name: str) -> dict:
        """A section as written (already validated): for settings not typed here yet."""
        value = self.raw.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def sign(self) -> bool:
        """`trust.sign` (or the older top-level `sign`): release/promote/demote/rollback sign
        their tags when the caller does not say."""
        return self.trust.sign

    def requires_signed(self, stage: str | None) -> bool:
        """`trust.require_signed`: true, or a list of stages. resolve's default for
        --require-signed, read from the checkout it runs in."""
        value = self.trust.require_signed
        return stage in value if isinstance(value, tuple) else value is True

    def gate(self, stage: str) -> GateSettings:
        """The promotion gate of `stage` (a stage name); by default compared against the stage
        itself, with the weight checks on for the stages in VALIDATED_BY_DEFAULT only."""
        return self.gates.get(stage, GateSettings(stage in VALIDATED_BY_DEFAULT, stage))


Config = Settings  # the name older callers import


def parse_config(text: bytes | str | None, where: str = CONFIG_FILE) -> Settings:
    """weightops.yaml's text -> Settings. Empty or absent text gives the defaults.

    Raises UsageError (exit 2) for malformed YAML, an unknown key (naming it, `where` and the
    closest known key) or a value the schema or the tag grammar refuses.
    """
    if not text:
        return Settings()
    doc = safe_load(text, where)
    if doc is None:
        return Settings()
    return settings_from_doc(doc, where)


def settings_from_doc(doc: object, where: str = CONFIG_FILE) -> Settings:
    """A parsed weightops.yaml document -> Settings (pure). Errors as `parse_config`."""
    if not isinstance(doc, dict):
        raise UsageError(f"{where} must be a mapping of settings")
    check_document(doc, where)
    model = doc.get("model") or doc.get("default_model")
    if model is not None:
        model = validate_model_name(str(model))
    stages = _stages(doc.get("stages", DEFAULT_STAGES), where)
    shadow = {**SHADOW_DEFAULTS, **doc.get("shadow", {})}
    report = doc.get("report", {})
    guard = doc.get("guard", {})
    return Settings(
        default_model=str(model) if model else None,
        tag_style=doc.get("tag_style", "plain"),
        publish=bool(doc.get("publish", False)),
        stages=stages,
        trust=_trust(doc, where),
        policy=_policy(doc.get("policy", {}), where),
        validation=_validation(doc.get("validation", {})),
        gates={validate_stage(s): GateSettings(g.get("validate", s in VALIDATED_BY_DEFAULT),
                                               None if g.get("against", s) in (None, "none") else g.get("against", s))
               for s, g in doc.get("gates", {}).items()},
        shadow=shadow,
        report_metrics=tuple(report["metrics"]) if "metrics" in report else None,
        guard=GuardSettings(guard.get("max_size"), tuple(guard.get("allow", ()))),
        raw=doc,
    )


def parse_duration(value: object, what: str) -> int:
    """`90s`, `30m`, `24h`, `2d`, `1w`, or a number of seconds -> seconds. UsageError (2) else."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(value))
    if not m:
        raise UsageError(f"{CONFIG_FILE}: {what} must be a duration like 30m, 24h or 2d, not {value!r}")
    return int(m[1]) * _UNITS[m[2]]


def _entries(value: str | list[str]) -> tuple[str, ...]:
    return tuple(v.strip() for v in ([value] if isinstance(value, str) else value))


def _stages(names: list, where: str) -> tuple[str, ...]:
    """`stages:`: each a new stage name (registry/tags.validate_new_stage); UsageError (2) naming
    `where` otherwise."""
    try:
        return tuple(validate_new_stage(s) for s in names)
    except UsageError as exc:
        raise UsageError(f"{where}: stages: {exc}") from None


def _trust(doc: dict, where: str) -> TrustSettings:
    trust = doc.get("trust")
    if trust is None:
        return TrustSettings(sign=doc.get("sign", False))
    norm = _inside(trust.get("allowed_signers", DEFAULT_SIGNERS_FILE), "trust.allowed_signers", where)
    required = trust.get("require_signed", False)
    return TrustSettings(
        configured=True, allowed_signers=norm,
        groups={str(k): _entries(v) for k, v in trust.get("groups", {}).items()},
        stages={validate_stage(k): _entries(v) for k, v in trust.get("stages", {}).items()},
        release=_entries(trust["release"]) if trust.get("release") is not None else None,
        require_signed=tuple(required) if isinstance(required, list) else required,
        sign=trust.get("sign", doc.get("sign", False)),
        oms=_oms(trust.get("oms") or {}, where),
    )


def _inside(path: str, what: str, where: str) -> str:
    """A repository path, normalized; UsageError (2) when it leads out of the repository."""
    norm = posixpath.normpath(path.replace("\\", "/"))
    if not path or "\0" in path or "\n" in path or path.startswith("/") or norm == ".." or norm.startswith("../"):
        raise UsageError(f"{where}: {what} '{path}' must stay inside the repository")
    return norm


def _oms(section: dict, where: str) -> OmsSettings:
    keys = tuple((_inside(k, "trust.oms.public_keys", where), None) if isinstance(k, str)
                 else (_inside(k.get("path") or "", "trust.oms.public_keys", where), k.get("signer"))
                 for k in section.get("public_keys", ()))
    chain = tuple(_inside(c, "trust.oms.certificate_chain", where) for c in section.get("certificate_chain", ()))
    required = section.get("require", False)
    return OmsSettings(keys, chain, tuple(section.get("identities", ())),
                       tuple(validate_stage(s) for s in required) if isinstance(required, list) else required)


def _policy(section: dict, where: str) -> PolicySettings:
    order = tuple(validate_stage(s) for s in section.get("stage_order", ()))
    min_time = tuple((validate_stage(s), parse_duration(v, f"policy.min_time.{s}"))
                     for s, v in section.get("min_time", {}).items())
    policy = PolicySettings(order, tuple(section.get("branches", ())), min_time)
    for stage, _ in policy.min_time:
        if policy.previous_stage(stage) is None:
            raise UsageError(f"{where}: policy.min_time.{stage} needs '{stage}' after another stage "
                             "in policy.stage_order")
    return policy


def _validation(section: dict) -> ValidationSettings:
    return ValidationSettings(
        tuple(section.get("checks", CHECKS)),
        {**DEFAULT_DRIFT, **{k: float(v) for k, v in section.get("drift", {}).items()}},
        {**DEFAULT_BIAS_DRIFT, **{k: float(v) for k, v in section.get("bias_drift", {}).items()}},
        section.get("bias_suffix", "bias"), tuple(section.get("ignore", ())),
        section.get("first_layer"), section.get("last_layer"), tuple(section.get("constants", ())),
        {role: {**levels, **(section.get("severity") or {}).get(role, {})} for role, levels in DEFAULT_SEVERITY.items()})


def render_config(model: str, stages: tuple[str, ...] = DEFAULT_STAGES, tag_style: str = "plain",
                  gated: tuple[str, ...] = ()) -> str:
    """The weightops.yaml `weightops init` writes for `model` (a valid model name) with
    `stages`, `tag_style` (`plain` or `named`) and a `gates:` entry `{validate: true}` for each
    stage of `gated` (stage names; none written when empty). Pure; raises nothing."""
    gates = ("gates:                  # promotions to these stages run the weight checks first\n"
             + "".join(f"  {s}:\n    validate: true\n" for s in gated)) if gated else ""
    return (
        "# weightops project settings (versioned with the code).\n"
        f"model: {model}            # the default model for plain v1.2.0 tags and --model\n"
        f"tag_style: {tag_style}        # plain: v1.2.0; named: {model}@v1.2.0\n"
        "stages:                 # stage names `weightops promote` accepts\n"
        + "".join(f"  - {s}\n" for s in stages) + gates
    )
