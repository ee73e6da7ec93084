"""The per-request metrics look their labelled series up once: prometheus_client's ``labels()`` validates and locks
on every call, as much CPU as the observation itself, and a routed request records about ten series."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from infra.metrics import RouterMetrics
from tests.unit.infra.test_metrics_series import _metrics, _ok


def _count(registry: CollectorRegistry, tenant: str) -> float:
    value = registry.get_sample_value(
        "llm_router_responses_total", {"tenant": tenant, "model": "m1", "status": "ok", "cache": "miss"}
    )
    return 0.0 if value is None else value


def test_repeated_responses_land_on_the_same_series_and_other_labels_on_their_own() -> None:
    metrics = _metrics()
    for _ in range(3):
        metrics.record_response(_ok())
    metrics.record_response(_ok(tenant="stranger"))
    assert _count(metrics.registry, "acme") == 3
    assert _count(metrics.registry, "other") == 1
    duration = {"priority": "high", "route": "code", "model": "m1", "outcome": "ok"}
    assert metrics.registry.get_sample_value("llm_router_request_duration_seconds_count", duration) == 4


def test_labels_are_looked_up_only_for_a_new_combination(monkeypatch: Any) -> None:
    metrics: RouterMetrics = _metrics()
    calls = 0
    original = MetricWrapperBase.labels

    def counting(self: MetricWrapperBase, *values: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self, *values, **kw)

    monkeypatch.setattr(MetricWrapperBase, "labels", counting)
    metrics.record_response(_ok())
    first = calls
    assert first > 0
    for _ in range(5):
        metrics.record_response(_ok())
    assert calls == first
