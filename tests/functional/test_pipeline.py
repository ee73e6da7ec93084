"""The request pipeline end to end over real HTTP, with an in-memory publisher instead of Kafka."""

import json
from datetime import timedelta

import pytest

from agents.pipeline import Pipeline, RawMessage
from agents.priority_gate import PriorityGate
from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.idempotency import NullIdempotencyStore
from infra.providers.pool import BackendPool
from schemas.config import RouterConfig
from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter, FailureEvent, utcnow
from streams.codecs import decode, encode
from streams.publishers import MemoryPublisher
from streams.topics import TopicNames
from tests.functional.conftest import set_faults, stats

TOPICS = TopicNames("t")


def _config(server: FakeProviderServer, **retry: float) -> RouterConfig:
    return parse_config(
        json.dumps(
            {
                "worker": {"retry": {"max_attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05, **retry}},
                "backends": [
                    {"name": "b1", "base_url": server.backend_url("b1"), "models": ["gpt-4o-mini"], "timeout_s": 2},
                    {"name": "b2", "base_url": server.backend_url("b2"), "models": ["gpt-4o-mini"], "timeout_s": 2},
                ],
            }
        ),
        env={},
    )


def _pipeline(cfg: RouterConfig, publisher: MemoryPublisher) -> Pipeline:
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, worker_id="w1")
    return Pipeline(processor, publisher, TOPICS, PriorityGate(4), NullIdempotencyStore())


def _raw(value: bytes, offset: int = 0) -> RawMessage:
    return RawMessage(TOPICS.requests("normal"), 0, offset, b"tenant", value, [("traceparent", b"00-abc-01")], None)


def _req(**kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content="hello")], **kw)  # type: ignore[arg-type]


async def test_ok_request_is_answered_on_responses_topic(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    req = _req(tenant="acme")
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(req)))
    [record] = pub.on(TOPICS.responses)
    resp = decode(ChatResponse, record.value)
    assert (resp.request_id, resp.status, resp.backend, resp.tenant) == (req.request_id, "ok", "b1", "acme")
    assert resp.content and resp.usage.total_tokens > 0
    assert record.key == req.request_id.encode()
    assert ("traceparent", b"00-abc-01") in record.headers
    assert not pub.on(TOPICS.deadletter) and not pub.on(TOPICS.failures)


async def test_reply_to_overrides_the_response_topic(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(_req(reply_to="my.inbox"))))
    assert len(pub.on("my.inbox")) == 1 and not pub.on(TOPICS.responses)


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"\xff\xfe garbage", "invalid_json"), (b'{"messages": []}', "schema_invalid"), (b"", "empty_message")],
)
async def test_malformed_records_become_dead_letters(fake_server: FakeProviderServer, body: bytes, code: str) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(body, offset=42))
    [letter_rec] = pub.on(TOPICS.deadletter)
    letter = decode(DeadLetter, letter_rec.value)
    assert letter.reason == "invalid_message"
    assert letter.original_bytes() == body
    assert (letter.source_topic, letter.offset) == (TOPICS.requests("normal"), 42)
    assert ("traceparent", b"00-abc-01") in letter.header_items()
    [failure] = [decode(FailureEvent, r.value) for r in pub.on(TOPICS.failures)]
    assert (failure.stage, failure.code, failure.terminal) == ("decode", code, True)
    assert not pub.on(TOPICS.responses)
    assert pipeline.stats.dead_lettered == 1


async def test_transient_errors_fail_over_to_the_next_backend(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", error_rate=1.0, error_status=503)
    pub = MemoryPublisher()
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(_req())))
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.status == "ok" and resp.backend == "b2"
    assert [(a.backend, a.ok, a.http_status) for a in resp.attempts] == [("b1", False, 503), ("b2", True, None)]
    [failure] = [decode(FailureEvent, r.value) for r in pub.on(TOPICS.failures)]
    assert (failure.backend, failure.retriable, failure.terminal) == ("b1", True, False)


async def test_exhausted_retries_answer_with_error_and_dead_letter(fake_server: FakeProviderServer) -> None:
    for b in ("b1", "b2"):
        await set_faults(fake_server, b, error_rate=1.0, error_status=500)
    pub = MemoryPublisher()
    req = _req()
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(req)))
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.status == "error" and resp.error is not None
    assert resp.error.code == "provider_unavailable" and resp.error.retriable
    assert len(resp.attempts) == 3
    letter = decode(DeadLetter, pub.on(TOPICS.deadletter)[0].value)
    assert letter.reason == "retries_exhausted" and letter.request_id == req.request_id
    assert len(letter.attempts) == 3
    assert decode(ChatRequest, letter.original_bytes()) == req
    assert len(pub.on(TOPICS.failures)) == 4  # three attempts + the terminal failure


async def test_non_retriable_error_is_not_retried(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", error_rate=1.0, error_status=400)
    pub = MemoryPublisher()
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(_req())))
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.error is not None and resp.error.code == "provider_rejected"
    assert len(resp.attempts) == 1
    assert (await stats(fake_server, "b2"))["calls"] == 0
    assert decode(DeadLetter, pub.on(TOPICS.deadletter)[0].value).reason == "provider_rejected"


async def test_expired_deadline_is_not_sent_to_a_provider(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(_req(deadline=utcnow() - timedelta(seconds=1)))))
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.error is not None and resp.error.code == "deadline_expired"
    assert (await stats(fake_server, "b1"))["calls"] == 0
    assert decode(DeadLetter, pub.on(TOPICS.deadletter)[0].value).reason == "deadline_expired"


async def test_unknown_model_is_no_route(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(_req(model="nope"))))
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.error is not None and resp.error.code == "no_route"
    assert decode(DeadLetter, pub.on(TOPICS.deadletter)[0].value).reason == "no_route"


async def test_internal_bug_is_dead_lettered_and_answered(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub)

    async def broken(*a: object, **k: object) -> None:
        raise ZeroDivisionError("bug")

    pipeline._processor.process = broken  # type: ignore[method-assign]
    req = _req()
    await pipeline.handle(_raw(encode(req)))
    letter = decode(DeadLetter, pub.on(TOPICS.deadletter)[0].value)
    assert letter.reason == "internal_error" and "ZeroDivisionError" in letter.error
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.request_id == req.request_id and resp.error is not None and resp.error.code == "internal_error"
