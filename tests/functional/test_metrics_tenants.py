"""The composition root bounds the tenant label of the worker's and library mode's metrics by the config."""

from __future__ import annotations

from typing import Any

from infra.metrics import OTHER_TENANT, RouterMetrics
from schemas.config import RouterConfig
from streams.runtime import build_engine


def _config(**extra: Any) -> RouterConfig:
    data: dict[str, Any] = {
        "redis": {"enabled": False},
        "cache": {"enabled": False},
        "worker": {"metrics_port": 0},
        "health": {"healthy_probe_interval_s": 0},
        "backends": [{"name": "p", "base_url": "http://127.0.0.1:9/v1", "models": ["gpt-4o-mini"]}],
        "limits": {"tenants": {"acme": {"rpm": 10}}, "default_tenant": {"rpm": 10}},
        **extra,
    }
    return RouterConfig.model_validate(data)


async def test_the_engine_labels_configured_tenants_by_name_and_the_rest_other() -> None:
    injected = RouterMetrics()  # library mode hands in its metrics before the engine exists
    for metrics in (None, injected):
        engine = await build_engine(_config(), metrics=metrics)
        try:
            labels = [engine.metrics.tenant_label(t) for t in ("acme", "default", "mallory-1")]
            assert labels == ["acme", OTHER_TENANT, OTHER_TENANT]
        finally:
            await engine.aclose()
    assert injected.tenant_label("acme") == "acme"
