"""Where cache entries live: Redis (shared by every replica; a Redis stream tells the replicas about adds and
deletes) or memory (library mode, evaluation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import redis.asyncio as aioredis

from infra.redis_breaker import RedisBreaker
from schemas.config import RedisSettings

__all__ = ["CacheEntry", "CacheEvent", "CacheStore", "MemoryCacheStore", "RedisCacheStore"]


@dataclass
class CacheEntry:
    entry_id: str
    tenant: str
    scope: str
    model: str
    partition: str
    exact_key: str
    text: str
    response: bytes  # the ChatResponse JSON that answered it
    created: float
    expires: float
    vector: np.ndarray | None = None
    params: str = ""  # digest of the generation parameters: a semantic hit needs the same (filters the index)


@dataclass
class CacheEvent:
    event_id: str
    op: str  # add | del
    entry_id: str
    partition: str = ""
    expires: float = 0.0
    vector: np.ndarray | None = None
    params: str = ""


class CacheStore(Protocol):
    async def get_exact(self, exact_key: str) -> CacheEntry | None: ...

    async def get(self, entry_id: str) -> CacheEntry | None: ...

    async def get_many(self, entry_ids: list[str]) -> list[CacheEntry | None]: ...

    async def put(self, entry: CacheEntry) -> None: ...

    async def delete(self, entry_ids: list[str]) -> int: ...

    def scan(self) -> AsyncIterator[CacheEntry]: ...

    async def last_event_id(self) -> str: ...

    async def events(self, after: str, block_ms: int) -> list[CacheEvent]: ...

    async def aclose(self) -> None: ...


_FIELDS = (
    "tenant",
    "scope",
    "model",
    "partition",
    "exact_key",
    "text",
    "response",
    "created",
    "expires",
    "vector",
    "params",
)


class RedisCacheStore:
    """``<prefix>cache:e:<id>`` hash per entry, ``<prefix>cache:x:<exact key>`` -> id, both expiring with the
    entry; ``<prefix>cache:log`` stream of add/del events (trimmed to about ``log_max`` events)."""

    def __init__(
        self,
        settings: RedisSettings,
        dim: int,
        client: aioredis.Redis | None = None,
        log_max: int = 500_000,
        *,
        breaker: RedisBreaker | None = None,
    ) -> None:
        self._p = f"{settings.key_prefix}cache:"
        # the process's shared breaker: while Redis is silent every command fails at once (a cache bypass)
        # instead of after this store's long socket timeout
        self._guard = (breaker or RedisBreaker.off()).guard
        self._dim = dim
        self._log_max = log_max
        socket_timeout = max(settings.socket_timeout_s, 2.0)
        # a blocking read must end (with or without events) before the socket timeout would call it a failure
        self._max_block_ms = int(socket_timeout * 1000) // 2
        # a bounded pool that waits for a free connection instead of opening one per concurrent lookup; ours to
        # close (a client given to us is the caller's)
        self._own_client = client is None
        self._redis = client or aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                settings.url,
                max_connections=32,
                timeout=2.0,
                socket_timeout=socket_timeout,
                socket_connect_timeout=settings.socket_timeout_s,
                client_name=f"{self._p}store",  # who is who in CLIENT LIST
            )
        )

    def _vec(self, raw: bytes | None) -> np.ndarray | None:
        if not raw:
            return None
        vec = np.frombuffer(raw, dtype=np.float32)
        return vec if vec.size == self._dim else None

    def _entry(self, entry_id: str, row: list[bytes | None]) -> CacheEntry | None:
        if not row or row[0] is None:
            return None
        d = dict(zip(_FIELDS, row, strict=True))
        return CacheEntry(
            entry_id=entry_id,
            tenant=(d["tenant"] or b"").decode(),
            scope=(d["scope"] or b"").decode(),
            model=(d["model"] or b"").decode(),
            partition=(d["partition"] or b"").decode(),
            exact_key=(d["exact_key"] or b"").decode(),
            text=(d["text"] or b"").decode(),
            response=d["response"] or b"",
            created=float(d["created"] or 0),
            expires=float(d["expires"] or 0),
            vector=self._vec(d["vector"]),
            params=(d["params"] or b"").decode(),
        )

    async def get_many(self, entry_ids: list[str]) -> list[CacheEntry | None]:
        """Several entries in one round trip."""
        async with self._guard(), self._redis.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.hmget(f"{self._p}e:{entry_id}", list(_FIELDS))
            rows: Any = await pipe.execute()
        return [self._entry(eid, row) for eid, row in zip(entry_ids, rows, strict=True)]

    async def get(self, entry_id: str) -> CacheEntry | None:
        async with self._guard():
            row: Any = await self._redis.hmget(f"{self._p}e:{entry_id}", list(_FIELDS))
        return self._entry(entry_id, row)

    async def get_exact(self, exact_key: str) -> CacheEntry | None:
        async with self._guard():
            entry_id: Any = await self._redis.get(f"{self._p}x:{exact_key}")
        return await self.get(entry_id.decode()) if entry_id else None

    async def put(self, entry: CacheEntry) -> None:
        key = f"{self._p}e:{entry.entry_id}"
        at = int(entry.expires) + 1
        vec = entry.vector.astype(np.float32).tobytes() if entry.vector is not None else b""
        mapping: Any = {
            "tenant": entry.tenant,
            "scope": entry.scope,
            "model": entry.model,
            "partition": entry.partition,
            "exact_key": entry.exact_key,
            "text": entry.text,
            "response": entry.response,
            "created": repr(entry.created),
            "expires": repr(entry.expires),
            "vector": vec,
            "params": entry.params,
        }
        async with self._guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=mapping)
            pipe.expireat(key, at)
            pipe.set(f"{self._p}x:{entry.exact_key}", entry.entry_id, exat=at)
            if entry.vector is not None:
                pipe.xadd(
                    f"{self._p}log",
                    {
                        "op": "add",
                        "id": entry.entry_id,
                        "partition": entry.partition,
                        "expires": repr(entry.expires),
                        "vector": vec,
                        "params": entry.params,
                    },
                    maxlen=self._log_max,
                    approximate=True,
                )
            await pipe.execute()

    async def delete(self, entry_ids: list[str]) -> int:
        removed = 0
        for entry_id in entry_ids:
            async with self._guard():
                exact: Any = await self._redis.hget(f"{self._p}e:{entry_id}", "exact_key")
            async with self._guard(), self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(f"{self._p}e:{entry_id}")
                if exact:
                    pipe.delete(f"{self._p}x:{exact.decode()}")
                pipe.xadd(f"{self._p}log", {"op": "del", "id": entry_id}, maxlen=self._log_max, approximate=True)
                result = await pipe.execute()
            removed += int(result[0] or 0)
        return removed

    async def scan(self) -> AsyncIterator[CacheEntry]:
        prefix = f"{self._p}e:"
        async for key in self._redis.scan_iter(match=f"{prefix}*", count=1000):
            entry_id = key.decode()[len(prefix) :]
            entry = await self.get(entry_id)
            if entry is not None:
                yield entry

    async def last_event_id(self) -> str:
        async with self._guard():
            last: Any = await self._redis.xrevrange(f"{self._p}log", count=1)
        return last[0][0].decode() if last else "0-0"

    async def events(self, after: str, block_ms: int) -> list[CacheEvent]:
        """Events after ``after``, waiting up to ``block_ms`` (capped below the socket timeout) for the first.
        Cancelled mid-read, redis-py drops the connection rather than returning it with a reply still due;
        :meth:`aclose` closes it under a read that is still blocked."""
        block = max(0, min(block_ms, self._max_block_ms))
        async with self._guard():
            reply: Any = await self._redis.xread({f"{self._p}log": after}, count=1000, block=block)
        out: list[CacheEvent] = []
        for _stream, items in reply or []:
            for event_id, fields in items:
                f = {k.decode(): v for k, v in fields.items()}
                out.append(
                    CacheEvent(
                        event_id=event_id.decode(),
                        op=f["op"].decode(),
                        entry_id=f["id"].decode(),
                        partition=f.get("partition", b"").decode(),
                        expires=float(f.get("expires", b"0") or 0),
                        vector=self._vec(f.get("vector")),
                        params=f.get("params", b"").decode(),
                    )
                )
        return out

    async def aclose(self) -> None:
        """Close every connection of our pool, the ones in use included (a blocked ``XREAD`` then ends at once).
        ``Redis.aclose`` alone leaves a pool that was passed in open."""
        await self._redis.aclose(close_connection_pool=self._own_client)


class MemoryCacheStore:
    """In-process store (library mode, evaluation); honours expiry on read. ``clock`` decides expiry (give it
    the cache's clock) and ``sleep`` is how :meth:`events` blocks; both are injectable for tests."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.entries: dict[str, CacheEntry] = {}
        self.exact: dict[str, str] = {}
        self._clock = clock
        self._sleep = sleep

    def _live(self, entry: CacheEntry | None) -> CacheEntry | None:
        return entry if entry is not None and entry.expires > self._clock() else None

    async def get(self, entry_id: str) -> CacheEntry | None:
        return self._live(self.entries.get(entry_id))

    async def get_many(self, entry_ids: list[str]) -> list[CacheEntry | None]:
        return [self._live(self.entries.get(e)) for e in entry_ids]

    async def get_exact(self, exact_key: str) -> CacheEntry | None:
        entry_id = self.exact.get(exact_key)
        return await self.get(entry_id) if entry_id else None

    async def put(self, entry: CacheEntry) -> None:
        self.entries[entry.entry_id] = entry
        self.exact[entry.exact_key] = entry.entry_id

    async def delete(self, entry_ids: list[str]) -> int:
        n = 0
        for eid in entry_ids:
            entry = self.entries.pop(eid, None)
            if entry is not None:
                self.exact.pop(entry.exact_key, None)
                n += 1
        return n

    async def scan(self) -> AsyncIterator[CacheEntry]:
        for entry in list(self.entries.values()):
            if self._live(entry):
                yield entry

    async def last_event_id(self) -> str:
        return "0-0"

    async def events(self, after: str, block_ms: int) -> list[CacheEvent]:
        # one process, one index: nothing to follow; block like XREAD would instead of spinning the loop
        await self._sleep(block_ms / 1000)
        return []

    async def aclose(self) -> None:
        return None
