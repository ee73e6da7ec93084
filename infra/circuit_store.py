"""Circuit state shared by every worker, in Redis: one hash per backend, last writer (by time) wins."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from infra.degraded import Degradation
from infra.redis_breaker import RedisBreaker
from schemas.config import RedisSettings

__all__ = ["CircuitStore", "NullCircuitStore", "RedisCircuitStore", "SharedCircuit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharedCircuit:
    state: str  # closed | open | half_open
    at: float  # wall-clock time the state was written
    open_until: float | None = None
    reason: str = ""
    by: str = ""


class CircuitStore(Protocol):
    async def write(self, backend: str, circuit: SharedCircuit) -> None: ...

    async def read(self, backends: list[str]) -> dict[str, SharedCircuit]: ...

    async def try_lock_probe(self, backend: str, ttl_s: float) -> bool: ...

    async def aclose(self) -> None: ...


class NullCircuitStore:
    """Single-worker mode: nothing shared, every probe lock granted."""

    async def write(self, backend: str, circuit: SharedCircuit) -> None:
        return None

    async def read(self, backends: list[str]) -> dict[str, SharedCircuit]:
        return {}

    async def try_lock_probe(self, backend: str, ttl_s: float) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class RedisCircuitStore:
    """Redis-backed store; on Redis errors it degrades to local-only behaviour (logged, never raised)."""

    def __init__(
        self, settings: RedisSettings, client: aioredis.Redis | None = None, *, breaker: RedisBreaker | None = None
    ) -> None:
        self._prefix = settings.key_prefix
        self._breaker = breaker or RedisBreaker.off()  # the process's shared one: a silent Redis is skipped
        self._redis = client or aioredis.Redis.from_url(
            settings.url, socket_timeout=settings.socket_timeout_s, socket_connect_timeout=settings.socket_timeout_s
        )
        self._down = Degradation(log, "redis unavailable, circuit state is local to this worker", component="circuits")
        self.degraded = self._down

    @property
    def errors(self) -> int:
        """Failures since start (the store degraded instead of raising)."""
        return self._down.count

    def _key(self, backend: str) -> str:
        return f"{self._prefix}circuit:{backend}"

    async def write(self, backend: str, circuit: SharedCircuit) -> None:
        mapping: dict[str | bytes, str | bytes | float | int] = {
            "state": circuit.state,
            "at": repr(circuit.at),
            "open_until": repr(circuit.open_until) if circuit.open_until is not None else "",
            "reason": circuit.reason[:500],
            "by": circuit.by,
        }
        try:
            async with self._breaker.guard():
                await self._redis.hset(self._key(backend), mapping=mapping)  # type: ignore[arg-type,misc,unused-ignore]
        except (RedisError, OSError) as exc:
            self._down.report(exc)

    async def read(self, backends: list[str]) -> dict[str, SharedCircuit]:
        try:
            async with self._breaker.guard(), self._redis.pipeline(transaction=False) as pipe:
                for b in backends:
                    pipe.hgetall(self._key(b))
                rows = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._down.report(exc)
            return {}
        out: dict[str, SharedCircuit] = {}
        for backend, row in zip(backends, rows, strict=True):
            if not row:
                continue
            data = {k.decode(): v.decode() for k, v in row.items()}
            try:
                out[backend] = SharedCircuit(
                    state=data["state"],
                    at=float(data["at"]),
                    open_until=float(data["open_until"]) if data.get("open_until") else None,
                    reason=data.get("reason", ""),
                    by=data.get("by", ""),
                )
            except (KeyError, ValueError):
                log.warning("ignoring malformed shared circuit record for %s: %r", backend, data)
        return out

    async def try_lock_probe(self, backend: str, ttl_s: float) -> bool:
        try:
            async with self._breaker.guard():
                got = await self._redis.set(
                    f"{self._prefix}probe-lock:{backend}", b"1", nx=True, px=max(int(ttl_s * 1000), 1)
                )
        except (RedisError, OSError) as exc:
            self._down.report(exc)
            return True  # without Redis every worker probes for itself
        return bool(got)

    async def aclose(self) -> None:
        await self._redis.aclose()
