"""Where the shipped templates are: `weightops/templates` in a wheel, `templates/` in a checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent.parent  # the weightops package


def templates_dir() -> Path:
    """The folder holding the shipped templates (card.schema.json and the rest): `templates/` beside
    the package in a checkout, `weightops/templates` in a wheel. FileNotFoundError (an OSError, not
    a WeightopsError) when neither exists: a broken install."""
    for candidate in (_HERE / "templates", _HERE.parent / "templates"):
        if (candidate / "card.schema.json").is_file():
            return candidate
    try:  # an installed wheel maps templates/ to the weightops.templates package
        from importlib.resources import files

        return Path(str(files("weightops.templates")))
    except (ImportError, ModuleNotFoundError):
        raise FileNotFoundError("weightops templates are missing; reinstall weightops") from None


def template_path(name: str) -> Path:
    """The path of the shipped template `name` (a file name such as `card.schema.json`); the file
    need not exist. FileNotFoundError as `templates_dir`."""
    return templates_dir() / name
