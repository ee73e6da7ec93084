"""Prometheus metrics of a worker. Live values (queue depths, slots, paused partitions, pipeline counters) are
read at scrape time by a collector; latencies are histograms fed as requests move. One registry per runtime
(injected), so tests and library mode never share global state.

Every label value is a time series Prometheus keeps, so no label takes a value straight from a request: a tenant
is labelled by name only when the configuration knows it (:func:`configured_tenants`), else ``other``."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infra.degraded import Degradation
from infra.loop_lag import LoopLagMonitor
from infra.rate_limits import Admission, Counted, LimitUse, RateLimiter
from schemas.events import PRIORITIES, ChatResponse, DeadLetterReason, ErrorCode

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from schemas.config import RouterConfig

__all__ = [
    "CACHE_RESULTS",
    "OTHER",
    "OTHER_TENANT",
    "MeteredRateLimiter",
    "RouterMetrics",
    "configured_tenants",
    "serve_metrics",
]

#: the label value of every tenant the configuration does not name
OTHER_TENANT = "other"
#: the ``code`` label of ``llm_router_requests_total`` for a request that did not fail
NO_ERROR = "none"
#: the label value of any model, route, backend or error code the configuration (or the code) does not know
OTHER = "other"
#: ``llm_router_cache_lookups_total{result}``: every lookup has exactly one of these results
CACHE_RESULTS = ("exact_hit", "semantic_hit", "miss", "bypass", "verification")
_ERROR_CODES = frozenset(c.value for c in ErrorCode)
_REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

log = logging.getLogger(__name__)
_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass
class _Sources:
    gate: Any = None  # agents.slot_gate.SlotGate
    pipeline_stats: Any = None  # agents.pipeline.PipelineStats
    cache_stats: Any = None  # infra.cache.semantic_cache.CacheStats
    paused: Callable[[], Iterable[tuple[str, int]]] | None = None  # (topic, partition) paused by full buffers
    degradations: list[Degradation] = field(default_factory=list)  # dependencies that fell back (Redis, embedder)
    board: Any = None  # agents.health_board.HealthBoard: in-flight calls and circuit state per backend
    #: ``(topic, partition) -> lag`` last computed from the broker's end offsets (see streams.consumer_lag)
    consumer_lag: Callable[[], dict[tuple[str, int], int]] | None = None
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
                if isinstance(value, int):
                    fam.add_metric([name], value)
            yield fam
            yield _dead_letters(getattr(stats, "dead_letters", {}))
        if self._s.cache_stats is not None:
            yield _cache_events(self._s.cache_stats)
            yield _cache_lookups(self._s.cache_stats)
        if self._s.board is not None:
            yield from _backends(self._s.board)
        if self._s.consumer_lag is not None:
            yield _consumer_lag(self._s.consumer_lag())
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


def _cache_lookups(stats: Any) -> Metric:
    """``llm_router_cache_lookups_total{result}``: each lookup counted once, under exactly one result, so the
    hit rate is ``sum(rate({result=~"exact_hit|semantic_hit"})) / sum(rate(...))``. ``verification``: a would-be
    hit answered by the provider anyway (explore / audit); ``bypass``: not cacheable or a refresh."""
    hits = stats.exact_hits + stats.semantic_hits
    missed = max(stats.misses - stats.verifications, 0)
    counts = {
        "exact_hit": stats.exact_hits,
        "semantic_hit": stats.semantic_hits,
        "miss": missed,
        "bypass": max(stats.lookups - hits - stats.misses, 0),
        "verification": stats.verifications,
    }
    fam = CounterMetricFamily("llm_router_cache_lookups", "cache lookups by result", labels=["result"])
    for result in CACHE_RESULTS:
        fam.add_metric([result], counts[result])
    return fam


def _dead_letters(by_reason: dict[str, int]) -> Metric:
    """``llm_router_dead_letters_total{reason}``: every reason present (0 until the first), unknown ones folded."""
    fam = CounterMetricFamily("llm_router_dead_letters", "messages sent to the dead-letter topic", labels=["reason"])
    known = {r.value: 0 for r in DeadLetterReason}
    for reason, n in by_reason.items():
        key = reason if reason in known else OTHER
        known[key] = known.get(key, 0) + n
    for reason, n in sorted(known.items()):
        fam.add_metric([reason], n)
    return fam


def _backends(board: Any) -> Iterator[Metric]:
    """In-flight calls and circuit state (one series per state, 1 for the current one) of each backend."""
    in_flight = GaugeMetricFamily("llm_router_backend_in_flight", "provider calls in flight", labels=["backend"])
    circuit = GaugeMetricFamily(
        "llm_router_backend_circuit_state", "circuit state of a backend (1 = current)", labels=["backend", "state"]
    )
    for backend in board.backends:
        status = board.status.get(backend)
        if status is None:
            continue
        in_flight.add_metric([backend], status.in_flight)
        current = str(board.state(backend))
        for state in _CIRCUIT_STATES:
            circuit.add_metric([backend, state], 1.0 if state == current else 0.0)
    yield in_flight
    yield circuit


_CIRCUIT_STATES = ("closed", "open", "half_open")


def _consumer_lag(lags: dict[tuple[str, int], int]) -> Metric:
    fam = GaugeMetricFamily(
        "llm_router_consumer_lag",
        "records of a request partition not yet committed by the group (broker end offset - committed offset)",
        labels=["topic", "partition"],
    )
    for (topic, partition), lag in sorted(lags.items()):
        fam.add_metric([topic, str(partition)], lag)
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
        # labelled children of the per-request metrics: prometheus_client's labels() validates and locks on every
        # call (about as much CPU as the observation itself); the label values are bounded ("other"), so is this
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
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
        # None until :meth:`know` is told the configuration (build_engine does): names are then taken as given
        self._models: frozenset[str] | None = None
        self._routes: frozenset[str] | None = None
        self._backends: frozenset[str] | None = None
        self._request_metrics()

    def _request_metrics(self) -> None:
        """The per-request series: end to end, queue, provider, outcome, rate limits."""
        request_labels = ["priority", "route", "model", "outcome"]
        self.request_duration = Histogram(
            "llm_router_request_duration_seconds",
            "end to end: first consumed by the router to the terminal response",
            request_labels,
            buckets=_REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.request_queue_wait = Histogram(
            "llm_router_request_queue_wait_seconds",
            "the part of a request's time spent queued (scheduler and retry waits) before its provider slot",
            request_labels,
            buckets=_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.provider_duration = Histogram(
            "llm_router_provider_request_duration_seconds",
            "one provider call (each attempt, failovers and retries included)",
            ["backend", "outcome"],
            buckets=_REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.cancels = Counter(
            "llm_router_cancels",
            "requesters' cancels read: stopped (work in flight here), remembered (not served here, or not yet), "
            "refused (not believed: unsigned, bad tenant), invalid (not a CancelRequest)",
            ["outcome"],
            registry=self.registry,
        )
        self.requests = Counter(
            "llm_router_requests",
            "terminal outcomes: ok (provider answer), cached, error (with its code)",
            ["priority", "outcome", "code"],
            registry=self.registry,
        )
        self.rate_limit_wait = Histogram(
            "llm_router_rate_limit_wait_seconds",
            "a call refused by a rate limit: how long until the limit has room (the wait it imposes)",
            ["scope", "unit"],
            buckets=_WAIT_BUCKETS,
            registry=self.registry,
        )

    def know(self, config: RouterConfig) -> None:
        """The label values this configuration allows (tenants, models, routes, backends); anything else a request
        names is labelled ``other``. Called at start and after every reload."""
        self.label_tenants(configured_tenants(config))
        self._backends = frozenset(b.name for b in config.backends)
        models = {m for b in config.backends for m in b.models}
        self._models = frozenset(models | {config.default_model} if config.default_model else models)
        self._routes = frozenset(r.name for r in config.routes)

    def _model(self, model: str | None) -> str:
        return _bounded(model, self._models)

    def _route(self, response: ChatResponse) -> str:
        return _bounded(response.routing.route if response.routing is not None else None, self._routes)

    def _backend(self, backend: str) -> str:
        return _bounded(backend, self._backends)

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
        model = self._model(response.model)
        cache = response.cache_hit or "miss"
        tenant = self.tenant_label(response.tenant)
        child = self._child
        child(self.responses, tenant, model, response.status, cache).inc()
        self._record_outcome(response, model)
        if response.status == "ok" and response.cache_hit in (None, "semantic-translated"):
            child(self.capacity_wait, response.priority.value, model).observe(response.latency.capacity_wait_ms / 1000)
            self._record_paid(response, tenant, model)

    def record_side_call(self, response: ChatResponse) -> None:
        """Cost and tokens of a call the router made on its own account for a tenant (the cache's judge): paid
        like any call, but no request of the tenant's, so not in the request and response counts."""
        if response.status == "ok":
            self._record_paid(response, self.tenant_label(response.tenant), self._model(response.model))

    def _record_paid(self, response: ChatResponse, tenant: str, model: str) -> None:
        """What a provider was paid for one call: cost and tokens by tenant and model."""
        self._child(self.cost, tenant, model).inc(response.cost_usd)
        self._child(self.tokens, tenant, model, "prompt").inc(response.usage.prompt_tokens)
        self._child(self.tokens, tenant, model, "completion").inc(response.usage.completion_tokens)

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def _record_outcome(self, response: ChatResponse, model: str) -> None:
        """Latency, queue wait, outcome and the provider calls of one terminal response."""
        if response.status != "ok":
            outcome = "error"
            code = str(response.error.code) if response.error is not None else "unknown"
            code = code if code in _ERROR_CODES else OTHER
        else:
            outcome = "ok" if response.cache_hit in (None, "semantic-translated") else "cached"
            code = NO_ERROR  # the code label of a success
        priority = response.priority.value
        labels = (priority, self._route(response), model, outcome)
        self._child(self.request_duration, *labels).observe(max(response.latency.total_ms, 0.0) / 1000)
        self._child(self.request_queue_wait, *labels).observe(max(response.latency.queue_ms, 0.0) / 1000)
        self._child(self.requests, priority, outcome, code).inc()
        for attempt in response.attempts:
            result = "ok" if attempt.ok else str(attempt.error_code or "unknown")
            result = result if result == "ok" or result in _ERROR_CODES else OTHER
            backend = self._backend(attempt.backend)
            self._child(self.provider_duration, backend, result).observe(attempt.latency_ms / 1000)

    def observe_wait(self, priority: str, seconds: float) -> None:
        self._child(self.queue_wait, priority).observe(max(seconds, 0.0))

    def rate_limited(self, blocked_by: str | None, retry_after_s: float) -> None:
        """A rate limit refused a call; ``blocked_by`` is the limit's key (``backend:NAME:rpm``,
        ``tenant:NAME:tpm``): only its scope and unit become labels (tenant names are free-form)."""
        parts = (blocked_by or "").split(":")
        scope = parts[0] if parts[0] in ("backend", "tenant") else OTHER
        unit = parts[-1] if parts[-1] in ("rpm", "tpm") else OTHER
        self.rate_limit_wait.labels(scope, unit).observe(max(retry_after_s, 0.0))

    def exposition(self) -> str:
        """The registry in Prometheus' text format (what ``/metrics`` serves): library mode's export."""
        return generate_latest(self.registry).decode()

    def metered(self, limiter: RateLimiter) -> MeteredRateLimiter:
        """``limiter`` whose refusals are counted in ``llm_router_rate_limit_wait_seconds``."""
        return MeteredRateLimiter(limiter, self)


class MeteredRateLimiter:
    """A rate limiter that tells the metrics about every refusal; everything else is the wrapped limiter's (its
    ``degraded`` state and the like are read through)."""

    def __init__(self, inner: RateLimiter, metrics: RouterMetrics) -> None:
        self.inner = inner
        self._metrics = metrics

    async def acquire(self, uses: list[LimitUse]) -> Admission:
        admission = await self.inner.acquire(uses)
        if not admission.ok:
            self._metrics.rate_limited(admission.blocked_by, admission.retry_after_s)
        return admission

    async def correct(self, counted: Counted, actual: Mapping[str, int]) -> None:
        await self.inner.correct(counted, actual)

    async def used(self, key: str) -> int:
        return await self.inner.used(key)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _bounded(name: str | None, known: frozenset[str] | None) -> str:
    """``name`` as a label value: ``-`` for none, ``other`` when the configuration does not know it."""
    if not name:
        return "-"
    return name if known is None or name in known else OTHER


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
