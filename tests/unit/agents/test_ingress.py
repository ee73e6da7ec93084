"""The ingress's pure decisions: what it needs to exist, and the names it derives."""

from __future__ import annotations

import pytest

from agents.ingress import Admitted, Ingress, IngressPolicy, RawMessage, Refused
from infra.signing_keys import Keyring
from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.events import ChatMessage, ChatRequest
from schemas.signing import sign_request
from schemas.wire import Header, TopicNames

TOPICS = TopicNames("t")
ROUTER = (b"r" * 32,)
ACME = b"a" * 32


def _req(**kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content="hi")], **kw)  # type: ignore[arg-type]


def _raw(request: ChatRequest, headers: list[tuple[str, bytes]] | None = None) -> RawMessage:
    return RawMessage(TOPICS.requests("normal"), 0, 0, None, request.model_dump_json().encode(), headers or [])


def test_the_service_needs_a_router_key() -> None:
    with pytest.raises(ConfigError, match=r"security\.router_keys is required"):
        Ingress(IngressPolicy(signed=False), TOPICS, Keyring())


def test_signed_tenancy_without_any_tenant_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no tenant has keys"):
        Ingress(IngressPolicy(signed=True), TOPICS, Keyring(router=ROUTER))


def test_the_policy_of_a_config() -> None:
    config = RouterConfig.model_validate(
        {
            "backends": [{"name": "b", "base_url": "http://x", "models": ["m"]}],
            "tenants": {"acme": {"reply_to_prefixes": ["acme.", "shared.acme."]}, "globex": {}},
            "security": {"tenancy": "trusted-producers", "tenant_topics": True},
        }
    )
    policy = IngressPolicy.from_config(config)
    assert (policy.signed, policy.tenant_topics) == (False, True)
    assert dict(policy.reply_to_prefixes) == {"acme": ("acme.", "shared.acme.")}


def test_idempotency_keys_are_scoped_by_tenant_and_replay() -> None:
    request = _req(tenant="acme", request_id="r-1")
    assert Ingress.idempotency_key(_raw(request), request) == "acme:r-1"
    replayed = _raw(request, [(Header.REPLAY, b"dl-9")])
    assert Ingress.idempotency_key(replayed, request) == "acme:r-1#replay:dl-9"


def test_tenant_topics_or_shared_ones() -> None:
    own = Ingress(IngressPolicy(signed=True, tenant_topics=True), TOPICS, Keyring(ROUTER, {"acme": (ACME,)}))
    shared = Ingress(IngressPolicy(signed=False, tenant_topics=False), TOPICS, Keyring(ROUTER))
    assert (own.reply_topic("acme"), own.failures_topic("acme")) == ("t.responses.acme", "t.failures.acme")
    assert own.failures_topic(None) == "t.failures"  # records of no known tenant: the operators' topic
    assert (shared.reply_topic("acme"), shared.failures_topic("acme")) == ("t.responses", "t.failures")


def test_a_tenant_may_not_reply_to_another_tenants_topic() -> None:
    ingress = Ingress(IngressPolicy(signed=True, tenant_topics=True), TOPICS, Keyring(ROUTER, {"acme": (ACME,)}))
    request = _req(tenant="acme", reply_to="t.responses.globex")
    value = request.model_dump_json().encode()
    raw = RawMessage(TOPICS.requests("normal"), 0, 0, None, value, [(Header.SIGNATURE, sign_request(ACME, value))])
    verdict = ingress.admit(raw, request)
    assert isinstance(verdict, Refused) and verdict.reply_topic == "t.responses.acme"


def test_an_admitted_request_carries_a_fresh_state_of_its_topic() -> None:
    ingress = Ingress(IngressPolicy(signed=False, tenant_topics=False), TOPICS, Keyring(ROUTER))
    request = _req(tenant="acme")
    verdict = ingress.admit(_raw(request), request)
    assert isinstance(verdict, Admitted)
    assert (verdict.state.rounds, verdict.state.origin_topic, verdict.queued_s) == (0, "t.requests.normal", 0.0)
