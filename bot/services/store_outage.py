"""How a background worker waits out a store that cannot commit (read-only, disk full).

Such a store fails in microseconds, so a worker that retries at once spins and fills the log.
The worker says it once when writes start failing and once when they work again, and in
between retries after a delay that doubles up to a cap.
"""

from __future__ import annotations

import logging
import random
import time

FIRST_DELAY = 0.5
MAX_DELAY = 15.0


class StoreOutage:
    def __init__(
        self,
        worker: str,
        log: logging.Logger,
        *,
        first: float = FIRST_DELAY,
        cap: float = MAX_DELAY,
    ) -> None:
        self._worker = worker
        self._log = log
        self._first = first
        self._cap = cap
        self._failures = 0
        self._since = 0.0
        self._until = 0.0

    @property
    def failing(self) -> bool:
        return self._failures > 0

    def remaining(self) -> float:
        """Seconds left before the store may be tried again (0 when it may be now)."""
        return max(0.0, self._until - time.monotonic())

    def failed(self, exc: BaseException) -> float:
        """Records a failed write and returns the seconds to wait before the next try. Writes
        that fail together (several sends in flight) count as one."""
        now = time.monotonic()
        if now < self._until:
            return self._until - now
        if not self._failures:
            self._since = now
            self._log.warning(
                "store unavailable: %s paused, retrying with backoff",
                self._worker,
                extra={"worker": self._worker, "error": str(exc)},
            )
        delay = min(self._cap, self._first * 2.0**self._failures)
        # Jittered, so replicas and workers on one database do not retry in step.
        delay *= random.uniform(0.75, 1.0)
        self._failures += 1
        self._until = now + delay
        return delay

    def recovered(self) -> None:
        """A write committed: the store works again."""
        if self._failures:
            self._log.info(
                "store available again: %s resumed",
                self._worker,
                extra={
                    "worker": self._worker,
                    "failed_tries": self._failures,
                    "seconds": round(time.monotonic() - self._since, 1),
                },
            )
        self._failures = 0
        self._until = 0.0
