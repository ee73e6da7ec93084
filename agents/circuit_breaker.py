"""Circuit breaker per backend (closed → open → half-open → closed), pure logic with an injected clock."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from schemas.config import BreakerSettings

__all__ = ["CircuitBreaker", "CircuitState", "Transition"]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Transition:
    backend: str
    old: CircuitState
    new: CircuitState
    reason: str
    at: float
    open_until: float | None = None


class CircuitBreaker:
    """Closed: calls flow, outcomes fill a sliding window; it opens on ``consecutive_failures`` failures in a
    row or a failure rate ≥ ``failure_rate`` over ≥ ``min_calls`` calls. Open: no calls until ``open_s``
    passed. Half-open: up to ``half_open_max_calls`` trial calls; a success closes, a failure re-opens.
    A call or probe proving the backend unusable opens it at once (``trip``); probes and other workers can
    force a state (``force_open`` / ``force_closed``)."""

    def __init__(self, backend: str, settings: BreakerSettings, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.settings = settings
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._window: deque[bool] = deque(maxlen=settings.window)
        self._consecutive = 0
        self._trials = 0
        self.open_until: float | None = None
        self.changed_at = 0.0  # clock time of the last transition (0: never)

    def reconfigure(self, settings: BreakerSettings) -> None:
        """New thresholds (a config reload); the state and the most recent outcomes are kept."""
        self.settings = settings
        if self._window.maxlen != settings.window:
            self._window = deque(self._window, maxlen=settings.window)

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self.open_until is not None and self._clock() >= self.open_until:
            self._state = CircuitState.HALF_OPEN  # not a reported transition: it happens by the passing of time
            self._trials = 0
        return self._state

    @property
    def failure_rate(self) -> float:
        return (self._window.count(False) / len(self._window)) if self._window else 0.0

    def allow(self) -> bool:
        """May a call go to this backend now? In half-open this reserves one of the trial calls."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and self._trials < self.settings.half_open_max_calls:
            self._trials += 1
            return True
        return False

    def available_in(self) -> float:
        """Seconds until a call may be allowed again (0 when allowed now)."""
        state = self.state
        if state is CircuitState.OPEN and self.open_until is not None:
            return max(self.open_until - self._clock(), 0.0)
        return 0.0

    def record_success(self) -> Transition | None:
        self._window.append(True)
        self._consecutive = 0
        if self.state is CircuitState.HALF_OPEN:
            return self._move(CircuitState.CLOSED, "trial call succeeded")
        return None

    def record_failure(self, reason: str = "call failed") -> Transition | None:
        self._window.append(False)
        self._consecutive += 1
        state = self.state
        if state is CircuitState.HALF_OPEN:
            return self._open(f"trial call failed: {reason}")
        if state is CircuitState.CLOSED:
            s = self.settings
            if self._consecutive >= s.consecutive_failures:
                return self._open(f"{self._consecutive} consecutive failures, last: {reason}")
            if len(self._window) >= s.min_calls and self.failure_rate >= s.failure_rate:
                return self._open(f"failure rate {self.failure_rate:.0%} over {len(self._window)} calls")
        return None

    def trip(self, reason: str) -> Transition | None:
        """A failure that proves the backend unusable (its credentials were refused): open now, whatever the
        window says; ``None`` when already open (the open period is extended)."""
        self._window.append(False)
        self._consecutive += 1
        return self.force_open(reason)

    def force_open(self, reason: str, until: float | None = None) -> Transition | None:
        until = until if until is not None else self._clock() + self.settings.open_s
        if self.state is CircuitState.OPEN:
            self.open_until = max(self.open_until or 0.0, until)
            return None
        return self._open(reason, until)

    def force_closed(self, reason: str) -> Transition | None:
        if self.state is CircuitState.CLOSED:
            return None
        return self._move(CircuitState.CLOSED, reason)

    def _open(self, reason: str, until: float | None = None) -> Transition:
        self.open_until = until if until is not None else self._clock() + self.settings.open_s
        return self._move(CircuitState.OPEN, reason)

    def _move(self, new: CircuitState, reason: str) -> Transition:
        old = self._state
        self._state = new
        self._trials = 0
        self.changed_at = self._clock()
        if new is CircuitState.CLOSED:
            self._window.clear()
            self._consecutive = 0
            self.open_until = None
        return Transition(self.backend, old, new, reason, self.changed_at, self.open_until)
