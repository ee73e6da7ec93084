"""Idempotency records in the real Redis: redelivered requests are answered again without a new call."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from infra.idempotency import ClaimState, RedisIdempotencyStore
from infra.rate_limits import LimitUse, RedisRateLimiter
from schemas.config import RedisSettings
from schemas.events import ChatMessage, ChatRequest
from tests.integration.conftest import RouterEnv
from tests.integration.helpers import gather_responses

pytestmark = pytest.mark.integration


async def test_store_round_trip_and_ttl(redis_url: str) -> None:
    store = RedisIdempotencyStore(RedisSettings(url=redis_url, key_prefix=f"t-{uuid.uuid4().hex}:", result_ttl_s=1))
    try:
        assert await store.get("r1") is None
        await store.put("r1", b'{"x": 1}')
        assert await store.get("r1") == b'{"x": 1}'
        await asyncio.sleep(2.1)
        assert await store.get("r1") is None  # expired by Redis itself
    finally:
        await store.aclose()


async def test_the_claim_scripts_survive_a_script_flush(redis_url: str) -> None:
    """The claim scripts run by SHA (EVALSHA); a Redis that lost its script cache (restart, SCRIPT FLUSH) gets
    them loaded again instead of failing every claim."""
    store = RedisIdempotencyStore(RedisSettings(url=redis_url, key_prefix=f"t-{uuid.uuid4().hex}:", result_ttl_s=60))

    async def no_eval(*args: object, **kwargs: object) -> object:
        raise AssertionError("EVAL sends the script body on every call")

    store._redis.eval = no_eval  # type: ignore[method-assign]
    try:
        assert (await store.claim("r1", "mine", 5)).state is ClaimState.OWNED
        await store._redis.script_flush()
        assert (await store.claim("r1", "other", 5)).state is ClaimState.BUSY
        assert await store.renew("r1", "mine", 5)
        await store.release("r1", "mine")
        assert (await store.claim("r1", "other", 5)).state is ClaimState.OWNED
        assert store.errors == 0
    finally:
        await store.aclose()


async def test_answer_stores_the_response_and_drops_only_its_own_claim(redis_url: str) -> None:
    """One round trip for "remember the answer, give the claim back" (issue 18): the claim goes only if it is
    still ours; a copy that took over an expired claim keeps it."""
    store = RedisIdempotencyStore(RedisSettings(url=redis_url, key_prefix=f"t-{uuid.uuid4().hex}:", result_ttl_s=60))
    try:
        assert (await store.claim("r1", "mine", 5)).state is ClaimState.OWNED
        await store.answer("r1", "mine", b"ok")
        assert await store.get("r1") == b"ok"
        assert (await store.claim("r1", "other", 5)).state is ClaimState.ANSWERED
        assert (await store.claim("r2", "theirs", 5)).state is ClaimState.OWNED
        await store.answer("r2", "mine", b"late")  # our claim had expired and was taken over
        assert await store.get("r2") == b"late"
        assert not await store.renew("r2", "mine", 5) and await store.renew("r2", "theirs", 5)
        ttl = await store._redis.ttl(store._key("r1"))  # type: ignore[attr-defined]
        assert 0 < ttl <= 60
    finally:
        await store.aclose()


async def test_redis_down_degrades_without_raising() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    store = RedisIdempotencyStore(RedisSettings(url=f"redis://127.0.0.1:{port}/0", socket_timeout_s=0.2))
    try:
        assert await store.get("r1") is None
        await store.put("r1", b"x")
        assert store.errors == 2
    finally:
        await store.aclose()


async def test_duplicate_request_is_answered_from_redis_without_a_second_provider_call(router_env: RouterEnv) -> None:
    router_env.start_worker()
    req = ChatRequest(messages=[ChatMessage(role="user", content="only once please")])
    async with router_env.client() as client:
        first = await client.complete(req, timeout_s=90)
        # the same event again, as a crash-redelivery or a producer retry would bring it
        await client.produce(req)
        await asyncio.sleep(0)
    async with router_env.client() as client2:
        again = await gather_responses([await client2.submit(req)], 60, router_env.workers)
    assert again[0] == first
    assert router_env.fake.stats(router_env.backend)["calls"] == 1


async def test_redis_rate_limit_is_atomic_across_connections(redis_url: str) -> None:
    settings = RedisSettings(url=redis_url, key_prefix=f"it-rl-{uuid.uuid4().hex[:8]}:")
    limiters = [RedisRateLimiter(settings) for _ in range(4)]  # four "workers", four connections
    try:
        uses = [LimitUse("backend:x:rpm", 25, 1), LimitUse("backend:x:tpm", 10_000, 100)]
        results = await asyncio.gather(*(limiters[i % 4].acquire(uses) for i in range(100)))
        granted = [r for r in results if r.ok]
        assert len(granted) == 25
        assert all(0 < r.retry_after_s <= 60 and r.blocked_by == "backend:x:rpm" for r in results if not r.ok)
        assert all(lim.degraded.count == 0 for lim in limiters)
    finally:
        for lim in limiters:
            await lim.aclose()
