"""Issue 13, finding 6, the way back: once the real Redis answers the breaker's probe (PING), shared state resumes
(records written and read in Redis again, not in the fallbacks)."""

from __future__ import annotations

import uuid

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.idempotency import RedisIdempotencyStore
from infra.rate_limits import LimitUse, RedisRateLimiter
from infra.redis_breaker import BreakerState, RedisBreaker
from schemas.config import RedisSettings

pytestmark = pytest.mark.integration


async def test_shared_state_resumes_when_redis_answers_the_probe(redis_url: str) -> None:
    now = [0.0]
    settings = RedisSettings(url=redis_url, key_prefix=f"t-{uuid.uuid4().hex}:", breaker_interval_s=5.0)
    breaker = RedisBreaker.for_redis(settings, clock=lambda: now[0])
    store = RedisIdempotencyStore(settings, breaker=breaker)
    limiter = RedisRateLimiter(settings, breaker=breaker)
    try:
        with pytest.raises(RedisTimeoutError):  # an outage, as a store's command would see it
            async with breaker.guard():
                raise RedisTimeoutError("Timeout reading")
        assert breaker.state is BreakerState.OPEN
        await store.put("r1", b"{}")  # bypassed: not written
        assert (await limiter.acquire([LimitUse("tenant:t:rpm", 10, 1)])).counted.local  # type: ignore[union-attr]
        now[0] = 5.0
        await store.put("r1", b'{"x": 1}')  # probe answered: written to Redis
        assert breaker.state is BreakerState.CLOSED
        assert await store.get("r1") == b'{"x": 1}'
        admission = await limiter.acquire([LimitUse("tenant:t:rpm", 10, 1)])
        assert admission.counted is not None and not admission.counted.local
    finally:
        for part in (store, limiter, breaker):
            await part.aclose()
