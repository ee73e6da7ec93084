"""infra/observability/ only speaks of series the router exports: every metric named in the alert rules and the
Grafana dashboard is in the exposition of a worker's registry (an engine built as a worker builds it)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from infra.metrics import RouterMetrics
from schemas.config import RouterConfig
from schemas.events import Attempt, ChatResponse, ErrorCode, ErrorInfo, Latency

OBSERVABILITY = Path(__file__).resolve().parents[3] / "infra" / "observability"
_NAME = re.compile(r"\bllm_router_[a-z0-9_]+\b")
_MATCHER_LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"")
_PROMETHEUS_OWN = {"job", "instance", "le"}  # labels Prometheus adds (or histograms carry)


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


@pytest.fixture
async def exposed() -> AsyncIterator[dict[str, set[str]]]:
    """sample name -> label names, of a worker's registry after one of each kind of event."""
    from agents.pipeline import PipelineStats
    from streams.runtime import build_engine

    config = RouterConfig.model_validate(
        {
            "backends": [{"name": "a", "base_url": "http://127.0.0.1:1/v1", "models": ["m"]}],
            "cache": {"enabled": True, "semantic": False},
        }
    )
    metrics = RouterMetrics()
    engine = await build_engine(config, metrics=metrics)
    try:
        metrics.sources.pipeline_stats = PipelineStats()
        metrics.sources.consumer_lag = lambda: {("p.requests.normal", 0): 3}
        attempts = [Attempt(backend="a", model="m", ok=True, latency_ms=5)]
        metrics.record_response(ChatResponse(request_id="1", model="m", latency=Latency(total_ms=9), attempts=attempts))
        error = ErrorInfo(code=ErrorCode.NO_ROUTE, message="x")
        metrics.record_response(ChatResponse(request_id="2", status="error", error=error))
        metrics.rate_limited("backend:a:rpm", 1.0)
        engine.reload_metrics.rejected()  # type: ignore[union-attr]
        metrics.observe_wait("normal", 0.1)
        assert engine.cache is not None
        engine.cache.degradations[0].report(ConnectionError("redis away"), "lookup")
        families = text_string_to_metric_families(metrics.exposition())
        out: dict[str, set[str]] = {}
        for family in families:
            for sample in family.samples:
                out.setdefault(sample.name, set()).update(sample.labels)
        yield out
    finally:
        await engine.aclose()


def test_the_files_have_expressions() -> None:
    assert len(alert_expressions()) >= 7
    assert len(dashboard_expressions()) >= 15


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
async def test_every_metric_referenced_is_exported(exposed: dict[str, set[str]], source: str) -> None:
    exprs = alert_expressions() if source == "alerts" else dashboard_expressions()
    referenced = {name for expr in exprs for name in _NAME.findall(expr)}
    assert referenced, source
    missing = sorted(referenced - exposed.keys())
    assert not missing, f"{source} names series the router does not export: {missing}"


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
async def test_every_label_matched_on_exists_on_its_metric(exposed: dict[str, set[str]], source: str) -> None:
    exprs = alert_expressions() if source == "alerts" else dashboard_expressions()
    for expr in exprs:
        for selector in re.finditer(r"(llm_router_[a-z0-9_]+)\{([^}]*)\}", expr):
            name, matchers = selector.groups()
            for label in _MATCHER_LABEL.findall(matchers):
                assert label in exposed[name] | _PROMETHEUS_OWN, f"{name} has no label {label!r} ({expr})"


def test_the_cache_hit_rate_is_one_expression_over_one_metric() -> None:
    hit_rate = [e for e in dashboard_expressions() if "exact_hit|semantic_hit" in e]
    assert len(hit_rate) == 1
    assert set(_NAME.findall(hit_rate[0])) == {"llm_router_cache_lookups_total"}
