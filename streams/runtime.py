"""Builds the request pipeline and its resources inside the running event loop, and closes them."""

from __future__ import annotations

import asyncio
import os
import socket

from agents.pipeline import Pipeline
from agents.priority_gate import PriorityGate
from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from infra.idempotency import IdempotencyStore, NullIdempotencyStore, RedisIdempotencyStore
from infra.providers.pool import BackendPool
from schemas.config import RouterConfig
from schemas.protocols import Publisher
from streams.topics import TopicNames

__all__ = ["RouterRuntime", "worker_id"]


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class RouterRuntime:
    """Lazily creates pool, idempotency store and pipeline on first use (inside the worker's loop)."""

    def __init__(self, config: RouterConfig, publisher: Publisher) -> None:
        self.config = config
        self._publisher = publisher
        self._pipeline: Pipeline | None = None
        self._pool: BackendPool | None = None
        self._idempotency: IdempotencyStore | None = None
        self._lock = asyncio.Lock()

    async def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            async with self._lock:
                if self._pipeline is None:
                    self._pipeline = self._build()
        return self._pipeline

    def _build(self) -> Pipeline:
        cfg = self.config
        self._pool = BackendPool(cfg.backends)
        self._idempotency = RedisIdempotencyStore(cfg.redis) if cfg.redis.enabled else NullIdempotencyStore()
        processor = RequestProcessor(self._pool, ModelRouter(cfg), cfg.worker.retry, worker_id=worker_id())
        return Pipeline(
            processor,
            self._publisher,
            TopicNames(cfg.kafka.topic_prefix),
            PriorityGate(cfg.worker.max_in_flight),
            self._idempotency,
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        if self._idempotency is not None:
            await self._idempotency.aclose()
