"""The Kafka engine's checks at start and its answer when Kafka does not take a request (no broker needed: the
SDK client is replaced by one whose send fails as aiokafka's does)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.events import ChatMessage, ChatRequest
from schemas.openai_api import ApiError
from streams.frontdoor.kafka_engine import KafkaEngine

TENANT_KEY = "acme-signing-key-0123456789abcdef0123"


def _config(**extra: Any) -> RouterConfig:
    data: dict[str, Any] = {
        "backends": [{"name": "b", "base_url": "http://x", "models": ["m"]}],
        "security": {"tenancy": "trusted-producers"},
        "tenants": {"default": {"reply_to_prefixes": ["llm-frontdoor."]}},
        "frontdoor": {"produce_timeout_s": 0.2},
    }
    data.update(extra)
    return RouterConfig.model_validate(data)


def test_the_reply_topic_is_the_door_s_own_and_outside_the_deployment_s_topics() -> None:
    engine = KafkaEngine(_config(), door_id="d1", tenants={"default"})
    assert engine.reply_topic == "llm-frontdoor.d1"
    with pytest.raises(ConfigError, match="reply_to_prefixes"):
        KafkaEngine(_config(), door_id="d1", tenants={"default", "acme"})
    with pytest.raises(ConfigError, match="deployment's own topics"):
        KafkaEngine(_config(frontdoor={"reply_topic_prefix": "llm.door."}), door_id="d1", tenants={"default"})


def test_a_signed_deployment_needs_a_key_for_every_tenant_the_door_serves() -> None:
    security = {"tenancy": "signed", "router_keys": [{"key": "r" * 40}]}
    tenants = {
        "acme": {"keys": [{"key": TENANT_KEY}], "reply_to_prefixes": ["llm-frontdoor."]},
        "beta": {"reply_to_prefixes": ["llm-frontdoor."]},
    }
    KafkaEngine(_config(security=security, tenants=tenants), door_id="d", tenants={"acme"})
    with pytest.raises(ConfigError, match="beta"):
        KafkaEngine(_config(security=security, tenants=tenants), door_id="d", tenants={"acme", "beta"})


class _Unreachable:
    """What RouterClient.submit does when the broker is gone: raises, or hangs past the produce timeout."""

    def __init__(self, hang: bool) -> None:
        self.hang = hang

    async def submit(self, request: ChatRequest, **kw: object) -> None:
        if self.hang:
            await asyncio.Event().wait()
        raise KafkaConnectionError("no broker")


@pytest.mark.parametrize("hang", [False, True])
async def test_kafka_not_taking_the_request_is_a_503(hang: bool) -> None:
    engine = KafkaEngine(_config(), door_id="d1", tenants={"default"})
    engine._client = _Unreachable(hang)  # type: ignore[assignment]
    request = ChatRequest(messages=[ChatMessage(role="user", content="hi")])
    with pytest.raises(ApiError) as caught:
        await engine.complete(request, 5)
    assert caught.value.status == 503 and caught.value.retry_after_s is not None
