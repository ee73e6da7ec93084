"""Per-backend health as one worker sees it: circuit breakers, in-flight counts, latency EWMA.

Pure logic (injected clock); the I/O around it (shared store, health topic, probes) is in health_service."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agents.circuit_breaker import CircuitBreaker, CircuitState, Transition
from infra.circuit_store import SharedCircuit
from schemas.config import HealthSettings
from schemas.events import HealthEvent

__all__ = ["BackendStatus", "HealthBoard"]

_EWMA_ALPHA = 0.2


@dataclass
class BackendStatus:
    breaker: CircuitBreaker
    in_flight: int = 0
    latency_ewma_ms: float | None = None
    last_sample_at: float = 0.0
    calls: int = 0
    failures: int = 0
    last_probe_at: float = 0.0
    last_probe_ok: bool | None = None
    extra: dict[str, float] = field(default_factory=dict)


class HealthBoard:
    """Answers "may I call backend X now?" and records what happened when we did."""

    def __init__(
        self,
        backends: list[str],
        settings: HealthSettings,
        clock: Callable[[], float] = time.time,
        *,
        stale_after_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.stale_after_s = stale_after_s  # a latency EWMA this old restarts from the next sample
        self._clock = clock
        now = clock()  # the first probe of a closed backend comes one healthy interval after start
        self.status = {
            b: BackendStatus(CircuitBreaker(b, settings.breaker, clock), last_probe_at=now) for b in backends
        }
        self._configured = list(backends)

    @property
    def backends(self) -> list[str]:
        """The configured backends (probed, shared, reported)."""
        return list(self._configured)

    def reconfigure(self, backends: list[str], settings: HealthSettings) -> None:
        """A config reload: new breaker settings for every backend, a fresh status for an added one. A removed
        backend keeps its status (its calls in flight still end here) but is no longer probed or reported."""
        self.settings = settings
        now = self._clock()
        for b in backends:
            if b in self.status:
                self.status[b].breaker.reconfigure(settings.breaker)
            else:
                self.status[b] = BackendStatus(CircuitBreaker(b, settings.breaker, self._clock), last_probe_at=now)
        self._configured = list(backends)

    def state(self, backend: str) -> CircuitState:
        return self.status[backend].breaker.state

    def allow(self, backend: str) -> bool:
        return self.status[backend].breaker.allow()

    def available_in(self, backend: str) -> float:
        return self.status[backend].breaker.available_in()

    def begin(self, backend: str) -> None:
        self.status[backend].in_flight += 1

    def end(
        self, backend: str, *, ok: bool | None, latency_ms: float, reason: str = "", trip: bool = False
    ) -> Transition | None:
        """``ok=None``: the call failed for a reason that says nothing about the backend's health (a 400).
        ``trip``: the failure proves the backend unusable (credentials refused): its circuit opens at once."""
        st = self.status[backend]
        st.in_flight = max(st.in_flight - 1, 0)
        st.calls += 1
        if ok is None:
            return None
        if ok:
            now = self._clock()
            prev = st.latency_ewma_ms
            fresh = prev is not None and now - st.last_sample_at <= self.stale_after_s
            st.latency_ewma_ms = _EWMA_ALPHA * latency_ms + (1 - _EWMA_ALPHA) * prev if fresh and prev else latency_ms
            st.last_sample_at = now
            return st.breaker.record_success()
        st.failures += 1
        return st.breaker.trip(reason) if trip else st.breaker.record_failure(reason)

    def probe_due(self, backend: str) -> bool:
        st = self.status[backend]
        if st.breaker.state is CircuitState.CLOSED:
            interval = self.settings.healthy_probe_interval_s
            if interval <= 0:
                return False
        else:
            interval = self.settings.probe_interval_s
        return self._clock() - st.last_probe_at >= interval

    def probe_skipped(self, backend: str) -> None:
        """Another worker probes ``backend`` this round: wait a whole interval before trying again."""
        self.status[backend].last_probe_at = self._clock()

    def probe_result(self, backend: str, ok: bool, reason: str, *, trip: bool = False) -> Transition | None:
        """``trip``: the probe proved the backend unusable (credentials refused): open at once."""
        st = self.status[backend]
        st.last_probe_at = self._clock()
        st.last_probe_ok = ok
        if ok:
            return st.breaker.force_closed(f"health probe succeeded ({reason})" if reason else "health probe succeeded")
        if trip:
            return st.breaker.trip(f"health probe failed: {reason}")
        if st.breaker.state is CircuitState.CLOSED:
            return st.breaker.record_failure(f"health probe failed: {reason}")
        return st.breaker.force_open(f"health probe failed: {reason}")

    def apply_shared(self, backend: str, shared: SharedCircuit) -> Transition | None:
        """Adopt another worker's newer decision about ``backend``."""
        breaker = self.status[backend].breaker
        if shared.at <= breaker.changed_at:
            return None
        if shared.state == CircuitState.OPEN:
            if shared.open_until is not None and shared.open_until <= self._clock():
                return None  # already expired: our own half-open logic takes over
            t = breaker.force_open(f"shared: {shared.reason}", shared.open_until)
        elif shared.state == CircuitState.CLOSED:
            t = breaker.force_closed(f"shared: {shared.reason}")
        else:
            return None
        breaker.changed_at = max(breaker.changed_at, shared.at)
        return t

    def event(self, backend: str, reason: str | None = None) -> HealthEvent:
        st = self.status[backend]
        circuit = st.breaker.state
        rate = st.breaker.failure_rate
        state = {"closed": "degraded" if rate >= 0.2 else "healthy", "half_open": "degraded", "open": "down"}
        return HealthEvent(
            backend=backend,
            state=state[circuit.value],  # type: ignore[arg-type]
            circuit=circuit.value,
            latency_ewma_ms=st.latency_ewma_ms,
            error_rate=rate,
            in_flight=st.in_flight,
            reason=reason,
        )
