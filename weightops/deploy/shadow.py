"""Shadow deployments: run a candidate beside production on the same inputs, never in its way.

`ShadowRunner(primary, candidate, log=PATH)` is called like the primary. The caller gets the
primary's answer at once; the input goes to a bounded queue that one background worker drains
by running the candidate and appending the pair to a JSONL log. A full queue drops the shadow
call (counted, logged as a `dropped` record) instead of slowing the primary. A candidate that
raises is logged as an error and never reaches the caller.

Log records (one JSON object per line):
  {"type": "call", "time", "model", "primary_version", "candidate_version", "primary_ms",
   "candidate_ms", "agree", "diff", "error"}
  {"type": "dropped", "time", "count", "primary_version", "candidate_version"}
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

_STOP = object()


# ---------------------------------------------------------------- comparison
def compare(primary: Any, candidate: Any) -> tuple[bool, float | None]:
    """(exact agreement, max absolute difference or None when the outputs are not numeric)."""
    if isinstance(primary, dict) and isinstance(candidate, dict):
        if set(primary) != set(candidate):
            return False, None
        agree, diff = True, 0.0
        for key in primary:
            a, d = compare(primary[key], candidate[key])
            agree = agree and a
            diff = None if diff is None or d is None else max(diff, d)
        return agree, diff
    numeric = _as_array(primary), _as_array(candidate)
    if numeric[0] is not None and numeric[1] is not None:
        a, b = numeric
        if a.shape != b.shape:
            return False, None
        if a.size == 0:
            return True, 0.0
        import numpy as np

        with np.errstate(invalid="ignore", over="ignore"):
            diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        return bool(np.array_equal(a, b)), diff
    try:
        return bool(primary == candidate), None
    except Exception:  # noqa: BLE001 - an exotic __eq__ is a disagreement, not a crash
        return False, None


def _as_array(value: Any):
    if isinstance(value, (bool, str, bytes)) or value is None:
        return None
    if not isinstance(value, (int, float, list, tuple)) and type(value).__module__.split(".")[0] != "numpy":
        return None
    import numpy as np

    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged lists are simply not numeric
        return None
    return arr if arr.dtype.kind in "iuf" else None


def _apply_comparator(comparator: Callable | None, primary: Any, candidate: Any) -> tuple[bool, float | None]:
    """A user comparator returns a bool (agreement), a number (a difference; 0 agrees), or a
    mapping with `agree` and/or `diff`."""
    if comparator is None:
        return compare(primary, candidate)
    result = comparator(primary, candidate)
    if isinstance(result, bool):
        return result, None
    if isinstance(result, (int, float)):
        return float(result) == 0.0, float(result)
    if isinstance(result, dict):
        diff = result.get("diff")
        diff = None if diff is None else float(diff)
        return bool(result.get("agree", diff == 0.0)), diff
    raise TypeError(f"comparator returned {type(result).__name__}; return a bool, a number or a dict")


# ---------------------------------------------------------------- the log
class ShadowLog:
    """Appends records to a JSONL file; one writer thread at a time (the caller holds the lock)."""

    def __init__(self, path: str | os.PathLike, *, model: str | None, primary_version: str | None,
                 candidate_version: str | None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields = {"model": model, "primary_version": primary_version, "candidate_version": candidate_version}
        self._f = open(self.path, "a", encoding="utf-8")

    def call(self, *, primary_ms: float, candidate_ms: float | None, agree: bool | None,
             diff: float | None, error: str | None, when: float | None = None) -> None:
        """Append one compared call: latencies in milliseconds, whether the outputs agree, their
        difference (an infinite one is logged as 1e308, a NaN as None, both as disagreement), the
        candidate's error text, and `when` in Unix seconds (now by default)."""
        if diff is not None and not math.isfinite(diff):
            diff = None if math.isnan(diff) else 1e308  # JSON has no inf/nan; keep "huge" visible
            agree = False
        self._write({"type": "call", "time": round(when or time.time(), 6), **self.fields,
                     "primary_ms": round(primary_ms, 4),
                     "candidate_ms": None if candidate_ms is None else round(candidate_ms, 4),
                     "agree": agree, "diff": diff, "error": error})

    def dropped(self, count: int) -> None:
        """Append a `dropped` record: `count` calls that were not shadowed because the queue was
        full."""
        self._write({"type": "dropped", "time": round(time.time(), 6), "count": count, **self.fields})

    def _write(self, record: dict) -> None:
        # Flushed per record (in the worker, off the caller's path): a crash loses no pairs.
        self._f.write(json.dumps(record, sort_keys=False) + "\n")
        self._f.flush()

    def flush(self) -> None:
        """Flush and fsync the log file."""
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        """Flush, fsync and close the log; closing twice is harmless."""
        if not self._f.closed:
            self.flush()
            self._f.close()


def run_pair_offline(primary_out: Any, primary_ms: float, candidate: Callable, value: Any,
                     comparator: Callable | None, shadow_log: ShadowLog) -> None:
    """Run the candidate on `value` and log the pair (used by the worker and by replay)."""
    start = time.perf_counter()
    try:
        out = candidate(value)
    except Exception as exc:  # noqa: BLE001 - the candidate's failures are data, not crashes
        ms = (time.perf_counter() - start) * 1000
        shadow_log.call(primary_ms=primary_ms, candidate_ms=ms, agree=None, diff=None,
                        error=f"{type(exc).__name__}: {exc}"[:500])
        return
    ms = (time.perf_counter() - start) * 1000
    try:
        agree, diff = _apply_comparator(comparator, primary_out, out)
        error = None
    except Exception as exc:  # noqa: BLE001 - a broken comparator is logged like a failure
        agree, diff, error = None, None, f"comparator {type(exc).__name__}: {exc}"[:500]
    shadow_log.call(primary_ms=primary_ms, candidate_ms=ms, agree=agree, diff=diff, error=error)


# ---------------------------------------------------------------- the runner
class ShadowRunner:
    """`runner(x)` returns `primary(x)`; `candidate(x)` runs later in one background worker."""

    def __init__(self, primary: Callable, candidate: Callable, *, log: str | os.PathLike,
                 primary_version: str | None = None, candidate_version: str | None = None,
                 model: str | None = None, comparator: Callable | None = None,
                 queue_size: int = 64) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.primary, self.candidate, self.comparator = primary, candidate, comparator
        self._log = ShadowLog(log, model=model, primary_version=primary_version,
                              candidate_version=candidate_version)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._dropped = 0          # total; the worker logs the part not yet written
        self._dropped_logged = 0
        self._lock = threading.Lock()        # the log: worker vs close()
        self._count_lock = threading.Lock()  # counters only, held for nanoseconds by callers
        self.calls = 0
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="weightops-shadow", daemon=True)
        self._worker.start()

    @property
    def dropped(self) -> int:
        """Calls not shadowed so far because the queue was full."""
        return self._dropped

    def __call__(self, value: Any) -> Any:
        start = time.perf_counter()
        out = self.primary(value)
        primary_ms = (time.perf_counter() - start) * 1000
        dropped = False
        if not self._closed:
            try:
                self._queue.put_nowait((value, out, primary_ms))
            except queue.Full:
                dropped = True
        with self._count_lock:
            self.calls += 1
            self._dropped += dropped
        return out

    def _log_drops(self) -> None:
        with self._count_lock:
            pending = self._dropped - self._dropped_logged
        if pending > 0:
            self._log.dropped(pending)
            self._dropped_logged += pending

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            value, out, primary_ms = item
            with self._lock:
                self._log_drops()
                run_pair_offline(out, primary_ms, self.candidate, value, self.comparator, self._log)

    def close(self) -> None:
        """Wait for queued shadow calls, write the drop count, flush and close the log."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._worker.join()
        with self._lock:
            self._log_drops()
            self._log.close()

    def __enter__(self) -> "ShadowRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
