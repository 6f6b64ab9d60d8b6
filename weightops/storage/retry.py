"""The one retry policy every storage backend uses: bounded attempts, exponential backoff with
jitter, on transient failures only (a dropped connection, a 5xx answer, a timeout).

Each backend maps its own exceptions with a `translate(exc, url)` function: Retryable for a
transient failure, a WeightopsError (NotFoundError exit 3, refused credentials exit 1, ...)
for a final one. `WEIGHTOPS_RETRIES` (total attempts, >= 1) overrides the default of 5.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from weightops.errors import UsageError, WeightopsError

log = logging.getLogger(__name__)
T = TypeVar("T")
Translate = Callable[[BaseException, str], BaseException]


class Retryable(Exception):
    """A dropped connection, a timeout or a 5xx answer: worth another attempt after a pause."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a storage request: `attempts` in all (the first included), a
    pause starting at `base` seconds and doubling up to `cap` seconds, with jitter."""
    attempts: int = 5        # total tries per request, the first included
    base: float = 0.25       # seconds before the second try; doubles, with jitter
    cap: float = 4.0         # longest pause, seconds

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        return min(self.cap, self.base * (2 ** attempt)) * (0.5 + random.random() / 2)

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        """The default policy, with `WEIGHTOPS_RETRIES` (attempts) applied.
        Raises UsageError (exit 2) when it is not a positive integer."""
        value = os.environ.get("WEIGHTOPS_RETRIES")
        if value is None:
            return cls()
        if not value.isdigit() or int(value) < 1:
            raise UsageError(f"WEIGHTOPS_RETRIES must be a positive integer, not {value!r}")
        return cls(attempts=int(value))


def with_retries(fn: Callable[[], T], *, translate: Translate, url: str, policy: RetryPolicy,
                 remote: str, what: str = "request") -> T:
    """Call `fn`; map its failure with `translate`; try again on Retryable, at most
    `policy.attempts` times in all. Final failures propagate as the WeightopsError they map
    to; exhausted retries raise WeightopsError (exit 1) naming the remote and the URL."""
    last = ""
    for attempt in range(policy.attempts):
        try:
            return fn()
        except Retryable as exc:
            last = str(exc)
        except WeightopsError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below
            mapped = translate(exc, url)
            if not isinstance(mapped, Retryable):
                if mapped is exc:
                    raise
                raise mapped from None
            last = str(mapped)
        if attempt + 1 < policy.attempts:
            pause = policy.pause(attempt)
            log.info("%s of %s failed (%s); retry %d/%d in %.2fs", what, url, last, attempt + 1,
                     policy.attempts - 1, pause)
            time.sleep(pause)
    raise WeightopsError(f"remote '{remote}' unreachable: {what} of {url} failed {policy.attempts} times "
                         f"({last}); check the endpoint and the network, then retry", url=url)
