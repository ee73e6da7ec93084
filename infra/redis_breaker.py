"""One circuit breaker for Redis, shared by every Redis-backed store of a process (idempotency, limits, leases,
circuit state, cache).

A Redis that accepts connections but never answers costs each command a full socket timeout; without a breaker
every request paid it once per store. Here consecutive timeouts or connection errors (``failures``) open the
breaker; while open, every guarded command fails at once with :class:`RedisBreakerOpen` (a ``RedisError``, so
each store takes the degraded path it already has: local limits, cache bypass, idempotency off). After
``interval_s`` the next command first sends one PING with the short socket timeout (the half-open probe; the
others keep bypassing meanwhile): an answer closes the breaker, silence opens it for another interval. A silent
Redis so costs at most one short timeout per interval, whatever the load."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.degraded import Degradation
from schemas.config import RedisSettings

__all__ = ["BreakerState", "RedisBreaker", "RedisBreakerOpen"]

log = logging.getLogger(__name__)

#: what says Redis is not answering (any other ``RedisError`` is an answer: Redis is up)
_DOWN = (RedisTimeoutError, RedisConnectionError, OSError, TimeoutError)


class RedisBreakerOpen(RedisConnectionError):
    """Redis is bypassed: the breaker is open (or its probe is under way)."""

    degradation_reason = "breaker_open"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class RedisBreaker:
    """Wrap each Redis command in ``async with breaker.guard():``. ``failures=None``: never opens (a store built
    without a shared breaker). ``probe`` is the half-open check (a PING); ``clock`` is monotonic seconds."""

    def __init__(
        self,
        *,
        failures: int | None = 1,
        interval_s: float = 5.0,
        probe: Callable[[], Awaitable[Any]] | None = None,
        probe_timeout_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures = failures
        self._interval_s = interval_s
        self._probe = probe
        self._probe_timeout_s = probe_timeout_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at = float("-inf")
        self._probing = False
        self.state = BreakerState.CLOSED
        self.opened = 0  # times opened since start
        self.degraded = Degradation(
            log, "redis not answering: shared state bypassed", interval_s, component="redis", clock=clock
        )
        self._client: aioredis.Redis | None = None

    @classmethod
    def off(cls) -> RedisBreaker:
        """A breaker that never opens."""
        return cls(failures=None)

    @classmethod
    def for_redis(cls, settings: RedisSettings, *, clock: Callable[[], float] = time.monotonic) -> RedisBreaker:
        """The process's breaker: probes with PING on a connection of its own, within the short socket timeout."""
        client = aioredis.Redis.from_url(
            settings.url, socket_timeout=settings.socket_timeout_s, socket_connect_timeout=settings.socket_timeout_s
        )
        breaker = cls(
            failures=settings.breaker_failures,
            interval_s=settings.breaker_interval_s,
            probe=client.ping,
            probe_timeout_s=settings.socket_timeout_s,
            clock=clock,
        )
        breaker._client = client
        return breaker

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run one Redis command: raises :class:`RedisBreakerOpen` at once while open; counts how it ended."""
        await self._admit()
        try:
            yield
        except _DOWN as exc:
            if not isinstance(exc, RedisBreakerOpen):
                self._failed(exc)
            raise
        except RedisError:
            self._answered()  # an error reply is still a reply
            raise
        else:
            self._answered()

    async def _admit(self) -> None:
        if self.state is BreakerState.CLOSED:
            return
        if self._probing or self._clock() - self._opened_at < self._interval_s:
            raise RedisBreakerOpen("redis breaker open: Redis bypassed")
        self._probing = True
        self.state = BreakerState.HALF_OPEN
        try:
            if self._probe is not None:
                async with asyncio.timeout(self._probe_timeout_s):
                    await self._probe()
        except (RedisError, OSError, TimeoutError) as exc:
            self._open(exc)
            raise RedisBreakerOpen(f"redis breaker open: probe failed ({type(exc).__name__})") from None
        finally:
            self._probing = False
        log.info("redis answering again: breaker closed, shared state resumes")
        self._close()

    def _failed(self, exc: BaseException) -> None:
        self._consecutive += 1
        if self._failures is not None and self._consecutive >= self._failures and self.state is BreakerState.CLOSED:
            self._open(exc)

    def _open(self, exc: BaseException) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = self._clock()
        self.opened += 1
        self.degraded.report(exc, f"breaker open for {self._interval_s:g} s")

    def _answered(self) -> None:
        self._consecutive = 0

    def _close(self) -> None:
        self._consecutive = 0
        self.state = BreakerState.CLOSED

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
