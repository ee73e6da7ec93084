"""Requests-per-minute and tokens-per-minute limits, per backend and per tenant, shared by every worker.

A limit is a sliding window of 60 one-second buckets (a Redis hash per limit). One Lua script checks every
limit a call needs and, only when all have headroom, counts it in all of them: atomic across workers, so N
workers share one limit instead of each enforcing its own (the per-process limits of other routers let N
workers send N times the quota). Tokens are counted at admission from an estimate and corrected afterwards
with the usage the provider reported. Without Redis (library mode, or Redis down) the same algorithm runs in
process."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from infra.degraded import Degradation
from schemas.config import RedisSettings

__all__ = ["Admission", "LimitUse", "LocalRateLimiter", "RateLimiter", "RedisRateLimiter"]

log = logging.getLogger(__name__)
WINDOW_S = 60


@dataclass(frozen=True)
class LimitUse:
    """``amount`` units of the limit named ``key`` (at most ``limit`` per minute)."""

    key: str
    limit: int
    amount: int


@dataclass(frozen=True)
class Admission:
    ok: bool
    retry_after_s: float = 0.0
    blocked_by: str | None = None


class RateLimiter(Protocol):
    async def acquire(self, uses: list[LimitUse]) -> Admission:
        """Count ``uses`` if every limit has room for them, else count nothing and say how long to wait."""
        ...

    async def adjust(self, key: str, delta: int) -> None:
        """Correct the current second of ``key`` by ``delta`` (actual minus estimated tokens)."""
        ...

    async def aclose(self) -> None: ...


def _clamp(uses: list[LimitUse]) -> list[LimitUse]:
    # a single call larger than a whole limit could never pass: it may use the whole (empty) window instead
    return [LimitUse(u.key, u.limit, min(u.amount, u.limit)) for u in uses]


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
        for use in _clamp(uses):
            total, oldest = self._total(use.key, now)
            if total + use.amount > use.limit:
                wait = (oldest + WINDOW_S - now_f) if oldest is not None else 1.0
                return Admission(False, max(wait, 0.05), use.key)
        for use in uses:
            b = self._buckets.setdefault(use.key, {})
            b[now] = b.get(now, 0) + min(use.amount, use.limit)
        return Admission(True)

    async def adjust(self, key: str, delta: int) -> None:
        b = self._buckets.setdefault(key, {})
        now = int(self._clock())
        b[now] = b.get(now, 0) + delta

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


class RedisRateLimiter:
    """Cluster-wide limits in Redis; if Redis fails, this worker falls back to its own local window."""

    def __init__(self, settings: RedisSettings, client: aioredis.Redis | None = None) -> None:
        self._redis = client or aioredis.from_url(settings.url, socket_timeout=settings.socket_timeout_s)
        # one hash tag: every limit key in the same cluster slot, so one script can touch them all
        self._prefix = f"{settings.key_prefix}{{limits}}:"
        self._script = self._redis.register_script(_ACQUIRE)
        self._fallback = LocalRateLimiter()
        self.degraded = Degradation(log, "rate limits: Redis unavailable, enforcing per worker")

    async def acquire(self, uses: list[LimitUse]) -> Admission:
        if not uses:
            return Admission(True)
        uses = _clamp(uses)
        now = time.time()
        args: list[int] = [int(now), WINDOW_S]
        for u in uses:
            args += [u.limit, u.amount]
        try:
            index, wait = await self._script(keys=[self._prefix + u.key for u in uses], args=args)
        except (RedisError, OSError) as exc:
            self.degraded.report(exc, "acquire")
            return await self._fallback.acquire(uses)
        if int(index) == 0:
            return Admission(True)
        # the oldest bucket leaves the window at (its second + 60); we are ``now % 1`` into the current second
        return Admission(False, max(float(wait) - (now - int(now)), 0.05), uses[int(index) - 1].key)

    async def adjust(self, key: str, delta: int) -> None:
        if delta == 0:
            return
        try:
            await self._redis.hincrby(self._prefix + key, str(int(time.time())), delta)
        except (RedisError, OSError) as exc:
            self.degraded.report(exc, "adjust")

    async def aclose(self) -> None:
        await self._redis.aclose()
