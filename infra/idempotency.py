"""Remembers answered requests in Redis so a redelivered request is answered again without a new call.

A key names one request of one tenant (``tenant:request_id``, built by ``agents.ingress.Ingress``): a request id
is the producer's choice, so another tenant sending the same id is another request, never this one's answer."""

from __future__ import annotations

import logging
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from infra.degraded import Degradation
from infra.redis_breaker import RedisBreaker
from schemas.config import RedisSettings

__all__ = ["IdempotencyStore", "NullIdempotencyStore", "RedisIdempotencyStore"]

log = logging.getLogger(__name__)


class IdempotencyStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, response: bytes) -> None: ...

    async def aclose(self) -> None: ...


class NullIdempotencyStore:
    """Remembers nothing (library mode without Redis, or Redis disabled)."""

    async def get(self, key: str) -> bytes | None:
        return None

    async def put(self, key: str, response: bytes) -> None:
        return None

    async def aclose(self) -> None:
        return None


class RedisIdempotencyStore:
    """``SET key response EX ttl``; Redis failures degrade to "not remembered" (logged, never raised)."""

    def __init__(
        self, settings: RedisSettings, client: aioredis.Redis | None = None, *, breaker: RedisBreaker | None = None
    ) -> None:
        self._settings = settings
        self._breaker = breaker or RedisBreaker.off()  # the process's shared one: a silent Redis is skipped
        self._redis = client or aioredis.Redis.from_url(
            settings.url, socket_timeout=settings.socket_timeout_s, socket_connect_timeout=settings.socket_timeout_s
        )
        self._down = Degradation(log, "redis unavailable, idempotency records skipped", component="idempotency")
        self.degraded = self._down

    @property
    def errors(self) -> int:
        """Failures since start (the store degraded instead of raising)."""
        return self._down.count

    def _key(self, key: str) -> str:
        return f"{self._settings.key_prefix}done:{key}"

    async def get(self, key: str) -> bytes | None:
        try:
            async with self._breaker.guard():
                value = await self._redis.get(self._key(key))
        except (RedisError, OSError) as exc:
            self._down.report(exc)
            return None
        return value if isinstance(value, bytes) or value is None else str(value).encode()

    async def put(self, key: str, response: bytes) -> None:
        try:
            async with self._breaker.guard():
                await self._redis.set(self._key(key), response, ex=self._settings.result_ttl_s)
        except (RedisError, OSError) as exc:
            self._down.report(exc)

    async def aclose(self) -> None:
        await self._redis.aclose()
