"""One small exception tree. Every error carries a user-facing message and the CLI exit code.

Exit codes (documented in README.md): 0 ok, 1 error, 2 usage, 3 not found, 4 integrity,
5 refused by a check or policy.
"""

from __future__ import annotations


class WeightopsError(Exception):
    """Base class: `str(err)` is one line naming what is wrong and what to do."""

    exit_code = 1

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)


class UsageError(WeightopsError, ValueError):
    """A name, version, stage or option that is not in the grammar."""

    exit_code = 2


class NotFoundError(WeightopsError, LookupError):
    """No such version, tag, model, stage assignment, pointer or remote object."""

    exit_code = 3


class IntegrityError(WeightopsError):
    """Bytes, hashes or sizes disagree. Carries `expected`, `actual` and `ref` where known."""

    exit_code = 4

    def __init__(self, message: str, *, expected: object = None, actual: object = None,
                 ref: str | None = None, **fields: object) -> None:
        super().__init__(message, expected=expected, actual=actual, ref=ref, **fields)


class RefusedError(WeightopsError):
    """A check or policy refused the operation (dirty tree, existing tag, failed gate...)."""

    exit_code = 5


class FormatError(RefusedError):
    """A weights file that its format's own library would refuse (a malformed header, a shard the
    index names but that is missing, ONNX external data outside the model's folder, a truncated
    tensor), or that no reader here can read (an unknown format, a missing optional reader).
    The file is refused, the command was not misused: exit 5, like a failed check."""
