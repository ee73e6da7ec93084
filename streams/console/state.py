"""What the console knows, kept in memory: the last health event of every backend, recent failures, and a short
history per chart (one point per refresh), turned into one JSON snapshot for the page."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from schemas.config import ConsoleSettings
from schemas.events import FailureEvent, HealthEvent
from schemas.wire import TopicNames
from streams.console.aggregate import (
    CallTotals,
    backends_from_metrics,
    cache_panel,
    call_window,
    cost_panel,
    last_reload,
    provider_calls,
    queue_panel,
    worker_panel,
)
from streams.console.scrape import WorkerScrape

__all__ = ["ConsoleState"]

_STATE_OF_CIRCUIT = {"open": "down", "half_open": "degraded"}


class ConsoleState:
    def __init__(
        self,
        settings: ConsoleSettings,
        topics: TopicNames,
        backends: list[str],
        clock: Callable[[], float] = time.time,
        *,
        error_bound: float | None = None,
    ) -> None:
        self._settings = settings
        self._error_bound = error_bound  # cache.max_error_rate
        self._topics = topics
        self._backends = list(backends)
        self._clock = clock
        self._health: dict[str, HealthEvent] = {}
        self._failures: deque[FailureEvent] = deque(maxlen=settings.failures_kept)
        self._history: dict[str, deque[object]] = {}
        self._reloads: dict[str, dict[str, int]] = {}
        self._last_reload: dict[str, tuple[str, float]] = {}
        self._panels: dict[str, object] = {}
        self._metric_backends: dict[str, dict[str, object]] = {}
        self._calls: CallTotals | None = None

    def on_health(self, event: HealthEvent) -> None:
        if event.backend not in self._backends:
            self._backends.append(event.backend)
        self._health[event.backend] = event

    def on_failure(self, event: FailureEvent) -> None:
        self._failures.appendleft(event)

    def _push(self, key: str, value: object) -> list[object]:
        series = self._history.setdefault(key, deque(maxlen=self._settings.history_points))
        series.append(value)
        return list(series)

    def tick(self, scrapes: list[WorkerScrape], lags: dict[tuple[str, int], int]) -> None:
        """One refresh: panels from this round's scrapes and lag, one more point on every chart."""
        now = self._clock()
        self._metric_backends = backends_from_metrics(scrapes)
        queues = queue_panel(scrapes, lags, self._topics)
        for row in queues:
            row["history"] = self._push(f"queue:{row['priority']}", row["lag"])
        workers = worker_panel(scrapes)
        for row in workers:
            if row["error"] is None:  # a worker out of reach has no counters: not a reset, not a reload
                self._note_reload(str(row["url"]), row["reloads"], now)  # type: ignore[arg-type]
            result, at = self._last_reload.get(str(row["url"]), (None, None))
            row.update(last_reload=result, last_reload_at=_iso(at))
        calls = provider_calls(scrapes)
        window, self._calls = call_window(self._calls, calls), calls
        backends = [self._backend_row(name) for name in self._backends]
        for row in backends:
            made = window.get(str(row["name"]), {})
            row["calls"] = made.get("calls")
            row["history"] = {
                "latency_ms": self._push(f"lat:{row['name']}", row["latency_ms"]),
                "error_rate": self._push(f"err:{row['name']}", row["error_rate"]),
                "call_latency_ms": self._push(f"clat:{row['name']}", made.get("latency_ms")),
                "call_error_rate": self._push(f"cerr:{row['name']}", made.get("error_rate")),
            }
        cache = cache_panel(scrapes, self._error_bound)
        cache["history"] = self._push("cache:hit_rate", cache["hit_rate"])
        self._panels = {"queues": queues, "workers": workers, "backends": backends, "cache": cache}
        self._panels.update(cost=cost_panel(scrapes), at=_iso(now))

    def _note_reload(self, url: str, reloads: dict[str, int], now: float) -> None:
        result = last_reload(self._reloads.get(url), reloads)
        if result is not None:
            self._last_reload[url] = (result, now)
        self._reloads[url] = dict(reloads)

    def _backend_row(self, name: str) -> dict[str, object]:
        event = self._health.get(name)
        metric = self._metric_backends.get(name, {})
        circuit = str(metric.get("circuit") or (event.circuit if event else "unknown"))
        state: str = event.state if event else "unknown"
        if circuit in _STATE_OF_CIRCUIT:
            state = _STATE_OF_CIRCUIT[circuit]
        elif event is not None and event.circuit != "closed" and circuit == "closed":
            state = "healthy"  # the workers' circuits closed since the last event
        return {
            "name": name,
            "state": state,
            "circuit": circuit,
            "latency_ms": round(event.latency_ewma_ms, 1) if event and event.latency_ewma_ms is not None else None,
            "error_rate": round(event.error_rate, 3) if event and event.error_rate is not None else None,
            "in_flight": metric.get("in_flight", event.in_flight if event else 0),
            "reason": event.reason if event else None,
            "worker": event.worker if event else None,
            "at": event.at.isoformat() if event else None,
        }

    def snapshot(self) -> dict[str, object]:
        versions = {e.worker: e.config_version for e in self._health.values() if e.worker}
        return {
            **self._panels,
            "failures": [_failure_row(f) for f in sorted(self._failures, key=lambda f: f.at, reverse=True)],
            "health_workers": [{"worker": w, "config_version": v} for w, v in sorted(versions.items())],
        }


def _iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat() if at is not None else None


def _failure_row(event: FailureEvent) -> dict[str, object]:
    return {
        "at": event.at.isoformat(),
        "request_id": event.request_id,
        "tenant": event.tenant,
        "stage": str(event.stage),
        "code": str(event.code),
        "message": " ".join(event.message.split())[:200],
        "terminal": event.terminal,
        "backend": event.backend,
        "attempts": [
            {
                "backend": a.backend,
                "model": a.model,
                "ok": a.ok,
                "error_code": str(a.error_code) if a.error_code is not None else None,
                "http_status": a.http_status,
                "latency_ms": round(a.latency_ms, 1),
                "at": a.at.isoformat(),
            }
            for a in event.attempts
        ],
    }
