"""The operator's series (issue 16): end-to-end and queue latency by priority, route, model and outcome; provider
latency per backend; outcomes by error code; cache lookups by result; dead letters by reason; backends' in-flight
calls and circuit state; consumer lag; rate-limit waits. Every label value is bounded by the configuration."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from infra.cache.semantic_cache import CacheStats
from infra.metrics import CACHE_RESULTS, OTHER, MeteredRateLimiter, RouterMetrics
from infra.rate_limits import LimitUse, LocalRateLimiter
from schemas.config import RouterConfig
from schemas.events import (
    Attempt,
    ChatResponse,
    ErrorCode,
    ErrorInfo,
    Latency,
    Priority,
    RoutingDecision,
)


def _config() -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "backends": [
                {"name": "a", "base_url": "http://127.0.0.1:1/v1", "models": ["m1"]},
                {"name": "b", "base_url": "http://127.0.0.1:2/v1", "models": ["m2"]},
            ],
            "routes": [{"name": "code", "match": {"keywords": ["python"]}, "targets": [{"model": "m1"}]}],
            "tenants": {"acme": {}},
        }
    )


def _metrics() -> RouterMetrics:
    metrics = RouterMetrics()
    metrics.know(_config())
    return metrics


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _ok(**kw: object) -> ChatResponse:
    fields: dict[str, object] = {
        "request_id": "r1",
        "tenant": "acme",
        "priority": Priority.HIGH,
        "model": "m1",
        "content": "hi",
        "routing": RoutingDecision(route="code"),
        "latency": Latency(total_ms=1500, queue_ms=250),
        "attempts": [
            Attempt(backend="b", model="m2", ok=False, error_code=ErrorCode.PROVIDER_TIMEOUT, latency_ms=400),
            Attempt(backend="a", model="m1", ok=True, latency_ms=800),
        ],
    }
    return ChatResponse.model_validate({**fields, **kw})


def test_a_response_is_timed_end_to_end_and_in_the_queue_by_priority_route_model_and_outcome() -> None:
    metrics = _metrics()
    metrics.record_response(_ok())
    labels = {"priority": "high", "route": "code", "model": "m1", "outcome": "ok"}
    reg = metrics.registry
    assert _value(reg, "llm_router_request_duration_seconds_count", **labels) == 1
    assert _value(reg, "llm_router_request_duration_seconds_sum", **labels) == pytest.approx(1.5)
    assert _value(reg, "llm_router_request_queue_wait_seconds_sum", **labels) == pytest.approx(0.25)
    assert _value(reg, "llm_router_requests_total", priority="high", outcome="ok", code="none") == 1


def test_every_provider_attempt_is_timed_per_backend_with_its_outcome() -> None:
    metrics = _metrics()
    metrics.record_response(_ok())
    reg = metrics.registry
    assert _value(reg, "llm_router_provider_request_duration_seconds_sum", backend="a", outcome="ok") == 0.8
    timeout = {"backend": "b", "outcome": "provider_timeout"}
    assert _value(reg, "llm_router_provider_request_duration_seconds_count", **timeout) == 1


def test_failures_are_counted_by_error_code_and_cache_hits_as_cached() -> None:
    metrics = _metrics()
    error = ErrorInfo(code=ErrorCode.NO_ROUTE, message="no")
    metrics.record_response(_ok(status="error", content=None, error=error, attempts=[]))
    metrics.record_response(_ok(cache_hit="exact", attempts=[]))
    reg = metrics.registry
    assert _value(reg, "llm_router_requests_total", priority="high", outcome="error", code="no_route") == 1
    assert _value(reg, "llm_router_requests_total", priority="high", outcome="cached", code="none") == 1
    cached = {"priority": "high", "route": "code", "model": "m1", "outcome": "cached"}
    assert _value(reg, "llm_router_request_duration_seconds_count", **cached) == 1


def test_names_the_configuration_does_not_know_are_labelled_other() -> None:
    """A request may name any model, a newer router any code: none of them becomes a series of its own."""
    metrics = _metrics()
    for i in range(50):
        metrics.record_response(
            _ok(
                model=f"free-{i}",
                routing=RoutingDecision(route=f"r{i}"),
                status="error",
                content=None,
                error=ErrorInfo(code=f"code-{i}", message="x"),
                attempts=[Attempt(backend=f"x{i}", model="m", ok=False, error_code=f"e{i}")],
            )
        )
    reg = metrics.registry
    labels = {"priority": "high", "route": OTHER, "model": OTHER, "outcome": "error"}
    assert _value(reg, "llm_router_request_duration_seconds_count", **labels) == 50
    assert _value(reg, "llm_router_requests_total", priority="high", outcome="error", code=OTHER) == 50
    assert _value(reg, "llm_router_provider_request_duration_seconds_count", backend=OTHER, outcome=OTHER) == 50
    values = {
        v for fam in reg.collect() for s in fam.samples for k, v in s.labels.items() if k in ("model", "route", "code")
    }
    assert not any(v.startswith(("free-", "code-", "r1")) for v in values), values


def test_cache_lookups_have_one_result_each_so_the_hit_rate_is_one_expression() -> None:
    metrics = RouterMetrics()
    # 20 lookups: 3 not cacheable, 1 refresh (bypass), 4 exact, 2 semantic, 10 misses of which 3 verifications
    metrics.sources.cache_stats = CacheStats(
        lookups=20, not_cacheable=3, exact_hits=4, semantic_hits=2, misses=10, verifications=3
    )
    reg = metrics.registry
    got = {r: _value(reg, "llm_router_cache_lookups_total", result=r) for r in CACHE_RESULTS}
    assert got == {"exact_hit": 4, "semantic_hit": 2, "miss": 7, "bypass": 4, "verification": 3}
    assert sum(got.values()) == 20
    assert (got["exact_hit"] + got["semantic_hit"]) / sum(got.values()) == pytest.approx(0.3)


def test_dead_letters_are_counted_by_reason_every_reason_present_from_the_start() -> None:
    from agents.pipeline import PipelineStats

    metrics = RouterMetrics()
    stats = PipelineStats()
    metrics.sources.pipeline_stats = stats
    assert _value(metrics.registry, "llm_router_dead_letters_total", reason="no_route") == 0
    assert metrics.registry.get_sample_value("llm_router_dead_letters_total", {"reason": "no_route"}) == 0
    stats.dead_letters["no_route"] = 2
    stats.dead_letters["something-new"] = 1
    assert _value(metrics.registry, "llm_router_dead_letters_total", reason="no_route") == 2
    assert _value(metrics.registry, "llm_router_dead_letters_total", reason=OTHER) == 1
    assert _value(metrics.registry, "llm_router_pipeline_total", outcome="received") == 0


def test_backends_report_calls_in_flight_and_their_circuit_state() -> None:
    from agents.health_board import HealthBoard
    from schemas.config import HealthSettings

    board = HealthBoard(["a", "b"], HealthSettings())
    metrics = RouterMetrics()
    metrics.sources.board = board
    board.begin("a")
    board.begin("a")
    for _ in range(50):  # enough failures to open any breaker
        board.begin("b")
        board.end("b", ok=False, latency_ms=1.0, reason="boom")
    reg = metrics.registry
    assert _value(reg, "llm_router_backend_in_flight", backend="a") == 2
    assert _value(reg, "llm_router_backend_circuit_state", backend="a", state="closed") == 1
    assert _value(reg, "llm_router_backend_circuit_state", backend="b", state="open") == 1
    assert _value(reg, "llm_router_backend_circuit_state", backend="b", state="closed") == 0


def test_consumer_lag_is_exported_per_topic_and_partition() -> None:
    metrics = RouterMetrics()
    metrics.sources.consumer_lag = lambda: {("p.requests.normal", 0): 5, ("p.requests.normal", 1): 0}
    reg = metrics.registry
    assert _value(reg, "llm_router_consumer_lag", topic="p.requests.normal", partition="0") == 5
    assert reg.get_sample_value("llm_router_consumer_lag", {"topic": "p.requests.normal", "partition": "1"}) == 0


async def test_rate_limit_refusals_are_timed_by_scope_and_unit_never_by_tenant_name() -> None:
    metrics = RouterMetrics()
    limiter = metrics.metered(LocalRateLimiter())
    assert isinstance(limiter, MeteredRateLimiter)
    uses = [LimitUse("tenant:some-free-form-name:rpm", 1, 1)]
    assert (await limiter.acquire(uses)).ok
    refused = await limiter.acquire(uses)
    assert not refused.ok
    reg = metrics.registry
    assert _value(reg, "llm_router_rate_limit_wait_seconds_count", scope="tenant", unit="rpm") == 1
    assert _value(reg, "llm_router_rate_limit_wait_seconds_sum", scope="tenant", unit="rpm") > 0
    assert "some-free-form-name" not in metrics.exposition()
    assert await limiter.used("tenant:some-free-form-name:rpm") == 1
    await limiter.aclose()


def test_library_mode_reads_the_exposition_as_text() -> None:
    metrics = _metrics()
    metrics.record_response(_ok())
    text = metrics.exposition()
    assert "# TYPE llm_router_request_duration_seconds histogram" in text
    assert 'llm_router_requests_total{code="none",outcome="ok",priority="high"} 1.0' in text


async def test_library_mode_exposes_its_registry_and_the_text_of_a_scrape() -> None:
    """An in-process router has the worker's series (backends included) without opening a port."""
    from streams.library import Router

    async with Router(_config(), background=False) as router:
        await router.start()
        assert router.metrics_registry is router.metrics.registry
        text = router.metrics_text()
    assert 'llm_router_backend_circuit_state{backend="a",state="closed"} 1.0' in text
    assert "llm_router_config_info" in text
