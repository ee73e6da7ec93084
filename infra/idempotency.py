"""Remembers answered requests in Redis so a redelivered request is answered again without a new call.

A key names one request of one tenant (``tenant:request_id``, built by ``agents.ingress.Ingress``): a request id
is the producer's choice, so another tenant sending the same id is another request, never this one's answer.

Before a provider call the serving copy *claims* the key (``SET NX`` with an expiry, renewed while the call runs):
a second copy of the same request (a duplicate produce, a redelivery after a rebalance) sees the claim and waits
for the answer instead of calling again; an owner that dies stops renewing, its claim expires and a copy takes
over. Checking "answered?" and claiming is one Lua script, so no copy slips between the two."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from infra.degraded import Degradation
from infra.redis_breaker import RedisBreaker
from schemas.config import RedisSettings

__all__ = ["Claim", "ClaimState", "IdempotencyStore", "NullIdempotencyStore", "RedisIdempotencyStore"]

log = logging.getLogger(__name__)

#: KEYS: answer, claim; ARGV: token, ttl in ms. The answer if there is one, else the claim if it is free (or ours)
_CLAIM = """
local done = redis.call('GET', KEYS[1])
if done then return {'answered', done} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'owned', ''} end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return {'owned', ''}
end
return {'busy', ''}
"""
#: KEYS: claim; ARGV: token, ttl in ms (renew) — only the owner may renew or release its claim
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
#: KEYS: answer, claim; ARGV: token, response, ttl in s. Remember the answer and drop the claim if still ours: one
#: round trip where a SET and a release were two (issue 18: Redis was ~30 % of the worker's time)
_ANSWER = """
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class ClaimState(StrEnum):
    OWNED = "owned"  # this copy serves the request
    ANSWERED = "answered"  # served already: ``Claim.response`` is the answer
    BUSY = "busy"  # another copy holds the claim
    UNCHECKED = "unchecked"  # no shared state (Redis off, down or bypassed): serve, duplicates possible


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    response: bytes | None = None


class IdempotencyStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, response: bytes) -> None: ...

    async def claim(self, key: str, token: str, ttl_s: float) -> Claim:
        """The answer to ``key`` if remembered; else the claim, taken by ``token`` if free (or already its)."""
        ...

    async def renew(self, key: str, token: str, ttl_s: float) -> bool:
        """Extend ``token``'s claim; False when it is not ``token``'s any more (expired, taken over)."""
        ...

    async def answer(self, key: str, token: str, response: bytes) -> None:
        """Remember ``response`` and drop ``token``'s claim (left alone if another copy holds it now)."""
        ...

    async def release(self, key: str, token: str) -> None: ...

    async def aclose(self) -> None: ...


class NullIdempotencyStore:
    """Remembers nothing (library mode without Redis, or Redis disabled)."""

    async def get(self, key: str) -> bytes | None:
        return None

    async def put(self, key: str, response: bytes) -> None:
        return None

    async def claim(self, key: str, token: str, ttl_s: float) -> Claim:
        return Claim(ClaimState.UNCHECKED)

    async def renew(self, key: str, token: str, ttl_s: float) -> bool:
        return True

    async def answer(self, key: str, token: str, response: bytes) -> None:
        return None

    async def release(self, key: str, token: str) -> None:
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
        # EVALSHA: the script bodies are not resent (nor hashed by Redis) on every call
        self._claim, self._renew = self._redis.register_script(_CLAIM), self._redis.register_script(_RENEW)
        self._answer, self._release = self._redis.register_script(_ANSWER), self._redis.register_script(_RELEASE)
        self._down = Degradation(log, "redis unavailable, idempotency records skipped", component="idempotency")
        self.degraded = self._down

    @property
    def errors(self) -> int:
        """Failures since start (the store degraded instead of raising)."""
        return self._down.count

    def _key(self, key: str) -> str:
        return f"{self._settings.key_prefix}done:{key}"

    def _claim_key(self, key: str) -> str:
        return f"{self._settings.key_prefix}claim:{key}"

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

    async def claim(self, key: str, token: str, ttl_s: float) -> Claim:
        try:
            async with self._breaker.guard():
                state, response = await self._claim(
                    keys=[self._key(key), self._claim_key(key)], args=[token, _ms(ttl_s)]
                )
        except (RedisError, OSError) as exc:
            self._down.report(exc, "claim")
            return Claim(ClaimState.UNCHECKED)
        found = ClaimState(_text(state))
        return Claim(found, _bytes(response) if found is ClaimState.ANSWERED else None)

    async def renew(self, key: str, token: str, ttl_s: float) -> bool:
        try:
            async with self._breaker.guard():
                return bool(await self._renew(keys=[self._claim_key(key)], args=[token, _ms(ttl_s)]))
        except (RedisError, OSError) as exc:
            self._down.report(exc, "renew")
            return True  # unknown: the owner keeps serving (a copy may too, when Redis is back and the claim gone)

    async def answer(self, key: str, token: str, response: bytes) -> None:
        try:
            async with self._breaker.guard():
                await self._answer(
                    keys=[self._key(key), self._claim_key(key)], args=[token, response, self._settings.result_ttl_s]
                )
        except (RedisError, OSError) as exc:
            self._down.report(exc, "answer")  # not remembered; the claim expires by itself

    async def release(self, key: str, token: str) -> None:
        try:
            async with self._breaker.guard():
                await self._release(keys=[self._claim_key(key)], args=[token])
        except (RedisError, OSError) as exc:
            self._down.report(exc, "release")  # the claim expires by itself

    async def aclose(self) -> None:
        await self._redis.aclose()


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
