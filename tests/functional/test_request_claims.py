"""One provider call per request id (issue 13, finding 3): a copy of a request that is being served waits for the
first copy's answer and re-publishes it; an answer is remembered before it is published, so a worker that dies
between the two answers the redelivered record from memory; a claim whose owner died expires and the copy makes
the call. Real HTTP to the fake provider; claims in an in-memory store with the Redis store's semantics (the Redis
store itself: tests/integration/test_request_claims.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

from agents.pipeline import Pipeline, RawMessage
from agents.processor import RequestProcessor
from agents.request_claim import RequestClaims
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler
from agents.slot_gate import SlotGate
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.idempotency import ClaimState
from infra.providers.pool import BackendPool
from schemas.config import RouterConfig, WorkerSettings
from schemas.errors import WorkerStop
from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter
from schemas.wire import TopicNames, decode, encode
from streams.publishers import MemoryPublisher
from tests.doubles import MemoryIdempotency
from tests.functional.conftest import set_faults, stats, trusted_ingress

TOPICS = TopicNames("t")
INGRESS = trusted_ingress(TOPICS)


class FailingPublisher(MemoryPublisher):
    """Every publish fails while ``down`` is set: the worker's broker connection is gone."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def publish(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        await super().publish(topic, value, key=key, headers=headers)


async def _no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def _config(server: FakeProviderServer) -> RouterConfig:
    backend = {"name": "b1", "base_url": server.backend_url("b1"), "models": ["gpt-4o-mini"], "timeout_s": 5}
    return parse_config(json.dumps({"backends": [backend]}), env={})


def _pipeline(
    server: FakeProviderServer, pub: MemoryPublisher, store: MemoryIdempotency, claims: RequestClaims | None = None
) -> Pipeline:
    cfg = _config(server)
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, worker_id="w1")
    return Pipeline(
        processor,
        pub,
        INGRESS,
        SlotGate(FairScheduler(), 8),
        store,
        claims=claims or RequestClaims(store, ttl_s=30.0, wait_s=30.0),
        sleep=_no_wait,
    )


def _raw(offset: int = 7, content: str = "hello") -> RawMessage:
    body = encode(ChatRequest(request_id="r-1", tenant="acme", messages=[ChatMessage(role="user", content=content)]))
    return RawMessage(TOPICS.requests("normal"), 0, offset, b"r-1", body, [], None)


def _responses(pub: MemoryPublisher) -> list[ChatResponse]:
    return [decode(ChatResponse, r.value) for r in pub.on(TOPICS.responses)]


async def test_two_concurrent_copies_make_one_provider_call_and_get_the_same_answer(
    fake_server: FakeProviderServer,
) -> None:
    await set_faults(fake_server, "b1", latency_ms=300, latency_dist="fixed")
    pub, store = MemoryPublisher(), MemoryIdempotency()
    pipeline = _pipeline(fake_server, pub, store)
    await asyncio.gather(pipeline.handle(_raw(7)), pipeline.handle(_raw(8)))
    assert (await stats(fake_server, "b1"))["calls"] == 1
    first, second = _responses(pub)
    assert first.status == "ok" and first == second  # the copy re-published the first one's answer
    assert pipeline.stats.claim_waits == 1 and pipeline.stats.redelivered == 1
    assert store.claims == {}  # the claim is dropped once the answer is remembered


async def test_an_answer_is_remembered_before_it_is_published(fake_server: FakeProviderServer) -> None:
    """A worker that stops between the call and the publish (here: the broker is gone, so the publish fails and
    the worker stops without acknowledging) leaves the answer in the store: the redelivered record is answered
    with it, without a second call."""
    pub, store = FailingPublisher(), MemoryIdempotency()
    pub.down = True
    with pytest.raises(WorkerStop):
        await _pipeline(fake_server, pub, store).handle(_raw())
    assert list(store.done) == ["acme:r-1"]
    pub.down = False
    restarted = _pipeline(fake_server, pub, store)
    await restarted.handle(_raw())
    assert (await stats(fake_server, "b1"))["calls"] == 1
    [answer] = _responses(pub)
    assert answer.status == "ok" and encode(answer) == store.done["acme:r-1"]
    assert restarted.stats.redelivered == 1


async def test_a_claim_whose_owner_died_expires_and_the_copy_makes_the_call(
    fake_server: FakeProviderServer,
) -> None:
    """The owner (another worker) claimed the request and died mid-call: its claim is never renewed. The copy
    polls until the claim expires (the store's clock), then claims it and calls once."""
    store = MemoryIdempotency()
    assert (await store.claim("acme:r-1", "dead-worker", 5.0)).state is ClaimState.OWNED
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        store.now += seconds

    pub = MemoryPublisher()
    pipeline = _pipeline(fake_server, pub, store, RequestClaims(store, ttl_s=5.0, wait_s=60.0, sleep=sleep))
    await pipeline.handle(_raw())
    assert (await stats(fake_server, "b1"))["calls"] == 1
    assert [r.status for r in _responses(pub)] == ["ok"]
    assert 5.0 <= sum(waited) < 7.0  # waited for the expiry, not much longer
    assert pipeline.stats.claim_waits == 1 and pipeline.stats.redelivered == 0


async def test_a_copy_waits_no_longer_than_claim_wait_then_serves(fake_server: FakeProviderServer) -> None:
    """An owner that keeps its claim alive but never answers (a stuck worker) cannot hold the copy forever: after
    ``wait_s`` the copy serves the request itself (a second call rather than a lost request)."""
    store = MemoryIdempotency()
    await store.claim("acme:r-1", "stuck-worker", 5.0)

    async def sleep(seconds: float) -> None:
        store.now += seconds
        await store.renew("acme:r-1", "stuck-worker", 5.0)  # the stuck owner's heartbeat still runs

    pub = MemoryPublisher()
    pipeline = _pipeline(fake_server, pub, store, RequestClaims(store, ttl_s=5.0, wait_s=20.0, sleep=sleep))
    await pipeline.handle(_raw())
    assert [r.status for r in _responses(pub)] == ["ok"]
    assert 20.0 <= store.now < 22.0


async def test_the_owner_renews_its_claim_while_the_call_runs(fake_server: FakeProviderServer) -> None:
    """A call longer than the claim's TTL keeps the claim (a heartbeat renews it), so no copy starts a second
    call while the first is alive."""
    await set_faults(fake_server, "b1", latency_ms=600, latency_dist="fixed")
    store, pub = MemoryIdempotency(), MemoryPublisher()
    renewals: list[str] = []
    renew = store.renew

    async def counted(key: str, token: str, ttl_s: float) -> bool:
        renewals.append(key)
        return await renew(key, token, ttl_s)

    store.renew = counted  # type: ignore[method-assign]
    pipeline = _pipeline(fake_server, pub, store, RequestClaims(store, ttl_s=0.3, wait_s=30.0))
    await pipeline.handle(_raw())
    assert len(renewals) >= 2 and set(renewals) == {"acme:r-1"}
    assert [r.status for r in _responses(pub)] == ["ok"]


async def test_a_retry_gives_the_claim_back(fake_server: FakeProviderServer) -> None:
    """A request sent to a retry topic is not being served any more: its claim is released, so the retried
    record (same request id) can claim it at once."""
    await set_faults(fake_server, "b1", rate_limit_rate=1.0, retry_after_s=0.4)
    store, pub = MemoryIdempotency(), MemoryPublisher()
    await _pipeline(fake_server, pub, store).handle(_raw())
    assert [r.topic for r in pub.records if ".retry." in r.topic] == ["t.retry.0s"]
    assert store.claims == {} and store.done == {}


async def test_without_shared_state_every_copy_is_served(fake_server: FakeProviderServer) -> None:
    """Redis down (the store answers UNCHECKED): copies are served independently — a duplicate call rather than
    a stall."""
    store = MemoryIdempotency()
    store.unavailable = True
    pub = MemoryPublisher()
    pipeline = _pipeline(fake_server, pub, store)
    await asyncio.gather(pipeline.handle(_raw(7)), pipeline.handle(_raw(8)))
    assert (await stats(fake_server, "b1"))["calls"] == 2
    assert [r.status for r in _responses(pub)] == ["ok", "ok"]


async def test_an_answer_too_large_to_publish_becomes_an_error_response_and_one_dead_letter(
    fake_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider answer over the record limit could never be published: retried, it would stop every worker in
    turn (a poison pill). It is answered with ``response_too_large`` instead (small, publishable, remembered for
    redeliveries) and dead-lettered once for replay, e.g. to a model with a lower max_tokens."""
    import infra.fake_provider.server as fake_module

    monkeypatch.setattr(fake_module, "fake_answer", lambda model, messages: "x " * 600_000)
    store, pub = MemoryIdempotency(), MemoryPublisher()
    pipeline = _pipeline(fake_server, pub, store)
    await pipeline.handle(_raw())
    [answer] = _responses(pub)
    assert answer.status == "error" and answer.error is not None and answer.error.code == "response_too_large"
    assert "bytes" in answer.error.message and answer.content is None
    [letter] = [decode(DeadLetter, r.value) for r in pub.on(TOPICS.deadletter)]
    assert (letter.reason, letter.code, letter.request_id) == ("undeliverable", "response_too_large", "r-1")
    assert all(len(r.value) < WorkerSettings().max_request_bytes for r in pub.records)
    assert decode(ChatResponse, store.done["acme:r-1"]) == answer
