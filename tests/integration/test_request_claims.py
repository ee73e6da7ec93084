"""One provider call per request id, with the real Redis and real workers (issue 13, deliverable 2): the claim
script's semantics across connections, two copies in flight at once, and a worker killed mid-call."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from infra.idempotency import ClaimState, RedisIdempotencyStore
from schemas.config import RedisSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse
from tests.integration.conftest import EnvFactory, RouterEnv
from tests.integration.helpers import gather_responses, read_topic

pytestmark = pytest.mark.integration


async def test_a_claim_is_held_by_one_token_until_answered_released_or_expired(redis_url: str) -> None:
    settings = RedisSettings(url=redis_url, key_prefix=f"it-claim-{uuid.uuid4().hex[:8]}:")
    first, second = RedisIdempotencyStore(settings), RedisIdempotencyStore(settings)  # two workers' connections
    try:
        assert (await first.claim("acme:r1", "a", 0.4)).state is ClaimState.OWNED
        assert (await second.claim("acme:r1", "b", 0.4)).state is ClaimState.BUSY
        assert (await first.claim("acme:r1", "a", 0.4)).state is ClaimState.OWNED  # idempotent for its owner
        assert not await second.renew("acme:r1", "b", 5.0)
        await second.release("acme:r1", "b")  # not b's: no effect
        assert (await second.claim("acme:r1", "b", 0.4)).state is ClaimState.BUSY
        assert await first.renew("acme:r1", "a", 0.4)
        await asyncio.sleep(0.6)  # the owner stopped renewing: Redis expires the claim
        assert (await second.claim("acme:r1", "b", 5.0)).state is ClaimState.OWNED
        await second.put("acme:r1", b'{"answer": 1}')
        await second.release("acme:r1", "b")
        answered = await first.claim("acme:r1", "c", 5.0)
        assert (answered.state, answered.response) == (ClaimState.ANSWERED, b'{"answer": 1}')
        assert (await first.claim("acme:r2", "a", 5.0)).state is ClaimState.OWNED  # another request
        await first.release("acme:r2", "a")
        assert (await second.claim("acme:r2", "b", 5.0)).state is ClaimState.OWNED
        assert first.errors == second.errors == 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_two_copies_in_flight_at_once_make_one_provider_call(router_env: RouterEnv) -> None:
    router_env.fake.set_faults(router_env.backend, latency_ms=1500, latency_dist="fixed")
    router_env.start_worker()
    async with router_env.client() as client:
        await client.complete(ChatRequest(messages=[ChatMessage(role="user", content="warm-up")]), timeout_s=90)
        calls_before = router_env.fake.stats(router_env.backend)["calls"]
        req = ChatRequest(messages=[ChatMessage(role="user", content="same request, produced twice")])
        future = await client.submit(req)
        await client.produce(req)  # the duplicate arrives while the first copy is still calling
        [answer] = await gather_responses([future], 60, router_env.workers)
    copies = [
        r
        for r in await read_topic(
            router_env.config.kafka.bootstrap_servers, router_env.topics.responses, ChatResponse, min_count=3
        )
        if r.request_id == req.request_id
    ]
    assert answer.status == "ok" and len(copies) == 2 and copies[0] == copies[1] == answer
    assert router_env.fake.stats(router_env.backend)["calls"] - calls_before == 1


async def test_a_worker_killed_mid_call_releases_the_request_to_the_next(make_env: EnvFactory) -> None:
    """The killed worker's claim expires (claim_ttl_s) and the redelivered record is served by the replacement:
    one answer, one call more (the one the dead worker started never answered)."""
    env = await make_env(redis={"claim_ttl_s": 2.0})
    env.fake.set_faults(env.backend, latency_ms=8000, latency_dist="fixed")
    victim = env.start_worker()
    req = ChatRequest(messages=[ChatMessage(role="user", content="killed mid-call")])
    async with env.client() as client:
        future = await client.submit(req)
        await _until(lambda: env.fake.stats(env.backend)["calls"] >= 1, 90, "the call never reached the provider")
        victim.kill()
        env.fake.set_faults(env.backend, latency_ms=0)
        env.start_worker()
        [answer] = await gather_responses([future], 90, env.workers[1:])
    copies = [
        r
        for r in await read_topic(env.config.kafka.bootstrap_servers, env.topics.responses, ChatResponse, min_count=1)
        if r.request_id == req.request_id
    ]
    assert answer.status == "ok" and copies == [answer]
    assert env.fake.stats(env.backend)["calls"] == 2


async def _until(condition: object, timeout_s: float, why: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(why)
        await asyncio.sleep(0.05)
