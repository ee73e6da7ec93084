"""The service states what it trusts when it starts, and refuses to start without what its trust needs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from schemas.config import RouterConfig
from schemas.errors import ConfigError
from streams.runtime import build_engine, build_ingress, build_service

KEY = "service-tests-router-key-0123456789abcdef"


def _config(**security: Any) -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "redis": {"enabled": False},
            "cache": {"enabled": False},
            "worker": {"metrics_port": 0},
            "backends": [{"name": "p", "base_url": "http://127.0.0.1:9/v1", "models": ["gpt-4o-mini"]}],
            "tenants": {"acme": {"keys": [{"key": KEY}]}},
            "security": {"router_keys": [{"key": KEY}], **security},
        }
    )


class _NoTopics:
    async def exists(self, topic: str) -> bool:
        return False

    async def ensure_tenant(self, tenant: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def test_trusted_producers_are_declared_loudly_at_start(caplog: pytest.LogCaptureFixture) -> None:
    engine = await build_engine(_config(tenancy="trusted-producers"))
    try:
        with caplog.at_level(logging.INFO, logger="streams.runtime"):
            service = build_service(engine, directory=_NoTopics())
        assert not service.pipeline.ingress.policy.signed
        [record] = [r for r in caplog.records if "tenancy" in r.getMessage()]
        assert record.levelno == logging.WARNING and "Kafka ACLs must" in record.getMessage()
    finally:
        await engine.aclose()


def test_signed_tenancy_is_the_default_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="streams.runtime"):
        ingress = build_ingress(_config())
    assert ingress.policy.signed and ingress.policy.tenant_topics
    assert "tenancy: signed (HMAC per request, 1 tenants with keys), per-tenant topics" in caplog.text


def test_the_service_does_not_start_without_its_router_key() -> None:
    config = _config(router_keys=[{"key_env": "LLM_ROUTER_KEY"}])
    with pytest.raises(ConfigError, match="LLM_ROUTER_KEY is not set"):
        build_ingress(config, env={})
    with pytest.raises(ConfigError, match="router_keys is required"):
        build_ingress(_config(router_keys=[]))


def test_signed_tenancy_without_tenant_keys_does_not_start() -> None:
    config = _config().model_copy(update={"tenants": {}})
    with pytest.raises(ConfigError, match="no tenant has keys"):
        build_ingress(config)
