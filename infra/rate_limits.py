"""Requests-per-minute and tokens-per-minute limits, per backend and per tenant, shared by every worker.

A limit is a sliding window of 60 one-second buckets (a Redis hash per limit). One Lua script checks every
limit a call needs and, only when all have headroom, counts it in all of them: atomic across workers, so N
workers share one limit instead of each enforcing its own (the per-process limits of other routers let N
workers send N times the quota). Tokens are counted at admission from an estimate and corrected afterwards
with the usage the provider reported: only what was counted is taken back (a call larger than the whole limit
is counted as the limit), in the second it was counted in, and not at all once that second left the window, so
no window ever goes below zero. Without Redis (library mode, or Redis down) the same algorithm runs in
process.

Keys: ``backend:<name>:rpm|tpm`` are shared by every tenant on purpose (they model the backend's own quota);
``tenant:<id>:rpm|tpm`` belong to one tenant. An id may contain ``:``, but between the fixed prefix and the fixed
``:rpm``/``:tpm`` suffix two different ids always make two different keys."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from infra.degraded import Degradation
from infra.redis_breaker import RedisBreaker
from schemas.config import RedisSettings

__all__ = [
    "WINDOW_S",
    "Admission",
    "Counted",
    "LimitUse",
    "LocalRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "corrections",
]

log = logging.getLogger(__name__)
WINDOW_S = 60


@dataclass(frozen=True)
class LimitUse:
    """``amount`` units of the limit named ``key`` (at most ``limit`` per minute)."""

    key: str
    limit: int
    amount: int


@dataclass(frozen=True)
class Counted:
    """What one admission counted: ``uses`` with the amounts actually counted (clamped to each limit) in second
    ``at`` of the limiter's clock; ``local`` when the in-process fallback counted them (Redis was down)."""

    uses: tuple[LimitUse, ...]
    at: int
    local: bool = False


@dataclass(frozen=True)
class Admission:
    ok: bool
    retry_after_s: float = 0.0
    blocked_by: str | None = None
    counted: Counted | None = None  # when ``ok``: what to hand to :meth:`RateLimiter.correct` later


class RateLimiter(Protocol):
    async def acquire(self, uses: list[LimitUse]) -> Admission:
        """Count ``uses`` if every limit has room for them, else count nothing and say how long to wait."""
        ...

    async def correct(self, counted: Counted, actual: Mapping[str, int]) -> None:
        """Replace the amount ``counted`` for each key of ``actual`` by the amount given there (the usage the
        provider reported): see :func:`corrections`."""
        ...

    async def used(self, key: str) -> int:
        """What ``key``'s window counts now (for diagnostics and tests)."""
        ...

    async def aclose(self) -> None: ...


def _clamp(uses: list[LimitUse]) -> list[LimitUse]:
    # a single call larger than a whole limit could never pass: it may use the whole (empty) window instead
    return [LimitUse(u.key, u.limit, min(u.amount, u.limit)) for u in uses]


def corrections(counted: Counted, actual: Mapping[str, int]) -> list[tuple[LimitUse, int]]:
    """``(use, delta)`` per key of ``actual``: the usage minus what was counted (never the request's full
    estimate: a ``max_tokens`` above the limit was counted as the limit). A limiter adds a delta to the second
    the use was counted in while that second is still in the window; after it left, a saving is dropped (the
    window no longer holds what it would take back) and an excess counts in the current second."""
    out = []
    for use in counted.uses:
        if use.key in actual and actual[use.key] != use.amount:
            out.append((use, actual[use.key] - use.amount))
    return out


class LocalRateLimiter:
    """The same sliding window, in this process only."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._buckets: dict[str, dict[int, int]] = {}

    def _total(self, key: str, now: int) -> tuple[int, int | None]:
        buckets = self._buckets.setdefault(key, {})
        for sec in [s for s in buckets if s <= now - WINDOW_S]:
            del buckets[sec]
        return sum(buckets.values()), min(buckets, default=None)

    async def acquire(self, uses: list[LimitUse]) -> Admission:
        now_f = self._clock()
        now = int(now_f)
        uses = _clamp(uses)
        for use in uses:
            total, oldest = self._total(use.key, now)
            if total + use.amount > use.limit:
                wait = (oldest + WINDOW_S - now_f) if oldest is not None else 1.0
                return Admission(False, max(wait, 0.05), use.key)
        for use in uses:
            b = self._buckets.setdefault(use.key, {})
            b[now] = b.get(now, 0) + use.amount
        return Admission(True, counted=Counted(tuple(uses), now, local=True))

    async def correct(self, counted: Counted, actual: Mapping[str, int]) -> None:
        now = int(self._clock())
        for use, delta in corrections(counted, actual):
            buckets = self._buckets.setdefault(use.key, {})
            if counted.at > now - WINDOW_S and counted.at in buckets:
                buckets[counted.at] += delta
            elif delta > 0:
                buckets[now] = buckets.get(now, 0) + delta

    async def used(self, key: str) -> int:
        return self._total(key, int(self._clock()))[0]

    async def aclose(self) -> None:
        return None


_ACQUIRE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local amount = tonumber(ARGV[2 + 2 * i])
  local fields = redis.call('HGETALL', key)
  local total = 0
  local oldest = nil
  for j = 1, #fields, 2 do
    local sec = tonumber(fields[j])
    if sec <= now - window then
      redis.call('HDEL', key, fields[j])
    else
      total = total + tonumber(fields[j + 1])
      if oldest == nil or sec < oldest then oldest = sec end
    end
  end
  if total + amount > limit then
    if oldest == nil then return {i, 1} end
    return {i, oldest + window - now}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, ARGV[1], tonumber(ARGV[2 + 2 * i]))
  redis.call('EXPIRE', key, window + 2)
end
return {0, 0}
"""

# ARGV: now, window, the second counted in, then one delta per key (see ``corrections``). A field another worker
# (whose clock runs ahead) already dropped counts as gone: a saving is not applied to nothing.
_CORRECT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local at = tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  local delta = tonumber(ARGV[3 + i])
  if at > now - window and redis.call('HEXISTS', key, ARGV[3]) == 1 then
    redis.call('HINCRBY', key, ARGV[3], delta)
  elseif delta > 0 then
    redis.call('HINCRBY', key, ARGV[1], delta)
    redis.call('EXPIRE', key, window + 2)
  end
end
return 0
"""


class RedisRateLimiter:
    """Cluster-wide limits in Redis; if Redis fails, this worker falls back to its own local window.
    ``clock`` is this worker's wall clock (every worker's buckets are seconds of it)."""

    def __init__(
        self,
        settings: RedisSettings,
        client: aioredis.Redis | None = None,
        *,
        clock: Callable[[], float] = time.time,
        breaker: RedisBreaker | None = None,
    ) -> None:
        self._breaker = breaker or RedisBreaker.off()  # the process's shared one: a silent Redis is skipped
        self._redis = client or aioredis.from_url(settings.url, socket_timeout=settings.socket_timeout_s)
        # one hash tag: every limit key in the same cluster slot, so one script can touch them all
        self._prefix = f"{settings.key_prefix}{{limits}}:"
        self._script = self._redis.register_script(_ACQUIRE)
        self._correct = self._redis.register_script(_CORRECT)
        self._clock = clock
        self._fallback = LocalRateLimiter(clock)
        self.degraded = Degradation(
            log, "rate limits: Redis unavailable, enforcing per worker", component="rate_limits"
        )

    async def acquire(self, uses: list[LimitUse]) -> Admission:
        if not uses:
            return Admission(True)
        uses = _clamp(uses)
        now = self._clock()
        args: list[int] = [int(now), WINDOW_S]
        for u in uses:
            args += [u.limit, u.amount]
        try:
            async with self._breaker.guard():
                index, wait = await self._script(keys=[self._prefix + u.key for u in uses], args=args)
        except (RedisError, OSError) as exc:
            self.degraded.report(exc, "acquire")
            return await self._fallback.acquire(uses)
        if int(index) == 0:
            return Admission(True, counted=Counted(tuple(uses), int(now)))
        # the oldest bucket leaves the window at (its second + 60); we are ``now % 1`` into the current second
        return Admission(False, max(float(wait) - (now - int(now)), 0.05), uses[int(index) - 1].key)

    async def correct(self, counted: Counted, actual: Mapping[str, int]) -> None:
        if counted.local:
            await self._fallback.correct(counted, actual)
            return
        deltas = corrections(counted, actual)
        if not deltas:
            return
        args = [int(self._clock()), WINDOW_S, counted.at, *(delta for _, delta in deltas)]
        try:
            async with self._breaker.guard():
                await self._correct(keys=[self._prefix + use.key for use, _ in deltas], args=args)
        except (RedisError, OSError) as exc:  # the estimate stays counted: the safe side
            self.degraded.report(exc, "correct")

    async def used(self, key: str) -> int:
        now = int(self._clock())
        try:
            async with self._breaker.guard():
                fields = await self._redis.hgetall(self._prefix + key)
        except (RedisError, OSError):
            return await self._fallback.used(key)
        return sum(int(v) for k, v in fields.items() if int(k) > now - WINDOW_S)

    async def aclose(self) -> None:
        await self._redis.aclose()
