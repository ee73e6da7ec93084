"""Concurrency caps per backend, shared by every worker: a call holds a lease while it is in flight.

``max_concurrency`` of a backend is what the backend can serve at once (a vLLM server's batch size, a
provider's concurrent-request quota). Enforced per process, N workers would send N times that. Here each call
takes a lease from a Redis sorted set (member = lease id, score = expiry); one Lua script drops expired leases
and adds ours only below the cap, so the cap holds across workers. A worker that dies mid-call cannot leak its
leases: they expire after ``ttl_s`` (longer than any call may take). Without Redis (library mode, or Redis
down) the cap is enforced in this process, and the fallback is logged.

A lease key names a backend (``backend:<name>``), never a tenant: the cap is the backend's capacity, shared by
every tenant on purpose (fairness between tenants is the scheduler's job, their quotas the rate limits').
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from infra.degraded import Degradation
from infra.redis_breaker import RedisBreaker
from schemas.config import RedisSettings

__all__ = ["ConcurrencyLeases", "Lease", "LocalLeases", "RedisLeases"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    """One slot of ``key``; ``local`` says it was granted by the in-process fallback."""

    key: str
    lease_id: str
    local: bool = False


class ConcurrencyLeases(Protocol):
    async def try_acquire(self, key: str, cap: int) -> Lease | None:
        """A lease on ``key`` if fewer than ``cap`` are held across the cluster, else ``None`` (no waiting)."""
        ...

    async def release(self, lease: Lease) -> None: ...

    async def held(self, key: str) -> int:
        """Leases on ``key`` held now (for diagnostics and tests)."""
        ...

    async def aclose(self) -> None: ...


class LocalLeases:
    """The cap in this process only."""

    def __init__(self) -> None:
        self._held: dict[str, set[str]] = {}
        self._ids = itertools.count()  # unique within this process is enough (no uuid per call)

    async def try_acquire(self, key: str, cap: int) -> Lease | None:
        held = self._held.setdefault(key, set())
        if len(held) >= cap:
            return None
        lease = Lease(key, str(next(self._ids)), local=True)
        held.add(lease.lease_id)
        return lease

    async def release(self, lease: Lease) -> None:
        self._held.get(lease.key, set()).discard(lease.lease_id)

    async def held(self, key: str) -> int:
        return len(self._held.get(key, ()))

    async def aclose(self) -> None:
        return None


_ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000))
return 1
"""


class RedisLeases:
    """Cluster-wide caps in Redis; if Redis fails, this worker enforces the cap on its own calls."""

    def __init__(
        self,
        settings: RedisSettings,
        ttl_s: float,
        client: aioredis.Redis | None = None,
        *,
        breaker: RedisBreaker | None = None,
    ) -> None:
        self._breaker = breaker or RedisBreaker.off()  # the process's shared one: a silent Redis is skipped
        self._redis = client or aioredis.from_url(settings.url, socket_timeout=settings.socket_timeout_s)
        self._prefix = f"{settings.key_prefix}leases:"
        self._ttl_s = ttl_s
        self._script = self._redis.register_script(_ACQUIRE)
        self._fallback = LocalLeases()
        self.degraded = Degradation(
            log, "concurrency caps: Redis unavailable, enforcing per worker", component="leases"
        )

    async def try_acquire(self, key: str, cap: int) -> Lease | None:
        lease = Lease(key, uuid.uuid4().hex)
        try:
            args: list[str | float] = [time.time(), cap, self._ttl_s, lease.lease_id]
            async with self._breaker.guard():
                granted = await self._script(keys=[self._prefix + key], args=args)
        except (RedisError, OSError) as exc:
            self.degraded.report(exc, "acquire")
            return await self._fallback.try_acquire(key, cap)
        return lease if int(granted) == 1 else None

    async def release(self, lease: Lease) -> None:
        if lease.local:
            await self._fallback.release(lease)
            return
        try:
            async with self._breaker.guard():
                await self._redis.zrem(self._prefix + lease.key, lease.lease_id)
        except (RedisError, OSError) as exc:  # the lease expires on its own after ttl_s
            self.degraded.report(exc, "release")

    async def held(self, key: str) -> int:
        try:
            async with self._breaker.guard():
                await self._redis.zremrangebyscore(self._prefix + key, "-inf", time.time())
                return int(await self._redis.zcard(self._prefix + key))
        except (RedisError, OSError):
            return await self._fallback.held(key)

    async def aclose(self) -> None:
        await self._redis.aclose()
