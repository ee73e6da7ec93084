"""Event-loop lag: how late a sleeper wakes up. Every millisecond of lag is a millisecond in which no request,
no heartbeat and no Kafka fetch could run (a blocking call, a long GC pause, CPU-bound work on the loop), so it is
the one number that says whether a worker *stalls* rather than merely being slow."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["LoopLagMonitor"]

log = logging.getLogger(__name__)


class LoopLagMonitor:
    """Sleeps ``interval_s`` again and again and records how much later than asked it woke (``observe`` gets each
    sample, e.g. a Prometheus histogram). Also keeps, for code and a gauge, the largest lag of the recent past
    (:attr:`recent_max_s`: the current ``window_s`` and the one before, so it never reads 0 right after a
    rotation) and of the whole run (:attr:`max_s`). ``clock`` and ``sleep`` are injectable for tests; by default
    the running loop's clock and ``asyncio.sleep``."""

    def __init__(
        self,
        *,
        interval_s: float = 0.02,
        window_s: float = 10.0,
        observe: Callable[[float], None] | None = None,
        log_over_s: float = 0.1,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if interval_s <= 0 or window_s <= 0:
            raise ValueError("interval_s and window_s must be positive")
        self.interval_s = interval_s
        self.window_s = window_s
        self._observe = observe
        self._log_over_s = log_over_s
        self._clock = clock
        self._sleep = sleep
        self.samples = 0
        self.max_s = 0.0
        self._current_max = 0.0
        self._previous_max = 0.0
        self._window_end: float | None = None

    @property
    def recent_max_s(self) -> float:
        """The largest lag seen in the current window and the previous one."""
        return max(self._current_max, self._previous_max)

    def record(self, lag_s: float, now: float) -> None:
        """Account one sample taken at ``now`` (negative lags, a clock artefact, count as 0)."""
        lag_s = max(lag_s, 0.0)
        if self._window_end is None:
            self._window_end = now + self.window_s
        elif now >= self._window_end:
            # a window with no sample at all (the loop stalled through it) leaves nothing to keep
            skipped = now >= self._window_end + self.window_s
            self._previous_max = 0.0 if skipped else self._current_max
            self._current_max = 0.0
            self._window_end = now + self.window_s
        self._current_max = max(self._current_max, lag_s)
        self.max_s = max(self.max_s, lag_s)
        self.samples += 1
        if self._observe is not None:
            self._observe(lag_s)
        if lag_s >= self._log_over_s:
            log.warning("event loop stalled %.0f ms", lag_s * 1000)

    async def run(self) -> None:
        """Measure until cancelled."""
        clock = self._clock or asyncio.get_running_loop().time
        while True:
            t0 = clock()
            await self._sleep(self.interval_s)
            now = clock()
            self.record(now - t0 - self.interval_s, now)
