"""The project's weightops config (`weightops.yaml` at the repo root), versioned in git."""

from __future__ import annotations

from dataclasses import dataclass, field

from weightops.errors import UsageError
from weightops.registry.tags import validate_model_name, validate_stage
from weightops.core.yamlio import safe_load

CONFIG_FILE = "weightops.yaml"
DEFAULT_STAGES = ("staging", "production", "shadow")


@dataclass(frozen=True)
class Config:
    default_model: str | None = None
    tag_style: str = "plain"            # "plain" (v1.2.0) or "named" (NAME@v1.2.0)
    stages: tuple[str, ...] = DEFAULT_STAGES
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    def section(self, name: str) -> dict:
        value = self.raw.get(name)
        return value if isinstance(value, dict) else {}

    def requires_signed(self, stage: str | None) -> bool:
        """`trust.require_signed`: true, or a list of stages. resolve's default for
        --require-signed, read from the checkout it runs in."""
        value = self.section("trust").get("require_signed", False)
        return stage in value if isinstance(value, list) else value is True


def parse_config(text: bytes | str | None) -> Config:
    if not text:
        return Config()
    doc = safe_load(text, CONFIG_FILE)
    if doc is None:
        return Config()
    if not isinstance(doc, dict):
        raise UsageError(f"{CONFIG_FILE} must be a mapping of settings")
    model = doc.get("model") or doc.get("default_model")
    if model is not None:
        model = validate_model_name(str(model))
    style = doc.get("tag_style", "plain")
    if style not in ("plain", "named"):
        raise UsageError(f"{CONFIG_FILE}: tag_style must be 'plain' or 'named', not {style!r}")
    stages = doc.get("stages", list(DEFAULT_STAGES))
    if not isinstance(stages, list) or not stages:
        raise UsageError(f"{CONFIG_FILE}: stages must be a list of stage names")
    for s in stages:
        validate_stage(str(s))
    return Config(str(model) if model else None, style, tuple(str(s) for s in stages), doc)


def render_config(model: str, stages: tuple[str, ...] = DEFAULT_STAGES, tag_style: str = "plain") -> str:
    return (
        "# weightops project settings (versioned with the code).\n"
        f"model: {model}            # the default model for plain v1.2.0 tags and --model\n"
        f"tag_style: {tag_style}        # plain: v1.2.0; named: {model}@v1.2.0\n"
        "stages:                 # stage names `weightops promote` accepts\n"
        + "".join(f"  - {s}\n" for s in stages)
    )
