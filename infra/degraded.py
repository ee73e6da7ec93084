"""Counting and logging a dependency that is down, without flooding the log."""

from __future__ import annotations

import logging
import time

__all__ = ["Degradation"]


class Degradation:
    """``report(exc)`` counts every failure and logs at most one warning per ``every_s`` seconds."""

    def __init__(self, logger: logging.Logger, message: str, every_s: float = 10.0) -> None:
        self._log = logger
        self._message = message
        self._every_s = every_s
        self._last = float("-inf")
        self.count = 0
        self.last_error = ""

    def report(self, exc: BaseException, what: str = "") -> None:
        self.count += 1
        self.last_error = f"{what}: {exc}" if what else str(exc)
        now = time.monotonic()
        if now - self._last > self._every_s:
            self._last = now
            self._log.warning("%s (%s)", self._message, self.last_error)
