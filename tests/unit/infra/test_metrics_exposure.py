"""What the metrics endpoint exposes, and to whom: loopback by default, and a bounded set of tenant label values
whatever tenant strings producers put in their requests (each label value is a time series kept forever)."""

from __future__ import annotations

import socket

from prometheus_client import generate_latest

from infra.metrics import OTHER_TENANT, RouterMetrics, configured_tenants, serve_metrics
from schemas.config import RouterConfig, WorkerSettings
from schemas.events import ChatResponse, Usage


def _config(**extra: object) -> RouterConfig:
    return RouterConfig.model_validate(
        {"backends": [{"name": "a", "base_url": "http://127.0.0.1:1/v1", "models": ["m"]}], **extra}
    )


def _response(tenant: str) -> ChatResponse:
    return ChatResponse(
        request_id=f"r-{tenant}",
        tenant=tenant,
        status="ok",
        model="gpt-4o-mini",
        content="hi",
        cost_usd=0.001,
        usage=Usage(prompt_tokens=3, completion_tokens=2),
    )


def _tenant_values(metrics: RouterMetrics) -> set[str]:
    return {
        sample.labels["tenant"]
        for family in metrics.registry.collect()
        for sample in family.samples
        if "tenant" in sample.labels
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_metrics_endpoint_listens_on_loopback_by_default() -> None:
    assert WorkerSettings().metrics_host == "127.0.0.1"
    server = serve_metrics(RouterMetrics(), _free_port())
    assert server is not None
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_in_use_is_logged_not_fatal() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert serve_metrics(RouterMetrics(), busy.getsockname()[1]) is None


def test_configured_tenants_are_the_tenant_table_and_the_limit_table() -> None:
    config = _config(
        tenants={"acme": {}},
        limits={"tenants": {"globex": {"rpm": 5}, "acme": {"rpm": 9}}, "default_tenant": {"rpm": 1}},
    )
    assert configured_tenants(config) == {"acme", "globex"}


def test_a_thousand_tenant_strings_make_at_most_configured_plus_one_label_values() -> None:
    config = _config(tenants={"acme": {}}, limits={"tenants": {"globex": {"rpm": 5}}, "default_tenant": {"rpm": 1}})
    metrics = RouterMetrics()
    metrics.label_tenants(configured_tenants(config))
    for i in range(1000):
        metrics.record_response(_response(f"tenant-{i}"))
    metrics.record_response(_response("acme"))
    metrics.record_response(_response("globex"))
    values = _tenant_values(metrics)
    assert values == {"acme", "globex", OTHER_TENANT}
    assert len(values) <= len(configured_tenants(config)) + 1
    text = generate_latest(metrics.registry).decode()
    assert 'llm_router_responses_total{cache="miss",model="gpt-4o-mini",status="ok",tenant="other"} 1000.0' in text


def test_without_configured_tenants_every_tenant_is_other() -> None:
    metrics = RouterMetrics()
    for tenant in ("default", "x", "y"):
        metrics.record_response(_response(tenant))
    assert _tenant_values(metrics) == {OTHER_TENANT}


def test_cache_events_are_exported_so_the_verification_share_is_one_expression() -> None:
    """``llm_router_cache_events_total{event}``: lookups, hits by kind, misses, verifications and their outcomes,
    translations; the share of lookups spent on verification is verifications / lookups."""
    from infra.cache.semantic_cache import CacheStats

    metrics = RouterMetrics()
    stats = CacheStats(lookups=10, exact_hits=2, semantic_hits=3, misses=5, verifications=4, verified_wrong=1)
    stats.extra["translated"] = 1
    stats.last_error = "not a number: not exported"
    metrics.sources.cache_stats = stats
    text = generate_latest(metrics.registry).decode()
    for event, value in [("lookups", 10), ("semantic_hits", 3), ("verifications", 4), ("translated", 1)]:
        assert f'llm_router_cache_events_total{{event="{event}"}} {value:.1f}' in text, event
    assert "last_error" not in text
