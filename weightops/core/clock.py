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
