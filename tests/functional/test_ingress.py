"""Trust boundaries of the pipeline (issue 12, findings 1, 2, 3, 6, 7, 12): what a producer writes cannot reach
another tenant's answers nor steer the router's internals."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from agents.ingress import Ingress, IngressPolicy, RawMessage
from agents.pipeline import Pipeline
from agents.processor import RequestProcessor
from agents.retry_agent import RetryForwarder
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler
from agents.slot_gate import SlotGate
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.providers.pool import BackendPool
from infra.signing_keys import Keyring
from schemas.config import RouterConfig
from schemas.events import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    DeadLetter,
    ErrorCode,
    FailureEvent,
    Priority,
    RetryState,
)
from schemas.signing import sign_request, sign_retry
from schemas.wire import RETRY_HEADER, Header, TopicNames, decode, encode
from streams.publishers import MemoryPublisher
from tests.doubles import MemoryIdempotency
from tests.functional.conftest import ROUTER_KEY, set_faults, stats, trusted_ingress

TOPICS = TopicNames("t")
ACME_KEY = b"acme-signing-key-0123456789abcdef0123"
ACME_OLD_KEY = b"acme-old-signing-key-0123456789abcdef"
GLOBEX_KEY = b"globex-signing-key-0123456789abcdef01"


class Directory:
    """Topics that exist; records which tenants' topics were ensured."""

    def __init__(self, *existing: str) -> None:
        self.existing = set(existing)
        self.tenants: list[str] = []

    async def exists(self, topic: str) -> bool:
        return topic in self.existing

    async def ensure_tenant(self, tenant: str) -> None:
        self.tenants.append(tenant)

    async def aclose(self) -> None:
        return None


def _config(server: FakeProviderServer) -> RouterConfig:
    return parse_config(
        json.dumps(
            {
                "worker": {"retry": {"max_attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05}},
                "backends": [
                    {"name": "b1", "base_url": server.backend_url("b1"), "models": ["gpt-4o-mini"], "timeout_s": 2},
                    {"name": "b2", "base_url": server.backend_url("b2"), "models": ["gpt-4o-mini"], "timeout_s": 2},
                ],
            }
        ),
        env={},
    )


def _signed_ingress() -> Ingress:
    keys = Keyring(router=(ROUTER_KEY,), tenants={"acme": (ACME_KEY, ACME_OLD_KEY), "globex": (GLOBEX_KEY,)})
    return Ingress(IngressPolicy(signed=True, tenant_topics=True), TOPICS, keys)


def _pipeline(
    cfg: RouterConfig,
    pub: MemoryPublisher,
    *,
    ingress: Ingress | None = None,
    directory: Directory | None = None,
) -> Pipeline:
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, worker_id="w1")
    ingress = ingress or trusted_ingress(TOPICS, acme=("acme.",))
    gate = SlotGate(FairScheduler(), 4)
    return Pipeline(processor, pub, ingress, gate, MemoryIdempotency(), directory=directory)


def _req(**kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content="hello")], **kw)  # type: ignore[arg-type]


def _raw(
    value: bytes,
    *,
    topic: str = TOPICS.requests("normal"),
    headers: list[tuple[str, bytes]] | None = None,
    timestamp_ms: float | None = None,
) -> RawMessage:
    return RawMessage(topic, 0, 0, b"k", value, headers or [], timestamp_ms)


def _state(**kw: object) -> bytes:
    return RetryState(**kw).model_dump_json().encode()  # type: ignore[arg-type]


def _letter(pub: MemoryPublisher) -> DeadLetter:
    [record] = pub.on(TOPICS.deadletter)
    return decode(DeadLetter, record.value)


# --- finding 1: idempotency is per tenant ---------------------------------------------------------------------


async def test_another_tenant_replaying_a_request_id_does_not_get_its_answer(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(encode(_req(request_id="r-secret", tenant="acme"))))
    [answer] = pub.on(TOPICS.responses)
    await pipeline.handle(_raw(encode(_req(request_id="r-secret", tenant="evil"))))
    second = pub.on(TOPICS.responses)[-1]
    assert second.value != answer.value and decode(ChatResponse, second.value).tenant == "evil"
    assert pipeline.stats.redelivered == 0 and (await stats(fake_server, "b1"))["calls"] == 2


async def test_the_same_tenant_redelivering_a_request_gets_the_remembered_answer(
    fake_server: FakeProviderServer,
) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub)
    for _ in range(2):
        await pipeline.handle(_raw(encode(_req(request_id="r-1", tenant="acme"))))
    first, second = pub.on(TOPICS.responses)
    assert first.value == second.value and pipeline.stats.redelivered == 1


# --- deliver 1: signed tenancy ----------------------------------------------------------------------------------


async def test_an_unsigned_request_under_signed_tenancy_is_dead_lettered_unauthenticated(
    fake_server: FakeProviderServer,
) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, ingress=_signed_ingress(), directory=Directory())
    body = encode(_req(tenant="acme"))
    await pipeline.handle(_raw(body))
    letter = _letter(pub)
    assert (letter.reason, letter.tenant, letter.original_bytes()) == ("unauthenticated", "acme", body)
    [failure] = [decode(FailureEvent, r.value) for r in pub.on(TOPICS.failures)]
    assert failure.code == "unauthenticated" and failure.terminal
    assert not pub.on(TOPICS.responses_for("acme")) and not pub.on(TOPICS.responses)  # never served
    assert (await stats(fake_server, "b1"))["calls"] == 0 and pipeline.stats.refused == 1


async def test_a_request_signed_with_another_tenants_key_is_unauthenticated(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, ingress=_signed_ingress(), directory=Directory())
    body = encode(_req(tenant="acme"))  # globex claims to be acme
    await pipeline.handle(_raw(body, headers=[(Header.SIGNATURE, sign_request(GLOBEX_KEY, body))]))
    assert _letter(pub).reason == "unauthenticated"
    assert (await stats(fake_server, "b1"))["calls"] == 0


async def test_a_signature_of_other_bytes_is_unauthenticated(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, ingress=_signed_ingress(), directory=Directory())
    signed = encode(_req(tenant="acme", request_id="r-1"))
    tampered = encode(_req(tenant="acme", request_id="r-1", reply_to="acme.elsewhere"))
    await pipeline.handle(_raw(tampered, headers=[(Header.SIGNATURE, sign_request(ACME_KEY, signed))]))
    assert _letter(pub).reason == "unauthenticated"


async def test_signed_requests_are_served_with_either_key_in_force_onto_the_tenants_own_topics(
    fake_server: FakeProviderServer,
) -> None:
    pub = MemoryPublisher()
    directory = Directory()
    pipeline = _pipeline(_config(fake_server), pub, ingress=_signed_ingress(), directory=directory)
    for key in (ACME_KEY, ACME_OLD_KEY):  # a rotation: the new key and the old one are both in force
        body = encode(_req(tenant="acme"))
        await pipeline.handle(_raw(body, headers=[(Header.SIGNATURE, sign_request(key, body))]))
    answers = [decode(ChatResponse, r.value) for r in pub.on(TOPICS.responses_for("acme"))]
    assert [(a.status, a.tenant) for a in answers] == [("ok", "acme"), ("ok", "acme")]
    assert not pub.on(TOPICS.responses) and not pub.on(TOPICS.deadletter)
    assert set(directory.tenants) == {"acme"}  # its topics are created on first use


async def test_a_tenants_failures_go_to_its_own_failure_topic(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", error_rate=1.0, error_status=503)
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, ingress=_signed_ingress(), directory=Directory())
    body = encode(_req(tenant="globex"))
    await pipeline.handle(_raw(body, headers=[(Header.SIGNATURE, sign_request(GLOBEX_KEY, body))]))
    [failure] = [decode(FailureEvent, r.value) for r in pub.on(TOPICS.failures_for("globex"))]
    assert failure.backend == "b1" and not pub.on(TOPICS.failures)
    assert decode(ChatResponse, pub.on(TOPICS.responses_for("globex"))[0].value).backend == "b2"


async def test_a_tenant_id_that_cannot_name_a_topic_is_refused(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(encode(_req(tenant="a:b/c"))))
    assert _letter(pub).reason == "invalid_message"
    [failure] = [decode(FailureEvent, r.value) for r in pub.on(TOPICS.failures)]
    assert failure.code == "invalid_tenant"
    [record] = pub.on(TOPICS.responses)  # a shared topic: the producer learns why, nobody else's topic is named
    answer = decode(ChatResponse, record.value)
    assert answer.error is not None and answer.error.code == "invalid_tenant"
    assert (await stats(fake_server, "b1"))["calls"] == 0


async def test_under_per_tenant_topics_an_invalid_tenant_id_gets_no_answer(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    ingress = Ingress(IngressPolicy(signed=False, tenant_topics=True), TOPICS, Keyring(router=(ROUTER_KEY,)))
    await _pipeline(_config(fake_server), pub, ingress=ingress, directory=Directory()).handle(
        _raw(encode(_req(tenant="a.b")))
    )
    assert _letter(pub).reason == "invalid_message" and not [r for r in pub.records if ".responses" in r.topic]


# --- finding 3: retry state -----------------------------------------------------------------------------------


async def test_a_forged_retry_record_cannot_make_the_forwarder_write_to_an_internal_topic(
    fake_server: FakeProviderServer,
) -> None:
    pub = MemoryPublisher()
    forwarder = RetryForwarder(pub, _pipeline(_config(fake_server), pub))
    forged = [(RETRY_HEADER, _state(origin_topic=TOPICS.health))]
    await forwarder.handle(_raw(encode(_req()), topic=TOPICS.retry(0), headers=forged))
    assert not pub.on(TOPICS.health) and forwarder.forwarded == 0
    assert _letter(pub).reason == "unauthenticated"


async def test_a_signed_retry_state_naming_a_retry_topic_is_not_forwarded(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    forwarder = RetryForwarder(pub, _pipeline(_config(fake_server), pub))
    body, state = encode(_req()), _state(origin_topic=TOPICS.retry(0))  # would loop forever
    headers = [(RETRY_HEADER, state), (Header.RETRY_SIGNATURE, sign_retry(ROUTER_KEY, state, body))]
    await forwarder.handle(_raw(body, topic=TOPICS.retry(0), headers=headers))
    assert forwarder.forwarded == 0 and [r.topic for r in pub.records] == [TOPICS.deadletter, TOPICS.failures]
    assert _letter(pub).reason == "internal_error"


async def test_a_forged_retry_header_on_a_request_topic_is_dropped(fake_server: FakeProviderServer) -> None:
    for b in ("b1", "b2"):
        await set_faults(fake_server, b, error_rate=1.0, error_status=500)
    pub = MemoryPublisher()
    forged = _state(
        rounds=10**6, origin_topic=TOPICS.health, first_seen=datetime(2000, 1, 1, tzinfo=UTC)
    )  # rounds feeds 2**(rounds-1): slow, then OverflowError; first_seen jumps the queue
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(encode(_req()), headers=[(RETRY_HEADER, forged)]))
    [retry] = [r for r in pub.records if ".retry." in r.topic]
    state = RetryState.model_validate_json(dict(retry.headers)[RETRY_HEADER])
    assert (state.rounds, state.origin_topic) == (1, TOPICS.requests("normal"))
    assert (datetime.now(UTC) - state.first_seen).total_seconds() < 60
    assert pipeline.ingress.dropped_states == 1 and pipeline.stats.internal_errors == 0
    assert pipeline.stats.retry_states_dropped == 1  # exported: llm_router_pipeline{outcome="retry_states_dropped"}


async def test_a_signed_retry_state_beyond_the_rounds_cap_is_dropped(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    body, state = encode(_req()), _state(rounds=10**6, origin_topic=TOPICS.requests("normal"))
    headers = [(RETRY_HEADER, state), (Header.RETRY_SIGNATURE, sign_retry(ROUTER_KEY, state, body))]
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(body, headers=headers))
    assert decode(ChatResponse, pub.on(TOPICS.responses)[0].value).status == "ok"
    assert pipeline.ingress.dropped_states == 1


async def test_a_signed_retry_state_moved_onto_another_request_is_dropped(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    early = datetime.now(UTC) - timedelta(minutes=10)
    state = _state(first_seen=early, origin_topic=TOPICS.requests("normal"))
    signature = sign_retry(ROUTER_KEY, state, encode(_req(request_id="r-original")))
    pipeline = _pipeline(_config(fake_server), pub)
    moved = [(RETRY_HEADER, state), (Header.RETRY_SIGNATURE, signature)]
    await pipeline.handle(_raw(encode(_req(request_id="r-other")), headers=moved))
    assert decode(ChatResponse, pub.on(TOPICS.responses)[0].value).latency.queue_ms < 60_000
    assert pipeline.ingress.dropped_states == 1


async def test_the_routers_own_retry_state_is_honoured(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    early = datetime.now(UTC) - timedelta(seconds=90)
    body, state = encode(_req()), _state(rounds=2, first_seen=early, origin_topic=TOPICS.requests("normal"))
    headers = [(RETRY_HEADER, state), (Header.RETRY_SIGNATURE, sign_retry(ROUTER_KEY, state, body))]
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(body, headers=headers))
    assert decode(ChatResponse, pub.on(TOPICS.responses)[0].value).latency.queue_ms >= 90_000
    assert pipeline.ingress.dropped_states == 0


async def test_a_signed_retry_state_of_another_class_topic_is_dropped(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    early = datetime.now(UTC) - timedelta(seconds=90)
    body, state = encode(_req()), _state(first_seen=early, origin_topic=TOPICS.requests("batch"))
    headers = [(RETRY_HEADER, state), (Header.RETRY_SIGNATURE, sign_retry(ROUTER_KEY, state, body))]
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(body, topic=TOPICS.requests("critical"), headers=headers))  # copied to jump a class
    assert decode(ChatResponse, pub.on(TOPICS.responses)[0].value).latency.queue_ms < 60_000


# --- finding 6: priority and arrival --------------------------------------------------------------------------


async def test_priority_comes_from_the_topic_not_the_body(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    body = encode(_req(priority=Priority.CRITICAL))  # overridden, not rejected
    await _pipeline(_config(fake_server), pub).handle(_raw(body, topic=TOPICS.requests("batch")))
    [record] = pub.on(TOPICS.responses)
    assert decode(ChatResponse, record.value).priority == Priority.BATCH


async def test_arrival_is_the_first_consume_time_not_the_producer_timestamp(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    an_hour_ago_ms = (time.time() - 3600) * 1000
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(_req()), timestamp_ms=an_hour_ago_ms))
    response = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert response.latency.queue_ms < 60_000


# --- finding 7: reply_to --------------------------------------------------------------------------------------


async def test_reply_to_an_internal_topic_is_refused_with_an_error_and_a_dead_letter(
    fake_server: FakeProviderServer,
) -> None:
    pub = MemoryPublisher()
    body = encode(_req(tenant="acme", reply_to=TOPICS.health))
    await _pipeline(_config(fake_server), pub).handle(_raw(body))
    assert not pub.on(TOPICS.health)
    [record] = pub.on(TOPICS.responses)  # the error goes where the tenant's answers go by default
    answer = decode(ChatResponse, record.value)
    assert answer.status == "error" and answer.error is not None and answer.error.code == "reply_to_forbidden"
    assert "reply_to" in answer.error.message and _letter(pub).reason == "forbidden"
    assert (await stats(fake_server, "b1"))["calls"] == 0


async def test_reply_to_outside_the_tenants_prefixes_is_refused(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    body = encode(_req(tenant="globex", reply_to="acme.inbox"))  # acme's prefix, not globex's
    await _pipeline(_config(fake_server), pub).handle(_raw(body))
    assert not pub.on("acme.inbox") and _letter(pub).reason == "forbidden"


async def test_reply_to_under_an_allowed_prefix_receives_the_answer(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, directory=Directory("acme.inbox"))
    await pipeline.handle(_raw(encode(_req(tenant="acme", reply_to="acme.inbox"))))
    [record] = pub.on("acme.inbox")
    assert decode(ChatResponse, record.value).status == "ok" and not pub.on(TOPICS.responses)


async def test_reply_to_a_topic_that_does_not_exist_is_refused(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, directory=Directory())
    await pipeline.handle(_raw(encode(_req(tenant="acme", reply_to="acme.nowhere"))))
    answer = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert answer.error is not None and answer.error.code == "reply_to_missing"
    assert not pub.on("acme.nowhere") and _letter(pub).reason == "forbidden"


async def test_an_invalid_body_is_answered_only_when_its_tenant_signed_it(fake_server: FakeProviderServer) -> None:
    """Under signed tenancy a body that fails validation is answered (on the tenant's own response topic) only
    when the tenant's signature over it holds: an unsigned one naming acme must not put records on acme's topic."""
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, ingress=_signed_ingress(), directory=Directory())
    body = json.dumps({"request_id": "r-bad", "tenant": "acme", "messages": "nope"}).encode()
    await pipeline.handle(_raw(body))  # unsigned
    await pipeline.handle(_raw(body, headers=[(Header.SIGNATURE, sign_request(GLOBEX_KEY, body))]))
    assert not pub.on(TOPICS.responses_for("acme")) and len(pub.on(TOPICS.deadletter)) == 2
    await pipeline.handle(_raw(body, headers=[(Header.SIGNATURE, sign_request(ACME_KEY, body))]))
    [answer] = [decode(ChatResponse, r.value) for r in pub.on(TOPICS.responses_for("acme"))]
    assert (answer.request_id, answer.status) == ("r-bad", "error") and answer.error is not None
    assert answer.error.code == ErrorCode.SCHEMA_INVALID and not pub.on(TOPICS.responses)
