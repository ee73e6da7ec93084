"""The request pipeline end to end over real HTTP, with an in-memory publisher instead of Kafka."""

import json
from datetime import timedelta

import pytest

from agents.health_board import HealthBoard
from agents.pipeline import Pipeline, RawMessage
from agents.processor import RequestProcessor
from agents.retry_agent import RetryForwarder
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler, Ticket
from agents.slot_gate import SlotGate
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.idempotency import NullIdempotencyStore
from infra.providers.pool import BackendPool
from schemas.config import RouterConfig
from schemas.events import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    DeadLetter,
    FailureEvent,
    Priority,
    RetryState,
    utcnow,
)
from schemas.wire import RETRY_HEADER, TopicNames, decode, encode
from streams.publishers import MemoryPublisher
from tests.functional.conftest import set_faults, stats, trusted_ingress

TOPICS = TopicNames("t")
INGRESS = trusted_ingress(TOPICS, default=("my.",))


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
    return Pipeline(processor, publisher, INGRESS, SlotGate(FairScheduler(), 4), NullIdempotencyStore())


async def _drive(pipeline: Pipeline, pub: MemoryPublisher, raw: RawMessage, max_rounds: int = 10) -> None:
    """Handle ``raw``, then carry every retry record through the forwarder and back, like the agents do."""
    forwarder = RetryForwarder(pub, pipeline)
    await pipeline.handle(raw)
    seen = 0
    for _ in range(max_rounds):
        retries = [r for r in pub.records if ".retry." in r.topic][seen:]
        if not retries:
            return
        seen += len(retries)
        for rec in retries:
            before = len(pub.records)
            await forwarder.handle(RawMessage(rec.topic, 0, 0, rec.key, rec.value, rec.headers, None))
            forwarded = pub.records[before]
            await pipeline.handle(
                RawMessage(forwarded.topic, 0, 1, forwarded.key, forwarded.value, forwarded.headers, None)
            )
    raise AssertionError("still retrying")


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
    await _drive(_pipeline(_config(fake_server), pub), pub, _raw(encode(req)))
    [retry] = [r for r in pub.records if ".retry." in r.topic]  # round 1: b1, b2 failed; round 2: b1 failed
    assert retry.value == encode(req)
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
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(encode(_req(deadline=utcnow() - timedelta(seconds=1)))))
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.error is not None and resp.error.code == "deadline_expired"
    assert (await stats(fake_server, "b1"))["calls"] == 0
    assert decode(DeadLetter, pub.on(TOPICS.deadletter)[0].value).reason == "deadline_expired"
    assert pipeline.stats.expired == 1


async def test_deadline_passing_while_waiting_for_a_slot_is_answered_expired(fake_server: FakeProviderServer) -> None:
    cfg = _config(fake_server)
    gate = SlotGate(FairScheduler(), 1)
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry)
    pub = MemoryPublisher()
    pipeline = Pipeline(processor, pub, INGRESS, gate, NullIdempotencyStore())
    # real time on purpose: the deadline (wall clock) must pass while the only slot is held
    async with gate.slot(Ticket(Priority.CRITICAL, "other", arrival=gate.clock())):
        await pipeline.handle(_raw(encode(_req(deadline=utcnow() + timedelta(seconds=0.1)))))
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.error is not None and resp.error.code == "deadline_expired"
    assert "waiting for a provider slot" in resp.error.message and resp.latency.queue_ms >= 50
    assert (await stats(fake_server, "b1"))["calls"] == 0
    assert decode(DeadLetter, pub.on(TOPICS.deadletter)[0].value).reason == "deadline_expired"
    assert pipeline.stats.expired == 1


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


async def test_retry_goes_through_a_delay_topic_and_honours_retry_after(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", rate_limit_rate=1.0, retry_after_s=0.4)
    await set_faults(fake_server, "b2", rate_limit_rate=1.0, retry_after_s=0.7)
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server, max_attempts=4), pub)
    req = _req()
    await pipeline.handle(_raw(encode(req)))
    assert not pub.on(TOPICS.responses)
    [retry] = [r for r in pub.records if ".retry." in r.topic]
    assert retry.topic == "t.retry.0s"  # 0.4 s lies in the [0, 1) band
    state = RetryState.model_validate_json(dict(retry.headers)[RETRY_HEADER])
    assert [a.error_code for a in state.attempts] == ["rate_limited", "rate_limited"]
    wait = (state.not_before - state.attempts[-1].at).total_seconds()
    assert 0.35 <= wait <= 0.5  # the earliest Retry-After of the round wins over backoff
    await set_faults(fake_server, "b1")
    forwarder = RetryForwarder(pub, pipeline)
    await forwarder.handle(RawMessage(retry.topic, 0, 0, retry.key, retry.value, retry.headers, None))
    back = pub.records[-1]
    assert back.topic == TOPICS.requests("normal") and back.value == encode(req)
    await pipeline.handle(RawMessage(back.topic, 0, 1, back.key, back.value, back.headers, None))
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.status == "ok" and resp.backend == "b1"
    gap = (resp.attempts[2].at - resp.attempts[1].at).total_seconds()
    assert gap >= 0.4 - 0.01, gap  # measured: the third call came after the Retry-After
    assert resp.latency.queue_ms >= 400


async def test_retry_that_cannot_meet_the_deadline_is_not_scheduled(fake_server: FakeProviderServer) -> None:
    for b in ("b1", "b2"):
        await set_faults(fake_server, b, rate_limit_rate=1.0, retry_after_s=30)
    pub = MemoryPublisher()
    await _pipeline(_config(fake_server), pub).handle(_raw(encode(_req(deadline=utcnow() + timedelta(seconds=5)))))
    assert not [r for r in pub.records if ".retry." in r.topic]
    resp = decode(ChatResponse, pub.on(TOPICS.responses)[0].value)
    assert resp.error is not None and resp.error.code == "deadline_expired"
    assert "before the deadline" in resp.error.message
    assert decode(DeadLetter, pub.on(TOPICS.deadletter)[0].value).reason == "deadline_expired"


async def test_open_circuit_is_skipped_and_closes_after_healing(fake_server: FakeProviderServer) -> None:
    cfg = _config(fake_server, max_attempts=10)
    cfg.health.breaker.consecutive_failures = 2
    cfg.health.breaker.open_s = 0.3
    now = [1000.0]  # the breakers' clock: open_s passes when the test moves it, not by sleeping
    board = HealthBoard([b.name for b in cfg.backends], cfg.health, clock=lambda: now[0])
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, health=board)
    pub = MemoryPublisher()
    pipeline = Pipeline(processor, pub, INGRESS, SlotGate(FairScheduler(), 4), NullIdempotencyStore())
    await set_faults(fake_server, "b1", outage=True)
    for _ in range(2):
        await pipeline.handle(_raw(encode(_req())))
    assert board.state("b1") == "open"
    calls_before = (await stats(fake_server, "b1"))["calls"]
    for _ in range(5):
        await pipeline.handle(_raw(encode(_req())))
    assert (await stats(fake_server, "b1"))["calls"] == calls_before  # skipped while open
    answered = [decode(ChatResponse, r.value) for r in pub.on(TOPICS.responses)]
    assert len(answered) == 7 and {r.backend for r in answered} == {"b2"}
    await set_faults(fake_server, "b1")
    now[0] = 1000.0 + 0.3 - 0.01  # healed, but open_s has not passed yet: still skipped (b1 would answer)
    await pipeline.handle(_raw(encode(_req())))
    assert board.state("b1") == "open"
    assert decode(ChatResponse, pub.on(TOPICS.responses)[-1].value).backend == "b2"
    now[0] = 1000.0 + 0.3  # open_s passed: half-open lets one trial through, which succeeds
    assert board.state("b1") == "half_open"
    await pipeline.handle(_raw(encode(_req())))
    assert board.state("b1") == "closed"
    assert decode(ChatResponse, pub.on(TOPICS.responses)[-1].value).backend == "b1"
