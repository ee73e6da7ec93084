"""``Pipeline.handle`` cannot raise (issue 13, findings 1 and 2): every hostile record ends as exactly one dead
letter that fits in a record, and a publish that keeps failing stops the worker instead of acknowledging."""

from __future__ import annotations

import hashlib
import json

import pytest

from agents.pipeline import PUBLISH_ATTEMPTS, Pipeline, RawMessage
from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler
from agents.slot_gate import SlotGate
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.providers.pool import BackendPool
from schemas.config import RouterConfig, WorkerSettings
from schemas.errors import WorkerStop
from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter, ErrorCode, FailureEvent
from schemas.wire import TopicNames, decode, encode
from streams.publishers import MemoryPublisher
from tests.doubles import MemoryIdempotency
from tests.functional.conftest import trusted_ingress

TOPICS = TopicNames("t")
INGRESS = trusted_ingress(TOPICS)
DEFAULT_LIMIT = WorkerSettings().max_request_bytes


class FlakyPublisher(MemoryPublisher):
    """Fails the first ``failures`` publishes (every publish when ``failures`` is None), then keeps records."""

    def __init__(self, failures: int | None) -> None:
        super().__init__()
        self.failures = failures
        self.tried: list[str] = []

    async def publish(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        self.tried.append(topic)
        if self.failures is None or self.failures > 0:
            if self.failures is not None:
                self.failures -= 1
            raise ConnectionError("broker unreachable")
        await super().publish(topic, value, key=key, headers=headers)


class Sleeps:
    """An injected sleep: records the backoff instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _config(server: FakeProviderServer) -> RouterConfig:
    backend = {"name": "b1", "base_url": server.backend_url("b1"), "models": ["gpt-4o-mini"], "timeout_s": 2}
    return parse_config(json.dumps({"backends": [backend]}), env={})


def _pipeline(
    cfg: RouterConfig, pub: MemoryPublisher, *, limit: int = DEFAULT_LIMIT, sleeps: Sleeps | None = None, **kw: object
) -> Pipeline:
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, worker_id="w1")
    return Pipeline(
        processor,
        pub,
        INGRESS,
        SlotGate(FairScheduler(), 4),
        kw.pop("idempotency", None) or MemoryIdempotency(),  # type: ignore[arg-type]
        max_record_bytes=limit,
        sleep=sleeps or Sleeps(),
        **kw,  # type: ignore[arg-type]
    )


def _raw(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> RawMessage:
    return RawMessage(TOPICS.requests("normal"), 0, 7, b"tenant", value, headers or [], None)


def _valid() -> bytes:
    return encode(ChatRequest(tenant="acme", messages=[ChatMessage(role="user", content="hello")]))


def _body(**fields: object) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": "hi"}], **fields}).encode()


HOSTILE = [
    pytest.param(b"[" * 100_000 + b"]" * 100_000, ErrorCode.JSON_TOO_DEEP, id="deep-array"),
    pytest.param(
        b'{"messages": [], "metadata": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001, ErrorCode.JSON_TOO_DEEP, id="deep"
    ),
    pytest.param(_body()[:-1] + b', "max_tokens": ' + b"9" * 5_000 + b"}", ErrorCode.NUMBER_TOO_LARGE, id="5000-digit"),
    pytest.param(b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', ErrorCode.INVALID_JSON, id="bad-utf8"),
    pytest.param(b"[1, 2, 3]", ErrorCode.INVALID_JSON, id="non-object"),
    pytest.param(b'"just a string"', ErrorCode.INVALID_JSON, id="string"),
    pytest.param(_body(max_tokens=-5), ErrorCode.SCHEMA_INVALID, id="negative-max-tokens"),
    pytest.param(b'{"messages": "nope", "tenant": 7}', ErrorCode.SCHEMA_INVALID, id="wrong-types"),
    pytest.param(b"", ErrorCode.EMPTY_MESSAGE, id="empty"),
]


@pytest.mark.parametrize(("body", "code"), HOSTILE)
async def test_every_hostile_body_is_one_dead_letter_with_a_precise_code(
    fake_server: FakeProviderServer, body: bytes, code: ErrorCode
) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub)
    await pipeline.handle(_raw(body))  # does not raise
    [record] = pub.on(TOPICS.deadletter)
    letter = decode(DeadLetter, record.value)
    [failure] = [decode(FailureEvent, r.value) for r in pub.on(TOPICS.failures)]
    assert (letter.reason, letter.code, failure.code, failure.stage) == ("invalid_message", code, code, "decode")
    assert letter.original_sha256 == hashlib.sha256(body).hexdigest() and letter.original_len == len(body)
    assert len(pub.records) == 2 and pipeline.stats.dead_lettered == 1


async def test_a_record_over_the_byte_limit_is_dead_lettered_before_parsing(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    body = _body(metadata={"pad": "x" * 10_000})  # a valid request: only its size is wrong
    await _pipeline(_config(fake_server), pub, limit=8_000).handle(_raw(body))
    [letter] = [decode(DeadLetter, r.value) for r in pub.on(TOPICS.deadletter)]
    assert (letter.reason, letter.code) == ("invalid_message", ErrorCode.RECORD_TOO_LARGE)
    assert "10" in letter.error and "8000" in letter.error  # says how big, and the limit
    assert not pub.on(TOPICS.responses)


async def test_headers_count_towards_the_byte_limit(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    await _pipeline(_config(fake_server), pub, limit=8_000).handle(_raw(_valid(), [("junk", b"h" * 9_000)]))
    [letter] = [decode(DeadLetter, r.value) for r in pub.on(TOPICS.deadletter)]
    assert letter.code == ErrorCode.RECORD_TOO_LARGE
    assert len(pub.on(TOPICS.deadletter)[0].value) <= 8_000


async def test_an_800kb_request_yields_a_dead_letter_within_the_record_limit(fake_server: FakeProviderServer) -> None:
    """The issue's case: base64 made a ~1.07 MB letter of an ~800 KB request, over the producer's 1 MB."""
    pub = MemoryPublisher()
    body = _body(max_tokens=-1, metadata={"pad": "x" * 800_000})
    assert len(body) < DEFAULT_LIMIT
    await _pipeline(_config(fake_server), pub).handle(_raw(body, [("traceparent", b"00-abc-01")]))
    [record] = pub.on(TOPICS.deadletter)
    letter = decode(DeadLetter, record.value)
    assert len(record.value) <= DEFAULT_LIMIT < 1_000_000  # Faust's producer_max_request_size
    assert letter.original_truncated and letter.original_len == len(body)
    assert letter.original_sha256 == hashlib.sha256(body).hexdigest()
    kept = letter.original_bytes()
    assert 0 < len(kept) < len(body) and body.startswith(kept)
    assert ("traceparent", b"00-abc-01") in letter.header_items()


async def test_a_small_dead_letter_keeps_its_whole_original(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    body = _body(max_tokens=-1)
    await _pipeline(_config(fake_server), pub).handle(_raw(body))
    [letter] = [decode(DeadLetter, r.value) for r in pub.on(TOPICS.deadletter)]
    assert not letter.original_truncated and letter.original_bytes() == body


async def test_a_publish_that_fails_twice_is_retried_with_backoff_and_answered_once(
    fake_server: FakeProviderServer,
) -> None:
    pub, sleeps = FlakyPublisher(failures=2), Sleeps()
    pipeline = _pipeline(_config(fake_server), pub, sleeps=sleeps)
    await pipeline.handle(_raw(_valid()))
    [record] = pub.on(TOPICS.responses)
    assert decode(ChatResponse, record.value).status == "ok"
    assert pub.tried == [TOPICS.responses] * 3 and len(pub.records) == 1
    assert len(sleeps.waits) == 2 and sleeps.waits[1] > sleeps.waits[0] > 0  # backoff grows
    assert pipeline.stats.answered == 1 and not pub.on(TOPICS.deadletter)


async def test_a_publish_that_always_fails_stops_the_worker_without_a_dead_letter(
    fake_server: FakeProviderServer,
) -> None:
    """Observable: ``handle`` raises WorkerStop (the agent then stops without acknowledging the record), after a
    bounded number of tries; the failure is not turned into an internal-error dead letter (that would let the
    record be acknowledged). The answer is remembered before it is published, so the redelivered record is
    answered from memory (tests/functional/test_request_claims.py) rather than lost or called twice."""
    pub, sleeps, seen = FlakyPublisher(failures=None), Sleeps(), MemoryIdempotency()
    answered: list[ChatResponse] = []
    pipeline = _pipeline(_config(fake_server), pub, sleeps=sleeps, idempotency=seen, on_response=answered.append)
    with pytest.raises(WorkerStop) as stop:
        await pipeline.handle(_raw(_valid()))
    assert stop.value.code == ErrorCode.PUBLISH_FAILED and TOPICS.responses in stop.value.message
    assert pub.tried == [TOPICS.responses] * PUBLISH_ATTEMPTS and len(sleeps.waits) == PUBLISH_ATTEMPTS - 1
    assert pub.records == [] and answered == []
    assert [decode(ChatResponse, v).status for v in seen.done.values()] == ["ok"] and seen.claims == {}
    assert (pipeline.stats.answered, pipeline.stats.internal_errors, pipeline.stats.dead_lettered) == (0, 0, 0)


async def test_a_dead_letter_that_cannot_be_published_stops_the_worker(fake_server: FakeProviderServer) -> None:
    pub = FlakyPublisher(failures=None)
    with pytest.raises(WorkerStop):
        await _pipeline(_config(fake_server), pub).handle(_raw(b"[1]"))
    assert set(pub.tried) == {TOPICS.deadletter, TOPICS.failures} and pub.records == []


async def test_a_bug_while_dead_lettering_still_ends_in_a_dead_letter_or_a_stop(
    fake_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing but WorkerStop leaves ``handle``: an unexpected error on the decode path becomes an internal-error
    dead letter."""
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub)

    def broken(_raw: RawMessage) -> object:
        raise KeyError("bug")

    monkeypatch.setattr(pipeline.ingress, "check_retry", broken)
    await pipeline.handle(_raw(b"[1]"))
    [letter] = [decode(DeadLetter, r.value) for r in pub.on(TOPICS.deadletter)]
    assert (letter.reason, letter.code) == ("internal_error", ErrorCode.INTERNAL_ERROR)


async def test_an_invalid_request_that_names_its_requester_gets_an_error_response(
    fake_server: FakeProviderServer,
) -> None:
    """A body that fails validation but names its request id (and tenant) is answered with the error, on the
    tenant's default reply topic (never a ``reply_to`` from a body that did not validate), besides its one dead
    letter: the requester is not left waiting for a timeout. Without a request id nobody can be answered."""
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub)
    bad = json.dumps({"request_id": "r-bad", "tenant": "acme", "messages": "nope", "reply_to": "elsewhere"})
    await pipeline.handle(_raw(bad.encode()))
    await pipeline.handle(_raw(b'{"messages": "nope", "tenant": "acme"}'))
    [answer] = [decode(ChatResponse, r.value) for r in pub.on(TOPICS.responses)]
    assert (answer.request_id, answer.tenant, answer.status) == ("r-bad", "acme", "error")
    assert answer.error is not None and answer.error.code == ErrorCode.SCHEMA_INVALID
    assert answer.priority == "normal" and not pub.on("elsewhere")
    assert len(pub.on(TOPICS.deadletter)) == 2
