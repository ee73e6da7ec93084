"""Issue 13, finding 6: a Redis that accepts connections but never answers. Each store used to pay its full socket
timeout on every request (about 0.5 s idempotency, 0.5 s limits, 2 s cache). With the one shared breaker, N
requests cost at most one short timeout per breaker interval in total, and every store still serves from its
fallback (local limits, cache bypass, idempotency off). The silent Redis is a real TCP server that accepts and
reads but never writes, not a mock of Redis; the breaker's interval runs on an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import generate_latest

from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import RedisCacheStore
from infra.idempotency import RedisIdempotencyStore
from infra.leases import RedisLeases
from infra.metrics import RouterMetrics
from infra.rate_limits import LimitUse, RedisRateLimiter
from infra.redis_breaker import BreakerState, RedisBreaker
from schemas.config import CacheSettings, RedisSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse

TIMEOUT_S = 0.2  # redis.socket_timeout_s: the "short timeout" (the cache store's own is 2 s)
MARGIN_S = 0.4  # connecting, event-loop turns and a busy shared CI core: far below one more timeout per request
N = 25


@pytest.fixture
async def silent_redis() -> AsyncIterator[str]:
    """``redis://`` URL of a server that accepts, reads everything and never answers."""
    conns: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for w in conns:
        w.close()
    server.close()


class _Stores:
    def __init__(self, url: str, now: list[float]) -> None:
        settings = RedisSettings(url=url, socket_timeout_s=TIMEOUT_S, breaker_interval_s=5.0)
        self.breaker = RedisBreaker.for_redis(settings, clock=lambda: now[0])
        self.idempotency = RedisIdempotencyStore(settings, breaker=self.breaker)
        self.limiter = RedisRateLimiter(settings, breaker=self.breaker)
        self.leases = RedisLeases(settings, 30.0, breaker=self.breaker)
        store = RedisCacheStore(settings, 1, breaker=self.breaker)
        self.cache = SemanticCache(CacheSettings(semantic=False), store, None)

    async def request(self, i: int) -> None:
        """What one request asks of Redis; every answer comes from a fallback."""
        req = ChatRequest(request_id=f"r{i}", messages=[ChatMessage(role="user", content=f"question {i}")])
        assert await self.idempotency.get(f"t:r{i}") is None
        admission = await self.limiter.acquire([LimitUse("tenant:t:rpm", 1000, 1)])
        assert admission.ok and admission.counted is not None and admission.counted.local
        lease = await self.leases.try_acquire("backend:b1", 8)
        assert lease is not None and lease.local
        look = await self.cache.lookup(req, "m")
        assert look.hit is None and not look.cacheable
        await self.cache.store_response(look, req, ChatResponse(request_id=req.request_id, content="a", model="m"))
        await self.leases.release(lease)
        await self.idempotency.put(f"t:r{i}", b"{}")

    async def aclose(self) -> None:
        for part in (self.idempotency, self.limiter, self.leases, self.cache, self.breaker):
            await part.aclose()


async def test_a_silent_redis_costs_one_short_timeout_per_interval(silent_redis: str) -> None:
    now = [1000.0]
    stores = _Stores(silent_redis, now)
    loop = asyncio.get_running_loop()
    try:
        t0 = loop.time()
        for i in range(N):
            await stores.request(i)
        first = loop.time() - t0
        assert stores.breaker.state is BreakerState.OPEN
        now[0] += 5.0  # the next interval: one request probes (PING, short timeout), the others bypass
        t1 = loop.time()
        for i in range(N, 2 * N):
            await stores.request(i)
        second = loop.time() - t1
    finally:
        await stores.aclose()
    assert first <= TIMEOUT_S + MARGIN_S, first
    assert second <= TIMEOUT_S + MARGIN_S, second
    assert stores.breaker.opened == 2 and stores.breaker.state is BreakerState.OPEN


async def test_the_degradations_are_counted_in_the_metric(silent_redis: str) -> None:
    stores = _Stores(silent_redis, [0.0])
    metrics = RouterMetrics()
    metrics.sources.degradations = [
        stores.breaker.degraded,
        stores.idempotency.degraded,
        stores.limiter.degraded,
        *stores.cache.degradations,
    ]
    try:
        for i in range(3):
            await stores.request(i)
    finally:
        await stores.aclose()
    text = generate_latest(metrics.registry).decode()
    assert 'llm_router_degraded_total{component="redis",reason="timeout"} 1.0' in text
    assert 'llm_router_degraded_total{component="rate_limits",reason="breaker_open"} 3.0' in text
    assert (
        'llm_router_degraded_total{component="cache",reason="breaker_open"} 3.0' in text
    )  # a bypassed lookup stores nothing
