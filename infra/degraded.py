"""Counting and logging a dependency that is down, without flooding the log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["Degradation", "reason_of"]


def reason_of(exc: BaseException) -> str:
    """A bounded label for why a dependency failed (a metric label: never the message itself). An exception
    may name its own with a ``degradation_reason`` class attribute (``RedisBreakerOpen``: ``breaker_open``)."""
    own = getattr(exc, "degradation_reason", None)
    if isinstance(own, str):
        return own
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | RedisTimeoutError):
        return "timeout"
    if isinstance(exc, RedisConnectionError | ConnectionError):
        return "unreachable"
    return "error"


class Degradation:
    """``report(exc)`` counts every failure by reason (see :func:`reason_of`) and logs at most one warning per
    ``every_s`` seconds; ``component`` names what degraded in the ``llm_router_degraded_total`` metric."""

    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        every_s: float = 10.0,
        *,
        component: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._message = message
        self._every_s = every_s
        self._clock = clock
        self._last = float("-inf")
        self.component = component or logger.name.rpartition(".")[2]
        self.count = 0
        self.counts: dict[str, int] = {}
        self.last_error = ""

    def report(self, exc: BaseException, what: str = "") -> None:
        self.count += 1
        reason = reason_of(exc)
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.last_error = f"{what}: {exc}" if what else str(exc) or type(exc).__name__
        now = self._clock()
        if now - self._last > self._every_s:
            self._last = now
            self._log.warning("%s (%s)", self._message, self.last_error)
