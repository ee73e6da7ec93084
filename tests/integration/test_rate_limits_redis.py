"""The rate-limit properties of tests/unit/agents/test_limits_hold.py, on the real Redis: the same random
sequences through :class:`RedisRateLimiter` (its Lua scripts), with an injected clock."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings

from infra.rate_limits import LimitUse, RedisRateLimiter
from schemas.config import RedisSettings
from tests.budget import examples
from tests.unit.agents.limits_sim import START, Op, Trace, ops, overruns, run

pytestmark = pytest.mark.integration


async def _play(redis_url: str, sequence: list[Op]) -> Trace:
    clock = [START]
    settings_ = RedisSettings(url=redis_url, key_prefix=f"it-rlp-{uuid.uuid4().hex[:8]}:")
    limiter = RedisRateLimiter(settings_, clock=lambda: clock[0])
    try:
        trace = await run(limiter, clock, sequence)
        assert limiter.degraded.count == 0  # every step went through Redis, not the local fallback
        return trace
    finally:
        await limiter.aclose()


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops(max_share=3.0))
def test_no_window_total_goes_negative_in_redis(redis_url: str, sequence: list[Op]) -> None:
    lowest = asyncio.run(_play(redis_url, sequence)).lowest
    assert all(total >= 0 for total in lowest.values()), lowest


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops(max_share=1.0))
def test_no_limit_counts_more_than_its_value_plus_one_request_per_minute_in_redis(
    redis_url: str, sequence: list[Op]
) -> None:
    assert overruns(asyncio.run(_play(redis_url, sequence))) == []


async def test_a_late_saving_leaves_no_negative_field_and_no_key_without_expiry(redis_url: str) -> None:
    """A correction for a second that already left the window (or that a worker with a faster clock already
    dropped) is not applied: it would linger as a negative field, in a key no acquire ever expires again."""
    clock = [1000.0]
    settings_ = RedisSettings(url=redis_url, key_prefix=f"it-rl-{uuid.uuid4().hex[:8]}:")
    limiter = RedisRateLimiter(settings_, clock=lambda: clock[0])
    try:
        admission = await limiter.acquire([LimitUse("tenant:t:tpm", 100, 90)])
        assert admission.counted is not None and not admission.counted.local
        clock[0] = 1075.0
        await limiter.correct(admission.counted, {"tenant:t:tpm": 5})
        assert await limiter.used("tenant:t:tpm") == 0
        key = f"{settings_.key_prefix}{{limits}}:tenant:t:tpm"
        assert await limiter._redis.hget(key, "1075") is None
        assert await limiter._redis.ttl(key) != -1  # -1: a key that would never expire
        await limiter.correct(admission.counted, {"tenant:t:tpm": 150})  # an excess counts now, with an expiry
        assert await limiter.used("tenant:t:tpm") == 60 and 0 < await limiter._redis.ttl(key) <= 62
    finally:
        await limiter.aclose()
