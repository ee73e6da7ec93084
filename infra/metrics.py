"""Prometheus metrics of a worker. Live values (queue depths, slots, paused partitions, pipeline counters) are
read at scrape time by a collector; latencies are histograms fed as requests move. One registry per runtime
(injected), so tests and library mode never share global state.

Every label value is a time series Prometheus keeps, so no label takes a value straight from a request: a tenant
is labelled by name only when the configuration knows it (:func:`configured_tenants`), else ``other``."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infra.degraded import Degradation
from infra.loop_lag import LoopLagMonitor
from schemas.events import PRIORITIES, ChatResponse

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from schemas.config import RouterConfig

__all__ = ["OTHER_TENANT", "RouterMetrics", "configured_tenants", "serve_metrics"]

#: the label value of every tenant the configuration does not name
OTHER_TENANT = "other"

log = logging.getLogger(__name__)
_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass
class _Sources:
    gate: Any = None  # agents.slot_gate.SlotGate
    pipeline_stats: Any = None  # agents.pipeline.PipelineStats
    cache_stats: Any = None  # infra.cache.semantic_cache.CacheStats
    paused: Callable[[], Iterable[tuple[str, int]]] | None = None  # (topic, partition) paused by full buffers
    degradations: list[Degradation] = field(default_factory=list)  # dependencies that fell back (Redis, embedder)
    extra: list[Callable[[], Iterable[Metric]]] = field(default_factory=list)


class _LiveCollector(Collector):
    def __init__(self, sources: _Sources) -> None:
        self._s = sources

    def collect(self) -> Iterator[Metric]:
        gate = self._s.gate
        if gate is not None:
            waiting = GaugeMetricFamily("llm_router_queue_waiting", "requests waiting for a slot", labels=["priority"])
            dispatched = CounterMetricFamily(
                "llm_router_dispatched", "requests given a provider slot", labels=["priority"]
            )
            expired = CounterMetricFamily(
                "llm_router_queue_expired", "deadlines passed while waiting for a slot", labels=["priority"]
            )
            for p in PRIORITIES:
                waiting.add_metric([p.value], gate.waiting(p))
                dispatched.add_metric([p.value], gate.stats.dispatched[p])
                expired.add_metric([p.value], gate.stats.expired[p])
            lanes = CounterMetricFamily("llm_router_dispatch_lane", "dispatches per scheduler lane", labels=["lane"])
            for lane, n in gate.stats.lanes.items():
                lanes.add_metric([lane], n)
            yield from (waiting, dispatched, expired, lanes)
            yield GaugeMetricFamily("llm_router_slots_in_use", "provider calls in flight", value=gate.in_use)
            yield GaugeMetricFamily("llm_router_slots_capacity", "provider slots of this worker", value=gate.capacity)
        stats = self._s.pipeline_stats
        if stats is not None:
            fam = CounterMetricFamily("llm_router_pipeline", "pipeline outcomes", labels=["outcome"])
            for name, value in vars(stats).items():
                fam.add_metric([name], value)
            yield fam
        if self._s.cache_stats is not None:
            yield _cache_events(self._s.cache_stats)
        if self._s.paused is not None:
            paused = GaugeMetricFamily(
                "llm_router_paused_partitions", "partitions not fetched because their buffer is full", labels=["topic"]
            )
            counts: dict[str, int] = {}
            for topic, _ in self._s.paused():
                counts[topic] = counts.get(topic, 0) + 1
            for topic, n in sorted(counts.items()):
                paused.add_metric([topic], n)
            yield paused
        if self._s.degradations:
            yield _degraded(self._s.degradations)
        for extra in self._s.extra:
            yield from extra()


def _cache_events(stats: Any) -> Metric:
    """``llm_router_cache_events_total{event}``: every counter of the cache (lookups, hits by kind, misses,
    verifications and their outcomes, translations): the hit rate and the verification share are one expression."""
    fam = CounterMetricFamily("llm_router_cache_events", "semantic cache events", labels=["event"])
    counters = {**{k: v for k, v in vars(stats).items() if isinstance(v, int)}, **dict(stats.extra)}
    for event, value in sorted(counters.items()):
        fam.add_metric([event], value)
    return fam


def _degraded(degradations: Iterable[Degradation]) -> Metric:
    """``llm_router_degraded_total{component,reason}``: calls that took a degraded path instead of failing."""
    counts: dict[tuple[str, str], int] = {}
    for d in degradations:
        for reason, n in d.counts.items():
            counts[(d.component, reason)] = counts.get((d.component, reason), 0) + n
    fam = CounterMetricFamily(
        "llm_router_degraded", "dependency failures served by a fallback", labels=["component", "reason"]
    )
    for labels, n in sorted(counts.items()):
        fam.add_metric(list(labels), n)
    return fam


class RouterMetrics:
    """The metrics of one worker (or one library-mode router)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.sources = _Sources()
        self._tenants: frozenset[str] = frozenset()
        self.registry.register(_LiveCollector(self.sources))
        self.queue_wait = Histogram(
            "llm_router_queue_wait_seconds",
            "time from arrival (Kafka timestamp) to a provider slot",
            ["priority"],
            buckets=_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.capacity_wait = Histogram(
            "llm_router_capacity_wait_seconds",
            "time a call waited for a backend's concurrency cap (shared by all workers) to free a slot",
            ["priority", "model"],
            buckets=_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.gc_pause = Histogram(
            "llm_router_gc_pause_seconds",
            "garbage-collector pauses of the worker process (they stall the event loop)",
            ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=self.registry,
        )
        self._gc_started = 0.0
        self.responses = Counter(
            "llm_router_responses", "terminal responses", ["tenant", "model", "status", "cache"], registry=self.registry
        )
        self.cost = Counter("llm_router_cost_usd", "provider cost in USD", ["tenant", "model"], registry=self.registry)
        self.tokens = Counter(
            "llm_router_tokens", "tokens used at providers", ["tenant", "model", "kind"], registry=self.registry
        )
        self.loop_lag = Histogram(
            "llm_router_event_loop_lag_seconds",
            "how late the worker's event loop wakes a 20 ms sleeper",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
            registry=self.registry,
        )
        self.lag_monitor: LoopLagMonitor | None = None
        lag_max = Gauge(
            "llm_router_event_loop_lag_max_seconds",
            "largest event-loop lag of the last 10-20 s (0 until the watch runs)",
            registry=self.registry,
        )
        lag_max.set_function(lambda: self.lag_monitor.recent_max_s if self.lag_monitor is not None else 0.0)

    def label_tenants(self, tenants: Iterable[str]) -> None:
        """Tenants labelled by name (the configured ones); any other tenant is labelled ``other``."""
        self._tenants = frozenset(tenants)

    def tenant_label(self, tenant: str) -> str:
        return tenant if tenant in self._tenants else OTHER_TENANT

    def watch_gc(self, log_over_s: float = 0.05) -> None:
        """Time every collection; log the ones that stall the loop longer than ``log_over_s``."""

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                self._gc_started = time.perf_counter()
                return
            took = time.perf_counter() - self._gc_started
            self.gc_pause.labels(str(info.get("generation", "?"))).observe(took)
            if took >= log_over_s:
                log.warning("gc generation %s paused the worker %.0f ms", info.get("generation"), took * 1000)

        gc.callbacks.append(callback)

    async def watch_loop_lag(self, interval_s: float = 0.02, log_over_s: float = 0.1) -> None:
        """Measure how late the event loop wakes a sleeper (time nothing else could run); the largest recent lag
        is :attr:`lag_monitor` ``.recent_max_s`` and the gauge ``llm_router_event_loop_lag_max_seconds``."""
        self.lag_monitor = LoopLagMonitor(interval_s=interval_s, observe=self.loop_lag.observe, log_over_s=log_over_s)
        await self.lag_monitor.run()

    def record_response(self, response: ChatResponse) -> None:
        """Count a terminal response by tenant and model (cost and tokens only when a provider was paid: a miss,
        or a cached answer translated into the asker's language)."""
        model = response.model or "-"
        cache = response.cache_hit or "miss"
        tenant = self.tenant_label(response.tenant)
        self.responses.labels(tenant, model, response.status, cache).inc()
        if response.status == "ok" and response.cache_hit in (None, "semantic-translated"):
            self.capacity_wait.labels(response.priority.value, model).observe(response.latency.capacity_wait_ms / 1000)
            self.cost.labels(tenant, model).inc(response.cost_usd)
            self.tokens.labels(tenant, model, "prompt").inc(response.usage.prompt_tokens)
            self.tokens.labels(tenant, model, "completion").inc(response.usage.completion_tokens)

    def observe_wait(self, priority: str, seconds: float) -> None:
        self.queue_wait.labels(priority).observe(max(seconds, 0.0))


def configured_tenants(config: RouterConfig) -> set[str]:
    """The tenants the configuration names (tenant table and per-tenant limits): the only tenant label values."""
    return set(config.tenants) | set(config.limits.tenants)


def serve_metrics(metrics: RouterMetrics, port: int, host: str = "127.0.0.1") -> WSGIServer | None:
    """Expose ``/metrics`` on ``host:port`` (a daemon thread; ``shutdown()`` on the returned server stops it).
    Loopback by default: the metrics name tenants and models. A port in use is logged, not fatal (``None``)."""
    try:
        server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        log.warning("metrics endpoint not started on %s:%d: %s", host, port, exc)
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
