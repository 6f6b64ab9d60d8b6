"""The clock the registry writes with: tag dates, promotion-rule times, report dates.

`WEIGHTOPS_NOW` (Unix seconds) pins it, so a history can be reproduced and tests order events
without sleeping. Only registry writes and reports read it; live serving times use the system clock.
"""

from __future__ import annotations

import os
import time

from weightops.errors import UsageError


def now(value: int | None = None) -> int:
    """`value` when given, else $WEIGHTOPS_NOW, else the system clock; Unix seconds.

    Raises UsageError (exit 2) when WEIGHTOPS_NOW is set but is not a whole number of seconds.
    """
    if value is not None:
        return int(value)
    pinned = os.environ.get("WEIGHTOPS_NOW")
    if not pinned:
        return int(time.time())
    if not pinned.isdigit():
        raise UsageError(f"WEIGHTOPS_NOW must be Unix seconds, not {pinned!r}")
    return int(pinned)


def now_iso() -> str:
    """Now as ISO 8601 UTC, whole seconds, with a `Z` (the card's `created_at`)."""
    import datetime as _dt

    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
