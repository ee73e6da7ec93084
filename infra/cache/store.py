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
    # learned with the entry (verified decision): which answer it holds (entries verified to give the same answer
    # share one id), how its verifications went, and the highest logit at which serving it was verified wrong
    answer_id: str = ""
    n_ok: int = 0
    n_bad: int = 0
    bad_logit: float | None = None


@dataclass
class CacheEvent:
    event_id: str
    op: str  # add | del
    entry_id: str
    partition: str = ""
    expires: float = 0.0
    vector: np.ndarray | None = None
    params: str = ""
    # op "obs": one verification outcome, for every replica's model (features in ``vector``, label in ``params``)
    route: str = ""
    origin: str = ""


class CacheStore(Protocol):
    async def get_exact(self, exact_key: str) -> CacheEntry | None: ...

    async def get(self, entry_id: str) -> CacheEntry | None: ...

    async def get_many(self, entry_ids: list[str]) -> list[CacheEntry | None]: ...

    async def put(self, entry: CacheEntry) -> None: ...

    async def delete(self, entry_ids: list[str]) -> int: ...

    async def record_outcome(self, entry_id: str, correct: bool, logit: float) -> None: ...

    async def add_observation(self, route: str, x: np.ndarray, correct: bool, origin: str) -> None: ...

    async def recent_observations(self, before: str, limit: int) -> list[CacheEvent]: ...

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
    "answer_id",
    "n_ok",
    "n_bad",
    "bad_logit",
)
# the highest logit at which the entry was verified wrong, kept as a max by every replica at once
_MAX_LUA = """
local cur = redis.call('HGET', KEYS[1], 'bad_logit')
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'bad_logit', ARGV[1]) end
return 1
"""


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
            answer_id=(d["answer_id"] or b"").decode() or entry_id,
            n_ok=int(d["n_ok"] or 0),
            n_bad=int(d["n_bad"] or 0),
            bad_logit=float(d["bad_logit"]) if d["bad_logit"] else None,
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
            "answer_id": entry.answer_id or entry.entry_id,
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

    async def record_outcome(self, entry_id: str, correct: bool, logit: float) -> None:
        """Count a verification of ``entry_id`` in its hash (atomic, so replicas never lose one another's)."""
        key = f"{self._p}e:{entry_id}"
        async with self._guard():
            if correct:
                await self._redis.hincrby(key, "n_ok", 1)
                return
            await self._redis.eval(_MAX_LUA, 1, key, repr(float(logit)))
            await self._redis.hincrby(key, "n_bad", 1)

    async def add_observation(self, route: str, x: np.ndarray, correct: bool, origin: str) -> None:
        """Append a verification outcome to the event log: every replica's model learns from it."""
        fields: Any = {
            "op": "obs",
            "id": "",
            "route": route,
            "vector": np.asarray(x, dtype=np.float64).tobytes(),
            "params": "1" if correct else "0",
            "origin": origin,
        }
        async with self._guard():
            await self._redis.xadd(f"{self._p}log", fields, maxlen=self._log_max, approximate=True)

    async def recent_observations(self, before: str, limit: int) -> list[CacheEvent]:
        """The last ``limit`` verification outcomes logged up to ``before`` (oldest first): what a replica that
        starts learns from before it follows the log."""
        found: list[CacheEvent] = []
        upper = before
        while len(found) < limit:
            async with self._guard():
                rows: Any = await self._redis.xrevrange(f"{self._p}log", max=upper, count=5000)
            if not rows:
                break
            for event_id, fields in rows:
                f = {k.decode(): v for k, v in fields.items()}
                if f.get("op") == b"obs":
                    found.append(self._event(event_id.decode(), f))
            upper = "(" + rows[-1][0].decode()  # exclusive: the next page starts below the last one read
        return list(reversed(found[:limit]))

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
                out.append(self._event(event_id.decode(), {k.decode(): v for k, v in fields.items()}))
        return out

    def _event(self, event_id: str, f: dict[str, bytes]) -> CacheEvent:
        op = f["op"].decode()
        raw = f.get("vector")
        vector = np.frombuffer(raw, dtype=np.float64) if op == "obs" and raw else self._vec(raw)
        return CacheEvent(
            event_id=event_id,
            op=op,
            entry_id=f.get("id", b"").decode(),
            partition=f.get("partition", b"").decode(),
            expires=float(f.get("expires", b"0") or 0),
            vector=vector,
            params=f.get("params", b"").decode(),
            route=f.get("route", b"").decode(),
            origin=f.get("origin", b"").decode(),
        )

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

    async def record_outcome(self, entry_id: str, correct: bool, logit: float) -> None:
        entry = self.entries.get(entry_id)
        if entry is None:
            return
        if correct:
            entry.n_ok += 1
        else:
            entry.n_bad += 1
            entry.bad_logit = logit if entry.bad_logit is None else max(entry.bad_logit, logit)

    async def add_observation(self, route: str, x: np.ndarray, correct: bool, origin: str) -> None:
        return None  # one process: the cache that observed it is the only model

    async def recent_observations(self, before: str, limit: int) -> list[CacheEvent]:
        return []

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
